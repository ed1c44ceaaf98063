//! Resource handlers, one module per resource.

pub mod applications;
pub mod datasets;
pub mod exports;
pub mod finetuning;
pub mod items;
pub mod projects;
mod resource;
pub mod runs;
pub mod tasks;
#[cfg(test)]
mod wire_tests;

use std::future::Future;

use crate::RefuelClient;
use crate::error::{Error, ResourceKind, Result};

/// Creates something with a non-idempotent call, safely: when the call fails in a way where
/// the server may have acted (a timeout, a 5xx, a dropped connection after sending), it
/// looks the resource up by name and returns it if it exists; only when it provably does not
/// is the call tried again. One call never makes two resources.
pub(crate) async fn create_once<T, C, CF, L, LF>(
    retries: u32,
    mut create: C,
    mut lookup: L,
) -> Result<T>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>>>,
{
    let mut attempt = 0;
    loop {
        match create().await {
            Ok(created) => return Ok(created),
            Err(err) if attempt < retries && may_have_acted(&err) => {
                tracing::warn!(error = %err, "create failed ambiguously; checking whether it took effect");
                if let Some(existing) = lookup().await? {
                    return Ok(existing);
                }
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Whether a failed request may still have taken effect on the server.
fn may_have_acted(err: &Error) -> bool {
    match err {
        Error::Transport { source, .. } => !source.is_connect() && !source.is_builder(),
        Error::Api { status, .. } => status.is_server_error(),
        _ => false,
    }
}

/// A 404 on a resource given by name or id becomes [`Error::NotFound`] naming it (and the
/// client's project, where project-scoped resources are looked for).
pub(crate) fn not_found(
    err: Error,
    kind: ResourceKind,
    name: &str,
    client: &RefuelClient,
) -> Error {
    if matches!(err, Error::Api { status, .. } if status == reqwest::StatusCode::NOT_FOUND) {
        Error::NotFound {
            kind,
            name: name.to_string(),
            scope: client.project().map(|p| format!("project '{p}'")),
        }
    } else {
        err
    }
}

/// Bytes outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value made safe to put in a URL path as one segment: every byte outside the
/// unreserved set is percent-encoded, so an id given by a caller can never reach another
/// endpoint (`../`, `?`, `#`).
pub(crate) fn segment(value: &str) -> String {
    match value {
        // `.` and `..` are unreserved but still mean something in a path.
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => percent_encoding::utf8_percent_encode(value, NOT_UNRESERVED).to_string(),
    }
}

/// A boolean query parameter as the Python SDK's `requests` writes a Python bool: `True` or
/// `False` (`str(bool)`).
pub(crate) fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Fails with [`Error::InvalidArgument`] when a required text argument is empty.
pub(crate) fn require(value: &str, what: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::InvalidArgument(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("abc-123_x.y~z"), "abc-123_x.y~z");
        assert_eq!(segment("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
