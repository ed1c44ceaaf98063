//! How to run an emulator: where it listens and keeps data, its keys, labeler, timings
//! and profile.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::labeler;
use crate::network::Network;
use crate::profile::Profile;

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
    /// Simulated latency, page cap and rate limit (none by default).
    pub network: Network,
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
            network: Network::default(),
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

    /// Simulates a remote server: latency, a page cap, a rate limit (see [`Network`]).
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Answers as `profile` says (see [`Profile`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }
}
