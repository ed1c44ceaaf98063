//! Refuel datasets and task labels as DataFusion SQL tables.
//!
//! The crate by concern:
//! - Tables: [`RefuelTable`] ([`provider`]) is a dataset, or a dataset with a task's labels,
//!   whose columns [`columns`] lays out; [`RefuelScanExec`] ([`exec`]) reads it page by page,
//!   decoding pages straight into Arrow ([`decode`]), with the predicates [`filter`] pushes
//!   and the order and limits the API can take. [`metadata`] has the per-project tables of
//!   datasets, tasks, runs, applications and models.
//! - The catalog ([`catalog`]): projects as schemas, the `refuel_items(...)` table function
//!   and `CREATE EXTERNAL TABLE ... STORED AS REFUEL`; [`RefuelContextExt::register_refuel`]
//!   ([`context`]) puts it all in a `SessionContext`.
//! - Writes ([`write`]): `INSERT INTO` a dataset, `COPY ... TO 'refuel://...'` and
//!   `CREATE TABLE ... AS` new datasets through `refuel-sink`.
//! - The physical rules that push ORDER BY past filters and OFFSET into scans ([`rules`]).
//! - LLM labeling from SQL: `refuel_label(...)` ([`label`]).
//! - Tables and scans as plain data, for plans that cross processes ([`portable`]).
//! - `refuel://` URLs ([`url`]).
//! - Lake data beside Refuel's ([`lake`]): object stores on demand, store options and URL
//!   tables, as datafusion-cli has them ([`enable_lake`]).

pub mod catalog;
pub mod columns;
pub mod context;
pub mod decode;
mod error;
pub mod exec;
pub mod filter;
pub mod label;
pub mod lake;
pub mod metadata;
pub mod portable;
pub mod provider;
pub mod rules;
pub mod url;
pub mod write;

pub use catalog::{
    REFUEL_ITEMS, RefuelCatalog, RefuelItemsFunction, RefuelSchema, RefuelTableFactory,
};
pub use context::RefuelContextExt;
pub use exec::RefuelScanExec;
pub use lake::enable_lake;
pub use provider::RefuelTable;
pub use url::RefuelUrl;
pub use write::RefuelWriteOptions;
