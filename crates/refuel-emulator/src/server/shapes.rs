//! Success answers, `{"data": ...}`, in the profile's shapes.
//!
//! Handlers build each resource in our wire model's shapes and answer it through [`reply`]
//! (or [`encode`]). In the default and flipped profiles that is the payload serialized as
//! it is. In the cloud-shapes profile the serialized JSON is rewritten, per kind of
//! resource, into the shapes the official TypeScript SDK declares, which a client must
//! tolerate:
//! - nullable fields are `null` when empty (a dataset's `scheduled_ids`, `column_metadata`;
//!   a listed dataset's `updated_at` and `projects`; a field's `input_columns`, `labels`,
//!   `guidelines`, `label_column`; a task's `context`; a project's `team`);
//! - optional fields are left out (a project's empty `description`, a field's
//!   `default_value`);
//! - fields the SDK declares and our model does not are added (`$schema` of a schema;
//!   a task's `compute_confidence`, `mutable`, `runnable`, `emoji`, `deployed`, ...; a run's
//!   `is_eval_run`, `model_ids`; an application's `emoji`, `task_updated_at`,
//!   `input_columns`, `model_name`, `task_name`; a finetuned model's `training_stats`,
//!   `evaluation_stats`, `provider`; a label's `created_by`, `raw_response`,
//!   `selected_labels`; a labeled row's `telemetry`; an export's `uri`);
//! - a labeled row's `labels` is a map from field id to label (`null` for a row without
//!   labels), and a multilabel field's `multilabel_confidence` a map from label to
//!   confidence;
//! - run metrics carry `type` and `support`, include a `label_distribution` metric whose
//!   value is an object, and `subtasks` is `null` when there are none.

use axum::Json;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use refuel_client::models::Envelope;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use crate::state::{Shared, blocking};
use crate::store::{DatasetEntry, Store, StoreResult, TaskRec};

/// What an answer carries, with what its cloud shape needs beyond the payload itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource<'a> {
    /// A project, or a list of them.
    Project,
    /// Entries of the dataset list.
    DatasetSummary,
    /// A dataset (with plain rows when asked for).
    Dataset,
    /// A dataset with rows labeled by a task.
    LabeledDataset,
    /// A task, or a list of them.
    Task,
    /// A task run, or a list of them.
    TaskRun,
    /// The metrics of the latest run of `task` on `dataset`.
    RunMetrics {
        /// The task.
        task: &'a TaskRec,
        /// The dataset.
        dataset: &'a DatasetEntry,
    },
    /// An application, or a list of them.
    Application,
    /// A finetuned model, or a list of them.
    LabelingModel,
    /// A created export.
    ExportCreated {
        /// Where the file can be downloaded once it exists.
        uri: &'a str,
    },
    /// The answer of a label call.
    LabelResponse,
}

/// The JSON body `{"data": payload}`, in the profile's shapes.
pub(crate) fn encode<T: Serialize>(
    state: &Shared,
    team: &str,
    resource: Resource<'_>,
    payload: &T,
) -> ApiResult<Vec<u8>> {
    let bytes = if state.profile.cloud_shapes() {
        let mut value = serde_json::to_value(payload).map_err(encode_error)?;
        reshape(&Context { state, team }, resource, &mut value);
        serde_json::to_vec(&Envelope::new(value))
    } else {
        serde_json::to_vec(&Envelope::new(payload))
    };
    bytes.map_err(encode_error)
}

/// Answers `{"data": payload}` (`application/json`), in the profile's shapes.
pub(crate) fn reply<T: Serialize>(
    state: &Shared,
    team: &str,
    resource: Resource<'_>,
    payload: &T,
) -> ApiResult<Response> {
    encode(state, team, resource, payload).map(json_bytes)
}

/// Answers a dataset's description (schema, counts, status, no rows), as creating,
/// updating and appending to a dataset do.
pub(crate) fn reply_dataset(
    state: &Shared,
    team: &str,
    entry: &DatasetEntry,
) -> ApiResult<Response> {
    let meta = entry.meta.read();
    let data = entry.data.read();
    reply(
        state,
        team,
        Resource::Dataset,
        &super::views::dataset_meta(&meta, &data),
    )
}

/// Deletes a resource on the blocking pool (see [`blocking`]) and answers `{"data": {}}`, as
/// every `DELETE` of the API does.
pub(crate) async fn deleted<F>(state: &Shared, delete: F) -> ApiResult<Json<Envelope<Value>>>
where
    F: FnOnce(&Store) -> StoreResult<()> + Send + 'static,
{
    blocking(state, delete).await?;
    Ok(Json(Envelope::new(json!({}))))
}

/// A JSON response from bytes serialized under a lock.
pub(crate) fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(CONTENT_TYPE, "application/json")], Body::from(bytes)).into_response()
}

