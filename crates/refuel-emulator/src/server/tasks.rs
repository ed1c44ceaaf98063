//! Tasks: create (with the field rules the client shares), list, get, delete.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use refuel_client::models::{Envelope, FieldSpec, FieldType, Task, TaskSettings, check_fields};
use serde::Deserialize;

use super::auth::Team;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::shapes::{Resource, deleted, reply};
use super::views;
use crate::state::{AppState, blocking};
use crate::store::DatasetEntry;

pub(crate) async fn create(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
    RawQuery(q): RawQuery,
    body: Result<Json<TaskSettings>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    let name = params.required("task_name")?;
    let Json(settings) = body
        .map_err(|e| ApiError::bad_request(format!("invalid task settings: {}", e.body_text())))?;
    state.store.project(&team.0, &project_id)?;
    let dataset = state.store.dataset(&team.0, &settings.dataset_id)?;
    check_task_fields(&dataset, &settings)?;
    let (team_id, name) = (team.0.clone(), name.to_string());
    let rec = blocking(&state, move |store| {
        store.create_task(&team_id, &project_id, &name, settings)
    })
    .await?;
    reply(&state, &team.0, Resource::Task, &views::task(&rec))
}

pub(crate) async fn list_in_project(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
) -> ApiResult<Response> {
    state.store.project(&team.0, &project_id)?;
    let list: Vec<Task> = state
        .store
        .list_tasks(&team.0, Some(&project_id))
        .iter()
        .map(views::task)
        .collect();
    reply(&state, &team.0, Resource::Task, &list)
}

pub(crate) async fn list_all(
    State(state): State<AppState>,
    team: Team,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    let project = params.get("project_id").filter(|p| !p.is_empty());
    let list: Vec<Task> = state
        .store
        .list_tasks(&team.0, project)
        .iter()
        .map(views::task)
        .collect();
    reply(&state, &team.0, Resource::Task, &list)
}

pub(crate) async fn get(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let rec = state.store.task(&team.0, &id)?;
    reply(&state, &team.0, Resource::Task, &views::task(&rec))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<serde_json::Value>>> {
    deleted(&state, move |store| store.delete_task(&team.0, &id)).await
}

/// An enrichment of a task body's `transforms`, as far as the field rules read it.
#[derive(Debug, Deserialize)]
struct Transform {
    name: String,
    #[serde(rename = "type")]
    field_type: FieldType,
    #[serde(default)]
    input_columns: Vec<String>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    ground_truth_column: Option<String>,
}

/// Checks the task's fields (its subtasks, then the enrichments of `transforms` that can be
/// read) against the dataset's columns with the rules the client checks before sending
/// ([`check_fields`]), so that both give the same message for the same mistake.
fn check_task_fields(dataset: &DatasetEntry, settings: &TaskSettings) -> ApiResult<()> {
    let name = dataset.meta.read().name.clone();
    let columns = dataset.data.read().columns.clone();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let transforms: Vec<Transform> = settings
        .transforms
        .iter()
        .flatten()
        .filter_map(|t| serde_json::from_value(t.clone()).ok())
        .collect();
    let subtasks = settings.subtasks.iter().map(|s| FieldSpec {
        name: &s.name,
        field_type: &s.field_type,
        input_columns: &s.input_columns,
        labels: s.labels.as_deref(),
        ground_truth_column: s.label_column.as_deref(),
    });
    let enrichments = transforms.iter().map(|t| FieldSpec {
        name: &t.name,
        field_type: &t.field_type,
        input_columns: &t.input_columns,
        labels: t.labels.as_deref(),
        ground_truth_column: t.ground_truth_column.as_deref(),
    });
    let fields: Vec<FieldSpec<'_>> = subtasks.chain(enrichments).collect();
    Ok(check_fields(&name, &columns, &fields)?)
}
