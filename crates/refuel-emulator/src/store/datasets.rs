//! Datasets: metadata, schema and rows in memory, created, ingested, updated, deleted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::{Mutex, RwLock};
use refuel_client::models::{ColumnType, DatasetSource, IngestStatus};

use super::label_set::LabelSet;
use super::log::{self, Log};
use super::records::{CatalogRecord, RowsRecord, RowsRecordRef};
use super::{Store, StoreError, StoreResult, now};
use crate::model::{Cell, MetadataType, Table, widen_all};

/// Rows per frame when an ingest writes a dataset's row log.
const INGEST_FRAME_ROWS: usize = 10_000;

/// A dataset's metadata as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DatasetMeta {
    /// The dataset's UUID.
    pub(crate) id: String,
    /// Its name, unique within its project.
    pub(crate) name: String,
    /// The project holding it.
    pub(crate) project_id: String,
    /// The owning team.
    pub(crate) team: String,
    /// Creation time.
    pub(crate) created_at: String,
    /// Last change.
    pub(crate) updated_at: String,
    /// How its rows arrived.
    pub(crate) source: DatasetSource,
    /// For `source=uri`, the URL (kept to resume the ingest after a restart).
    #[serde(default)]
    pub(crate) source_path: Option<String>,
    /// Where the ingest stands.
    pub(crate) status: IngestStatus,
    /// Why the ingest failed.
    #[serde(default)]
    pub(crate) error: Option<String>,
    /// Tasks scheduled on it.
    #[serde(default)]
    pub(crate) scheduled_ids: Vec<String>,
}

/// A dataset's rows and schema.
#[derive(Debug, Default)]
pub(crate) struct DatasetData {
    /// Column names, in order.
    pub(crate) columns: Arc<[String]>,
    /// Column types, in the same order.
    pub(crate) types: Arc<[ColumnType]>,
    /// Each column's `column_metadata` type, in the same order (see [`metadata`]).
    pub(crate) metadata: Vec<MetadataType>,
    /// Every row ever stored, by index; deleted rows stay as tombstones so that indices
    /// (and item ids) never move.
    pub(crate) rows: Vec<Option<Box<[Cell]>>>,
    /// The number of rows not deleted.
    pub(crate) live: usize,
    /// Bumped by every change to the rows; part of the query cache's key.
    pub(crate) version: u64,
}

impl DatasetData {
    pub(super) fn from_table(table: Table) -> Self {
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
    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Each column's `column_metadata` type (from its schema type where none is known).
    pub(crate) fn metadata_types(&self) -> Vec<MetadataType> {
        if self.metadata.len() == self.types.len() {
            self.metadata.clone()
        } else {
            self.types.iter().map(MetadataType::from_schema).collect()
        }
    }

    /// The columns as a readable list, for error messages.
    pub(crate) fn column_list(&self) -> String {
        if self.columns.is_empty() {
            "no columns".to_string()
        } else {
            self.columns.join(", ")
        }
    }

    pub(super) fn apply(&mut self, record: RowsRecord) {
        match record {
            RowsRecord::Append { rows } => {
                widen_all(&mut self.metadata, &rows);
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
pub(crate) struct DatasetEntry {
    /// Metadata.
    pub(crate) meta: RwLock<DatasetMeta>,
    /// Schema and rows.
    pub(crate) data: RwLock<DatasetData>,
    pub(super) rows_log: Mutex<Option<Log>>,
    /// Labels by task id.
    pub(crate) labels: RwLock<HashMap<String, LabelSet>>,
    pub(super) label_logs: Mutex<HashMap<String, Log>>,
    /// A process-unique number, part of the query cache's key (ids can be reused after a
    /// delete and re-create only in theory, but this is cheap insurance).
    pub(crate) serial: u64,
}

impl Store {
    /// The team's datasets, in one project or in all.
    pub(crate) fn list_datasets(
        &self,
        team: &str,
        project_id: Option<&str>,
    ) -> Vec<Arc<DatasetEntry>> {
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
    pub(crate) fn dataset(&self, team: &str, id: &str) -> StoreResult<Arc<DatasetEntry>> {
        self.datasets
            .read()
            .get(id)
            .filter(|d| d.meta.read().team == team)
            .cloned()
            .ok_or_else(|| StoreError::not_found("dataset", id))
    }

    /// Creates a dataset whose ingest is under way. A received `source_file` is moved into
    /// the dataset's folder first, so that a restart can ingest it again.
    pub(crate) fn create_dataset(
        &self,
        team: &str,
        project_id: &str,
        name: &str,
        source: DatasetSource,
        source_path: Option<String>,
        source_file: Option<&Path>,
    ) -> StoreResult<Arc<DatasetEntry>> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid(
                "the form field 'name' (the dataset's name) is required",
            ));
        }
        self.project(team, project_id)?;
        let mut datasets = self.datasets.write();
        if datasets.values().any(|d| {
            let m = d.meta.read();
            m.project_id == project_id && m.name == name
        }) {
            return Err(StoreError::conflict(format!(
                "a dataset named '{name}' already exists in this project"
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(file) = source_file {
            let dir = self.dataset_dir(&id);
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::storage("the upload", e))?;
            std::fs::rename(file, dir.join("source"))
                .map_err(|e| StoreError::storage("the upload", e))?;
            if self.is_durable() {
                log::sync_dir(&dir).map_err(|e| StoreError::storage("the upload", e))?;
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

    /// Completes an ingest: the rows are written to a fresh row log, the catalog records the
    /// schema, and only then do the rows become visible.
    pub(crate) fn complete_ingest(&self, id: &str, table: Table) -> StoreResult<()> {
        let Some(entry) = self.datasets.read().get(id).cloned() else {
            return Ok(()); // deleted meanwhile
        };
        let dir = self.dataset_dir(id);
        let log = if self.is_durable() {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::storage("the rows", e))?;
            let path = dir.join("rows.log");
            let frames = table.rows.chunks(INGEST_FRAME_ROWS).map(|chunk| {
                serde_json::to_vec(&RowsRecordRef::Append { rows: chunk }).unwrap_or_default()
            });
            log::write_atomically(&path, frames).map_err(|e| StoreError::storage("the rows", e))?;
            Some(Log::open(&path, |_| Ok(())).map_err(|e| StoreError::storage("the rows", e))?)
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
    pub(crate) fn fail_ingest(&self, id: &str, error: &str) -> StoreResult<()> {
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
    pub(crate) fn update_dataset(
        &self,
        team: &str,
        id: &str,
        scheduled_ids: Vec<String>,
    ) -> StoreResult<Arc<DatasetEntry>> {
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
    pub(crate) fn delete_dataset(&self, team: &str, id: &str) -> StoreResult<()> {
        let mut datasets = self.datasets.write();
        datasets
            .get(id)
            .filter(|d| d.meta.read().team == team)
            .ok_or_else(|| StoreError::not_found("dataset", id))?;
        self.write_catalog(&CatalogRecord::DatasetDeleted { id: id.to_string() })?;
        datasets.shift_remove(id);
        let _ = std::fs::remove_dir_all(self.dataset_dir(id));
        Ok(())
    }
}