fn encode_error(e: serde_json::Error) -> ApiError {
    ApiError::internal(format!("cannot encode the answer: {e}"))
}

/// What reshaping may look up.
struct Context<'a> {
    state: &'a Shared,
    team: &'a str,
}

/// Rewrites `value` (a resource or a list of them) into the TypeScript SDK's shapes.
fn reshape(ctx: &Context<'_>, resource: Resource<'_>, value: &mut Value) {
    if let Value::Array(items) = value {
        for item in items {
            reshape_one(ctx, resource, item);
        }
    } else {
        reshape_one(ctx, resource, value);
    }
}

fn reshape_one(ctx: &Context<'_>, resource: Resource<'_>, value: &mut Value) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    match resource {
        Resource::Project => project(obj),
        Resource::DatasetSummary => dataset_summary(obj),
        Resource::Dataset => dataset(obj),
        Resource::LabeledDataset => {
            dataset(obj);
            if let Some(Value::Array(items)) = obj.get_mut("items") {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    labeled_item(item);
                }
            }
        }
        Resource::Task => task(ctx, obj),
        Resource::TaskRun => task_run(obj),
        Resource::RunMetrics { task, dataset } => run_metrics(obj, task, dataset),
        Resource::Application => application(ctx, obj),
        Resource::LabelingModel => labeling_model(obj),
        Resource::ExportCreated { uri } => {
            obj.insert("uri".into(), Value::String(uri.to_string()));
        }
        Resource::LabelResponse => label_response(obj),
    }
}

/// Whether a value is "empty": `null`, `""`, `[]` or `{}`.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Sets `key` to `null` when it is missing or empty.
fn null_if_empty(obj: &mut Map<String, Value>, key: &str) {
    if obj.get(key).is_none_or(is_empty) {
        obj.insert(key.to_string(), Value::Null);
    }
}

/// Adds `key` with `value` unless it is there.
fn add(obj: &mut Map<String, Value>, key: &str, value: Value) {
    obj.entry(key.to_string()).or_insert(value);
}

fn text<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    obj.get(key).and_then(Value::as_str)
}

fn project(obj: &mut Map<String, Value>) {
    obj.insert("team".into(), Value::Null);
    if obj.get("description").is_some_and(is_empty) {
        obj.remove("description");
    }
}

/// The JSON-schema URI a schema declares.
const SCHEMA_URI: &str = "http://json-schema.org/draft-07/schema#";

fn schema(value: Option<&mut Value>) {
    if let Some(Value::Object(schema)) = value {
        add(schema, "$schema", Value::String(SCHEMA_URI.into()));
    }
}

fn dataset_summary(obj: &mut Map<String, Value>) {
    obj.insert("updated_at".into(), Value::Null);
    // The listing is asked per project already; the SDK declares `projects` nullable.
    obj.insert("projects".into(), Value::Null);
    schema(obj.get_mut("dataset_schema"));
    null_if_empty(obj, "column_metadata");
}

fn dataset(obj: &mut Map<String, Value>) {
    schema(obj.get_mut("schema"));
    null_if_empty(obj, "scheduled_ids");
    null_if_empty(obj, "column_metadata");
    if obj.get("response_count").is_none_or(Value::is_null) {
        obj.insert("response_count".into(), json!(0));
    }
}

fn labeled_item(item: &mut Map<String, Value>) {
    let labels = match item.remove("labels") {
        Some(Value::Array(list)) if !list.is_empty() => {
            let mut by_field = Map::new();
            for mut label in list {
                if let Some(l) = label.as_object_mut() {
                    add(l, "created_by", Value::Null);
                    add(l, "raw_response", Value::Null);
                    add(l, "selected_labels", Value::Null);
                    multilabel_confidence(l);
                }
                let id = label
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                by_field.insert(id, label);
            }
            Value::Object(by_field)
        }
        Some(Value::Object(map)) => Value::Object(map),
        _ => Value::Null,
    };
    item.insert("labels".into(), labels);
    add(item, "telemetry", Value::Null);
}

/// A multilabel label's confidences, `[c1, c2]` beside `llm_label: [l1, l2]`, as the map
/// `{l1: c1, l2: c2}` the SDK declares.
fn multilabel_confidence(label: &mut Map<String, Value>) {
    let (Some(Value::Array(labels)), Some(Value::Array(confidences))) =
        (label.get("llm_label"), label.get("multilabel_confidence"))
    else {
        return;
    };
    if labels.len() != confidences.len() {
        return;
    }
    let map: Map<String, Value> = labels
        .iter()
        .zip(confidences)
        .map(|(l, c)| {
            let key = l.as_str().map_or_else(|| l.to_string(), str::to_string);
            (key, c.clone())
        })
        .collect();
    label.insert("multilabel_confidence".into(), Value::Object(map));
}

