//! The row query behind `GET /datasets/{id}` and `GET /tasks/{id}/datasets/{id}`: a page of
//! a dataset's rows (with a task's labels) that match filters, in an order.

use axum::response::Response;
use refuel_client::models::IngestStatus;

use super::auth::Team;
use super::error::ApiResult;
use super::params::Params;
use super::shapes::{Resource, encode, json_bytes};
use super::views::{self, RowView};
use crate::query::{self, Rows, Scope, Selection};
use crate::state::AppState;
use crate::store::{DatasetEntry, TaskRec, item_id};

/// Rows returned when rows are asked for (`expand=true` or `offset`) without `max_items`.
pub(crate) const DEFAULT_PAGE: usize = 20;

/// Answers a dataset get: metadata, `total_count` of the query's matches, and `items` when
/// rows are asked for (`expand=true`, `offset` or `max_items`). With a task, each item is
/// `{"id", "fields", "labels", "in_evalset"}` and filters and orders may use labels.
pub(crate) fn query_response(
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
        .min(state.page_cap());
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
