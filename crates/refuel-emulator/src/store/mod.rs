//! The emulator's state: teams' projects and datasets with their rows, kept in memory and,
//! with a data directory, made durable before any write is acknowledged.
//!
//! On disk (`--data-dir DIR`):
//! - `DIR/catalog.log`: a [`log::Log`] of [`CatalogRecord`]s (projects and datasets created,
//!   ingested, failed, updated, deleted), replayed on start.
//! - `DIR/datasets/<id>/rows.log`: the dataset's rows: one frame per appended batch (or per
//!   10,000 ingested rows) and one per deleted row. Written whole and renamed into place when
//!   an ingest completes; appended to (and synced) by `add rows`.
//! - `DIR/datasets/<id>/source`: an uploaded or downloaded file whose ingest has not yet
//!   completed; a restart ingests it again, so an acknowledged upload is never lost.

mod applications;
mod datasets;
mod error;
mod examples;
mod exports;
mod label_set;
mod labels;
mod log;
mod models;
mod projects;
mod records;
mod replay;
mod rows;
mod runs;
mod secret;
mod tasks;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::{SecondsFormat, Utc};
use parking_lot::{Mutex, RwLock};

pub(crate) use self::applications::AppRec;
pub(crate) use self::datasets::{DatasetData, DatasetEntry, DatasetMeta};
pub(crate) use self::error::{StoreError, StoreResult};
pub(crate) use self::exports::ExportRec;
pub(crate) use self::label_set::LabelSet;
use self::log::Log;
pub(crate) use self::models::ModelRec;
pub(crate) use self::projects::ProjectRec;
use self::records::CatalogRecord;
pub(crate) use self::rows::{item_id, item_index};
pub(crate) use self::runs::{RunRec, RunState};
pub(crate) use self::tasks::TaskRec;

/// The current time as the API shows it (RFC 3339, milliseconds, UTC).
pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The whole state.
#[derive(Debug)]
pub(crate) struct Store {
    dir: Option<PathBuf>,
    scratch: tempfile::TempDir,
    catalog_log: Mutex<Option<Log>>,
    projects: RwLock<indexmap::IndexMap<String, ProjectRec>>,
    datasets: RwLock<indexmap::IndexMap<String, Arc<DatasetEntry>>>,
    tasks: RwLock<indexmap::IndexMap<String, TaskRec>>,
    runs: RwLock<indexmap::IndexMap<String, Arc<RunState>>>,
    apps: RwLock<indexmap::IndexMap<String, AppRec>>,
    models: RwLock<indexmap::IndexMap<String, ModelRec>>,
    exports: RwLock<indexmap::IndexMap<String, ExportRec>>,
    secret: Vec<u8>,
    serials: AtomicU64,
    /// Labeled examples of tasks and of finetuned models, built on first use.
    examples: examples::ExampleCache,
}

/// Work the previous process left under way.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Ingests to start again.
    pub(crate) ingests: Vec<PendingIngest>,
    /// Runs to resume (`not_started` or `active`).
    pub(crate) runs: Vec<Arc<RunState>>,
}

/// A dataset whose ingest must (re)start, found when a store is opened.
#[derive(Debug, Clone)]
pub(crate) struct PendingIngest {
    /// The dataset.
    pub(crate) dataset_id: String,
    /// The source file, when it was kept.
    pub(crate) source_file: Option<PathBuf>,
    /// The URL, for `source=uri`.
    pub(crate) source_path: Option<String>,
}

impl Store {
    /// Opens the store: in memory without `dir`, else replaying `dir`'s logs. Returns the
    /// ingests that were under way when the previous process stopped.
    pub(crate) fn open(dir: Option<&Path>) -> std::io::Result<(Self, Pending)> {
        let scratch = tempfile::Builder::new()
            .prefix("refuel-emulator-")
            .tempdir()?;
        let secret = secret::load(dir)?;
        let mut store = Self {
            dir: dir.map(Path::to_path_buf),
            scratch,
            catalog_log: Mutex::new(None),
            projects: RwLock::new(indexmap::IndexMap::new()),
            datasets: RwLock::new(indexmap::IndexMap::new()),
            tasks: RwLock::new(indexmap::IndexMap::new()),
            runs: RwLock::new(indexmap::IndexMap::new()),
            apps: RwLock::new(indexmap::IndexMap::new()),
            models: RwLock::new(indexmap::IndexMap::new()),
            exports: RwLock::new(indexmap::IndexMap::new()),
            secret,
            serials: AtomicU64::new(1),
            examples: examples::ExampleCache::default(),
        };
        let mut pending = Pending::default();
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir.join("datasets"))?;
            // Files half-received when the previous process stopped were never acknowledged.
            let _ = std::fs::remove_dir_all(dir.join("incoming"));
            pending = store.replay(dir)?;
        }
        Ok((store, pending))
    }

    /// Whether the store persists to disk.
    pub(crate) fn is_durable(&self) -> bool {
        self.dir.is_some()
    }

    /// A folder for files being received (inside the data directory when durable, so that a
    /// rename into a dataset's folder stays on one file system).
    pub(crate) fn incoming_dir(&self) -> std::io::Result<PathBuf> {
        let dir = match &self.dir {
            Some(d) => d.join("incoming"),
            None => self.scratch.path().join("incoming"),
        };
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    pub(super) fn dataset_dir(&self, id: &str) -> PathBuf {
        match &self.dir {
            Some(d) => d.join("datasets").join(id),
            None => self.scratch.path().join("datasets").join(id),
        }
    }

    pub(super) fn write_catalog(&self, record: &CatalogRecord) -> StoreResult<()> {
        let mut guard = self.catalog_log.lock();
        if let Some(log) = guard.as_mut() {
            let bytes =
                serde_json::to_vec(record).map_err(|e| StoreError::internal(e.to_string()))?;
            log.append([bytes.as_slice()])
                .map_err(|e| StoreError::storage("the catalog", e))?;
        }
        Ok(())
    }
}