fn subtask(obj: &mut Map<String, Value>) {
    null_if_empty(obj, "input_columns");
    null_if_empty(obj, "labels");
    null_if_empty(obj, "guidelines");
    null_if_empty(obj, "label_column");
    obj.remove("default_value");
    add(obj, "image_columns", Value::Null);
}

fn subtasks(obj: &mut Map<String, Value>) {
    if let Some(Value::Array(list)) = obj.get_mut("subtasks") {
        for s in list.iter_mut().filter_map(Value::as_object_mut) {
            subtask(s);
        }
    }
}

fn task(ctx: &Context<'_>, obj: &mut Map<String, Value>) {
    null_if_empty(obj, "context");
    let deployed = match (text(obj, "id"), text(obj, "project_id")) {
        (Some(id), Some(project)) => ctx
            .state
            .store
            .list_apps(ctx.team, project)
            .iter()
            .any(|a| a.task_id == id),
        _ => false,
    };
    let model = obj.get("model").cloned().unwrap_or(Value::Null);
    add(obj, "compute_confidence", Value::Bool(true));
    add(obj, "mutable", Value::Bool(true));
    add(obj, "runnable", Value::Bool(true));
    add(obj, "emoji", Value::Null);
    add(obj, "deployed", Value::Bool(deployed));
    add(obj, "description", Value::Null);
    add(obj, "few_shot_num", Value::Null);
    add(obj, "selected_model_id", model);
    add(obj, "use_beam_search", Value::Null);
    add(obj, "use_llm_cache", Value::Null);
    subtasks(obj);
}

fn task_run(obj: &mut Map<String, Value>) {
    let model_ids = match obj.get("model_name") {
        Some(Value::String(m)) if !m.is_empty() => json!([m]),
        _ => json!([]),
    };
    add(obj, "is_eval_run", Value::Bool(false));
    add(obj, "model_ids", model_ids);
}

/// Per field of the task (by index), how often each final label occurs on the dataset's
/// rows (each label of a multilabel field counts once).
fn label_distribution(task: &TaskRec, dataset: &DatasetEntry) -> Vec<Map<String, Value>> {
    let mut counts: Vec<indexmap::IndexMap<String, u64>> =
        vec![Default::default(); task.subtasks.len()];
    let data = dataset.data.read();
    let labels = dataset.labels.read();
    if let Some(set) = labels.get(&task.id) {
        for (index, row) in set.rows.iter().enumerate() {
            let Some(row) = row else { continue };
            if data.rows.get(index).is_none_or(Option::is_none) {
                continue;
            }
            for (field, label) in row.fields.iter().enumerate() {
                let Some(count) = counts.get_mut(field) else {
                    continue;
                };
                let values = match label.final_value() {
                    Value::Array(items) => items.clone(),
                    Value::Null => Vec::new(),
                    one => vec![one.clone()],
                };
                for v in values.iter().filter(|v| !v.is_null()) {
                    let key = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    *count.entry(key).or_insert(0) += 1;
                }
            }
        }
    }
    counts
        .into_iter()
        .map(|c| c.into_iter().map(|(k, n)| (k, json!(n))).collect())
        .collect()
}

/// The `num_labeled` value of a metric list, as an integer support.
fn support(metrics: &[Value]) -> Value {
    metrics
        .iter()
        .find(|m| m.get("name").and_then(Value::as_str) == Some("num_labeled"))
        .and_then(|m| m.get("value"))
        .and_then(Value::as_f64)
        .map_or(json!(0), |n| json!(n.max(0.0).round() as u64))
}

fn numeric(metrics: &mut [Value], support: &Value) {
    for m in metrics.iter_mut().filter_map(Value::as_object_mut) {
        add(m, "type", Value::String("numeric".into()));
        add(m, "support", support.clone());
    }
}

fn run_metrics(obj: &mut Map<String, Value>, task: &TaskRec, dataset: &DatasetEntry) {
    let distribution = label_distribution(task, dataset);
    if let Some(Value::Array(metrics)) = obj.get_mut("task") {
        let support = support(metrics);
        numeric(metrics, &support);
        let by_field: Map<String, Value> = task
            .subtasks
            .iter()
            .zip(&distribution)
            .map(|(f, d)| (f.name.clone(), Value::Object(d.clone())))
            .collect();
        metrics.push(json!({
            "name": "label_distribution",
            "value": by_field,
            "type": "dict",
            "support": support,
        }));
    }
    let mut empty = false;
    if let Some(Value::Object(fields)) = obj.get_mut("subtasks") {
        empty = fields.is_empty();
        for (id, metrics) in fields.iter_mut() {
            let Value::Array(metrics) = metrics else {
                continue;
            };
            let support = support(metrics);
            numeric(metrics, &support);
            if let Some(d) = task
                .subtasks
                .iter()
                .position(|f| &f.id == id)
                .and_then(|i| distribution.get(i))
            {
                metrics.push(json!({
                    "name": "label_distribution",
                    "value": d,
                    "type": "dict",
                    "support": support,
                }));
            }
        }
    }
    if empty || obj.get("subtasks").is_none() {
        obj.insert("subtasks".into(), Value::Null);
    }
}

