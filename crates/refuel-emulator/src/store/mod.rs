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

pub mod cell;
pub mod labeling;
pub mod labels;
pub mod log;
pub mod metadata;
mod records;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{SecondsFormat, Utc};
use parking_lot::{Mutex, RwLock};
use refuel_client::models::{ColumnType, DatasetSource, IngestStatus, RunStatus};

pub use self::cell::Cell;
use self::labeling::{AppRec, ExportRec, ModelRec, RunState, TaskRec};
use self::labels::LabelSet;
use self::log::Log;
use self::metadata::MetadataType;
use self::records::{CatalogRecord, RowsRecord, RowsRecordRef};
use crate::error::{ApiError, ApiResult};
use crate::ingest::Table;

/// Rows per frame when an ingest writes a dataset's row log.
const INGEST_FRAME_ROWS: usize = 10_000;

/// The current time as the API shows it (RFC 3339, milliseconds, UTC).
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A project as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjectRec {
    /// The project's UUID.
    pub id: String,
    /// The id of the owning team.
    pub team: String,
    /// Its name, unique within the team.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A dataset's metadata as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetMeta {
    /// The dataset's UUID.
    pub id: String,
    /// Its name, unique within its project.
    pub name: String,
    /// The project holding it.
    pub project_id: String,
    /// The owning team.
    pub team: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// How its rows arrived.
    pub source: DatasetSource,
    /// For `source=uri`, the URL (kept to resume the ingest after a restart).
    #[serde(default)]
    pub source_path: Option<String>,
    /// Where the ingest stands.
    pub status: IngestStatus,
    /// Why the ingest failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Tasks scheduled on it.
    #[serde(default)]
    pub scheduled_ids: Vec<String>,
}

/// A dataset's rows and schema.
#[derive(Debug, Default)]
pub struct DatasetData {
    /// Column names, in order.
    pub columns: Arc<[String]>,
    /// Column types, in the same order.
    pub types: Arc<[ColumnType]>,
    /// Each column's `column_metadata` type, in the same order (see [`metadata`]).
    pub metadata: Vec<MetadataType>,
    /// Every row ever stored, by index; deleted rows stay as tombstones so that indices
    /// (and item ids) never move.
    pub rows: Vec<Option<Box<[Cell]>>>,
    /// The number of rows not deleted.
    pub live: usize,
    /// Bumped by every change to the rows; part of the query cache's key.
    pub version: u64,
}

impl DatasetData {
    fn from_table(table: Table) -> Self {
        let (columns, types): (Vec<String>, Vec<ColumnType>) = table.columns.into_iter().unzip();
        let metadata = if table.metadata.len() == types.len() {
            table.metadata
        } else {
            types.iter().map(MetadataType::from_schema).collect()
        };
        let rows: Vec<Option<Box<[Cell]>>> = table
            .rows
            .into_iter()
            .map(|r| Some(r.into_boxed_slice()))
            .collect();
        Self {
            columns: columns.into(),
            types: types.into(),
            metadata,
            live: rows.len(),
            rows,
            version: 0,
        }
    }

    /// The index of a column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Each column's `column_metadata` type (from its schema type where none is known).
    pub fn metadata_types(&self) -> Vec<MetadataType> {
        if self.metadata.len() == self.types.len() {
            self.metadata.clone()
        } else {
            self.types.iter().map(MetadataType::from_schema).collect()
        }
    }

    /// The columns as a readable list, for error messages.
    pub fn column_list(&self) -> String {
        if self.columns.is_empty() {
            "no columns".to_string()
        } else {
            self.columns.join(", ")
        }
    }

    fn apply(&mut self, record: RowsRecord) {
        match record {
            RowsRecord::Append { rows } => {
                metadata::widen_all(&mut self.metadata, &rows);
                self.live += rows.len();
                self.rows
                    .extend(rows.into_iter().map(|r| Some(r.into_boxed_slice())));
            }
            RowsRecord::Delete { index } => {
                if let Some(slot) = usize::try_from(index)
                    .ok()
                    .and_then(|i| self.rows.get_mut(i))
                {
                    if slot.take().is_some() {
                        self.live -= 1;
                    }
                }
            }
        }
        self.version += 1;
    }
}

