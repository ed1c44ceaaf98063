//! The client configuration every entry point builds the same way: arguments first, then
//! `REFUEL_API_KEY`, `REFUEL_API_URL` and `REFUEL_PROJECT`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use refuel_client::{ClientConfig, RefuelClient};

use crate::errors::from_client;

/// Where a client connects and as whom: the arguments a Python caller gave.
#[derive(Default)]
pub(crate) struct Connection {
    pub(crate) api_key: Option<String>,
    pub(crate) api_url: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) max_workers: Option<usize>,
}

impl Connection {
    /// The client these arguments (and the environment, for what they leave unset) give.
    pub(crate) fn client(&self) -> PyResult<RefuelClient> {
        let mut config = ClientConfig::from_env().map_err(|e| from_client(&e))?;
        if let Some(key) = &self.api_key {
            config = config.with_api_key(key.clone());
        }
        if let Some(url) = &self.api_url {
            config = config.with_base_url(url).map_err(|e| from_client(&e))?;
        }
        if let Some(project) = &self.project {
            config = config.with_project(project.clone());
        }
        if let Some(workers) = self.max_workers {
            if workers == 0 {
                return Err(PyValueError::new_err("max_workers must be at least 1"));
            }
            config = config.with_max_workers(workers);
        }
        if config
            .api_key
            .as_ref()
            .is_none_or(|k| k.expose().is_empty())
        {
            return Err(PyValueError::new_err(
                "no Refuel API key: pass api_key=... or set REFUEL_API_KEY",
            ));
        }
        config = config.with_user_agent(format!(
            "refuel-datafusion-python/{}",
            env!("CARGO_PKG_VERSION")
        ));
        RefuelClient::new(config).map_err(|e| from_client(&e))
    }
}

/// How a client shows in `repr`: its endpoint and project, never its key.
pub(crate) fn describe(client: &RefuelClient) -> String {
    match client.project() {
        Some(project) => format!("api_url='{}', project='{project}'", client.base_url()),
        None => format!("api_url='{}'", client.base_url()),
    }
}
