//! What the logs hold.

use refuel_client::models::ColumnType;
use serde::{Deserialize, Serialize};

use super::{AppRec, DatasetMeta, ExportRec, ModelRec, ProjectRec, RunRec, TaskRec};
use crate::model::{Cell, FieldLabel, MetadataType};

/// One change to the catalog.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum CatalogRecord {
    ProjectCreated(ProjectRec),
    ProjectDeleted {
        id: String,
    },
    DatasetCreated(DatasetMeta),
    DatasetIngested {
        id: String,
        columns: Vec<(String, ColumnType)>,
        /// The `column_metadata` type of each column at ingest; absent in logs written
        /// before it was recorded (then each column's follows its schema type).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        metadata: Vec<MetadataType>,
        at: String,
    },
    DatasetFailed {
        id: String,
        error: String,
        at: String,
    },
    DatasetUpdated {
        id: String,
        scheduled_ids: Vec<String>,
        at: String,
    },
    DatasetDeleted {
        id: String,
    },
    TaskCreated(TaskRec),
    TaskDeleted {
        id: String,
    },
    RunCreated(RunRec),
    RunStatus {
        id: String,
        status: refuel_client::models::RunStatus,
        error: Option<String>,
        at: String,
    },
    AppCreated(AppRec),
    ModelCreated(ModelRec),
    ModelInterrupted {
        id: String,
        at: String,
    },
    ExportCreated(ExportRec),
}

/// One change to a task's labels on a dataset.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum LabelRecord {
    /// Labels produced by a run (or an application).
    Labels {
        run: Option<String>,
        rows: Vec<(u32, Vec<FieldLabel>)>,
    },
    /// A human's label for one field of one row.
    Feedback {
        row: u32,
        field: String,
        label: serde_json::Value,
    },
}

/// One change to a dataset's rows.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum RowsRecord {
    Append { rows: Vec<Vec<Cell>> },
    Delete { index: u64 },
}

/// The same, borrowed, for writing.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum RowsRecordRef<'a> {
    Append { rows: &'a [Vec<Cell>] },
    Delete { index: u64 },
}
