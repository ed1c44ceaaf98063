//! Task runs: batch labeling of a dataset.

use serde::{Deserialize, Serialize};

use super::lenient::{lenient, null_as_default};

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

/// A named value. Run progress metrics (`num_labeled`, `num_remaining`,
/// `time_elapsed_seconds`, `time_remaining_seconds`) are numbers; the TypeScript SDK
/// declares a metric's value `unknown` (a percentage, a histogram, a dictionary...), so it
/// is kept as JSON and read as a number with [`Metric::as_f64`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Its value, of any kind (`null` when absent).
    #[serde(default)]
    pub value: serde_json::Value,
}

impl Metric {
    /// A metric with a numeric value.
    pub fn number(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The value as a number (a JSON number or a numeric string), if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        super::lenient::number(&self.value)
    }
}

/// The metrics of a run: for the whole task, and per field. Both are nullable in the SDK.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Metrics of the run (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub task: Vec<Metric>,
    /// Metrics per field id (empty when `null`).
    #[serde(default, deserialize_with = "null_as_default")]
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
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Metrics, when fetched with the run (the client fills these from the metrics call).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub metrics: Vec<Metric>,
}

impl TaskRun {
    /// The value of a metric, if present.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .and_then(Metric::as_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_any_kind_decode() {
        let m: RunMetrics = serde_json::from_value(serde_json::json!({
            "task": [
                {"name": "num_labeled", "value": 40, "type": "numeric", "support": 40},
                {"name": "num_remaining", "value": "2"},
                {"name": "label_distribution", "value": {"pos": 3, "neg": 1}, "type": "dict"},
                {"name": "time_remaining_seconds", "value": null}
            ],
            "subtasks": null
        }))
        .unwrap();
        assert!(m.subtasks.is_empty());
        let run = TaskRun {
            metrics: m.task,
            ..serde_json::from_value(serde_json::json!({"status": "restarted"})).unwrap()
        };
        assert_eq!(run.status, RunStatus::Other("restarted".into()));
        assert_eq!(run.metric("num_labeled"), Some(40.0));
        assert_eq!(run.metric("num_remaining"), Some(2.0));
        assert_eq!(run.metric("label_distribution"), None);
        assert_eq!(run.metric("time_remaining_seconds"), None);
        let m: RunMetrics = serde_json::from_value(serde_json::json!({"task": null})).unwrap();
        assert!(m.task.is_empty());
    }
}
