//! Pages of the API decoded straight into Arrow.
//!
//! A page body goes through Arrow's JSON decoder in one pass, with a schema for the whole
//! envelope (`data.items` as a list of row structs, or for labeled items of
//! `{fields, labels}` structs whose labels are then picked per task field with Arrow's
//! `take`). Pages that schema cannot hold (labels sent as a map, multilabel lists) are
//! parsed instead into borrowed slices of their own bytes: their `fields` objects go to
//! the same decoder and their labels to Arrow builders. No row is ever built as a map of
//! JSON values.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Float64Builder, RecordBatch,
    StringBuilder, StructArray, UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, UInt64Type};
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
    PageDecoder::new(Arc::new(columns.clone()), Arc::clone(schema), labeled).decode(body)
}

/// Decodes the pages of one scan: the same columns, projection and kind of item. It keeps
/// Arrow's decoders (and their buffers) between pages, so a page is decoded into memory
/// that is already there. Shared by the scan's tasks.
#[derive(Debug)]
pub struct PageDecoder {
    columns: Arc<TableColumns>,
    schema: SchemaRef,
    labeled: bool,
    /// The whole page's schema for the one-pass decoder.
    envelope: SchemaRef,
    /// Decoders between pages.
    idle: std::sync::Mutex<Vec<datafusion::arrow::json::reader::Decoder>>,
}

impl PageDecoder {
    /// A decoder of pages into batches of `schema` (a projection of `columns`), of labeled
    /// items when `labeled`.
    pub fn new(columns: Arc<TableColumns>, schema: SchemaRef, labeled: bool) -> Self {
        let envelope = envelope_schema(&columns, &schema, labeled);
        Self {
            columns,
            schema,
            labeled,
            envelope,
            idle: std::sync::Mutex::default(),
        }
    }

    /// One page's rows.
    pub fn decode(&self, body: &[u8]) -> Result<DecodedPage> {
        if !self.schema.fields().is_empty() {
            if let Ok(page) = self.decode_in_one_pass(body) {
                return Ok(page);
            }
        }
        decode_by_parts(body, &self.columns, &self.schema, self.labeled)
    }

    fn decode_in_one_pass(&self, body: &[u8]) -> Result<DecodedPage> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut decoder = match idle {
            Some(d) => d,
            None => ReaderBuilder::new(Arc::clone(&self.envelope))
                .with_batch_size(1)
                .build_decoder()?,
        };
        // A decoder that failed is dropped, not reused.
        let page = read_envelope(&mut decoder, body)?;
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(decoder);
        batch_of_envelope(&page, &self.columns, &self.schema, self.labeled)
    }
}

/// The schema of a whole page for the one-pass decoder.
fn envelope_schema(columns: &TableColumns, schema: &SchemaRef, labeled: bool) -> SchemaRef {
    let data_fields: Fields = schema
        .fields()
        .iter()
        .filter(|f| matches!(columns.source(f.name()), Some(ColumnSource::Data { .. })))
        .cloned()
        .collect();
    let item_type = if labeled {
        let label = DataType::Struct(label_fields(columns, schema).into());
        DataType::Struct(Fields::from(vec![
            Field::new("fields", DataType::Struct(data_fields), true),
            Field::new_list("labels", Field::new_list_field(label, true), true),
        ]))
    } else {
        DataType::Struct(data_fields)
    };
    Arc::new(Schema::new(vec![Field::new_struct(
        "data",
        vec![
            Field::new_list("items", Field::new_list_field(item_type, true), true),
            Field::new("total_count", DataType::UInt64, true),
        ],
        true,
    )]))
}

/// The page as one row of the envelope schema.
fn read_envelope(
    decoder: &mut datafusion::arrow::json::reader::Decoder,
    body: &[u8],
) -> Result<RecordBatch> {
    let read = decoder.decode(body)?;
    if body[read..].iter().any(|b| !b.is_ascii_whitespace()) {
        return Err(bad_json("the API's page", "more than one object"));
    }
    decoder
        .flush()?
        .ok_or_else(|| bad_json("the API's page", "empty"))
}

