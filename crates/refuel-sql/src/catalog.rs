//! The shell's `refuel` catalog: the Refuel catalog (projects as schemas), plus schemas of
//! the session's own for when no project is current (`public`) or made with `CREATE
//! SCHEMA`.
//!
//! In a project, `CREATE TABLE <name> AS ...` makes a dataset, and `CREATE VIEW` and
//! `CREATE EXTERNAL TABLE` make tables of the session, next to the project's tables (see
//! `refuel_datafusion::RefuelSchema`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::TableType;
use refuel_datafusion::RefuelCatalog;

/// The schema for session tables when no project is current.
pub const SESSION_SCHEMA: &str = "public";

/// The Refuel catalog plus the session's own schemas.
#[derive(Debug)]
pub struct ShellCatalog {
    refuel: Arc<RefuelCatalog>,
    session: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl ShellCatalog {
    /// Wraps a Refuel catalog; the schema `public` holds session tables when no project is
    /// current.
    pub fn new(refuel: Arc<RefuelCatalog>) -> Self {
        let mut session: BTreeMap<String, Arc<dyn SchemaProvider>> = BTreeMap::new();
        session.insert(
            SESSION_SCHEMA.to_string(),
            Arc::new(MemorySchemaProvider::new()),
        );
        Self {
            refuel,
            session: RwLock::new(session),
        }
    }

    /// The Refuel catalog.
    pub fn refuel(&self) -> &Arc<RefuelCatalog> {
        &self.refuel
    }

    /// The team's projects.
    pub fn projects(&self) -> Vec<String> {
        self.refuel.schema_names()
    }

    /// Whether `name` is a project.
    pub fn has_project(&self, name: &str) -> bool {
        self.refuel.schema(name).is_some()
    }
}

impl CatalogProvider for ShellCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.refuel.schema_names();
        if let Ok(session) = self.session.read() {
            names.extend(session.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.refuel
            .schema(name)
            .or_else(|| self.session.read().ok()?.get(name).cloned())
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if self.has_project(name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a Refuel project: it cannot be replaced from the shell"
            )));
        }
        let mut session = self
            .session
            .write()
            .map_err(|_| DataFusionError::Internal("the session catalog is poisoned".into()))?;
        Ok(session.insert(name.to_string(), schema))
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if self.has_project(name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a Refuel project: it cannot be dropped from the shell"
            )));
        }
        let mut session = self
            .session
            .write()
            .map_err(|_| DataFusionError::Internal("the session catalog is poisoned".into()))?;
        if let Some(schema) = session.get(name)
            && !cascade
            && !schema.table_names().is_empty()
        {
            return Err(DataFusionError::Plan(format!(
                "schema '{name}' is not empty: use DROP SCHEMA {name} CASCADE"
            )));
        }
        Ok(session.remove(name))
    }
}

/// What kind of table `name` of `schema` is, for `\d`: `dataset`, `labels`, `metadata`,
/// or `session table` / `session view` for what the session made.
pub fn table_kind(
    schema: &dyn SchemaProvider,
    name: &str,
    table: &dyn TableProvider,
) -> &'static str {
    let session = schema
        .downcast_ref::<refuel_datafusion::RefuelSchema>()
        .is_none_or(|s| s.is_session_table(name));
    if session {
        return match table.table_type() {
            TableType::View => "session view",
            _ => "session table",
        };
    }
    if let Some(refuel) = table.downcast_ref::<refuel_datafusion::RefuelTable>() {
        let labels = refuel
            .columns()
            .sources
            .iter()
            .any(|s| matches!(s, refuel_datafusion::columns::ColumnSource::Label { .. }));
        return if labels { "labels" } else { "dataset" };
    }
    if table
        .downcast_ref::<refuel_datafusion::metadata::MetadataTable>()
        .is_some()
    {
        return "metadata";
    }
    "table"
}
