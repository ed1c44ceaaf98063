//! Typed rows with their columns: what an ingest produces and a dataset holds.

use refuel_client::models::ColumnType;

use super::{Cell, MetadataType};

/// Typed rows read from a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    /// Column names and types, in file order.
    pub(crate) columns: Vec<(String, ColumnType)>,
    /// Rows, each with one cell per column.
    pub(crate) rows: Vec<Vec<Cell>>,
    /// Each column's `column_metadata` type, in the same order.
    pub(crate) metadata: Vec<MetadataType>,
}

impl Table {
    /// A table whose `column_metadata` types are inferred from its cells (with `dates`,
    /// string columns of ISO dates only are `date` columns).
    pub(crate) fn infer(
        columns: Vec<(String, ColumnType)>,
        rows: Vec<Vec<Cell>>,
        dates: bool,
    ) -> Self {
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
