//! Labeling tasks: list, get, create (with the Python SDK's checks of the field
//! definitions), delete.

use reqwest::Method;

use crate::RefuelClient;
use crate::error::{Error, ResourceKind, Result};
use crate::models::{
    Dataset, FieldSpec, FieldType, MODELS, Subtask, Task, TaskSettings, check_fields, model_id,
};
use crate::transport::Call;

use super::resource::Collection;

/// The fallback value of a field that does not set one, as in the Python SDK.
pub const DEFAULT_FALLBACK_VALUE: &str = "-";

/// An output field of a task being created, as a user defines it (the Python SDK's field
/// dictionary). Built with [`TaskField::new`] and the setters:
///
/// ```
/// use refuel_client::TaskField;
/// use refuel_client::models::FieldType;
///
/// let sentiment = TaskField::new("sentiment", FieldType::Classification)
///     .guidelines("The overall sentiment of the review")
///     .labels(["positive", "negative", "neutral"])
///     .input_columns(["review"])
///     .ground_truth_column("true_sentiment");
/// assert_eq!(sentiment.fallback_value, "-");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TaskField {
    /// The field's name; it must differ from the dataset's columns and the other fields.
    pub name: String,
    /// Its type: a labeled type (classification, multilabel classification, attribute
    /// extraction) or an enrichment (web page transform or scrape, web search).
    pub field_type: FieldType,
    /// Instructions for the labeler (for a web search, the query template).
    pub guidelines: Option<String>,
    /// The allowed labels; required, and non-empty, for the classification types.
    pub labels: Option<Vec<String>>,
    /// The dataset columns, or names of other fields, given to the labeler.
    pub input_columns: Vec<String>,
    /// A dataset column holding the ground truth of this field.
    pub ground_truth_column: Option<String>,
    /// The value given when a row cannot be labeled (default `-`).
    pub fallback_value: String,
}

impl TaskField {
    /// A field with a name and a type, no guidelines, labels or inputs yet, and the default
    /// fallback value `-`.
    pub fn new(name: impl Into<String>, field_type: FieldType) -> Self {
        Self {
            name: name.into(),
            field_type,
            guidelines: None,
            labels: None,
            input_columns: Vec::new(),
            ground_truth_column: None,
            fallback_value: DEFAULT_FALLBACK_VALUE.to_string(),
        }
    }

    /// Sets the guidelines.
    pub fn guidelines(mut self, guidelines: impl Into<String>) -> Self {
        self.guidelines = Some(guidelines.into());
        self
    }

