//! Finetuned models: start, list, get, interrupt. A model's stage follows from the time
//! since it was created (each stage lasts the emulator's `finetune_stage` setting):
//! `TRAINING IN PROGRESS` → `TRAINING COMPLETED` → `DEPLOYMENT IN PROGRESS` →
//! `DEPLOYMENT COMPLETED` (then `availability_status` is `AVAILABLE`). An interruption before
//! deployment completes makes it `INTERRUPTED` for good.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use refuel_client::models::{BASE_MODELS, FinetuneRequest, LabelingModel};
use serde_json::json;

use super::auth::Team;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::shapes::{Resource, reply};
use crate::state::{AppState, blocking};
use crate::store::ModelRec;
use crate::store::now;

/// The stages, in order.
pub(crate) const STAGES: [&str; 4] = [
    "TRAINING IN PROGRESS",
    "TRAINING COMPLETED",
    "DEPLOYMENT IN PROGRESS",
    "DEPLOYMENT COMPLETED",
];
const HYPERPARAMETERS: [&str; 7] = [
    "num_epochs",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "weight_decay",
    "learning_rate",
    "cosine_min_lr_ratio",
];

/// How long each stage of a finetuning run lasts here (at least a millisecond).
fn stage_length(state: &AppState) -> TimeDelta {
    TimeDelta::from_std(state.settings.finetune_stage)
        .unwrap_or(TimeDelta::MAX)
        .max(TimeDelta::milliseconds(1))
}

/// The stage a model has reached at `at`.
fn stage_at(state: &AppState, m: &ModelRec, at: DateTime<Utc>) -> usize {
    let elapsed = (at - m.created).max(TimeDelta::zero());
    let stages = elapsed.num_milliseconds() / stage_length(state).num_milliseconds();
    usize::try_from(stages)
        .unwrap_or(usize::MAX)
        .min(STAGES.len() - 1)
}

/// A model as the API shows it, its stage derived from the clock.
pub(crate) fn view(state: &AppState, m: &ModelRec) -> LabelingModel {
    let step = stage_length(state);
    let reached = stage_at(state, m, m.interrupted.unwrap_or_else(Utc::now));
    let interrupted = m.interrupted.is_some() && reached < STAGES.len() - 1;
    let mut timeline: Vec<serde_json::Value> = (0..=reached)
        .map(|i| {
            let at = m.created + step * i32::try_from(i).unwrap_or(i32::MAX);
            json!({"status": STAGES[i], "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true)})
        })
        .collect();
    if interrupted {
        timeline.push(json!({"status": "INTERRUPTED", "timestamp": m.interrupted_at}));
    }
    let status = if interrupted {
        "INTERRUPTED"
    } else {
        STAGES[reached]
    };
    LabelingModel {
        id: m.id.clone(),
        name: Some(m.name.clone()),
        base_model: Some(m.base_model.clone()),
        task_id: Some(m.task_id.clone()),
        project_id: Some(m.project_id.clone()),
        datasets: m.datasets.clone(),
        hyperparameters: m.hyperparameters.clone(),
        finetuning_run_status: Some(status.to_string()),
        finetuning_run_timeline: serde_json::Value::Array(timeline),
        availability_status: Some(
            if status == "DEPLOYMENT COMPLETED" {
                "AVAILABLE"
            } else {
                "UNAVAILABLE"
            }
            .to_string(),
        ),
        created_at: Some(m.created_at.clone()),
        updated_at: Some(
            m.interrupted_at
                .clone()
                .unwrap_or_else(|| m.created_at.clone()),
        ),
    }
}

pub(crate) async fn start(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
    body: Result<Json<FinetuneRequest>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(req) = body.map_err(|e| {
        ApiError::bad_request(format!("invalid finetuning request: {}", e.body_text()))
    })?;
    state.store.project(&team.0, &project_id)?;
    if !BASE_MODELS.contains(&req.base_model.as_str()) {
        return Err(ApiError::bad_request(format!(
            "base model '{}' is not one of {}",
            req.base_model,
            BASE_MODELS.join(", ")
        )));
    }
    let task = state.store.task(&team.0, &req.task_id)?;
    match &req.hyperparameters {
        serde_json::Value::Null => {}
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                if !HYPERPARAMETERS.contains(&k.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "unknown hyperparameter '{k}' (known: {})",
                        HYPERPARAMETERS.join(", ")
                    )));
                }
                if !v.is_number() {
                    return Err(ApiError::bad_request(format!(
                        "hyperparameter '{k}' must be a number, got {v}"
                    )));
                }
            }
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "hyperparameters must be an object, got {other}"
            )));
        }
    }
    let datasets = match req.datasets {
        Some(list) if !list.is_empty() => {
            for d in &list {
                state.store.dataset(&team.0, d)?;
            }
            list
        }
        _ => vec![task.dataset_id.clone()],
    };
    let id = uuid::Uuid::new_v4().to_string();
    let training = {
        let (task, datasets) = (task.clone(), datasets.clone());
        blocking(&state, move |store| {
            Ok(store.training_examples(&task, &datasets))
        })
        .await?
    };
    let rec = ModelRec {
        name: format!("{}-{}-{}", task.name, req.base_model, &id[..8]),
        id,
        team: team.0.clone(),
        project_id,
        task_id: task.id.clone(),
        base_model: req.base_model,
        hyperparameters: req.hyperparameters,
        datasets,
        training,
        created_at: now(),
        created: Utc::now(),
        interrupted_at: None,
        interrupted: None,
    };
    let rec = blocking(&state, move |store| store.create_model(rec)).await?;
    reply(
        &state,
        &team.0,
        Resource::LabelingModel,
        &view(&state, &rec),
    )
}

pub(crate) async fn list(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    state.store.project(&team.0, &project_id)?;
    let task = params
        .get("task_id")
        .filter(|t| !t.is_empty() && *t != "None");
    let models = state.store.list_models(&team.0, &project_id, task);
    let list: Vec<LabelingModel> = models.iter().map(|m| view(&state, m)).collect();
    reply(&state, &team.0, Resource::LabelingModel, &list)
}

pub(crate) async fn get(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let m = state.store.model(&team.0, &id)?;
    reply(&state, &team.0, Resource::LabelingModel, &view(&state, &m))
}

#[derive(serde::Deserialize)]
pub(crate) struct Patch {
    #[serde(default)]
    finetuning_run_status: Option<String>,
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    body: Result<Json<Patch>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(patch) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    if patch.finetuning_run_status.as_deref() != Some("INTERRUPTED") {
        return Err(ApiError::bad_request(
            "the only change a finetuning run takes is {\"finetuning_run_status\": \"INTERRUPTED\"}",
        ));
    }
    let m = state.store.model(&team.0, &id)?;
    if m.interrupted.is_some() {
        return reply(&state, &team.0, Resource::LabelingModel, &view(&state, &m));
    }
    if view(&state, &m).finetuning_run_status.as_deref() == Some("DEPLOYMENT COMPLETED") {
        return Err(ApiError::conflict(format!(
            "finetuned model '{id}' is already deployed; it cannot be interrupted"
        )));
    }
    let team_id = team.0.clone();
    let m = blocking(&state, move |store| store.interrupt_model(&team_id, &id)).await?;
    reply(&state, &team.0, Resource::LabelingModel, &view(&state, &m))
}
