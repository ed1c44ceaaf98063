//! A local, durable, Refuel-compatible API server.
//!
//! It serves the wire contract of the Refuel API (projects, datasets, rows with filters and
//! orders) so that the client, the SQL tables, the shell, the tests and the official Python
//! SDK can all run without the cloud. Each API key is a team that sees only its own
//! projects. With a data directory every acknowledged write survives a restart or a
//! `kill -9`. See the crate's README for every behaviour the public contract leaves open.
//! A [`Profile`] ([`EmulatorConfig::profile`], `--profile`) answers in the official
//! TypeScript SDK's declared shapes (`cloud-shapes`) or flips those open behaviours
//! (`flipped`), so that tests can disagree with a client's assumptions.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use refuel_emulator::{Emulator, EmulatorConfig};
//!
//! let emulator = Emulator::start(EmulatorConfig::new().api_key("test-key")).await?;
//! println!("listening on {}", emulator.url());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod ingest;
pub mod labeler;
mod model;
mod network;
mod profile;
mod query;
mod runner;
mod server;
mod state;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::config::{DEFAULT_API_KEY, EmulatorConfig, LabelerConfig, Settings};
use crate::ingest::IngestSource;
pub use crate::model::Cell;
pub use crate::profile::{Profile, UnknownProfile};
use crate::state::{AppState, Shared};
pub use crate::state::{Fault, LoggedRequest, Network, StatsView};
use crate::store::{Pending, Store};

/// Starts emulators.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Opens the data, binds the address and serves in the background of the current tokio
    /// runtime. Ingests interrupted by a previous stop are started again.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<EmulatorHandle> {
        let data_dir = config.data_dir.clone();
        let (store, pending) =
            tokio::task::spawn_blocking(move || Store::open(data_dir.as_deref())).await??;
        let state = Arc::new(Shared::new(&config, store)?);
        resume(&state, pending).await;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = server::router(state.clone());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the server stopped");
            }
        });
        Ok(EmulatorHandle {
            addr,
            url: format!("http://{addr}"),
            stop: Some(tx),
            task: Some(task),
            state,
        })
    }
}

/// Starts again the runs and ingests a previous process left under way.
async fn resume(state: &AppState, pending: Pending) {
    for run in pending.runs {
        tracing::info!(run = %run.rec.lock().id, "resuming an interrupted run");
        runner::spawn_run(state.clone(), run);
    }
    for p in pending.ingests {
        let source = match (p.source_file, p.source_path) {
            (Some(file), _) => IngestSource::File(file),
            (None, Some(url)) => IngestSource::Url(url),
            (None, None) => {
                let id = p.dataset_id;
                let _ = state::blocking(state, move |store| {
                    store.fail_ingest(
                        &id,
                        "the upload was interrupted by a restart before it was kept",
                    )
                })
                .await;
                continue;
            }
        };
        tracing::info!(dataset = %p.dataset_id, "resuming an interrupted ingest");
        ingest::spawn(state.clone(), p.dataset_id, source);
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    state: AppState,
}

impl EmulatorHandle {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The profile it answers with.
    pub fn profile(&self) -> Profile {
        self.state.profile
    }

    /// The simulated network conditions now in force.
    pub fn network(&self) -> Network {
        *self.state.network.read()
    }

    /// Changes the simulated network conditions; requests that arrive from now on see them.
    pub fn set_network(&self, network: Network) {
        *self.state.network.write() = network;
    }

    /// The requests served since the start or the last [`Self::reset_requests`], oldest
    /// first (what `GET /_emulator/requests` answers).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.stats.requests()
    }

    /// Empties the request log and zeroes the counters (`POST /_emulator/stats/reset`).
    pub fn reset_requests(&self) {
        self.state.stats.reset();
    }

    /// The team id of an API key, if the emulator accepts the key.
    pub fn team_of(&self, key: &str) -> Option<&str> {
        self.state.teams.get(key).map(String::as_str)
    }

    /// Stops accepting connections, finishes requests in flight, and returns.
    pub async fn shutdown(mut self) {
        self.state
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let background: Vec<_> = std::mem::take(&mut *self.state.background.lock());
        for task in background {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.state
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
