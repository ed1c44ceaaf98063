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

pub mod error;
pub mod ingest;
pub mod labeler;
pub mod profile;
pub mod query;
pub mod runner;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::profile::{Profile, UnknownProfile};
pub use crate::server::admin::{Fault, LoggedRequest, StatsView};
use crate::server::{IngestSource, Shared};
use crate::store::Store;

/// The API key the emulator accepts when none is configured.
pub const DEFAULT_API_KEY: &str = "refuel-emulator-key";

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen (default `127.0.0.1:0`, an ephemeral port).
    pub listen: SocketAddr,
    /// Where to keep data; in memory when `None`.
    pub data_dir: Option<PathBuf>,
    /// The accepted API keys, one team each; [`DEFAULT_API_KEY`] when empty.
    pub api_keys: Vec<String>,
    /// What labels task runs and applications (the reference labeler by default).
    pub labeler: LabelerConfig,
    /// Timings of simulated work.
    pub settings: Settings,
    /// Which answers to give where the public contract leaves room (default: the
    /// documented behaviour).
    pub profile: Profile,
}

/// Which labeler the emulator uses.
#[derive(Debug, Clone, Default)]
pub enum LabelerConfig {
    /// The offline, deterministic [`labeler::ReferenceLabeler`].
    #[default]
    Reference,
    /// An OpenAI-compatible chat-completions server.
    OpenAi(labeler::OpenAiConfig),
}

/// Timings of simulated work.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long each finetuning stage lasts (default 10 s).
    pub finetune_stage: Duration,
    /// How long an export's download URL stays valid (default 24 h).
    pub export_url_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            finetune_stage: Duration::from_secs(10),
            export_url_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            api_keys: Vec::new(),
            labeler: LabelerConfig::default(),
            settings: Settings::default(),
            profile: Profile::Default,
        }
    }
}

impl EmulatorConfig {
    /// In memory, on an ephemeral loopback port.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an API key (a team).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_keys.push(key.into());
        self
    }

    /// Keeps data in `dir`.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets the timings of simulated work.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Uses this labeler.
    pub fn labeler(mut self, labeler: LabelerConfig) -> Self {
        self.labeler = labeler;
        self
    }

    /// Listens on `addr`.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Answers as `profile` says (see [`Profile`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }
}

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
        let keys = if config.api_keys.is_empty() {
            vec![DEFAULT_API_KEY.to_string()]
        } else {
            config.api_keys.clone()
        };
        let teams = keys
            .iter()
            .map(|k| (k.clone(), server::auth::team_id(k)))
            .collect();
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()?;
        let state = Arc::new(Shared {
            store: Arc::new(store),
            teams,
            stats: Default::default(),
            faults: Default::default(),
            cache: Default::default(),
            http,
            labeler: match &config.labeler {
                LabelerConfig::Reference => Arc::new(labeler::ReferenceLabeler),
                LabelerConfig::OpenAi(c) => {
                    Arc::new(labeler::OpenAiLabeler::new(c.clone()).map_err(anyhow::Error::msg)?)
                }
            },
            pending_labels: Default::default(),
            settings: config.settings,
            profile: config.profile,
            stopping: Default::default(),
            background: Default::default(),
        });
        for run in pending.runs {
            tracing::info!(run = %run.rec.lock().id, "resuming an interrupted run");
            runner::spawn_run(state.clone(), run);
        }
        for p in pending.ingests {
            let source = match (p.source_file, p.source_path) {
                (Some(file), _) => IngestSource::File(file),
                (None, Some(url)) => IngestSource::Url(url),
                (None, None) => {
                    let _ = state.store.fail_ingest(
                        &p.dataset_id,
                        "the upload was interrupted by a restart before it was kept",
                    );
                    continue;
                }
            };
            tracing::info!(dataset = %p.dataset_id, "resuming an interrupted ingest");
            server::spawn_ingest(state.clone(), p.dataset_id, source);
        }
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

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    state: server::AppState,
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
