//! One DataFusion session per caller: opened with the caller's API key by a
//! [`SessionFactory`], found again by session token or by (a digest of) the key, and
//! dropped after it sat idle for the configured time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use refuel_client::ApiKey;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::statements::Statements;

/// Opens the session of a caller: the `refuel` catalog with the caller's key, the caller's
/// project current when it names one (the shell's session, in `refuel-sql serve`).
#[async_trait]
pub trait SessionFactory: Send + Sync + 'static {
    /// A session for the holder of `key`, with `project` current when given. A key the API
    /// refuses is [`OpenError::Unauthenticated`].
    async fn open(&self, key: ApiKey, project: Option<String>)
    -> Result<SessionContext, OpenError>;
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The API refused the key.
    #[error("the Refuel API refused the API key: {0}")]
    Unauthenticated(String),
    /// The request names something that does not exist (a project).
    #[error("{0}")]
    InvalidArgument(String),
    /// The API could not be reached or failed.
    #[error("cannot open a Refuel session: {0}")]
    Unavailable(String),
}

impl From<OpenError> for Status {
    fn from(e: OpenError) -> Self {
        match &e {
            OpenError::Unauthenticated(_) => Status::unauthenticated(e.to_string()),
            OpenError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
            OpenError::Unavailable(_) => Status::unavailable(e.to_string()),
        }
    }
}

/// A caller's session.
pub(crate) struct Session {
    /// The DataFusion session, built on the caller's key.
    pub(crate) ctx: SessionContext,
    /// Queries planned and prepared statements of this session.
    pub(crate) statements: Statements,
    /// The key it was opened with (its client holds it too), so that a caller holding a
    /// token can name another project.
    pub(crate) key: ApiKey,
    /// The project it was opened in.
    pub(crate) project: Option<String>,
    last_used: Mutex<Instant>,
}

impl Session {
    fn new(ctx: SessionContext, key: ApiKey, project: Option<String>) -> Self {
        Self {
            ctx,
            statements: Statements::default(),
            key,
            project,
            last_used: Mutex::new(Instant::now()),
        }
    }

    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        lock(&self.last_used).elapsed()
    }
}

/// The digest a session opened with a key is found again by: the key itself is kept only
/// inside the session's client.
type KeyDigest = [u8; 32];

fn digest(key: &ApiKey, project: Option<&str>) -> KeyDigest {
    let mut hasher = Sha256::new();
    hasher.update(key.expose().as_bytes());
    hasher.update([0u8]);
    if let Some(project) = project {
        hasher.update([1u8]);
        hasher.update(project.as_bytes());
    }
    hasher.finalize().into()
}

/// Every open session.
pub(crate) struct Sessions {
    factory: Arc<dyn SessionFactory>,
    idle_timeout: Duration,
    by_token: Mutex<HashMap<String, Arc<Session>>>,
    by_key: Mutex<HashMap<KeyDigest, Arc<Session>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    pub(crate) fn new(factory: Arc<dyn SessionFactory>, idle_timeout: Duration) -> Self {
        Self {
            factory,
            idle_timeout,
            by_token: Mutex::default(),
            by_key: Mutex::default(),
        }
    }

    /// The session of `key` (and `project`), opened now if there is none.
    pub(crate) async fn for_key(
        &self,
        key: ApiKey,
        project: Option<String>,
    ) -> Result<Arc<Session>, Status> {
        let digest = digest(&key, project.as_deref());
        if let Some(session) = lock(&self.by_key).get(&digest) {
            session.touch();
            return Ok(Arc::clone(session));
        }
        let ctx = self.factory.open(key.clone(), project.clone()).await?;
        tracing::info!(project = ?project, "session opened");
        let session = Arc::new(Session::new(ctx, key, project));
        // Two first calls at once may both open one; the first stored is kept.
        let mut by_key = lock(&self.by_key);
        Ok(Arc::clone(by_key.entry(digest).or_insert(session)))
    }

    /// The session `token` was given for.
    pub(crate) fn for_token(&self, token: &str) -> Result<Arc<Session>, Status> {
        match lock(&self.by_token).get(token) {
            Some(session) => {
                session.touch();
                Ok(Arc::clone(session))
            }
            None => Err(Status::unauthenticated(
                "unknown or expired session token: authenticate again",
            )),
        }
    }

    /// A new token for `session`.
    pub(crate) fn issue_token(&self, session: Arc<Session>) -> String {
        let token = crate::auth::new_token();
        lock(&self.by_token).insert(token.clone(), session);
        token
    }

    /// Drops the sessions idle for longer than the timeout; returns how many went.
    pub(crate) fn sweep(&self) -> usize {
        let idle = self.idle_timeout;
        let mut dropped = 0;
        {
            let mut by_token = lock(&self.by_token);
            let before = by_token.len();
            by_token.retain(|_, s| s.idle_for() <= idle);
            dropped += before - by_token.len();
        }
        let mut by_key = lock(&self.by_key);
        let before = by_key.len();
        by_key.retain(|_, s| s.idle_for() <= idle);
        dropped += before - by_key.len();
        if dropped > 0 {
            tracing::info!(dropped, "idle sessions dropped");
        }
        dropped
    }

    /// How often [`Sessions::sweep`] should run.
    pub(crate) fn sweep_every(&self) -> Duration {
        (self.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30))
    }
}
