//! The simulated remote network ([`crate::Network`]) as middleware: every API request
//! (not `/_emulator/...`) waits the latency, then takes a token of its key's rate limit or
//! is answered `429 Too Many Requests`.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::{AppState, team_id};

/// The exact wait before the next allowed request, in milliseconds (`Retry-After` carries
/// whole seconds only).
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Middleware: the latency, then the rate limit.
pub(crate) async fn simulate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/_emulator") {
        return next.run(req).await;
    }
    let network = *state.network.read();
    let delay = network.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(rate) = network.rate_limit {
        // Keyed by a fingerprint of the whole header, so unknown keys are limited too.
        let key = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| team_id(&String::from_utf8_lossy(v.as_bytes())))
            .unwrap_or_default();
        if let Err(wait) = state.rate_limits.take(&key, rate) {
            state.stats.throttled();
            return too_many_requests(rate, wait);
        }
    }
    next.run(req).await
}

/// The `429` answer: what the limit is, and when to come back.
fn too_many_requests(rate: f64, wait: std::time::Duration) -> Response {
    let millis = wait.as_millis().max(1);
    let seconds = wait.as_secs_f64().ceil().max(1.0);
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "rate limit exceeded: at most {rate} requests per second per API key; retry in {millis} ms"
        ),
    )
    .into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{seconds:.0}")) {
        headers.insert(RETRY_AFTER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&millis.to_string()) {
        headers.insert(RETRY_AFTER_MS, v);
    }
    resp
}
