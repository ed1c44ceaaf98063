//! Labelers: what produces the labels of task runs and applications.
//!
//! Two are built in:
//! - [`ReferenceLabeler`], the default: offline, deterministic and fast. It is a reference
//!   implementation for tests and demos, **not an LLM**; its rules are documented on the type
//!   and in the README.
//! - [`OpenAiLabeler`]: any OpenAI-compatible chat-completions server (base URL, key, model),
//!   prompted with the task's context, guidelines, labels and the row's input columns, and
//!   asked for JSON.

mod openai;
mod reference;

use std::fmt::Debug;

use futures::future::BoxFuture;
use indexmap::IndexMap;
use refuel_client::models::{FieldType, Subtask};
use serde::{Deserialize, Serialize};

pub use self::openai::{OpenAiConfig, OpenAiLabeler};
pub use self::reference::ReferenceLabeler;
use crate::store::Cell;

/// What a labeler sees of a task.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The task's context.
    pub context: String,
    /// The labeled fields, in order (a field may read earlier fields' outputs).
    pub fields: Vec<Subtask>,
    /// The model asked for, if any.
    pub model: Option<String>,
}

/// One labeled field of one row.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FieldLabel {
    /// The LLM's label: a string, a list of strings (multilabel), or null.
    pub llm_label: serde_json::Value,
    /// Its confidence in `[0, 1]`.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// For multilabel fields, a confidence per chosen label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multilabel_confidence: Option<Vec<f64>>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Why labeling failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The labels of one row, one per field, and what producing them cost.
#[derive(Debug, Clone, Default)]
pub struct LabeledRow {
    /// One label per field of the task, in order.
    pub fields: Vec<FieldLabel>,
    /// Tokens read.
    pub prompt_tokens: u64,
    /// Tokens written.
    pub completion_tokens: u64,
}

/// A row's values by column name.
pub type RowInput = IndexMap<String, Cell>;

/// Produces labels.
pub trait Labeler: Send + Sync + Debug {
    /// The model name reported in runs and telemetry.
    fn model_name(&self, task: &TaskSpec) -> String;
    /// The provider reported in telemetry.
    fn provider(&self) -> &str;
    /// Whether [`Labeler::label_now`] labels (the labeler's work is all computation, no
    /// I/O). Runs then label batches on blocking threads, off the server's.
    fn labels_now(&self) -> bool {
        false
    }

    /// Labels one row at once on the calling thread; `None` for labelers that must wait on
    /// something (use [`Labeler::label`]).
    fn label_now(&self, _task: &TaskSpec, _row: &RowInput) -> Option<Result<LabeledRow, String>> {
        None
    }

    /// Labels one row: one [`FieldLabel`] per field of `task`, in order. An error fails
    /// the row (a run records it and goes on).
    fn label<'a>(
        &'a self,
        task: &'a TaskSpec,
        row: &'a RowInput,
    ) -> BoxFuture<'a, Result<LabeledRow, String>>;
}

/// The text of a label value: a string as it is, a list joined with `", "`.
pub fn label_text(value: &serde_json::Value) -> Cell {
    match value {
        serde_json::Value::Null => Cell::Null,
        serde_json::Value::String(s) => Cell::Str(s.as_str().into()),
        serde_json::Value::Array(items) => Cell::Str(
            items
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
                .into(),
        ),
        other => Cell::Str(other.to_string().into()),
    }
}

/// The inputs of a field: its input columns' values (or earlier fields' labels) as text.
pub fn field_inputs(field: &Subtask, row: &RowInput) -> Vec<(String, String)> {
    field
        .input_columns
        .iter()
        .map(|c| {
            let text = row
                .get(c)
                .and_then(|v| v.render().map(|t| t.into_owned()))
                .unwrap_or_default();
            (c.clone(), text)
        })
        .collect()
}

/// The value of a label as a row value, for fields that read other fields.
pub fn as_input(label: &FieldLabel) -> Cell {
    label_text(&label.llm_label)
}

/// Whether a field is labeled by labelers (enrichments are not).
pub fn is_labeled(field: &Subtask) -> bool {
    field.field_type.is_labeled() || matches!(field.field_type, FieldType::Other(_))
}
