//! The simulated network's state: the request rate per API key beyond which requests are
//! answered `429` (the settings are in `crate::network`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

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
}
