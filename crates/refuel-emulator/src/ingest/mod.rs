//! Turning uploaded or downloaded files into typed rows.
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
mod parquet;

use std::path::Path;

use refuel_client::models::ColumnType;

use crate::store::Cell;
use crate::store::metadata::MetadataType;

pub use self::csv::read_csv;
pub use self::parquet::read_parquet;

/// Typed rows read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names and types, in file order.
    pub columns: Vec<(String, ColumnType)>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// Each column's `column_metadata` type, in the same order.
    pub metadata: Vec<MetadataType>,
}

impl Table {
    /// A table whose `column_metadata` types are inferred from its cells (with `dates`,
    /// string columns of ISO dates only are `date` columns).
    pub fn infer(columns: Vec<(String, ColumnType)>, rows: Vec<Vec<Cell>>, dates: bool) -> Self {
        let metadata = columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| {
                MetadataType::infer(ty, rows.iter().filter_map(|r| r.get(i)), dates)
            })
            .collect();
        Self {
            columns,
            rows,
            metadata,
        }
    }
}

/// Why a file could not be read; the message names the line or column at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct IngestError(pub String);

/// Reads a CSV or Parquet file, telling them apart by Parquet's magic bytes.
pub fn read_file(path: &Path) -> Result<Table, IngestError> {
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
