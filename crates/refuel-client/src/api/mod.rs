//! Resource handlers, one module per resource.

pub mod datasets;
pub mod items;
pub mod projects;

use std::future::Future;

use crate::error::{Error, Result};

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
