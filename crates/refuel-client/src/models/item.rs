//! Rows (items), their labels, and the one query type every row read goes through.

use serde::{Deserialize, Deserializer, Serialize};

use super::filter::{Filter, OrderBy};
use super::lenient::{lenient, null_as_default};

/// A dataset row as the API returns it without a task: `{column: value, ...}`.
pub type Row = serde_json::Map<String, serde_json::Value>;

/// A row with the labels of a task: `{"fields": {...}, "labels": [...], "in_evalset": bool}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledItem {
    /// The row's id, when the server sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The dataset columns (empty when the server sent `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub fields: Row,
    /// One label per task field. Sent as a list (the Python SDK's reading); a map from task
    /// field id to label (the TypeScript SDK's declaration) is accepted too. `null` or
    /// empty: an unlabelled row.
    #[serde(default, deserialize_with = "labels_list_or_map")]
    pub labels: Vec<Label>,
    /// Whether the row belongs to the task's evaluation set.
    #[serde(default, deserialize_with = "null_as_default")]
    pub in_evalset: bool,
}

/// The label of one task field on one row. Every field is tolerant: the TypeScript SDK
/// declares most of them nullable.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Label {
    /// The task field (subtask) id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The final label: the human one when verified, else the LLM's.
    #[serde(default)]
    pub label: Option<serde_json::Value>,
    /// The LLM's label.
    #[serde(default)]
    pub llm_label: Option<serde_json::Value>,
    /// The calibrated confidence of the LLM's label, in `[0, 1]`.
    #[serde(default, deserialize_with = "lenient_number")]
    pub confidence: Option<f64>,
    /// The raw confidence before calibration.
    #[serde(default, deserialize_with = "lenient_number")]
    pub raw_confidence: Option<f64>,
    /// For multilabel fields, a confidence per label.
    #[serde(default)]
    pub multilabel_confidence: Option<serde_json::Value>,
    /// The ground-truth label, from the task field's ground-truth column.
    #[serde(default)]
    pub expected_label: Option<serde_json::Value>,
    /// The LLM's explanation.
    #[serde(default, deserialize_with = "lenient")]
    pub explanation: Option<String>,
    /// Whether a human changed the LLM's label.
    #[serde(default, deserialize_with = "lenient")]
    pub overridden: Option<bool>,
    /// `LLM` or `HUMAN`.
    #[serde(default, deserialize_with = "lenient")]
    pub source: Option<String>,
    /// Why labeling this row failed, when it did.
    #[serde(default, deserialize_with = "lenient")]
    pub error_msg: Option<String>,
}

/// A number from a JSON number or numeric string; anything else is `None`.
fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(super::lenient::number(&serde_json::Value::deserialize(d)?))
}

fn labels_list_or_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Label>, D::Error> {
    // A visitor rather than an untagged enum: no buffering of every row's labels.
    struct Labels;
    impl<'de> serde::de::Visitor<'de> for Labels {
        type Value = Vec<Label>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of labels, a map from task field id to label, or null")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut labels = Vec::with_capacity(seq.size_hint().unwrap_or(1));
            while let Some(label) = seq.next_element::<Option<Label>>()? {
                labels.extend(label);
            }
            Ok(labels)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut labels = Vec::with_capacity(map.size_hint().unwrap_or(1));
            while let Some((id, label)) = map.next_entry::<String, Option<Label>>()? {
                if let Some(mut label) = label {
                    if label.id.is_empty() {
                        label.id = id;
                    }
                    labels.push(label);
                }
            }
            Ok(labels)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Labels)
}

/// A row query: filters, order, the range of rows, and optionally a task whose labels come
/// with the rows. The same type serves single calls, streams, the SQL scan and the emulator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemQuery {
    /// Filters, combined with AND.
    pub filters: Vec<Filter>,
    /// Order keys, most significant first. Empty means the server's default order.
    pub order_bys: Vec<OrderBy>,
    /// Rows to skip.
    pub offset: u64,
    /// The most rows to return; all matching rows when `None`.
    pub max_items: Option<u64>,
    /// A task (name or id) whose labels come with the rows.
    pub task: Option<String>,
}

impl ItemQuery {
    /// A query for every row in the server's default order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a filter.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds an order key.
    pub fn order_by(mut self, order: OrderBy) -> Self {
        self.order_bys.push(order);
        self
    }

    /// Skips `offset` rows.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Returns at most `max_items` rows.
    pub fn max_items(mut self, max_items: u64) -> Self {
        self.max_items = Some(max_items);
        self
    }

    /// Brings the labels of `task` (name or id) with the rows.
    pub fn task(mut self, task: impl Into<String>) -> Self {
        self.task = Some(task.into());
        self
    }

    /// The query parameters of one page request, as the Python SDK's `get_items` sends
    /// them (`client.py:672-679`, in its order): `offset`, `max_items`, one `filters` per
    /// filter and one `order_bys` per order key (each the SDK's `json.dumps` text, see
    /// [`Filter::to_wire_value`] and [`OrderBy::to_wire_value`]; none when there are none),
    /// and `expand=true`. The caller puts `dataset_id` before them and, with a task,
    /// `task_id` after them.
    pub fn page_params(&self, offset: u64, max_items: u64) -> Vec<(&'static str, String)> {
        let mut params = Vec::with_capacity(3 + self.filters.len() + self.order_bys.len());
        params.push(("offset", offset.to_string()));
        params.push(("max_items", max_items.to_string()));
        params.extend(self.filters.iter().map(|f| ("filters", f.to_wire_value())));
        params.extend(
            self.order_bys
                .iter()
                .map(|o| ("order_bys", o.to_wire_value())),
        );
        // The SDK sends the string "true" here (not a Python bool).
        params.push(("expand", "true".to_string()));
        params
    }
}
