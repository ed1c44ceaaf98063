//! Applications: tasks deployed for online labeling — deploy, list, get, label (one request
//! per input, concurrently, or all at once for later), fetch later results, feedback.

use std::time::Instant;

use futures::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};

use super::datasets::WaitOptions;
use crate::RefuelClient;
use crate::error::{Error, ResourceKind, Result};
use crate::models::{
    APP_CATALOG_PROJECT_ID, Application, LabelOutput, LabelResponse, Row, model_id,
};
use crate::retry::Idempotency;
use crate::transport::{Call, decode_data, excerpt};

use super::resource::Collection;

/// Options of a label call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelOptions {
    /// Return an explanation with every field's label.
    pub explain: bool,
    /// Fields whose explanation is returned whatever `explain` says.
    pub explain_fields: Vec<String>,
    /// Return the model, provider and token counts (`usage`).
    pub telemetry: bool,
    /// The model to label with instead of the application's: a display name such as
    /// `GPT-4o` (mapped to its id) or any model id, e.g. a finetuned model's.
    pub model: Option<String>,
}

impl LabelOptions {
    /// Default options: no explanations, no telemetry, the application's model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether every field's label comes with an explanation.
    pub fn explain(mut self, explain: bool) -> Self {
        self.explain = explain;
        self
    }

    /// Sets the fields whose explanation is always returned.
    pub fn explain_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.explain_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Sets whether usage comes with the labels.
    pub fn telemetry(mut self, telemetry: bool) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Sets the model (display name or id).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The query parameters these options add to a label request, as the Python SDK's
    /// `label` sends them (`client.py:1096-1102`, after its `application_id`): `explain`
    /// and `telemetry` as Python bools (`True`/`False`), `explain_fields` joined with `;`
    /// (absent when empty), and `model_id` (a display name mapped to its id, any other value
    /// passed as it is; absent when `None`).
    pub fn query_params(&self) -> Result<Vec<(&'static str, String)>> {
        self.params(None, false)
    }

    /// The whole query of a label request: `application_id` first, and for the async form
    /// `is_async=True` before `model_id` (`client.py:1210-1217`).
    fn params(
        &self,
        application_id: Option<&str>,
        is_async: bool,
    ) -> Result<Vec<(&'static str, String)>> {
        if let Some(bad) = self
            .explain_fields
            .iter()
            .find(|f| f.is_empty() || f.contains(';'))
        {
            return Err(Error::InvalidArgument(format!(
                "explain field '{bad}' cannot be sent: field names in explain_fields must be \
                 non-empty and contain no ';'"
            )));
        }
        let mut params = Vec::with_capacity(6);
        if let Some(id) = application_id {
            params.push(("application_id", id.to_string()));
        }
        params.push(("explain", super::py_bool(self.explain).to_string()));
        params.push(("telemetry", super::py_bool(self.telemetry).to_string()));
        if !self.explain_fields.is_empty() {
            params.push(("explain_fields", self.explain_fields.join(";")));
        }
        if is_async {
            params.push(("is_async", super::py_bool(true).to_string()));
        }
        if let Some(model) = &self.model {
            super::require(model, "the model")?;
            let id = model_id(model).unwrap_or(model.as_str());
            params.push(("model_id", id.to_string()));
        }
        Ok(params)
    }
}

/// A ready-made application of Refuel's catalog, as `GET /app_catalog` lists it (the fields
/// the Python SDK's `get_catalog_apps` reads, `client.py:751-760`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CatalogApp {
    /// The catalog application's id (what an import sends as `catalog_id`).
    pub id: String,
    /// Its name in the catalog.
    #[serde(default)]
    pub app_name: Option<String>,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
}

/// The applications of the client's current project.
#[derive(Debug, Clone, Copy)]
pub struct Applications<'c> {
    client: &'c RefuelClient,
}

