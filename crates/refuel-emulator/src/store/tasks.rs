//! Labeling tasks: their fields and context, created on a dataset, deleted with their labels.

use std::sync::atomic::Ordering;

use refuel_client::models::{Subtask, TaskSettings};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::records::CatalogRecord;
use super::{Store, StoreError, StoreResult, now};
use crate::model::TaskSpec;

/// A labeling task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskRec {
    /// The task's UUID.
    pub(crate) id: String,
    /// The owning team.
    pub(crate) team: String,
    /// The project holding it.
    pub(crate) project_id: String,
    /// Its name, unique within the project.
    pub(crate) name: String,
    /// The dataset it was defined on.
    pub(crate) dataset_id: String,
    /// The labeler's context.
    pub(crate) context: String,
    /// The model asked for.
    pub(crate) model: Option<String>,
    /// Its labeled fields, with ids.
    pub(crate) subtasks: Vec<Subtask>,
    /// Enrichments (kept, not run).
    pub(crate) transforms: Option<Vec<Value>>,
    /// Creation time.
    pub(crate) created_at: String,
    /// Last change.
    pub(crate) updated_at: String,
}

impl TaskRec {
    /// What a labeler sees.
    pub(crate) fn spec(&self) -> TaskSpec {
        TaskSpec {
            context: self.context.clone(),
            fields: self.subtasks.clone(),
            model: self.model.clone(),
            examples: Default::default(),
        }
    }

    /// The index of a field given by id or name.
    pub(crate) fn field_index(&self, id_or_name: &str) -> Option<usize> {
        self.subtasks
            .iter()
            .position(|s| s.id == id_or_name || s.name == id_or_name)
    }
}

impl Store {
    /// Creates a task whose fields were checked against its dataset's columns.
    pub(crate) fn create_task(
        &self,
        team: &str,
        project_id: &str,
        name: &str,
        settings: TaskSettings,
    ) -> StoreResult<TaskRec> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid(
                "task_name is required and must not be empty",
            ));
        }
        self.project(team, project_id)?;
        self.dataset(team, &settings.dataset_id)?;
        // The field rules (`refuel_client::models::check_fields`) were checked by the caller;
        // the store assigns ids and fills the defaults.
        let subtasks: Vec<Subtask> = settings
            .subtasks
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.id = uuid::Uuid::new_v4().to_string();
                if s.default_value.is_none() {
                    s.default_value = Some("-".into());
                }
                if s.label_column.as_deref() == Some("") {
                    s.label_column = None;
                }
                s
            })
            .collect();
        let mut tasks = self.tasks.write();
        if tasks
            .values()
            .any(|t| t.project_id == project_id && t.name == name)
        {
            return Err(StoreError::conflict(format!(
                "a task named '{name}' already exists in this project"
            )));
        }
        let at = now();
        let rec = TaskRec {
            id: uuid::Uuid::new_v4().to_string(),
            team: team.to_string(),
            project_id: project_id.to_string(),
            name: name.to_string(),
            dataset_id: settings.dataset_id.clone(),
            context: settings.context,
            model: settings.model.filter(|m| !m.is_empty()),
            subtasks,
            transforms: settings.transforms,
            created_at: at.clone(),
            updated_at: at,
        };
        self.write_catalog(&CatalogRecord::TaskCreated(rec.clone()))?;
        tasks.insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// The team's tasks, in a project or all.
    pub(crate) fn list_tasks(&self, team: &str, project_id: Option<&str>) -> Vec<TaskRec> {
        self.tasks
            .read()
            .values()
            .filter(|t| t.team == team && project_id.is_none_or(|p| t.project_id == p))
            .cloned()
            .collect()
    }

    /// One of the team's tasks.
    pub(crate) fn task(&self, team: &str, id: &str) -> StoreResult<TaskRec> {
        self.tasks
            .read()
            .get(id)
            .filter(|t| t.team == team)
            .cloned()
            .ok_or_else(|| StoreError::not_found("task", id))
    }

    /// Deletes a task, its labels, and stops its runs.
    pub(crate) fn delete_task(&self, team: &str, id: &str) -> StoreResult<()> {
        self.task(team, id)?;
        self.write_catalog(&CatalogRecord::TaskDeleted { id: id.to_string() })?;
        self.tasks.write().shift_remove(id);
        self.forget_examples(id);
        for run in self.runs.read().values() {
            if run.rec.lock().task_id == id {
                run.cancel.store(true, Ordering::SeqCst);
            }
        }
        for entry in self.datasets.read().values() {
            entry.labels.write().remove(id);
            entry.label_logs.lock().remove(id);
            let _ = std::fs::remove_file(self.label_log_path(&entry.meta.read().id, id));
        }
        Ok(())
    }
}
