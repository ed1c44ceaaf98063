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
//! says so and what to do, instead of waiting forever ([`not_forked`]); objects inherited
//! from the parent are kept rather than dropped there ([`keep_if_forked`]). A process whose
//! parent never ran the module uses it freely.

use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

/// The runtime and the process that started it.
struct Started {
    pid: u32,
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
                    pid: std::process::id(),
                    runtime,
                })
                .map_err(|e| format!("cannot start the tokio runtime of refuel_datafusion: {e}"))
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(e.clone()))?;
    not_forked().map_err(PyRuntimeError::new_err)?;
    Ok(started.runtime.handle().clone())
}

/// Fails, saying why and what to do, in a process forked after the runtime started in its
/// parent. Every object of the module is made through the runtime, so this is also the
/// check for objects inherited from the parent.
pub(crate) fn not_forked() -> Result<(), String> {
    let here = std::process::id();
    match RUNTIME.get() {
        Some(Ok(started)) if started.pid != here => Err(format!(
            "refuel_datafusion ran in process {}, and this process ({here}) was forked from \
             it afterwards: it cannot run here (its threads stayed in the parent, and \
             starting them again after a fork is not safe). Use multiprocessing's 'spawn' or \
             'forkserver' start method, or use refuel_datafusion in the parent only after \
             forking",
            started.pid
        )),
        _ => Ok(()),
    }
}

/// Keeps `shared` alive for good in a forked process ([`not_forked`] fails): dropping an
/// object inherited from the parent would reach into the parent's runtime (waking its
/// tasks, taking its locks), whose threads are not in this process.
pub(crate) fn keep_if_forked<T: ?Sized>(shared: &Arc<T>) {
    if not_forked().is_err() {
        std::mem::forget(Arc::clone(shared));
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
