//! The secret that signs download URLs: kept in the data directory, or fresh per process.

use std::path::Path;

/// The data directory's secret (made and kept on first use), or a fresh one in memory.
pub(crate) fn load(dir: Option<&Path>) -> std::io::Result<Vec<u8>> {
    let Some(d) = dir else {
        return Ok(random_secret());
    };
    std::fs::create_dir_all(d)?;
    let path = d.join("secret");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => Ok(bytes),
        _ => {
            let fresh = random_secret();
            std::fs::write(&path, &fresh)?;
            Ok(fresh)
        }
    }
}

fn random_secret() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}
