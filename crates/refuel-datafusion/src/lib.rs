//! Refuel datasets and task labels as DataFusion SQL tables.
//!
//! - [`RefuelTable`]: a dataset (or a dataset with a task's labels) as a table, with filter
//!   and LIMIT pushdown into the API ([`filter`] says exactly which predicates are pushed).
//! - [`RefuelScanExec`]: the partitioned, streaming scan decoding pages into Arrow.
//! - [`RefuelCatalog`] and [`RefuelContextExt::register_refuel`]: projects as schemas,
//!   datasets and `<task>_labels` tables as tables.
//!
//! - `INSERT INTO` a dataset table appends rows ([`sink::RefuelInsertSink`]); ORDER BY (with
//!   its LIMIT) is pushed when the API orders as SQL does ([`RefuelScanExec`]).
//!
//! - Metadata tables per project ([`metadata`]), the `refuel_items(...)` table function and
//!   `CREATE EXTERNAL TABLE ... STORED AS REFUEL` ([`catalog`]).

pub mod catalog;
pub mod columns;
pub mod decode;
pub mod exec;
pub mod filter;
pub mod metadata;
pub mod offset_rule;
pub mod provider;
pub mod sink;
pub mod sort_rule;
pub mod write;

pub use catalog::{
    RefuelCatalog, RefuelContextExt, RefuelItemsFunction, RefuelSchema, RefuelTableFactory,
};
pub use exec::RefuelScanExec;
pub use provider::RefuelTable;
