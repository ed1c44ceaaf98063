//! The sessions of a cluster's processes and of its clients: Ballista's, with Refuel's
//! codecs, query planner, rules and lake object stores installed.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{FunctionRegistry, SessionState};
use datafusion::prelude::{SessionConfig, SessionContext};
use refuel_client::RefuelClient;
use refuel_datafusion::context::install_refuel_planning;
use refuel_datafusion::label::LabelConfig;
use refuel_datafusion::lake::LakeStores;

use crate::codec::{RefuelLogicalCodec, RefuelPhysicalCodec};
use crate::planner::RefuelQueryPlanner;

/// Where a client's statements run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cluster {
    /// A scheduler and an executor started in the client's process.
    Standalone,
    /// The scheduler at `host:port` (`df://host:port`).
    Remote {
        /// The scheduler's host.
        host: String,
        /// The scheduler's port.
        port: u16,
    },
}

/// A `--cluster` value that names no cluster.
#[derive(Debug, thiserror::Error)]
#[error("cluster '{given}': {why}; expected df://HOST:PORT or standalone")]
pub struct InvalidCluster {
    given: String,
    why: String,
}

impl FromStr for Cluster {
    type Err = InvalidCluster;

    fn from_str(s: &str) -> std::result::Result<Self, InvalidCluster> {
        if s == "standalone" {
            return Ok(Self::Standalone);
        }
        let bad = |why: &str| InvalidCluster {
            given: s.to_string(),
            why: why.to_string(),
        };
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "df" {
            return Err(bad("the scheme is not df://"));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        let port = url.port().ok_or_else(|| bad("no port"))?;
        Ok(Self::Remote {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standalone => f.write_str("standalone"),
            Self::Remote { host, port } => write!(f, "df://{host}:{port}"),
        }
    }
}

/// `config` as every process of a cluster and its clients use it: Ballista's settings,
/// Refuel's codecs reading through `client` (the process's own), the `refuel.label.*`
/// options, and Ballista's static planner (its adaptive planner re-optimizes stages with
/// a rule set of its own, without Refuel's rules or query planner).
pub fn cluster_config(config: SessionConfig, client: &RefuelClient) -> SessionConfig {
    let mut config = config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(RefuelLogicalCodec::new(client.clone())))
        .with_ballista_physical_extension_codec(Arc::new(RefuelPhysicalCodec::new(client.clone())))
        .with_ballista_adaptive_query_planner(false);
    if config.options().extensions.get::<LabelConfig>().is_none() {
        config = config.with_option_extension(LabelConfig::default());
    }
    config
}

/// A runtime whose object stores are built on demand for cloud locations, from the
/// process's environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`; see
/// [`refuel_datafusion::lake`]).
pub fn lake_runtime() -> Result<Arc<RuntimeEnv>> {
    let base = RuntimeEnvBuilder::new().build_arc()?;
    let stores = Arc::new(LakeStores::new(Arc::clone(&base.object_store_registry)));
    RuntimeEnvBuilder::from_runtime_env(&base)
        .with_object_store_registry(stores as Arc<dyn ObjectStoreRegistry>)
        .build_arc()
}

/// The scheduler's session for a client's `config`: Ballista's default session, the
/// [`RefuelQueryPlanner`], Refuel's physical rules and the lake runtime.
pub fn scheduler_state(
    config: SessionConfig,
    client: &RefuelClient,
    runtime: Arc<RuntimeEnv>,
) -> Result<SessionState> {
    let state = ballista_core::utils::default_session_builder(cluster_config(config, client))?;
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .with_query_planner(Arc::new(RefuelQueryPlanner))
        .build();
    install_refuel_planning(&mut state, None);
    Ok(state)
}

/// A client session on `cluster`, from a local session's state (its catalog, with the
/// client's key, resolves names; see `RefuelContextExt::register_refuel`). Statements
/// are planned locally and run on the cluster; `client` is the process's own client,
/// which a standalone cluster reads through.
pub async fn connect(
    cluster: &Cluster,
    state: SessionState,
    client: &RefuelClient,
) -> Result<SessionContext> {
    let config = cluster_config(state.config().clone(), client);
    let functions: Vec<_> = state.scalar_functions().values().cloned().collect();
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let ctx = match cluster {
        Cluster::Standalone => {
            // The in-process scheduler plans with this state: our query planner there.
            let state = SessionStateBuilder::new_from_existing(state)
                .with_query_planner(Arc::new(RefuelQueryPlanner))
                .build();
            SessionContext::standalone_with_state(state).await?
        }
        Cluster::Remote { .. } => {
            SessionContext::remote_with_state(&cluster.to_string(), state).await?
        }
    };
    // Ballista's session keeps only its own list of scalar functions: the session's
    // others (`refuel_label` among them) come back, so that a statement naming one is
    // planned and then refused or run as the codecs decide, not unknown.
    for function in functions {
        if ctx.udf(function.name()).is_err() {
            ctx.register_udf(function.as_ref().clone());
        }
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_parse_and_print() {
        assert_eq!(
            "standalone".parse::<Cluster>().unwrap(),
            Cluster::Standalone
        );
        let remote: Cluster = "df://10.0.0.5:50050".parse().unwrap();
        assert_eq!(
            remote,
            Cluster::Remote {
                host: "10.0.0.5".into(),
                port: 50050
            }
        );
        assert_eq!(remote.to_string(), "df://10.0.0.5:50050");
        for bad in ["http://h:1", "df://h", "h:1", ""] {
            let err = bad.parse::<Cluster>().unwrap_err().to_string();
            assert!(
                err.contains("expected df://HOST:PORT or standalone"),
                "{err}"
            );
        }
    }
}
