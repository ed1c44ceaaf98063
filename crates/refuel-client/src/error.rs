//! Typed errors with the context a user needs: what was being done, to which resource, and
//! what the server said. No error ever carries the API key or a URL's query string.

use std::time::Duration;

use reqwest::StatusCode;

/// The kinds of resources the API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A project.
    Project,
    /// A dataset.
    Dataset,
    /// A labeling task.
    Task,
    /// A deployed application.
    Application,
    /// A finetuned model.
    FinetunedModel,
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Project => "project",
            Self::Dataset => "dataset",
            Self::Task => "task",
            Self::Application => "application",
            Self::FinetunedModel => "finetuned model",
        })
    }
}

/// Everything that can go wrong in a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status.
    #[error("{context}: the server answered {status}: {message}")]
    Api {
        /// What was being done.
        context: String,
        /// The HTTP status.
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// A resource named by name or id does not exist (or belongs to another team).
    #[error("{kind} '{name}' not found{}", scope.as_ref().map(|s| format!(" in {s}")).unwrap_or_default())]
    NotFound {
        /// The kind of resource.
        kind: ResourceKind,
        /// The name or id that was asked for.
        name: String,
        /// Where it was looked for, e.g. `project 'demo'`.
        scope: Option<String>,
    },
    /// The request could not be sent or its response could not be read.
    #[error("{context}: {source}")]
    Transport {
        /// What was being done.
        context: String,
        /// The underlying failure (its URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// The response did not have the expected shape.
    #[error(
        "{context}: unexpected response at `{path}`: {message}; the body starts with: {excerpt}"
    )]
    Decode {
        /// What was being done.
        context: String,
        /// The JSON path of the failing field.
        path: String,
        /// The decoder's message.
        message: String,
        /// The first bytes of the body.
        excerpt: String,
    },
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The client's configuration is unusable.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A failure inside the client itself (a background task panicked or was cancelled).
    #[error("internal error: {0}")]
    Internal(String),
    /// An argument was invalid before anything was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The server reported that a dataset's ingest failed.
    #[error("ingest of dataset '{dataset}' failed: {message}")]
    IngestFailed {
        /// The dataset's name or id.
        dataset: String,
        /// The server's reason.
        message: String,
    },
    /// A task run ended without completing: it failed or was cancelled.
    #[error("the run of task '{task}' on dataset '{dataset}' ended as {status}: {message}")]
    RunEnded {
        /// The task's name or id, as given.
        task: String,
        /// The dataset's name or id, as given.
        dataset: String,
        /// How it ended (`failed` or `cancelled`).
        status: crate::models::RunStatus,
        /// The server's reason, or a description of the status.
        message: String,
    },
    /// Waiting for something took longer than allowed.
    #[error("{what} did not finish within {timeout:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The limit.
        timeout: Duration,
    },
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Transport { source, .. } => source.status(),
            Self::NotFound { .. } => Some(StatusCode::NOT_FOUND),
            _ => None,
        }
    }

    /// Whether the error says the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    pub(crate) fn transport(context: impl Into<String>, source: reqwest::Error) -> Self {
        Self::Transport {
            context: context.into(),
            source: source.without_url(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A URL made safe to print: its query string (where presigned URLs keep their signatures)
/// and any user info are replaced.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            if url.query().is_some() {
                url.set_query(Some("<redacted>"));
            }
            url.to_string()
        }
        Err(_) => match raw.split_once('?') {
            Some((base, _)) => format!("{base}?<redacted>"),
            None => raw.to_string(),
        },
    }
}
