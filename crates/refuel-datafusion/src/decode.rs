//! Pages of the API decoded straight into Arrow.
//!
//! A page body is parsed once into borrowed slices of its own bytes (no row is built as a
//! map of JSON values): flat rows go to Arrow's JSON decoder as they are; labeled items
//! send their `fields` object to the same decoder and their labels to Arrow builders.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::record_batch::RecordBatchOptions;
use datafusion::error::{DataFusionError, Result};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

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

/// A labeled item, borrowing from the page.
#[derive(Deserialize)]
struct LabeledRef<'a> {
    #[serde(borrow, default)]
    fields: Option<&'a RawValue>,
    #[serde(borrow, default)]
    labels: LabelsRef<'a>,
}

/// The labels of an item: a list (what servers send) or a map from field id to label.
#[derive(Default)]
struct LabelsRef<'a>(Vec<LabelRef<'a>>);

/// One field's label, borrowing from the page.
#[derive(Deserialize)]
struct LabelRef<'a> {
    #[serde(borrow, default)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    label: Option<&'a RawValue>,
    #[serde(borrow, default)]
    llm_label: Option<&'a RawValue>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(borrow, default)]
    explanation: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for LabelsRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct ListOrMap<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ListOrMap<'a> {
            type Value = LabelsRef<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of labels or a map from field id to label")
            }

            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
                Ok(LabelsRef::default())
            }

            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(label) = seq.next_element::<LabelRef<'a>>()? {
                    out.push(label);
                }
                Ok(LabelsRef(out))
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((id, mut label)) = map.next_entry::<Cow<'a, str>, LabelRef<'a>>()? {
                    if label.id.is_empty() {
                        label.id = id;
                    }
                    out.push(label);
                }
                Ok(LabelsRef(out))
            }
        }
        d.deserialize_any(ListOrMap(std::marker::PhantomData))
    }
}

/// A decoded page.
#[derive(Debug)]
pub struct DecodedPage {
    /// The page's rows.
    pub batch: RecordBatch,
    /// How many rows match the query, when the server says.
    pub total_count: Option<u64>,
}

fn bad_json(what: &str, e: impl fmt::Display) -> DataFusionError {
    DataFusionError::External(format!("{what} is not the expected JSON: {e}").into())
}

/// Decodes a page body (`{"data": {"items": [...], "total_count": n}}`) into a batch of
/// `schema` (a projection of `columns`). Flat rows go straight through Arrow's JSON decoder;
/// labeled items (with a task) send their `fields` to it and their labels to builders.
pub fn decode_page(
    body: &[u8],
    columns: &TableColumns,
    schema: &SchemaRef,
    labeled: bool,
) -> Result<DecodedPage> {
    let page: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| bad_json("the API's page", e))?;
    let items = &page.data.items;
    let batch = if schema.fields().is_empty() {
        RecordBatch::try_new_with_options(
            Arc::clone(schema),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(items.len())),
        )?
    } else if labeled {
        decode_labeled(items, columns, schema)?
    } else {
        decode_rows(items.iter().map(|raw| raw.get()), items.len(), schema)?
    };
    Ok(DecodedPage {
        batch,
        total_count: page.data.total_count,
    })
}

/// Flat rows (JSON objects) as a batch of `schema`.
fn decode_rows<'a>(
    rows: impl Iterator<Item = &'a str>,
    len: usize,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    if schema.fields().is_empty() {
        return Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(len)),
        )?);
    }
    let mut decoder = ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(len.max(1))
        .build_decoder()?;
    for row in rows {
        decoder.decode(row.as_bytes())?;
    }
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema))))
}

/// Builds one label column.
enum LabelBuilder {
    Text(StringBuilder),
    Number(Float64Builder),
    Flag(BooleanBuilder),
}

impl LabelBuilder {
    fn new(kind: LabelColumn, rows: usize) -> Self {
        match kind {
            LabelColumn::Confidence => Self::Number(Float64Builder::with_capacity(rows)),
            LabelColumn::Verified => Self::Flag(BooleanBuilder::with_capacity(rows)),
            _ => Self::Text(StringBuilder::with_capacity(rows, rows * 8)),
        }
    }

    fn push(&mut self, kind: LabelColumn, label: Option<&LabelRef<'_>>) -> Result<()> {
        match (self, kind) {
            (Self::Text(b), LabelColumn::Label) => {
                b.append_option(label_text(label.and_then(|l| l.label))?)
            }
            (Self::Text(b), LabelColumn::LlmLabel) => {
                b.append_option(label_text(label.and_then(|l| l.llm_label))?)
            }
            (Self::Text(b), _) => b.append_option(label.and_then(|l| l.explanation.as_deref())),
            (Self::Number(b), _) => b.append_option(label.and_then(|l| l.confidence)),
            (Self::Flag(b), _) => {
                b.append_value(label.is_some_and(|l| l.source.as_deref() == Some("HUMAN")))
            }
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::Text(mut b) => Arc::new(b.finish()),
            Self::Number(mut b) => Arc::new(b.finish()),
            Self::Flag(mut b) => Arc::new(b.finish()),
        }
    }
}

