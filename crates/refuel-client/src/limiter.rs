//! Adaptive request concurrency: one limiter per client (and so per server) that every API
//! request passes, however many scans, streams and label calls share the client.
//!
//! The rules:
//! - **Start** at `max_workers` requests in flight. When the user set `max_workers`, that
//!   number is also a hard bound; otherwise the limiter may grow to
//!   [`crate::config::ADAPTIVE_MAX_WORKERS`].
//! - **Grow** while the server keeps up: a success whose latency is flat (at most twice the
//!   lowest seen, plus 20 ms) on a limiter that was full (at least half full while
//!   growing fast) adds three requests in flight per success until the first sign of
//!   overload (quadrupling every round trip), then one per round trip.
//! - **Shrink** on `429 Too Many Requests` and `503 Service Unavailable`: halve the requests
//!   in flight, once per round of requests (answers to requests sent before the last
//!   decrease do not count again).
//! - **Pause on `Retry-After`**: no request of the client is sent before the time a `429`
//!   or `503` named (`Retry-After-Ms`, else `Retry-After` seconds), not only the request
//!   that got it.
//! - **Pace after a `429`**: a rate limit caps requests per second whatever the
//!   concurrency, so the limiter also paces requests at 85% of the rate the server granted
//!   over the last second, and raises that pace by 3% (plus one request per second) for
//!   each second without a `429`, until the pace no longer binds.
//!
//! Retries stay the transport's business ([`crate::retry`]): the limiter only decides when
//! a try may be sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// A latency counts as flat up to `FLAT_FACTOR` times the lowest seen plus `FLAT_SLACK`.
const FLAT_FACTOR: u32 = 2;
/// See [`FLAT_FACTOR`]: room for noise on fast (loopback) servers.
const FLAT_SLACK: Duration = Duration::from_millis(20);
/// Requests added per flat success until the first sign of overload: the limit
/// quadruples per round trip (a `429` or `503` halves it at once).
const SLOW_START_STEP: f64 = 3.0;
/// The share of the granted rate the pace is set to after a `429`.
const PACE_BACKOFF: f64 = 0.85;
/// How much the pace rises per second without a `429`: this share of it...
const PACE_GROWTH: f64 = 0.03;
/// ...plus this many requests per second.
const PACE_STEP: f64 = 1.0;
/// The window over which the granted rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// How an answer went, for the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A success (or an answer that says nothing about load), and how long it took.
    Answered(Duration),
    /// `429 Too Many Requests`, with the wait the server asked for.
    Throttled(Option<Duration>),
    /// `503 Service Unavailable`, with the wait the server asked for.
    Overloaded(Option<Duration>),
    /// No answer (a transport failure): says nothing about load.
    Failed,
}

/// What the limiter has done so far, for progress displays, benchmarks and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterStats {
    /// Requests allowed in flight now.
    pub limit: usize,
    /// The hard bound on `limit`.
    pub bound: usize,
    /// Requests in flight now.
    pub in_flight: usize,
    /// The most requests that were in flight at once.
    pub peak_in_flight: usize,
    /// Requests sent (every try counts).
    pub sent: u64,
    /// Answers `429`.
    pub throttled: u64,
    /// Answers `503`.
    pub overloaded: u64,
    /// The pace in requests per second, while one is set (after a `429`).
    pub pace: Option<f64>,
}

/// The limiter's state, behind one lock.
#[derive(Debug)]
struct State {
    /// Requests allowed in flight (fractional while growing by a share per success).
    limit: f64,
    in_flight: usize,
    peak: usize,
    /// Doubling per round trip until the first overload.
    slow_start: bool,
    /// Bumped at each decrease; a permit taken before the last decrease does not cause
    /// another.
    epoch: u64,
    /// No request is sent before this instant.
    paused_until: Option<Instant>,
    /// The lowest latency seen.
    min_latency: Option<Duration>,
    /// Requests per second, after a `429`, and since when it holds.
    pace: Option<(f64, Instant)>,
    /// The earliest instant the next paced request may go.
    next_slot: Instant,
    /// When recent successes came back, for the granted rate.
    recent: VecDeque<Instant>,
    sent: u64,
    throttled: u64,
    overloaded: u64,
}

/// The shared request limiter of a client. See the module documentation for its rules.
#[derive(Debug)]
pub struct RequestLimiter {
    state: Mutex<State>,
    changed: Notify,
    bound: usize,
}

