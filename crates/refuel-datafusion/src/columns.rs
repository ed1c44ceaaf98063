//! The SQL columns of a Refuel table, where each comes from, and how they are typed.
//!
//! ## Dataset columns
//!
//! The columns and their order come from the dataset schema. Each column's SQL type:
//!
//! | dataset schema type | `column_metadata` type | SQL type |
//! |---|---|---|
//! | `number` | `integer` | `Int64` (read from the JSON number's text: no rounding beyond ±2^53) |
//! | `string` | `date` | `Date32` (from `YYYY-MM-DD` text) |
//! | `number` | other or none | `Float64` |
//! | `boolean` | any | `Boolean` |
//! | `string`, `image`, `pdf`, unknown | other than `date` | `Utf8` |
//!
//! The metadata only refines the schema: where the two disagree otherwise (say `integer`
//! on a `string` column), the schema decides. All dataset columns are nullable.
//!
//! A dataset without a schema (`null` or empty) takes its columns from its
//! `column_metadata`, in the metadata's key order (entries the platform added, `source:
//! "refuel"`, are left out): `integer` → `Int64`, `number` → `Float64`, `boolean` →
//! `Boolean`, `date` → `Date32`, anything else → `Utf8`. With neither, its columns are the
//! keys of its first rows ([`sample_columns`], one request of at most [`SAMPLE_ROWS`]
//! rows), all `Utf8`. [`TypesFrom`] says which of these a table's types came from.
//!
//! Types are decided from what is already at hand: a listing entry's `column_metadata`
//! when the listing carries it (our emulator's does), else its schema; a single dataset
//! get's `column_metadata` and schema. Only a dataset with neither costs a request (the
//! first rows), when its table is made.
//!
//! ## Label columns
//!
//! A label table adds, for each task field `f`, in the task's field order: `f_label` (the
//! final label: the human's when verified, else the LLM's), `f_llm_label`, `f_confidence`,
//! `f_explanation` and `f_verified` (never NULL: `false` until a human verifies). A
//! multilabel label is its labels joined with `", "`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use refuel_client::RefuelClient;
use refuel_client::api::items::ResolvedTarget;
use refuel_client::models::{
    ColumnMetadata, ColumnType, DatasetSchema, ItemQuery, MetadataType, Task,
};

/// Rows read to find the columns of a dataset that has neither a schema nor column
/// metadata.
pub const SAMPLE_ROWS: u64 = 100;

/// Which label value of a task field a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LabelColumn {
    /// `<f>_label`.
    Label,
    /// `<f>_llm_label`.
    LlmLabel,
    /// `<f>_confidence`.
    Confidence,
    /// `<f>_explanation`.
    Explanation,
    /// `<f>_verified`.
    Verified,
}

impl LabelColumn {
    /// Every label column, in table order.
    pub const ALL: [LabelColumn; 5] = [
        Self::Label,
        Self::LlmLabel,
        Self::Confidence,
        Self::Explanation,
        Self::Verified,
    ];

    /// The column name's suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Label => "label",
            Self::LlmLabel => "llm_label",
            Self::Confidence => "confidence",
            Self::Explanation => "explanation",
            Self::Verified => "verified",
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Confidence => DataType::Float64,
            Self::Verified => DataType::Boolean,
            _ => DataType::Utf8,
        }
    }
}

/// Where a SQL column's values come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ColumnSource {
    /// A dataset column.
    Data {
        /// Its name in the dataset.
        name: String,
        /// Its type on the wire: the dataset schema's type (filters and orders are
        /// translated by it). For a column without a schema: `number` for `integer` and
        /// `number` metadata, `boolean` for `boolean`, else `string`; for a column found in
        /// the first rows, the JSON kind of its values there (`string`, `number`, `boolean`,
        /// or `Other("")` when mixed, nested or only NULL). Its SQL type is the schema
        /// field's.
        column_type: ColumnType,
    },
    /// A label value of a task field.
    Label {
        /// The field (subtask) id.
        field_id: String,
        /// The field's name.
        field_name: String,
        /// Which value.
        kind: LabelColumn,
    },
}

