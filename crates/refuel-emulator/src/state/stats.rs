//! Request statistics: counts by route, rows served, and a log of the last requests, as
//! `/_emulator/stats` and `/_emulator/requests` show them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Request and row counters, and a log of the last requests.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    by_route: Mutex<BTreeMap<String, u64>>,
    rows_served: AtomicU64,
    throttled: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
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
    /// The client's `User-Agent`, when it sent one (tells apart the processes of one
    /// team, e.g. a cluster's executors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Stats {
    /// Counts rows sent in a response.
    pub(crate) fn rows_served(&self, n: usize) {
        self.rows_served.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts an API request being handled until the guard is dropped.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    /// Counts a request answered `429` by the simulated rate limit.
    pub(crate) fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request by its route and keeps it in the log.
    pub(crate) fn request(&self, route: String, logged: LoggedRequest) {
        *self.by_route.lock().entry(route).or_insert(0) += 1;
        let mut log = self.log.lock();
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(logged);
    }

    /// The counters.
    pub(crate) fn snapshot(&self) -> StatsView {
        let requests = self.by_route.lock().clone();
        StatsView {
            requests_total: requests.values().sum(),
            requests,
            rows_served: self.rows_served.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            peak_in_flight: self.peak_in_flight.load(Ordering::Relaxed),
        }
    }

    /// The logged requests, oldest first.
    pub(crate) fn requests(&self) -> Vec<LoggedRequest> {
        self.log.lock().iter().cloned().collect()
    }

    /// Zeroes the counters and empties the log.
    pub(crate) fn reset(&self) {
        self.by_route.lock().clear();
        self.log.lock().clear();
        self.rows_served.store(0, Ordering::Relaxed);
        self.throttled.store(0, Ordering::Relaxed);
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
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
    /// Requests answered `429` by the simulated rate limit (counted in `requests` too).
    #[serde(default)]
    pub throttled: u64,
    /// The most API requests handled at once (since the last reset).
    #[serde(default)]
    pub peak_in_flight: u64,
}

/// An API request being handled; counted out when dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a Stats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