impl RequestLimiter {
    /// A limiter starting at `start` requests in flight, never above `bound`.
    pub(crate) fn new(start: usize, bound: usize) -> Self {
        let bound = bound.max(1);
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                limit: start.clamp(1, bound) as f64,
                in_flight: 0,
                peak: 0,
                slow_start: true,
                epoch: 0,
                paused_until: None,
                min_latency: None,
                pace: None,
                next_slot: now,
                recent: VecDeque::new(),
                sent: 0,
                throttled: 0,
                overloaded: 0,
            }),
            changed: Notify::new(),
            bound,
        }
    }

    /// What the limiter has done so far.
    pub fn stats(&self) -> LimiterStats {
        let s = self.state.lock();
        LimiterStats {
            limit: allowed(s.limit),
            bound: self.bound,
            in_flight: s.in_flight,
            peak_in_flight: s.peak,
            sent: s.sent,
            throttled: s.throttled,
            overloaded: s.overloaded,
            pace: s
                .pace
                .map(|(rate, since)| paced_rate(rate, since, Instant::now())),
        }
    }

    /// The requests allowed in flight now.
    pub fn limit(&self) -> usize {
        allowed(self.state.lock().limit)
    }

    /// The most requests the limiter will ever let be in flight: what callers should size
    /// their buffers of pending requests by.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Waits until a request may be sent, and holds its place until the permit is dropped.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_take() {
                Step::Go(permit) => {
                    if permit.started > Instant::now() {
                        tokio::time::sleep_until(permit.started.into()).await;
                    }
                    return permit;
                }
                Step::Paused(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = notified => {}
                    }
                }
                Step::Full => notified.await,
            }
        }
    }

    /// Takes a place if one is free (and the limiter is not paused).
    fn try_take(self: &Arc<Self>) -> Step {
        let mut s = self.state.lock();
        let now = Instant::now();
        if let Some(until) = s.paused_until.filter(|u| *u > now) {
            return Step::Paused(until - now);
        }
        if s.in_flight >= allowed(s.limit) {
            return Step::Full;
        }
        s.in_flight += 1;
        s.peak = s.peak.max(s.in_flight);
        s.sent += 1;
        // Whether the limit is what holds requests back (as TCP's "cwnd-limited"): while
        // growing fast, half of it in use counts, since requests come and go in waves.
        let used = if s.slow_start {
            2 * s.in_flight
        } else {
            s.in_flight
        };
        let saturated = used >= allowed(s.limit);
        let slot = match s.pace {
            Some((rate, since)) => {
                let slot = s.next_slot.max(now);
                let rate = paced_rate(rate, since, now);
                s.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
                slot
            }
            None => now,
        };
        Step::Go(Permit {
            limiter: Arc::clone(self),
            epoch: s.epoch,
            saturated,
            started: slot,
        })
    }

    /// Takes in how a request went.
    fn record(&self, permit: &Permit, outcome: Outcome) {
        let now = Instant::now();
        let mut s = self.state.lock();
        match outcome {
            Outcome::Answered(latency) => {
                s.recent.push_back(now);
                let floor = s.min_latency.map_or(latency, |m| m.min(latency));
                s.min_latency = Some(floor);
                let flat = latency <= floor * FLAT_FACTOR + FLAT_SLACK;
                if flat && permit.saturated {
                    let limit = s.limit;
                    s.limit += if s.slow_start {
                        SLOW_START_STEP
                    } else {
                        1.0 / limit
                    };
                    s.limit = s.limit.min(self.bound as f64);
                }
                // A pace that no longer binds (more than the concurrency can use at the
                // lowest latency) is dropped.
                if let Some((rate, since)) = s.pace {
                    let usable = s.limit / floor.as_secs_f64().max(1e-3);
                    if paced_rate(rate, since, now) > 2.0 * usable {
                        s.pace = None;
                    }
                }
            }
            Outcome::Throttled(wait) => {
                s.throttled += 1;
                pause(&mut s, now, wait);
                if permit.epoch == s.epoch {
                    let granted = granted_rate(&mut s, now);
                    let current = s.pace.map(|(rate, since)| paced_rate(rate, since, now));
                    let pace = current.map_or(granted, |c| c.min(granted)) * PACE_BACKOFF;
                    s.pace = Some((pace.max(1.0), now));
                    s.next_slot = s.next_slot.max(now);
                    decrease(&mut s);
                }
            }
            Outcome::Overloaded(wait) => {
                s.overloaded += 1;
                pause(&mut s, now, wait);
                if permit.epoch == s.epoch {
                    decrease(&mut s);
                }
            }
            Outcome::Failed => {}
        }
        prune(&mut s.recent, now);
    }

    /// A permit is given back.
    fn release(&self) {
        let mut s = self.state.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.changed.notify_waiters();
    }
}

