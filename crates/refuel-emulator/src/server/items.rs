//! Rows: the row query behind `GET /datasets/{id}`, adding rows, and one row by id.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use refuel_client::models::{Envelope, IngestStatus};

use super::AppState;
use super::auth::Team;
use super::datasets::json_bytes;
use super::params::Params;
use super::shapes::{Resource, encode, reply};
use super::views::{self, ITEM_ID_KEY, RowView};
use crate::error::{ApiError, ApiResult};
use crate::query::{self, Rows, Scope, Selection};
use crate::store::labeling::TaskRec;
use crate::store::{DatasetEntry, item_id, item_index};

/// Rows returned when rows are asked for (`expand=true` or `offset`) without `max_items`.
pub const DEFAULT_PAGE: usize = 20;

/// Answers a dataset get: metadata, `total_count` of the query's matches, and `items` when
/// rows are asked for (`expand=true`, `offset` or `max_items`). With a task, each item is
/// `{"id", "fields", "labels", "in_evalset"}` and filters and orders may use labels.
pub fn query_response(
    state: &AppState,
    team: &Team,
    entry: &DatasetEntry,
    params: &Params,
    task: Option<&TaskRec>,
) -> ApiResult<Response> {
    let filters = params.filters()?;
    let orders = params.order_bys()?;
    let offset = params.u64("offset")?.unwrap_or(0);
    let max_items = params.u64("max_items")?;
    let expand = params.bool("expand")?.unwrap_or(false);
    let include_ids = params.bool("include_ids")?.unwrap_or(false);
    let wants_items = expand || max_items.is_some() || params.get("offset").is_some();
    let limit = max_items
        .map(|m| usize::try_from(m).unwrap_or(usize::MAX))
        .unwrap_or(DEFAULT_PAGE)
        .min(state.profile.page_cap());
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);

    let meta = entry.meta.read();
    let data = entry.data.read();
    let label_sets = entry.labels.read();
    let labels = task.and_then(|t| label_sets.get(&t.id));
    let rows = Rows {
        data: &data,
        labels,
    };
    let selection = if meta.status == IngestStatus::Success {
        let scope = Scope {
            data: &data,
            name: &meta.name,
            fields: task.map(|t| t.subtasks.as_slice()),
        };
        let compiled = query::compile(scope, &filters, &orders, state.profile.semantics())?;
        state
            .cache
            .select(entry, rows, task.map(|t| t.id.as_str()), &compiled)
    } else {
        Selection::All(0)
    };
    let page = if wants_items {
        selection.page(offset, limit)
    } else {
        Vec::new()
    };
    let row_view = |i: usize| {
        data.rows[i].as_deref().map(|cells| RowView {
            columns: &data.columns,
            cells,
            id: include_ids.then(|| item_id(&meta.id, i)),
        })
    };
    let body = match task {
        None => {
            let items =
                wants_items.then(|| page.iter().filter_map(|i| row_view(*i)).collect::<Vec<_>>());
            encode(
                state,
                &team.0,
                Resource::Dataset,
                &views::dataset(&meta, &data, selection.len(), items),
            )?
        }
        Some(task) => {
            let items = wants_items.then(|| {
                page.iter()
                    .filter_map(|i| {
                        let fields = RowView {
                            id: None,
                            ..row_view(*i)?
                        };
                        Some(views::LabeledView {
                            id: item_id(&meta.id, *i),
                            labels: views::labels(task, &data, labels, *i),
                            fields,
                            in_evalset: false,
                        })
                    })
                    .collect::<Vec<_>>()
            });
            encode(
                state,
                &team.0,
                Resource::LabeledDataset,
                &views::dataset(&meta, &data, selection.len(), items),
            )?
        }
    };
    state
        .stats
        .rows_served(if wants_items { page.len() } else { 0 });
    Ok(json_bytes(body))
}

pub async fn add(
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
    let store = state.store.clone();
    let writer = entry.clone();
    tokio::task::spawn_blocking(move || store.append_rows(&writer, &rows))
        .await
        .map_err(|e| ApiError::internal(format!("append task failed: {e}")))??;
    let meta = entry.meta.read();
    let data = entry.data.read();
    reply(
        &state,
        &team.0,
        Resource::Dataset,
        &views::dataset_meta(&meta, &data),
    )
}

fn row_index(entry: &DatasetEntry, item: &str) -> ApiResult<usize> {
    let dataset_id = entry.meta.read().id.clone();
    item_index(&dataset_id, item)
        .filter(|i| entry.data.read().rows.get(*i).is_some_and(Option::is_some))
        .ok_or_else(|| ApiError::not_found("item", item))
}

pub async fn get_one(
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

pub async fn delete_one(
    State(state): State<AppState>,
    team: Team,
    Path((id, item)): Path<(String, String)>,
) -> ApiResult<Json<Envelope<serde_json::Value>>> {
    let entry = state.store.dataset(&team.0, &id)?;
    let index = row_index(&entry, &item)?;
    let store = state.store.clone();
    let writer = entry.clone();
    tokio::task::spawn_blocking(move || store.delete_row(&writer, index))
        .await
        .map_err(|e| ApiError::internal(format!("delete task failed: {e}")))??;
    Ok(Json(Envelope::new(
        serde_json::json!({ ITEM_ID_KEY: item }),
    )))
}

/// `GET /tasks/{task_id}/datasets/{dataset_id}`: rows with a task's labels.
pub async fn labeled(
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
