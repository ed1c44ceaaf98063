//! What a project holds, as last listed: its datasets and tasks, and the tables made of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use parking_lot::Mutex;
use refuel_client::RefuelClient;
use refuel_client::models::{DatasetSummary, Task};

use crate::columns::TableColumns;
use crate::error::external;
use crate::provider::RefuelTable;

/// What a project holds, as last listed.
#[derive(Debug, Default)]
pub(super) struct Listing {
    project: String,
    pub(super) datasets: BTreeMap<String, DatasetSummary>,
    pub(super) tasks: BTreeMap<String, Task>,
    /// Tables whose columns the listing did not give, made by reading their dataset, by
    /// dataset id and task id.
    read: Mutex<BTreeMap<(String, Option<String>), RefuelTable>>,
}

impl Listing {
    pub(super) async fn read(client: &RefuelClient, project: &str) -> Result<Self> {
        // Both listings at once (after the project): a round trip each, not two in a row.
        client.project_id().await.map_err(external)?;
        let datasets = client.datasets();
        let tasks = client.tasks();
        let (datasets, tasks) = futures::future::try_join(datasets.list(), tasks.list())
            .await
            .map_err(external)?;
        let datasets = datasets
            .into_iter()
            .map(|d| (d.dataset_name.clone(), d))
            .collect();
        let tasks = tasks
            .into_iter()
            .map(|t| (t.task_name.clone(), t))
            .collect();
        Ok(Self {
            project: project.to_string(),
            datasets,
            tasks,
            read: Mutex::default(),
        })
    }

    pub(super) fn dataset(&self, name_or_id: &str) -> Result<&DatasetSummary> {
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

    pub(super) fn task(&self, name_or_id: &str) -> Result<&Task> {
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

    pub(super) fn labels_of(&self, name: &str) -> Option<&Task> {
        self.tasks.get(name.strip_suffix("_labels")?)
    }

    /// The table called `name`, if the listing has it.
    pub(super) async fn table(
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
    pub(super) async fn dataset_table(
        &self,
        client: &RefuelClient,
        ds: &DatasetSummary,
        task: Option<&Task>,
    ) -> Result<RefuelTable> {
        if let Some(table) = self.listed_table(client, ds, task)? {
            return Ok(table);
        }
        let key = (ds.id.clone(), task.map(|t| t.id.clone()));
        if let Some(table) = self.read.lock().get(&key) {
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
        self.read.lock().insert(key, table.clone());
        Ok(table)
    }

    /// Keeps the tables `before` read whose dataset (and task) are listed unchanged here.
    pub(super) fn keep_read_tables(&self, before: &Listing) {
        let unchanged = |(dataset_id, task_id): &(String, Option<String>)| {
            let entry = |l: &Listing| l.datasets.values().find(|d| &d.id == dataset_id).cloned();
            let task = |l: &Listing| {
                task_id
                    .as_ref()
                    .map(|id| l.tasks.values().find(|t| &t.id == id).cloned())
            };
            entry(before).is_some() && entry(before) == entry(self) && task(before) == task(self)
        };
        let kept: BTreeMap<_, _> = before
            .read
            .lock()
            .iter()
            .filter(|(key, _)| unchanged(key))
            .map(|(key, table)| (key.clone(), table.clone()))
            .collect();
        self.read.lock().extend(kept);
    }

    /// The table of a listed dataset when the listing gives its columns (`None`: they must
    /// be read), without a request.
    pub(super) fn listed_table(
        &self,
        client: &RefuelClient,
        ds: &DatasetSummary,
        task: Option<&Task>,
    ) -> Result<Option<RefuelTable>> {
        if TableColumns::typed(&ds.dataset_schema, &ds.column_metadata).is_none() {
            if let Some(table) = self
                .read
                .lock()
                .get(&(ds.id.clone(), task.map(|t| t.id.clone())))
            {
                return Ok(Some(table.clone()));
            }
            return Ok(None);
        }
        RefuelTable::from_parts(client.clone(), ds, task).map(Some)
    }
}
