//! The HTTP API: routes and middleware over the shared state. Handlers read the store
//! directly and write through [`crate::state::blocking`]; store errors become HTTP answers
//! in [`error`].

mod admin;
mod applications;
mod auth;
mod datasets;
mod error;
mod exports;
mod finetuning;
mod items;
mod links;
mod network;
mod params;
mod projects;
mod rejections;
mod rows;
mod runs;
mod shapes;
mod signing;
mod tasks;
#[cfg(test)]
mod tests;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

use crate::state::AppState;

/// The largest request body (uploads stream to disk and have no limit).
const BODY_LIMIT: usize = 256 << 20;

/// All routes.
pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/projects", get(projects::list).post(projects::create))
        .route(
            "/projects/{project_id}",
            get(projects::get).delete(projects::delete),
        )
        .route(
            "/projects/{project_id}/applications",
            get(applications::list).post(applications::deploy),
        )
        .route(
            "/projects/{project_id}/tasks",
            get(tasks::list_in_project).post(tasks::create),
        )
        .route(
            "/projects/{project_id}/datasets",
            post(datasets::create).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/projects/{project_id}/finetuned_models",
            get(finetuning::list).post(finetuning::start),
        )
        .route("/app_catalog", get(projects::app_catalog))
        .route("/datasets", get(datasets::list))
        .route(
            "/datasets/{dataset_id}",
            get(datasets::get)
                .patch(datasets::update)
                .delete(datasets::delete),
        )
        .route("/datasets/{dataset_id}/items", post(items::add))
        .route(
            "/datasets/{dataset_id}/items/{item_id}",
            get(items::get_one).delete(items::delete_one),
        )
        .route("/datasets/{dataset_id}/exports", post(exports::create))
        .route(
            "/datasets/{dataset_id}/exports/{export_id}",
            get(exports::status),
        )
        .route("/tasks", get(tasks::list_all))
        .route("/tasks/{task_id}", get(tasks::get).delete(tasks::delete))
        .route(
            "/tasks/{task_id}/datasets/{dataset_id}",
            get(items::labeled),
        )
        .route(
            "/tasks/{task_id}/runs",
            get(runs::list_runs).post(runs::start_or_cancel),
        )
        .route("/tasks/{task_id}/runs/{dataset_id}", get(runs::get_run))
        .route(
            "/tasks/{task_id}/runs/{dataset_id}/metrics",
            get(runs::get_metrics),
        )
        .route("/applications/{application_id}", get(applications::get))
        .route(
            "/applications/{application_id}/label",
            post(applications::label),
        )
        .route(
            "/applications/{application_id}/items/{refuel_uuid}",
            get(applications::get_item),
        )
        .route(
            "/applications/{application_id}/items/{refuel_uuid}/label",
            post(applications::feedback),
        )
        .route(
            "/finetuned_models/{model_id}",
            get(finetuning::get).patch(finetuning::cancel),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let admin = admin::routes();
    api.merge(admin)
        .fallback(rejections::unknown_route)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            network::simulate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            admin::observe,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Outermost: every error answer, axum's own rejections included, is JSON.
        .layer(middleware::from_fn(rejections::json_errors))
        .with_state(state)
}
