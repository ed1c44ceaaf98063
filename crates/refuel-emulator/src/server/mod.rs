//! The HTTP API: routes, shared state and middleware.

pub mod admin;
pub mod auth;
mod datasets;
mod items;
mod params;
mod projects;
mod views;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

pub use self::datasets::{IngestSource, spawn_ingest};
use crate::query::QueryCache;
use crate::store::Store;

/// Everything handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The data.
    pub store: Arc<Store>,
    /// API key → team id.
    pub teams: HashMap<String, String>,
    /// Request statistics.
    pub stats: admin::Stats,
    /// Injected faults.
    pub faults: admin::Faults,
    /// Query selections.
    pub cache: QueryCache,
    /// For `source=uri` downloads.
    pub http: reqwest::Client,
}

/// The state handlers receive.
pub type AppState = Arc<Shared>;

/// The largest request body (uploads stream to disk and have no limit).
const BODY_LIMIT: usize = 256 << 20;

/// All routes.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/projects", get(projects::list).post(projects::create))
        .route(
            "/projects/{project_id}",
            get(projects::get).delete(projects::delete),
        )
        .route(
            "/projects/{project_id}/applications",
            get(projects::applications),
        )
        .route("/projects/{project_id}/tasks", get(projects::tasks))
        .route(
            "/projects/{project_id}/datasets",
            post(datasets::create).layer(DefaultBodyLimit::disable()),
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
        .route(
            "/tasks/{task_id}/datasets/{dataset_id}",
            get(items::labeled),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let admin = Router::new()
        .route("/_emulator/stats", get(admin::get_stats))
        .route("/_emulator/stats/reset", post(admin::reset_stats))
        .route(
            "/_emulator/faults",
            post(admin::add_fault).delete(admin::clear_faults),
        );
    api.merge(admin)
        .fallback(|| async {
            crate::error::ApiError::new(axum::http::StatusCode::NOT_FOUND, "no such endpoint")
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            admin::observe,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
