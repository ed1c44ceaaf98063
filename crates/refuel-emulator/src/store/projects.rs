//! Projects: a team's named containers of datasets, tasks and applications.

use super::records::CatalogRecord;
use super::{Store, StoreError, StoreResult, now};

/// A project as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ProjectRec {
    /// The project's UUID.
    pub(crate) id: String,
    /// The id of the owning team.
    pub(crate) team: String,
    /// Its name, unique within the team.
    pub(crate) name: String,
    /// Its description.
    pub(crate) description: String,
    /// Creation time.
    pub(crate) created_at: String,
    /// Last change.
    pub(crate) updated_at: String,
}

impl Store {
    /// The team's projects, oldest first.
    pub(crate) fn list_projects(&self, team: &str) -> Vec<ProjectRec> {
        self.projects
            .read()
            .values()
            .filter(|p| p.team == team)
            .cloned()
            .collect()
    }

    /// One of the team's projects.
    pub(crate) fn project(&self, team: &str, id: &str) -> StoreResult<ProjectRec> {
        self.projects
            .read()
            .get(id)
            .filter(|p| p.team == team)
            .cloned()
            .ok_or_else(|| StoreError::not_found("project", id))
    }

    /// Creates a project; names are unique within a team.
    pub(crate) fn create_project(
        &self,
        team: &str,
        name: &str,
        description: &str,
    ) -> StoreResult<ProjectRec> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::invalid(
                "project_name is required and must not be empty",
            ));
        }
        let mut projects = self.projects.write();
        if projects.values().any(|p| p.team == team && p.name == name) {
            return Err(StoreError::conflict(format!(
                "a project named '{name}' already exists"
            )));
        }
        let at = now();
        let rec = ProjectRec {
            id: uuid::Uuid::new_v4().to_string(),
            team: team.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            created_at: at.clone(),
            updated_at: at,
        };
        self.write_catalog(&CatalogRecord::ProjectCreated(rec.clone()))?;
        projects.insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// Deletes a project and its datasets.
    pub(crate) fn delete_project(&self, team: &str, id: &str) -> StoreResult<()> {
        let mut projects = self.projects.write();
        if projects.get(id).is_none_or(|p| p.team != team) {
            return Err(StoreError::not_found("project", id));
        }
        self.write_catalog(&CatalogRecord::ProjectDeleted { id: id.to_string() })?;
        projects.shift_remove(id);
        let mut datasets = self.datasets.write();
        let doomed: Vec<String> = datasets
            .values()
            .filter(|d| d.meta.read().project_id == id)
            .map(|d| d.meta.read().id.clone())
            .collect();
        for ds in doomed {
            datasets.shift_remove(&ds);
            let _ = std::fs::remove_dir_all(self.dataset_dir(&ds));
        }
        Ok(())
    }
}
