//! Refuel connectors for the Rust data stack.
//!
//! This facade re-exports the workspace's crates under one name:
//! - [`client`]: the typed async client for the Refuel API and its wire model;
//! - [`emulator`]: a local, durable, Refuel-compatible API server;
//! - [`datafusion`]: Refuel datasets and labels as DataFusion SQL tables;
//! - [`sink`]: Parquet/CSV staged in object stores and handed to Refuel as datasets.

pub use refuel_client as client;
pub use refuel_datafusion as datafusion;
pub use refuel_emulator as emulator;
pub use refuel_sink as sink;
