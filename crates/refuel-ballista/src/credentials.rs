//! A cluster process's own Refuel client: the endpoint from `REFUEL_API_URL`, the key from
//! `REFUEL_API_KEY` or a key file. A cluster serves one team; a plan never carries a key.

use std::path::Path;

use refuel_client::{ClientConfig, RefuelClient};

use crate::error::ClusterError;

/// The variable naming a file that holds the API key (when `REFUEL_API_KEY` is unset).
pub const ENV_API_KEY_FILE: &str = "REFUEL_API_KEY_FILE";

/// The process's client: `REFUEL_API_URL` (or the cloud's default URL), and the key from
/// `REFUEL_API_KEY`, else from `key_file` (or the file `REFUEL_API_KEY_FILE` names), its
/// first line. `user_agent` tells the process apart in the server's logs.
pub fn client_from_env(
    key_file: Option<&Path>,
    user_agent: &str,
) -> Result<RefuelClient, ClusterError> {
    let mut config = ClientConfig::from_env()?.with_user_agent(user_agent);
    if config.api_key.is_none() {
        let from_env = std::env::var_os(ENV_API_KEY_FILE).map(std::path::PathBuf::from);
        let Some(path) = key_file.map(Path::to_path_buf).or(from_env) else {
            return Err(ClusterError::Config(format!(
                "no API key: set REFUEL_API_KEY, or {ENV_API_KEY_FILE} or --api-key-file to a \
                 file holding it"
            )));
        };
        config = config.with_api_key(key_from_file(&path)?);
    }
    Ok(RefuelClient::new(config)?)
}

/// The key in `path`: its first line, trimmed.
fn key_from_file(path: &Path) -> Result<String, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ClusterError::Config(format!("reading the API key file {}: {e}", path.display()))
    })?;
    let key = text.lines().next().unwrap_or_default().trim();
    if key.is_empty() {
        return Err(ClusterError::Config(format!(
            "the API key file {} is empty",
            path.display()
        )));
    }
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_holds_the_key_on_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  team-key-1 \nnot the key\n").unwrap();
        assert_eq!(key_from_file(&path).unwrap(), "team-key-1");
        std::fs::write(&path, "\n").unwrap();
        let err = key_from_file(&path).unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
        let err = key_from_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("reading the API key file"), "{err}");
    }
}
