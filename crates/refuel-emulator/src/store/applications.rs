//! Applications: deployed tasks, each with a dataset logging its inputs and labels.

use refuel_client::models::{ColumnType, DatasetSource};
use serde::{Deserialize, Serialize};

use super::records::CatalogRecord;
use super::tasks::TaskRec;
use super::{Store, StoreError, StoreResult, now};
use crate::model::Table;

/// An application as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AppRec {
    /// The application's UUID.
    pub(crate) id: String,
    /// The owning team.
    pub(crate) team: String,
    /// The project.
    pub(crate) project_id: String,
    /// The task it serves.
    pub(crate) task_id: String,
    /// Its name, unique within the project.
    pub(crate) name: String,
    /// The dataset logging its inputs and labels.
    pub(crate) log_dataset_id: String,
    /// Creation time.
    pub(crate) created_at: String,
}

impl Store {
    /// Deploys a task: the application and the dataset that logs its inputs and labels.
    pub(crate) fn create_app(
        &self,
        team: &str,
        project_id: &str,
        task: &TaskRec,
        name: &str,
    ) -> StoreResult<AppRec> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("application_name must not be empty"));
        }
        if self
            .apps
            .read()
            .values()
            .any(|a| a.project_id == project_id && a.name == name)
        {
            return Err(StoreError::conflict(format!(
                "an application named '{name}' already exists in this project"
            )));
        }
        let source = self.dataset(team, &task.dataset_id)?;
        let (columns, metadata): (Vec<(String, ColumnType)>, _) = {
            let data = source.data.read();
            let columns = data
                .columns
                .iter()
                .cloned()
                .zip(data.types.iter().cloned())
                .collect();
            (columns, data.metadata_types())
        };
        let mut log_name = format!("{name} (application log)");
        let mut n = 2;
        while self
            .list_datasets(team, Some(project_id))
            .iter()
            .any(|d| d.meta.read().name == log_name)
        {
            log_name = format!("{name} (application log {n})");
            n += 1;
        }
        let log =
            self.create_dataset(team, project_id, &log_name, DatasetSource::File, None, None)?;
        let log_id = log.meta.read().id.clone();
        self.complete_ingest(
            &log_id,
            Table {
                columns,
                rows: Vec::new(),
                metadata,
            },
        )?;
        let rec = AppRec {
            id: uuid::Uuid::new_v4().to_string(),
            team: team.to_string(),
            project_id: project_id.to_string(),
            task_id: task.id.clone(),
            name: name.to_string(),
            log_dataset_id: log_id,
            created_at: now(),
        };
        self.write_catalog(&CatalogRecord::AppCreated(rec.clone()))?;
        self.apps.write().insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// The team's applications in a project.
    pub(crate) fn list_apps(&self, team: &str, project_id: &str) -> Vec<AppRec> {
        self.apps
            .read()
            .values()
            .filter(|a| a.team == team && a.project_id == project_id)
            .cloned()
            .collect()
    }

    /// One of the team's applications.
    pub(crate) fn app(&self, team: &str, id: &str) -> StoreResult<AppRec> {
        self.apps
            .read()
            .get(id)
            .filter(|a| a.team == team)
            .cloned()
            .ok_or_else(|| StoreError::not_found("application", id))
    }
}