/// Where the types of a table's dataset columns came from (label columns have fixed
/// types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TypesFrom {
    /// The dataset schema alone.
    DatasetSchema,
    /// The dataset schema, with some columns refined by the column metadata (`integer`
    /// → `Int64`, `date` → `Date32`).
    SchemaAndColumnMetadata,
    /// The column metadata: the dataset has no schema.
    ColumnMetadata,
    /// The keys of the first rows, every column text: the dataset has neither a schema nor
    /// column metadata.
    FirstRows,
}

impl TypesFrom {
    /// A line saying where the types came from, e.g. for `\d`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::DatasetSchema => "types from the dataset schema",
            Self::SchemaAndColumnMetadata => {
                "types from the dataset schema, refined by its column metadata"
            }
            Self::ColumnMetadata => "types from the column metadata (the dataset has no schema)",
            Self::FirstRows => {
                "columns from the first rows, as text (the dataset has no schema or column \
                 metadata)"
            }
        }
    }
}

impl std::fmt::Display for TypesFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The columns of a table: its Arrow schema and each column's source, by position.
#[derive(Debug, Clone)]
pub struct TableColumns {
    /// The Arrow schema.
    pub schema: SchemaRef,
    /// One source per schema field.
    pub sources: Vec<ColumnSource>,
    /// Where the dataset columns' types came from.
    pub types_from: TypesFrom,
}

/// The Arrow type of a dataset schema column type (without column metadata).
pub fn arrow_type(column_type: &ColumnType) -> DataType {
    match column_type {
        ColumnType::Number => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        _ => DataType::Utf8,
    }
}

/// The Arrow type of a schema column refined by its metadata type, and whether the
/// metadata decided it.
fn refined_type(column_type: &ColumnType, meta: Option<&MetadataType>) -> (DataType, bool) {
    match (column_type, meta) {
        (ColumnType::Number, Some(MetadataType::Integer)) => (DataType::Int64, true),
        (ColumnType::String, Some(MetadataType::Date)) => (DataType::Date32, true),
        (t, _) => (arrow_type(t), false),
    }
}

/// The Arrow and wire types of a column known only from its metadata type.
fn metadata_types(meta: Option<&MetadataType>) -> (DataType, ColumnType) {
    match meta {
        Some(MetadataType::Integer) => (DataType::Int64, ColumnType::Number),
        Some(MetadataType::Number) => (DataType::Float64, ColumnType::Number),
        Some(MetadataType::Boolean) => (DataType::Boolean, ColumnType::Boolean),
        Some(MetadataType::Date) => (DataType::Date32, ColumnType::String),
        _ => (DataType::Utf8, ColumnType::String),
    }
}

impl TableColumns {
    fn new(fields: Vec<Field>, sources: Vec<ColumnSource>, types_from: TypesFrom) -> Self {
        Self {
            schema: Arc::new(Schema::new(fields)),
            sources,
            types_from,
        }
    }

    /// The columns of a dataset typed by its schema alone (see [`TableColumns::typed`] for
    /// the schema with column metadata).
    pub fn for_dataset(schema: &DatasetSchema) -> Self {
        Self::typed(schema, &serde_json::Value::Null)
            .unwrap_or_else(|| Self::new(Vec::new(), Vec::new(), TypesFrom::DatasetSchema))
    }

    /// The columns of a dataset typed by its schema alone, with a task's labels. Fails when
    /// a label column's name is also a dataset column.
    pub fn for_task(schema: &DatasetSchema, task: &Task) -> Result<Self, String> {
        Self::for_dataset(schema).with_task(task)
    }

    /// The columns of a dataset from its schema and its `column_metadata` (a listing
    /// entry's or a dataset get's; `null` when there is none), typed as the module says.
    /// `None` when neither names a column: then [`sample_columns`] finds them.
    pub fn typed(schema: &DatasetSchema, column_metadata: &serde_json::Value) -> Option<Self> {
        let meta = ColumnMetadata::parse(column_metadata);
        let mut fields = Vec::new();
        let mut sources = Vec::new();
        let columns = schema.columns();
        if !columns.is_empty() {
            let mut refined = false;
            for (name, ty) in columns {
                let (data_type, by_meta) =
                    refined_type(ty, meta.get(name).and_then(|m| m.column_type.as_ref()));
                refined |= by_meta;
                fields.push(Field::new(name, data_type, true));
                sources.push(ColumnSource::Data {
                    name: name.to_string(),
                    column_type: ty.clone(),
                });
            }
            let from = if refined {
                TypesFrom::SchemaAndColumnMetadata
            } else {
                TypesFrom::DatasetSchema
            };
            return Some(Self::new(fields, sources, from));
        }
        for (name, m) in &meta {
            if m.source.as_deref() == Some("refuel") {
                continue;
            }
            let (data_type, column_type) = metadata_types(m.column_type.as_ref());
            fields.push(Field::new(name, data_type, true));
            sources.push(ColumnSource::Data {
                name: name.clone(),
                column_type,
            });
        }
        (!fields.is_empty()).then(|| Self::new(fields, sources, TypesFrom::ColumnMetadata))
    }

