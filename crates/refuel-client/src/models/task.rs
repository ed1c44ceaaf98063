//! Labeling tasks: their fields (subtasks) and settings.

use serde::{Deserialize, Serialize};

use super::lenient::{lenient, null_as_default, null_as_unknown, unknown};

super::wire_enum! {
    /// The type of a task field.
    FieldType {
        /// One label out of a list.
        Classification => "classification",
        /// Any number of labels out of a list.
        MultilabelClassification => "multilabel_classification",
        /// A value extracted from the input.
        AttributeExtraction => "attribute_extraction",
        /// An enrichment: transform a web page.
        WebpageTransform => "webpage_transform",
        /// An enrichment: scrape a web page.
        WebpageScrape => "webpage_scrape",
        /// An enrichment: a web search (the guidelines are the query template).
        WebSearch => "web_search",
    }
}

impl FieldType {
    /// Whether the field is labeled (as opposed to an enrichment).
    pub fn is_labeled(&self) -> bool {
        matches!(
            self,
            Self::Classification | Self::MultilabelClassification | Self::AttributeExtraction
        )
    }

    /// Whether the field picks from a list of labels.
    pub fn has_labels(&self) -> bool {
        matches!(self, Self::Classification | Self::MultilabelClassification)
    }

    /// Whether the field is an enrichment.
    pub fn is_enrichment(&self) -> bool {
        matches!(
            self,
            Self::WebpageTransform | Self::WebpageScrape | Self::WebSearch
        )
    }
}

/// A task field as the API stores it (a "subtask"). The TypeScript SDK declares a task's
/// subtasks `Partial<Subtask>` with most fields nullable, so every field decodes when
/// missing or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subtask {
    /// The field's id (assigned by the server; empty, and not sent, in a new field).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// The field's name (empty when the server sent none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Its type; `Other("")` when the server sent none (then it is not a labeled field).
    #[serde(
        rename = "type",
        default = "unknown",
        deserialize_with = "null_as_unknown"
    )]
    pub field_type: FieldType,
    /// Instructions for the labeler.
    #[serde(default, deserialize_with = "lenient")]
    pub guidelines: Option<String>,
    /// The allowed labels (classification types).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<Vec<String>>,
    /// The dataset columns (or other fields) given to the labeler (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub input_columns: Vec<String>,
    /// The value given when nothing fits (the SDK's `fallback_value`, default `-`).
    #[serde(default, deserialize_with = "lenient")]
    pub default_value: Option<String>,
    /// The dataset column holding the ground truth (the SDK's `ground_truth_column`).
    #[serde(default, deserialize_with = "lenient")]
    pub label_column: Option<String>,
}

/// The body of a task creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSettings {
    /// What the labeler should know about the problem.
    #[serde(default)]
    pub context: String,
    /// The dataset the task labels.
    pub dataset_id: String,
    /// The provider model id, or `None` for the team's default.
    #[serde(default)]
    pub model: Option<String>,
    /// Always `task_chain`.
    #[serde(default = "task_chain")]
    pub task_type: String,
    /// The labeled fields.
    #[serde(default)]
    pub subtasks: Vec<Subtask>,
    /// Enrichments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transforms: Option<Vec<serde_json::Value>>,
}

fn task_chain() -> String {
    "task_chain".to_string()
}

/// A labeling task. The TypeScript SDK declares nearly every field nullable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The task's UUID (empty when the server sent none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Its name, unique within its project (empty when the server sent none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub task_name: String,
    /// The project holding it.
    #[serde(default, deserialize_with = "lenient")]
    pub project_id: Option<String>,
    /// The dataset it was defined on.
    #[serde(default, deserialize_with = "lenient")]
    pub dataset_id: Option<String>,
    /// What the labeler should know about the problem.
    #[serde(default, deserialize_with = "lenient")]
    pub context: Option<String>,
    /// The provider model id.
    #[serde(default, deserialize_with = "lenient")]
    pub model: Option<String>,
    /// Always `task_chain`.
    #[serde(default, deserialize_with = "lenient")]
    pub task_type: Option<String>,
    /// The labeled fields (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub subtasks: Vec<Subtask>,
    /// Enrichments.
    #[serde(default, deserialize_with = "lenient")]
    pub transforms: Option<Vec<serde_json::Value>>,
    /// A status, when the server sends one.
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient")]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default, deserialize_with = "lenient")]
    pub updated_at: Option<String>,
}

impl Task {
    /// The field (subtask) with this name or id.
    pub fn field(&self, name_or_id: &str) -> Option<&Subtask> {
        self.subtasks
            .iter()
            .find(|s| s.name == name_or_id || s.id == name_or_id)
    }
}

/// Model display names (as the Python SDK accepts them) and their provider ids.
pub const MODELS: [(&str, &str); 13] = [
    ("GPT-4 Turbo", "gpt-4-1106-preview"),
    ("GPT-4o", "gpt-4o"),
    ("GPT-4o mini", "gpt-4o-mini"),
    ("GPT-4", "gpt4"),
    ("GPT-3.5 Turbo", "gpt-3.5-turbo"),
    ("Claude 3.5 (Sonnet)", "claude-3-5-sonnet-20240620"),
    ("Claude 3 (Opus)", "claude-3-opus-20240229"),
    ("Claude 3 (Haiku)", "claude-3-haiku-20240307"),
    ("Gemini 1.5 (Pro)", "gemini-1.5-pro-preview-0409"),
    ("Mistral Small", "mistral-small-latest"),
    ("Mistral Large", "mistral-large-latest"),
    ("Refuel LLM-2", "refuel-llm-2-large"),
    ("Refuel LLM-2-small", "refuel-llm-2-small"),
];

/// The provider id of a model given by display name (any case) or id.
pub fn model_id(name_or_id: &str) -> Option<&'static str> {
    MODELS
        .iter()
        .find(|(name, id)| name.eq_ignore_ascii_case(name_or_id) || *id == name_or_id)
        .map(|(_, id)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_in_the_sdk_declared_shapes_decodes() {
        let t: Task = serde_json::from_value(serde_json::json!({
            "id": "t1", "task_name": "sentiment", "context": null, "created_at": null,
            "dataset_id": null, "deployed": null, "compute_confidence": true, "mutable": true,
            "subtasks": [
                {"id": "s1", "name": "sentiment", "type": "classification", "labels": ["a"],
                 "input_columns": null, "guidelines": null, "label_column": null},
                {"id": "s2", "name": null, "type": null},
                {"id": "s3", "name": "x", "type": "document_extraction", "image_columns": null}
            ],
            "transforms": null
        }))
        .unwrap();
        assert_eq!(t.subtasks.len(), 3);
        assert!(t.subtasks[0].input_columns.is_empty());
        assert_eq!(t.subtasks[1].name, "");
        assert!(!t.subtasks[1].field_type.is_labeled());
        assert_eq!(
            t.subtasks[2].field_type,
            FieldType::Other("document_extraction".into())
        );
        let t: Task =
            serde_json::from_value(serde_json::json!({"id": null, "subtasks": null})).unwrap();
        assert!(t.id.is_empty() && t.subtasks.is_empty());
    }

    #[test]
    fn a_new_subtask_carries_no_id() {
        let s: Subtask =
            serde_json::from_value(serde_json::json!({"name": "f", "type": "classification"}))
                .unwrap();
        let out = serde_json::to_value(&s).unwrap();
        assert!(out.get("id").is_none(), "{out}");
    }
}
