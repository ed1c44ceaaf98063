//! Typed errors that name the object, the store and the step that failed, and say what
//! became of the staged objects. No error carries a signature, a key or a URL's query
//! string: messages from the stores are redacted before they are kept.

use std::fmt;

use refuel_client::redact_url;

/// The steps of a hand-off, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Writing (or transcoding) the staged object into the object store, or reading the
    /// object to hand off.
    Stage,
    /// Making a presigned URL for the staged object.
    Sign,
    /// Creating the dataset: registering the URL (`source=uri`) or uploading the file.
    Register,
    /// Waiting for the server to ingest the dataset.
    Ingest,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stage => "stage",
            Self::Sign => "sign",
            Self::Register => "register",
            Self::Ingest => "ingest",
        })
    }
}

/// What went wrong, by meaning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A location could not be understood (bad URL, unknown scheme, bad option).
    #[error("invalid location: {0}")]
    InvalidLocation(String),
    /// The object store failed; the message is the store's, redacted.
    #[error("{kind}: {message}")]
    Store {
        /// The store's error class.
        kind: StoreErrorKind,
        /// The store's message, with URL query strings removed.
        message: String,
    },
    /// A cloud store has no credential source configured.
    #[error("no credentials for {store}: {hint}")]
    NoCredentials {
        /// The store, e.g. `s3 bucket 'lake'`.
        store: String,
        /// What to set.
        hint: &'static str,
    },
    /// An option was unknown or its value invalid.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The Refuel API failed (its errors never carry the API key or URL query strings).
    #[error(transparent)]
    Api(#[from] refuel_client::Error),
    /// The batches could not be encoded, or the staged file could not be decoded.
    #[error("{0}")]
    Encode(String),
    /// A batch did not have the schema the writer was opened with.
    #[error("schema mismatch: {0}")]
    Schema(String),
    /// The input stream of batches failed.
    #[error("the input failed: {0}")]
    Input(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// A dataset of that name already exists in the project.
    #[error("a dataset named '{0}' already exists in the project")]
    DatasetExists(String),
    /// The server ingested a different number of rows than were written.
    #[error("the server ingested {ingested} rows, {written} were written")]
    RowCount {
        /// Rows written by the sink.
        written: u64,
        /// Rows the server reports.
        ingested: u64,
    },
    /// The writer was used after it finished or failed.
    #[error("the writer is closed")]
    Closed,
}

/// The classes of object-store failures (as `object_store::Error`'s variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The object does not exist.
    NotFound,
    /// The credentials may not do this.
    PermissionDenied,
    /// No or invalid credentials.
    Unauthenticated,
    /// A precondition or an existing object prevented the write.
    Precondition,
    /// The store does not support the operation.
    NotSupported,
    /// The configuration is incomplete or invalid (e.g. a missing bucket or key).
    Config,
    /// Anything else (network, server).
    Other,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "not found",
            Self::PermissionDenied => "permission denied",
            Self::Unauthenticated => "unauthenticated",
            Self::Precondition => "precondition failed",
            Self::NotSupported => "not supported",
            Self::Config => "invalid store configuration",
            Self::Other => "store error",
        })
    }
}

impl ErrorKind {
    /// An object-store failure, classified and redacted.
    pub fn store(err: &object_store::Error) -> Self {
        use object_store::Error as E;
        let kind = match err {
            E::NotFound { .. } => StoreErrorKind::NotFound,
            E::PermissionDenied { .. } => StoreErrorKind::PermissionDenied,
            E::Unauthenticated { .. } => StoreErrorKind::Unauthenticated,
            E::Precondition { .. } | E::AlreadyExists { .. } | E::NotModified { .. } => {
                StoreErrorKind::Precondition
            }
            E::NotSupported { .. } | E::NotImplemented { .. } => StoreErrorKind::NotSupported,
            E::UnknownConfigurationKey { .. } | E::InvalidPath { .. } => StoreErrorKind::Config,
            _ => StoreErrorKind::Other,
        };
        Self::Store {
            kind,
            message: redact_text(&err.to_string()),
        }
    }
}

