//! Opening a data directory: the catalog, rows and labels replayed from their logs, and the
//! files of deleted datasets and exports swept away.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use indexmap::IndexMap;
use parking_lot::{Mutex, RwLock};
use refuel_client::models::{ColumnType, IngestStatus, RunStatus};

use super::log::Log;
use super::records::{CatalogRecord, RowsRecord};
use super::{
    AppRec, DatasetData, DatasetEntry, DatasetMeta, ExportRec, ModelRec, Pending, PendingIngest,
    ProjectRec, RunRec, RunState, Store, TaskRec,
};
use crate::model::MetadataType;

/// A dataset's columns as the catalog recorded them at ingest.
type Columns = (Vec<(String, ColumnType)>, Vec<MetadataType>);

/// What the catalog log says, once replayed.
#[derive(Default)]
struct Catalog {
    projects: IndexMap<String, ProjectRec>,
    datasets: IndexMap<String, (DatasetMeta, Columns)>,
    tasks: IndexMap<String, TaskRec>,
    runs: IndexMap<String, RunRec>,
    apps: IndexMap<String, AppRec>,
    models: IndexMap<String, ModelRec>,
    exports: IndexMap<String, ExportRec>,
}

impl Catalog {
    /// Applies one record.
    fn apply(&mut self, record: CatalogRecord) {
        match record {
            CatalogRecord::ProjectCreated(p) => {
                self.projects.insert(p.id.clone(), p);
            }
            CatalogRecord::ProjectDeleted { id } => {
                self.projects.shift_remove(&id);
                self.datasets.retain(|_, (m, _)| m.project_id != id);
            }
            CatalogRecord::DatasetCreated(meta) => {
                self.datasets
                    .insert(meta.id.clone(), (meta, (Vec::new(), Vec::new())));
            }
            CatalogRecord::DatasetIngested {
                id,
                columns,
                metadata,
                at,
            } => {
                if let Some((m, cols)) = self.datasets.get_mut(&id) {
                    m.status = IngestStatus::Success;
                    m.updated_at = at;
                    *cols = (columns, metadata);
                }
            }
            CatalogRecord::DatasetFailed { id, error, at } => {
                if let Some((m, _)) = self.datasets.get_mut(&id) {
                    m.status = IngestStatus::Failed;
                    m.error = Some(error);
                    m.updated_at = at;
                }
            }
            CatalogRecord::DatasetUpdated {
                id,
                scheduled_ids,
                at,
            } => {
                if let Some((m, _)) = self.datasets.get_mut(&id) {
                    m.scheduled_ids = scheduled_ids;
                    m.updated_at = at;
                }
            }
            CatalogRecord::DatasetDeleted { id } => {
                self.datasets.shift_remove(&id);
            }
            other => self.apply_labeling(other),
        }
    }

    /// Applies a record of tasks, runs, applications, models or exports.
    fn apply_labeling(&mut self, record: CatalogRecord) {
        match record {
            CatalogRecord::TaskCreated(t) => {
                self.tasks.insert(t.id.clone(), t);
            }
            CatalogRecord::TaskDeleted { id } => {
                self.tasks.shift_remove(&id);
            }
            CatalogRecord::RunCreated(r) => {
                self.runs.insert(r.id.clone(), r);
            }
            CatalogRecord::RunStatus {
                id,
                status,
                error,
                at,
            } => {
                if let Some(r) = self.runs.get_mut(&id) {
                    r.status = status;
                    r.error = error;
                    r.updated_at = at;
                }
            }
            CatalogRecord::AppCreated(a) => {
                self.apps.insert(a.id.clone(), a);
            }
            CatalogRecord::ModelCreated(m) => {
                self.models.insert(m.id.clone(), m);
            }
            CatalogRecord::ModelInterrupted { id, at } => {
                if let Some(m) = self.models.get_mut(&id) {
                    m.interrupted = chrono::DateTime::parse_from_rfc3339(&at)
                        .ok()
                        .map(|t| t.to_utc());
                    m.interrupted_at = Some(at);
                }
            }
            CatalogRecord::ExportCreated(e) => {
                self.exports.insert(e.id.clone(), e);
            }
            _ => {}
        }
    }
}

