//! Finetuned models and exports.

use serde::{Deserialize, Serialize};

use super::lenient::null_as_default;

/// Hyperparameters of a finetuning run; unset ones take the platform's defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Hyperparameters {
    /// Training epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_epochs: Option<u32>,
    /// LoRA rank.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_r: Option<u32>,
    /// LoRA alpha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_alpha: Option<f64>,
    /// LoRA dropout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_dropout: Option<f64>,
    /// Weight decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Learning rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Cosine schedule's minimum learning-rate ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosine_min_lr_ratio: Option<f64>,
}

/// The body of a finetuning start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneRequest {
    /// The project.
    pub project_id: String,
    /// The task whose labels train the model.
    pub task_id: String,
    /// `refuel-llm-v2-large` or `refuel-llm-v2-small`.
    pub base_model: String,
    /// Hyperparameters.
    #[serde(default)]
    pub hyperparameters: serde_json::Value,
    /// Dataset ids to train on (all of the task's when absent).
    #[serde(default)]
    pub datasets: Option<Vec<String>>,
    /// Whether to train LoRA adapters.
    #[serde(default)]
    pub lora: Option<bool>,
    /// A cap on training rows.
    #[serde(default)]
    pub max_training_rows: Option<u64>,
    /// Whether to augment the training data.
    #[serde(default)]
    pub augmented_finetuning_model: Option<bool>,
}

/// The base models finetuning accepts.
pub const BASE_MODELS: [&str; 2] = ["refuel-llm-v2-large", "refuel-llm-v2-small"];

/// A finetuned model and its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelingModel {
    /// The model's id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// The base model.
    #[serde(default)]
    pub base_model: Option<String>,
    /// The task.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Training datasets (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub datasets: Vec<String>,
    /// Hyperparameters.
    #[serde(default)]
    pub hyperparameters: serde_json::Value,
    /// The stage: `TRAINING IN PROGRESS`, ..., `DEPLOYMENT COMPLETED`, or `INTERRUPTED`.
    #[serde(default)]
    pub finetuning_run_status: Option<String>,
    /// The stages reached, with their times.
    #[serde(default)]
    pub finetuning_run_timeline: serde_json::Value,
    /// `AVAILABLE` once deployed, else `UNAVAILABLE`.
    #[serde(default)]
    pub availability_status: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// The answer of an export's creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportCreated {
    /// The export's id.
    pub export_id: String,
}
