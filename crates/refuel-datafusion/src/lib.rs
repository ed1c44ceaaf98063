//! Refuel datasets and task labels as DataFusion SQL tables.
//!
//! Work in progress: the column mapping and the pure translation of SQL predicates into the
//! API's filters, with their exactness.

pub mod columns;
pub mod filter;
