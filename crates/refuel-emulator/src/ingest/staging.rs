//! Files being received: removed unless they were kept.

use std::path::PathBuf;

/// A received file, removed unless it was moved into a dataset.
pub(crate) struct Incoming(pub(crate) Option<PathBuf>);

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
