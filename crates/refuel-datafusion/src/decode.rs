//! Pages of the API decoded straight into Arrow.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::record_batch::RecordBatchOptions;
use datafusion::error::{DataFusionError, Result};
use refuel_client::models::LabeledItem;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::columns::{ColumnSource, LabelColumn, TableColumns};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: PageBody<'a>,
}

#[derive(Deserialize)]
struct PageBody<'a> {
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
    #[serde(default)]
    total_count: Option<u64>,
}

/// A decoded page.
#[derive(Debug)]
pub struct DecodedPage {
    /// The page's rows.
    pub batch: RecordBatch,
    /// How many rows match the query, when the server says.
    pub total_count: Option<u64>,
}

/// Decodes a page body (`{"data": {"items": [...], "total_count": n}}`) into a batch of
/// `schema` (a projection of `columns`). Flat rows go straight through Arrow's JSON decoder;
/// labeled items (with a task) are flattened into the label columns first.
pub fn decode_page(
    body: &[u8],
    columns: &TableColumns,
    schema: &SchemaRef,
    labeled: bool,
) -> Result<DecodedPage> {
    let page: Envelope<'_> = serde_json::from_slice(body).map_err(|e| {
        DataFusionError::External(format!("the API's page is not the expected JSON: {e}").into())
    })?;
    let items = &page.data.items;
    let batch = if schema.fields().is_empty() {
        RecordBatch::try_new_with_options(
            Arc::clone(schema),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(items.len())),
        )?
    } else {
        let mut decoder = ReaderBuilder::new(Arc::clone(schema))
            .with_batch_size(items.len().max(1))
            .build_decoder()?;
        if labeled {
            let flat: Vec<Map<String, Value>> = items
                .iter()
                .map(|raw| flatten(raw, columns))
                .collect::<Result<_>>()?;
            decoder.serialize(&flat)?;
        } else {
            for raw in items {
                decoder.decode(raw.get().as_bytes())?;
            }
        }
        decoder
            .flush()?
            .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema)))
    };
    Ok(DecodedPage {
        batch,
        total_count: page.data.total_count,
    })
}

/// A labeled item as one flat row of the label table's columns.
fn flatten(raw: &RawValue, columns: &TableColumns) -> Result<Map<String, Value>> {
    let item: LabeledItem = serde_json::from_str(raw.get()).map_err(|e| {
        DataFusionError::External(format!("a labeled item is not the expected JSON: {e}").into())
    })?;
    let mut row = item.fields;
    for (field, source) in columns.schema.fields().iter().zip(&columns.sources) {
        let ColumnSource::Label { field_id, kind, .. } = source else {
            continue;
        };
        let label = item.labels.iter().find(|l| l.id == *field_id);
        let value = match kind {
            LabelColumn::Label => label
                .and_then(|l| l.label.as_ref())
                .map(text)
                .unwrap_or(Value::Null),
            LabelColumn::LlmLabel => label
                .and_then(|l| l.llm_label.as_ref())
                .map(text)
                .unwrap_or(Value::Null),
            LabelColumn::Confidence => label
                .and_then(|l| l.confidence)
                .map_or(Value::Null, Value::from),
            LabelColumn::Explanation => label
                .and_then(|l| l.explanation.clone())
                .map_or(Value::Null, Value::String),
            LabelColumn::Verified => {
                Value::Bool(label.is_some_and(|l| l.source.as_deref() == Some("HUMAN")))
            }
        };
        row.insert(field.name().clone(), value);
    }
    Ok(row)
}

/// A label value as text: a string as it is, a list joined with `", "`, NULL as NULL.
fn text(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        Value::Array(items) => Value::String(
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        other => Value::String(other.to_string()),
    }
}