impl<'c> Applications<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    /// Deploys a task (name or id) as an application named `name`, by default the task's
    /// name. Safe to call again after an ambiguous failure: it never makes two.
    pub async fn deploy(&self, task: &str, name: Option<&str>) -> Result<Application> {
        let tasks = self.client.tasks();
        let task_id = tasks.id(task).await?;
        let name = match name {
            Some(name) => name.to_string(),
            None if !crate::is_uuid(task) => task.to_string(),
            None => tasks.get(&task_id).await?.task_name,
        };
        super::require(&name, "an application name")?;
        let context = format!("deploy task '{task}' as application '{name}'");
        self.collection()
            .create_once(
                &name,
                |project_id| {
                    Call::new(
                        Method::POST,
                        format!("/projects/{}/applications", super::segment(project_id)),
                        context.clone(),
                    )
                    .query("task_id", &task_id)
                    .query("application_name", &name)
                },
                |app| async { Ok(app) },
            )
            .await
    }

    fn collection(&self) -> Collection<'c, Application> {
        Collection::new(
            self.client,
            ResourceKind::Application,
            |project_id| {
                Call::get(
                    format!("/projects/{}/applications", super::segment(project_id)),
                    "list applications",
                )
            },
            "/applications",
        )
        .in_project()
    }

    /// Every application of the current project.
    pub async fn list(&self) -> Result<Vec<Application>> {
        self.collection().list().await
    }

    /// The id of an application given by name or id.
    pub async fn id(&self, app: &str) -> Result<String> {
        self.collection().id(app).await
    }

    /// One application, by name or id, with its task's fields (subtasks).
    pub async fn get(&self, app: &str) -> Result<Application> {
        self.collection().get(app).await
    }

    /// Labels inputs (rows keyed by the task's input columns) with an application, one
    /// request per input as the Python SDK does, as many at a time as the client's
    /// [`crate::RequestLimiter`] allows.
    ///
    /// The outer error is for what fails before any input is sent (the application cannot
    /// be found, the options are invalid). Then there is one result per input, in input
    /// order: a failure (after the transport's retries) is reported at its input's index
    /// and never hides the others. Labeling has no side effect but logging, so it is
    /// retried like a read.
    pub async fn label(
        &self,
        app: &str,
        inputs: &[Row],
        options: &LabelOptions,
    ) -> Result<Vec<Result<LabelOutput>>> {
        // Bad options fail before anything is sent.
        options.query_params()?;
        let id = self.id(app).await?;
        let params = options.params(Some(&id), false)?;
        let workers = self.client.limiter().bound();
        let results = stream::iter(inputs.iter().enumerate())
            .map(|(i, input)| {
                let context = if inputs.len() == 1 {
                    format!("label an input with application '{app}'")
                } else {
                    format!("label input #{i} with application '{app}'")
                };
                self.send_label(&id, params.clone(), input, context)
            })
            .buffered(workers)
            .collect()
            .await;
        Ok(results)
    }

    /// Labels one input with the application whose id is `app_id` (no lookup): one
    /// request, as each input of [`Applications::label`] is sent, with the same retries.
    pub async fn label_one(
        &self,
        app_id: &str,
        input: &Row,
        options: &LabelOptions,
    ) -> Result<LabelOutput> {
        let params = options.params(Some(app_id), false)?;
        let context = format!("label an input with application {app_id}");
        self.send_label(app_id, params, input, context).await
    }

    async fn send_label(
        &self,
        app_id: &str,
        params: Vec<(&'static str, String)>,
        input: &Row,
        context: String,
    ) -> Result<LabelOutput> {
        let path = format!("/applications/{}/label", super::segment(app_id));
        let call = Call::new(Method::POST, path, context.clone())
            .queries(params)
            .idempotency(Idempotency::Idempotent)
            .body_with(move |rb| Ok(rb.json(std::slice::from_ref(input))));
        let response: LabelResponse = self.client.transport().call(&call).await?;
        first_output(&context, response)
    }

    /// Submits inputs for labeling later, all in one request (`is_async=True`). The
    /// outputs carry a `refuel_uuid` (and a `uri`) to fetch each result with
    /// [`Applications::labeled_item`]. Submitting creates items on the server, so the call
    /// is not retried blindly.
    pub async fn label_async(
        &self,
        app: &str,
        inputs: &[Row],
        options: &LabelOptions,
    ) -> Result<LabelResponse> {
        // Bad options fail before anything is sent.
        options.query_params()?;
        let id = self.id(app).await?;
        let params = options.params(Some(&id), true)?;
        if inputs.is_empty() {
            return Ok(LabelResponse {
                application_id: Some(id),
                application_name: None,
                refuel_output: Vec::new(),
            });
        }
        let call = Call::new(
            Method::POST,
            format!("/applications/{}/label", super::segment(&id)),
            format!(
                "submit {} inputs for labeling with application '{app}'",
                inputs.len()
            ),
        )
        .queries(params)
        .json(&inputs);
        self.client.transport().call(&call).await
    }

    /// The result of an input submitted with [`Applications::label_async`]: `None` while
    /// it is still being labeled (the server answers `202 Accepted`, or a body whose `status` is `pending`).
    pub async fn labeled_item(&self, app: &str, refuel_uuid: &str) -> Result<Option<LabelOutput>> {
        super::require(refuel_uuid, "the refuel_uuid")?;
        let id = self.id(app).await?;
        self.labeled_item_of(&id, app, refuel_uuid).await
    }

    async fn labeled_item_of(
        &self,
        id: &str,
        app: &str,
        refuel_uuid: &str,
    ) -> Result<Option<LabelOutput>> {
        let context = format!("get labeled item '{refuel_uuid}' of application '{app}'");
        let call = Call::get(
            format!(
                "/applications/{}/items/{}",
                super::segment(id),
                super::segment(refuel_uuid)
            ),
            context.clone(),
        );
        let (status, body) = self.client.transport().call_status(&call).await?;
        parse_labeled_item(&context, status, &body)
    }

    /// Polls [`Applications::labeled_item`] until the result is there; one that takes
    /// longer than `options.timeout` is [`Error::Timeout`].
    pub async fn wait_for_labeled_item(
        &self,
        app: &str,
        refuel_uuid: &str,
        options: WaitOptions,
    ) -> Result<LabelOutput> {
        super::require(refuel_uuid, "the refuel_uuid")?;
        let start = Instant::now();
        let id = self.id(app).await?;
        loop {
            if let Some(output) = self.labeled_item_of(&id, app, refuel_uuid).await? {
                return Ok(output);
            }
            if start.elapsed() + options.poll_interval > options.timeout {
                return Err(Error::Timeout {
                    what: format!("labeling of item '{refuel_uuid}' by application '{app}'"),
                    timeout: options.timeout,
                });
            }
            tokio::time::sleep(options.poll_interval).await;
        }
    }

    /// Records human labels for a labeled item: `labels` pairs a field name (or id) of the
    /// application with its correct label (for a multilabel field, a list). As the Python
    /// SDK's `feedback` (`client.py:1253-1277`), each field is one request with body
    /// `{subtask_id: {"label": value}}`, in the order given; every field is checked before
    /// the first is sent. The item then shows as verified. Setting the same labels again is
    /// harmless, so the calls are retried like reads, and after a failure the whole call
    /// can be repeated. No labels, no request.
    pub async fn feedback<S: AsRef<str>>(
        &self,
        app: &str,
        refuel_uuid: &str,
        labels: &[(S, serde_json::Value)],
    ) -> Result<()> {
        super::require(refuel_uuid, "the refuel_uuid")?;
        if labels.is_empty() {
            return Ok(());
        }
        let application = self.get(app).await?;
        let bodies = feedback_bodies(&application, app, labels)?;
        let path = format!(
            "/applications/{}/items/{}/label",
            super::segment(&application.id),
            super::segment(refuel_uuid)
        );
        for (field, body) in &bodies {
            let call = Call::new(
                Method::POST,
                path.clone(),
                format!("send feedback on field '{field}' of item '{refuel_uuid}' of application '{app}'"),
            )
            .idempotency(Idempotency::Idempotent)
            .json(body);
            self.client.transport().call_unit(&call).await?;
        }
        Ok(())
    }

    /// The applications of Refuel's catalog project, as the Python SDK lists them at
    /// start-up (`get_catalog_applications`, `client.py:1031-1037`):
    /// `GET /projects/fb327444-e5ad-4808-88c9-4dc1ea8f086b/applications`.
    pub async fn catalog_applications(&self) -> Result<Vec<Application>> {
        let call = Call::get(
            format!("/projects/{}/applications", APP_CATALOG_PROJECT_ID),
            "list the applications of the catalog project",
        );
        self.client.transport().call(&call).await
    }

    /// The ready-made applications of Refuel's catalog (`GET /app_catalog`, the Python
    /// SDK's `get_catalog_apps`, `client.py:745-761`).
    pub async fn catalog(&self) -> Result<Vec<CatalogApp>> {
        let call = Call::get("/app_catalog", "list the application catalog");
        self.client.transport().call(&call).await
    }

    /// Imports a catalog application (by its catalog name or id) into the current project,
    /// as the Python SDK's `import_app` does (`client.py:1057-1072`):
    /// `POST /projects/{id}/applications?catalog_id=C&application_name=N`, where `N` is
    /// `catalog_app` as given. Safe to call again after an ambiguous failure: it never
    /// makes two.
    pub async fn import(&self, catalog_app: &str) -> Result<Application> {
        super::require(catalog_app, "the catalog application")?;
        let catalog_id = if crate::is_uuid(catalog_app) {
            catalog_app.to_string()
        } else {
            self.catalog()
                .await?
                .into_iter()
                .find(|a| a.app_name.as_deref() == Some(catalog_app))
                .map(|a| a.id)
                .ok_or_else(|| Error::NotFound {
                    kind: ResourceKind::Application,
                    name: catalog_app.to_string(),
                    scope: Some("the application catalog".to_string()),
                })?
        };
        let context = format!("import catalog application '{catalog_app}'");
        self.collection()
            .create_once(
                catalog_app,
                |project_id| {
                    Call::new(
                        Method::POST,
                        format!("/projects/{}/applications", super::segment(project_id)),
                        context.clone(),
                    )
                    .query("catalog_id", &catalog_id)
                    .query("application_name", catalog_app)
                },
                |app| async { Ok(app) },
            )
            .await
    }
}

