//! `/projects` and the catalog calls the Python SDK makes at start-up.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use refuel_client::models::{Envelope, Project};

use super::auth::Team;
use super::error::ApiResult;
use super::params::Params;
use super::shapes::{Resource, deleted, reply};
use super::views;
use crate::state::{AppState, blocking};

pub(crate) async fn list(State(state): State<AppState>, team: Team) -> ApiResult<Response> {
    let list: Vec<Project> = state
        .store
        .list_projects(&team.0)
        .iter()
        .map(views::project)
        .collect();
    reply(&state, &team.0, Resource::Project, &list)
}

pub(crate) async fn create(
    State(state): State<AppState>,
    team: Team,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    let name = params.required("project_name")?;
    let description = params.get("description").unwrap_or("");
    let (team_id, name, description) = (team.0.clone(), name.to_string(), description.to_string());
    let rec = blocking(&state, move |store| {
        store.create_project(&team_id, &name, &description)
    })
    .await?;
    reply(&state, &team.0, Resource::Project, &views::project(&rec))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let rec = state.store.project(&team.0, &id)?;
    reply(&state, &team.0, Resource::Project, &views::project(&rec))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<serde_json::Value>>> {
    deleted(&state, move |store| store.delete_project(&team.0, &id)).await
}

/// `GET /app_catalog`: the catalog of ready-made applications (empty here).
pub(crate) async fn app_catalog(_team: Team) -> Json<Envelope<Vec<serde_json::Value>>> {
    Json(Envelope::new(Vec::new()))
}