/// One dataset: metadata, rows, and its row log.
#[derive(Debug)]
pub struct DatasetEntry {
    /// Metadata.
    pub meta: RwLock<DatasetMeta>,
    /// Schema and rows.
    pub data: RwLock<DatasetData>,
    rows_log: Mutex<Option<Log>>,
    /// Labels by task id.
    pub labels: RwLock<HashMap<String, LabelSet>>,
    label_logs: Mutex<HashMap<String, Log>>,
    /// A process-unique number, part of the query cache's key (ids can be reused after a
    /// delete and re-create only in theory, but this is cheap insurance).
    pub serial: u64,
}

/// The whole state.
#[derive(Debug)]
pub struct Store {
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
}

/// Work the previous process left under way.
#[derive(Debug, Default)]
pub struct Pending {
    /// Ingests to start again.
    pub ingests: Vec<PendingIngest>,
    /// Runs to resume (`not_started` or `active`).
    pub runs: Vec<Arc<RunState>>,
}

/// A dataset whose ingest must (re)start, found when a store is opened.
#[derive(Debug, Clone)]
pub struct PendingIngest {
    /// The dataset.
    pub dataset_id: String,
    /// The source file, when it was kept.
    pub source_file: Option<PathBuf>,
    /// The URL, for `source=uri`.
    pub source_path: Option<String>,
}

