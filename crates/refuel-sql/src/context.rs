//! The shell's DataFusion session: the `refuel` catalog as the default catalog, the current
//! project as the default schema, `information_schema` on, and lake data (object stores
//! on demand, URL tables: `refuel_datafusion::lake`).

use std::sync::Arc;

use datafusion::catalog::CatalogProvider;
use datafusion::prelude::{SessionConfig, SessionContext};
use refuel_client::RefuelClient;
use refuel_datafusion::RefuelContextExt;

use crate::catalog::{SESSION_SCHEMA, ShellCatalog};
use crate::error::ShellError;

type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// The catalog name of Refuel tables: `refuel.<project>.<table>`.
pub const CATALOG: &str = "refuel";

/// A DataFusion session over a Refuel team.
pub struct ShellContext {
    /// The DataFusion session.
    pub ctx: SessionContext,
    client: RefuelClient,
    catalog: Arc<ShellCatalog>,
}

impl std::fmt::Debug for ShellContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellContext")
            .field("project", &self.project())
            .field("catalog", &self.catalog)
            .finish_non_exhaustive()
    }
}

impl ShellContext {
    /// Reads the team's projects, datasets and tasks and makes them tables. The client's
    /// project, when set, becomes the current one; it must exist.
    pub async fn new(client: RefuelClient) -> Result<Self> {
        let schema = client.project().unwrap_or(SESSION_SCHEMA).to_string();
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, &schema);
        let ctx = SessionContext::new_with_config(config);
        let refuel = ctx.register_refuel(CATALOG, client.clone()).await?;
        let catalog = Arc::new(ShellCatalog::new(refuel));
        ctx.register_catalog(CATALOG, Arc::clone(&catalog) as Arc<dyn CatalogProvider>);
        refuel_datafusion::enable_lake(&ctx)?;
        let shell = Self {
            ctx,
            client,
            catalog,
        };
        if let Some(project) = shell.client.project() {
            shell.check_project(project)?;
        }
        Ok(shell)
    }

    /// Runs the session's statements on `cluster` from now on: names still resolve here,
    /// with this session's key (see `refuel_ballista::connect`).
    pub async fn run_on(&mut self, cluster: &refuel_ballista::Cluster) -> Result<()> {
        self.ctx = refuel_ballista::connect(cluster, self.ctx.state(), &self.client)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to the cluster {cluster}: {e}"))?;
        Ok(())
    }

    /// The current project, if any.
    pub fn project(&self) -> Option<&str> {
        self.client.project()
    }

    /// The client, set to the current project.
    pub fn client(&self) -> &RefuelClient {
        &self.client
    }

    /// The schema bare names resolve in: the current project, else `public`.
    pub fn current_schema(&self) -> &str {
        self.project().unwrap_or(SESSION_SCHEMA)
    }

    /// The shell's catalog.
    pub fn catalog(&self) -> &ShellCatalog {
        &self.catalog
    }

    /// Reads the team's projects, datasets and tasks again (new ones become tables); session
    /// tables stay.
    pub async fn refresh(&self) -> Result<()> {
        self.catalog.refuel().refresh().await?;
        Ok(())
    }

    /// Makes `project` current: bare names resolve in it, and `refuel_items('<dataset>')`
    /// reads from it.
    pub async fn use_project(&mut self, project: &str) -> Result<()> {
        if !self.catalog.has_project(project) {
            self.refresh().await?;
        }
        self.check_project(project)?;
        self.client = self.client.with_project(project);
        // refuel_label('<application>') names applications of the current project.
        self.catalog.refuel().applications().set_project(project);
        let state = self.ctx.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().catalog.default_schema = project.to_string();
        Ok(())
    }

    fn check_project(&self, project: &str) -> Result<(), ShellError> {
        if self.catalog.has_project(project) {
            return Ok(());
        }
        let projects = self.catalog.projects();
        Err(ShellError::Input(format!(
            "project '{project}' not found (projects: {})",
            if projects.is_empty() {
                "none".to_string()
            } else {
                projects.join(", ")
            }
        )))
    }

    /// The table names of the current schema.
    pub fn table_names(&self) -> Vec<String> {
        self.catalog
            .schema(self.current_schema())
            .map(|s| s.table_names())
            .unwrap_or_default()
    }
}
