//! Applications: deploy, list, get, label (sync and async), fetch a labeled item, feedback.
//!
//! Every labeled input is logged as a row of the application's log dataset (named
//! `<application> (application log)`, with the task dataset's columns; input keys that are
//! not columns are used for labeling but not logged) together with its labels under the
//! task, so that labels and feedback show up in row queries with the task. An output's
//! `refuel_uuid` is that row's item id. Feedback may also name a row of the task's own
//! dataset by its item id.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use indexmap::IndexMap;
use refuel_client::models::{
    Application, Envelope, FieldOutput, LabelOutput, LabelResponse, Usage,
};

use super::auth::Team;
use super::error::{ApiError, ApiResult};
use super::links::public_base;
use super::params::Params;
use super::shapes::{Resource, reply};
use super::views;
use crate::model::{FieldLabel, LabeledRow, RowInput};
use crate::runner::{self, input_of};
use crate::state::{AppState, blocking};
use crate::store::{AppRec, DatasetEntry, TaskRec, item_id, item_index, now};

pub(crate) async fn deploy(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    state.store.project(&team.0, &project_id)?;
    if params.get("catalog_id").is_some() {
        return Err(ApiError::bad_request(
            "the application catalog is empty here: nothing to import",
        ));
    }
    let task = state.store.task(&team.0, params.required("task_id")?)?;
    if task.project_id != project_id {
        return Err(ApiError::bad_request(format!(
            "task '{}' belongs to another project",
            task.name
        )));
    }
    let name = params
        .get("application_name")
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&task.name)
        .to_string();
    let team_id = team.0.clone();
    let rec = blocking(&state, move |store| {
        store.create_app(&team_id, &project_id, &task, &name)
    })
    .await?;
    let task = state.store.task(&team.0, &rec.task_id).ok();
    reply(
        &state,
        &team.0,
        Resource::Application,
        &views::application(&rec, task.as_ref()),
    )
}

/// `GET /projects/{id}/applications` (the SDK's catalog project answers an empty list).
pub(crate) async fn list(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
) -> ApiResult<Response> {
    if project_id == refuel_client::models::APP_CATALOG_PROJECT_ID {
        return reply(
            &state,
            &team.0,
            Resource::Application,
            &Vec::<Application>::new(),
        );
    }
    state.store.project(&team.0, &project_id)?;
    let apps: Vec<Application> = state
        .store
        .list_apps(&team.0, &project_id)
        .iter()
        .map(|a| views::application(a, state.store.task(&team.0, &a.task_id).ok().as_ref()))
        .collect();
    reply(&state, &team.0, Resource::Application, &apps)
}

pub(crate) async fn get(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let app = state.store.app(&team.0, &id)?;
    let task = state.store.task(&team.0, &app.task_id).ok();
    reply(
        &state,
        &team.0,
        Resource::Application,
        &views::application(&app, task.as_ref()),
    )
}

/// What a label request asks for.
struct LabelParams {
    explain: bool,
    explain_fields: Vec<String>,
    telemetry: bool,
    model: Option<String>,
    is_async: bool,
}

