//! The module's tokio runtime, and the process it belongs to.
//!
//! This library carries its own copy of tokio: the runtime of the Python process's
//! `datafusion` (another copy) is invisible to it. Every future of this crate runs on one
//! multi-thread runtime made on first use; calls from Python wait for it with the GIL
//! released, and look for signals (Ctrl-C) every [`SIGNAL_CHECK`]: an interrupt cancels the
//! task and raises `KeyboardInterrupt`.
//!
//! A process forked from one whose runtime had started (`multiprocessing`'s "fork") cannot
//! use the module: the runtime's threads stayed in the parent, and starting new ones there
//! is not safe (the parent's threads may have held process-wide locks, e.g. parking_lot's,
//! at the fork: the child has crashed on them). Every call there fails with an error that
//! says so and what to do, instead of waiting forever; objects made before the fork carry
//! their [`Origin`], refuse to run, and are kept rather than dropped in the child
//! ([`Origin::keep_if_forked`]). A process whose parent never ran the module uses it freely.

use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

/// The runtime and the process that started it.
struct Started {
    origin: Origin,
    runtime: Runtime,
}

static RUNTIME: OnceLock<Result<Started, String>> = OnceLock::new();

/// The runtime's handle (the runtime is made on first use); an error in a process forked
/// after it started.
pub(crate) fn handle() -> PyResult<Handle> {
    let started = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name("refuel-datafusion")
                .enable_all()
                .build()
                .map(|runtime| Started {
                    origin: Origin::here(),
                    runtime,
                })
                .map_err(|e| format!("cannot start the tokio runtime of refuel_datafusion: {e}"))
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(e.clone()))?;
    started.origin.check_py("refuel_datafusion runtime")?;
    Ok(started.runtime.handle().clone())
}

/// The process an object holding connections (a client's pool, a server) or the runtime
/// was made in.
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

    /// Fails, saying why and what to do, in a process forked from the one that made `what`.
    pub(crate) fn check(&self, what: &str) -> Result<(), String> {
        if self.is_here() {
            return Ok(());
        }
        Err(format!(
            "this {what} was made in process {}, and this process ({}) was forked from it \
             afterwards: refuel_datafusion cannot run in a process forked after it ran in \
             the parent (its threads stayed there). Use multiprocessing's 'spawn' or \
             'forkserver' start method, or use refuel_datafusion in the parent only after \
             forking",
            self.pid,
            std::process::id()
        ))
    }

    /// [`Self::check`] as a Python `RuntimeError`.
    pub(crate) fn check_py(&self, what: &str) -> PyResult<()> {
        self.check(what).map_err(PyRuntimeError::new_err)
    }

    /// Keeps `shared` alive for good when this is not the process it names: dropping it
    /// there would reach into the parent's runtime (waking its tasks, taking its locks),
    /// whose threads are not in this process.
    pub(crate) fn keep_if_forked<T: ?Sized>(&self, shared: &Arc<T>) {
        if !self.is_here() {
            std::mem::forget(Arc::clone(shared));
        }
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
