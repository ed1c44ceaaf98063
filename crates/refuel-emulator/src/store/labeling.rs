//! Tasks, task runs, labels, applications, finetuned models and exports in the store.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use refuel_client::models::{ColumnType, FieldType, RunStatus, Subtask, TaskSettings};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::labels::LabelSet;
use super::log::Log;
use super::records::{CatalogRecord, LabelRecord};
use super::{DatasetEntry, Store, now};
use crate::error::{ApiError, ApiResult};
use crate::labeler::{FieldLabel, TaskSpec};

/// A labeling task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRec {
    /// The task's UUID.
    pub id: String,
    /// The owning team.
    pub team: String,
    /// The project holding it.
    pub project_id: String,
    /// Its name, unique within the project.
    pub name: String,
    /// The dataset it was defined on.
    pub dataset_id: String,
    /// The labeler's context.
    pub context: String,
    /// The model asked for.
    pub model: Option<String>,
    /// Its labeled fields, with ids.
    pub subtasks: Vec<Subtask>,
    /// Enrichments (kept, not run).
    pub transforms: Option<Vec<Value>>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl TaskRec {
    /// What a labeler sees.
    pub fn spec(&self) -> TaskSpec {
        TaskSpec {
            context: self.context.clone(),
            fields: self.subtasks.clone(),
            model: self.model.clone(),
        }
    }

    /// The index of a field given by id or name.
    pub fn field_index(&self, id_or_name: &str) -> Option<usize> {
        self.subtasks
            .iter()
            .position(|s| s.id == id_or_name || s.name == id_or_name)
    }
}

/// A task run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRec {
    /// The run's id.
    pub id: String,
    /// The owning team.
    pub team: String,
    /// The project.
    pub project_id: String,
    /// The task.
    pub task_id: String,
    /// The dataset.
    pub dataset_id: String,
    /// Where it stands.
    pub status: RunStatus,
    /// How many rows it set out to label.
    pub target: u64,
    /// The model labeling.
    pub model_name: String,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A run in memory: its record, progress, and a cancel flag.
#[derive(Debug)]
pub struct RunState {
    /// The record.
    pub rec: Mutex<RunRec>,
    /// Rows labeled so far by this run.
    pub labeled: AtomicU64,
    /// Set to stop the run.
    pub cancel: AtomicBool,
    /// When this process started working on it.
    pub started: Mutex<Option<Instant>>,
}

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRec {
    /// The application's UUID.
    pub id: String,
    /// The owning team.
    pub team: String,
    /// The project.
    pub project_id: String,
    /// The task it serves.
    pub task_id: String,
    /// Its name, unique within the project.
    pub name: String,
    /// The dataset logging its inputs and labels.
    pub log_dataset_id: String,
    /// Creation time.
    pub created_at: String,
}

/// A finetuned model as stored. Its stage is derived from the time since creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRec {
    /// The model's id.
    pub id: String,
    /// The owning team.
    pub team: String,
    /// The project.
    pub project_id: String,
    /// The task.
    pub task_id: String,
    /// Its name.
    pub name: String,
    /// The base model.
    pub base_model: String,
    /// Hyperparameters as given.
    pub hyperparameters: Value,
    /// Training datasets.
    pub datasets: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Creation time in milliseconds since the epoch.
    pub created_ms: i64,
    /// When it was interrupted.
    #[serde(default)]
    pub interrupted_at: Option<String>,
    /// Milliseconds since the epoch of the interruption.
    #[serde(default)]
    pub interrupted_ms: Option<i64>,
}

/// An export as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRec {
    /// The export's id.
    pub id: String,
    /// The owning team.
    pub team: String,
    /// The dataset.
    pub dataset_id: String,
    /// The dataset's name (the file's name).
    pub dataset_name: String,
    /// The task whose labels are included.
    pub task_id: Option<String>,
    /// Creation time.
    pub created_at: String,
}

/// Labels of this many rows go into one log frame.
pub const LABEL_FRAME_ROWS: usize = 1000;

impl Store {
    // ---- tasks ----

