//! The module's tokio runtime, and the process it belongs to.
//!
//! This library carries its own copy of tokio: the runtime of the Python process's
//! `datafusion` (another copy) is invisible to it. Every future of this crate runs on one
//! multi-thread runtime made on first use; calls from Python wait for it with the GIL
//! released, and look for signals (Ctrl-C) every [`SIGNAL_CHECK`]: an interrupt cancels the
//! task and raises `KeyboardInterrupt`.
//!
//! A process forked from one that had started the runtime (`multiprocessing`'s "fork")
//! gets a runtime of its own on first use (the parent's worker threads do not come along),
//! so `label`, `write_dataset` and new catalogs work there. Objects made before the fork
//! hold connections of the parent's runtime: they carry their [`Origin`] and refuse to run
//! in another process with an error that says so, instead of waiting forever.

use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

/// The runtime and the process that started it.
struct Started {
    pid: u32,
    runtime: Runtime,
}

static RUNTIME: Mutex<Option<Started>> = Mutex::new(None);

/// The runtime's handle: the runtime is made on first use in each process.
pub(crate) fn handle() -> PyResult<Handle> {
    let pid = std::process::id();
    let mut started = RUNTIME.lock();
    if let Some(s) = started.as_ref().filter(|s| s.pid == pid) {
        return Ok(s.runtime.handle().clone());
    }
    // None yet, or the parent's: its threads stayed in the parent, and dropping it would
    // wait for them; it is left as it is (leaked, once per fork).
    if let Some(parents) = started.take() {
        std::mem::forget(parents);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("refuel-datafusion")
        .enable_all()
        .build()
        .map_err(|e| {
            PyRuntimeError::new_err(format!(
                "cannot start the tokio runtime of refuel_datafusion: {e}"
            ))
        })?;
    let handle = runtime.handle().clone();
    *started = Some(Started { pid, runtime });
    Ok(handle)
}

/// The process an object holding connections (a client's pool, a server) was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pid: u32,
}

impl Origin {
    /// This process.
    pub(crate) fn here() -> Self {
        Self {
            pid: std::process::id(),
        }
    }

    /// Whether this is still the process it names.
    pub(crate) fn is_here(&self) -> bool {
        self.pid == std::process::id()
    }

    /// Fails, saying why, in a process forked from the one that made `what`.
    pub(crate) fn check(&self, what: &str) -> Result<(), String> {
        if self.is_here() {
            return Ok(());
        }
        Err(format!(
            "this {what} was made in process {}, and this process ({}) was forked from it \
             afterwards: its connections belong to that process. Make a new {what} here \
             (or use multiprocessing's 'spawn' or 'forkserver' start method)",
            self.pid,
            std::process::id()
        ))
    }

    /// [`Self::check`] as a Python `RuntimeError`.
    pub(crate) fn check_py(&self, what: &str) -> PyResult<()> {
        self.check(what).map_err(PyRuntimeError::new_err)
    }
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
    let task = handle()?.spawn(async move {
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
