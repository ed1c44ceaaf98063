//! A remote cloud on loopback: a delay before every API request is handled, a cap on the
//! rows of a page, and a request rate per API key beyond which requests are answered `429`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;

/// Simulated network and quota conditions (all off by default). Set them when starting
/// ([`crate::EmulatorConfig::network`], `--latency-ms`, `--max-page-rows`, `--rate-limit`)
/// or on a running emulator ([`crate::EmulatorHandle::set_network`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Network {
    /// Added before each API request is handled (a round trip to a remote server).
    pub latency: Duration,
    /// Each request's delay is `latency` plus or minus a uniform random share of this.
    pub jitter: Duration,
    /// The most rows one page answers, whatever `max_items` asks for (the answer is
    /// simply shorter, as a server with a page cap answers). `None`: the profile's cap.
    pub max_page_rows: Option<usize>,
    /// Requests per second allowed per API key: a token bucket refilled at this rate,
    /// holding one second's worth. Beyond it, `429 Too Many Requests` with `Retry-After`
    /// (whole seconds, at least 1, as HTTP defines it) and `Retry-After-Ms` (the exact
    /// wait until the next request is allowed).
    pub rate_limit: Option<f64>,
}

impl Network {
    /// A network of `latency` with a tenth of it as jitter.
    pub fn with_latency(latency: Duration) -> Self {
        Self {
            latency,
            jitter: latency / 10,
            ..Self::default()
        }
    }

    /// The delay of one request: the latency, plus or minus a random share of the jitter.
    pub(crate) fn delay(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let jitter = self.jitter.as_secs_f64();
        let offset = rand::rng().random_range(-jitter..=jitter);
        Duration::from_secs_f64((self.latency.as_secs_f64() + offset).max(0.0))
    }
}

/// One key's token bucket.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The rate limiters of the API keys, by key fingerprint (the team id: keys are not kept).
#[derive(Debug, Default)]
pub(crate) struct RateLimits(Mutex<HashMap<String, Bucket>>);

impl RateLimits {
    /// Takes one request's token from `key`'s bucket at `rate` per second, or says how long
    /// until one is available.
    pub(crate) fn take(&self, key: &str, rate: f64) -> Result<(), Duration> {
        let rate = rate.max(f64::MIN_POSITIVE);
        let burst = rate.max(1.0);
        let now = Instant::now();
        let mut buckets = self.0.lock();
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_one_second_and_says_when_to_come_back() {
        let limits = RateLimits::default();
        for _ in 0..10 {
            assert!(limits.take("a", 10.0).is_ok());
        }
        let wait = limits.take("a", 10.0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(limits.take("b", 10.0).is_ok());
    }

    #[test]
    fn delays_stay_within_the_jitter() {
        let n = Network::with_latency(Duration::from_millis(50));
        for _ in 0..100 {
            let d = n.delay();
            assert!(
                d >= Duration::from_millis(45) && d <= Duration::from_millis(55),
                "{d:?}"
            );
        }
        assert_eq!(Network::default().delay(), Duration::ZERO);
    }
}
