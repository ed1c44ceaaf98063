//! The emulator's vocabulary: the values, tables, labels and task specs every other module
//! speaks of. It imports nothing else of the crate.

mod cell;
mod examples;
mod label;
mod metadata;
mod table;
mod text;

pub use self::cell::Cell;
pub(crate) use self::examples::MAX_EXAMPLES;
pub use self::examples::{Example, ExampleSource, FieldExamples, RowKey, TaskExamples};
pub(crate) use self::label::label_text;
pub use self::label::{FieldLabel, LabeledRow, RowInput, TaskSpec};
pub(crate) use self::metadata::{MetadataType, is_iso_date, widen_all};
pub(crate) use self::table::Table;
pub(crate) use self::text::words;
