//! A project as a schema: its datasets, label tables and metadata tables, the session's own
//! tables beside them, and `CREATE TABLE ... AS` writing new datasets.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result};
use parking_lot::RwLock;
use refuel_client::RefuelClient;

use super::REFUEL_ITEMS;
use super::listing::Listing;
use crate::metadata::{MetadataKind, MetadataTable};
use crate::provider::RefuelTable;
use crate::write::RefuelWriteOptions;

/// The datasets, label tables and metadata tables of a project.
///
/// The project's datasets and tasks are listed when the schema is made; a name the listing
/// does not know makes it list them again (so a dataset made since is found), and
/// [`RefuelSchema::refresh`] does so on demand.
///
/// Tables the session registers in it (`CREATE EXTERNAL TABLE`, `CREATE VIEW`) live in the
/// session only, beside the project's own, which they may not shadow.
#[derive(Debug)]
pub struct RefuelSchema {
    client: RefuelClient,
    /// The project's name, for messages.
    name: String,
    listing: RwLock<Arc<Listing>>,
    local: RwLock<BTreeMap<String, Arc<dyn TableProvider>>>,
    writes: Arc<RefuelWriteOptions>,
}

impl RefuelSchema {
    /// Reads the project's datasets and tasks (the client's project).
    pub async fn try_new(client: RefuelClient) -> Result<Self> {
        let name = client.project().unwrap_or_default().to_string();
        Self::named(client, name, Arc::default()).await
    }

    /// Reads the datasets and tasks of the client's project, called `name` in messages;
    /// `CREATE TABLE ... AS` writes new datasets as `writes` say.
    pub async fn named(
        client: RefuelClient,
        name: String,
        writes: Arc<RefuelWriteOptions>,
    ) -> Result<Self> {
        let listing = Listing::read(&client, &name).await?;
        Ok(Self {
            client,
            name,
            listing: RwLock::new(Arc::new(listing)),
            local: RwLock::default(),
            writes,
        })
    }

    /// Writes a table collected by `CREATE TABLE <name> AS ...` as the new dataset `name`,
    /// then lists the project again so the dataset is a table. `register_table` is not
    /// async, so this blocks its thread (on a multi-threaded tokio runtime) until the
    /// dataset is ingested.
    fn create_dataset(&self, name: &str, table: &MemTable) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let Some(handle) = handle else {
            return Err(DataFusionError::Plan(format!(
                "CREATE TABLE {name} AS ... in Refuel project {} needs a multi-threaded tokio \
                 runtime; COPY (SELECT ...) TO 'refuel://{}/{name}' STORED AS REFUEL works on any",
                self.name, self.name
            )));
        };
        let mut batches = Vec::new();
        for partition in &table.batches {
            let part = partition.try_read().map_err(|_| {
                DataFusionError::Internal(format!("the rows of {name} are being written"))
            })?;
            batches.extend(part.iter().cloned());
        }
        let schema = table.schema();
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let rows = futures::stream::iter(batches.into_iter().map(Ok));
                self.writes
                    .write(self.client.clone(), name, schema, rows)
                    .await
                    .map_err(|e| {
                        e.context(format!(
                            "CREATE TABLE {name} AS ... in Refuel project {}",
                            self.name
                        ))
                    })?;
                self.refresh().await
            })
        })
    }

    /// Lists the project's datasets and tasks again.
    pub async fn refresh(&self) -> Result<()> {
        let listing = Listing::read(&self.client, &self.name).await?;
        listing.keep_read_tables(&self.listing());
        *self.listing.write() = Arc::new(listing);
        Ok(())
    }

    fn listing(&self) -> Arc<Listing> {
        Arc::clone(&self.listing.read())
    }

    /// The client scoped to this project.
    pub fn client(&self) -> &RefuelClient {
        &self.client
    }

    /// Whether `name` is a table the session registered here (an external table or a
    /// view), not one of the project's.
    pub fn is_session_table(&self, name: &str) -> bool {
        self.local.read().contains_key(name)
    }

    /// The table of a dataset (name or id), with a task's labels when given. A dataset the
    /// listing gives no columns of is read (see the module documentation), which blocks
    /// this thread: that needs a multi-threaded tokio runtime; [`Self::read_dataset_table`]
    /// is the async way.
    pub fn dataset_table(&self, dataset: &str, task: Option<&str>) -> Result<RefuelTable> {
        let listing = self.listing();
        let ds = listing.dataset(dataset)?;
        let task = task.map(|t| listing.task(t)).transpose()?;
        if let Some(table) = listing.listed_table(&self.client, ds, task)? {
            return Ok(table);
        }
        let handle = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let Some(handle) = handle else {
            return Err(DataFusionError::Plan(format!(
                "Refuel dataset {} of project {} has no schema or column metadata in the \
                 listing, so its columns must be read, which needs a multi-threaded tokio \
                 runtime here; query it as a table of the catalog instead",
                ds.dataset_name, self.name
            )));
        };
        tokio::task::block_in_place(|| {
            handle.block_on(listing.dataset_table(&self.client, ds, task))
        })
    }

    /// The table of a dataset (name or id), with a task's labels when given, reading the
    /// dataset when the listing gives no columns of it.
    pub async fn read_dataset_table(
        &self,
        dataset: &str,
        task: Option<&str>,
    ) -> Result<RefuelTable> {
        let listing = self.listing();
        let ds = listing.dataset(dataset)?;
        let task = task.map(|t| listing.task(t)).transpose()?;
        listing.dataset_table(&self.client, ds, task).await
    }
}

