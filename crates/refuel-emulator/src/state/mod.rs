//! What the server, the runner and the ingests share: the store, the teams, the labeler,
//! counters, and the background work a shutdown waits for.

mod faults;
mod network;
mod stats;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::{Mutex, RwLock};
use tokio::task::JoinHandle;

pub use self::faults::Fault;
pub(crate) use self::faults::Faults;
pub(crate) use self::network::RateLimits;
pub(crate) use self::stats::Stats;
pub use self::stats::{LoggedRequest, StatsView};
use crate::config::{DEFAULT_API_KEY, EmulatorConfig, LabelerConfig, Settings};
use crate::labeler::{self, Labeler};
pub use crate::network::Network;
use crate::profile::Profile;
use crate::query::QueryCache;
use crate::store::{Store, StoreError, StoreResult};

/// Everything handlers and background work share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The data.
    pub(crate) store: Arc<Store>,
    /// API key → team id.
    pub(crate) teams: HashMap<String, String>,
    /// Request statistics.
    pub(crate) stats: Stats,
    /// Injected faults.
    pub(crate) faults: Faults,
    /// Query selections.
    pub(crate) cache: QueryCache,
    /// For `source=uri` downloads.
    pub(crate) http: reqwest::Client,
    /// Produces labels.
    pub(crate) labeler: Arc<dyn Labeler>,
    /// Async labels not yet done, by item id.
    pub(crate) pending_labels: Mutex<HashSet<String>>,
    /// Timings.
    pub(crate) settings: Settings,
    /// Which answers to give where the contract leaves room.
    pub(crate) profile: Profile,
    /// Simulated network and quota conditions; changeable while running.
    pub(crate) network: RwLock<Network>,
    /// The rate limiters of the API keys (with [`Network::rate_limit`]).
    pub(crate) rate_limits: RateLimits,
    /// Set when the server stops: background work ends at its next step.
    pub(crate) stopping: AtomicBool,
    /// Background work (ingests, runs, async labels), awaited on shutdown.
    pub(crate) background: Mutex<Vec<JoinHandle<()>>>,
}

/// The state handlers receive.
pub(crate) type AppState = Arc<Shared>;

impl Shared {
    /// The shared state of an emulator configured by `config` over `store`.
    pub(crate) fn new(config: &EmulatorConfig, store: Store) -> anyhow::Result<Self> {
        let keys = if config.api_keys.is_empty() {
            vec![DEFAULT_API_KEY.to_string()]
        } else {
            config.api_keys.clone()
        };
        let teams = keys.iter().map(|k| (k.clone(), team_id(k))).collect();
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()?;
        let labeler: Arc<dyn Labeler> = match &config.labeler {
            LabelerConfig::Reference => Arc::new(labeler::ReferenceLabeler),
            LabelerConfig::OpenAi(c) => {
                Arc::new(labeler::OpenAiLabeler::new(c.clone()).map_err(anyhow::Error::msg)?)
            }
        };
        Ok(Self {
            store: Arc::new(store),
            teams,
            stats: Stats::default(),
            faults: Faults::default(),
            cache: QueryCache::default(),
            http,
            labeler,
            pending_labels: Mutex::default(),
            settings: config.settings,
            profile: config.profile,
            network: RwLock::new(config.network),
            rate_limits: RateLimits::default(),
            stopping: AtomicBool::default(),
            background: Mutex::default(),
        })
    }

    /// Runs `work` in the background; a shutdown waits for it.
    pub(crate) fn spawn_background(&self, work: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(work);
        let mut tasks = self.background.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    /// The most rows one page answers: the simulated network's cap, else the profile's.
    pub(crate) fn page_cap(&self) -> usize {
        self.network
            .read()
            .max_page_rows
            .unwrap_or_else(|| self.profile.page_cap())
            .max(1)
    }
}

/// Runs store work that writes (and syncs) files on a blocking thread, off the async
/// runtime. Every write to the store from async code goes through here.
pub(crate) async fn blocking<T, F>(state: &Shared, work: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> StoreResult<T> + Send + 'static,
{
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| StoreError::internal(format!("a storage task failed: {e}")))?
}

/// A team's id: derived from its key by SHA-256, so that it is stable across restarts and
/// the key itself is never stored.
pub(crate) fn team_id(key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("refuel-emulator-team:{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
