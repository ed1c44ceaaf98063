//! Refuel tables and scans as plain data, for plans that cross processes (the scheduler and
//! executors of a Ballista cluster, see the `refuel-ballista` crate).
//!
//! What travels is what the API is asked and how the answer is typed, never a client: the
//! receiving process brings its own (its endpoint and key). Each form names the API
//! endpoint it was planned against, and is only rebuilt by a client of that endpoint
//! ([`check_endpoint`]): no plan can make a process send its key elsewhere.
//!
//! A scan carries its partitions' row ranges when they were fixed at planning
//! ([`RefuelScanExec::plan_ranges`]): the counts and the page size the ranges are cut in.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::physical_expr::expressions::Column;
use refuel_client::RefuelClient;
use refuel_client::api::items::ResolvedTarget;
use refuel_client::models::{Filter, ItemQuery, OrderBy};
use refuel_client::semantics::ServerSemantics;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::columns::{ColumnSource, TableColumns, TypesFrom};
use crate::exec::{RefuelScanExec, Split};
use crate::metadata::{MetadataKind, MetadataTable};
use crate::provider::RefuelTable;

/// The server settings a pushed filter or order may rely on (`EXPLAIN`'s `assumes=[..]`).
const ASSUMPTIONS: [&str; 7] = [
    "like=literal",
    "null_order=first",
    "null_order=last",
    "number_order=numeric",
    "number_order=unknown",
    "regex=rust",
    "text_order=binary",
];

/// Refuses a plan made for the API at `planned` in a process whose client talks to
/// another: the process's key is only ever sent to its own endpoint.
pub fn check_endpoint(planned: &str, client: &RefuelClient) -> Result<()> {
    let own = client.base_url();
    let same = Url::parse(planned).is_ok_and(|p| normalized(&p) == normalized(own));
    if same {
        return Ok(());
    }
    Err(DataFusionError::Plan(format!(
        "the plan reads Refuel at {}, but this process is configured for {}: refused, \
         a plan may not send this process's API key to another endpoint (set REFUEL_API_URL \
         alike on the client, the scheduler and the executors)",
        shown(planned),
        shown(own.as_str())
    )))
}

/// A URL without user info, query or fragment, and without a trailing slash.
fn normalized(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.as_str().trim_end_matches('/').to_string()
}

/// A URL as shown in messages: without user info or query (they may hold secrets).
fn shown(url: &str) -> String {
    Url::parse(url).map_or_else(|_| "an invalid URL".to_string(), |u| normalized(&u))
}

/// The columns of a table as plain data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortableColumns {
    fields: Vec<PortableField>,
    sources: Vec<ColumnSource>,
    types_from: TypesFrom,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PortableField {
    name: String,
    /// The Arrow type, as Arrow writes it (`Utf8`, `Int64`, ...).
    data_type: String,
    nullable: bool,
}

impl PortableColumns {
    fn new(columns: &TableColumns) -> Self {
        Self {
            fields: columns
                .schema
                .fields()
                .iter()
                .map(|f| PortableField {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
            sources: columns.sources.clone(),
            types_from: columns.types_from,
        }
    }

    fn columns(&self) -> Result<TableColumns> {
        if self.fields.len() != self.sources.len() {
            return Err(DataFusionError::Plan(format!(
                "a Refuel table in the plan has {} columns but {} column sources",
                self.fields.len(),
                self.sources.len()
            )));
        }
        let fields = self
            .fields
            .iter()
            .map(|f| {
                let data_type = DataType::from_str(&f.data_type).map_err(|e| {
                    DataFusionError::Plan(format!(
                        "column {} of a Refuel table in the plan: type {}: {e}",
                        f.name, f.data_type
                    ))
                })?;
                Ok(Field::new(&f.name, data_type, f.nullable))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TableColumns {
            schema: Arc::new(Schema::new(fields)),
            sources: self.sources.clone(),
            types_from: self.types_from,
        })
    }
}

/// A [`RefuelTable`] as plain data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortableTable {
    endpoint: String,
    /// The server semantics the planning process pushed filters by.
    semantics: String,
    dataset_id: String,
    task_id: Option<String>,
    name: String,
    columns: PortableColumns,
}

impl PortableTable {
    /// The API endpoint the table was planned against.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl RefuelTable {
    /// The table as plain data.
    pub fn to_portable(&self) -> PortableTable {
        PortableTable {
            endpoint: self.client().base_url().to_string(),
            semantics: self.semantics().to_string(),
            dataset_id: self.target().dataset_id.clone(),
            task_id: self.target().task_id.clone(),
            name: self.name().to_string(),
            columns: PortableColumns::new(self.columns()),
        }
    }

    /// The table again, read through `client`, which must talk to the endpoint the table
    /// was planned against.
    pub fn from_portable(client: RefuelClient, table: &PortableTable) -> Result<Self> {
        check_endpoint(&table.endpoint, &client)?;
        let semantics: ServerSemantics = table.semantics.parse().map_err(|e| {
            DataFusionError::Plan(format!(
                "Refuel table {} in the plan: server semantics '{}': {e}",
                table.name, table.semantics
            ))
        })?;
        Ok(Self::from_resolved(
            client,
            ResolvedTarget {
                dataset_id: table.dataset_id.clone(),
                task_id: table.task_id.clone(),
            },
            table.name.clone(),
            table.columns.columns()?,
        )
        .with_semantics(semantics))
    }
}

/// A [`MetadataTable`] as plain data: which table of which project (by id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortableMetadataTable {
    endpoint: String,
    project: Option<String>,
    kind: String,
}

impl MetadataTable {
    /// The table as plain data.
    pub fn to_portable(&self) -> PortableMetadataTable {
        PortableMetadataTable {
            endpoint: self.client().base_url().to_string(),
            project: self.client().project().map(str::to_string),
            kind: self.kind().name().to_string(),
        }
    }

