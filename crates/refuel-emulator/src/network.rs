//! The simulated network's settings: a delay before every API request is handled, a cap
//! on the rows of a page, and a request rate per API key (applied by
//! `server/network.rs` with `state::RateLimits`).

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
