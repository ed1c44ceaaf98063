//! The shell's `refuel` catalog: the Refuel catalog (projects as schemas) with a session
//! overlay, so `CREATE TABLE`, `CREATE VIEW` and `CREATE EXTERNAL TABLE` work with bare names
//! in the current project, as in any SQL shell. Session tables live in memory, next to the
//! project's tables, and shadow nothing: a name the project already has is refused.
//!
//! The Refuel catalog underneath can be replaced (to see new projects, datasets and tasks)
//! while the session tables stay.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::TableType;

/// The schema for session tables when no project is current.
pub const SESSION_SCHEMA: &str = "public";

/// The Refuel catalog plus session tables per schema.
#[derive(Debug)]
pub struct ShellCatalog {
    inner: RwLock<Arc<dyn CatalogProvider>>,
    session: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl ShellCatalog {
    /// Wraps a Refuel catalog; the schema `public` holds session tables when no project is
    /// current.
    pub fn new(inner: Arc<dyn CatalogProvider>) -> Self {
        let mut session: BTreeMap<String, Arc<dyn SchemaProvider>> = BTreeMap::new();
        session.insert(
            SESSION_SCHEMA.to_string(),
            Arc::new(MemorySchemaProvider::new()),
        );
        Self {
            inner: RwLock::new(inner),
            session: RwLock::new(session),
        }
    }

    /// Replaces the Refuel catalog underneath (after a refresh); session tables stay.
    pub fn replace_inner(&self, inner: Arc<dyn CatalogProvider>) {
        if let Ok(mut slot) = self.inner.write() {
            *slot = inner;
        }
    }

    /// The Refuel catalog underneath.
    pub fn inner(&self) -> Option<Arc<dyn CatalogProvider>> {
        self.inner.read().ok().map(|c| Arc::clone(&c))
    }

    /// Whether `name` is a project.
    pub fn has_project(&self, name: &str) -> bool {
        self.inner()
            .is_some_and(|c| c.schema_names().iter().any(|n| n == name))
    }

    fn session_schema(&self, name: &str, create: bool) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(found) = self.session.read().ok()?.get(name) {
            return Some(Arc::clone(found));
        }
        if !create {
            return None;
        }
        let mut session = self.session.write().ok()?;
        let schema = session
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(MemorySchemaProvider::new()));
        Some(Arc::clone(schema))
    }
}

impl CatalogProvider for ShellCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner().map(|c| c.schema_names()).unwrap_or_default();
        if let Ok(session) = self.session.read() {
            names.extend(session.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let refuel = self.inner().and_then(|c| c.schema(name));
        let session = self.session_schema(name, refuel.is_some())?;
        Some(Arc::new(OverlaySchema { refuel, session }))
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

/// A project's tables, then the session's tables of the same schema.
#[derive(Debug)]
pub struct OverlaySchema {
    refuel: Option<Arc<dyn SchemaProvider>>,
    session: Arc<dyn SchemaProvider>,
}

#[async_trait]
impl SchemaProvider for OverlaySchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.session.table_names();
        if let Some(refuel) = &self.refuel {
            names.extend(refuel.table_names());
        }
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.session.table(name).await? {
            return Ok(Some(table));
        }
        match &self.refuel {
            Some(refuel) => refuel.table(name).await,
            None => Ok(None),
        }
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if let Some(kind) = self.session.table_type(name).await? {
            return Ok(Some(kind));
        }
        match &self.refuel {
            Some(refuel) => refuel.table_type(name).await,
            None => Ok(None),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.refuel.as_ref().is_some_and(|r| r.table_exist(&name)) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a table of the Refuel project; choose another name"
            )));
        }
        self.session.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.session.table_exist(name) {
            return self.session.deregister_table(name);
        }
        if self.refuel.as_ref().is_some_and(|r| r.table_exist(name)) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a table of the Refuel project: it cannot be dropped from the shell"
            )));
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.session.table_exist(name) || self.refuel.as_ref().is_some_and(|r| r.table_exist(name))
    }
}

/// What kind of table a provider is, for `\d`.
pub fn table_kind(table: &dyn TableProvider) -> &'static str {
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
    match table.table_type() {
        TableType::View => "session view",
        _ => "session table",
    }
}
