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

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{
    CatalogProvider, SchemaProvider, Session, TableFunctionArgs, TableFunctionImpl,
    TableProviderFactory,
};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{CreateExternalTable, Expr};
use datafusion::prelude::SessionContext;
use refuel_client::RefuelClient;
use refuel_client::models::{DatasetSummary, Task};

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;

use crate::columns::TableColumns;
use crate::metadata::{MetadataKind, MetadataTable};
use crate::offset_rule::PushOffsetIntoScan;
use crate::provider::RefuelTable;
use crate::sort_rule::PushSortThroughFilter;
use crate::write::{RefuelFormatFactory, RefuelWriteOptions};

/// DataFusion's default read-ahead of a scan whose order replaced a sort.
const DATAFUSION_SORT_BUFFER: usize = 1 << 30;
/// Ours: what an ordered scan may read ahead of its consumer.
const SORT_BUFFER: usize = 32 << 20;

fn external(e: refuel_client::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The projects of a team, as schemas.
#[derive(Debug)]
pub struct RefuelCatalog {
    client: RefuelClient,
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
            client,
            schemas: RwLock::default(),
            writes: Arc::new(writes),
        };
        catalog.refresh().await?;
        Ok(catalog)
    }

    /// Reads the team's projects again (with their datasets and tasks): projects made or
    /// deleted since show up or go; the session's own tables in a project stay.
    pub async fn refresh(&self) -> Result<()> {
        let known = read_lock(&self.schemas).clone();
        let mut schemas = BTreeMap::new();
        for project in self.client.projects().list().await.map_err(external)? {
            let schema = match known.get(&project.project_name) {
                Some(schema) if schema.client.project() == Some(project.id.as_str()) => {
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
        *write_lock(&self.schemas) = schemas;
        Ok(())
    }

    /// A project's schema by name or id.
    pub fn project(&self, name: &str) -> Result<Arc<RefuelSchema>> {
        let schemas = read_lock(&self.schemas);
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
        read_lock(&self.schemas).keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        read_lock(&self.schemas)
            .get(name)
            .map(|s| Arc::clone(s) as Arc<dyn SchemaProvider>)
    }
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a project holds, as last listed.
#[derive(Debug, Default)]
struct Listing {
    project: String,
    datasets: BTreeMap<String, DatasetSummary>,
    tasks: BTreeMap<String, Task>,
    /// Tables whose columns the listing did not give, made by reading their dataset, by
    /// dataset id and task id.
    read: std::sync::Mutex<BTreeMap<(String, Option<String>), RefuelTable>>,
}

impl Listing {
    async fn read(client: &RefuelClient, project: &str) -> Result<Self> {
        let datasets = client
            .datasets()
            .list()
            .await
            .map_err(external)?
            .into_iter()
            .map(|d| (d.dataset_name.clone(), d))
            .collect();
        let tasks = client
            .tasks()
            .list()
            .await
            .map_err(external)?
            .into_iter()
            .map(|t| (t.task_name.clone(), t))
            .collect();
        Ok(Self {
            project: project.to_string(),
            datasets,
            tasks,
            read: std::sync::Mutex::default(),
        })
    }

    fn dataset(&self, name_or_id: &str) -> Result<&DatasetSummary> {
        self.datasets
            .get(name_or_id)
            .or_else(|| self.datasets.values().find(|d| d.id == name_or_id))
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "Refuel dataset '{name_or_id}' not found in project {} (datasets: {})",
                    self.project,
                    self.datasets.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })
    }

    fn task(&self, name_or_id: &str) -> Result<&Task> {
        self.tasks
            .get(name_or_id)
            .or_else(|| self.tasks.values().find(|t| t.id == name_or_id))
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "Refuel task '{name_or_id}' not found in project {} (tasks: {})",
                    self.project,
                    self.tasks.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })
    }

    fn labels_of(&self, name: &str) -> Option<&Task> {
        self.tasks.get(name.strip_suffix("_labels")?)
    }

    /// The table called `name`, if the listing has it.
    async fn table(
        &self,
        client: &RefuelClient,
        name: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(ds) = self.datasets.get(name) {
            return Ok(Some(Arc::new(self.dataset_table(client, ds, None).await?)));
        }
        if let Some(task) = self.labels_of(name) {
            let Some(dataset_id) = task.dataset_id.as_deref() else {
                return Ok(None);
            };
            let ds = self.dataset(dataset_id)?;
            return Ok(Some(Arc::new(
                self.dataset_table(client, ds, Some(task)).await?,
            )));
        }
        Ok(None)
    }

    /// The table of a listed dataset, with a task's labels when given: from the listing
    /// when it gives the columns, else read once (see the module documentation).
    async fn dataset_table(
        &self,
        client: &RefuelClient,
        ds: &DatasetSummary,
        task: Option<&Task>,
    ) -> Result<RefuelTable> {
        if let Some(table) = self.listed_table(client, ds, task)? {
            return Ok(table);
        }
        let key = (ds.id.clone(), task.map(|t| t.id.clone()));
        if let Some(table) = lock(&self.read).get(&key) {
            return Ok(table.clone());
        }
        let table = RefuelTable::try_new(client.clone(), &ds.id, task.map(|t| t.id.as_str()))
            .await
            .map_err(|e| {
                e.context(format!(
                    "reading the columns of Refuel dataset {} (the listing gives no schema \
                     or column metadata)",
                    ds.dataset_name
                ))
            })?;
        lock(&self.read).insert(key, table.clone());
        Ok(table)
    }

    /// Keeps the tables `before` read whose dataset (and task) are listed unchanged here.
    fn keep_read_tables(&self, before: &Listing) {
        let unchanged = |(dataset_id, task_id): &(String, Option<String>)| {
            let entry = |l: &Listing| l.datasets.values().find(|d| &d.id == dataset_id).cloned();
            let task = |l: &Listing| {
                task_id
                    .as_ref()
                    .map(|id| l.tasks.values().find(|t| &t.id == id).cloned())
            };
            entry(before).is_some() && entry(before) == entry(self) && task(before) == task(self)
        };
        let kept: BTreeMap<_, _> = lock(&before.read)
            .iter()
            .filter(|(key, _)| unchanged(key))
            .map(|(key, table)| (key.clone(), table.clone()))
            .collect();
        lock(&self.read).extend(kept);
    }

    /// The table of a listed dataset when the listing gives its columns (`None`: they must
    /// be read), without a request.
    fn listed_table(
        &self,
        client: &RefuelClient,
        ds: &DatasetSummary,
        task: Option<&Task>,
    ) -> Result<Option<RefuelTable>> {
        if TableColumns::typed(&ds.dataset_schema, &ds.column_metadata).is_none() {
            if let Some(table) = lock(&self.read).get(&(ds.id.clone(), task.map(|t| t.id.clone())))
            {
                return Ok(Some(table.clone()));
            }
            return Ok(None);
        }
        RefuelTable::from_parts(client.clone(), ds, task).map(Some)
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
        *write_lock(&self.listing) = Arc::new(listing);
        Ok(())
    }

    fn listing(&self) -> Arc<Listing> {
        Arc::clone(&read_lock(&self.listing))
    }

    /// The client scoped to this project.
    pub fn client(&self) -> &RefuelClient {
        &self.client
    }

    /// Whether `name` is a table the session registered here (an external table or a
    /// view), not one of the project's.
    pub fn is_session_table(&self, name: &str) -> bool {
        read_lock(&self.local).contains_key(name)
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
        names.extend(read_lock(&self.local).keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = read_lock(&self.local).get(name) {
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
        Ok(write_lock(&self.local).insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = write_lock(&self.local).remove(name) {
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
        if read_lock(&self.local).contains_key(name) {
            return true;
        }
        let listing = self.listing();
        listing.datasets.contains_key(name)
            || listing.labels_of(name).is_some()
            || MetadataKind::ALL.iter().any(|k| k.name() == name)
    }
}

/// The name of the table function [`RefuelItemsFunction`].
pub const REFUEL_ITEMS: &str = "refuel_items";

/// `refuel_items('[<project>/]<dataset>' [, '<task>'])`: a dataset (with a task's labels) as
/// a table. Without a project, the client's (`REFUEL_PROJECT`).
#[derive(Debug)]
pub struct RefuelItemsFunction {
    catalog: Arc<RefuelCatalog>,
    /// The name the catalog is registered under.
    catalog_name: String,
    default_project: Option<String>,
}

fn text_arg(e: &Expr, what: &str) -> Result<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Ok(s.clone()),
        other => Err(DataFusionError::Plan(format!(
            "refuel_items: the {what} must be a string literal, got {other}"
        ))),
    }
}

impl TableFunctionImpl for RefuelItemsFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 2 {
            return Err(DataFusionError::Plan("refuel_items takes a dataset and, optionally, a task: refuel_items('<dataset>' [, '<task>'])".into()));
        }
        let dataset = text_arg(&exprs[0], "dataset")?;
        let task = exprs.get(1).map(|e| text_arg(e, "task")).transpose()?;
        let (project, dataset) = match dataset.split_once('/') {
            Some((p, d)) => (p.to_string(), d.to_string()),
            None => {
                // The session's current project when it is one of ours, else the client's.
                let options = &args.session().config_options().catalog;
                let current = (options.default_catalog == self.catalog_name)
                    .then(|| options.default_schema.clone())
                    .filter(|p| self.catalog.project(p).is_ok());
                let project = current.or_else(|| self.default_project.clone()).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "refuel_items('{dataset}'): no project is set; write '<project>/{dataset}'"
                    ))
                })?;
                (project, dataset)
            }
        };
        let schema = self.catalog.project(&project)?;
        Ok(Arc::new(schema.dataset_table(&dataset, task.as_deref())?))
    }
}

