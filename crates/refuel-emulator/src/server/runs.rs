//! Task runs: start or cancel, list, the latest run of a task on a dataset, its metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use refuel_client::models::{IngestStatus, Metric, RunMetrics, RunStatus, TaskRun};

use super::auth::Team;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::shapes::{Resource, reply};
use crate::runner;
use crate::state::{AppState, blocking};
use crate::store::RunState;

/// A run as the API shows it.
fn run_view(state: &AppState, run: &RunState) -> TaskRun {
    let r = run.rec.lock().clone();
    let task_name = state.store.task(&r.team, &r.task_id).map(|t| t.name).ok();
    let dataset_name = state
        .store
        .dataset(&r.team, &r.dataset_id)
        .map(|d| d.meta.read().name.clone())
        .ok();
    TaskRun {
        id: Some(r.id),
        project_id: Some(r.project_id),
        task_id: Some(r.task_id),
        task_name,
        dataset_id: Some(r.dataset_id),
        dataset_name,
        model_name: Some(r.model_name),
        status: r.status,
        error: r.error,
        created_at: Some(r.created_at),
        updated_at: Some(r.updated_at),
        metrics: Vec::new(),
    }
}

/// `POST /tasks/{task_id}/runs?dataset_id=D[&num_items=N][&cancel_run=true]`.
pub(crate) async fn start_or_cancel(
    State(state): State<AppState>,
    team: Team,
    Path(task_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    let task = state.store.task(&team.0, &task_id)?;
    let dataset_id = params.required("dataset_id")?;
    let entry = state.store.dataset(&team.0, dataset_id)?;
    if params.bool("cancel_run")?.unwrap_or(false) {
        let run = state
            .store
            .latest_run(&team.0, &task.id, dataset_id)
            .ok_or_else(|| ApiError::not_found("run of the task on dataset", dataset_id))?;
        let status = run.rec.lock().status.clone();
        if matches!(status, RunStatus::Active | RunStatus::NotStarted) {
            run.cancel.store(true, Ordering::SeqCst);
            let cancelled = Arc::clone(&run);
            blocking(&state, move |store| {
                store.set_run_status(&cancelled, RunStatus::Cancelled, None)
            })
            .await?;
        }
        return reply(&state, &team.0, Resource::TaskRun, &run_view(&state, &run));
    }
    if entry.meta.read().status != IngestStatus::Success {
        return Err(ApiError::conflict(
            "the dataset's ingest has not succeeded yet",
        ));
    }
    let available = runner::count_unlabeled(&entry, &task.id);
    let target = match params.u64("num_items")? {
        Some(0) => return Err(ApiError::bad_request("num_items must be at least 1")),
        Some(n) => n.min(available),
        None => available,
    };
    let model_name = state.labeler.model_name(&task.spec());
    let (for_store, dataset) = (task.clone(), dataset_id.to_string());
    let run = blocking(&state, move |store| {
        store.create_run(&for_store, &dataset, target, model_name)
    })
    .await?;
    runner::spawn_run(state.clone(), run.clone());
    reply(&state, &team.0, Resource::TaskRun, &run_view(&state, &run))
}

pub(crate) async fn list_runs(
    State(state): State<AppState>,
    team: Team,
    Path(task_id): Path<String>,
) -> ApiResult<Response> {
    let task = state.store.task(&team.0, &task_id)?;
    let runs: Vec<TaskRun> = state
        .store
        .runs_of_task(&team.0, &task.id)
        .iter()
        .map(|r| run_view(&state, r))
        .collect();
    reply(&state, &team.0, Resource::TaskRun, &runs)
}

fn latest(
    state: &AppState,
    team: &Team,
    task_id: &str,
    dataset_id: &str,
) -> ApiResult<Arc<RunState>> {
    let task = state.store.task(&team.0, task_id)?;
    state.store.dataset(&team.0, dataset_id)?;
    state
        .store
        .latest_run(&team.0, &task.id, dataset_id)
        .ok_or_else(|| {
            ApiError::not_found(
                &format!("run of task '{}' on dataset", task.name),
                dataset_id,
            )
        })
}

pub(crate) async fn get_run(
    State(state): State<AppState>,
    team: Team,
    Path((task_id, dataset_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let run = latest(&state, &team, &task_id, &dataset_id)?;
    reply(&state, &team.0, Resource::TaskRun, &run_view(&state, &run))
}

/// The four run metrics; the time metrics only while the run is active.
pub(crate) fn metrics(run: &RunState) -> Vec<Metric> {
    let (status, target) = {
        let r = run.rec.lock();
        (r.status.clone(), r.target)
    };
    let labeled = run.labeled.load(Ordering::SeqCst);
    let remaining = if status == RunStatus::Completed {
        0
    } else {
        target.saturating_sub(labeled)
    };
    let mut out = vec![
        Metric {
            name: "num_labeled".into(),
            value: (labeled as f64).into(),
        },
        Metric {
            name: "num_remaining".into(),
            value: (remaining as f64).into(),
        },
    ];
    if status == RunStatus::Active {
        let elapsed = run
            .started
            .lock()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let eta = if labeled > 0 {
            elapsed / labeled as f64 * remaining as f64
        } else {
            0.0
        };
        out.push(Metric {
            name: "time_elapsed_seconds".into(),
            value: ((elapsed * 100.0).round() / 100.0).into(),
        });
        out.push(Metric {
            name: "time_remaining_seconds".into(),
            value: ((eta * 100.0).round() / 100.0).into(),
        });
    }
    out
}

pub(crate) async fn get_metrics(
    State(state): State<AppState>,
    team: Team,
    Path((task_id, dataset_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let run = latest(&state, &team, &task_id, &dataset_id)?;
    let task = state.store.task(&team.0, &task_id)?;
    let entry = state.store.dataset(&team.0, &dataset_id)?;
    let mut subtasks = indexmap::IndexMap::new();
    {
        let labels = entry.labels.read();
        let set = labels.get(&task.id);
        for (i, field) in task.subtasks.iter().enumerate() {
            let n = set.map_or(0, |s| {
                s.rows
                    .iter()
                    .flatten()
                    .filter(|r| {
                        r.machine && r.fields.get(i).is_some_and(|l| !l.llm.llm_label.is_null())
                    })
                    .count()
            });
            subtasks.insert(
                field.id.clone(),
                vec![Metric {
                    name: "num_labeled".into(),
                    value: (n as f64).into(),
                }],
            );
        }
    }
    let answer = RunMetrics {
        task: metrics(&run),
        subtasks,
    };
    reply(
        &state,
        &team.0,
        Resource::RunMetrics {
            task: &task,
            dataset: &entry,
        },
        &answer,
    )
}
