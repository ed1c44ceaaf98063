//! What every named resource (project, dataset, task, application) does the same way: list
//! (refreshing the client's name cache), resolve a name or id, get, delete, and create once.
//! A handler describes its resource with a [`Collection`] and writes only what is its own.

use std::future::Future;
use std::marker::PhantomData;

use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::RefuelClient;
use crate::error::{ResourceKind, Result};
use crate::models::{Application, Dataset, DatasetSummary, Project, Task};
use crate::transport::Call;

/// A resource as the API names it: its name and id.
pub(crate) trait Named: DeserializeOwned + Send {
    /// Its name.
    fn name(&self) -> &str;
    /// Its id.
    fn id(&self) -> &str;
}

/// One kind of resource: where it is listed and where one of them lives. `L` is the type of
/// a listing's entries.
pub(crate) struct Collection<'c, L> {
    client: &'c RefuelClient,
    kind: ResourceKind,
    /// Whether the resources belong to the client's project (else to the team).
    in_project: bool,
    /// The listing request, given the project's id (empty for team resources).
    list_call: fn(&str) -> Call<'static>,
    /// The path of one resource, before its id (`/datasets`).
    item_path: &'static str,
    listed: PhantomData<fn() -> L>,
}

impl<'c, L: Named> Collection<'c, L> {
    /// Resources of the team (projects); [`Collection::in_project`] scopes them to the
    /// client's current project.
    pub(crate) fn new(
        client: &'c RefuelClient,
        kind: ResourceKind,
        list_call: fn(&str) -> Call<'static>,
        item_path: &'static str,
    ) -> Self {
        Self {
            client,
            kind,
            in_project: false,
            list_call,
            item_path,
            listed: PhantomData,
        }
    }

    /// The same resources, as those of the client's current project.
    pub(crate) fn in_project(self) -> Self {
        Self {
            in_project: true,
            ..self
        }
    }

    /// The id of the resources' scope: the project's, or empty for the team's.
    pub(crate) async fn scope(&self) -> Result<String> {
        if self.in_project {
            self.client.project_id().await
        } else {
            Ok(String::new())
        }
    }

    /// Every resource of the scope; the name cache is refreshed with them.
    pub(crate) async fn list(&self) -> Result<Vec<L>> {
        let scope = self.scope().await?;
        self.list_in(&scope).await
    }

    async fn list_in(&self, scope: &str) -> Result<Vec<L>> {
        let listed: Vec<L> = self
            .client
            .transport()
            .call(&(self.list_call)(scope))
            .await?;
        self.client.names().refresh(
            self.kind,
            scope,
            listed.iter().map(|entry| (entry.name(), entry.id())),
        );
        Ok(listed)
    }

    /// The id of a resource given by name or id: an id as it is, a name from the cache or,
    /// on a miss, a fresh listing.
    pub(crate) async fn id(&self, reference: &str) -> Result<String> {
        if crate::is_uuid(reference) {
            return Ok(reference.to_string());
        }
        let scope = self.scope().await?;
        let label = if self.in_project {
            self.client.project().map(|p| format!("project '{p}'"))
        } else {
            None
        };
        self.client
            .names()
            .resolve(self.kind, &scope, label, reference, || async {
                Ok(self
                    .list_in(&scope)
                    .await?
                    .into_iter()
                    .map(|entry| (entry.name().to_string(), entry.id().to_string())))
            })
            .await
    }

    /// The path of the resource with this id.
    pub(crate) fn path_of(&self, id: &str) -> String {
        format!("{}/{}", self.item_path, super::segment(id))
    }

    /// One resource by name or id; a 404 is [`crate::Error::NotFound`] naming it.
    pub(crate) async fn get<T: DeserializeOwned>(&self, reference: &str) -> Result<T> {
        let (_, call) = self.call_on(Method::GET, "get", reference).await?;
        let answer = self.client.transport().call(&call).await;
        answer.map_err(|e| super::not_found(e, self.kind, reference, self.client))
    }

    /// Deletes a resource by name or id, and forgets its name.
    pub(crate) async fn delete(&self, reference: &str) -> Result<()> {
        let (id, call) = self.call_on(Method::DELETE, "delete", reference).await?;
        let answer = self.client.transport().call_unit(&call).await;
        answer.map_err(|e| super::not_found(e, self.kind, reference, self.client))?;
        self.client.names().forget_id(self.kind, &id);
        Ok(())
    }

    /// The resource's id and the call `method` on its path, described as `verb` on it.
    async fn call_on(
        &self,
        method: Method,
        verb: &str,
        reference: &str,
    ) -> Result<(String, Call<'static>)> {
        let id = self.id(reference).await?;
        let call = Call::new(
            method,
            self.path_of(&id),
            format!("{verb} {} '{reference}'", self.kind),
        );
        Ok((id, call))
    }

    /// Creates the resource named `name` with the call `create` makes (given the scope's
    /// id), never twice: after an ambiguous failure the listing is searched for `name` and
    /// the entry found is turned into the result by `found` (see [`super::create_once`]).
    /// The new resource's id is cached under `name`.
    pub(crate) async fn create_once<'b, T, C, F, FF>(
        &self,
        name: &str,
        create: C,
        found: F,
    ) -> Result<T>
    where
        T: Named,
        C: Fn(&str) -> Call<'b>,
        F: Fn(L) -> FF,
        FF: Future<Output = Result<T>>,
    {
        let scope = self.scope().await?;
        let created = super::create_once(
            self.client.config().max_retries,
            || {
                let call = create(&scope);
                async move { self.client.transport().call::<T>(&call).await }
            },
            || async {
                let entry = self
                    .list_in(&scope)
                    .await?
                    .into_iter()
                    .find(|entry| entry.name() == name);
                match entry {
                    Some(entry) => found(entry).await.map(Some),
                    None => Ok(None),
                }
            },
        )
        .await?;
        // Cached under the name asked for: the one the caller will use again, whatever
        // (or whether) the answer names it.
        self.client
            .names()
            .insert(self.kind, &scope, name, created.id());
        Ok(created)
    }
}

macro_rules! named {
    ($($type:ty => $name:ident),+ $(,)?) => {
        $(impl Named for $type {
            fn name(&self) -> &str {
                &self.$name
            }
            fn id(&self) -> &str {
                &self.id
            }
        })+
    };
}

named! {
    Project => project_name,
    DatasetSummary => dataset_name,
    Dataset => name,
    Task => task_name,
    Application => name,
}
