//! The errors of starting and running a cluster's processes.

use datafusion::error::DataFusionError;

/// Why a scheduler or executor could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The process's Refuel configuration (endpoint, key) is missing or invalid.
    #[error("Refuel configuration: {0}")]
    Config(String),
    /// The process's Refuel client could not be made.
    #[error("Refuel client: {0}")]
    Client(#[from] refuel_client::Error),
    /// The session or runtime could not be set up.
    #[error("setting up the session: {0}")]
    Setup(#[source] DataFusionError),
    /// Ballista failed to start or stopped with an error.
    #[error("ballista: {0}")]
    Ballista(String),
}
