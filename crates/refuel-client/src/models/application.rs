//! Applications: tasks deployed for online labeling.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::lenient::{lenient, null_as_default};
use super::task::Subtask;

/// A deployed application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// The application's UUID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The project holding it.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The task it serves.
    #[serde(default)]
    pub task_id: Option<String>,
    /// `active` once deployed.
    #[serde(default)]
    pub status: Option<String>,
    /// The columns an input must have (the TypeScript SDK declares them; empty when absent
    /// or `null`: see [`Application::inputs`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub input_columns: Vec<String>,
    /// The task's fields (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub subtasks: Vec<Subtask>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Application {
    /// The application's input columns: `input_columns` as the server states them, else
    /// (a server that leaves them out) the input columns of its fields, in the order they
    /// first appear.
    pub fn inputs(&self) -> Vec<String> {
        if !self.input_columns.is_empty() {
            return self.input_columns.clone();
        }
        let mut inputs: Vec<String> = Vec::new();
        for column in self.subtasks.iter().flat_map(|s| &s.input_columns) {
            if !inputs.contains(column) {
                inputs.push(column.clone());
            }
        }
        inputs
    }
}

/// The answer of a label call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelResponse {
    /// The application.
    #[serde(default)]
    pub application_id: Option<String>,
    /// Its name.
    #[serde(default)]
    pub application_name: Option<String>,
    /// One output per input, in input order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub refuel_output: Vec<LabelOutput>,
}

/// The output for one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelOutput {
    /// The id of this labeled item (for feedback and later fetches).
    #[serde(default)]
    pub refuel_uuid: Option<String>,
    /// When it was labeled.
    #[serde(default)]
    pub refuel_api_timestamp: Option<String>,
    /// The labels per field name (absent for async outputs).
    #[serde(default, deserialize_with = "fields_map_or_empty_list")]
    pub refuel_fields: IndexMap<String, FieldOutput>,
    /// Where an async result can be fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Model, provider and token counts, when telemetry was asked for (the SDK declares it
    /// a free-form record: a usage that does not have this shape is dropped).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub usage: Option<Usage>,
}

/// The Python SDK fills failed outputs with `refuel_fields: []`; accept it as empty.
fn fields_map_or_empty_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, FieldOutput>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum MapOrList {
        Map(IndexMap<String, FieldOutput>),
        #[allow(dead_code)]
        List(Vec<serde::de::IgnoredAny>),
        Null(()),
    }
    Ok(match MapOrList::deserialize(d)? {
        MapOrList::Map(m) => m,
        MapOrList::List(_) | MapOrList::Null(()) => IndexMap::new(),
    })
}

/// The label of one field of one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOutput {
    /// The label(s): one element for classification and extraction, several for multilabel.
    /// A single value is read as a one-element list, `null` as an empty one.
    #[serde(default, deserialize_with = "one_or_many")]
    pub label: Vec<serde_json::Value>,
    /// The confidence in `[0, 1]`.
    #[serde(default, deserialize_with = "lenient_number")]
    pub confidence: Option<f64>,
    /// Why, when explanations were asked for.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub explanation: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<serde_json::Value>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(values) => values,
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    })
}

fn lenient_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(super::lenient::number(&serde_json::Value::deserialize(d)?))
}

/// What a label call cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// The model.
    #[serde(default, deserialize_with = "lenient")]
    pub model: Option<String>,
    /// Its provider.
    #[serde(default, deserialize_with = "lenient")]
    pub provider: Option<String>,
    /// Prompt tokens.
    #[serde(default, deserialize_with = "lenient")]
    pub prompt_tokens: Option<u64>,
    /// Output tokens.
    #[serde(default, deserialize_with = "lenient")]
    pub completion_tokens: Option<u64>,
    /// All tokens.
    #[serde(default, deserialize_with = "lenient")]
    pub total_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_answers_in_other_shapes_decode() {
        let r: LabelResponse = serde_json::from_value(serde_json::json!({
            "application_id": "a", "application_name": "n",
            "refuel_output": [
                {"refuel_uuid": "u", "refuel_api_timestamp": "t",
                 "refuel_fields": {"s": {"label": "pos", "confidence": 0.7, "raw_confidence": 0.6},
                                   "m": {"label": ["a", "b"], "confidence": null}},
                 "usage": {"model": "m", "prompt_tokens": 12.5, "extra": [1]}},
                {"refuel_uuid": null, "refuel_fields": [], "refuel_api_timestamp": "t"},
                {"refuel_uuid": "v", "refuel_fields": {"s": {"label": null}}, "usage": "n/a"}
            ]
        }))
        .unwrap();
        let out = &r.refuel_output;
        assert_eq!(
            out[0].refuel_fields["s"].label,
            vec![serde_json::json!("pos")]
        );
        assert_eq!(out[0].refuel_fields["m"].label.len(), 2);
        let usage = out[0].usage.as_ref().unwrap();
        assert_eq!(
            (usage.model.as_deref(), usage.prompt_tokens),
            (Some("m"), None)
        );
        assert!(out[1].refuel_fields.is_empty());
        assert!(out[2].refuel_fields["s"].label.is_empty() && out[2].usage.is_none());
        let r: LabelResponse =
            serde_json::from_value(serde_json::json!({"refuel_output": null})).unwrap();
        assert!(r.refuel_output.is_empty());
    }
}
