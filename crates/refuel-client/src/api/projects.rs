//! Projects: list, get, create, delete.

use reqwest::Method;

use crate::RefuelClient;
use crate::error::{ResourceKind, Result};
use crate::models::Project;
use crate::transport::Call;

/// The projects of the client's team.
#[derive(Debug, Clone, Copy)]
pub struct Projects<'c> {
    client: &'c RefuelClient,
}

impl<'c> Projects<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    /// Every project of the team.
    pub async fn list(&self) -> Result<Vec<Project>> {
        let projects: Vec<Project> = self
            .client
            .transport()
            .call(&Call::get("/projects", "list projects"))
            .await?;
        self.client.names().refresh(
            ResourceKind::Project,
            "",
            projects
                .iter()
                .map(|p| (p.project_name.as_str(), p.id.as_str())),
        );
        Ok(projects)
    }

    /// The id of a project given by name or id.
    pub async fn id(&self, project: &str) -> Result<String> {
        self.client
            .names()
            .resolve(ResourceKind::Project, "", None, project, || async {
                Ok(self
                    .list()
                    .await?
                    .into_iter()
                    .map(|p| (p.project_name, p.id)))
            })
            .await
    }

    /// One project, by name or id.
    pub async fn get(&self, project: &str) -> Result<Project> {
        let id = self.id(project).await?;
        let call = Call::get(
            format!("/projects/{id}"),
            format!("get project '{project}'"),
        );
        self.client.transport().call(&call).await
    }

    /// Creates a project. Safe to call again after an ambiguous failure: it never makes two.
    pub async fn create(&self, name: &str, description: &str) -> Result<Project> {
        let context = format!("create project '{name}'");
        super::create_once(
            self.client.config().max_retries,
            || {
                let call = Call::new(Method::POST, "/projects", context.clone())
                    .query("project_name", name)
                    .query("description", description);
                async move { self.client.transport().call::<Project>(&call).await }
            },
            || async {
                Ok(self
                    .list()
                    .await?
                    .into_iter()
                    .find(|p| p.project_name == name))
            },
        )
        .await
        .inspect(|p| {
            self.client
                .names()
                .insert(ResourceKind::Project, "", &p.project_name, &p.id)
        })
    }

    /// Deletes a project and everything in it.
    pub async fn delete(&self, project: &str) -> Result<()> {
        let id = self.id(project).await?;
        let call = Call::new(
            Method::DELETE,
            format!("/projects/{id}"),
            format!("delete project '{project}'"),
        );
        self.client.transport().call_unit(&call).await?;
        self.client.names().forget_id(ResourceKind::Project, &id);
        Ok(())
    }
}
