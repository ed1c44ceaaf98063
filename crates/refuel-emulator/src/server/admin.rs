//! Emulator-only endpoints, without auth: request statistics and fault injection.
//!
//! - `GET /_emulator/stats`: `{"requests": {"GET /datasets/{dataset_id}": n, ...},
//!   "rows_served": n, "requests_total": n}`.
//! - `GET /_emulator/requests`: the last requests (at most 10,000), oldest first, as
//!   `[{"method": "GET", "path": "/datasets/…", "query": [["offset", "0"], …]}]` with the
//!   query string decoded into its pairs in order; for golden tests of what clients send.
//! - `POST /_emulator/stats/reset`: zeroes the counters and empties the request log.
//! - `POST /_emulator/faults` with `{"status": 503, "count": 2, "method": "GET",
//!   "path_prefix": "/datasets", "retry_after": 0.1}`: the next `count` matching requests
//!   are answered with `status` (and `Retry-After` when given) before reaching a handler.
//! - `DELETE /_emulator/faults`: clears pending faults.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::error::ApiError;

/// Request and row counters, and a log of the last requests.
#[derive(Debug, Default)]
pub struct Stats {
    by_route: Mutex<BTreeMap<String, u64>>,
    rows_served: AtomicU64,
    log: Mutex<VecDeque<LoggedRequest>>,
}

/// How many requests the log keeps.
const LOG_CAPACITY: usize = 10_000;

/// A request as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string's pairs, decoded, in the order sent.
    pub query: Vec<(String, String)>,
}

impl Stats {
    /// Counts rows sent in a response.
    pub fn rows_served(&self, n: usize) {
        self.rows_served.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn request(&self, route: String, logged: LoggedRequest) {
        *self.by_route.lock().entry(route).or_insert(0) += 1;
        let mut log = self.log.lock();
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(logged);
    }

    fn snapshot(&self) -> StatsView {
        let requests = self.by_route.lock().clone();
        StatsView {
            requests_total: requests.values().sum(),
            requests,
            rows_served: self.rows_served.load(Ordering::Relaxed),
        }
    }

    fn reset(&self) {
        self.by_route.lock().clear();
        self.log.lock().clear();
        self.rows_served.store(0, Ordering::Relaxed);
    }
}

/// What `GET /_emulator/stats` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsView {
    /// Requests by `METHOD /route/{param}`.
    pub requests: BTreeMap<String, u64>,
    /// All requests.
    pub requests_total: u64,
    /// Rows sent in row-query responses.
    pub rows_served: u64,
}

/// A fault to inject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// The status to answer.
    pub status: u16,
    /// How many requests to answer so (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests with this method.
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// A `Retry-After` header, in seconds.
    #[serde(default)]
    pub retry_after: Option<f64>,
}

fn one() -> u32 {
    1
}

/// Pending faults.
#[derive(Debug, Default)]
pub struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    fn take(&self, method: &str, path: &str) -> Option<Fault> {
        let mut faults = self.0.lock();
        let i = faults.iter().position(|f| {
            f.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
        })?;
        let fault = faults[i].clone();
        faults[i].count -= 1;
        if faults[i].count == 0 {
            faults.remove(i);
        }
        Some(fault)
    }
}

/// Counts the request by route, then answers an injected fault if one matches.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
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

pub async fn get_stats(State(state): State<AppState>) -> Json<StatsView> {
    Json(state.stats.snapshot())
}

pub async fn get_requests(State(state): State<AppState>) -> Json<Vec<LoggedRequest>> {
    Json(state.stats.log.lock().iter().cloned().collect())
}

pub async fn reset_stats(State(state): State<AppState>) -> StatusCode {
    state.stats.reset();
    StatusCode::NO_CONTENT
}

pub async fn add_fault(
    State(state): State<AppState>,
    Json(fault): Json<Fault>,
) -> Result<StatusCode, ApiError> {
    if StatusCode::from_u16(fault.status).is_err() || fault.count == 0 {
        return Err(ApiError::bad_request(
            "a fault needs a valid status and a count of at least 1",
        ));
    }
    state.faults.0.lock().push(fault);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.faults.0.lock().clear();
    StatusCode::NO_CONTENT
}
