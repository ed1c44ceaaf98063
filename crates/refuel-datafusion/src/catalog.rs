//! Projects as schemas, datasets and task label tables as tables.
//!
//! `ctx.register_refuel("refuel", client)` makes `refuel.<project>.<dataset>` a table of the
//! dataset's rows, and `refuel.<project>.<task>_labels` the rows of the task's dataset with
//! the task's label columns (see [`crate::columns`]); `datasets`, `tasks`, `task_runs`,
//! `applications` and `finetuned_models` are metadata tables (see [`crate::metadata`]). The
//! lists of projects, datasets and
//! tasks are read when the catalog is registered; a table's schema when a query first
//! names it (then cached).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use parking_lot::Mutex;
use refuel_client::RefuelClient;

use crate::metadata::{MetadataKind, MetadataTable};
use crate::provider::RefuelTable;

fn external(e: refuel_client::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// What a table name of a project stands for.
#[derive(Debug, Clone)]
enum TableRef {
    Dataset { id: String },
    Labels { dataset_id: String, task_id: String },
    Metadata(MetadataKind),
}

/// The projects of a team, as schemas.
#[derive(Debug)]
pub struct RefuelCatalog {
    schemas: BTreeMap<String, Arc<RefuelSchema>>,
}

impl RefuelCatalog {
    /// Reads the team's projects, and each project's datasets and tasks.
    pub async fn try_new(client: RefuelClient) -> Result<Self> {
        let mut schemas = BTreeMap::new();
        for project in client.projects().list().await.map_err(external)? {
            let scoped = client.with_project(project.id.clone());
            schemas.insert(
                project.project_name.clone(),
                Arc::new(RefuelSchema::try_new(scoped).await?),
            );
        }
        Ok(Self { schemas })
    }
}

impl CatalogProvider for RefuelCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas
            .get(name)
            .map(|s| Arc::clone(s) as Arc<dyn SchemaProvider>)
    }
}

/// The datasets and task label tables of a project.
#[derive(Debug)]
pub struct RefuelSchema {
    client: RefuelClient,
    tables: BTreeMap<String, TableRef>,
    opened: Mutex<BTreeMap<String, Arc<RefuelTable>>>,
}

impl RefuelSchema {
    /// Reads the project's datasets and tasks (the client's project).
    pub async fn try_new(client: RefuelClient) -> Result<Self> {
        let mut tables = BTreeMap::new();
        // Datasets and label tables named like a metadata table take its place.
        for kind in MetadataKind::ALL {
            tables.insert(kind.name().to_string(), TableRef::Metadata(kind));
        }
        for ds in client.datasets().list().await.map_err(external)? {
            tables.insert(
                ds.dataset_name.clone(),
                TableRef::Dataset { id: ds.id.clone() },
            );
        }
        for task in client.tasks().list().await.map_err(external)? {
            if let Some(dataset_id) = task.dataset_id.clone() {
                tables.insert(
                    format!("{}_labels", task.task_name),
                    TableRef::Labels {
                        dataset_id,
                        task_id: task.id.clone(),
                    },
                );
            }
        }
        Ok(Self {
            client,
            tables,
            opened: Mutex::new(BTreeMap::new()),
        })
    }
}

#[async_trait]
impl SchemaProvider for RefuelSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.opened.lock().get(name) {
            return Ok(Some(Arc::clone(t) as Arc<dyn TableProvider>));
        }
        let Some(reference) = self.tables.get(name) else {
            return Ok(None);
        };
        let table = match reference {
            TableRef::Dataset { id } => RefuelTable::try_new(self.client.clone(), id, None).await?,
            TableRef::Labels {
                dataset_id,
                task_id,
            } => RefuelTable::try_new(self.client.clone(), dataset_id, Some(task_id)).await?,
            TableRef::Metadata(kind) => {
                return Ok(Some(Arc::new(MetadataTable::new(
                    self.client.clone(),
                    *kind,
                ))));
            }
        };
        let table = Arc::new(table);
        self.opened
            .lock()
            .insert(name.to_string(), Arc::clone(&table));
        Ok(Some(table))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
}

/// Registers Refuel in a `SessionContext`.
#[async_trait]
pub trait RefuelContextExt {
    /// Registers the client's team as catalog `name`: `name.<project>.<table>`.
    async fn register_refuel(&self, name: &str, client: RefuelClient) -> Result<()>;
}

#[async_trait]
impl RefuelContextExt for SessionContext {
    async fn register_refuel(&self, name: &str, client: RefuelClient) -> Result<()> {
        let catalog = RefuelCatalog::try_new(client).await?;
        self.register_catalog(name, Arc::new(catalog));
        Ok(())
    }
}