/// A label value as text: a string as it is, a list joined with `", "`, NULL as NULL.
fn label_text<'a>(raw: Option<&'a RawValue>) -> Result<Option<Cow<'a, str>>> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    let bad = |e| bad_json("a label", e);
    Ok(match text.as_bytes().first() {
        None | Some(b'n') => None,
        Some(b'"') => Some(serde_json::from_str::<Cow<'a, str>>(text).map_err(bad)?),
        Some(b'[') => {
            let items: Vec<serde_json::Value> = serde_json::from_str(text).map_err(bad)?;
            Some(Cow::Owned(
                items
                    .iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
        Some(_) => Some(Cow::Borrowed(text)),
    })
}

/// Labeled items as a batch of `schema`: dataset columns from each item's `fields`, label
/// columns from its labels (by field id).
fn decode_labeled(
    items: &[&RawValue],
    columns: &TableColumns,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let parsed: Vec<LabeledRef<'_>> = items
        .iter()
        .map(|raw| serde_json::from_str(raw.get()).map_err(|e| bad_json("a labeled item", e)))
        .collect::<Result<_>>()?;
    if let Some(bad) = parsed
        .iter()
        .filter_map(|i| i.fields)
        .find(|f| !f.get().starts_with('{'))
    {
        return Err(bad_json(
            "a labeled item's fields",
            format!("{} is not an object", bad.get()),
        ));
    }

    // The projection's dataset columns, decoded from the `fields` objects.
    let data_fields: Vec<_> = schema
        .fields()
        .iter()
        .filter(|f| matches!(columns.source(f.name()), Some(ColumnSource::Data { .. })))
        .cloned()
        .collect();
    let data_schema = Arc::new(Schema::new(data_fields));
    let data = decode_rows(
        parsed.iter().map(|i| i.fields.map_or("{}", |f| f.get())),
        parsed.len(),
        &data_schema,
    )?;

    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match columns.source(field.name()) {
            Some(ColumnSource::Label { field_id, kind, .. }) => {
                let mut builder = LabelBuilder::new(*kind, parsed.len());
                for item in &parsed {
                    let label = item.labels.0.iter().find(|l| l.id == field_id.as_str());
                    builder.push(*kind, label)?;
                }
                arrays.push(builder.finish());
            }
            _ => {
                let column = data.column_by_name(field.name()).ok_or_else(|| {
                    DataFusionError::Internal(format!("column {} was not decoded", field.name()))
                })?;
                arrays.push(Arc::clone(column));
            }
        }
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(parsed.len())),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use refuel_client::models::{DatasetSchema, Task};

    fn columns() -> TableColumns {
        let schema: DatasetSchema = serde_json::from_value(serde_json::json!({
            "type": "object",
            "properties": {
                "id": {"name": "id", "type": "number", "order": 0},
                "text": {"name": "text", "type": "string", "order": 1}
            }
        }))
        .unwrap();
        let task: Task = serde_json::from_value(serde_json::json!({
            "id": "t1",
            "task_name": "t",
            "subtasks": [
                {"id": "f1", "name": "mood", "type": "classification"},
                {"id": "f2", "name": "tags", "type": "multilabel_classification"}
            ]
        }))
        .unwrap();
        TableColumns::for_task(&schema, &task).unwrap()
    }

    #[test]
    fn labeled_items_in_list_and_map_form() {
        let columns = columns();
        let body = br#"{"data": {"total_count": 3, "items": [
            {"fields": {"id": 1, "text": "a \"quoted\" text"}, "labels": [
                {"id": "f1", "label": "happy", "llm_label": "sad", "confidence": 0.9,
                 "explanation": "because", "source": "HUMAN"},
                {"id": "f2", "label": ["x", "y"], "llm_label": ["x"], "confidence": null}]},
            {"fields": {"id": 2, "text": null}, "labels": {
                "f1": {"label": "sad", "llm_label": "sad", "confidence": 0.5, "source": "LLM"}}},
            {"fields": {"id": 3}, "labels": null}
        ]}}"#;
        let page = decode_page(body, &columns, &columns.schema, true).unwrap();
        assert_eq!(page.total_count, Some(3));
        let text = pretty_format_batches(&[page.batch]).unwrap().to_string();
        let expected = [
            "+-----+-----------------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| id  | text            | mood_label | mood_llm_label | mood_confidence | mood_explanation | mood_verified | tags_label | tags_llm_label | tags_confidence | tags_explanation | tags_verified |",
            "+-----+-----------------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| 1.0 | a \"quoted\" text | happy      | sad            | 0.9             | because          | true          | x, y       | x              |                 |                  | false         |",
            "| 2.0 |                 | sad        | sad            | 0.5             |                  | false         |            |                |                 |                  | false         |",
            "| 3.0 |                 |            |                |                 |                  | false         |            |                |                 |                  | false         |",
            "+-----+-----------------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
        ];
        assert_eq!(text, expected.join("\n"));

        // A projection of label columns only, in another order.
        let projected = Arc::new(columns.schema.project(&[4, 2]).unwrap());
        let page = decode_page(body, &columns, &projected, true).unwrap();
        assert_eq!(page.batch.num_rows(), 3);
        assert_eq!(page.batch.schema().field(0).name(), "mood_confidence");
    }

    #[test]
    fn malformed_pages_are_errors() {
        let columns = columns();
        for body in [
            &b"not json"[..],
            br#"{"data": {"items": [{"fields": 3}]}}"#,
            br#"{"data": {"items": [{"fields": {}, "labels": 7}]}}"#,
        ] {
            let err = decode_page(body, &columns, &columns.schema, true).unwrap_err();
            assert!(err.to_string().contains("JSON"), "{err}");
        }
        let flat = TableColumns::for_dataset(
            &serde_json::from_value(serde_json::json!({
                "type": "object",
                "properties": {"id": {"name": "id", "type": "number", "order": 0}}
            }))
            .unwrap(),
        );
        let err = decode_page(
            br#"{"data": {"items": [{"id": "x"}]}}"#,
            &flat,
            &flat.schema,
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("id") || err.to_string().contains("x"),
            "{err}"
        );
    }
}
