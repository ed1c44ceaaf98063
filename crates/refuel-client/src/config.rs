//! Client configuration, from arguments or the environment.

use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};
use crate::semantics::{ENV_SERVER_SEMANTICS, ServerSemantics};

/// The default API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://cloud-api.refuel.ai";
/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "REFUEL_API_KEY";
/// Environment variable holding the API's base URL.
pub const ENV_API_URL: &str = "REFUEL_API_URL";
/// Environment variable holding the default project (name or id).
pub const ENV_PROJECT: &str = "REFUEL_PROJECT";

/// How many requests may be in flight at once when `max_workers` is not set: the
/// adaptive limiter starts at the number of CPUs and grows up to this while the server
/// keeps up (see [`crate::limiter`]).
pub const ADAPTIVE_MAX_WORKERS: usize = 32;

/// An API key. Its `Debug` and `Display` never show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How a client connects and behaves: the Python SDK's init options plus paging and retry
/// tuning.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API key (`REFUEL_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// The API's base URL (`REFUEL_API_URL`, default `https://cloud-api.refuel.ai`).
    pub base_url: Url,
    /// The default project, by name or id (`REFUEL_PROJECT`).
    pub project: Option<String>,
    /// The timeout of one HTTP request (default 60 s).
    pub timeout: Duration,
    /// How often a failed request is retried (default 3).
    pub max_retries: u32,
    /// How often a request answered `429 Too Many Requests` is retried, apart from
    /// `max_retries` (default 10): the server did nothing with it, so even writes are.
    /// With `max_retries` 0 nothing is retried.
    pub max_throttled_retries: u32,
    /// The requests in flight at once across everything the client does. Unset (the
    /// default), the client starts at the number of CPUs and adapts up to
    /// [`ADAPTIVE_MAX_WORKERS`]; set, it starts there and never goes above it.
    pub max_workers: Option<usize>,
    /// Rows per page when a query is fetched in pages (default 1000).
    pub page_size: u64,
    /// The first retry's delay before jitter; doubles with each retry (default 500 ms).
    pub retry_base_delay: Duration,
    /// The longest delay between two tries (default 10 s).
    pub retry_max_delay: Duration,
    /// What the server does where the contract leaves it open (`REFUEL_SERVER_SEMANTICS`,
    /// default [`ServerSemantics::conservative`]): decides what SQL pushes into the API.
    pub semantics: ServerSemantics,
    /// What the client adds to its `User-Agent` (`refuel-rs/<version> <this>`), to tell
    /// processes apart in a server's logs.
    pub user_agent: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL is a constant URL"),
            project: None,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            max_throttled_retries: 10,
            max_workers: None,
            page_size: 1000,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(10),
            semantics: ServerSemantics::conservative(),
            user_agent: None,
        }
    }
}

impl ClientConfig {
    /// Defaults, overridden by `REFUEL_API_KEY`, `REFUEL_API_URL`, `REFUEL_PROJECT` and
    /// `REFUEL_SERVER_SEMANTICS`.
    pub fn from_env() -> Result<Self> {
        let mut config = Self::default();
        if let Some(key) = env_var(ENV_API_KEY) {
            config.api_key = Some(ApiKey::new(key));
        }
        if let Some(url) = env_var(ENV_API_URL) {
            config = config.with_base_url(&url)?;
        }
        if let Some(project) = env_var(ENV_PROJECT) {
            config.project = Some(project);
        }
        if let Some(semantics) = env_var(ENV_SERVER_SEMANTICS) {
            config.semantics = semantics.parse()?;
        }
        Ok(config)
    }

    /// Sets the API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Sets the base URL.
    pub fn with_base_url(mut self, url: &str) -> Result<Self> {
        let parsed = Url::parse(url)
            .map_err(|e| Error::Config(format!("base URL '{url}' is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "base URL '{url}' must be http or https"
            )));
        }
        self.base_url = parsed;
        Ok(self)
    }

    /// Sets the default project (name or id).
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Sets the per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of retries.
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the most requests in flight at once (at least 1): a hard bound the adaptive
    /// limiter starts at and never exceeds.
    pub fn with_max_workers(mut self, workers: usize) -> Self {
        self.max_workers = Some(workers.max(1));
        self
    }

    /// Sets how often a request answered `429` is retried.
    pub fn with_max_throttled_retries(mut self, retries: u32) -> Self {
        self.max_throttled_retries = retries;
        self
    }

    /// The requests in flight the client starts with: `max_workers` when set, else the
    /// number of CPUs (within [`ADAPTIVE_MAX_WORKERS`]).
    pub fn initial_workers(&self) -> usize {
        self.max_workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(4, |n| n.get())
                .min(ADAPTIVE_MAX_WORKERS)
        })
    }

    /// The most requests ever in flight at once: `max_workers` when set, else
    /// [`ADAPTIVE_MAX_WORKERS`].
    pub fn workers_bound(&self) -> usize {
        self.max_workers.unwrap_or(ADAPTIVE_MAX_WORKERS).max(1)
    }

    /// Adds `agent` to the client's `User-Agent`.
    pub fn with_user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = Some(agent.into());
        self
    }

    /// Sets the page size of paged queries (at least 1).
    pub fn with_page_size(mut self, rows: u64) -> Self {
        self.page_size = rows.max(1);
        self
    }

    /// Declares what the server does where the contract leaves it open.
    pub fn with_semantics(mut self, semantics: ServerSemantics) -> Self {
        self.semantics = semantics;
        self
    }

    /// Rows per page requests ask for: the page size, within the server's declared page cap.
    pub fn page_rows(&self) -> u64 {
        self.semantics
            .max_page_rows
            .map_or(self.page_size, |cap| self.page_size.min(cap))
            .max(1)
    }

    /// Sets the retry delays: the first delay and the cap.
    pub fn with_retry_delays(mut self, base: Duration, max: Duration) -> Self {
        self.retry_base_delay = base;
        self.retry_max_delay = max.max(base);
        self
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
