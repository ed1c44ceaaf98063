//! Injected faults: the next matching requests answered with a chosen status.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

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
pub(crate) struct Faults(Mutex<Vec<Fault>>);

impl Faults {
    /// Takes one answer of the first fault matching a request.
    pub(crate) fn take(&self, method: &str, path: &str) -> Option<Fault> {
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

    /// Adds a fault.
    pub(crate) fn add(&self, fault: Fault) {
        self.0.lock().push(fault);
    }

    /// Clears every pending fault.
    pub(crate) fn clear(&self) {
        self.0.lock().clear();
    }
}
