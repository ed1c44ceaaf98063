//! Labels: what a labeler sees of a task, and what it answers for a row.

use std::sync::Arc;

use indexmap::IndexMap;
use refuel_client::models::Subtask;
use serde::{Deserialize, Serialize};

use super::{Cell, TaskExamples};

/// What a labeler sees of a task.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The task's context.
    pub context: String,
    /// The labeled fields, in order (a field may read earlier fields' outputs).
    pub fields: Vec<Subtask>,
    /// The model asked for, if any.
    pub model: Option<String>,
    /// Labeled examples of the fields (ground truth, feedback, or a finetuned model's
    /// training data), for labelers that use them.
    pub examples: Arc<TaskExamples>,
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

/// The text of a label value: a string as it is, a list joined with `", "`.
pub(crate) fn label_text(value: &serde_json::Value) -> Cell {
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
