//! Datasets.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::lenient::{lenient, null_as_default, null_as_unknown, unknown};
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
    /// Where its ingest stands; `Other("")` when the server sent none (the SDK declares it
    /// nullable).
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub ingest_status: IngestStatus,
    /// Its columns; empty until the first ingest succeeds (or when the server sent none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub dataset_schema: DatasetSchema,
    /// How its rows arrived.
    #[serde(default)]
    pub source: Option<DatasetSource>,
    /// The ids of the projects that hold it (nullable in the SDK: empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub projects: Vec<String>,
    /// Per-column metadata, when the listing carries it (our emulator's listing does; the
    /// SDK declares it only on a single dataset's answer). `null` when absent. Read it with
    /// [`ColumnMetadata::parse`].
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub column_metadata: serde_json::Value,
}

/// A dataset as `GET /datasets/{id}` returns it, with the rows of a query when asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset<I = super::Row> {
    /// The dataset's UUID.
    pub id: String,
    /// The dataset's name.
    pub name: String,
    /// Its columns (empty when the server sent none: the SDK declares it nullable).
    #[serde(default, deserialize_with = "null_as_default")]
    pub schema: DatasetSchema,
    /// Where its ingest stands; `Other("")` when the server sent none.
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub ingest_status: IngestStatus,
    /// Why the ingest failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_error: Option<String>,
    /// Per-column metadata (`null` when absent); read it with [`ColumnMetadata::parse`].
    #[serde(default)]
    pub column_metadata: serde_json::Value,
    /// The number of rows that match the query's filters (all rows without filters);
    /// `None` when the server did not say, which means "unknown", never zero.
    #[serde(default, deserialize_with = "lenient")]
    pub total_count: Option<u64>,
    /// The number of rows in `items`.
    #[serde(default, deserialize_with = "lenient")]
    pub response_count: Option<u64>,
    /// The ids of the projects that hold it (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub project_ids: Vec<String>,
    /// The ids of tasks scheduled on it (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
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

super::wire_enum! {
    /// The type a dataset's `column_metadata` gives a column. The TypeScript SDK declares
    /// `string`, `integer`, `boolean` and `date`; `number` is what our emulator says of a
    /// numeric column that is not integral.
    MetadataType {
        /// Text.
        String => "string",
        /// Whole numbers.
        Integer => "integer",
        /// Numbers that are not all whole.
        Number => "number",
        /// `true` or `false`.
        Boolean => "boolean",
        /// Calendar dates (`YYYY-MM-DD`).
        Date => "date",
    }
}

/// The typed part of one column's metadata (`column_metadata[column]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ColumnMetadata {
    /// The column's type, when given.
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    pub column_type: Option<MetadataType>,
    /// `user` for the dataset's own columns, `refuel` for columns the platform added.
    #[serde(default, deserialize_with = "lenient")]
    pub source: Option<String>,
}

impl ColumnMetadata {
    /// The metadata of each column in a `column_metadata` value, skipping entries that are
    /// not objects. `null` or any other non-object value gives an empty map.
    pub fn parse(value: &serde_json::Value) -> IndexMap<String, ColumnMetadata> {
        let Some(map) = value.as_object() else {
            return IndexMap::new();
        };
        map.iter()
            .filter_map(|(column, meta)| {
                let meta = serde_json::from_value::<ColumnMetadata>(meta.clone()).ok()?;
                Some((column.clone(), meta))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_in_the_sdk_declared_shapes_decodes() {
        let d: Dataset = serde_json::from_value(serde_json::json!({
            "id": "d1", "name": "reviews", "schema": null, "ingest_status": null,
            "column_metadata": null, "response_count": 0, "total_count": 12,
            "project_ids": null, "scheduled_ids": null, "unknown_field": {"x": 1}
        }))
        .unwrap();
        assert!(d.schema.properties.is_empty());
        assert!(d.scheduled_ids.is_empty() && d.project_ids.is_empty());
        assert_eq!(d.total_count, Some(12));
        assert_eq!(d.ingest_status, IngestStatus::Other(String::new()));
        let d: Dataset =
            serde_json::from_value(serde_json::json!({"id": "d1", "name": "r"})).unwrap();
        assert_eq!(d.total_count, None);
        let s: DatasetSummary = serde_json::from_value(serde_json::json!({
            "id": "d1", "dataset_name": "reviews", "created_at": "2024-01-01",
            "updated_at": null, "ingest_status": "success", "dataset_schema": null,
            "source": "file", "projects": null
        }))
        .unwrap();
        assert!(s.projects.is_empty() && s.dataset_schema.properties.is_empty());
    }

    #[test]
    fn column_metadata_is_read_leniently() {
        let meta = ColumnMetadata::parse(&serde_json::json!({
            "id": {"type": "integer", "source": "user", "is_confidence": null},
            "day": {"type": "date"},
            "odd": {"type": 7},
            "weird": "not an object",
            "new": {"type": "geo"}
        }));
        assert_eq!(meta["id"].column_type, Some(MetadataType::Integer));
        assert_eq!(meta["day"].column_type, Some(MetadataType::Date));
        assert_eq!(meta["odd"].column_type, None);
        assert!(!meta.contains_key("weird"));
        assert_eq!(
            meta["new"].column_type,
            Some(MetadataType::Other("geo".into()))
        );
        assert!(ColumnMetadata::parse(&serde_json::Value::Null).is_empty());
    }
}
