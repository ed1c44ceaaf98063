//! Applications: tasks deployed for online labeling.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

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
    /// The task's fields.
    #[serde(default)]
    pub subtasks: Vec<Subtask>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
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
    #[serde(default)]
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
    /// Model, provider and token counts, when telemetry was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default)]
    pub label: Vec<serde_json::Value>,
    /// The confidence in `[0, 1]`.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Why, when explanations were asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// What a label call cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// The model.
    #[serde(default)]
    pub model: Option<String>,
    /// Its provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    /// Output tokens.
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// All tokens.
    #[serde(default)]
    pub total_tokens: Option<u64>,
}
