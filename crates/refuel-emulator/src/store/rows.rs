//! A dataset's rows: appends checked against its schema, deletions, and item ids.

use refuel_client::models::IngestStatus;

use super::datasets::DatasetEntry;
use super::records::{RowsRecord, RowsRecordRef};
use super::{Store, StoreError, StoreResult};
use crate::model::Cell;

impl Store {
    /// Appends rows given as JSON objects. Every row is checked first (unknown columns,
    /// values of the wrong type); a bad row rejects the whole request and nothing is written.
    /// Returns the indices of the appended rows.
    pub(crate) fn append_rows(
        &self,
        entry: &DatasetEntry,
        rows: &[serde_json::Value],
    ) -> StoreResult<std::ops::Range<usize>> {
        let name = entry.meta.read().name.clone();
        if entry.meta.read().status != IngestStatus::Success {
            return Err(StoreError::conflict(format!(
                "dataset '{name}' cannot take rows until its ingest has succeeded (it is {})",
                entry.meta.read().status
            )));
        }
        let mut data = entry.data.write();
        let mut converted = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let obj = row.as_object().ok_or_else(|| {
                StoreError::invalid(format!("row {i} is not a JSON object of column values"))
            })?;
            for key in obj.keys() {
                if data.column_index(key).is_none() {
                    return Err(StoreError::invalid(format!(
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
                        StoreError::invalid(format!("row {i}, column '{col}' ({ty}): {e}"))
                    })?,
                };
                cells.push(cell);
            }
            converted.push(cells);
        }
        if let Some(log) = entry.rows_log.lock().as_mut() {
            let bytes = serde_json::to_vec(&RowsRecordRef::Append { rows: &converted })
                .map_err(|e| StoreError::internal(e.to_string()))?;
            log.append([bytes.as_slice()])
                .map_err(|e| StoreError::storage("the rows", e))?;
        }
        let start = data.rows.len();
        let n = converted.len();
        data.apply(RowsRecord::Append { rows: converted });
        Ok(start..start + n)
    }

    /// Deletes one row by index.
    pub(crate) fn delete_row(&self, entry: &DatasetEntry, index: usize) -> StoreResult<()> {
        let mut data = entry.data.write();
        if data.rows.get(index).is_none_or(Option::is_none) {
            return Err(StoreError::not_found("item", &index.to_string()));
        }
        if let Some(log) = entry.rows_log.lock().as_mut() {
            let bytes = serde_json::to_vec(&RowsRecordRef::Delete {
                index: index as u64,
            })
            .map_err(|e| StoreError::internal(e.to_string()))?;
            log.append([bytes.as_slice()])
                .map_err(|e| StoreError::storage("the deletion", e))?;
        }
        data.apply(RowsRecord::Delete {
            index: index as u64,
        });
        Ok(())
    }
}

/// Item ids: the first 8 bytes of the dataset's UUID followed by the row's index, shown as a
/// UUID. Stable for the row's life, and resolved without a lookup table.
pub(crate) fn item_id(dataset_id: &str, index: usize) -> String {
    let prefix = uuid::Uuid::try_parse(dataset_id)
        .map(|u| *u.as_bytes())
        .unwrap_or([0; 16]);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&prefix[..8]);
    bytes[8..].copy_from_slice(&(index as u64).to_be_bytes());
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// The row index an item id names in a dataset, if it is one of its ids.
pub(crate) fn item_index(dataset_id: &str, item: &str) -> Option<usize> {
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
