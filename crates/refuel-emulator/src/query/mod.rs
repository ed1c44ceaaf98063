//! Row queries: filters and orders checked against a dataset's schema, evaluated over its
//! rows, and cached so that paging through one query never filters or sorts twice.
//!
//! Semantics (also in the emulator's README):
//! - Comparisons (`=`, `<>`, `<`, `<=`, `>`, `>=`, `IN`) use the column's type: the value
//!   (sent as a string) is parsed as a number for `number` columns and as `true`/`false` for
//!   `boolean` columns, and a value that does not parse is a 400. Strings compare by their
//!   UTF-8 bytes: case-sensitive, code-point order.
//! - A NULL cell matches no operator except `IS NULL`: `<>`, `NOT LIKE`, `NOT ILIKE` and
//!   `!~*` exclude it too, as in SQL.
//! - `LIKE` keeps rows whose cell contains the value as a substring, case-sensitive; `ILIKE`
//!   the same after lowercasing both (Unicode `to_lowercase`). `%` and `_` are ordinary
//!   characters. Numbers and booleans are matched in their text form.
//! - `~*`/`!~*`: a case-insensitive regular expression (Rust `regex` syntax) found anywhere
//!   in the cell's text.
//! - `SIMILAR`: rows where any string column shares a word (a run of letters and digits,
//!   ignoring case) with the text.
//! - Order: each key ascending or descending; NULLs last when ascending, first when
//!   descending; ties keep the default order, which is insertion order.
//!
//! Those are the default [`Semantics`]. Where the public contract leaves a behaviour open
//! (text case, NULL order, LIKE wildcards), [`Semantics::flipped`] makes the other choice,
//! so that tests can check that a client assumes neither:
//! - text (`=`, `<>`, `<`, `<=`, `>`, `>=`, `IN` on strings and text labels, and ORDER BY)
//!   compares the `to_lowercase()` forms; inside ORDER BY, equal lowercase forms are then
//!   ordered by their bytes, and only fully equal texts keep insertion order;
//! - NULLs sort first when ascending and last when descending;
//! - `LIKE`, `ILIKE` and their negations match the value as the SQL pattern `%value%`:
//!   `%` is any run of characters, `_` any one character, and `\` makes the next character
//!   literal (PostgreSQL's default escape).
//!
//! Numbers and booleans compare the same way under both.

mod compile;
mod eval;
mod semantics;

use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use self::compile::{CompiledQuery, Scope, compile};
pub(crate) use self::eval::{Rows, evaluate};
pub(crate) use self::semantics::Semantics;
use crate::store::DatasetEntry;

/// A filter or order that does not fit the dataset (or task) it is run on; the message names
/// the filter, field or value at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InvalidQuery(pub(crate) String);

/// The rows a query selects, in order.
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    /// Every row, in index order (no filter, no order, no deleted rows).
    All(usize),
    /// These row indices, in order.
    Rows(Arc<Vec<u32>>),
}

impl Selection {
    /// How many rows are selected.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::All(n) => *n,
            Self::Rows(r) => r.len(),
        }
    }

    /// The row indices of `[offset, offset + len)`.
    pub(crate) fn page(&self, offset: usize, len: usize) -> Vec<usize> {
        let end = offset.saturating_add(len).min(self.len());
        if offset >= end {
            return Vec::new();
        }
        match self {
            Self::All(_) => (offset..end).collect(),
            Self::Rows(r) => r[offset..end].iter().map(|i| *i as usize).collect(),
        }
    }
}

/// Recently used selections, keyed by dataset, its version, and the query.
#[derive(Debug, Default)]
pub(crate) struct QueryCache {
    entries: Mutex<Vec<CacheEntry>>,
}

#[derive(Debug)]
struct CacheEntry {
    key: (u64, u64, String),
    rows: Arc<Vec<u32>>,
    tick: u64,
}

/// How many selections the cache keeps.
const CACHE_ENTRIES: usize = 32;

impl QueryCache {
    /// The selection of `query` over the dataset, from the cache when the dataset has not
    /// changed since it was computed. The caller holds the dataset's read lock.
    pub(crate) fn select(
        &self,
        entry: &DatasetEntry,
        rows: Rows<'_>,
        task: Option<&str>,
        query: &CompiledQuery,
    ) -> Selection {
        let data = rows.data;
        if query.is_trivial() && data.live == data.rows.len() {
            return Selection::All(data.rows.len());
        }
        let labels_version = if query.reads_labels() {
            rows.labels.map_or(0, |l| l.version)
        } else {
            0
        };
        let text = match task {
            Some(t) if query.reads_labels() => format!("{t}:{labels_version}:{}", query.key()),
            _ => query.key().to_string(),
        };
        let key = (entry.serial, data.version, text);
        let tick = {
            let mut entries = self.entries.lock();
            let next = entries.iter().map(|e| e.tick).max().unwrap_or(0) + 1;
            if let Some(hit) = entries.iter_mut().find(|e| e.key == key) {
                hit.tick = next;
                return Selection::Rows(Arc::clone(&hit.rows));
            }
            next
        };
        let rows = Arc::new(evaluate(rows, query));
        let mut entries = self.entries.lock();
        // Entries of older versions of this dataset can never be hit again.
        entries.retain(|e| !(e.key.0 == key.0 && e.key.1 != key.1));
        if entries.len() >= CACHE_ENTRIES {
            if let Some(oldest) = entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.tick)
                .map(|(i, _)| i)
            {
                entries.swap_remove(oldest);
            }
        }
        entries.push(CacheEntry {
            key,
            rows: Arc::clone(&rows),
            tick,
        });
        Selection::Rows(rows)
    }
}