impl Store {
    /// Opens the store: in memory without `dir`, else replaying `dir`'s logs. Returns the
    /// ingests that were under way when the previous process stopped.
    pub fn open(dir: Option<&Path>) -> std::io::Result<(Self, Pending)> {
        let scratch = tempfile::Builder::new()
            .prefix("refuel-emulator-")
            .tempdir()?;
        let secret = match dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                let path = d.join("secret");
                match std::fs::read(&path) {
                    Ok(bytes) if bytes.len() >= 32 => bytes,
                    _ => {
                        let fresh = random_secret();
                        std::fs::write(&path, &fresh)?;
                        fresh
                    }
                }
            }
            None => random_secret(),
        };
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

    fn replay(&mut self, dir: &Path) -> std::io::Result<Pending> {
        let mut projects = indexmap::IndexMap::new();
        let mut tasks: indexmap::IndexMap<String, TaskRec> = indexmap::IndexMap::new();
        let mut runs: indexmap::IndexMap<String, labeling::RunRec> = indexmap::IndexMap::new();
        let mut apps: indexmap::IndexMap<String, AppRec> = indexmap::IndexMap::new();
        let mut models: indexmap::IndexMap<String, ModelRec> = indexmap::IndexMap::new();
        let mut exports: indexmap::IndexMap<String, ExportRec> = indexmap::IndexMap::new();
        type Columns = (Vec<(String, ColumnType)>, Vec<MetadataType>);
        let mut metas: indexmap::IndexMap<String, (DatasetMeta, Columns)> =
            indexmap::IndexMap::new();
        let log = Log::open(&dir.join("catalog.log"), |payload| {
            let record: CatalogRecord = serde_json::from_slice(payload).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("catalog record: {e}"),
                )
            })?;
            match record {
                CatalogRecord::ProjectCreated(p) => {
                    projects.insert(p.id.clone(), p);
                }
                CatalogRecord::ProjectDeleted { id } => {
                    projects.shift_remove(&id);
                    metas.retain(|_, (m, _)| m.project_id != id);
                }
                CatalogRecord::DatasetCreated(meta) => {
                    metas.insert(meta.id.clone(), (meta, (Vec::new(), Vec::new())));
                }
                CatalogRecord::DatasetIngested {
                    id,
                    columns,
                    metadata,
                    at,
                } => {
                    if let Some((m, cols)) = metas.get_mut(&id) {
                        m.status = IngestStatus::Success;
                        m.updated_at = at;
                        *cols = (columns, metadata);
                    }
                }
                CatalogRecord::DatasetFailed { id, error, at } => {
                    if let Some((m, _)) = metas.get_mut(&id) {
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
                    if let Some((m, _)) = metas.get_mut(&id) {
                        m.scheduled_ids = scheduled_ids;
                        m.updated_at = at;
                    }
                }
                CatalogRecord::DatasetDeleted { id } => {
                    metas.shift_remove(&id);
                }
                CatalogRecord::TaskCreated(t) => {
                    tasks.insert(t.id.clone(), t);
                }
                CatalogRecord::TaskDeleted { id } => {
                    tasks.shift_remove(&id);
                }
                CatalogRecord::RunCreated(r) => {
                    runs.insert(r.id.clone(), r);
                }
                CatalogRecord::RunStatus {
                    id,
                    status,
                    error,
                    at,
                } => {
                    if let Some(r) = runs.get_mut(&id) {
                        r.status = status;
                        r.error = error;
                        r.updated_at = at;
                    }
                }
                CatalogRecord::AppCreated(a) => {
                    apps.insert(a.id.clone(), a);
                }
                CatalogRecord::ModelCreated(m) => {
                    models.insert(m.id.clone(), m);
                }
                CatalogRecord::ModelInterrupted { id, at } => {
                    if let Some(m) = models.get_mut(&id) {
                        m.interrupted_ms = chrono::DateTime::parse_from_rfc3339(&at)
                            .ok()
                            .map(|t| t.timestamp_millis());
                        m.interrupted_at = Some(at);
                    }
                }
                CatalogRecord::ExportCreated(e) => {
                    exports.insert(e.id.clone(), e);
                }
            }
            Ok(())
        })?;
        *self.catalog_log.get_mut() = Some(log);
        *self.projects.get_mut() = projects;
        *self.tasks.get_mut() = tasks;
        *self.apps.get_mut() = apps;
        *self.models.get_mut() = models;
        *self.exports.get_mut() = exports;

        let mut pending = Pending::default();
        let mut labeled_per_run: HashMap<String, u64> = HashMap::new();
        let mut datasets = indexmap::IndexMap::new();
        for (id, (meta, (columns, metadata))) in metas {
            let ddir = dir.join("datasets").join(&id);
            let mut data = DatasetData::default();
            let mut rows_log = None;
            match meta.status {
                IngestStatus::Success => {
                    let (names, types): (Vec<String>, Vec<ColumnType>) =
                        columns.into_iter().unzip();
                    // Data kept before column types were recorded: each column's type
                    // follows its schema type. Appends replayed below widen them again.
                    data.metadata = if metadata.len() == types.len() {
                        metadata
                    } else {
                        types.iter().map(MetadataType::from_schema).collect()
                    };
                    data.columns = names.into();
                    data.types = types.into();
                    std::fs::create_dir_all(&ddir)?;
                    let log = Log::open(&ddir.join("rows.log"), |payload| {
                        let record: RowsRecord = serde_json::from_slice(payload).map_err(|e| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("rows record of dataset {id}: {e}"),
                            )
                        })?;
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
                        dataset_id: id.clone(),
                        source_file: source.exists().then_some(source),
                        source_path: meta.source_path.clone(),
                    });
                }
                _ => {}
            }
            let loaded = meta.status == IngestStatus::Success;
            let entry = DatasetEntry {
                meta: RwLock::new(meta),
                data: RwLock::new(data),
                rows_log: Mutex::new(rows_log),
                labels: RwLock::new(HashMap::new()),
                label_logs: Mutex::new(HashMap::new()),
                serial: self.serials.fetch_add(1, Ordering::Relaxed),
            };
            if loaded {
                for (run, n) in self.replay_labels(&entry, &ddir)? {
                    *labeled_per_run.entry(run).or_insert(0) += n;
                }
            }
            datasets.insert(id, Arc::new(entry));
        }
        // Remove the folders of datasets that no longer exist.
        if let Ok(entries) = std::fs::read_dir(dir.join("datasets")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !datasets.contains_key(&name) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        *self.datasets.get_mut() = datasets;
        let mut states = indexmap::IndexMap::new();
        for (id, rec) in runs {
            let resume = matches!(rec.status, RunStatus::Active | RunStatus::NotStarted);
            let state = Arc::new(RunState {
                labeled: std::sync::atomic::AtomicU64::new(
                    labeled_per_run.get(&id).copied().unwrap_or(0),
                ),
                rec: Mutex::new(rec),
                cancel: std::sync::atomic::AtomicBool::new(false),
                started: Mutex::new(None),
            });
            if resume {
                pending.runs.push(Arc::clone(&state));
            }
            states.insert(id, state);
        }
        *self.runs.get_mut() = states;
        if let Ok(entries) = std::fs::read_dir(dir.join("exports")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !self
                    .exports
                    .get_mut()
                    .contains_key(name.trim_end_matches(".csv"))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(pending)
    }

    /// Whether the store persists to disk.
    pub fn is_durable(&self) -> bool {
        self.dir.is_some()
    }

    /// A folder for files being received (inside the data directory when durable, so that a
    /// rename into a dataset's folder stays on one file system).
    pub fn incoming_dir(&self) -> std::io::Result<PathBuf> {
        let dir = match &self.dir {
            Some(d) => d.join("incoming"),
            None => self.scratch.path().join("incoming"),
        };
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn dataset_dir(&self, id: &str) -> PathBuf {
        match &self.dir {
            Some(d) => d.join("datasets").join(id),
            None => self.scratch.path().join("datasets").join(id),
        }
    }

    fn write_catalog(&self, record: &CatalogRecord) -> ApiResult<()> {
        let mut guard = self.catalog_log.lock();
        if let Some(log) = guard.as_mut() {
            let bytes =
                serde_json::to_vec(record).map_err(|e| ApiError::internal(e.to_string()))?;
            log.append([bytes.as_slice()])
                .map_err(|e| ApiError::storage("the catalog", e))?;
        }
        Ok(())
    }

    // ---- projects ----

    /// The team's projects, oldest first.
    pub fn list_projects(&self, team: &str) -> Vec<ProjectRec> {
        self.projects
            .read()
            .values()
            .filter(|p| p.team == team)
            .cloned()
            .collect()
    }

    /// One of the team's projects.
    pub fn project(&self, team: &str, id: &str) -> ApiResult<ProjectRec> {
        self.projects
            .read()
            .get(id)
            .filter(|p| p.team == team)
            .cloned()
            .ok_or_else(|| ApiError::not_found("project", id))
    }

    /// Creates a project; names are unique within a team.
    pub fn create_project(
        &self,
        team: &str,
        name: &str,
        description: &str,
    ) -> ApiResult<ProjectRec> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::bad_request(
                "project_name is required and must not be empty",
            ));
        }
        let mut projects = self.projects.write();
        if projects.values().any(|p| p.team == team && p.name == name) {
            return Err(ApiError::conflict(format!(
                "a project named '{name}' already exists"
            )));
        }
        let at = now();
        let rec = ProjectRec {
            id: uuid::Uuid::new_v4().to_string(),
            team: team.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            created_at: at.clone(),
            updated_at: at,
        };
        self.write_catalog(&CatalogRecord::ProjectCreated(rec.clone()))?;
        projects.insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// Deletes a project and its datasets.
    pub fn delete_project(&self, team: &str, id: &str) -> ApiResult<()> {
        let mut projects = self.projects.write();
        if projects.get(id).is_none_or(|p| p.team != team) {
            return Err(ApiError::not_found("project", id));
        }
        self.write_catalog(&CatalogRecord::ProjectDeleted { id: id.to_string() })?;
        projects.shift_remove(id);
        let mut datasets = self.datasets.write();
        let doomed: Vec<String> = datasets
            .values()
            .filter(|d| d.meta.read().project_id == id)
            .map(|d| d.meta.read().id.clone())
            .collect();
        for ds in doomed {
            datasets.shift_remove(&ds);
            let _ = std::fs::remove_dir_all(self.dataset_dir(&ds));
        }
        Ok(())
    }

    // ---- datasets ----

    /// The team's datasets, in one project or in all.
    pub fn list_datasets(&self, team: &str, project_id: Option<&str>) -> Vec<Arc<DatasetEntry>> {
        self.datasets
            .read()
            .values()
            .filter(|d| {
                let m = d.meta.read();
                m.team == team && project_id.is_none_or(|p| m.project_id == p)
            })
            .cloned()
            .collect()
    }

    /// One of the team's datasets.
    pub fn dataset(&self, team: &str, id: &str) -> ApiResult<Arc<DatasetEntry>> {
        self.datasets
            .read()
            .get(id)
            .filter(|d| d.meta.read().team == team)
            .cloned()
            .ok_or_else(|| ApiError::not_found("dataset", id))
    }

    /// Creates a dataset whose ingest is under way. A received `source_file` is moved into
    /// the dataset's folder first, so that a restart can ingest it again.
    pub fn create_dataset(
        &self,
        team: &str,
        project_id: &str,
        name: &str,
        source: DatasetSource,
        source_path: Option<String>,
        source_file: Option<&Path>,
    ) -> ApiResult<Arc<DatasetEntry>> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::bad_request(
                "the form field 'name' (the dataset's name) is required",
            ));
        }
        self.project(team, project_id)?;
        let mut datasets = self.datasets.write();
        if datasets.values().any(|d| {
            let m = d.meta.read();
            m.project_id == project_id && m.name == name
        }) {
            return Err(ApiError::conflict(format!(
                "a dataset named '{name}' already exists in this project"
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(file) = source_file {
            let dir = self.dataset_dir(&id);
            std::fs::create_dir_all(&dir).map_err(|e| ApiError::storage("the upload", e))?;
            std::fs::rename(file, dir.join("source"))
                .map_err(|e| ApiError::storage("the upload", e))?;
            if self.is_durable() {
                log::sync_dir(&dir).map_err(|e| ApiError::storage("the upload", e))?;
            }
        }
        let at = now();
        let meta = DatasetMeta {
            id: id.clone(),
            name: name.to_string(),
            project_id: project_id.to_string(),
            team: team.to_string(),
            created_at: at.clone(),
            updated_at: at,
            source,
            source_path,
            status: IngestStatus::InProgress,
            error: None,
            scheduled_ids: Vec::new(),
        };
        self.write_catalog(&CatalogRecord::DatasetCreated(meta.clone()))?;
        let entry = Arc::new(DatasetEntry {
            meta: RwLock::new(meta),
            data: RwLock::new(DatasetData::default()),
            rows_log: Mutex::new(None),
            labels: RwLock::new(HashMap::new()),
            label_logs: Mutex::new(HashMap::new()),
            serial: self.serials.fetch_add(1, Ordering::Relaxed),
        });
        datasets.insert(id, Arc::clone(&entry));
        Ok(entry)
    }

    /// The file kept for a dataset whose ingest is under way.
    pub fn source_file(&self, id: &str) -> PathBuf {
        self.dataset_dir(id).join("source")
    }

    /// Completes an ingest: the rows are written to a fresh row log, the catalog records the
    /// schema, and only then do the rows become visible.
    pub fn complete_ingest(&self, id: &str, table: Table) -> ApiResult<()> {
        let Some(entry) = self.datasets.read().get(id).cloned() else {
            return Ok(()); // deleted meanwhile
        };
        let dir = self.dataset_dir(id);
        let log = if self.is_durable() {
            std::fs::create_dir_all(&dir).map_err(|e| ApiError::storage("the rows", e))?;
            let path = dir.join("rows.log");
            let frames = table.rows.chunks(INGEST_FRAME_ROWS).map(|chunk| {
                serde_json::to_vec(&RowsRecordRef::Append { rows: chunk }).unwrap_or_default()
            });
            log::write_atomically(&path, frames).map_err(|e| ApiError::storage("the rows", e))?;
            Some(Log::open(&path, |_| Ok(())).map_err(|e| ApiError::storage("the rows", e))?)
        } else {
            None
        };
        let at = now();
        self.write_catalog(&CatalogRecord::DatasetIngested {
            id: id.to_string(),
            columns: table.columns.clone(),
            metadata: table.metadata.clone(),
            at: at.clone(),
        })?;
        *entry.rows_log.lock() = log;
        {
            let mut data = entry.data.write();
            *data = DatasetData::from_table(table);
            data.version = 1;
        }
        {
            let mut meta = entry.meta.write();
            meta.status = IngestStatus::Success;
            meta.updated_at = at;
        }
        let _ = std::fs::remove_file(dir.join("source"));
        Ok(())
    }

    /// Marks an ingest as failed, with the reason.
    pub fn fail_ingest(&self, id: &str, error: &str) -> ApiResult<()> {
        let Some(entry) = self.datasets.read().get(id).cloned() else {
            return Ok(());
        };
        let at = now();
        self.write_catalog(&CatalogRecord::DatasetFailed {
            id: id.to_string(),
            error: error.to_string(),
            at: at.clone(),
        })?;
        {
            let mut meta = entry.meta.write();
            meta.status = IngestStatus::Failed;
            meta.error = Some(error.to_string());
            meta.updated_at = at;
        }
        let _ = std::fs::remove_file(self.dataset_dir(id).join("source"));
        Ok(())
    }

    /// Sets the tasks scheduled on a dataset.
    pub fn update_dataset(
        &self,
        team: &str,
        id: &str,
        scheduled_ids: Vec<String>,
    ) -> ApiResult<Arc<DatasetEntry>> {
        let entry = self.dataset(team, id)?;
        let at = now();
        self.write_catalog(&CatalogRecord::DatasetUpdated {
            id: id.to_string(),
            scheduled_ids: scheduled_ids.clone(),
            at: at.clone(),
        })?;
        {
            let mut meta = entry.meta.write();
            meta.scheduled_ids = scheduled_ids;
            meta.updated_at = at;
        }
        Ok(entry)
    }

    /// Deletes a dataset and its rows.
    pub fn delete_dataset(&self, team: &str, id: &str) -> ApiResult<()> {
        let mut datasets = self.datasets.write();
        datasets
            .get(id)
            .filter(|d| d.meta.read().team == team)
            .ok_or_else(|| ApiError::not_found("dataset", id))?;
        self.write_catalog(&CatalogRecord::DatasetDeleted { id: id.to_string() })?;
        datasets.shift_remove(id);
        let _ = std::fs::remove_dir_all(self.dataset_dir(id));
        Ok(())
    }

    /// Appends rows given as JSON objects. Every row is checked first (unknown columns,
    /// values of the wrong type); a bad row rejects the whole request and nothing is written.
    /// Returns the indices of the appended rows.
    pub fn append_rows(
        &self,
        entry: &DatasetEntry,
        rows: &[serde_json::Value],
    ) -> ApiResult<std::ops::Range<usize>> {
        let name = entry.meta.read().name.clone();
        if entry.meta.read().status != IngestStatus::Success {
            return Err(ApiError::conflict(format!(
                "dataset '{name}' cannot take rows until its ingest has succeeded (it is {})",
                entry.meta.read().status
            )));
        }
        let mut data = entry.data.write();
        let mut converted = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let obj = row.as_object().ok_or_else(|| {
                ApiError::bad_request(format!("row {i} is not a JSON object of column values"))
            })?;
            for key in obj.keys() {
                if data.column_index(key).is_none() {
                    return Err(ApiError::bad_request(format!(
                        "row {i} has column '{key}', which dataset '{name}' does not have (its columns: {})",
                        data.column_list()
                    )));
                }
            }
            let mut cells = Vec::with_capacity(data.columns.len());
            for (col, ty) in data.columns.iter().zip(data.types.iter()) {
                let cell = match obj.get(col) {
                    None => Cell::Null,
                    Some(v) => Cell::from_json(v, ty).map_err(|e| {
                        ApiError::bad_request(format!("row {i}, column '{col}' ({ty}): {e}"))
                    })?,
                };
                cells.push(cell);
            }
            converted.push(cells);
        }
        if let Some(log) = entry.rows_log.lock().as_mut() {
            let bytes = serde_json::to_vec(&RowsRecordRef::Append { rows: &converted })
                .map_err(|e| ApiError::internal(e.to_string()))?;
            log.append([bytes.as_slice()])
                .map_err(|e| ApiError::storage("the rows", e))?;
        }
        let start = data.rows.len();
        let n = converted.len();
        data.apply(RowsRecord::Append { rows: converted });
        Ok(start..start + n)
    }

    /// Deletes one row by index.
    pub fn delete_row(&self, entry: &DatasetEntry, index: usize) -> ApiResult<()> {
        let mut data = entry.data.write();
        if data.rows.get(index).is_none_or(Option::is_none) {
            return Err(ApiError::not_found("item", &index.to_string()));
        }
        if let Some(log) = entry.rows_log.lock().as_mut() {
            let bytes = serde_json::to_vec(&RowsRecordRef::Delete {
                index: index as u64,
            })
            .map_err(|e| ApiError::internal(e.to_string()))?;
            log.append([bytes.as_slice()])
                .map_err(|e| ApiError::storage("the deletion", e))?;
        }
        data.apply(RowsRecord::Delete {
            index: index as u64,
        });
        Ok(())
    }
}

fn random_secret() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// Item ids: the first 8 bytes of the dataset's UUID followed by the row's index, shown as a
/// UUID. Stable for the row's life, and resolved without a lookup table.
pub fn item_id(dataset_id: &str, index: usize) -> String {
    let prefix = uuid::Uuid::try_parse(dataset_id)
        .map(|u| *u.as_bytes())
        .unwrap_or([0; 16]);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&prefix[..8]);
    bytes[8..].copy_from_slice(&(index as u64).to_be_bytes());
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// The row index an item id names in a dataset, if it is one of its ids.
pub fn item_index(dataset_id: &str, item: &str) -> Option<usize> {
    let prefix = uuid::Uuid::try_parse(dataset_id).ok()?;
    let id = uuid::Uuid::try_parse(item).ok()?;
    let (a, b) = (prefix.as_bytes(), id.as_bytes());
    if a[..8] != b[..8] {
        return None;
    }
    let mut idx = [0u8; 8];
    idx.copy_from_slice(&b[8..]);
    usize::try_from(u64::from_be_bytes(idx)).ok()
}