fn application(ctx: &Context<'_>, obj: &mut Map<String, Value>) {
    // `input_columns` comes with the application's view (`views::application`).
    let task = text(obj, "task_id").and_then(|t| ctx.state.store.task(ctx.team, t).ok());
    let created = obj.get("created_at").cloned().unwrap_or(Value::Null);
    add(obj, "emoji", Value::Null);
    add(obj, "task_updated_at", Value::Null);
    add(
        obj,
        "model_name",
        task.as_ref().map_or(Value::Null, |t| {
            json!(ctx.state.labeler.model_name(&t.spec()))
        }),
    );
    add(
        obj,
        "task_name",
        task.as_ref().map_or(Value::Null, |t| json!(t.name)),
    );
    add(
        obj,
        "dataset_id",
        task.as_ref().map_or(Value::Null, |t| json!(t.dataset_id)),
    );
    add(obj, "updated_at", created);
    subtasks(obj);
}

fn labeling_model(obj: &mut Map<String, Value>) {
    add(obj, "training_stats", Value::Null);
    add(obj, "evaluation_stats", json!([]));
    add(obj, "provider", Value::String("refuel".into()));
    add(obj, "augmented_finetuning_model", Value::Null);
}

fn label_response(obj: &mut Map<String, Value>) {
    let Some(Value::Array(outputs)) = obj.get_mut("refuel_output") else {
        return;
    };
    for out in outputs.iter_mut().filter_map(Value::as_object_mut) {
        if let Some(Value::Object(fields)) = out.get_mut("refuel_fields") {
            for field in fields.values_mut().filter_map(Value::as_object_mut) {
                let confidence = field.get("confidence").cloned().unwrap_or(Value::Null);
                add(field, "raw_confidence", confidence);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labeled_items_take_the_map_shape() {
        let mut item = json!({
            "id": "i", "fields": {"a": 1}, "in_evalset": false,
            "labels": [
                {"id": "s1", "label": "pos", "llm_label": "pos", "multilabel_confidence": null},
                {"id": "s2", "label": ["x", "y"], "llm_label": ["x", "y"],
                 "multilabel_confidence": [0.5, 0.25]}
            ]
        });
        labeled_item(item.as_object_mut().unwrap());
        assert_eq!(item["labels"]["s1"]["label"], "pos");
        assert_eq!(item["labels"]["s1"]["created_by"], Value::Null);
        assert!(item["labels"]["s1"].get("raw_response").is_some());
        assert!(item["labels"]["s1"].get("selected_labels").is_some());
        assert_eq!(
            item["labels"]["s2"]["multilabel_confidence"],
            json!({"x": 0.5, "y": 0.25})
        );
        assert_eq!(item["telemetry"], Value::Null);
        let mut bare = json!({"id": "j", "fields": {}, "labels": [], "in_evalset": false});
        labeled_item(bare.as_object_mut().unwrap());
        assert_eq!(bare["labels"], Value::Null);
    }

    #[test]
    fn empty_nullable_fields_become_null_and_optional_ones_go() {
        let mut p = json!({"id": "p", "project_name": "n", "description": "", "team": "t"});
        project(p.as_object_mut().unwrap());
        assert_eq!(p, json!({"id": "p", "project_name": "n", "team": null}));
        let mut s = json!({"id": "s", "name": "x", "type": "attribute_extraction",
            "guidelines": "", "input_columns": [], "default_value": "-", "label_column": null});
        subtask(s.as_object_mut().unwrap());
        assert_eq!(
            s,
            json!({"id": "s", "name": "x", "type": "attribute_extraction", "guidelines": null,
                "input_columns": null, "labels": null, "label_column": null,
                "image_columns": null})
        );
        let mut d = json!({"id": "d", "schema": {"type": "object", "properties": {}},
            "scheduled_ids": [], "column_metadata": {}, "response_count": null});
        dataset(d.as_object_mut().unwrap());
        assert_eq!(d["scheduled_ids"], Value::Null);
        assert_eq!(d["column_metadata"], Value::Null);
        assert_eq!(d["response_count"], 0);
        assert_eq!(d["schema"]["$schema"], SCHEMA_URI);
        let mut run = json!({"status": "active", "model_name": "m"});
        task_run(run.as_object_mut().unwrap());
        assert_eq!(run["model_ids"], json!(["m"]));
        assert_eq!(run["is_eval_run"], false);
    }
}