    /// Sets the allowed labels.
    pub fn labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels = Some(labels.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the input columns (replacing any set before).
    pub fn input_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.input_columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one input column.
    pub fn input_column(mut self, column: impl Into<String>) -> Self {
        self.input_columns.push(column.into());
        self
    }

    /// Sets the ground-truth column.
    pub fn ground_truth_column(mut self, column: impl Into<String>) -> Self {
        self.ground_truth_column = Some(column.into());
        self
    }

    /// Sets the fallback value.
    pub fn fallback_value(mut self, value: impl Into<String>) -> Self {
        self.fallback_value = value.into();
        self
    }

    /// The field as a task's subtask (for the labeled types): labels only for the
    /// classification types, as the Python SDK sends them.
    fn to_subtask(&self) -> Subtask {
        Subtask {
            id: String::new(),
            name: self.name.clone(),
            field_type: self.field_type.clone(),
            guidelines: self.guidelines.clone(),
            labels: if self.field_type.has_labels() {
                self.labels.clone()
            } else {
                None
            },
            input_columns: self.input_columns.clone(),
            default_value: Some(self.fallback_value.clone()),
            label_column: self.ground_truth_column.clone(),
        }
    }

    /// The field as a task's transform (for the enrichment types): the field definition
    /// itself, as the Python SDK sends the user's field dictionary (`client.py:854`, `873`),
    /// with its key names and only the keys that were set (the fallback value only when it
    /// is not the default `-`).
    fn to_transform(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        object.insert("name".into(), self.name.clone().into());
        object.insert("type".into(), self.field_type.as_str().into());
        if let Some(guidelines) = &self.guidelines {
            object.insert("guidelines".into(), guidelines.clone().into());
        }
        object.insert("input_columns".into(), self.input_columns.clone().into());
        if let Some(labels) = &self.labels {
            object.insert("labels".into(), labels.clone().into());
        }
        if let Some(column) = &self.ground_truth_column {
            object.insert("ground_truth_column".into(), column.clone().into());
        }
        if self.fallback_value != DEFAULT_FALLBACK_VALUE {
            object.insert("fallback_value".into(), self.fallback_value.clone().into());
        }
        serde_json::Value::Object(object)
    }
}

/// Checks a task's definition against its dataset and builds the body of its creation.
///
/// The checks are the Python SDK's, each failure an [`Error::InvalidArgument`] naming the
/// field or column at fault, in this order: there is at least one field; every field has a
/// name, a known type and input columns; field names are unique; no field is named like a
/// dataset column; every input column is a dataset column or another field's name (never
/// the field itself); the classification types have a non-empty list of labels; the model,
/// when given, is a display name or id of [`MODELS`]. Labeled fields become `subtasks`,
/// enrichments `transforms`.
pub fn task_settings(
    dataset: &Dataset,
    context: &str,
    fields: &[TaskField],
    model: Option<&str>,
) -> Result<TaskSettings> {
    let columns: Vec<&str> = dataset
        .schema
        .properties
        .keys()
        .map(String::as_str)
        .collect();
    validate_fields(&dataset.name, &columns, fields)?;
    let model = match model {
        None => None,
        Some(m) => Some(model_id(m).ok_or_else(|| unknown_model(m))?.to_string()),
    };
    let transforms: Vec<serde_json::Value> = fields
        .iter()
        .filter(|f| f.field_type.is_enrichment())
        .map(TaskField::to_transform)
        .collect();
    Ok(TaskSettings {
        context: context.to_string(),
        dataset_id: dataset.id.clone(),
        model,
        task_type: "task_chain".to_string(),
        subtasks: fields
            .iter()
            .filter(|f| f.field_type.is_labeled())
            .map(TaskField::to_subtask)
            .collect(),
        transforms: (!transforms.is_empty()).then_some(transforms),
    })
}

/// The JSON body of a task creation, exactly as the Python SDK's `create_task` builds it
/// (`client.py:865-873`, subtasks by `_task_chain`, `client.py:814-839`): `context`,
/// `subtasks`, `dataset_id`, `model` (`null` for the team's default), `task_type`, and
/// `transforms` only when there are enrichments. A new subtask carries `name`, `type`,
/// `input_columns`, `guidelines`, `default_value`, `label_column` (`null` when unset) and,
/// for the classification types only, `labels`; never an `id` (the server assigns it).
pub fn task_create_body(settings: &TaskSettings) -> serde_json::Value {
    let subtasks: Vec<serde_json::Value> = settings
        .subtasks
        .iter()
        .map(|subtask| {
            let mut object = serde_json::Map::new();
            object.insert("name".into(), subtask.name.clone().into());
            object.insert("type".into(), subtask.field_type.as_str().into());
            object.insert("input_columns".into(), subtask.input_columns.clone().into());
            object.insert("guidelines".into(), subtask.guidelines.clone().into());
            object.insert("default_value".into(), subtask.default_value.clone().into());
            object.insert("label_column".into(), subtask.label_column.clone().into());
            if subtask.field_type.has_labels() {
                object.insert("labels".into(), subtask.labels.clone().into());
            }
            serde_json::Value::Object(object)
        })
        .collect();
    let mut body = serde_json::Map::new();
    body.insert("context".into(), settings.context.clone().into());
    body.insert("subtasks".into(), subtasks.into());
    body.insert("dataset_id".into(), settings.dataset_id.clone().into());
    body.insert("model".into(), settings.model.clone().into());
    body.insert("task_type".into(), settings.task_type.clone().into());
    if let Some(transforms) = settings.transforms.as_ref().filter(|t| !t.is_empty()) {
        body.insert("transforms".into(), transforms.clone().into());
    }
    serde_json::Value::Object(body)
}

fn unknown_model(model: &str) -> Error {
    let valid: Vec<String> = MODELS
        .iter()
        .map(|(name, id)| format!("{name} ({id})"))
        .collect();
    Error::InvalidArgument(format!(
        "unknown model '{model}'; valid models (display name or id): {}",
        valid.join(", ")
    ))
}

/// The field checks of [`task_settings`] ([`check_fields`], shared with the emulator),
/// against the dataset's columns.
fn validate_fields(dataset: &str, columns: &[&str], fields: &[TaskField]) -> Result<()> {
    let specs: Vec<FieldSpec<'_>> = fields
        .iter()
        .map(|f| FieldSpec {
            name: &f.name,
            field_type: &f.field_type,
            input_columns: &f.input_columns,
            labels: f.labels.as_deref(),
            ground_truth_column: f.ground_truth_column.as_deref(),
        })
        .collect();
    check_fields(dataset, columns, &specs).map_err(|e| Error::InvalidArgument(e.0))
}

/// The labeling tasks of the client's current project.
#[derive(Debug, Clone, Copy)]
pub struct Tasks<'c> {
    client: &'c RefuelClient,
}