    /// The table again, listed through `client` (scoped to the table's project), which
    /// must talk to the endpoint the table was planned against.
    pub fn from_portable(client: &RefuelClient, table: &PortableMetadataTable) -> Result<Self> {
        check_endpoint(&table.endpoint, client)?;
        let kind = MetadataKind::ALL
            .into_iter()
            .find(|k| k.name() == table.kind)
            .ok_or_else(|| {
                DataFusionError::Plan(format!("unknown Refuel metadata table {}", table.kind))
            })?;
        let client = match &table.project {
            Some(project) => client.with_project(project.clone()),
            None => client.clone(),
        };
        Ok(Self::new(client, kind))
    }
}

/// A [`RefuelScanExec`] as plain data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortableScan {
    endpoint: String,
    dataset_id: String,
    task_id: Option<String>,
    filters: Vec<Filter>,
    order_bys: Vec<OrderBy>,
    split: Option<Split>,
    assumes: Vec<String>,
    table: String,
    columns: PortableColumns,
    /// The scan's output columns, by name.
    projection: Vec<String>,
    limit: Option<usize>,
    skip: u64,
    partitions: usize,
    ordering: Vec<PortableSortKey>,
    /// The rows matching each segment, when fixed at planning.
    counts: Option<Vec<Option<u64>>>,
    /// The page size the partitions' ranges are cut in, when fixed at planning.
    range_page: Option<u64>,
    /// Whether the partitions' ranges were fixed at planning (the counts, or none needed).
    ranges_planned: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PortableSortKey {
    column: String,
    descending: bool,
    nulls_first: bool,
}

impl PortableScan {
    /// The API endpoint the scan was planned against.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the partitions' row ranges were fixed at planning.
    pub fn ranges_planned(&self) -> bool {
        self.ranges_planned
    }
}

impl RefuelScanExec {
    /// The scan as plain data, with its partitions' ranges if they are fixed.
    pub fn to_portable(&self) -> PortableScan {
        PortableScan {
            endpoint: self.client.base_url().to_string(),
            dataset_id: self.target.dataset_id.clone(),
            task_id: self.target.task_id.clone(),
            filters: self.query.filters.clone(),
            order_bys: self.query.order_bys.clone(),
            split: self.split.clone(),
            assumes: self.assumes.iter().map(|a| a.to_string()).collect(),
            table: self.table.clone(),
            columns: PortableColumns::new(&self.columns),
            projection: self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            limit: self.limit,
            skip: self.skip,
            partitions: self.partitions,
            ordering: self
                .ordering
                .iter()
                .filter_map(|s| {
                    let column = s.expr.downcast_ref::<Column>()?;
                    Some(PortableSortKey {
                        column: column.name().to_string(),
                        descending: s.options.descending,
                        nulls_first: s.options.nulls_first,
                    })
                })
                .collect(),
            counts: self.counts.get().cloned(),
            range_page: self.range_page.get().copied(),
            ranges_planned: self.ranges_planned(),
        }
    }

    /// The scan again, reading through `client`, which must talk to the endpoint the scan
    /// was planned against; with the partitions' ranges fixed at planning, if they were.
    pub fn from_portable(client: RefuelClient, scan: &PortableScan) -> Result<Self> {
        check_endpoint(&scan.endpoint, &client)?;
        let columns = Arc::new(scan.columns.columns()?);
        let projection = scan
            .projection
            .iter()
            .map(|name| columns.schema.index_of(name))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let assumes = scan
            .assumes
            .iter()
            .map(|a| {
                ASSUMPTIONS
                    .iter()
                    .find(|known| **known == a.as_str())
                    .copied()
                    .ok_or_else(|| {
                        DataFusionError::Plan(format!(
                            "a Refuel scan in the plan relies on an unknown server setting {a}"
                        ))
                    })
            })
            .collect::<Result<BTreeSet<_>>>()?;
        let mut query = ItemQuery::new();
        query.filters = scan.filters.clone();
        query.order_bys = scan.order_bys.clone();
        let mut exec = Self::new(
            client,
            ResolvedTarget {
                dataset_id: scan.dataset_id.clone(),
                task_id: scan.task_id.clone(),
            },
            query,
            assumes,
            scan.table.clone(),
            columns,
            Some(projection),
            scan.limit,
            scan.partitions,
        )?;
        exec.split = scan.split.clone();
        exec.skip = scan.skip;
        exec.ordering = scan
            .ordering
            .iter()
            .map(|k| {
                let index = exec.schema.index_of(&k.column)?;
                Ok(PhysicalSortExpr {
                    expr: Arc::new(Column::new(&k.column, index)),
                    options: SortOptions {
                        descending: k.descending,
                        nulls_first: k.nulls_first,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The partitions are the plan's, whatever page size this process would choose:
        // the ranges were cut for them.
        exec.partitions = scan.partitions.max(1);
        exec.set_properties();
        if let Some(counts) = &scan.counts {
            let _ = exec.counts.set(counts.clone());
        }
        if let Some(page) = scan.range_page {
            let _ = exec.range_page.set(page);
        }
        Ok(exec)
    }
}
