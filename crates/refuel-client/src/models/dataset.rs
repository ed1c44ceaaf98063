//! Datasets.

use serde::{Deserialize, Serialize};

use super::schema::DatasetSchema;

super::wire_enum! {
    /// Where a dataset's ingest stands.
    IngestStatus {
        /// The server is still loading the rows.
        InProgress => "in_progress",
        /// Every row is loaded and queryable.
        Success => "success",
        /// The ingest failed; the dataset has no rows.
        Failed => "failed",
    }
}

impl IngestStatus {
    /// Whether the ingest has ended, well or not.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }
}

super::wire_enum! {
    /// How a dataset's rows reached the server.
    DatasetSource {
        /// A file uploaded in the request (multipart).
        File => "file",
        /// A URL the server downloaded.
        Uri => "uri",
    }
}

/// A dataset as `GET /datasets?project_id=P` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// The dataset's UUID.
    pub id: String,
    /// The dataset's name, unique within its project.
    pub dataset_name: String,
    /// When the dataset was created (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the dataset last changed (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Where its ingest stands.
    pub ingest_status: IngestStatus,
    /// Its columns; empty until the first ingest succeeds.
    #[serde(default)]
    pub dataset_schema: DatasetSchema,
    /// How its rows arrived.
    #[serde(default)]
    pub source: Option<DatasetSource>,
    /// The ids of the projects that hold it.
    #[serde(default)]
    pub projects: Vec<String>,
}

/// A dataset as `GET /datasets/{id}` returns it, with the rows of a query when asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset<I = super::Row> {
    /// The dataset's UUID.
    pub id: String,
    /// The dataset's name.
    pub name: String,
    /// Its columns.
    #[serde(default)]
    pub schema: DatasetSchema,
    /// Where its ingest stands.
    pub ingest_status: IngestStatus,
    /// Why the ingest failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_error: Option<String>,
    /// Per-column metadata (free form).
    #[serde(default)]
    pub column_metadata: serde_json::Value,
    /// The number of rows that match the query's filters (all rows without filters).
    #[serde(default)]
    pub total_count: Option<u64>,
    /// The number of rows in `items`.
    #[serde(default)]
    pub response_count: Option<u64>,
    /// The ids of the projects that hold it.
    #[serde(default)]
    pub project_ids: Vec<String>,
    /// The ids of tasks scheduled on it.
    #[serde(default)]
    pub scheduled_ids: Vec<String>,
    /// How its rows arrived.
    #[serde(default)]
    pub source: Option<DatasetSource>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The rows of the query, in order, when rows were asked for.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<I>>,
}
