//! The labeled examples the reference labeler votes with (`labeler/neighbours.rs`):
//! - of a task: human labels (feedback) on its rows in any dataset it labeled (its own,
//!   another a run labeled, an application's log), then the values of each field's
//!   ground-truth column in the task's own dataset; a row with a human label gives no
//!   ground-truth example for that field. Built on first use and kept until a row of the
//!   task's dataset or a human label changes.
//! - of a finetuned model: the same, taken from its training datasets when its run
//!   started, stored with the model. Later feedback does not change what it was trained on.
//!
//! At most [`MAX_EXAMPLES`] per field, human labels first, each in row order.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Store;
use super::datasets::DatasetEntry;
use super::tasks::TaskRec;
use crate::model::{
    Cell, Example, ExampleSource, FieldExamples, MAX_EXAMPLES, RowKey, TaskExamples, TaskSpec,
    words,
};

/// What a finetuned model was trained on for one field, as stored with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrainedField {
    /// The field's name.
    pub(crate) field: String,
    /// Each example: the words of its inputs (joined by spaces) and its label.
    pub(crate) examples: Vec<(String, Value)>,
}

/// A task's examples and the versions of the data they were built from.
#[derive(Debug)]
struct Built {
    /// Per dataset read: its serial, its rows' version, its human labels' version.
    key: Vec<[u64; 3]>,
    examples: Arc<TaskExamples>,
}

/// Examples built so far, by task id and by (model id, task id).
#[derive(Debug, Default)]
pub(super) struct ExampleCache {
    tasks: Mutex<HashMap<String, Built>>,
    models: Mutex<HashMap<(String, String), Arc<TaskExamples>>>,
}

impl ExampleCache {
    /// Drops what was built for a deleted task.
    pub(super) fn forget_task(&self, task_id: &str) {
        self.tasks.lock().remove(task_id);
        self.models.lock().retain(|(_, t), _| t != task_id);
    }
}

impl Store {
    /// What a labeler sees of a task: its spec, with the labeled examples of its model when
    /// that is one of the team's finetuned models (by id or name), else its own.
    pub(crate) fn labeling_spec(&self, task: &TaskRec) -> TaskSpec {
        let mut spec = task.spec();
        spec.examples = task
            .model
            .as_deref()
            .and_then(|m| self.trained_examples(task, m))
            .unwrap_or_else(|| self.task_examples(task));
        spec
    }

    /// A task's own examples (see the module documentation).
    fn task_examples(&self, task: &TaskRec) -> Arc<TaskExamples> {
        // The task's dataset, and every dataset holding human labels of the task; the key
        // is each one's serial, rows' version (for the ground truth: the task's dataset
        // only) and human labels' version.
        let mut sources: Vec<(Arc<DatasetEntry>, bool)> = Vec::new();
        let mut key: Vec<[u64; 3]> = Vec::new();
        for d in self.datasets.read().values() {
            let own = d.meta.read().id == task.dataset_id;
            let feedback = d
                .labels
                .read()
                .get(&task.id)
                .map_or(0, |s| s.feedback_version);
            if own || feedback > 0 {
                let rows = if own { d.data.read().version } else { 0 };
                key.push([d.serial, rows, feedback]);
                sources.push((Arc::clone(d), own));
            }
        }
        if let Some(built) = self.examples.tasks.lock().get(&task.id) {
            if built.key == key {
                return Arc::clone(&built.examples);
            }
        }
        let examples = Arc::new(TaskExamples {
            fields: collect(task, &sources)
                .into_iter()
                .map(FieldExamples::new)
                .collect(),
            trained: false,
        });
        self.examples.tasks.lock().insert(
            task.id.clone(),
            Built {
                key,
                examples: Arc::clone(&examples),
            },
        );
        examples
    }

    /// The training examples of the team's finetuned model named `model` (id or name),
    /// matched to the task's fields by name; `None` when no such model exists.
    fn trained_examples(&self, task: &TaskRec, model: &str) -> Option<Arc<TaskExamples>> {
        let models = self.models.read();
        let m = models
            .values()
            .find(|m| m.team == task.team && (m.id == model || m.name == model))?;
        let key = (m.id.clone(), task.id.clone());
        if let Some(hit) = self.examples.models.lock().get(&key) {
            return Some(Arc::clone(hit));
        }
        let fields = task
            .subtasks
            .iter()
            .map(|f| {
                let trained = m.training.iter().find(|t| t.field == f.name);
                FieldExamples::new(trained.into_iter().flat_map(|t| {
                    t.examples.iter().map(|(text, label)| Example {
                        words: words(text),
                        label: label.clone(),
                        source: ExampleSource::Training,
                        origin: None,
                    })
                }))
            })
            .collect();
        let examples = Arc::new(TaskExamples {
            fields,
            trained: true,
        });
        self.examples
            .models
            .lock()
            .insert(key, Arc::clone(&examples));
        Some(examples)
    }

