//! When and how long to wait before trying a request again.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Whether a request may be repeated without changing its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, deletes and other calls whose repetition is harmless: retried on 429, 502,
    /// 503, 504, timeouts and connection failures.
    Idempotent,
    /// Appends, uploads and creations: retried only when the server provably did not act on
    /// the request (the connection could not be made, or 429 Too Many Requests).
    NotIdempotent,
}

/// Exponential backoff with jitter, capped, and overridden by `Retry-After`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// How many retries after the first try.
    pub max_retries: u32,
    /// How many retries of answers `429`, apart from `max_retries`.
    pub max_throttled_retries: u32,
    /// The first delay before jitter.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Whether a response status is worth another try for a call of this idempotency.
    pub fn retry_status(&self, status: StatusCode, idempotency: Idempotency) -> bool {
        match status {
            StatusCode::TOO_MANY_REQUESTS => true,
            StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => idempotency == Idempotency::Idempotent,
            _ => false,
        }
    }

    /// Whether a transport failure is worth another try for a call of this idempotency.
    pub fn retry_error(&self, error: &reqwest::Error, idempotency: Idempotency) -> bool {
        if error.is_connect() {
            // The request never reached the server: safe for every call.
            return true;
        }
        idempotency == Idempotency::Idempotent
            && (error.is_timeout() || error.is_request() || error.is_body() || error.is_decode())
    }

    /// The delay before retry number `retry` (0-based): `Retry-After` when the server sent
    /// one (capped at four times the maximum delay), else a random delay between half and
    /// all of `min(max, base * 2^retry)` (jitter spreads clients that failed together).
    pub fn delay(&self, retry: u32, headers: Option<&HeaderMap>) -> Duration {
        if let Some(after) = headers.and_then(retry_after) {
            return after.min(self.max_delay * 4);
        }
        let exp = self.base_delay.saturating_mul(1u32 << retry.min(16));
        let cap = exp.min(self.max_delay);
        let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        if millis == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

/// The wait a server asked for: `Retry-After-Ms` (milliseconds, as several APIs send beside
/// the whole seconds HTTP allows), else `Retry-After` as delta-seconds (possibly
/// fractional). HTTP dates are not used by the API and are ignored.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let millis = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0);
    if let Some(ms) = millis {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = value.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            max_throttled_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn statuses_by_idempotency() {
        let p = policy();
        for s in [429u16, 502, 503, 504] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(p.retry_status(s, Idempotency::Idempotent), "{s}");
        }
        assert!(p.retry_status(StatusCode::TOO_MANY_REQUESTS, Idempotency::NotIdempotent));
        assert!(!p.retry_status(StatusCode::SERVICE_UNAVAILABLE, Idempotency::NotIdempotent));
        assert!(!p.retry_status(StatusCode::BAD_REQUEST, Idempotency::Idempotent));
        assert!(!p.retry_status(StatusCode::INTERNAL_SERVER_ERROR, Idempotency::Idempotent));
    }

    #[test]
    fn delay_is_jittered_and_capped() {
        let p = policy();
        for retry in 0..10 {
            let d = p.delay(retry, None);
            let cap = (Duration::from_millis(100) * (1 << retry)).min(Duration::from_secs(1));
            assert!(
                d <= cap && d >= cap / 2,
                "retry {retry}: {d:?} vs cap {cap:?}"
            );
        }
    }

    #[test]
    fn retry_after_wins() {
        let p = policy();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(p.delay(0, Some(&h)), Duration::from_secs(2));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.25"));
        assert_eq!(p.delay(5, Some(&h)), Duration::from_millis(250));
        h.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(p.delay(0, Some(&h)), Duration::from_secs(4));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert!(p.delay(0, Some(&h)) <= Duration::from_millis(100));
        h.insert("retry-after-ms", HeaderValue::from_static("25"));
        assert_eq!(p.delay(0, Some(&h)), Duration::from_millis(25));
    }
}
