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

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::{AppState, Fault, LoggedRequest, StatsView};

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
