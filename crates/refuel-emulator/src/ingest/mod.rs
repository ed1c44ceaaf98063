//! Turning uploaded or downloaded files into typed rows, in the background.
//!
//! CSV: the first record is the header; every later record must have as many fields
//! (ragged rows are refused, naming the line) and be valid UTF-8 (naming the line). An
//! empty cell is NULL. A column's type is inferred from its non-empty cells: `boolean` when
//! all are `true`/`false` (any case), else `number` when all parse as numbers, else
//! `string` (also for a column with no values). Parquet: Arrow booleans become `boolean`,
//! integers, floats and decimals `number`, everything else `string` (as Arrow displays it;
//! dates as `YYYY-MM-DD`).
//!
//! Each column also gets its `column_metadata` type ([`MetadataType`]): `integer` for a
//! number column of integers only, `date` for Parquet dates and for CSV string columns of
//! ISO dates only.

mod csv;
mod download;
mod job;
mod parquet;
mod staging;

use std::path::Path;

pub(crate) use self::csv::read_csv;
pub(crate) use self::job::{IngestSource, spawn};
use self::parquet::read_parquet;
pub(crate) use self::staging::Incoming;
use crate::model::Table;

/// Why a file could not be read; the message names the line or column at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct IngestError(pub(crate) String);

/// Reads a CSV or Parquet file, telling them apart by Parquet's magic bytes.
pub(crate) fn read_file(path: &Path) -> Result<Table, IngestError> {
    let mut magic = [0u8; 4];
    let is_parquet = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|()| &magic == b"PAR1")
        .unwrap_or(false);
    if is_parquet {
        read_parquet(path)
    } else {
        read_csv(path)
    }
}

fn check_header(names: &[String]) -> Result<(), IngestError> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(IngestError(format!(
                "column {} of the header has an empty name",
                i + 1
            )));
        }
        if !seen.insert(name.as_str()) {
            return Err(IngestError(format!(
                "the header names column '{name}' twice"
            )));
        }
    }
    Ok(())
}