impl<'c> Tasks<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    fn collection(&self) -> Collection<'c, Task> {
        Collection::new(
            self.client,
            ResourceKind::Task,
            |project_id| {
                // The Python SDK's `get_tasks` also sends the project as a parameter
                // (`client.py:725-729`).
                Call::get(
                    format!("/projects/{}/tasks", super::segment(project_id)),
                    "list tasks",
                )
                .query("project_id", project_id)
            },
            "/tasks",
        )
        .in_project()
    }

    /// Every task of the current project (without its fields: [`Tasks::get`] has them).
    pub async fn list(&self) -> Result<Vec<Task>> {
        self.collection().list().await
    }

    /// The id of a task given by name or id.
    pub async fn id(&self, task: &str) -> Result<String> {
        self.collection().id(task).await
    }

    /// One task, by name or id, with its fields (subtasks).
    pub async fn get(&self, task: &str) -> Result<Task> {
        self.collection().get(task).await
    }

    /// Creates a task on a dataset (name or id). The fields are checked against the
    /// dataset's columns before anything is sent (see [`task_settings`]); `model` is a
    /// display name such as `GPT-4o` or a provider id, `None` for the team's default.
    ///
    /// Safe to call again after an ambiguous failure: it never makes two tasks.
    pub async fn create(
        &self,
        name: &str,
        dataset: &str,
        context: &str,
        fields: &[TaskField],
        model: Option<&str>,
    ) -> Result<Task> {
        super::require(name, "a task name")?;
        let dataset_obj = self.client.datasets().get(dataset).await?;
        let settings = task_settings(&dataset_obj, context, fields, model)?;
        let body = task_create_body(&settings);
        let call_context = format!("create task '{name}' on dataset '{dataset}'");
        self.collection()
            .create_once(
                name,
                |project_id| {
                    Call::new(
                        Method::POST,
                        format!("/projects/{}/tasks", super::segment(project_id)),
                        call_context.clone(),
                    )
                    .query("task_name", name)
                    .json(&body)
                },
                |entry| async move { self.get(&entry.id).await },
            )
            .await
    }

    /// Deletes a task.
    pub async fn delete(&self, task: &str) -> Result<()> {
        self.collection().delete(task).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ColumnType, DatasetSchema, IngestStatus};

    fn dataset(columns: &[&str]) -> Dataset {
        Dataset {
            id: "d-1".into(),
            name: "reviews".into(),
            schema: DatasetSchema::from_columns(columns.iter().map(|c| (*c, ColumnType::String))),
            ingest_status: IngestStatus::Success,
            ingest_error: None,
            column_metadata: serde_json::Value::Null,
            total_count: None,
            response_count: None,
            project_ids: vec![],
            scheduled_ids: vec![],
            source: None,
            created_at: None,
            updated_at: None,
            items: None,
        }
    }

    fn sentiment() -> TaskField {
        TaskField::new("sentiment", FieldType::Classification)
            .guidelines("the review's sentiment")
            .labels(["positive", "negative"])
            .input_columns(["text"])
    }

    fn message(result: Result<TaskSettings>) -> String {
        match result {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    fn check(fields: &[TaskField]) -> String {
        message(task_settings(
            &dataset(&["text", "source", "truth"]),
            "ctx",
            fields,
            None,
        ))
    }

    #[test]
    fn needs_a_field() {
        assert_eq!(check(&[]), "a task needs at least one field");
    }

    #[test]
    fn fields_need_a_name() {
        let m = check(&[
            sentiment(),
            TaskField::new(" ", FieldType::AttributeExtraction),
        ]);
        assert_eq!(m, "field #2 has no name");
    }

    #[test]
    fn fields_need_a_known_type() {
        let field = TaskField::new("x", FieldType::Other("ranking".into())).input_columns(["text"]);
        let m = check(&[field]);
        assert!(
            m.starts_with("field 'x' has an unknown type 'ranking'"),
            "{m}"
        );
        assert!(m.contains("attribute_extraction"), "{m}");
    }

    #[test]
    fn fields_need_input_columns() {
        let field = TaskField::new("topic", FieldType::AttributeExtraction);
        assert_eq!(check(&[field]), "field 'topic' has no input columns");
    }

    #[test]
    fn field_names_are_unique() {
        let m = check(&[sentiment(), sentiment()]);
        assert_eq!(
            m,
            "field name 'sentiment' is used more than once; field names must be unique"
        );
    }

    #[test]
    fn field_names_differ_from_columns() {
        let field =
            TaskField::new("source", FieldType::AttributeExtraction).input_columns(["text"]);
        let m = check(&[field]);
        assert_eq!(
            m,
            "field 'source' has the name of a column of dataset 'reviews'; field names must \
             differ from the dataset's columns"
        );
    }

    #[test]
    fn input_columns_must_exist() {
        let field = sentiment().input_column("body");
        let m = check(&[field]);
        assert_eq!(
            m,
            "input column 'body' of field 'sentiment' is neither a dataset column nor the name \
             of another field; dataset 'reviews' has columns: text, source, truth"
        );
        let m = message(task_settings(&dataset(&[]), "", &[sentiment()], None));
        assert!(m.ends_with("dataset 'reviews' has no columns yet (has its ingest finished?)"));
    }

    #[test]
    fn input_columns_may_name_other_fields_but_not_the_field_itself() {
        let summary =
            TaskField::new("summary", FieldType::AttributeExtraction).input_columns(["text"]);
        let chained = sentiment().input_columns(["summary"]);
        assert!(task_settings(&dataset(&["text"]), "", &[summary.clone(), chained], None).is_ok());
        let selfish = summary.input_column("summary");
        assert_eq!(
            check(&[selfish]),
            "field 'summary' lists itself as an input column"
        );
    }

    #[test]
    fn classification_needs_labels() {
        let mut field = sentiment();
        field.labels = None;
        assert_eq!(
            check(&[field.clone()]),
            "field 'sentiment' is of type classification and needs a non-empty list of labels"
        );
        let field = TaskField::new("tags", FieldType::MultilabelClassification)
            .labels(Vec::<String>::new())
            .input_columns(["text"]);
        assert_eq!(
            check(&[field]),
            "field 'tags' is of type multilabel_classification and needs a non-empty list of labels"
        );
    }

    #[test]
    fn model_must_be_known() {
        let m = message(task_settings(
            &dataset(&["text"]),
            "",
            &[sentiment()],
            Some("gpt-9"),
        ));
        assert!(m.starts_with("unknown model 'gpt-9'; valid models"), "{m}");
        assert!(m.contains("GPT-4o mini (gpt-4o-mini)"), "{m}");
        for model in ["GPT-4 Turbo", "gpt-4o mini", "claude-3-opus-20240229"] {
            assert!(
                task_settings(&dataset(&["text"]), "", &[sentiment()], Some(model)).is_ok(),
                "{model}"
            );
        }
    }

    #[test]
    fn settings_split_subtasks_and_transforms() {
        let search = TaskField::new("company_info", FieldType::WebSearch)
            .guidelines("{company} headquarters")
            .input_columns(["company"]);
        let hq = TaskField::new("hq", FieldType::AttributeExtraction)
            .guidelines("the city")
            .input_columns(["company_info"])
            .ground_truth_column("true_hq")
            .fallback_value("unknown")
            .labels(["ignored"]);
        let settings = task_settings(
            &dataset(&["company", "true_hq"]),
            "You are an expert",
            &[search, hq],
            Some("GPT-4 Turbo"),
        )
        .unwrap();
        let body = task_create_body(&settings);
        let expected = serde_json::json!({
            "context": "You are an expert",
            "subtasks": [{
                "name": "hq",
                "type": "attribute_extraction",
                "input_columns": ["company_info"],
                "guidelines": "the city",
                "default_value": "unknown",
                "label_column": "true_hq",
            }],
            "dataset_id": "d-1",
            "model": "gpt-4-1106-preview",
            "task_type": "task_chain",
            "transforms": [{
                "name": "company_info",
                "type": "web_search",
                "guidelines": "{company} headquarters",
                "input_columns": ["company"],
            }],
        });
        assert_eq!(body, expected);
        // In the SDK's key order, as `json.dumps` of its dictionary writes it.
        assert_eq!(body.to_string(), expected.to_string());
    }

    #[test]
    fn new_subtasks_carry_no_id_and_unset_keys_as_null() {
        let field = sentiment().fallback_value("none");
        let settings = task_settings(&dataset(&["text"]), "", &[field], None).unwrap();
        let body = task_create_body(&settings);
        assert_eq!(
            body,
            serde_json::json!({
                "context": "",
                "subtasks": [{
                    "name": "sentiment",
                    "type": "classification",
                    "input_columns": ["text"],
                    "guidelines": "the review's sentiment",
                    "default_value": "none",
                    "label_column": null,
                    "labels": ["positive", "negative"],
                }],
                "dataset_id": "d-1",
                "model": null,
                "task_type": "task_chain",
            })
        );
    }

    #[test]
    fn settings_keep_labels_of_classification_fields() {
        let settings = task_settings(&dataset(&["text"]), "", &[sentiment()], None).unwrap();
        assert_eq!(settings.model, None);
        assert_eq!(settings.transforms, None);
        let subtask = &settings.subtasks[0];
        assert_eq!(
            subtask.labels,
            Some(vec!["positive".to_string(), "negative".to_string()])
        );
        assert_eq!(subtask.default_value.as_deref(), Some("-"));
        assert_eq!(subtask.label_column, None);
    }
}
