//! The module's tokio runtime.
//!
//! This library carries its own copy of tokio: the runtime of the Python process's
//! `datafusion` (another copy) is invisible to it. Every future of this crate runs on one
//! multi-thread runtime made on first use and kept for the life of the process; calls from
//! Python wait for it with the GIL released.

use std::future::Future;
use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime, made on first use.
pub(crate) fn runtime() -> PyResult<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name("refuel-datafusion")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the tokio runtime of refuel_datafusion: {e}"))
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(e.clone()))
}

/// The runtime's handle, for the foreign providers (they enter it to execute and poll).
pub(crate) fn handle() -> PyResult<Handle> {
    Ok(runtime()?.handle().clone())
}

/// Runs `fut` on the runtime and waits for it with the GIL released.
pub(crate) fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = runtime()?.spawn(fut);
    py.detach(|| futures::executor::block_on(task))
        .map_err(|e| PyRuntimeError::new_err(format!("a refuel_datafusion task failed: {e}")))
}