    /// The columns of a dataset found in its first rows (JSON objects; anything else is
    /// skipped): every key, in the order keys first appear, as a `Utf8` column.
    pub fn from_first_rows<'a>(rows: impl IntoIterator<Item = &'a serde_json::Value>) -> Self {
        // Each key with the JSON kind its values had so far (None: only NULLs).
        let mut seen: Vec<(&str, Option<ColumnType>, bool)> = Vec::new();
        for row in rows {
            let Some(object) = row.as_object() else {
                continue;
            };
            for (key, value) in object {
                let kind = match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(_) => Some(ColumnType::String),
                    serde_json::Value::Number(_) => Some(ColumnType::Number),
                    serde_json::Value::Bool(_) => Some(ColumnType::Boolean),
                    _ => Some(ColumnType::Other(String::new())),
                };
                match seen.iter_mut().find(|(k, _, _)| *k == key.as_str()) {
                    None => seen.push((key.as_str(), kind, false)),
                    Some((_, known, mixed)) => match (known.as_ref(), kind) {
                        (_, None) => {}
                        (None, k) => *known = k,
                        (Some(a), Some(b)) if *a != b => *mixed = true,
                        _ => {}
                    },
                }
            }
        }
        let mut fields = Vec::with_capacity(seen.len());
        let mut sources = Vec::with_capacity(seen.len());
        for (name, kind, mixed) in seen {
            let column_type = match kind {
                Some(k) if !mixed => k,
                _ => ColumnType::Other(String::new()),
            };
            fields.push(Field::new(name, DataType::Utf8, true));
            sources.push(ColumnSource::Data {
                name: name.to_string(),
                column_type,
            });
        }
        Self::new(fields, sources, TypesFrom::FirstRows)
    }

    /// These dataset columns followed by a task's label columns. Fails when a label column's
    /// name is also a dataset column.
    pub fn with_task(self, task: &Task) -> Result<Self, String> {
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut sources = self.sources;
        for sub in &task.subtasks {
            for kind in LabelColumn::ALL {
                let name = format!("{}_{}", sub.name, kind.suffix());
                if fields.iter().any(|f| *f.name() == name) {
                    return Err(format!(
                        "label column '{name}' of task '{}' has the name of another column",
                        task.task_name
                    ));
                }
                fields.push(Field::new(
                    &name,
                    kind.data_type(),
                    kind != LabelColumn::Verified,
                ));
                sources.push(ColumnSource::Label {
                    field_id: sub.id.clone(),
                    field_name: sub.name.clone(),
                    kind,
                });
            }
        }
        Ok(Self::new(fields, sources, self.types_from))
    }

    /// A column's source by SQL name.
    pub fn source(&self, name: &str) -> Option<&ColumnSource> {
        self.schema
            .index_of(name)
            .ok()
            .and_then(|i| self.sources.get(i))
    }
}

/// The columns of a dataset that has neither a schema nor column metadata: the keys of its
/// first [`SAMPLE_ROWS`] rows, as text (one request). A dataset without rows has none.
pub async fn sample_columns(
    client: &RefuelClient,
    dataset_id: &str,
) -> refuel_client::Result<TableColumns> {
    let target = ResolvedTarget {
        dataset_id: dataset_id.to_string(),
        task_id: None,
    };
    let page = client
        .items()
        .fetch::<serde_json::Value>(&target, &ItemQuery::new(), 0, SAMPLE_ROWS)
        .await?;
    Ok(TableColumns::from_first_rows(
        page.items.as_deref().unwrap_or_default(),
    ))
}

