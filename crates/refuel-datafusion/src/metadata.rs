//! Metadata tables of a project: `datasets`, `tasks`, `task_runs`, `applications` and
//! `finetuned_models`. Each scan lists them through the API, so they are always current.
//! Times (`created_at`, `updated_at`) are `Timestamp(Microsecond, "UTC")`, read from RFC 3339
//! text (a time without an offset is UTC; NULL when absent or not a time); every other
//! column is text.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::kernels::cast_utils::string_to_datetime;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use refuel_client::RefuelClient;

/// Which metadata table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKind {
    /// `datasets`.
    Datasets,
    /// `tasks`.
    Tasks,
    /// `task_runs`.
    TaskRuns,
    /// `applications`.
    Applications,
    /// `finetuned_models`.
    FinetunedModels,
}

impl MetadataKind {
    /// Every metadata table.
    pub const ALL: [MetadataKind; 5] = [
        Self::Datasets,
        Self::Tasks,
        Self::TaskRuns,
        Self::Applications,
        Self::FinetunedModels,
    ];

    /// The table's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Datasets => "datasets",
            Self::Tasks => "tasks",
            Self::TaskRuns => "task_runs",
            Self::Applications => "applications",
            Self::FinetunedModels => "finetuned_models",
        }
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Datasets => &[
                "id",
                "name",
                "ingest_status",
                "source",
                "columns",
                "created_at",
                "updated_at",
            ],
            Self::Tasks => &[
                "id",
                "name",
                "dataset_id",
                "model",
                "fields",
                "created_at",
                "updated_at",
            ],
            Self::TaskRuns => &[
                "id",
                "task_id",
                "task_name",
                "dataset_id",
                "dataset_name",
                "model_name",
                "status",
                "created_at",
                "updated_at",
            ],
            Self::Applications => &["id", "name", "task_id", "status", "created_at"],
            Self::FinetunedModels => &[
                "id",
                "name",
                "base_model",
                "task_id",
                "status",
                "availability",
                "created_at",
                "updated_at",
            ],
        }
    }
}

/// Whether a metadata column holds times.
fn is_time(column: &str) -> bool {
    matches!(column, "created_at" | "updated_at")
}

/// The type of the metadata tables' times.
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A time from RFC 3339 text (without an offset: UTC) as microseconds since the epoch;
/// `None` when it is not one.
pub fn parse_time(text: &str) -> Option<i64> {
    let utc: Tz = "+00:00".parse().ok()?;
    string_to_datetime(&utc, text.trim())
        .ok()
        .map(|t| t.timestamp_micros())
}

/// A metadata table of the client's project.
#[derive(Debug, Clone)]
pub struct MetadataTable {
    client: RefuelClient,
    kind: MetadataKind,
    schema: SchemaRef,
}

impl MetadataTable {
    /// The client the table is listed through (scoped to its project).
    pub fn client(&self) -> &RefuelClient {
        &self.client
    }

    /// Which metadata table.
    pub fn kind(&self) -> MetadataKind {
        self.kind
    }

    /// The `kind` table of the client's project.
    pub fn new(client: RefuelClient, kind: MetadataKind) -> Self {
        let fields: Vec<Field> = kind
            .columns()
            .iter()
            .map(|c| {
                let data_type = if is_time(c) {
                    time_type()
                } else {
                    DataType::Utf8
                };
                Field::new(*c, data_type, true)
            })
            .collect();
        Self {
            client,
            kind,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    async fn rows(&self) -> refuel_client::Result<Vec<Vec<Option<String>>>> {
        let c = &self.client;
        Ok(match self.kind {
            MetadataKind::Datasets => c.datasets().list().await?.iter().map(dataset_row).collect(),
            MetadataKind::Tasks => c
                .tasks()
                .list()
                .await?
                .into_iter()
                .map(|t| {
                    let fields: Vec<&str> = t.subtasks.iter().map(|s| s.name.as_str()).collect();
                    vec![
                        Some(t.id.clone()),
                        Some(t.task_name.clone()),
                        t.dataset_id.clone(),
                        t.model.clone(),
                        Some(fields.join(", ")),
                        t.created_at.clone(),
                        t.updated_at.clone(),
                    ]
                })
                .collect(),
            MetadataKind::TaskRuns => {
                let mut rows = Vec::new();
                for t in c.tasks().list().await? {
                    for r in c.runs().list(&t.id).await? {
                        rows.push(vec![
                            r.id,
                            r.task_id,
                            r.task_name,
                            r.dataset_id,
                            r.dataset_name,
                            r.model_name,
                            Some(r.status.to_string()),
                            r.created_at,
                            r.updated_at,
                        ]);
                    }
                }
                rows
            }
            MetadataKind::Applications => c
                .applications()
                .list()
                .await?
                .into_iter()
                .map(|a| vec![Some(a.id), Some(a.name), a.task_id, a.status, a.created_at])
                .collect(),
            MetadataKind::FinetunedModels => c
                .finetuning()
                .list(None)
                .await?
                .into_iter()
                .map(|m| {
                    vec![
                        Some(m.id),
                        m.name,
                        m.base_model,
                        m.task_id,
                        m.finetuning_run_status,
                        m.availability_status,
                        m.created_at,
                        m.updated_at,
                    ]
                })
                .collect(),
        })
    }
}

/// A dataset's row of the `datasets` table; its columns are the schema's or, without one,
/// those of its column metadata.
fn dataset_row(d: &refuel_client::models::DatasetSummary) -> Vec<Option<String>> {
    let mut cols: Vec<String> = d
        .dataset_schema
        .columns()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    if cols.is_empty() {
        if let Some(columns) =
            crate::columns::TableColumns::typed(&d.dataset_schema, &d.column_metadata)
        {
            cols = columns
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
        }
    }
    vec![
        Some(d.id.clone()),
        Some(d.dataset_name.clone()),
        Some(d.ingest_status.to_string()),
        d.source.as_ref().map(ToString::to_string),
        Some(cols.join(", ")),
        d.created_at.clone(),
        d.updated_at.clone(),
    ]
}

#[async_trait]
impl TableProvider for MetadataTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.rows().await.map_err(crate::error::external)?;
        let arrays: Vec<ArrayRef> = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let cells = rows.iter().map(|r| r.get(i).and_then(Option::as_deref));
                if is_time(field.name()) {
                    Arc::new(
                        cells
                            .map(|c| c.and_then(parse_time))
                            .collect::<TimestampMicrosecondArray>()
                            .with_timezone("UTC"),
                    ) as ArrayRef
                } else {
                    Arc::new(cells.collect::<StringArray>()) as ArrayRef
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)?;
        let table = MemTable::try_new(Arc::clone(&self.schema), vec![vec![batch]])?;
        table.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_timestamps() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_time("1970-01-01T01:00:00.5+01:00"), Some(500_000));
        assert_eq!(
            parse_time("2024-05-01T12:00:00.123456"),
            parse_time("2024-05-01T12:00:00.123456Z")
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
        let client = refuel_client::RefuelClient::new(
            refuel_client::ClientConfig::default().with_api_key("k"),
        )
        .unwrap();
        for kind in MetadataKind::ALL {
            let table = MetadataTable::new(client.clone(), kind);
            let created = table.schema.field_with_name("created_at").unwrap();
            assert_eq!(created.data_type(), &time_type(), "{}", kind.name());
            assert_eq!(
                table.schema.field_with_name("id").unwrap().data_type(),
                &DataType::Utf8
            );
        }
    }
}
