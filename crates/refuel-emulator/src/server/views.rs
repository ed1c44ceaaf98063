//! Records shown in the API's JSON shapes, using the shared wire model.

use refuel_client::models::{Dataset, DatasetSchema, DatasetSummary, Project};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::store::{Cell, DatasetData, DatasetMeta, ProjectRec};

/// A project as the API shows it.
pub fn project(p: &ProjectRec) -> Project {
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
pub fn schema(data: &DatasetData) -> DatasetSchema {
    DatasetSchema::from_columns(data.columns.iter().cloned().zip(data.types.iter().cloned()))
}

/// A dataset as the list call shows it.
pub fn dataset_summary(meta: &DatasetMeta, data: &DatasetData) -> DatasetSummary {
    DatasetSummary {
        id: meta.id.clone(),
        dataset_name: meta.name.clone(),
        created_at: Some(meta.created_at.clone()),
        updated_at: Some(meta.updated_at.clone()),
        ingest_status: meta.status.clone(),
        dataset_schema: schema(data),
        source: Some(meta.source.clone()),
        projects: vec![meta.project_id.clone()],
    }
}

/// A dataset as the get call shows it, with the rows of a query when asked for.
pub fn dataset<'a>(
    meta: &DatasetMeta,
    data: &DatasetData,
    total_count: usize,
    items: Option<Vec<RowView<'a>>>,
) -> Dataset<RowView<'a>> {
    Dataset {
        id: meta.id.clone(),
        name: meta.name.clone(),
        schema: schema(data),
        ingest_status: meta.status.clone(),
        ingest_error: meta.error.clone(),
        column_metadata: serde_json::json!({}),
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
pub const ITEM_ID_KEY: &str = "refuel_item_id";

/// One row, serialized as `{column: value, ...}` without copying it.
#[derive(Debug)]
pub struct RowView<'a> {
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
