//! Task runs: batch labeling of a dataset.

use serde::{Deserialize, Serialize};

super::wire_enum! {
    /// Where a task run stands.
    RunStatus {
        /// Created, not yet labeling.
        NotStarted => "not_started",
        /// Labeling.
        Active => "active",
        /// Paused before the end.
        Paused => "paused",
        /// Every row asked for is labeled.
        Completed => "completed",
        /// A platform error stopped it.
        Failed => "failed",
        /// Cancelled by a user.
        Cancelled => "cancelled",
    }
}

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::Paused
        )
    }
}

/// A named number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// `num_labeled`, `num_remaining`, `time_elapsed_seconds` or `time_remaining_seconds`.
    pub name: String,
    /// Its value (absent when not meaningful).
    #[serde(default)]
    pub value: Option<f64>,
}

/// The metrics of a run: for the whole task, and per field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Metrics of the run.
    #[serde(default)]
    pub task: Vec<Metric>,
    /// Metrics per field id.
    #[serde(default)]
    pub subtasks: indexmap::IndexMap<String, Vec<Metric>>,
}

/// A task run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    /// The run's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The task.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The task's name.
    #[serde(default)]
    pub task_name: Option<String>,
    /// The dataset.
    #[serde(default)]
    pub dataset_id: Option<String>,
    /// The dataset's name.
    #[serde(default)]
    pub dataset_name: Option<String>,
    /// The model labeling.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Metrics, when fetched with the run (the client fills these from the metrics call).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
}

impl TaskRun {
    /// The value of a metric, if present.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.value)
    }
}
