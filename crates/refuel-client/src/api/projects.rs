//! Projects: list, get, create, delete.

use reqwest::Method;

use crate::RefuelClient;
use crate::error::{ResourceKind, Result};
use crate::models::Project;
use crate::transport::Call;

use super::resource::Collection;

/// The projects of the client's team.
#[derive(Debug, Clone, Copy)]
pub struct Projects<'c> {
    client: &'c RefuelClient,
}

impl<'c> Projects<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    fn collection(&self) -> Collection<'c, Project> {
        Collection::new(
            self.client,
            ResourceKind::Project,
            |_| Call::get("/projects", "list projects"),
            "/projects",
        )
    }

    /// Every project of the team.
    pub async fn list(&self) -> Result<Vec<Project>> {
        self.collection().list().await
    }

    /// The id of a project given by name or id.
    pub async fn id(&self, project: &str) -> Result<String> {
        self.collection().id(project).await
    }

    /// One project, by name or id.
    pub async fn get(&self, project: &str) -> Result<Project> {
        self.collection().get(project).await
    }

    /// Creates a project. Safe to call again after an ambiguous failure: it never makes two.
    pub async fn create(&self, name: &str, description: &str) -> Result<Project> {
        let context = format!("create project '{name}'");
        self.collection()
            .create_once(
                name,
                |_| {
                    Call::new(Method::POST, "/projects", context.clone())
                        .query("project_name", name)
                        .query("description", description)
                },
                |project| async { Ok(project) },
            )
            .await
    }

    /// Deletes a project and everything in it.
    pub async fn delete(&self, project: &str) -> Result<()> {
        self.collection().delete(project).await
    }
}
