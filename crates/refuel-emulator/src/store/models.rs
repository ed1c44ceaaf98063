//! Finetuned models (finetuning runs), whose stage follows from the time since creation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::examples::TrainedField;
use super::records::CatalogRecord;
use super::{Store, StoreError, StoreResult, now};

/// A finetuned model as stored. Its stage is derived from the time since creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ModelRec {
    /// The model's id.
    pub(crate) id: String,
    /// The owning team.
    pub(crate) team: String,
    /// The project.
    pub(crate) project_id: String,
    /// The task.
    pub(crate) task_id: String,
    /// Its name.
    pub(crate) name: String,
    /// The base model.
    pub(crate) base_model: String,
    /// Hyperparameters as given.
    pub(crate) hyperparameters: Value,
    /// Training datasets.
    pub(crate) datasets: Vec<String>,
    /// What it was trained on: the labeled examples of its task's fields in the training
    /// datasets when the run started (`store/examples.rs`).
    #[serde(default)]
    pub(crate) training: Vec<TrainedField>,
    /// Creation time.
    pub(crate) created_at: String,
    /// Creation time (stored as milliseconds since the epoch).
    #[serde(rename = "created_ms", with = "chrono::serde::ts_milliseconds")]
    pub(crate) created: DateTime<Utc>,
    /// When it was interrupted.
    #[serde(default)]
    pub(crate) interrupted_at: Option<String>,
    /// When it was interrupted (stored as milliseconds since the epoch).
    #[serde(
        default,
        rename = "interrupted_ms",
        with = "chrono::serde::ts_milliseconds_option"
    )]
    pub(crate) interrupted: Option<DateTime<Utc>>,
}

impl Store {
    /// Records a finetuning run.
    pub(crate) fn create_model(&self, rec: ModelRec) -> StoreResult<ModelRec> {
        self.write_catalog(&CatalogRecord::ModelCreated(rec.clone()))?;
        self.models.write().insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// The team's models in a project (of one task).
    pub(crate) fn list_models(
        &self,
        team: &str,
        project_id: &str,
        task_id: Option<&str>,
    ) -> Vec<ModelRec> {
        self.models
            .read()
            .values()
            .filter(|m| {
                m.team == team
                    && m.project_id == project_id
                    && task_id.is_none_or(|t| m.task_id == t)
            })
            .cloned()
            .collect()
    }

    /// One of the team's models.
    pub(crate) fn model(&self, team: &str, id: &str) -> StoreResult<ModelRec> {
        self.models
            .read()
            .get(id)
            .filter(|m| m.team == team)
            .cloned()
            .ok_or_else(|| StoreError::not_found("finetuned model", id))
    }

    /// Interrupts a model's run.
    pub(crate) fn interrupt_model(&self, team: &str, id: &str) -> StoreResult<ModelRec> {
        self.model(team, id)?;
        let at = now();
        self.write_catalog(&CatalogRecord::ModelInterrupted {
            id: id.to_string(),
            at: at.clone(),
        })?;
        let mut models = self.models.write();
        let m = models
            .get_mut(id)
            .ok_or_else(|| StoreError::not_found("finetuned model", id))?;
        m.interrupted_at = Some(at);
        m.interrupted = Some(Utc::now());
        Ok(m.clone())
    }
}
