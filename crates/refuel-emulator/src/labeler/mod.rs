//! Labelers: what produces the labels of task runs and applications.
//!
//! Two are built in:
//! - [`ReferenceLabeler`], the default: offline, deterministic and fast. It is a reference
//!   implementation for tests and demos, **not an LLM**; its rules are documented on the type
//!   and in the README.
//! - [`OpenAiLabeler`]: any OpenAI-compatible chat-completions server (base URL, key, model),
//!   prompted with the task's context, guidelines, labels and the row's input columns, and
//!   asked for JSON.

mod neighbours;
mod openai;
mod reference;
mod vocabulary;

use std::fmt::Debug;

use futures::future::BoxFuture;
use refuel_client::models::{FieldType, Subtask};

pub use self::openai::{OpenAiConfig, OpenAiLabeler};
pub use self::reference::ReferenceLabeler;
use crate::model::label_text;
pub use crate::model::{
    Cell, Example, ExampleSource, FieldExamples, FieldLabel, LabeledRow, RowInput, RowKey,
    TaskExamples, TaskSpec,
};

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
    /// something (use [`Labeler::label`]). `origin` is the dataset row being labeled, when
    /// it is one: its own labeled example (in `task.examples`) must not be used for it.
    fn label_now(
        &self,
        _task: &TaskSpec,
        _row: &RowInput,
        _origin: Option<RowKey>,
    ) -> Option<Result<LabeledRow, String>> {
        None
    }

    /// Labels one row: one [`FieldLabel`] per field of `task`, in order. An error fails
    /// the row (a run records it and goes on). `origin` as for [`Labeler::label_now`].
    fn label<'a>(
        &'a self,
        task: &'a TaskSpec,
        row: &'a RowInput,
        origin: Option<RowKey>,
    ) -> BoxFuture<'a, Result<LabeledRow, String>>;
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
