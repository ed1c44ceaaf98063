//! The labels of one task on one dataset's rows, in memory.

use serde_json::Value;

use crate::model::{Cell, FieldLabel, label_text};

/// One field's label on one row, with the cells queries compare.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredLabel {
    /// What the labeler produced.
    pub(crate) llm: FieldLabel,
    /// A human's label (feedback), which becomes the final label.
    pub(crate) human: Option<Value>,
    /// The LLM label's text.
    pub(crate) llm_text: Cell,
    /// The human label's text.
    pub(crate) human_text: Option<Cell>,
    /// The confidence as a cell.
    pub(crate) confidence: Cell,
}

impl StoredLabel {
    /// A stored label from a labeler's output.
    pub(crate) fn new(llm: FieldLabel) -> Self {
        let llm_text = label_text(&llm.llm_label);
        let confidence = llm.confidence.map_or(Cell::Null, Cell::Float);
        Self {
            llm,
            human: None,
            llm_text,
            human_text: None,
            confidence,
        }
    }

    /// Sets a human's label.
    pub(crate) fn verify(&mut self, value: Value) {
        self.human_text = Some(label_text(&value));
        self.human = Some(value);
    }

    /// The final label: the human's when verified, else the LLM's.
    pub(crate) fn final_value(&self) -> &Value {
        self.human.as_ref().unwrap_or(&self.llm.llm_label)
    }

    /// The final label's text.
    pub(crate) fn final_text(&self) -> &Cell {
        self.human_text.as_ref().unwrap_or(&self.llm_text)
    }

    /// Whether a human verified it.
    pub(crate) fn verified(&self) -> bool {
        self.human.is_some()
    }
}

/// The labels of one row: one per field of the task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowLabels {
    /// Per field, in the task's field order.
    pub(crate) fields: Vec<StoredLabel>,
    /// Whether a labeler labeled the row (not only feedback).
    pub(crate) machine: bool,
}

/// The labels of a task on a dataset, by row index.
#[derive(Debug, Default)]
pub(crate) struct LabelSet {
    /// By row index.
    pub(crate) rows: Vec<Option<RowLabels>>,
    /// Rows a labeler labeled.
    pub(crate) machine_labeled: usize,
    /// Bumped by every change; part of the query cache's key.
    pub(crate) version: u64,
    /// Bumped by every human label (feedback): part of the labeled examples' cache key.
    pub(crate) feedback_version: u64,
}

impl LabelSet {
    /// The labels of a row.
    pub(crate) fn row(&self, index: usize) -> Option<&RowLabels> {
        self.rows.get(index).and_then(Option::as_ref)
    }

    /// Whether a labeler labeled the row.
    pub(crate) fn is_labeled(&self, index: usize) -> bool {
        self.row(index).is_some_and(|r| r.machine)
    }

    /// Stores a labeler's labels for a row (replacing earlier machine labels, keeping
    /// human ones).
    pub(crate) fn put(&mut self, index: usize, fields: Vec<FieldLabel>) {
        if self.rows.len() <= index {
            self.rows.resize(index + 1, None);
        }
        let slot = &mut self.rows[index];
        let mut new: Vec<StoredLabel> = fields.into_iter().map(StoredLabel::new).collect();
        if let Some(old) = slot.as_ref() {
            for (n, o) in new.iter_mut().zip(&old.fields) {
                if let Some(h) = &o.human {
                    n.verify(h.clone());
                }
            }
            if !old.machine {
                self.machine_labeled += 1;
            }
        } else {
            self.machine_labeled += 1;
        }
        *slot = Some(RowLabels {
            fields: new,
            machine: true,
        });
        self.version += 1;
    }

    /// Records a human's label for field `field` (of `width` fields) of a row.
    pub(crate) fn feedback(&mut self, index: usize, field: usize, width: usize, value: Value) {
        if self.rows.len() <= index {
            self.rows.resize(index + 1, None);
        }
        let slot = &mut self.rows[index];
        let row = slot.get_or_insert_with(|| RowLabels {
            fields: (0..width)
                .map(|_| StoredLabel::new(FieldLabel::default()))
                .collect(),
            machine: false,
        });
        if row.fields.len() < width {
            row.fields
                .resize_with(width, || StoredLabel::new(FieldLabel::default()));
        }
        row.fields[field].verify(value);
        self.version += 1;
        self.feedback_version += 1;
    }
}
