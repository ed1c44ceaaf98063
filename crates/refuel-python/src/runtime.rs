//! The module's tokio runtime.
//!
//! This library carries its own copy of tokio: the runtime of the Python process's
//! `datafusion` (another copy) is invisible to it. Every future of this crate runs on one
//! multi-thread runtime made on first use and kept for the life of the process; calls from
//! Python wait for it with the GIL released, and look for signals (Ctrl-C) every
//! [`SIGNAL_CHECK`]: an interrupt cancels the task and raises `KeyboardInterrupt`.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

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

/// How often a waiting call takes the GIL back to look for signals.
pub(crate) const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Runs `fut` on the runtime and waits for it with the GIL released. A signal handler
/// that raises (Ctrl-C's `KeyboardInterrupt`) cancels `fut` (dropped at its next await
/// point) and its exception is returned; use this only for futures that may stop at any
/// await point without leaving anything half done (reads, labeling, starting things).
pub(crate) fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, mut rx) = mpsc::sync_channel(1);
    let task = runtime()?.spawn(async move {
        // The receiver is gone only when the caller was interrupted: nothing to deliver.
        let _ = tx.send(fut.await);
    });
    loop {
        // The receiver goes into the GIL-free closure and comes back (it is not `Sync`).
        let (received, back) = py.detach(move || (rx.recv_timeout(SIGNAL_CHECK), rx));
        rx = back;
        match received {
            Ok(out) => return Ok(out),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
            // The task ended without sending: it panicked; its join error says how.
            Err(RecvTimeoutError::Disconnected) => {
                let failure = match py.detach(|| futures::executor::block_on(task)) {
                    Err(e) => e.to_string(),
                    Ok(()) => "it ended without an answer".to_string(),
                };
                return Err(PyRuntimeError::new_err(format!(
                    "a refuel_datafusion task failed: {failure}"
                )));
            }
        }
    }
}
