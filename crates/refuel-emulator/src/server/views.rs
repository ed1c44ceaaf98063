//! Records shown in the API's JSON shapes, using the shared wire model.

use refuel_client::models::{Dataset, DatasetSchema, DatasetSummary, Project};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::model::Cell;
use crate::store::LabelSet;
use crate::store::{AppRec, TaskRec};
use crate::store::{DatasetData, DatasetMeta, ProjectRec};

/// A project as the API shows it.
pub(crate) fn project(p: &ProjectRec) -> Project {
    Project {
        id: p.id.clone(),
        project_name: p.name.clone(),
        description: Some(p.description.clone()),
        created_at: Some(p.created_at.clone()),
        updated_at: Some(p.updated_at.clone()),
        team: Some(p.team.clone()),
    }
}

/// A dataset's schema from its columns.
pub(crate) fn schema(data: &DatasetData) -> DatasetSchema {
    DatasetSchema::from_columns(data.columns.iter().cloned().zip(data.types.iter().cloned()))
}

/// Per column, the metadata the TypeScript SDK declares (`Metadata`): `{"type": string |
/// integer | number | boolean | date, "source": "user", "is_confidence": null,
/// "is_llm_label": null, "taskId": null}`. Empty before the dataset has columns.
pub(crate) fn column_metadata(data: &DatasetData) -> serde_json::Value {
    let types = data.metadata_types();
    serde_json::Value::Object(
        data.columns
            .iter()
            .zip(types)
            .map(|(name, ty)| {
                (
                    name.clone(),
                    serde_json::json!({
                        "type": ty.as_str(),
                        "source": "user",
                        "is_confidence": null,
                        "is_llm_label": null,
                        "taskId": null,
                    }),
                )
            })
            .collect(),
    )
}

/// A dataset as the list call shows it. It also carries `column_metadata`, which the
/// cloud's listing is not declared to have (an emulator extension: clients can type columns
/// without a request per dataset).
pub(crate) fn dataset_summary(meta: &DatasetMeta, data: &DatasetData) -> DatasetSummary {
    DatasetSummary {
        id: meta.id.clone(),
        dataset_name: meta.name.clone(),
        created_at: Some(meta.created_at.clone()),
        updated_at: Some(meta.updated_at.clone()),
        ingest_status: meta.status.clone(),
        dataset_schema: schema(data),
        source: Some(meta.source.clone()),
        projects: vec![meta.project_id.clone()],
        column_metadata: column_metadata(data),
    }
}

/// A dataset as the get call shows it, with the rows of a query when asked for.
pub(crate) fn dataset<I>(
    meta: &DatasetMeta,
    data: &DatasetData,
    total_count: usize,
    items: Option<Vec<I>>,
) -> Dataset<I> {
    Dataset {
        id: meta.id.clone(),
        name: meta.name.clone(),
        schema: schema(data),
        ingest_status: meta.status.clone(),
        ingest_error: meta.error.clone(),
        column_metadata: column_metadata(data),
        total_count: Some(total_count as u64),
        response_count: items.as_ref().map(|i| i.len() as u64),
        project_ids: vec![meta.project_id.clone()],
        scheduled_ids: meta.scheduled_ids.clone(),
        source: Some(meta.source.clone()),
        created_at: Some(meta.created_at.clone()),
        updated_at: Some(meta.updated_at.clone()),
        items,
    }
}

/// The key under which rows carry their item id when `include_ids=true`.
pub(crate) const ITEM_ID_KEY: &str = "refuel_item_id";

/// One row, serialized as `{column: value, ...}` without copying it.
#[derive(Debug)]
pub(crate) struct RowView<'a> {
    /// Column names.
    pub columns: &'a [String],
    /// The row's cells.
    pub cells: &'a [Cell],
    /// The item id, when asked for.
    pub id: Option<String>,
}

impl Serialize for RowView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.columns.len() + usize::from(self.id.is_some())))?;
        for (name, cell) in self.columns.iter().zip(self.cells) {
            map.serialize_entry(name, cell)?;
        }
        if let Some(id) = &self.id {
            map.serialize_entry(ITEM_ID_KEY, id)?;
        }
        map.end()
    }
}