/// What became of the objects a failed call staged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cleanup {
    /// Nothing was staged (or the object was the caller's own, which is never touched).
    #[default]
    NothingStaged,
    /// The staged objects were removed.
    Removed(Vec<String>),
    /// The staged objects were kept (asked for, or the server may still read them): they
    /// can be handed off again with [`crate::register_object`].
    Kept(Vec<String>),
    /// Removing them failed: they are still there.
    RemoveFailed {
        /// The objects left behind.
        objects: Vec<String>,
        /// Why they could not be removed (redacted).
        message: String,
    },
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NothingStaged => Ok(()),
            Self::Removed(objects) => write!(f, "; staged {} removed", objects.join(", ")),
            Self::Kept(objects) => write!(f, "; staged {} kept", objects.join(", ")),
            Self::RemoveFailed { objects, message } => write!(
                f,
                "; staged {} could NOT be removed ({message})",
                objects.join(", ")
            ),
        }
    }
}

/// A failed sink call: the step, the object (`s3://bucket/key`, a file path, or a redacted
/// URL), the store, what went wrong, and what became of staged objects.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0)]
pub struct SinkError(Box<Details>);

#[derive(Debug, thiserror::Error)]
#[error("{step} {object} ({store}): {kind}{cleanup}{}", dataset.as_ref().map(|d| format!("; dataset {d}")).unwrap_or_default())]
struct Details {
    step: Step,
    object: String,
    store: String,
    #[source]
    kind: ErrorKind,
    cleanup: Cleanup,
    dataset: Option<String>,
}

impl SinkError {
    /// An error of `step` on `object` in `store`.
    pub fn new(
        step: Step,
        object: impl Into<String>,
        store: impl Into<String>,
        kind: ErrorKind,
    ) -> Self {
        Self(Box::new(Details {
            step,
            object: object.into(),
            store: store.into(),
            kind,
            cleanup: Cleanup::NothingStaged,
            dataset: None,
        }))
    }

    /// Records what became of the staged objects.
    pub fn with_cleanup(mut self, cleanup: Cleanup) -> Self {
        self.0.cleanup = cleanup;
        self
    }

    /// Records the dataset created before the failure.
    pub fn with_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.0.dataset = Some(dataset.into());
        self
    }

    /// The step that failed.
    pub fn step(&self) -> Step {
        self.0.step
    }

    /// The object being handled, printable (no secrets).
    pub fn object(&self) -> &str {
        &self.0.object
    }

    /// The store, e.g. `s3 bucket 'exports'`, `local file system`, `Refuel`.
    pub fn store(&self) -> &str {
        &self.0.store
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// What became of the staged objects.
    pub fn cleanup(&self) -> &Cleanup {
        &self.0.cleanup
    }

    /// The dataset created before the failure (name and id), if any.
    pub fn dataset(&self) -> Option<&str> {
        self.0.dataset.as_deref()
    }
}

/// The result type of this crate.
pub type Result<T, E = SinkError> = std::result::Result<T, E>;

/// Text made safe to keep: every `http(s)://` URL in it loses its query string and user info.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_url(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .unwrap_or(tail.len());
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn find_url(text: &str) -> Option<usize> {
    match (text.find("http://"), text.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls_in_text() {
        let text = "Error performing GET http://127.0.0.1:9/b/k?X-Amz-Signature=abc&sig=s in 1s, \
                    then https://u:p@h/x?sv=1&sig=zzz: refused";
        let red = redact_text(text);
        assert!(!red.contains("abc") && !red.contains("zzz") && !red.contains("u:p"));
        assert!(red.contains("http://127.0.0.1:9/b/k?"), "{red}");
        assert!(red.contains(" in 1s, then https://h/x?"), "{red}");
        assert!(red.ends_with(" refused"), "{red}");
    }

    #[test]
    fn display_names_step_object_store_and_cleanup() {
        let err = SinkError::new(
            Step::Sign,
            "s3://b/k.parquet",
            "s3 bucket 'b'",
            ErrorKind::Store {
                kind: StoreErrorKind::Unauthenticated,
                message: "no credentials to sign with".into(),
            },
        )
        .with_cleanup(Cleanup::Removed(vec!["s3://b/k.parquet".into()]));
        assert_eq!(
            err.to_string(),
            "sign s3://b/k.parquet (s3 bucket 'b'): unauthenticated: no credentials to sign with; staged s3://b/k.parquet removed"
        );
    }
}
