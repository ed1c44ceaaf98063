//! Exports: CSV snapshots of a dataset, with the secret that signs their download URLs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::records::CatalogRecord;
use super::{Store, StoreError, StoreResult};

/// An export as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ExportRec {
    /// The export's id.
    pub(crate) id: String,
    /// The owning team.
    pub(crate) team: String,
    /// The dataset.
    pub(crate) dataset_id: String,
    /// The dataset's name (the file's name).
    pub(crate) dataset_name: String,
    /// The task whose labels are included.
    pub(crate) task_id: Option<String>,
    /// Creation time.
    pub(crate) created_at: String,
}

impl Store {
    /// Where an export's file lives.
    pub(crate) fn export_path(&self, id: &str) -> PathBuf {
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
    pub(crate) fn create_export(&self, rec: ExportRec) -> StoreResult<ExportRec> {
        self.write_catalog(&CatalogRecord::ExportCreated(rec.clone()))?;
        self.exports.write().insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// One of the team's exports.
    pub(crate) fn export(&self, team: &str, id: &str) -> StoreResult<ExportRec> {
        self.exports
            .read()
            .get(id)
            .filter(|e| e.team == team)
            .cloned()
            .ok_or_else(|| StoreError::not_found("export", id))
    }

    /// An export by id, whatever its team (for presigned downloads).
    pub(crate) fn export_by_id(&self, id: &str) -> Option<ExportRec> {
        self.exports.read().get(id).cloned()
    }

    /// The secret that signs download URLs.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}