/// The one output of a single-input label response.
fn first_output(context: &str, mut response: LabelResponse) -> Result<LabelOutput> {
    let count = response.refuel_output.len();
    if count == 1 {
        if let Some(output) = response.refuel_output.pop() {
            return Ok(output);
        }
    }
    Err(Error::Decode {
        context: context.to_string(),
        path: "refuel_output".to_string(),
        message: format!("expected one output for the one input, got {count}"),
        excerpt: excerpt(
            serde_json::to_string(&response)
                .unwrap_or_default()
                .as_bytes(),
        ),
    })
}

/// Reads the answer of `GET /applications/{id}/items/{uuid}`: `202` (or a `pending`
/// status) means not yet; `200` holds a label response (its first output) or an output.
fn parse_labeled_item(
    context: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<Option<LabelOutput>> {
    if status == StatusCode::ACCEPTED {
        return Ok(None);
    }
    let value: serde_json::Value = decode_data(context, body)?;
    let pending = value
        .get("status")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("pending"));
    if pending {
        return Ok(None);
    }
    if value.get("refuel_output").is_some() {
        let response: LabelResponse = decode_data(context, body)?;
        return response
            .refuel_output
            .into_iter()
            .next()
            .map(Some)
            .ok_or_else(|| Error::Decode {
                context: context.to_string(),
                path: "refuel_output".to_string(),
                message: "the response holds no output".to_string(),
                excerpt: excerpt(body),
            });
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Error::Decode {
            context: context.to_string(),
            path: String::new(),
            message: e.to_string(),
            excerpt: excerpt(body),
        })
}