/// What a request waiting for a place does next.
enum Step {
    /// Go at the permit's start.
    Go(Permit),
    /// Wait this long (the server asked for a pause).
    Paused(Duration),
    /// Wait for a place to be given back.
    Full,
}

/// The whole number of requests a (fractional) limit allows, at least one.
fn allowed(limit: f64) -> usize {
    (limit.floor() as usize).max(1)
}

/// A pace set to `rate` at `since`, raised for each second since.
fn paced_rate(rate: f64, since: Instant, now: Instant) -> f64 {
    let secs = now.saturating_duration_since(since).as_secs_f64();
    rate * (1.0 + PACE_GROWTH * secs) + PACE_STEP * secs
}

/// Halves the requests in flight and starts a new epoch.
fn decrease(s: &mut State) {
    s.limit = (s.limit / 2.0).max(1.0);
    s.slow_start = false;
    s.epoch += 1;
}

/// Holds every request until `now + wait`.
fn pause(s: &mut State, now: Instant, wait: Option<Duration>) {
    if let Some(wait) = wait {
        let until = now + wait;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
    }
}

/// The successes of the last [`RATE_WINDOW`], per second (over the whole window even when
/// the client is younger, so a first burst is not taken for the sustained rate).
fn granted_rate(s: &mut State, now: Instant) -> f64 {
    prune(&mut s.recent, now);
    s.recent.len() as f64 / RATE_WINDOW.as_secs_f64()
}

/// Forgets successes older than the window.
fn prune(recent: &mut VecDeque<Instant>, now: Instant) {
    while recent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) > RATE_WINDOW)
    {
        recent.pop_front();
    }
}

/// A place among the requests in flight, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    limiter: Arc<RequestLimiter>,
    epoch: u64,
    /// Whether the limiter was full once this request took its place.
    saturated: bool,
    /// When the request may go (its latency counts from here).
    started: Instant,
}

impl Permit {
    /// Records how the request went, with its latency measured from the permit.
    pub(crate) fn answered(&self) {
        let latency = self.started.elapsed();
        self.limiter.record(self, Outcome::Answered(latency));
    }

    /// Records another outcome.
    pub(crate) fn record(&self, outcome: Outcome) {
        self.limiter.record(self, outcome);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn never_more_in_flight_than_the_limit() {
        let limiter = Arc::new(RequestLimiter::new(2, 2));
        let a = limiter.acquire().await;
        let b = limiter.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_err(), "a third request went past a limit of 2");
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(1), limiter.acquire()).await;
        assert!(c.is_ok());
        drop((b, c));
        assert_eq!(limiter.stats().in_flight, 0);
        assert_eq!(limiter.stats().peak_in_flight, 2);
    }

    #[tokio::test]
    async fn grows_while_answers_are_flat_up_to_the_bound() {
        let limiter = Arc::new(RequestLimiter::new(2, 8));
        for _ in 0..40 {
            let permits: Vec<Permit> = {
                let n = limiter.stats().limit;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(limiter.acquire().await);
                }
                v
            };
            for p in &permits {
                p.answered();
            }
        }
        assert_eq!(limiter.stats().limit, 8);
    }

    #[tokio::test]
    async fn shrinks_once_per_round_on_429_and_pauses_everyone() {
        let limiter = Arc::new(RequestLimiter::new(8, 8));
        let permits: Vec<Permit> =
            futures::future::join_all((0..8).map(|_| limiter.acquire())).await;
        // Eight answers of one round say 429: one decrease, not eight.
        for p in &permits {
            p.record(Outcome::Throttled(Some(Duration::from_millis(200))));
        }
        drop(permits);
        let stats = limiter.stats();
        assert_eq!(stats.limit, 4);
        assert_eq!(stats.throttled, 8);
        assert!(stats.pace.is_some());
        // Nobody goes before the server's Retry-After.
        let start = Instant::now();
        let p = limiter.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "{:?}",
            start.elapsed()
        );
        drop(p);
    }

    #[tokio::test]
    async fn a_503_shrinks_without_pacing() {
        let limiter = Arc::new(RequestLimiter::new(4, 4));
        let p = limiter.acquire().await;
        p.record(Outcome::Overloaded(None));
        drop(p);
        let stats = limiter.stats();
        assert_eq!((stats.limit, stats.overloaded, stats.pace), (2, 1, None));
    }

    #[test]
    fn the_pace_rises_with_time() {
        let now = Instant::now();
        let later = now + Duration::from_secs(2);
        let paced = paced_rate(10.0, now, later);
        assert!((paced - (10.0 * 1.06 + 2.0)).abs() < 1e-9, "{paced}");
    }
}
