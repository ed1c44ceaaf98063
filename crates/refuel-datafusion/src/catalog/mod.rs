//! Projects as schemas, datasets and task label tables as tables, and the ways to register
//! them in a `SessionContext`.
//!
//! `ctx.register_refuel("refuel", client)` makes `refuel.<project>.<dataset>` a table of the
//! dataset's rows, `refuel.<project>.<task>_labels` the rows of the task's dataset with the
//! task's label columns (see [`crate::columns`]), and `datasets`, `tasks`, `task_runs`,
//! `applications` and `finetuned_models` metadata tables (see [`crate::metadata`]; a
//! dataset of one of these names takes its place). It also registers the table function
//! `refuel_items('[<project>/]<dataset>' [, '<task>'])` and
//! `CREATE EXTERNAL TABLE t STORED AS REFUEL LOCATION 'refuel://<project>/<dataset>[?task=<task>]'`.
//!
//! The lists of projects, datasets (with their schemas) and tasks are read once, when the
//! catalog is registered; rows are read by every query.
//!
//! A table's column types come from what the listing says of its dataset (see
//! [`crate::columns`]): the entry's `column_metadata` when the listing carries it, else its
//! schema, with no request per table. Only a dataset the listing gives neither (no schema,
//! no column metadata: e.g. still ingesting) is read when its table is first asked for:
//! one dataset get (for its schema or column metadata) and, when that has neither either,
//! its first rows; the table is then kept until the project is listed again.

mod factory;
mod items_function;
mod listing;
mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::error::{DataFusionError, Result};
use parking_lot::RwLock;
use refuel_client::RefuelClient;

pub use factory::RefuelTableFactory;
pub use items_function::{REFUEL_ITEMS, RefuelItemsFunction};
pub use schema::RefuelSchema;

use crate::error::external;
use crate::write::RefuelWriteOptions;

/// The projects of a team, as schemas.
#[derive(Debug)]
pub struct RefuelCatalog {
    client: RefuelClient,
    applications: Arc<crate::label::ApplicationDirectory>,
    schemas: RwLock<BTreeMap<String, Arc<RefuelSchema>>>,
    writes: Arc<RefuelWriteOptions>,
}

impl RefuelCatalog {
    /// Reads the team's projects, and each project's datasets and tasks.
    pub async fn try_new(client: RefuelClient) -> Result<Self> {
        Self::try_new_with(client, RefuelWriteOptions::default()).await
    }

    /// The same, with how `CREATE TABLE ... AS` writes new datasets.
    pub async fn try_new_with(client: RefuelClient, writes: RefuelWriteOptions) -> Result<Self> {
        let catalog = Self {
            applications: Arc::new(crate::label::ApplicationDirectory::new(client.clone())),
            client,
            schemas: RwLock::default(),
            writes: Arc::new(writes),
        };
        catalog.refresh().await?;
        Ok(catalog)
    }

    /// The applications `refuel_label` resolves names in (the client's project first).
    pub fn applications(&self) -> &Arc<crate::label::ApplicationDirectory> {
        &self.applications
    }

    /// Reads the team's projects again (with their datasets and tasks): projects made or
    /// deleted since show up or go; the session's own tables in a project stay.
    pub async fn refresh(&self) -> Result<()> {
        let known = self.schemas.read().clone();
        let mut schemas = BTreeMap::new();
        for project in self.client.projects().list().await.map_err(external)? {
            let schema = match known.get(&project.project_name) {
                Some(schema) if schema.client().project() == Some(project.id.as_str()) => {
                    schema.refresh().await?;
                    Arc::clone(schema)
                }
                _ => Arc::new(
                    RefuelSchema::named(
                        self.client.with_project(project.id.clone()),
                        project.project_name.clone(),
                        Arc::clone(&self.writes),
                    )
                    .await?,
                ),
            };
            schemas.insert(project.project_name.clone(), schema);
        }
        *self.schemas.write() = schemas;
        Ok(())
    }

    /// A project's schema by name or id.
    pub fn project(&self, name: &str) -> Result<Arc<RefuelSchema>> {
        let schemas = self.schemas.read();
        let found = schemas.get(name).or_else(|| {
            schemas
                .values()
                .find(|s| s.client().project() == Some(name))
        });
        found.cloned().ok_or_else(|| {
            DataFusionError::Plan(format!(
                "Refuel project '{name}' not found (projects: {})",
                schemas.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

impl CatalogProvider for RefuelCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.read().keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas
            .read()
            .get(name)
            .map(|s| Arc::clone(s) as Arc<dyn SchemaProvider>)
    }
}