/// The bodies of the feedback requests, `{subtask_id: {"label": value}}` one per field with
/// the field's name, from field names (or ids) of the application.
fn feedback_bodies<S: AsRef<str>>(
    application: &Application,
    app: &str,
    labels: &[(S, serde_json::Value)],
) -> Result<Vec<(String, serde_json::Value)>> {
    let mut bodies: Vec<(String, serde_json::Value)> = Vec::with_capacity(labels.len());
    let mut seen = std::collections::HashSet::new();
    for (field, label) in labels {
        let field = field.as_ref();
        let subtask = application
            .subtasks
            .iter()
            .find(|s| s.name == field)
            .or_else(|| application.subtasks.iter().find(|s| s.id == field))
            .filter(|s| !s.id.is_empty());
        let Some(subtask) = subtask else {
            let valid: Vec<&str> = application
                .subtasks
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            return Err(Error::InvalidArgument(format!(
                "application '{app}' has no field '{field}'; its fields are: {}",
                if valid.is_empty() {
                    "(none)".to_string()
                } else {
                    valid.join(", ")
                }
            )));
        };
        if !seen.insert(subtask.id.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "feedback names field '{}' more than once",
                subtask.name
            )));
        }
        let mut body = serde_json::Map::new();
        body.insert(
            subtask.id.clone(),
            serde_json::json!({ "label": label.clone() }),
        );
        bodies.push((subtask.name.clone(), serde_json::Value::Object(body)));
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{FieldType, Subtask};
    use serde_json::json;

    #[test]
    fn label_params() {
        let params = LabelOptions::default().query_params().unwrap();
        assert_eq!(
            params,
            vec![
                ("explain", "False".to_string()),
                ("telemetry", "False".to_string())
            ]
        );
        let options = LabelOptions::new()
            .explain(true)
            .explain_fields(["sentiment", "topic"])
            .telemetry(true)
            .model("GPT-4o mini");
        assert_eq!(
            options.params(Some("a-1"), false).unwrap(),
            vec![
                ("application_id", "a-1".to_string()),
                ("explain", "True".to_string()),
                ("telemetry", "True".to_string()),
                ("explain_fields", "sentiment;topic".to_string()),
                ("model_id", "gpt-4o-mini".to_string()),
            ]
        );
        assert_eq!(
            options.params(Some("a-1"), true).unwrap(),
            vec![
                ("application_id", "a-1".to_string()),
                ("explain", "True".to_string()),
                ("telemetry", "True".to_string()),
                ("explain_fields", "sentiment;topic".to_string()),
                ("is_async", "True".to_string()),
                ("model_id", "gpt-4o-mini".to_string()),
            ]
        );
        let params = LabelOptions::new()
            .model("ft-model-42")
            .query_params()
            .unwrap();
        assert_eq!(params[2], ("model_id", "ft-model-42".to_string()));
        let err = LabelOptions::new()
            .explain_fields(["a;b"])
            .query_params()
            .unwrap_err();
        assert!(err.to_string().contains("'a;b'"), "{err}");
    }

    fn app() -> Application {
        let subtask = |id: &str, name: &str| Subtask {
            id: id.into(),
            name: name.into(),
            field_type: FieldType::Classification,
            guidelines: None,
            labels: None,
            input_columns: vec![],
            default_value: None,
            label_column: None,
        };
        Application {
            id: "a-1".into(),
            name: "sentiment-app".into(),
            project_id: None,
            task_id: None,
            status: None,
            input_columns: vec![],
            subtasks: vec![subtask("s-1", "sentiment"), subtask("s-2", "topic")],
            created_at: None,
        }
    }

    #[test]
    fn feedback_requests() {
        let bodies = feedback_bodies(
            &app(),
            "sentiment-app",
            &[("sentiment", json!(["negative"])), ("s-2", json!("food"))],
        )
        .unwrap();
        assert_eq!(
            bodies,
            vec![
                (
                    "sentiment".to_string(),
                    json!({"s-1": {"label": ["negative"]}})
                ),
                ("topic".to_string(), json!({"s-2": {"label": "food"}})),
            ]
        );
        let err = feedback_bodies(&app(), "sentiment-app", &[("mood", json!("x"))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument: application 'sentiment-app' has no field 'mood'; its fields \
             are: sentiment, topic"
        );
        let err = feedback_bodies(
            &app(),
            "sentiment-app",
            &[("sentiment", json!("a")), ("s-1", json!("b"))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
    }

    #[test]
    fn labeled_items() {
        let ctx = "t";
        let pending = br#"{"data": {"refuel_uuid": "u", "status": "pending"}}"#;
        assert_eq!(
            parse_labeled_item(ctx, StatusCode::ACCEPTED, pending).unwrap(),
            None
        );
        assert_eq!(
            parse_labeled_item(ctx, StatusCode::OK, pending).unwrap(),
            None
        );
        let done = br#"{"data": {"application_id": "a", "refuel_output": [
            {"refuel_uuid": "u", "refuel_fields": {"sentiment": {"label": ["positive"], "confidence": 0.9}}}
        ]}}"#;
        let out = parse_labeled_item(ctx, StatusCode::OK, done)
            .unwrap()
            .unwrap();
        assert_eq!(out.refuel_uuid.as_deref(), Some("u"));
        assert_eq!(
            out.refuel_fields["sentiment"].label,
            vec![json!("positive")]
        );
        let bare =
            br#"{"data": {"refuel_uuid": "u", "refuel_fields": {"sentiment": {"label": ["x"]}}}}"#;
        let out = parse_labeled_item(ctx, StatusCode::OK, bare)
            .unwrap()
            .unwrap();
        assert_eq!(out.refuel_fields.len(), 1);
        let empty = br#"{"data": {"refuel_output": []}}"#;
        assert!(parse_labeled_item(ctx, StatusCode::OK, empty).is_err());
    }

    #[test]
    fn single_outputs() {
        let response = |n: usize| LabelResponse {
            application_id: None,
            application_name: None,
            refuel_output: (0..n)
                .map(|_| LabelOutput {
                    refuel_uuid: None,
                    refuel_api_timestamp: None,
                    refuel_fields: Default::default(),
                    uri: None,
                    usage: None,
                })
                .collect(),
        };
        assert!(first_output("t", response(1)).is_ok());
        assert!(first_output("t", response(0)).is_err());
        assert!(first_output("t", response(2)).is_err());
    }
}
