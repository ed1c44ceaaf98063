//! The SQL columns of a Refuel table and where each comes from.
//!
//! Dataset columns keep the dataset schema's order and map by type: `string` (and `image`,
//! `pdf`, unknown types) to `Utf8`, `number` to `Float64` (JSON numbers are doubles;
//! integers beyond ±2^53 are rounded), `boolean` to `Boolean`; all nullable. A label table
//! adds, for each task field `f`, in the task's field order: `f_label` (the final label:
//! the human's when verified, else the LLM's), `f_llm_label`, `f_confidence`,
//! `f_explanation` and `f_verified` (never NULL: `false` until a human verifies). A
//! multilabel label is its labels joined with `", "`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use refuel_client::models::{ColumnType, DatasetSchema, Task};

/// Which label value of a task field a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// A dataset column.
    Data {
        /// Its name in the dataset.
        name: String,
        /// Its type in the dataset schema.
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

/// The columns of a table: its Arrow schema and each column's source, by position.
#[derive(Debug, Clone)]
pub struct TableColumns {
    /// The Arrow schema.
    pub schema: SchemaRef,
    /// One source per schema field.
    pub sources: Vec<ColumnSource>,
}

/// The Arrow type of a dataset column type.
pub fn arrow_type(column_type: &ColumnType) -> DataType {
    match column_type {
        ColumnType::Number => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        _ => DataType::Utf8,
    }
}

impl TableColumns {
    /// The columns of a dataset.
    pub fn for_dataset(schema: &DatasetSchema) -> Self {
        let mut fields = Vec::new();
        let mut sources = Vec::new();
        for (name, ty) in schema.columns() {
            fields.push(Field::new(name, arrow_type(ty), true));
            sources.push(ColumnSource::Data {
                name: name.to_string(),
                column_type: ty.clone(),
            });
        }
        Self {
            schema: Arc::new(Schema::new(fields)),
            sources,
        }
    }

    /// The columns of a dataset with a task's labels. Fails when a label column's name is
    /// also a dataset column.
    pub fn for_task(schema: &DatasetSchema, task: &Task) -> Result<Self, String> {
        let base = Self::for_dataset(schema);
        let mut fields: Vec<Field> = base
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut sources = base.sources;
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
        Ok(Self {
            schema: Arc::new(Schema::new(fields)),
            sources,
        })
    }

    /// A column's source by SQL name.
    pub fn source(&self, name: &str) -> Option<&ColumnSource> {
        self.schema
            .index_of(name)
            .ok()
            .and_then(|i| self.sources.get(i))
    }
}