    /// Creates a task, checking its fields against the dataset's columns.
    pub fn create_task(
        &self,
        team: &str,
        project_id: &str,
        name: &str,
        settings: TaskSettings,
    ) -> ApiResult<TaskRec> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::bad_request(
                "task_name is required and must not be empty",
            ));
        }
        self.project(team, project_id)?;
        let dataset = self.dataset(team, &settings.dataset_id)?;
        let (columns, dataset_name) = {
            let data = dataset.data.read();
            (data.columns.clone(), dataset.meta.read().name.clone())
        };
        let mut subtasks = Vec::new();
        let names: Vec<&str> = settings.subtasks.iter().map(|s| s.name.as_str()).collect();
        for (i, s) in settings.subtasks.iter().enumerate() {
            if s.name.trim().is_empty() {
                return Err(ApiError::bad_request(format!(
                    "field {} has no name",
                    i + 1
                )));
            }
            if names.iter().filter(|n| **n == s.name).count() > 1 {
                return Err(ApiError::bad_request(format!(
                    "field name '{}' is used twice",
                    s.name
                )));
            }
            if columns.contains(&s.name) {
                return Err(ApiError::bad_request(format!(
                    "field name '{}' is also a column of dataset '{dataset_name}'",
                    s.name
                )));
            }
            if let FieldType::Other(t) = &s.field_type {
                return Err(ApiError::bad_request(format!(
                    "field '{}' has unknown type '{t}' (known: classification, multilabel_classification, attribute_extraction)",
                    s.name
                )));
            }
            if s.field_type.has_labels() && s.labels.as_ref().is_none_or(Vec::is_empty) {
                return Err(ApiError::bad_request(format!(
                    "field '{}' ({}) needs a non-empty list of labels",
                    s.name, s.field_type
                )));
            }
            if s.input_columns.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "field '{}' needs input_columns",
                    s.name
                )));
            }
            for c in &s.input_columns {
                let known = columns.iter().any(|col| col == c)
                    || (names.contains(&c.as_str()) && *c != s.name);
                if !known {
                    return Err(ApiError::bad_request(format!(
                        "input column '{c}' of field '{}' is neither a column of dataset '{dataset_name}' nor another field",
                        s.name
                    )));
                }
            }
            if let Some(gt) = s.label_column.as_deref().filter(|c| !c.is_empty()) {
                if !columns.iter().any(|col| col == gt) {
                    return Err(ApiError::bad_request(format!(
                        "ground-truth column '{gt}' of field '{}' is not a column of dataset '{dataset_name}'",
                        s.name
                    )));
                }
            }
            let mut s = s.clone();
            s.id = uuid::Uuid::new_v4().to_string();
            if s.default_value.is_none() {
                s.default_value = Some("-".into());
            }
            if s.label_column.as_deref() == Some("") {
                s.label_column = None;
            }
            subtasks.push(s);
        }
        if subtasks.is_empty() {
            return Err(ApiError::bad_request(
                "a task needs at least one field (subtasks)",
            ));
        }
        let mut tasks = self.tasks.write();
        if tasks
            .values()
            .any(|t| t.project_id == project_id && t.name == name)
        {
            return Err(ApiError::conflict(format!(
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
    pub fn list_tasks(&self, team: &str, project_id: Option<&str>) -> Vec<TaskRec> {
        self.tasks
            .read()
            .values()
            .filter(|t| t.team == team && project_id.is_none_or(|p| t.project_id == p))
            .cloned()
            .collect()
    }

    /// One of the team's tasks.
    pub fn task(&self, team: &str, id: &str) -> ApiResult<TaskRec> {
        self.tasks
            .read()
            .get(id)
            .filter(|t| t.team == team)
            .cloned()
            .ok_or_else(|| ApiError::not_found("task", id))
    }

    /// Deletes a task, its labels, and stops its runs.
    pub fn delete_task(&self, team: &str, id: &str) -> ApiResult<()> {
        self.task(team, id)?;
        self.write_catalog(&CatalogRecord::TaskDeleted { id: id.to_string() })?;
        self.tasks.write().shift_remove(id);
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

    fn label_log_path(&self, dataset_id: &str, task_id: &str) -> PathBuf {
        self.dataset_dir(dataset_id)
            .join(format!("labels-{task_id}.log"))
    }

    // ---- labels ----

    /// Stores labels for rows of a dataset (made durable first).
    pub fn put_labels(
        &self,
        entry: &DatasetEntry,
        task: &TaskRec,
        run: Option<&str>,
        rows: Vec<(u32, Vec<FieldLabel>)>,
    ) -> ApiResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let record = LabelRecord::Labels {
            run: run.map(str::to_string),
            rows,
        };
        self.append_label_record(entry, &task.id, &record)?;
        let LabelRecord::Labels { rows, .. } = record else {
            return Ok(());
        };
        let mut sets = entry.labels.write();
        let set = sets.entry(task.id.clone()).or_default();
        for (index, fields) in rows {
            set.put(index as usize, fields);
        }
        Ok(())
    }

    /// Records a human's label for a field of a row.
    pub fn put_feedback(
        &self,
        entry: &DatasetEntry,
        task: &TaskRec,
        row: usize,
        field: usize,
        label: Value,
    ) -> ApiResult<()> {
        let field_id = task
            .subtasks
            .get(field)
            .map(|s| s.id.clone())
            .unwrap_or_default();
        let record = LabelRecord::Feedback {
            row: row as u32,
            field: field_id,
            label: label.clone(),
        };
        self.append_label_record(entry, &task.id, &record)?;
        entry
            .labels
            .write()
            .entry(task.id.clone())
            .or_default()
            .feedback(row, field, task.subtasks.len(), label);
        Ok(())
    }

    fn append_label_record(
        &self,
        entry: &DatasetEntry,
        task_id: &str,
        record: &LabelRecord,
    ) -> ApiResult<()> {
        if !self.is_durable() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(record).map_err(|e| ApiError::internal(e.to_string()))?;
        let dataset_id = entry.meta.read().id.clone();
        let mut logs = entry.label_logs.lock();
        if !logs.contains_key(task_id) {
            let path = self.label_log_path(&dataset_id, task_id);
            let log =
                Log::open(&path, |_| Ok(())).map_err(|e| ApiError::storage("the labels", e))?;
            logs.insert(task_id.to_string(), log);
        }
        if let Some(log) = logs.get_mut(task_id) {
            log.append([bytes.as_slice()])
                .map_err(|e| ApiError::storage("the labels", e))?;
        }
        Ok(())
    }

    /// Replays a dataset's label logs; returns the rows labeled per run.
    pub(super) fn replay_labels(
        &self,
        entry: &DatasetEntry,
        dataset_dir: &std::path::Path,
    ) -> std::io::Result<HashMap<String, u64>> {
        let mut per_run = HashMap::new();
        let Ok(dir) = std::fs::read_dir(dataset_dir) else {
            return Ok(per_run);
        };
        for file in dir.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let Some(task_id) = name
                .strip_prefix("labels-")
                .and_then(|n| n.strip_suffix(".log"))
            else {
                continue;
            };
            let Some(task) = self.tasks.read().get(task_id).cloned() else {
                let _ = std::fs::remove_file(file.path());
                continue;
            };
            let mut set = LabelSet::default();
            let log = Log::open(&file.path(), |payload| {
                let record: LabelRecord = serde_json::from_slice(payload).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("labels of task {task_id}: {e}"),
                    )
                })?;
                match record {
                    LabelRecord::Labels { run, rows } => {
                        if let Some(run) = run {
                            *per_run.entry(run).or_insert(0) += rows.len() as u64;
                        }
                        for (i, fields) in rows {
                            set.put(i as usize, fields);
                        }
                    }
                    LabelRecord::Feedback { row, field, label } => {
                        if let Some(f) = task.field_index(&field) {
                            set.feedback(row as usize, f, task.subtasks.len(), label);
                        }
                    }
                }
                Ok(())
            })?;
            entry.labels.write().insert(task_id.to_string(), set);
            entry.label_logs.lock().insert(task_id.to_string(), log);
        }
        Ok(per_run)
    }

    // ---- runs ----

    /// Starts a run record (`not_started`) for `target` rows.
    pub fn create_run(
        &self,
        task: &TaskRec,
        dataset_id: &str,
        target: u64,
        model_name: String,
    ) -> ApiResult<Arc<RunState>> {
        let mut runs = self.runs.write();
        if let Some(active) = runs.values().find(|r| {
            let r = r.rec.lock();
            r.task_id == task.id
                && r.dataset_id == dataset_id
                && matches!(r.status, RunStatus::Active | RunStatus::NotStarted)
        }) {
            return Err(ApiError::conflict(format!(
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
    pub fn set_run_status(
        &self,
        run: &RunState,
        status: RunStatus,
        error: Option<String>,
    ) -> ApiResult<()> {
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
    pub fn latest_run(&self, team: &str, task_id: &str, dataset_id: &str) -> Option<Arc<RunState>> {
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
    pub fn runs_of_task(&self, team: &str, task_id: &str) -> Vec<Arc<RunState>> {
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

    // ---- applications ----

    /// Deploys a task: the application and the dataset that logs its inputs and labels.
    pub fn create_app(
        &self,
        team: &str,
        project_id: &str,
        task: &TaskRec,
        name: &str,
    ) -> ApiResult<AppRec> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::bad_request("application_name must not be empty"));
        }
        if self
            .apps
            .read()
            .values()
            .any(|a| a.project_id == project_id && a.name == name)
        {
            return Err(ApiError::conflict(format!(
                "an application named '{name}' already exists in this project"
            )));
        }
        let source = self.dataset(team, &task.dataset_id)?;
        let (columns, metadata): (Vec<(String, ColumnType)>, _) = {
            let data = source.data.read();
            let columns = data
                .columns
                .iter()
                .cloned()
                .zip(data.types.iter().cloned())
                .collect();
            (columns, data.metadata_types())
        };
        let mut log_name = format!("{name} (application log)");
        let mut n = 2;
        while self
            .list_datasets(team, Some(project_id))
            .iter()
            .any(|d| d.meta.read().name == log_name)
        {
            log_name = format!("{name} (application log {n})");
            n += 1;
        }
        let log = self.create_dataset(
            team,
            project_id,
            &log_name,
            refuel_client::models::DatasetSource::File,
            None,
            None,
        )?;
        let log_id = log.meta.read().id.clone();
        self.complete_ingest(
            &log_id,
            crate::ingest::Table {
                columns,
                rows: Vec::new(),
                metadata,
            },
        )?;
        let rec = AppRec {
            id: uuid::Uuid::new_v4().to_string(),
            team: team.to_string(),
            project_id: project_id.to_string(),
            task_id: task.id.clone(),
            name: name.to_string(),
            log_dataset_id: log_id,
            created_at: now(),
        };
        self.write_catalog(&CatalogRecord::AppCreated(rec.clone()))?;
        self.apps.write().insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// The team's applications in a project.
    pub fn list_apps(&self, team: &str, project_id: &str) -> Vec<AppRec> {
        self.apps
            .read()
            .values()
            .filter(|a| a.team == team && a.project_id == project_id)
            .cloned()
            .collect()
    }

    /// One of the team's applications.
    pub fn app(&self, team: &str, id: &str) -> ApiResult<AppRec> {
        self.apps
            .read()
            .get(id)
            .filter(|a| a.team == team)
            .cloned()
            .ok_or_else(|| ApiError::not_found("application", id))
    }

    // ---- finetuned models ----

    /// Records a finetuning run.
    pub fn create_model(&self, rec: ModelRec) -> ApiResult<ModelRec> {
        self.write_catalog(&CatalogRecord::ModelCreated(rec.clone()))?;
        self.models.write().insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// The team's models in a project (of one task).
    pub fn list_models(
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
    pub fn model(&self, team: &str, id: &str) -> ApiResult<ModelRec> {
        self.models
            .read()
            .get(id)
            .filter(|m| m.team == team)
            .cloned()
            .ok_or_else(|| ApiError::not_found("finetuned model", id))
    }

    /// Interrupts a model's run.
    pub fn interrupt_model(&self, team: &str, id: &str) -> ApiResult<ModelRec> {
        self.model(team, id)?;
        let at = now();
        self.write_catalog(&CatalogRecord::ModelInterrupted {
            id: id.to_string(),
            at: at.clone(),
        })?;
        let mut models = self.models.write();
        let m = models
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("finetuned model", id))?;
        m.interrupted_at = Some(at);
        m.interrupted_ms = Some(chrono::Utc::now().timestamp_millis());
        Ok(m.clone())
    }

    // ---- exports ----

    /// Where an export's file lives.
    pub fn export_path(&self, id: &str) -> PathBuf {
        match &self.dir {
            Some(d) => d.join("exports").join(format!("{id}.csv")),
            None => self
                .scratch
                .path()
                .join("exports")
                .join(format!("{id}.csv")),
        }
    }

    /// Records an export whose file is being written.
    pub fn create_export(&self, rec: ExportRec) -> ApiResult<ExportRec> {
        self.write_catalog(&CatalogRecord::ExportCreated(rec.clone()))?;
        self.exports.write().insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// One of the team's exports.
    pub fn export(&self, team: &str, id: &str) -> ApiResult<ExportRec> {
        self.exports
            .read()
            .get(id)
            .filter(|e| e.team == team)
            .cloned()
            .ok_or_else(|| ApiError::not_found("export", id))
    }

    /// An export by id, whatever its team (for presigned downloads).
    pub fn export_by_id(&self, id: &str) -> Option<ExportRec> {
        self.exports.read().get(id).cloned()
    }

    /// The secret that signs download URLs.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}
