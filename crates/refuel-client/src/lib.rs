//! A typed async client for the Refuel API.
//!
//! ```no_run
//! # async fn demo() -> refuel_client::Result<()> {
//! use refuel_client::{ClientConfig, RefuelClient};
//! use refuel_client::models::{Filter, FilterOp, ItemQuery, OrderBy};
//!
//! // REFUEL_API_KEY, REFUEL_API_URL and REFUEL_PROJECT are read from the environment.
//! let client = RefuelClient::new(ClientConfig::from_env()?)?;
//! let rows = client
//!     .items()
//!     .query(
//!         "reviews",
//!         &ItemQuery::new()
//!             .filter(Filter::column("stars", FilterOp::GtEq, 4))
//!             .order_by(OrderBy::desc("stars"))
//!             .max_items(10),
//!     )
//!     .await?;
//! println!("{} rows", rows.len());
//! # Ok(()) }
//! ```
//!
//! Handlers hang off the client: [`RefuelClient::projects`], [`RefuelClient::datasets`],
//! [`RefuelClient::items`], [`RefuelClient::tasks`], [`RefuelClient::runs`],
//! [`RefuelClient::applications`], [`RefuelClient::exports`], [`RefuelClient::finetuning`].
//! Every resource can be named by name or UUID; names are resolved
//! by listing and cached. Idempotent calls are retried with backoff and jitter; appends and
//! uploads never are blindly (see [`retry::Idempotency`]).

pub mod api;
pub mod config;
pub mod error;
pub mod limiter;
pub mod models;
mod resolve;
pub mod retry;
pub mod semantics;
#[cfg(test)]
mod testing;
mod transport;
pub mod window;

use std::sync::Arc;

pub use api::applications::{Applications, LabelOptions};
pub use api::datasets::{Datasets, WaitOptions};
pub use api::exports::Exports;
pub use api::finetuning::Finetuning;
pub use api::items::{Items, Page};
pub use api::projects::Projects;
pub use api::runs::{RunProgress, Runs};
pub use api::tasks::{TaskField, Tasks, task_settings};
pub use config::{ApiKey, ClientConfig};
pub use error::{Error, ResourceKind, Result, redact_url};
pub use limiter::{LimiterStats, RequestLimiter};
pub use resolve::is_uuid;
pub use semantics::ServerSemantics;

use crate::resolve::NameCache;
use crate::transport::Transport;

/// A Refuel API client. Cheap to clone; clones share the connection pool and name cache.
#[derive(Debug, Clone)]
pub struct RefuelClient {
    inner: Arc<Inner>,
    project: Option<String>,
}

#[derive(Debug)]
struct Inner {
    transport: Transport,
    names: NameCache,
    config: ClientConfig,
}

impl RefuelClient {
    /// Builds a client; fails when the configuration has no API key.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let transport = Transport::new(&config)?;
        let project = config.project.clone();
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                names: NameCache::default(),
                config,
            }),
            project,
        })
    }

    /// A client configured from `REFUEL_API_KEY`, `REFUEL_API_URL` and `REFUEL_PROJECT`.
    pub fn from_env() -> Result<Self> {
        Self::new(ClientConfig::from_env()?)
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The limiter every API request of this client (and its clones) passes: how many
    /// requests are in flight, how far it has grown, what the server throttled.
    pub fn limiter(&self) -> &RequestLimiter {
        self.inner.transport.limiter()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &url::Url {
        self.inner.transport.base_url()
    }

    /// The current project (name or id), if one is set.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// A client for another project (name or id), sharing this one's connections and cache.
    pub fn with_project(&self, project: impl Into<String>) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            project: Some(project.into()),
        }
    }

    /// Projects of the team.
    pub fn projects(&self) -> Projects<'_> {
        Projects::new(self)
    }

    /// Datasets of the current project.
    pub fn datasets(&self) -> Datasets<'_> {
        Datasets::new(self)
    }

    /// Rows of the current project's datasets.
    pub fn items(&self) -> Items<'_> {
        Items::new(self)
    }

    /// Labeling tasks of the current project.
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks::new(self)
    }

    /// Task runs (batch labeling) of the current project.
    pub fn runs(&self) -> Runs<'_> {
        Runs::new(self)
    }

    /// Applications (online labeling) of the current project.
    pub fn applications(&self) -> Applications<'_> {
        Applications::new(self)
    }

    /// Dataset exports of the current project.
    pub fn exports(&self) -> Exports<'_> {
        Exports::new(self)
    }

    /// Finetuned models of the current project.
    pub fn finetuning(&self) -> Finetuning<'_> {
        Finetuning::new(self)
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    pub(crate) fn names(&self) -> &NameCache {
        &self.inner.names
    }

    /// The id of the current project, resolving its name when needed.
    pub async fn project_id(&self) -> Result<String> {
        let project = self.project.as_deref().ok_or_else(|| {
            Error::Config(format!(
                "no project set: pass one or set {}",
                config::ENV_PROJECT
            ))
        })?;
        // Boxed: resolving a project-scoped name resolves the project first, through the
        // same generic code, so the future would otherwise contain itself.
        Box::pin(self.projects().id(project)).await
    }
}
