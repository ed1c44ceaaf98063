//! Task runs: records, progress and cancel flags.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

use parking_lot::Mutex;
use refuel_client::models::RunStatus;
use serde::{Deserialize, Serialize};

use super::records::CatalogRecord;
use super::tasks::TaskRec;
use super::{Store, StoreError, StoreResult, now};

/// A task run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunRec {
    /// The run's id.
    pub(crate) id: String,
    /// The owning team.
    pub(crate) team: String,
    /// The project.
    pub(crate) project_id: String,
    /// The task.
    pub(crate) task_id: String,
    /// The dataset.
    pub(crate) dataset_id: String,
    /// Where it stands.
    pub(crate) status: RunStatus,
    /// How many rows it set out to label.
    pub(crate) target: u64,
    /// The model labeling.
    pub(crate) model_name: String,
    /// Why it failed.
    #[serde(default)]
    pub(crate) error: Option<String>,
    /// Creation time.
    pub(crate) created_at: String,
    /// Last change.
    pub(crate) updated_at: String,
}

/// A run in memory: its record, progress, and a cancel flag.
#[derive(Debug)]
pub(crate) struct RunState {
    /// The record.
    pub(crate) rec: Mutex<RunRec>,
    /// Rows labeled so far by this run.
    pub(crate) labeled: AtomicU64,
    /// Set to stop the run.
    pub(crate) cancel: AtomicBool,
    /// When this process started working on it.
    pub(crate) started: Mutex<Option<Instant>>,
}

impl Store {
    /// Starts a run record (`not_started`) for `target` rows.
    pub(crate) fn create_run(
        &self,
        task: &TaskRec,
        dataset_id: &str,
        target: u64,
        model_name: String,
    ) -> StoreResult<Arc<RunState>> {
        let mut runs = self.runs.write();
        if let Some(active) = runs.values().find(|r| {
            let r = r.rec.lock();
            r.task_id == task.id
                && r.dataset_id == dataset_id
                && matches!(r.status, RunStatus::Active | RunStatus::NotStarted)
        }) {
            return Err(StoreError::conflict(format!(
                "task '{}' already has a run on this dataset ({}); cancel it first",
                task.name,
                active.rec.lock().id
            )));
        }
        let at = now();
        let rec = RunRec {
            id: uuid::Uuid::new_v4().to_string(),
            team: task.team.clone(),
            project_id: task.project_id.clone(),
            task_id: task.id.clone(),
            dataset_id: dataset_id.to_string(),
            status: RunStatus::NotStarted,
            target,
            model_name,
            error: None,
            created_at: at.clone(),
            updated_at: at,
        };
        self.write_catalog(&CatalogRecord::RunCreated(rec.clone()))?;
        let state = Arc::new(RunState {
            rec: Mutex::new(rec.clone()),
            labeled: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            started: Mutex::new(None),
        });
        runs.insert(rec.id, Arc::clone(&state));
        Ok(state)
    }

    /// Records a run's new status.
    pub(crate) fn set_run_status(
        &self,
        run: &RunState,
        status: RunStatus,
        error: Option<String>,
    ) -> StoreResult<()> {
        let id = run.rec.lock().id.clone();
        let at = now();
        self.write_catalog(&CatalogRecord::RunStatus {
            id,
            status: status.clone(),
            error: error.clone(),
            at: at.clone(),
        })?;
        let mut rec = run.rec.lock();
        rec.status = status;
        rec.error = error;
        rec.updated_at = at;
        Ok(())
    }

    /// The latest run of a task on a dataset.
    pub(crate) fn latest_run(
        &self,
        team: &str,
        task_id: &str,
        dataset_id: &str,
    ) -> Option<Arc<RunState>> {
        self.runs
            .read()
            .values()
            .rev()
            .find(|r| {
                let r = r.rec.lock();
                r.team == team && r.task_id == task_id && r.dataset_id == dataset_id
            })
            .cloned()
    }

    /// Every run of a task.
    pub(crate) fn runs_of_task(&self, team: &str, task_id: &str) -> Vec<Arc<RunState>> {
        self.runs
            .read()
            .values()
            .filter(|r| {
                let r = r.rec.lock();
                r.team == team && r.task_id == task_id
            })
            .cloned()
            .collect()
    }
}
