//! Emulator-only endpoints, without auth: request statistics and fault injection.
//!
//! - `GET /_emulator/stats`: `{"requests": {"GET /datasets/{dataset_id}": n, ...},
//!   "rows_served": n, "requests_total": n, "throttled": n, "peak_in_flight": n}`
//!   (`throttled`: answers `429` of the simulated rate limit; `peak_in_flight`: the most
//!   API requests handled at once).
//! - `GET /_emulator/requests`: the last requests (at most 10,000), oldest first, as
//!   `[{"method": "GET", "path": "/datasets/…", "query": [["offset", "0"], …]}]` with the
//!   query string decoded into its pairs in order; for golden tests of what clients send.
//! - `POST /_emulator/stats/reset`: zeroes the counters and empties the request log.
//! - `POST /_emulator/faults` with `{"status": 503, "count": 2, "method": "GET",
//!   "path_prefix": "/datasets", "retry_after": 0.1}`: the next `count` matching requests
//!   are answered with `status` (and `Retry-After` when given) before reaching a handler.
//! - `DELETE /_emulator/faults`: clears pending faults.
//! - `GET /_emulator/network`: the simulated network, `{"latency_ms": 50, "jitter_ms": 5,
//!   "max_page_rows": 100, "rate_limit": 40.0}` (`null`: off); `PUT` it to change it on a
//!   running emulator (a missing `jitter_ms` is a tenth of `latency_ms`, other missing
//!   fields are off).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::exports;
use crate::state::{AppState, Fault, LoggedRequest, Network, StatsView};

/// The emulator-only routes (no auth).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/stats", get(get_stats))
        .route("/_emulator/stats/reset", post(reset_stats))
        .route("/_emulator/requests", get(get_requests))
        .route("/_emulator/network", get(get_network).put(put_network))
        .route("/_emulator/faults", post(add_fault).delete(clear_faults))
        .route("/_emulator/downloads/{export_id}", get(exports::download))
}

/// Counts the request by route, then answers an injected fault if one matches.
pub(crate) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/_emulator") {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let query = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    state.stats.request(
        format!("{method} {route}"),
        LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            query,
            user_agent: req
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        },
    );
    let _in_flight = state.stats.in_flight();
    if let Some(fault) = state.faults.take(&method, &path) {
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut resp =
            ApiError::new(status, format!("injected fault {}", fault.status)).into_response();
        if let Some(after) = fault.retry_after {
            if let Ok(v) = HeaderValue::from_str(&after.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        return resp;
    }
    next.run(req).await
}

pub(crate) async fn get_stats(State(state): State<AppState>) -> Json<StatsView> {
    Json(state.stats.snapshot())
}

pub(crate) async fn get_requests(State(state): State<AppState>) -> Json<Vec<LoggedRequest>> {
    Json(state.stats.requests())
}

pub(crate) async fn reset_stats(State(state): State<AppState>) -> StatusCode {
    state.stats.reset();
    StatusCode::NO_CONTENT
}

pub(crate) async fn add_fault(
    State(state): State<AppState>,
    Json(fault): Json<Fault>,
) -> Result<StatusCode, ApiError> {
    if StatusCode::from_u16(fault.status).is_err() || fault.count == 0 {
        return Err(ApiError::bad_request(
            "a fault needs a valid status and a count of at least 1",
        ));
    }
    state.faults.add(fault);
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.clear();
    StatusCode::NO_CONTENT
}

/// The simulated network as `/_emulator/network` shows and takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkView {
    /// The delay added to every API request, in milliseconds.
    #[serde(default)]
    latency_ms: u64,
    /// Plus or minus this much at random (a tenth of the latency when missing).
    #[serde(default)]
    jitter_ms: Option<u64>,
    /// The most rows a page answers.
    #[serde(default)]
    max_page_rows: Option<usize>,
    /// Requests per second allowed per API key.
    #[serde(default)]
    rate_limit: Option<f64>,
}

impl From<Network> for NetworkView {
    fn from(n: Network) -> Self {
        Self {
            latency_ms: n.latency.as_millis() as u64,
            jitter_ms: Some(n.jitter.as_millis() as u64),
            max_page_rows: n.max_page_rows,
            rate_limit: n.rate_limit,
        }
    }
}

pub(crate) async fn get_network(State(state): State<AppState>) -> Json<NetworkView> {
    Json(NetworkView::from(*state.network.read()))
}

pub(crate) async fn put_network(
    State(state): State<AppState>,
    body: Result<Json<NetworkView>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<NetworkView>, ApiError> {
    let Json(view) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "the network is {{\"latency_ms\", \"jitter_ms\", \"max_page_rows\", \"rate_limit\"}}: {}",
            e.body_text()
        ))
    })?;
    if view.max_page_rows == Some(0) {
        return Err(ApiError::bad_request("max_page_rows must be at least 1"));
    }
    if view.rate_limit.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(ApiError::bad_request(
            "rate_limit must be a positive number of requests per second",
        ));
    }
    let mut network = Network::with_latency(Duration::from_millis(view.latency_ms));
    if let Some(jitter) = view.jitter_ms {
        network.jitter = Duration::from_millis(jitter.min(view.latency_ms));
    }
    network.max_page_rows = view.max_page_rows;
    network.rate_limit = view.rate_limit;
    *state.network.write() = network;
    Ok(Json(NetworkView::from(network)))
}