impl LabelParams {
    fn parse(params: &Params) -> ApiResult<Self> {
        Ok(Self {
            explain: params.bool("explain")?.unwrap_or(false),
            explain_fields: params
                .get("explain_fields")
                .filter(|v| *v != "None")
                .map(|v| {
                    v.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            telemetry: params.bool("telemetry")?.unwrap_or(false),
            model: params
                .get("model_id")
                .filter(|m| !m.is_empty() && *m != "None")
                .map(str::to_string),
            is_async: params.bool("is_async")?.unwrap_or(false),
        })
    }
}

fn context(
    state: &AppState,
    team: &Team,
    id: &str,
) -> ApiResult<(AppRec, TaskRec, std::sync::Arc<DatasetEntry>)> {
    let app = state.store.app(&team.0, id)?;
    let task = state.store.task(&team.0, &app.task_id)?;
    let log = state.store.dataset(&team.0, &app.log_dataset_id)?;
    Ok((app, task, log))
}

/// The output of one labeled input.
fn output(
    task: &TaskRec,
    uuid: String,
    at: String,
    labels: &[FieldLabel],
    p: &LabelParams,
    usage: Option<Usage>,
) -> LabelOutput {
    let mut fields = IndexMap::new();
    for (field, l) in task.subtasks.iter().zip(labels) {
        let label = match &l.llm_label {
            serde_json::Value::Array(items) => items.clone(),
            serde_json::Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        let explain = p.explain || p.explain_fields.contains(&field.name);
        fields.insert(
            field.name.clone(),
            FieldOutput {
                label,
                confidence: l.confidence,
                explanation: if explain { l.explanation.clone() } else { None },
            },
        );
    }
    LabelOutput {
        refuel_uuid: Some(uuid),
        refuel_api_timestamp: Some(at),
        refuel_fields: fields,
        uri: None,
        usage,
    }
}

fn usage(state: &AppState, task: &TaskRec, row: &LabeledRow, model: Option<&str>) -> Usage {
    let mut spec = task.spec();
    if let Some(m) = model {
        spec.model = Some(m.to_string());
    }
    Usage {
        model: Some(state.labeler.model_name(&spec)),
        provider: Some(state.labeler.provider().to_string()),
        prompt_tokens: Some(row.prompt_tokens),
        completion_tokens: Some(row.completion_tokens),
        total_tokens: Some(row.prompt_tokens + row.completion_tokens),
    }
}

pub(crate) async fn label(
    State(state): State<AppState>,
    team: Team,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let p = LabelParams::parse(&Params::parse(q.as_deref()))?;
    let (app, mut task, log) = context(&state, &team, &id)?;
    if let Some(model) = &p.model {
        task.model = Some(
            refuel_client::models::model_id(model)
                .unwrap_or(model)
                .to_string(),
        );
    }
    check_explain_fields(&task, &p.explain_fields)?;
    let inputs = label_inputs(body)?;
    let batch = log_inputs(&state, log, &inputs).await?;
    let outputs = if p.is_async {
        label_in_background(&state, &public_base(&headers), &app, task, batch)
    } else {
        label_now(&state, &task, batch, &p).await?
    };
    let response = LabelResponse {
        application_id: Some(app.id.clone()),
        application_name: Some(app.name.clone()),
        refuel_output: outputs,
    };
    reply(&state, &team.0, Resource::LabelResponse, &response)
}

/// Rejects an `explain_fields` entry that is not a field of the application's task.
fn check_explain_fields(task: &TaskRec, explain_fields: &[String]) -> ApiResult<()> {
    for f in explain_fields {
        if task.field_index(f).is_none() {
            return Err(ApiError::bad_request(format!(
                "explain_fields names '{f}', which is not a field of the application"
            )));
        }
    }
    Ok(())
}

/// The inputs of a label request's body: a JSON list of objects, or one object; never
/// empty.
fn label_inputs(
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Vec<serde_json::Map<String, serde_json::Value>>> {
    let Json(body) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    let inputs: Vec<serde_json::Map<String, serde_json::Value>> = match body {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                serde_json::Value::Object(o) => Ok(o),
                _ => Err(ApiError::bad_request(format!(
                    "input {i} is not a JSON object"
                ))),
            })
            .collect::<ApiResult<_>>()?,
        serde_json::Value::Object(o) => vec![o],
        _ => {
            return Err(ApiError::bad_request(
                "the body must be a JSON list of inputs ({column: value} objects)",
            ));
        }
    };
    if inputs.is_empty() {
        return Err(ApiError::bad_request("no inputs to label"));
    }
    Ok(inputs)
}

/// Inputs logged as rows of an application's log dataset, to be labeled.
struct LoggedBatch {
    /// The log dataset.
    log: std::sync::Arc<DatasetEntry>,
    /// The log dataset's id, of which item ids are made.
    log_id: String,
    /// The rows the inputs were logged as.
    range: std::ops::Range<usize>,
    /// When they were logged.
    at: String,
    /// Each input with its row, to label.
    rows: Vec<(u32, RowInput)>,
}

/// Logs `inputs` as rows of the log dataset (columns of the log dataset only).
async fn log_inputs(
    state: &AppState,
    log: std::sync::Arc<DatasetEntry>,
    inputs: &[serde_json::Map<String, serde_json::Value>],
) -> ApiResult<LoggedBatch> {
    let logged: Vec<serde_json::Value> = {
        let data = log.data.read();
        inputs
            .iter()
            .map(|o| {
                serde_json::Value::Object(
                    o.iter()
                        .filter(|(k, _)| data.column_index(k).is_some())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            })
            .collect()
    };
    let writer = log.clone();
    let range = blocking(state, move |store| store.append_rows(&writer, &logged)).await?;
    let log_id = log.meta.read().id.clone();
    let at = now();
    let rows: Vec<(u32, RowInput)> = range
        .clone()
        .zip(inputs)
        .map(|(i, o)| (i as u32, input_of(o)))
        .collect();
    Ok(LoggedBatch {
        log,
        log_id,
        range,
        at,
        rows,
    })
}

/// `is_async`: labels the batch in the background (its items pending meanwhile) and
/// answers outputs without labels, each with the URI its labels will be fetched from.
fn label_in_background(
    state: &AppState,
    base: &str,
    app: &AppRec,
    task: TaskRec,
    batch: LoggedBatch,
) -> Vec<LabelOutput> {
    let LoggedBatch {
        log,
        log_id,
        range,
        at,
        rows,
    } = batch;
    let uuids: Vec<String> = range.map(|i| item_id(&log_id, i)).collect();
    state.pending_labels.lock().extend(uuids.iter().cloned());
    let outputs = uuids
        .iter()
        .map(|u| LabelOutput {
            refuel_uuid: Some(u.clone()),
            refuel_api_timestamp: Some(at.clone()),
            refuel_fields: IndexMap::new(),
            uri: Some(format!("{base}/applications/{}/items/{u}", app.id)),
            usage: None,
        })
        .collect();
    let bg = state.clone();
    state.spawn_background(async move {
        let labeled = runner::label_rows(&bg, &task, log.serial, rows).await;
        let stored = labeled
            .into_iter()
            .map(|(i, r)| {
                (
                    i,
                    r.map(|l| l.fields)
                        .unwrap_or_else(|e| runner::error_labels(&task, &e)),
                )
            })
            .collect();
        let stored = blocking(&bg, move |store| {
            store.put_labels(&log, &task, None, stored)
        });
        if let Err(e) = stored.await {
            tracing::error!(error = %e, "could not store async labels");
        }
        let mut pending = bg.pending_labels.lock();
        for u in uuids {
            pending.remove(&u);
        }
    });
    outputs
}

/// Labels the batch now, stores the labels, and answers one output per input; a failed
/// input fails the request.
async fn label_now(
    state: &AppState,
    task: &TaskRec,
    batch: LoggedBatch,
    p: &LabelParams,
) -> ApiResult<Vec<LabelOutput>> {
    let labeled = runner::label_rows(state, task, batch.log.serial, batch.rows).await;
    let mut outputs = Vec::with_capacity(labeled.len());
    let mut stored = Vec::with_capacity(labeled.len());
    for (i, result) in labeled {
        let row = result
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("labeling failed: {e}")))?;
        let u = p
            .telemetry
            .then(|| usage(state, task, &row, p.model.as_deref()));
        outputs.push(output(
            task,
            item_id(&batch.log_id, i as usize),
            batch.at.clone(),
            &row.fields,
            p,
            u,
        ));
        stored.push((i, row.fields));
    }
    let (writer, task_for_store) = (batch.log, task.clone());
    blocking(state, move |store| {
        store.put_labels(&writer, &task_for_store, None, stored)
    })
    .await?;
    Ok(outputs)
}

/// Finds a labeled item: a row of the log dataset, or of the task's dataset.
fn find_item(
    state: &AppState,
    team: &Team,
    app: &AppRec,
    task: &TaskRec,
    uuid: &str,
) -> ApiResult<(std::sync::Arc<DatasetEntry>, usize)> {
    for dataset_id in [&app.log_dataset_id, &task.dataset_id] {
        if let Some(index) = item_index(dataset_id, uuid) {
            if let Ok(entry) = state.store.dataset(&team.0, dataset_id) {
                if entry
                    .data
                    .read()
                    .rows
                    .get(index)
                    .is_some_and(Option::is_some)
                {
                    return Ok((entry, index));
                }
            }
        }
    }
    Err(ApiError::not_found("labeled item", uuid))
}

pub(crate) async fn get_item(
    State(state): State<AppState>,
    team: Team,
    Path((id, uuid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (app, task, _) = context(&state, &team, &id)?;
    let (entry, index) = find_item(&state, &team, &app, &task, &uuid)?;
    let existing = entry
        .labels
        .read()
        .get(&task.id)
        .and_then(|s| s.row(index).cloned());
    let fields: Vec<FieldLabel> = match existing {
        Some(row) if row.machine => row
            .fields
            .iter()
            .map(|l| FieldLabel {
                llm_label: l.final_value().clone(),
                ..l.llm.clone()
            })
            .collect(),
        _ if state.pending_labels.lock().contains(&uuid) => {
            // 200, so that the Python SDK's `get_labeled_item` (which fails on any other
            // status) returns it; the output has no fields yet.
            let body = serde_json::json!({"data": {
                "application_id": app.id,
                "application_name": app.name,
                "status": "pending",
                "refuel_output": [{"refuel_uuid": uuid, "refuel_fields": {}, "status": "pending"}],
            }});
            return Ok(Json(body).into_response());
        }
        _ => {
            // Not labeled yet (an async label interrupted by a restart): label it now.
            let input = {
                let data = entry.data.read();
                let cells = data.rows[index].as_deref().unwrap_or(&[]);
                data.columns
                    .iter()
                    .cloned()
                    .zip(cells.iter().cloned())
                    .collect()
            };
            let mut labeled =
                runner::label_rows(&state, &task, entry.serial, vec![(index as u32, input)]).await;
            let (_, result) = labeled
                .pop()
                .ok_or_else(|| ApiError::internal("labeling produced nothing"))?;
            let row = result.map_err(|e| {
                ApiError::new(StatusCode::BAD_GATEWAY, format!("labeling failed: {e}"))
            })?;
            let (writer, for_store, fields) = (entry.clone(), task.clone(), row.fields.clone());
            blocking(&state, move |store| {
                store.put_labels(&writer, &for_store, None, vec![(index as u32, fields)])
            })
            .await?;
            row.fields
        }
    };
    let p = LabelParams {
        explain: true,
        explain_fields: Vec::new(),
        telemetry: false,
        model: None,
        is_async: false,
    };
    let out = output(
        &task,
        uuid,
        entry.meta.read().updated_at.clone(),
        &fields,
        &p,
        None,
    );
    let response = LabelResponse {
        application_id: Some(app.id.clone()),
        application_name: Some(app.name.clone()),
        refuel_output: vec![out],
    };
    reply(&state, &team.0, Resource::LabelResponse, &response)
}

/// `POST /applications/{id}/items/{uuid}/label` with `{field id or name: {"label": value}}`.
pub(crate) async fn feedback(
    State(state): State<AppState>,
    team: Team,
    Path((id, uuid)): Path<(String, String)>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<Envelope<serde_json::Value>>> {
    let (app, task, _) = context(&state, &team, &id)?;
    let Json(body) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    let obj = body.as_object().filter(|o| !o.is_empty()).ok_or_else(|| {
        ApiError::bad_request("feedback is a JSON object {field_id: {\"label\": value}}")
    })?;
    let mut changes = Vec::new();
    for (key, value) in obj {
        let field = task.field_index(key).ok_or_else(|| {
            let known: Vec<String> = task
                .subtasks
                .iter()
                .map(|s| format!("{} ({})", s.name, s.id))
                .collect();
            ApiError::bad_request(format!(
                "'{key}' is not a field of the application; its fields are {}",
                known.join(", ")
            ))
        })?;
        let label = match value {
            serde_json::Value::Object(o) => o.get("label").cloned().ok_or_else(|| {
                ApiError::bad_request(format!("feedback for '{key}' has no \"label\""))
            })?,
            other => other.clone(),
        };
        // A one-element list for a single-label field is that label.
        let label = match (&task.subtasks[field].field_type, label) {
            (refuel_client::models::FieldType::MultilabelClassification, l) => l,
            (_, serde_json::Value::Array(mut items)) if items.len() == 1 => items.remove(0),
            (_, l) => l,
        };
        changes.push((field, label));
    }
    let (entry, index) = find_item(&state, &team, &app, &task, &uuid)?;
    blocking(&state, move |store| {
        for (field, label) in changes {
            store.put_feedback(&entry, &task, index, field, label)?;
        }
        Ok(())
    })
    .await?;
    Ok(Json(Envelope::new(
        serde_json::json!({ "refuel_uuid": uuid }),
    )))
}