/// The columns of a dataset from its schema and column metadata, or when it has neither,
/// from its first rows (one request).
pub async fn dataset_columns(
    client: &RefuelClient,
    dataset_id: &str,
    schema: &DatasetSchema,
    column_metadata: &serde_json::Value,
) -> refuel_client::Result<TableColumns> {
    match TableColumns::typed(schema, column_metadata) {
        Some(columns) => Ok(columns),
        None => sample_columns(client, dataset_id).await,
    }
}

/// The columns of a listed dataset exactly as the catalog types its table: from the
/// listing entry's schema and column metadata when they name columns (no request), else
/// from a dataset get's, else from the first rows. Anything that must agree with `SELECT *`
/// on the dataset's table (e.g. `refuel-sql export`) types its columns here.
pub async fn listed_dataset_columns(
    client: &RefuelClient,
    entry: &refuel_client::models::DatasetSummary,
) -> refuel_client::Result<TableColumns> {
    if let Some(columns) = TableColumns::typed(&entry.dataset_schema, &entry.column_metadata) {
        return Ok(columns);
    }
    let ds = client.datasets().get(&entry.id).await?;
    dataset_columns(client, &ds.id, &ds.schema, &ds.column_metadata).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: serde_json::Value) -> DatasetSchema {
        serde_json::from_value(value).unwrap()
    }

    fn types(columns: &TableColumns) -> Vec<(String, DataType)> {
        columns
            .schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    }

    fn pairs(list: &[(&str, DataType)]) -> Vec<(String, DataType)> {
        list.iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect()
    }

    fn shop_schema() -> DatasetSchema {
        schema(json!({"type": "object", "properties": {
            "id": {"name": "id", "type": "number", "order": 0},
            "price": {"name": "price", "type": "number", "order": 1},
            "day": {"name": "day", "type": "string", "order": 2},
            "note": {"name": "note", "type": "string", "order": 3},
            "ok": {"name": "ok", "type": "boolean", "order": 4},
            "pic": {"name": "pic", "type": "image", "order": 5},
            "odd": {"name": "odd", "type": "geo", "order": 6}
        }}))
    }

    #[test]
    fn schema_types_alone() {
        let c = TableColumns::for_dataset(&shop_schema());
        assert_eq!(
            types(&c),
            pairs(&[
                ("id", DataType::Float64),
                ("price", DataType::Float64),
                ("day", DataType::Utf8),
                ("note", DataType::Utf8),
                ("ok", DataType::Boolean),
                ("pic", DataType::Utf8),
                ("odd", DataType::Utf8),
            ])
        );
        assert_eq!(c.types_from, TypesFrom::DatasetSchema);
        assert!(c.schema.fields().iter().all(|f| f.is_nullable()));
        // The same with metadata that refines nothing.
        let meta = json!({"id": {"type": "number"}, "note": {"type": "string"}});
        let c = TableColumns::typed(&shop_schema(), &meta).unwrap();
        assert_eq!(c.types_from, TypesFrom::DatasetSchema);
    }

    #[test]
    fn metadata_refines_integers_and_dates_only() {
        let meta = json!({
            "id": {"type": "integer", "source": "user"},
            "price": {"type": "number"},
            "day": {"type": "date"},
            // Disagreements: the schema decides.
            "note": {"type": "integer"},
            "ok": {"type": "date"},
            "pic": {"type": "date"},
            "odd": {"type": null},
            "extra": {"type": "integer"}
        });
        let c = TableColumns::typed(&shop_schema(), &meta).unwrap();
        assert_eq!(
            types(&c),
            pairs(&[
                ("id", DataType::Int64),
                ("price", DataType::Float64),
                ("day", DataType::Date32),
                ("note", DataType::Utf8),
                ("ok", DataType::Boolean),
                ("pic", DataType::Utf8),
                ("odd", DataType::Utf8),
            ])
        );
        assert_eq!(c.types_from, TypesFrom::SchemaAndColumnMetadata);
        // The wire types stay the schema's.
        assert_eq!(
            c.source("id"),
            Some(&ColumnSource::Data {
                name: "id".into(),
                column_type: ColumnType::Number
            })
        );
        assert_eq!(
            c.source("day"),
            Some(&ColumnSource::Data {
                name: "day".into(),
                column_type: ColumnType::String
            })
        );
    }

    #[test]
    fn without_a_schema_the_metadata_names_the_columns() {
        let meta = json!({
            "z": {"type": "integer"},
            "a": {"type": "date"},
            "m": {"type": "number"},
            "b": {"type": "boolean"},
            "s": {"type": "string"},
            "u": {"type": "geo"},
            "n": {},
            "mood_llm_label": {"type": "string", "source": "refuel", "is_llm_label": true},
            "junk": 3
        });
        for empty in [
            DatasetSchema::default(),
            schema(json!({"properties": null})),
            schema(json!({"properties": {}})),
        ] {
            let c = TableColumns::typed(&empty, &meta).unwrap();
            assert_eq!(
                types(&c),
                pairs(&[
                    ("z", DataType::Int64),
                    ("a", DataType::Date32),
                    ("m", DataType::Float64),
                    ("b", DataType::Boolean),
                    ("s", DataType::Utf8),
                    ("u", DataType::Utf8),
                    ("n", DataType::Utf8),
                ])
            );
            assert_eq!(c.types_from, TypesFrom::ColumnMetadata);
            let wire: Vec<&ColumnType> = c
                .sources
                .iter()
                .map(|s| match s {
                    ColumnSource::Data { column_type, .. } => column_type,
                    ColumnSource::Label { .. } => unreachable!(),
                })
                .collect();
            assert_eq!(
                wire,
                [
                    &ColumnType::Number,
                    &ColumnType::String,
                    &ColumnType::Number,
                    &ColumnType::Boolean,
                    &ColumnType::String,
                    &ColumnType::String,
                    &ColumnType::String,
                ]
            );
        }
        // Neither: nothing to type from.
        let none = DatasetSchema::default();
        assert!(TableColumns::typed(&none, &json!(null)).is_none());
        assert!(TableColumns::typed(&none, &json!({})).is_none());
        assert!(TableColumns::typed(&none, &json!([1])).is_none());
        let only_platform = json!({"x_label": {"type": "string", "source": "refuel"}});
        assert!(TableColumns::typed(&none, &only_platform).is_none());
    }

    #[test]
    fn first_rows_give_text_columns_in_key_order() {
        let rows = [
            json!({"b": 1, "a": "x", "n": null}),
            json!("not a row"),
            json!({"a": "y", "c": true, "b": 2.5, "n": null, "d": {"k": 1}}),
            json!({"e": 1}),
            json!({"e": "1"}),
        ];
        let c = TableColumns::from_first_rows(&rows);
        assert_eq!(c.types_from, TypesFrom::FirstRows);
        let names: Vec<&str> = c
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["b", "a", "n", "c", "d", "e"]);
        assert!(
            c.schema
                .fields()
                .iter()
                .all(|f| f.data_type() == &DataType::Utf8 && f.is_nullable())
        );
        let wire = |n: &str| match c.source(n) {
            Some(ColumnSource::Data { column_type, .. }) => column_type.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(wire("b"), ColumnType::Number);
        assert_eq!(wire("a"), ColumnType::String);
        assert_eq!(wire("c"), ColumnType::Boolean);
        assert_eq!(wire("n"), ColumnType::Other(String::new()));
        assert_eq!(wire("d"), ColumnType::Other(String::new()));
        assert_eq!(wire("e"), ColumnType::Other(String::new()));
        assert!(
            TableColumns::from_first_rows(&[])
                .schema
                .fields()
                .is_empty()
        );
    }

    #[test]
    fn label_columns_follow_the_dataset_columns() {
        let task: Task = serde_json::from_value(json!({
            "id": "t1", "task_name": "t",
            "subtasks": [{"id": "f1", "name": "mood", "type": "classification"}]
        }))
        .unwrap();
        let meta = json!({"id": {"type": "integer"}});
        let c = TableColumns::typed(&shop_schema(), &meta)
            .unwrap()
            .with_task(&task)
            .unwrap();
        assert_eq!(c.schema.fields().len(), 7 + 5);
        assert_eq!(c.schema.field(0).data_type(), &DataType::Int64);
        assert_eq!(c.schema.field(9).name(), "mood_confidence");
        assert!(!c.schema.field(11).is_nullable());
        assert_eq!(c.types_from, TypesFrom::SchemaAndColumnMetadata);
        let clash = schema(json!({"properties": {"mood_label": {"type": "string"}}}));
        let err = TableColumns::for_task(&clash, &task).unwrap_err();
        assert!(err.contains("mood_label"), "{err}");
    }
}
