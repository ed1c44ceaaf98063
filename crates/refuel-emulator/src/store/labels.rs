//! Labels in the store: written to a log per task and dataset before they are kept, and
//! replayed from those logs on start.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use super::datasets::DatasetEntry;
use super::label_set::LabelSet;
use super::log::Log;
use super::records::LabelRecord;
use super::tasks::TaskRec;
use super::{Store, StoreError, StoreResult};
use crate::model::FieldLabel;

impl Store {
    pub(super) fn label_log_path(&self, dataset_id: &str, task_id: &str) -> PathBuf {
        self.dataset_dir(dataset_id)
            .join(format!("labels-{task_id}.log"))
    }

    /// Stores labels for rows of a dataset (made durable first).
    pub(crate) fn put_labels(
        &self,
        entry: &DatasetEntry,
        task: &TaskRec,
        run: Option<&str>,
        rows: Vec<(u32, Vec<FieldLabel>)>,
    ) -> StoreResult<()> {
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
    pub(crate) fn put_feedback(
        &self,
        entry: &DatasetEntry,
        task: &TaskRec,
        row: usize,
        field: usize,
        label: Value,
    ) -> StoreResult<()> {
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
    ) -> StoreResult<()> {
        if !self.is_durable() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(record).map_err(|e| StoreError::internal(e.to_string()))?;
        let dataset_id = entry.meta.read().id.clone();
        let mut logs = entry.label_logs.lock();
        if !logs.contains_key(task_id) {
            let path = self.label_log_path(&dataset_id, task_id);
            let log =
                Log::open(&path, |_| Ok(())).map_err(|e| StoreError::storage("the labels", e))?;
            logs.insert(task_id.to_string(), log);
        }
        if let Some(log) = logs.get_mut(task_id) {
            log.append([bytes.as_slice()])
                .map_err(|e| StoreError::storage("the labels", e))?;
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
}
