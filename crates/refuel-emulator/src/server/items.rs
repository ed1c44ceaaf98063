//! Rows by request: adding rows, one row by id, and a task's labeled rows.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use refuel_client::models::Envelope;

use super::auth::Team;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::rows::query_response;
use super::shapes::{json_bytes, reply_dataset};
use super::views::{ITEM_ID_KEY, RowView};
use crate::state::{AppState, blocking};
use crate::store::{DatasetEntry, item_index};

pub(crate) async fn add(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let entry = state.store.dataset(&team.0, &id)?;
    let Json(body) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    let rows = match body {
        serde_json::Value::Array(rows) => rows,
        obj @ serde_json::Value::Object(_) => vec![obj],
        _ => {
            return Err(ApiError::bad_request(
                "the body must be a JSON list of rows ({column: value} objects)",
            ));
        }
    };
    let writer = entry.clone();
    blocking(&state, move |store| store.append_rows(&writer, &rows)).await?;
    reply_dataset(&state, &team.0, &entry)
}

fn row_index(entry: &DatasetEntry, item: &str) -> ApiResult<usize> {
    let dataset_id = entry.meta.read().id.clone();
    item_index(&dataset_id, item)
        .filter(|i| entry.data.read().rows.get(*i).is_some_and(Option::is_some))
        .ok_or_else(|| ApiError::not_found("item", item))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    team: Team,
    Path((id, item)): Path<(String, String)>,
) -> ApiResult<Response> {
    let entry = state.store.dataset(&team.0, &id)?;
    let index = row_index(&entry, &item)?;
    let data = entry.data.read();
    let cells = data.rows[index]
        .as_deref()
        .ok_or_else(|| ApiError::not_found("item", &item))?;
    let view = RowView {
        columns: &data.columns,
        cells,
        id: Some(item.clone()),
    };
    let body =
        serde_json::to_vec(&Envelope::new(view)).map_err(|e| ApiError::internal(e.to_string()))?;
    state.stats.rows_served(1);
    Ok(json_bytes(body))
}

pub(crate) async fn delete_one(
    State(state): State<AppState>,
    team: Team,
    Path((id, item)): Path<(String, String)>,
) -> ApiResult<Json<Envelope<serde_json::Value>>> {
    let entry = state.store.dataset(&team.0, &id)?;
    let index = row_index(&entry, &item)?;
    let writer = entry.clone();
    blocking(&state, move |store| store.delete_row(&writer, index)).await?;
    Ok(Json(Envelope::new(
        serde_json::json!({ ITEM_ID_KEY: item }),
    )))
}

/// `GET /tasks/{task_id}/datasets/{dataset_id}`: rows with a task's labels.
pub(crate) async fn labeled(
    State(state): State<AppState>,
    team: Team,
    Path((task_id, dataset_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let task = state.store.task(&team.0, &task_id)?;
    let entry = state.store.dataset(&team.0, &dataset_id)?;
    query_response(
        &state,
        &team,
        &entry,
        &Params::parse(q.as_deref()),
        Some(&task),
    )
}