/// `CREATE EXTERNAL TABLE t STORED AS REFUEL LOCATION 'refuel://<project>/<dataset>[?task=<task>]'`.
#[derive(Debug)]
pub struct RefuelTableFactory {
    client: RefuelClient,
}

impl RefuelTableFactory {
    /// A factory reading through `client`.
    pub fn new(client: RefuelClient) -> Self {
        Self { client }
    }
}

/// Splits `refuel://<project>/<dataset>[?task=<task>]`.
pub fn parse_location(location: &str) -> Result<(String, String, Option<String>)> {
    let bad = |why: &str| {
        DataFusionError::Plan(format!(
            "LOCATION '{location}' {why}: expected 'refuel://<project>/<dataset>[?task=<task>]'"
        ))
    };
    let rest = location
        .strip_prefix("refuel://")
        .ok_or_else(|| bad("is not a refuel:// URL"))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let (project, dataset) = path
        .split_once('/')
        .ok_or_else(|| bad("names no dataset"))?;
    if project.is_empty() || dataset.is_empty() || dataset.contains('/') {
        return Err(bad("needs exactly a project and a dataset"));
    }
    let mut task = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("task", t)) if !t.is_empty() => task = Some(t.to_string()),
            _ => return Err(bad(&format!("has an unknown parameter '{pair}'"))),
        }
    }
    Ok((project.to_string(), dataset.to_string(), task))
}