/// A row with a task's labels.
#[derive(Debug, Serialize)]
pub(crate) struct LabeledView<'a> {
    /// The row's item id.
    pub id: String,
    /// The dataset columns.
    pub fields: RowView<'a>,
    /// One label per labeled task field, in the task's order.
    pub labels: Vec<LabelView<'a>>,
    /// Whether the row is in the task's evaluation set (never, here).
    pub in_evalset: bool,
}

/// One field's label, as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct LabelView<'a> {
    /// The field (subtask) id.
    pub id: &'a str,
    /// The final label.
    pub label: &'a serde_json::Value,
    /// The LLM's label.
    pub llm_label: &'a serde_json::Value,
    /// Its confidence.
    pub confidence: Option<f64>,
    /// The same before calibration (equal here).
    pub raw_confidence: Option<f64>,
    /// Per chosen label, for multilabel fields.
    pub multilabel_confidence: Option<&'a Vec<f64>>,
    /// The ground-truth column's value.
    pub expected_label: &'a Cell,
    /// The LLM's explanation.
    pub explanation: Option<&'a str>,
    /// Whether a human changed the LLM's label.
    pub overridden: bool,
    /// `HUMAN` when verified, else `LLM`.
    pub source: &'static str,
    /// Why labeling failed.
    pub error_msg: Option<&'a str>,
}

static NULL: Cell = Cell::Null;

/// The labels of row `index` under `task`: empty when the row has none.
pub(crate) fn labels<'a>(
    task: &'a TaskRec,
    data: &'a DatasetData,
    set: Option<&'a LabelSet>,
    index: usize,
) -> Vec<LabelView<'a>> {
    let Some(row) = set.and_then(|s| s.row(index)) else {
        return Vec::new();
    };
    let cells = data
        .rows
        .get(index)
        .and_then(|r| r.as_deref())
        .unwrap_or(&[]);
    task.subtasks
        .iter()
        .zip(&row.fields)
        .map(|(field, l)| {
            let expected = field
                .label_column
                .as_deref()
                .and_then(|c| data.column_index(c))
                .and_then(|i| cells.get(i))
                .unwrap_or(&NULL);
            LabelView {
                id: &field.id,
                label: l.final_value(),
                llm_label: &l.llm.llm_label,
                confidence: l.llm.confidence,
                raw_confidence: l.llm.confidence,
                multilabel_confidence: l.llm.multilabel_confidence.as_ref(),
                expected_label: expected,
                explanation: l.llm.explanation.as_deref(),
                overridden: l.human.as_ref().is_some_and(|h| *h != l.llm.llm_label),
                source: if l.verified() { "HUMAN" } else { "LLM" },
                error_msg: l.llm.error.as_deref(),
            }
        })
        .collect()
}

/// A task as the API shows it.
pub(crate) fn task(t: &TaskRec) -> refuel_client::models::Task {
    refuel_client::models::Task {
        id: t.id.clone(),
        task_name: t.name.clone(),
        project_id: Some(t.project_id.clone()),
        dataset_id: Some(t.dataset_id.clone()),
        context: Some(t.context.clone()),
        model: t.model.clone(),
        task_type: Some("task_chain".into()),
        subtasks: t.subtasks.clone(),
        transforms: t.transforms.clone(),
        status: Some("active".into()),
        created_at: Some(t.created_at.clone()),
        updated_at: Some(t.updated_at.clone()),
    }
}

/// An application as the API shows it.
pub(crate) fn application(
    a: &AppRec,
    task: Option<&TaskRec>,
) -> refuel_client::models::Application {
    let mut app = refuel_client::models::Application {
        id: a.id.clone(),
        name: a.name.clone(),
        project_id: Some(a.project_id.clone()),
        task_id: Some(a.task_id.clone()),
        status: Some("active".into()),
        input_columns: Vec::new(),
        subtasks: task.map(|t| t.subtasks.clone()).unwrap_or_default(),
        created_at: Some(a.created_at.clone()),
    };
    // As the API states them: its fields' input columns, in the order they first appear.
    app.input_columns = app.inputs();
    app
}

/// A dataset as the get call shows it, without rows.
pub(crate) fn dataset_meta(meta: &DatasetMeta, data: &DatasetData) -> Dataset<RowView<'static>> {
    dataset(meta, data, data.live, None)
}