/// The label values a projection reads, as Arrow fields of a label object.
fn label_fields(columns: &TableColumns, schema: &SchemaRef) -> Vec<Field> {
    let mut wanted = vec![Field::new("id", DataType::Utf8, true)];
    for field in schema.fields() {
        if let Some(ColumnSource::Label { kind, .. }) = columns.source(field.name()) {
            let (name, data_type) = match kind {
                LabelColumn::Label => ("label", DataType::Utf8),
                LabelColumn::LlmLabel => ("llm_label", DataType::Utf8),
                LabelColumn::Confidence => ("confidence", DataType::Float64),
                LabelColumn::Explanation => ("explanation", DataType::Utf8),
                LabelColumn::Verified => ("source", DataType::Utf8),
            };
            if !wanted.iter().any(|f| f.name() == name) {
                wanted.push(Field::new(name, data_type, true));
            }
        }
    }
    wanted
}

/// The rows of a page decoded in one pass.
fn batch_of_envelope(
    page: &RecordBatch,
    columns: &TableColumns,
    schema: &SchemaRef,
    labeled: bool,
) -> Result<DecodedPage> {
    let data = page.column(0).as_struct();
    if data.is_null(0) {
        return Err(bad_json("the API's page", "no data"));
    }
    let total_count = data
        .column_by_name("total_count")
        .map(|c| c.as_primitive::<UInt64Type>())
        .filter(|c| c.is_valid(0))
        .map(|c| c.value(0));
    let list = data
        .column_by_name("items")
        .ok_or_else(|| bad_json("the API's page", "no items"))?
        .as_list::<i32>();
    if list.is_null(0) {
        return Err(bad_json("the API's page", "no items"));
    }
    let items = list.value(0);
    let items = items.as_struct();
    let rows = items.len();
    let data_columns: &StructArray = if labeled {
        items
            .column_by_name("fields")
            .ok_or_else(|| bad_json("a labeled item", "no fields"))?
            .as_struct()
    } else {
        items
    };
    let labels = if labeled {
        items.column_by_name("labels").map(|l| l.as_list::<i32>())
    } else {
        None
    };

    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut picked: Vec<(&str, UInt32Array)> = Vec::new();
    for field in schema.fields() {
        match columns.source(field.name()) {
            Some(ColumnSource::Label { field_id, kind, .. }) => {
                let labels = labels.ok_or_else(|| bad_json("a labeled item", "no labels"))?;
                if !picked.iter().any(|(id, _)| *id == field_id.as_str()) {
                    picked.push((field_id.as_str(), pick_labels(labels, field_id)?));
                }
                let indices = &picked
                    .iter()
                    .find(|(id, _)| *id == field_id.as_str())
                    .ok_or_else(|| DataFusionError::Internal("label indices".into()))?
                    .1;
                let values = labels.values().as_struct();
                let value = |name: &str| {
                    values
                        .column_by_name(name)
                        .ok_or_else(|| DataFusionError::Internal(format!("label {name}")))
                };
                arrays.push(match kind {
                    LabelColumn::Label => take(value("label")?, indices, None)?,
                    LabelColumn::LlmLabel => take(value("llm_label")?, indices, None)?,
                    LabelColumn::Confidence => take(value("confidence")?, indices, None)?,
                    LabelColumn::Explanation => take(value("explanation")?, indices, None)?,
                    LabelColumn::Verified => {
                        let source = take(value("source")?, indices, None)?;
                        let source = source.as_string::<i32>();
                        Arc::new(
                            (0..rows)
                                .map(|r| Some(source.is_valid(r) && source.value(r) == "HUMAN"))
                                .collect::<BooleanArray>(),
                        )
                    }
                });
            }
            _ => {
                let column = data_columns.column_by_name(field.name()).ok_or_else(|| {
                    DataFusionError::Internal(format!("column {} was not decoded", field.name()))
                })?;
                arrays.push(Arc::clone(column));
            }
        }
    }
    let batch = RecordBatch::try_new_with_options(
        Arc::clone(schema),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?;
    Ok(DecodedPage { batch, total_count })
}

/// For each item, the position (in the labels' values) of its label of `field_id`, or
/// NULL when it has none.
fn pick_labels(
    labels: &datafusion::arrow::array::ListArray,
    field_id: &str,
) -> Result<UInt32Array> {
    let values = labels.values().as_struct();
    let ids = values
        .column_by_name("id")
        .ok_or_else(|| DataFusionError::Internal("label ids".into()))?
        .as_string::<i32>();
    let offsets = labels.value_offsets();
    Ok((0..labels.len())
        .map(|row| {
            if labels.is_null(row) {
                return None;
            }
            (offsets[row]..offsets[row + 1])
                .find(|&j| ids.is_valid(j as usize) && ids.value(j as usize) == field_id)
                .map(|j| j as u32)
        })
        .collect())
}

/// The page parsed into borrowed parts: for pages the one-pass schema cannot hold, and
/// for precise errors.
fn decode_by_parts(
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
    fn one_pass_and_by_parts_agree() {
        let columns = columns();
        let body = br#"{"data": {"total_count": 9, "items": [
            {"fields": {"id": 1, "text": "caf\u00e9 \"x\""}, "in_evalset": false, "labels": [
                {"id": "f2", "label": "x", "llm_label": "y", "confidence": 0.1, "raw_confidence": 0.2,
                 "explanation": "e2", "source": "LLM", "error_msg": null},
                {"id": "f1", "label": "happy", "llm_label": "sad", "confidence": 0.9,
                 "explanation": "because", "source": "HUMAN", "overridden": true}]},
            {"fields": {"id": 2, "text": null, "extra": [1, {"a": 2}]}, "labels": []},
            {"fields": null, "labels": null},
            {"labels": [{"id": "f1", "label": null, "confidence": null, "source": null}]}
        ]}}"#;
        for projection in [None, Some(vec![2, 0]), Some(vec![11, 6, 3]), Some(vec![1])] {
            let schema = match &projection {
                Some(p) => Arc::new(columns.schema.project(p).unwrap()),
                None => Arc::clone(&columns.schema),
            };
            let decoder = PageDecoder::new(Arc::new(columns.clone()), Arc::clone(&schema), true);
            // Twice: the second time with the decoder the first left.
            let fast = decoder.decode_in_one_pass(body).unwrap();
            assert_eq!(decoder.decode_in_one_pass(body).unwrap().batch, fast.batch);
            let parts = decode_by_parts(body, &columns, &schema, true).unwrap();
            assert_eq!(fast.batch, parts.batch, "{projection:?}");
            assert_eq!(fast.total_count, Some(9));
        }
        // Flat rows too.
        let flat = TableColumns::for_dataset(
            &serde_json::from_value(serde_json::json!({
                "type": "object",
                "properties": {
                    "n": {"name": "n", "type": "number", "order": 0},
                    "b": {"name": "b", "type": "boolean", "order": 1},
                    "s": {"name": "s", "type": "string", "order": 2}
                }
            }))
            .unwrap(),
        );
        let body = br#"{"data": {"items": [{"n": 1.5, "b": true, "s": "a"}, {"n": null, "s": "\n"}, {}]}}"#;
        let decoder = PageDecoder::new(Arc::new(flat.clone()), Arc::clone(&flat.schema), false);
        let fast = decoder.decode_in_one_pass(body).unwrap();
        let parts = decode_by_parts(body, &flat, &flat.schema, false).unwrap();
        assert_eq!(fast.batch, parts.batch);
        assert_eq!(fast.batch.num_rows(), 3);
        assert_eq!(fast.total_count, None);

        // Labels as a map, or multilabel lists, need the parts.
        let map =
            br#"{"data": {"items": [{"fields": {"id": 1}, "labels": {"f1": {"label": "a"}}}]}}"#;
        let decoder =
            PageDecoder::new(Arc::new(columns.clone()), Arc::clone(&columns.schema), true);
        assert!(decoder.decode_in_one_pass(map).is_err());
        assert_eq!(decoder.decode(map).unwrap().batch.num_rows(), 1);
        let page = decode_page(map, &columns, &columns.schema, true).unwrap();
        assert_eq!(page.batch.num_rows(), 1);
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