#[async_trait]
impl TableProviderFactory for RefuelTableFactory {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let [location] = cmd.locations.as_slice() else {
            return Err(DataFusionError::Plan(
                "STORED AS REFUEL takes one LOCATION".into(),
            ));
        };
        let (project, dataset, task) = parse_location(location)?;
        let table =
            RefuelTable::try_new(self.client.with_project(project), &dataset, task.as_deref())
                .await?;
        if !cmd.schema.fields().is_empty()
            && cmd.schema.fields().len() != table.columns().schema.fields().len()
        {
            return Err(DataFusionError::Plan(format!(
                "the columns declared for {} do not match the dataset's; declare none to take the dataset's",
                cmd.name
            )));
        }
        Ok(Arc::new(table))
    }
}

/// Registers Refuel in a `SessionContext`.
#[async_trait]
pub trait RefuelContextExt {
    /// Registers the client's team as catalog `name` (`name.<project>.<table>`; `CREATE
    /// TABLE name.<project>.<new> AS ...` makes a dataset), the `refuel_items` table
    /// function, `STORED AS REFUEL` for `CREATE EXTERNAL TABLE` (reads) and `COPY ... TO
    /// 'refuel://<project>/<dataset>'` (new datasets, streamed), and adds the
    /// physical rules that push ORDER BY past filters ([`PushSortThroughFilter`]) and
    /// OFFSET into scans ([`PushOffsetIntoScan`]). Unless the session set it, it lowers
    /// `datafusion.execution.sort_pushdown_buffer_capacity` from 1 GiB to 32 MiB: how far an
    /// ordered scan reads ahead of its consumer.
    ///
    /// Returns the catalog, e.g. to [`RefuelCatalog::refresh`] it.
    async fn register_refuel(
        &self,
        name: &str,
        client: RefuelClient,
    ) -> Result<Arc<RefuelCatalog>> {
        self.register_refuel_with(name, client, RefuelWriteOptions::default())
            .await
    }