    /// What a finetuning run of `task` on `datasets` (ids of the team's datasets) trains
    /// on: their human labels of the task and their ground-truth columns.
    pub(crate) fn training_examples(
        &self,
        task: &TaskRec,
        datasets: &[String],
    ) -> Vec<TrainedField> {
        let sources: Vec<(Arc<DatasetEntry>, bool)> = datasets
            .iter()
            .filter_map(|id| self.datasets.read().get(id).cloned())
            .filter(|d| d.meta.read().team == task.team)
            .map(|d| (d, true))
            .collect();
        task.subtasks
            .iter()
            .zip(collect(task, &sources))
            .map(|(f, examples)| TrainedField {
                field: f.name.clone(),
                examples: examples
                    .into_iter()
                    .map(|e| (e.words.join(" "), e.label))
                    .collect(),
            })
            .collect()
    }

    /// Forgets what was built for a task (on delete).
    pub(super) fn forget_examples(&self, task_id: &str) {
        self.examples.forget_task(task_id);
    }
}

/// The examples of each field of `task` in `sources` (each dataset with whether its
/// ground-truth column counts): human labels first, then ground truth.
fn collect(task: &TaskRec, sources: &[(Arc<DatasetEntry>, bool)]) -> Vec<Vec<Example>> {
    let width = task.subtasks.len();
    let mut human: Vec<Vec<Example>> = vec![Vec::new(); width];
    let mut truth: Vec<Vec<Example>> = vec![Vec::new(); width];
    for (entry, with_truth) in sources {
        let data = entry.data.read();
        let labels = entry.labels.read();
        let set = labels.get(&task.id);
        // The text a field reads on a row: its input columns, or earlier fields' labels.
        let text = |index: usize, cells: &[Cell], field: usize| -> String {
            task.subtasks[field]
                .input_columns
                .iter()
                .filter_map(|c| match data.column_index(c) {
                    Some(col) => cells
                        .get(col)
                        .and_then(|v| v.render().map(|t| t.into_owned())),
                    None => {
                        let earlier = task.subtasks[..field].iter().position(|s| &s.name == c)?;
                        let row = set?.row(index)?;
                        row.fields
                            .get(earlier)?
                            .final_text()
                            .render()
                            .map(|t| t.into_owned())
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let origin = |row: usize| {
            Some(RowKey {
                dataset: entry.serial,
                row: row as u32,
            })
        };
        if let Some(set) = set.filter(|s| s.feedback_version > 0) {
            for (index, row) in set.rows.iter().enumerate() {
                let (Some(row), Some(Some(cells))) = (row, data.rows.get(index)) else {
                    continue;
                };
                for (field, label) in row.fields.iter().enumerate().take(width) {
                    match &label.human {
                        Some(value) if human[field].len() < MAX_EXAMPLES => {
                            human[field].push(Example {
                                words: words(&text(index, cells, field)),
                                label: value.clone(),
                                source: ExampleSource::Feedback,
                                origin: origin(index),
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        if !with_truth {
            continue;
        }
        for (field, subtask) in task.subtasks.iter().enumerate() {
            let Some(col) = subtask
                .label_column
                .as_deref()
                .and_then(|c| data.column_index(c))
            else {
                continue;
            };
            for (index, cells) in data.rows.iter().enumerate() {
                if human[field].len() + truth[field].len() >= MAX_EXAMPLES {
                    break;
                }
                let Some(cells) = cells else { continue };
                let Some(value) = cells.get(col).and_then(Cell::render) else {
                    continue;
                };
                let value = value.trim();
                let verified = set
                    .and_then(|s| s.row(index))
                    .and_then(|r| r.fields.get(field))
                    .is_some_and(|l| l.verified());
                if value.is_empty() || verified {
                    continue;
                }
                truth[field].push(Example {
                    words: words(&text(index, cells, field)),
                    label: Value::String(value.to_string()),
                    source: ExampleSource::GroundTruth,
                    origin: origin(index),
                });
            }
        }
    }
    human
        .into_iter()
        .zip(truth)
        .map(|(mut h, t)| {
            h.extend(t);
            h
        })
        .collect()
}
