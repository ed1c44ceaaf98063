//! What can go wrong in the store, by meaning; `server::error` turns it into an HTTP answer.

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// No such resource for this team.
    #[error("{kind} '{id}' not found")]
    NotFound {
        /// What was looked for (`project`, `dataset`, ...).
        kind: String,
        /// The id it was looked for by.
        id: String,
    },
    /// The operation conflicts with the current state (a duplicate name, a run under way).
    #[error("{0}")]
    Conflict(String),
    /// The data given breaks a rule of the store (an empty name, a row that does not fit the
    /// dataset's schema).
    #[error("{0}")]
    Invalid(String),
    /// Writing to disk failed.
    #[error("could not persist {what}: {source}")]
    Io {
        /// What was being written.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The store itself failed (a record that would not serialize, a storage task that did
    /// not finish).
    #[error("{0}")]
    Internal(String),
}

/// The result of store operations.
pub(crate) type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// No `kind` named `id`.
    pub(crate) fn not_found(kind: &str, id: &str) -> Self {
        Self::NotFound {
            kind: kind.to_string(),
            id: id.to_string(),
        }
    }

    /// A conflict with the current state.
    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }

    /// Data that breaks a rule.
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid(detail.into())
    }

    /// The store itself failed.
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        Self::Internal(detail.into())
    }

    /// Persisting `what` failed.
    pub(crate) fn storage(what: &'static str, source: std::io::Error) -> Self {
        Self::Io { what, source }
    }
}