    /// The same, with how new datasets are written: by `CREATE TABLE ... AS` and, as
    /// defaults, by `COPY ... TO 'refuel://<project>/<dataset>' STORED AS REFUEL` (see
    /// [`crate::write`]).
    async fn register_refuel_with(
        &self,
        name: &str,
        client: RefuelClient,
        writes: RefuelWriteOptions,
    ) -> Result<Arc<RefuelCatalog>>;
}

#[async_trait]
impl RefuelContextExt for SessionContext {
    async fn register_refuel_with(
        &self,
        name: &str,
        client: RefuelClient,
        writes: RefuelWriteOptions,
    ) -> Result<Arc<RefuelCatalog>> {
        let catalog = Arc::new(RefuelCatalog::try_new_with(client.clone(), writes.clone()).await?);
        self.register_catalog(name, Arc::clone(&catalog) as Arc<dyn CatalogProvider>);
        self.register_udtf(
            REFUEL_ITEMS,
            Arc::new(RefuelItemsFunction {
                catalog: Arc::clone(&catalog),
                catalog_name: name.to_string(),
                default_project: client.project().map(str::to_string),
            }),
        );
        let state_ref = self.state_ref();
        let mut state = state_ref.write();
        state.table_factories_mut().insert(
            "REFUEL".to_string(),
            Arc::new(RefuelTableFactory::new(client.clone())),
        );
        state.register_file_format(Arc::new(RefuelFormatFactory::new(client, writes)), true)?;
        let rules = state.physical_optimizers();
        let has = |name: &str| rules.iter().any(|r| r.name() == name);
        if !has(PushSortThroughFilter.name()) || !has(PushOffsetIntoScan.name()) {
            // Ours first (the sort, before DataFusion plans distribution) and last (the
            // offset, once DataFusion has placed its limits).
            let mut rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> =
                vec![Arc::new(PushSortThroughFilter)];
            rules.extend(state.physical_optimizers().iter().cloned());
            rules.push(Arc::new(PushOffsetIntoScan));
            *state = SessionStateBuilder::new_from_existing(state.clone())
                .with_physical_optimizer_rules(rules)
                .build();
        }
        let execution = &mut state.config_mut().options_mut().execution;
        if execution.sort_pushdown_buffer_capacity == DATAFUSION_SORT_BUFFER {
            // An ordered scan read ahead of its consumer: a few pages, not a gigabyte.
            execution.sort_pushdown_buffer_capacity = SORT_BUFFER;
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_location;

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("refuel://p/d").unwrap(),
            ("p".into(), "d".into(), None)
        );
        assert_eq!(
            parse_location("refuel://p/d?task=t").unwrap(),
            ("p".into(), "d".into(), Some("t".into()))
        );
        for bad in [
            "s3://p/d",
            "refuel://p",
            "refuel:///d",
            "refuel://p/d/e",
            "refuel://p/d?x=1",
        ] {
            let err = parse_location(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
