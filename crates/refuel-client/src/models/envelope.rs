//! The `{"data": ...}` envelope around every success body.

use serde::{Deserialize, Serialize};

/// A success body: the payload under `data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The payload.
    pub data: T,
}

impl<T> Envelope<T> {
    /// Wraps a payload.
    pub fn new(data: T) -> Self {
        Self { data }
    }
}
