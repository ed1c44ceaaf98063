//! What the logs hold.

use refuel_client::models::ColumnType;
use serde::{Deserialize, Serialize};

use super::{Cell, DatasetMeta, ProjectRec};

/// One change to the catalog.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CatalogRecord {
    ProjectCreated(ProjectRec),
    ProjectDeleted {
        id: String,
    },
    DatasetCreated(DatasetMeta),
    DatasetIngested {
        id: String,
        columns: Vec<(String, ColumnType)>,
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
}

/// One change to a dataset's rows.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RowsRecord {
    Append { rows: Vec<Vec<Cell>> },
    Delete { index: u64 },
}

/// The same, borrowed, for writing.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RowsRecordRef<'a> {
    Append { rows: &'a [Vec<Cell>] },
    Delete { index: u64 },
}
