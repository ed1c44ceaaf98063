//! A Refuel dataset (optionally with a task's labels) as a DataFusion table.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use refuel_client::RefuelClient;
use refuel_client::api::items::ResolvedTarget;
use refuel_client::models::{DatasetSummary, ItemQuery, Task};
use refuel_client::semantics::ServerSemantics;

use crate::columns::TableColumns;
use crate::error::external;
use crate::exec::RefuelScanExec;
use crate::filter::{Exactness, translate};
use crate::write::RefuelInsertSink;

/// A dataset's rows, or a dataset's rows with a task's labels.
#[derive(Debug, Clone)]
pub struct RefuelTable {
    client: RefuelClient,
    target: ResolvedTarget,
    name: String,
    columns: Arc<TableColumns>,
    /// What the server is assumed to do, which decides the filters pushed: the client's
    /// (see [`RefuelTable::with_semantics`]).
    semantics: ServerSemantics,
}

impl RefuelTable {
    /// The table of `dataset` (name or id) in the client's project, with `task`'s labels
    /// when given. Reads the dataset (and the task) once; its columns are typed from its
    /// schema and `column_metadata`, or when it has neither, from its first rows.
    pub async fn try_new(client: RefuelClient, dataset: &str, task: Option<&str>) -> Result<Self> {
        let ds = client.datasets().get(dataset).await.map_err(external)?;
        let columns =
            crate::columns::dataset_columns(&client, &ds.id, &ds.schema, &ds.column_metadata)
                .await
                .map_err(external)?;
        let task = match task {
            Some(t) => Some(client.tasks().get(t).await.map_err(external)?),
            None => None,
        };
        Self::with_columns(client, ds.id, &ds.name, columns, task.as_ref())
    }

    /// The table of a dataset (with a task's labels) from what a listing already returned,
    /// without a request: its columns typed from the entry's schema and `column_metadata`.
    /// Fails when the listing names no column (see [`RefuelTable::try_new`]).
    pub fn from_parts(
        client: RefuelClient,
        dataset: &DatasetSummary,
        task: Option<&Task>,
    ) -> Result<Self> {
        let columns = TableColumns::typed(&dataset.dataset_schema, &dataset.column_metadata)
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "dataset {} is listed without a schema or column metadata: read it with \
                     RefuelTable::try_new",
                    dataset.dataset_name
                ))
            })?;
        Self::with_columns(
            client,
            dataset.id.clone(),
            &dataset.dataset_name,
            columns,
            task,
        )
    }

    fn with_columns(
        client: RefuelClient,
        dataset_id: String,
        dataset_name: &str,
        columns: TableColumns,
        task: Option<&Task>,
    ) -> Result<Self> {
        let (columns, task_id, name) = match task {
            None => (columns, None, dataset_name.to_string()),
            Some(task) => (
                columns.with_task(task).map_err(DataFusionError::Plan)?,
                Some(task.id.clone()),
                format!("{dataset_name}/{}", task.task_name),
            ),
        };
        Ok(Self {
            semantics: client.config().semantics,
            client,
            target: ResolvedTarget {
                dataset_id,
                task_id,
            },
            name,
            columns: Arc::new(columns),
        })
    }

    /// The table of an already resolved dataset (and task), typed by `columns`, without a
    /// request.
    pub fn from_resolved(
        client: RefuelClient,
        target: ResolvedTarget,
        name: String,
        columns: TableColumns,
    ) -> Self {
        Self {
            semantics: client.config().semantics,
            client,
            target,
            name,
            columns: Arc::new(columns),
        }
    }

    /// The table deciding its pushed filters by `semantics` rather than by its client's:
    /// a table planned in one process and scanned in another (a cluster's scheduler) must
    /// push the filters the planning process declared exact, whatever the other assumes.
    pub fn with_semantics(mut self, semantics: ServerSemantics) -> Self {
        self.semantics = semantics;
        self
    }

    /// What the server is assumed to do, which decides the filters pushed.
    pub fn semantics(&self) -> &ServerSemantics {
        &self.semantics
    }

    /// The table's columns and their sources.
    pub fn columns(&self) -> &TableColumns {
        &self.columns
    }

    /// The client the table is read through.
    pub fn client(&self) -> &RefuelClient {
        &self.client
    }

    /// The dataset (and task) read.
    pub fn target(&self) -> &ResolvedTarget {
        &self.target
    }

    /// The table's name: the dataset's, or `<dataset>/<task>` for a label table.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait]
impl TableProvider for RefuelTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.columns.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match translate(f, &self.columns, &self.semantics) {
                Some(p) if p.exactness == Exactness::Exact => TableProviderFilterPushDown::Exact,
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.target.task_id.is_some() {
            return Err(DataFusionError::Plan(format!(
                "{} is a label table: insert into its dataset's table instead",
                self.name
            )));
        }
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::NotImplemented(format!(
                "{insert_op} into Refuel dataset {}: rows can only be appended",
                self.name
            )));
        }
        let sink = RefuelInsertSink::new(
            self.client.clone(),
            self.target.dataset_id.clone(),
            self.name.clone(),
            self.schema(),
        );
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut query = ItemQuery::new();
        let mut assumes = BTreeSet::new();
        for f in filters {
            if let Some(pushed) = translate(f, &self.columns, &self.semantics) {
                query.filters.extend(pushed.filters);
                assumes.extend(pushed.assumes);
            }
        }
        let partitions = state
            .config()
            .target_partitions()
            .min(self.client.limiter().bound())
            .max(1);
        Ok(Arc::new(RefuelScanExec::new(
            self.client.clone(),
            self.target.clone(),
            query,
            assumes,
            self.name.clone(),
            Arc::clone(&self.columns),
            projection.cloned(),
            limit,
            partitions,
        )?))
    }
}