#[async_trait]
impl SchemaProvider for RefuelSchema {
    fn table_names(&self) -> Vec<String> {
        let listing = self.listing();
        let mut names: Vec<String> = MetadataKind::ALL
            .iter()
            .map(|k| k.name().to_string())
            .collect();
        names.extend(listing.datasets.keys().cloned());
        names.extend(listing.tasks.keys().map(|t| format!("{t}_labels")));
        names.extend(self.local.read().keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.local.read().get(name) {
            return Ok(Some(Arc::clone(table)));
        }
        if let Some(table) = self.listing().table(&self.client, name).await? {
            return Ok(Some(table));
        }
        if let Some(kind) = MetadataKind::ALL.into_iter().find(|k| k.name() == name) {
            return Ok(Some(Arc::new(MetadataTable::new(
                self.client.clone(),
                kind,
            ))));
        }
        // DataFusion looks a table function's name up as a table too: ours is no dataset.
        if name == REFUEL_ITEMS {
            return Ok(None);
        }
        // A path or URL is no dataset: the session may read it as files (see `lake`).
        if crate::lake::looks_like_location(name) {
            return Ok(None);
        }
        // Not known: perhaps made since the last listing.
        self.refresh().await?;
        self.listing().table(&self.client, name).await
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let listing = self.listing();
        if listing.datasets.contains_key(&name) || listing.labels_of(&name).is_some() {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a table of Refuel project {} already",
                self.name
            )));
        }
        if let Some(rows) = table.downcast_ref::<MemTable>() {
            // CREATE TABLE ... AS: a new dataset.
            self.create_dataset(&name, rows)?;
            return Ok(None);
        }
        Ok(self.local.write().insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.local.write().remove(name) {
            return Ok(Some(table));
        }
        if self.listing().datasets.contains_key(name) {
            return Err(DataFusionError::Plan(format!(
                "DROP TABLE {name}: Refuel datasets are not deleted from SQL; delete it with the \
                 client or the web app"
            )));
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        if self.local.read().contains_key(name) {
            return true;
        }
        let listing = self.listing();
        listing.datasets.contains_key(name)
            || listing.labels_of(name).is_some()
            || MetadataKind::ALL.iter().any(|k| k.name() == name)
    }
}
