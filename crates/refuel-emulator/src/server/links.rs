//! Links the emulator hands out, built from the address clients reached it at.

use axum::http::HeaderMap;

/// The base URL clients reached this server at.
pub(crate) fn public_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}