fn invalid_data(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

impl Store {
    /// Replays `dir`'s logs into this (empty) store; returns the work left under way.
    pub(super) fn replay(&mut self, dir: &Path) -> std::io::Result<Pending> {
        let mut catalog = Catalog::default();
        let log = Log::open(&dir.join("catalog.log"), |payload| {
            let record: CatalogRecord = serde_json::from_slice(payload)
                .map_err(|e| invalid_data(format!("catalog record: {e}")))?;
            catalog.apply(record);
            Ok(())
        })?;
        *self.catalog_log.get_mut() = Some(log);
        *self.projects.get_mut() = catalog.projects;
        *self.tasks.get_mut() = catalog.tasks;
        *self.apps.get_mut() = catalog.apps;
        *self.models.get_mut() = catalog.models;
        *self.exports.get_mut() = catalog.exports;

        let mut pending = Pending::default();
        let mut labeled_per_run: HashMap<String, u64> = HashMap::new();
        let mut datasets = IndexMap::new();
        for (id, (meta, columns)) in catalog.datasets {
            let ddir = dir.join("datasets").join(&id);
            let entry = self.load_dataset(&ddir, meta, columns, &mut pending)?;
            if entry.meta.read().status == IngestStatus::Success {
                for (run, n) in self.replay_labels(&entry, &ddir)? {
                    *labeled_per_run.entry(run).or_insert(0) += n;
                }
            }
            datasets.insert(id, Arc::new(entry));
        }
        // Remove the folders of datasets that no longer exist.
        sweep(
            &dir.join("datasets"),
            |name| datasets.contains_key(name),
            |p| std::fs::remove_dir_all(p),
        );
        *self.datasets.get_mut() = datasets;
        let mut states = IndexMap::new();
        for (id, rec) in catalog.runs {
            let resume = matches!(rec.status, RunStatus::Active | RunStatus::NotStarted);
            let state = Arc::new(RunState {
                labeled: AtomicU64::new(labeled_per_run.get(&id).copied().unwrap_or(0)),
                rec: Mutex::new(rec),
                cancel: AtomicBool::new(false),
                started: Mutex::new(None),
            });
            if resume {
                pending.runs.push(Arc::clone(&state));
            }
            states.insert(id, state);
        }
        *self.runs.get_mut() = states;
        let exports = self.exports.get_mut();
        sweep(
            &dir.join("exports"),
            |name| exports.contains_key(name.trim_end_matches(".csv")),
            |p| std::fs::remove_file(p),
        );
        Ok(pending)
    }

    /// A dataset as its folder holds it: the rows of an ingested one replayed from its row
    /// log; one whose ingest was under way is added to `pending`.
    fn load_dataset(
        &self,
        ddir: &Path,
        meta: DatasetMeta,
        (columns, metadata): Columns,
        pending: &mut Pending,
    ) -> std::io::Result<DatasetEntry> {
        let mut data = DatasetData::default();
        let mut rows_log = None;
        match meta.status {
            IngestStatus::Success => {
                let (names, types): (Vec<String>, Vec<ColumnType>) = columns.into_iter().unzip();
                // Data kept before column types were recorded: each column's type
                // follows its schema type. Appends replayed below widen them again.
                data.metadata = if metadata.len() == types.len() {
                    metadata
                } else {
                    types.iter().map(MetadataType::from_schema).collect()
                };
                data.columns = names.into();
                data.types = types.into();
                std::fs::create_dir_all(ddir)?;
                let id = &meta.id;
                let log = Log::open(&ddir.join("rows.log"), |payload| {
                    let record: RowsRecord = serde_json::from_slice(payload)
                        .map_err(|e| invalid_data(format!("rows record of dataset {id}: {e}")))?;
                    data.apply(record);
                    Ok(())
                })?;
                data.version = 0;
                rows_log = Some(log);
                let _ = std::fs::remove_file(ddir.join("source"));
            }
            IngestStatus::InProgress => {
                let source = ddir.join("source");
                pending.ingests.push(PendingIngest {
                    dataset_id: meta.id.clone(),
                    source_file: source.exists().then_some(source),
                    source_path: meta.source_path.clone(),
                });
            }
            _ => {}
        }
        Ok(DatasetEntry {
            meta: RwLock::new(meta),
            data: RwLock::new(data),
            rows_log: Mutex::new(rows_log),
            labels: RwLock::new(HashMap::new()),
            label_logs: Mutex::new(HashMap::new()),
            serial: self.serials.fetch_add(1, Ordering::Relaxed),
        })
    }
}

/// Removes the entries of `dir` that `keep` does not want, with `remove` (best effort: an
/// entry that cannot be removed now is tried again at the next start).
fn sweep(dir: &Path, keep: impl Fn(&str) -> bool, remove: fn(&Path) -> std::io::Result<()>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep(&name) {
                let _ = remove(&entry.path());
            }
        }
    }
}
