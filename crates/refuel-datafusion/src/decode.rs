//! Pages of the API decoded straight into Arrow.
//!
//! ## How
//!
//! A page body (`{"data": {..., "items": [...], "total_count": n}}`) goes through Arrow's
//! JSON decoder in one pass, with a schema for the whole envelope: `data.items` as a list of
//! row structs, or for labeled items of `{fields, labels}` structs whose labels are then
//! picked per task field with Arrow's `take`. Labels come as a list of label objects with
//! an `id` (what servers send) or as a map from field id to label object (what the
//! TypeScript SDK declares); each has its own envelope schema, and the decoder tries first
//! the one the previous page needed. Pages no such schema holds (multilabel lists, nested
//! values in text columns, numbers sent as text in a boolean column, a `confidence` that is
//! not a number, ...) are parsed instead into borrowed slices of their own bytes, whose
//! cells go to Arrow builders one by one; that path also gives the precise error of a page
//! that cannot be decoded. No row is ever built as a map of JSON values, and decoders
//! (with their buffers) are reused across a scan's pages.
//!
//! ## What is accepted
//!
//! - Flat rows; labeled rows `{fields, labels, in_evalset, telemetry, ...}`. A row that is
//!   `null`, or whose `fields` are `null` or missing, is a row of NULLs.
//! - `labels` `null`, missing or empty: an unlabelled row (NULL labels, `_verified` false);
//!   a list of label objects (matched by `id`), or a map from field id to label object
//!   (matched by key); `null` entries in either are no label.
//! - Label objects with any field `null` or missing. `label`/`llm_label`: a string, a list
//!   (a multilabel label: its items joined with `", "`), or any other value as its JSON
//!   text. `confidence`: a number or a numeric string, anything else NULL. `explanation`:
//!   a string, or any other value as its JSON text. `_verified` is `source == "HUMAN"`.
//! - Unknown fields anywhere are ignored. `items` `null` or missing: no rows.
//! - `total_count` missing, `null` or not a whole number: unknown (`None`, never 0); a
//!   numeric string counts.
//!
//! ## Cells of dataset columns
//!
//! | SQL type | takes | NULL |
//! |---|---|---|
//! | `Utf8` | a string; a number or boolean as its JSON text; an object or list as its JSON text | `null`, missing |
//! | `Float64` | a number; a string holding one | `null`, missing |
//! | `Int64` | a whole number (or a string holding one), read from its text, so exact beyond ±2^53; `3.0` is 3 | `null`, missing |
//! | `Date32` | a `YYYY-MM-DD` string that is a calendar date | `null`, missing |
//! | `Boolean` | `true`, `false`; the strings `"true"`/`"false"` in any case | `null`, missing |
//!
//! Any other cell is an **error** naming the column and the value (the scan adds the
//! table): never a NULL that the API's filters would not see as one (a pushed `IS NULL`
//! must mean what SQL means), never a rounded or truncated number. An `Int64` or `Date32`
//! column is typed so by the dataset's column metadata, which an append can widen (a `3.5`
//! makes an `integer` column `number`): the error says so, and refreshing the catalog
//! re-reads the types.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Date32Array, Date32Builder,
    Float64Array, Float64Builder, Int64Array, Int64Builder, ListArray, MapArray, RecordBatch,
    StringArray, StringBuilder, StructArray, UInt32Array,
};
use datafusion::arrow::compute::kernels::cast_utils::Parser;
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Fields, Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::json::reader::Decoder;
use datafusion::arrow::record_batch::RecordBatchOptions;
use datafusion::error::{DataFusionError, Result};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::columns::{ColumnSource, LabelColumn, TableColumns};

/// A decoded page.
#[derive(Debug)]
pub struct DecodedPage {
    /// The page's rows.
    pub batch: RecordBatch,
    /// How many rows match the query, when the server says (`None`: unknown, never 0).
    pub total_count: Option<u64>,
}

fn bad_json(what: &str, e: impl fmt::Display) -> DataFusionError {
    DataFusionError::External(format!("{what} is not the expected JSON: {e}").into())
}

/// Decodes a page body (`{"data": {"items": [...], "total_count": n}}`) into a batch of
/// `schema` (a projection of `columns`), of labeled items when `labeled`.
pub fn decode_page(
    body: &[u8],
    columns: &TableColumns,
    schema: &SchemaRef,
    labeled: bool,
) -> Result<DecodedPage> {
    PageDecoder::new(Arc::new(columns.clone()), Arc::clone(schema), labeled).decode(body)
}

/// How a page was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Shape {
    /// In one pass, flat rows or labels as a list.
    List = 0,
    /// In one pass, labels as a map.
    Map = 1,
    /// By parts.
    Parts = 2,
}

impl Shape {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::List,
            1 => Self::Map,
            _ => Self::Parts,
        }
    }
}

/// One envelope schema of the one-pass decoder and its idle decoders.
#[derive(Debug)]
struct OnePass {
    envelope: SchemaRef,
    idle: std::sync::Mutex<Vec<Decoder>>,
}

impl OnePass {
    fn new(envelope: SchemaRef) -> Self {
        Self {
            envelope,
            idle: std::sync::Mutex::default(),
        }
    }

    /// The page as one row of the envelope schema. A decoder that failed is dropped, not
    /// reused.
    fn read(&self, body: &[u8]) -> Result<RecordBatch> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut decoder = match idle {
            Some(d) => d,
            None => ReaderBuilder::new(Arc::clone(&self.envelope))
                .with_batch_size(1)
                .with_coerce_primitive(true)
                .build_decoder()?,
        };
        let read = decoder.decode(body)?;
        if body[read..].iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(bad_json("the API's page", "more than one object"));
        }
        let page = decoder
            .flush()?
            .ok_or_else(|| bad_json("the API's page", "empty"))?;
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(decoder);
        Ok(page)
    }
}

/// Decodes the pages of one scan: the same columns, projection and kind of item. It keeps
/// Arrow's decoders (and their buffers) between pages, so a page is decoded into memory
/// that is already there, and remembers which shape the last page needed. Shared by the
/// scan's tasks.
#[derive(Debug)]
pub struct PageDecoder {
    columns: Arc<TableColumns>,
    schema: SchemaRef,
    labeled: bool,
    /// Flat rows, or labels as a list.
    list: OnePass,
    /// Labels as a map (labeled items only).
    map: Option<OnePass>,
    /// The [`Shape`] that decoded the last page.
    last: AtomicU8,
}

impl PageDecoder {
    /// A decoder of pages into batches of `schema` (a projection of `columns`), of labeled
    /// items when `labeled`.
    pub fn new(columns: Arc<TableColumns>, schema: SchemaRef, labeled: bool) -> Self {
        let list = OnePass::new(envelope_schema(&columns, &schema, labeled, false));
        let map = (labeled && reads_labels(&columns, &schema))
            .then(|| OnePass::new(envelope_schema(&columns, &schema, true, true)));
        // Without columns there is nothing for the one-pass decoder to read.
        let first = if schema.fields().is_empty() {
            Shape::Parts
        } else {
            Shape::List
        };
        Self {
            columns,
            schema,
            labeled,
            list,
            map,
            last: AtomicU8::new(first as u8),
        }
    }

    /// One page's rows.
    pub fn decode(&self, body: &[u8]) -> Result<DecodedPage> {
        let last = Shape::from_u8(self.last.load(Ordering::Relaxed));
        let order: &[Shape] = match last {
            Shape::List => &[Shape::List, Shape::Map, Shape::Parts],
            Shape::Map => &[Shape::Map, Shape::List, Shape::Parts],
            Shape::Parts => &[Shape::Parts],
        };
        let mut outcome = Err(DataFusionError::Internal("no page decoder".into()));
        for &shape in order {
            if shape == Shape::Map && self.map.is_none() {
                continue;
            }
            outcome = self.decode_as(shape, body);
            if outcome.is_ok() {
                if shape != last {
                    self.last.store(shape as u8, Ordering::Relaxed);
                }
                break;
            }
        }
        outcome
    }

    fn decode_as(&self, shape: Shape, body: &[u8]) -> Result<DecodedPage> {
        match shape {
            Shape::List => self.decode_in_one_pass(&self.list, false, body),
            Shape::Map => match &self.map {
                Some(map) => self.decode_in_one_pass(map, true, body),
                None => Err(DataFusionError::Internal("flat rows have no labels".into())),
            },
            Shape::Parts => decode_by_parts(body, &self.columns, &self.schema, self.labeled),
        }
    }

    fn decode_in_one_pass(&self, pass: &OnePass, map: bool, body: &[u8]) -> Result<DecodedPage> {
        let page = pass.read(body)?;
        batch_of_envelope(&page, &self.columns, &self.schema, self.labeled, map)
    }
}

/// The Arrow type a dataset column is read as by the one-pass decoder: its own, or text
/// for the types parsed after it (integers, from the number's text; dates).
fn wire_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Int64 | DataType::Date32 => DataType::Utf8,
        other => other.clone(),
    }
}

/// Whether a projection has label columns (else a labeled item's labels are not read).
fn reads_labels(columns: &TableColumns, schema: &SchemaRef) -> bool {
    schema
        .fields()
        .iter()
        .any(|f| matches!(columns.source(f.name()), Some(ColumnSource::Label { .. })))
}

/// The schema of a whole page for the one-pass decoder: flat rows, or labeled items with
/// labels as a list (`map` false) or a map; without label columns in the projection, the
/// labels are not read at all.
fn envelope_schema(
    columns: &TableColumns,
    schema: &SchemaRef,
    labeled: bool,
    map: bool,
) -> SchemaRef {
    let data_fields: Fields = schema
        .fields()
        .iter()
        .filter(|f| matches!(columns.source(f.name()), Some(ColumnSource::Data { .. })))
        .map(|f| Field::new(f.name(), wire_type(f.data_type()), true))
        .collect();
    let item_type = if labeled && !reads_labels(columns, schema) {
        DataType::Struct(Fields::from(vec![Field::new(
            "fields",
            DataType::Struct(data_fields),
            true,
        )]))
    } else if labeled {
        let label = DataType::Struct(label_fields(columns, schema, !map).into());
        let labels = if map {
            let entries = Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("keys", DataType::Utf8, false),
                    Field::new("values", label, true),
                ])),
                false,
            );
            Field::new("labels", DataType::Map(Arc::new(entries), false), true)
        } else {
            Field::new_list("labels", Field::new_list_field(label, true), true)
        };
        DataType::Struct(Fields::from(vec![
            Field::new("fields", DataType::Struct(data_fields), true),
            labels,
        ]))
    } else {
        DataType::Struct(data_fields)
    };
    Arc::new(Schema::new(vec![Field::new_struct(
        "data",
        vec![
            Field::new_list("items", Field::new_list_field(item_type, true), true),
            Field::new("total_count", DataType::Utf8, true),
        ],
        true,
    )]))
}

/// The label values a projection reads, as Arrow fields of a label object (with its `id`
/// when labels come as a list).
fn label_fields(columns: &TableColumns, schema: &SchemaRef, with_id: bool) -> Vec<Field> {
    let mut wanted = Vec::new();
    if with_id {
        wanted.push(Field::new("id", DataType::Utf8, true));
    }
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

/// The labels of a page's items as the one-pass decoder read them: per item, a range of
/// label objects and their field ids.
struct PageLabels<'p> {
    offsets: Vec<usize>,
    nulls: Option<&'p datafusion::arrow::buffer::NullBuffer>,
    ids: &'p StringArray,
    values: &'p StructArray,
}

impl<'p> PageLabels<'p> {
    fn of_list(labels: &'p ListArray) -> Result<Self> {
        let values = labels.values().as_struct();
        let ids = values
            .column_by_name("id")
            .ok_or_else(|| DataFusionError::Internal("label ids".into()))?
            .as_string::<i32>();
        Ok(Self {
            offsets: labels.value_offsets().iter().map(|o| *o as usize).collect(),
            nulls: labels.nulls(),
            ids,
            values,
        })
    }

    fn of_map(labels: &'p MapArray) -> Self {
        Self {
            offsets: labels.value_offsets().iter().map(|o| *o as usize).collect(),
            nulls: labels.nulls(),
            ids: labels.keys().as_string::<i32>(),
            values: labels.values().as_struct(),
        }
    }

    /// For each item, the position (in `values`) of its label of `field_id`, or NULL when
    /// it has none.
    fn pick(&self, field_id: &str) -> UInt32Array {
        (0..self.offsets.len().saturating_sub(1))
            .map(|row| {
                if self.nulls.is_some_and(|n| n.is_null(row)) {
                    return None;
                }
                (self.offsets[row]..self.offsets[row + 1])
                    .find(|&j| {
                        self.ids.is_valid(j)
                            && self.ids.value(j) == field_id
                            && self.values.is_valid(j)
                    })
                    .map(|j| j as u32)
            })
            .collect()
    }
}

/// The rows of a page decoded in one pass.
fn batch_of_envelope(
    page: &RecordBatch,
    columns: &TableColumns,
    schema: &SchemaRef,
    labeled: bool,
    map: bool,
) -> Result<DecodedPage> {
    let data = page.column(0).as_struct();
    if data.is_null(0) {
        return Err(bad_json("the API's page", "no data"));
    }
    let total_count = data
        .column_by_name("total_count")
        .map(|c| c.as_string::<i32>())
        .filter(|c| c.is_valid(0))
        .and_then(|c| parse_count(c.value(0)));
    let list = data
        .column_by_name("items")
        .ok_or_else(|| bad_json("the API's page", "no items"))?
        .as_list::<i32>();
    if list.is_null(0) {
        // No items: no rows.
        return Ok(DecodedPage {
            batch: RecordBatch::new_empty(Arc::clone(schema)),
            total_count,
        });
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
    let labels = match items.column_by_name("labels").filter(|_| labeled) {
        Some(column) if map => Some(PageLabels::of_map(column.as_map())),
        Some(column) => Some(PageLabels::of_list(column.as_list::<i32>())?),
        None => None,
    };

    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut picked: Vec<(&str, UInt32Array)> = Vec::new();
    for field in schema.fields() {
        match columns.source(field.name()) {
            Some(ColumnSource::Label { field_id, kind, .. }) => {
                let labels = labels
                    .as_ref()
                    .ok_or_else(|| bad_json("a labeled item", "no labels"))?;
                let at = match picked.iter().position(|(id, _)| *id == field_id.as_str()) {
                    Some(at) => at,
                    None => {
                        picked.push((field_id.as_str(), labels.pick(field_id)));
                        picked.len() - 1
                    }
                };
                let indices = &picked[at].1;
                let value = |name: &str| {
                    labels
                        .values
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
                arrays.push(match field.data_type() {
                    DataType::Int64 | DataType::Date32 => cast_text_column(
                        column.as_string::<i32>(),
                        field.data_type(),
                        field.name(),
                    )?,
                    _ => Arc::clone(column),
                });
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

/// A count from its text: a whole, non-negative number; anything else is unknown.
fn parse_count(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let f = text.parse::<f64>().ok()?;
    (f.fract() == 0.0 && (0.0..MAX_EXACT).contains(&f)).then_some(f as u64)
}

/// 2^53: integers below it in magnitude are exact as doubles (and so as JSON numbers read
/// by a server that reads them as doubles). Shared by decoding, filter and order pushdown.
pub(crate) const EXACT_INTEGERS: u64 = 1 << 53;
const MAX_EXACT: f64 = EXACT_INTEGERS as f64;

/// A whole number from its text (a JSON number's or a string's): exactly when written as
/// an integer, else only when it is a whole double below 2^53 in magnitude (`3.0`, `1e3`),
/// so nothing is rounded or truncated.
pub fn parse_integer(text: &str) -> Option<i64> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(i);
    }
    let f = text.parse::<f64>().ok()?;
    (f.fract() == 0.0 && f.abs() < MAX_EXACT).then_some(f as i64)
}

/// A date from exactly `YYYY-MM-DD`, as days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    Date32Type::parse(text)
}

/// A boolean from `true`/`false` in any case.
fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// What a column of `data_type` takes, for errors.
fn expected(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int64 => {
            "a whole number (the dataset's column metadata types the column as integer; an \
             append may have changed that since the tables were listed: refresh the catalog)"
        }
        DataType::Date32 => {
            "a YYYY-MM-DD date (the dataset's column metadata types the column as date; an \
             append may have changed that since the tables were listed: refresh the catalog)"
        }
        DataType::Float64 => "a number",
        DataType::Boolean => "true or false",
        _ => "text",
    }
}

/// The error of a cell its column does not take.
fn bad_cell(column: &str, value: &str, data_type: &DataType) -> DataFusionError {
    const SHOWN: usize = 80;
    let shown = match value.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_string(),
    };
    DataFusionError::Execution(format!(
        "column '{column}' ({data_type}) has {shown}, which is not {}",
        expected(data_type)
    ))
}

/// Text cells (a CSV file's, or what the one-pass decoder read as text) as a column of
/// `data_type`, by the rules of this module: `Utf8` as it is, `Int64` by [`parse_integer`],
/// `Date32` by [`parse_date`], `Float64` as a number, `Boolean` from `true`/`false`. A cell
/// its type does not take is an error naming `column` and the value; NULL stays NULL.
pub fn cast_text_column(
    values: &StringArray,
    data_type: &DataType,
    column: &str,
) -> Result<ArrayRef> {
    fn convert<T>(
        values: &StringArray,
        data_type: &DataType,
        column: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<Option<T>>> {
        values
            .iter()
            .map(|v| match v {
                None => Ok(None),
                Some(text) => parse(text)
                    .map(Some)
                    .ok_or_else(|| bad_cell(column, &format!("{text:?}"), data_type)),
            })
            .collect()
    }
    Ok(match data_type {
        DataType::Utf8 => Arc::new(values.clone()),
        DataType::Int64 => Arc::new(Int64Array::from(convert(
            values,
            data_type,
            column,
            parse_integer,
        )?)),
        DataType::Date32 => Arc::new(Date32Array::from(convert(
            values, data_type, column, parse_date,
        )?)),
        DataType::Float64 => Arc::new(Float64Array::from(convert(
            values,
            data_type,
            column,
            |t| t.parse::<f64>().ok(),
        )?)),
        DataType::Boolean => Arc::new(BooleanArray::from(convert(
            values, data_type, column, parse_bool,
        )?)),
        other => {
            return Err(DataFusionError::NotImplemented(format!(
                "column '{column}': Refuel columns are never {other}"
            )));
        }
    })
}

// ---------------------------------------------------------------------------------------
// By parts.

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<PageBody<'a>>,
}

#[derive(Deserialize)]
struct PageBody<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    total_count: Option<&'a RawValue>,
}

/// A labeled item, borrowing from the page.
#[derive(Deserialize, Default)]
struct LabeledRef<'a> {
    #[serde(borrow, default)]
    fields: Option<&'a RawValue>,
    #[serde(borrow, default)]
    labels: LabelsRef<'a>,
}

/// The labels of an item with their field ids: from a list (each label's `id`) or a map
/// (the keys); `null` entries left out.
#[derive(Default)]
struct LabelsRef<'a>(Vec<(Cow<'a, str>, LabelRef<'a>)>);

/// One field's label, borrowing from the page: every value as the JSON it was.
#[derive(Deserialize)]
struct LabelRef<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    label: Option<&'a RawValue>,
    #[serde(borrow, default)]
    llm_label: Option<&'a RawValue>,
    #[serde(borrow, default)]
    confidence: Option<&'a RawValue>,
    #[serde(borrow, default)]
    explanation: Option<&'a RawValue>,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
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
                while let Some(label) = seq.next_element::<Option<LabelRef<'a>>>()? {
                    if let Some(label) = label {
                        let Some(id) = label.id.and_then(json_text) else {
                            continue;
                        };
                        out.push((id, label));
                    }
                }
                Ok(LabelsRef(out))
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((id, label)) =
                    map.next_entry::<Cow<'a, str>, Option<LabelRef<'a>>>()?
                {
                    if let Some(label) = label {
                        out.push((id, label));
                    }
                }
                Ok(LabelsRef(out))
            }
        }
        d.deserialize_any(ListOrMap(std::marker::PhantomData))
    }
}

/// A JSON value as classified for a cell.
enum Json<'a> {
    Null,
    Text(Cow<'a, str>),
    Number(&'a str),
    Bool(bool),
    /// An object or list, as its JSON text.
    Nested(&'a str),
}

fn classify(raw: &RawValue) -> Result<Json<'_>> {
    let text = raw.get();
    Ok(match text.as_bytes().first() {
        None | Some(b'n') => Json::Null,
        Some(b'"') => Json::Text(
            serde_json::from_str::<Cow<'_, str>>(text).map_err(|e| bad_json("a string", e))?,
        ),
        Some(b't') => Json::Bool(true),
        Some(b'f') => Json::Bool(false),
        Some(b'{' | b'[') => Json::Nested(text),
        Some(_) => Json::Number(text),
    })
}

/// A value as text: a string as it is, `null` as `None`, anything else as its JSON text.
fn json_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    match classify(raw).ok()? {
        Json::Null => None,
        Json::Text(t) => Some(t),
        Json::Number(t) | Json::Nested(t) => Some(Cow::Borrowed(t)),
        Json::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
    }
}

/// Builds one dataset column from cells.
enum CellBuilder {
    Text(StringBuilder),
    Float(Float64Builder),
    Int(Int64Builder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
}

impl CellBuilder {
    fn new(data_type: &DataType, rows: usize) -> Result<Self> {
        Ok(match data_type {
            DataType::Utf8 => Self::Text(StringBuilder::with_capacity(rows, rows * 16)),
            DataType::Float64 => Self::Float(Float64Builder::with_capacity(rows)),
            DataType::Int64 => Self::Int(Int64Builder::with_capacity(rows)),
            DataType::Date32 => Self::Date(Date32Builder::with_capacity(rows)),
            DataType::Boolean => Self::Bool(BooleanBuilder::with_capacity(rows)),
            other => {
                return Err(DataFusionError::NotImplemented(format!(
                    "Refuel columns are never {other}"
                )));
            }
        })
    }

    /// Appends a cell (`None`: the key was missing).
    fn push(&mut self, raw: Option<&RawValue>, field: &Field) -> Result<()> {
        let Some(raw) = raw else {
            self.push_null();
            return Ok(());
        };
        let value = classify(raw)?;
        if matches!(value, Json::Null) {
            self.push_null();
            return Ok(());
        }
        let bad = || bad_cell(field.name(), raw.get(), field.data_type());
        match (self, value) {
            (Self::Text(b), Json::Text(t)) => b.append_value(t),
            (Self::Text(b), Json::Number(t) | Json::Nested(t)) => b.append_value(t),
            (Self::Text(b), Json::Bool(v)) => b.append_value(if v { "true" } else { "false" }),
            (Self::Float(b), Json::Number(t)) => b.append_value(t.parse().map_err(|_| bad())?),
            (Self::Float(b), Json::Text(t)) => b.append_value(t.parse().map_err(|_| bad())?),
            (Self::Int(b), Json::Number(t)) => b.append_value(parse_integer(t).ok_or_else(bad)?),
            (Self::Int(b), Json::Text(t)) => b.append_value(parse_integer(&t).ok_or_else(bad)?),
            (Self::Date(b), Json::Text(t)) => b.append_value(parse_date(&t).ok_or_else(bad)?),
            (Self::Bool(b), Json::Bool(v)) => b.append_value(v),
            (Self::Bool(b), Json::Text(t)) => b.append_value(parse_bool(&t).ok_or_else(bad)?),
            _ => return Err(bad()),
        }
        Ok(())
    }

    fn push_null(&mut self) {
        match self {
            Self::Text(b) => b.append_null(),
            Self::Float(b) => b.append_null(),
            Self::Int(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::Text(mut b) => Arc::new(b.finish()),
            Self::Float(mut b) => Arc::new(b.finish()),
            Self::Int(mut b) => Arc::new(b.finish()),
            Self::Date(mut b) => Arc::new(b.finish()),
            Self::Bool(mut b) => Arc::new(b.finish()),
        }
    }
}

/// The cells a row object holds for the wanted columns, by position (`None`: missing); a
/// `null` row holds none.
struct RowCells<'s, 'a> {
    index: &'s HashMap<&'s str, usize>,
    cells: &'s mut [Option<&'a RawValue>],
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for RowCells<'_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RowCells<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row object")
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.index.get(key.as_ref()) {
                Some(&at) => self.cells[at] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The dataset columns of a projection, decoded cell by cell from row objects.
struct DataColumns<'s> {
    fields: Vec<&'s Field>,
    index: HashMap<&'s str, usize>,
    builders: Vec<CellBuilder>,
}

impl<'s> DataColumns<'s> {
    fn new(columns: &TableColumns, schema: &'s Schema, rows: usize) -> Result<Self> {
        let fields: Vec<&Field> = schema
            .fields()
            .iter()
            .filter(|f| matches!(columns.source(f.name()), Some(ColumnSource::Data { .. })))
            .map(|f| f.as_ref())
            .collect();
        let index = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().as_str(), i))
            .collect();
        let builders = fields
            .iter()
            .map(|f| CellBuilder::new(f.data_type(), rows))
            .collect::<Result<_>>()?;
        Ok(Self {
            fields,
            index,
            builders,
        })
    }

    /// Appends a row (an object, `null`, or absent).
    fn push<'a>(
        &mut self,
        row: Option<&'a RawValue>,
        cells: &mut Vec<Option<&'a RawValue>>,
        what: &str,
    ) -> Result<()> {
        cells.clear();
        cells.resize(self.fields.len(), None);
        if let Some(row) = row {
            let mut de = serde_json::Deserializer::from_str(row.get());
            RowCells {
                index: &self.index,
                cells: &mut cells[..],
            }
            .deserialize(&mut de)
            .map_err(|e| bad_json(what, e))?;
        }
        for ((builder, field), cell) in self.builders.iter_mut().zip(&self.fields).zip(cells) {
            builder.push(*cell, field)?;
        }
        Ok(())
    }

    fn finish(self) -> HashMap<&'s str, ArrayRef> {
        self.fields
            .into_iter()
            .zip(self.builders)
            .map(|(f, b)| (f.name().as_str(), b.finish()))
            .collect()
    }
}

/// The page parsed into borrowed parts: for pages the one-pass schemas cannot hold, and
/// for precise errors.
fn decode_by_parts(
    body: &[u8],
    columns: &TableColumns,
    schema: &SchemaRef,
    labeled: bool,
) -> Result<DecodedPage> {
    let page: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| bad_json("the API's page", e))?;
    let data = page
        .data
        .ok_or_else(|| bad_json("the API's page", "no data"))?;
    let items = data.items.unwrap_or_default();
    let total_count = data
        .total_count
        .and_then(json_text)
        .and_then(|t| parse_count(&t));
    let options = RecordBatchOptions::new().with_row_count(Some(items.len()));
    let mut data_columns = DataColumns::new(columns, schema, items.len())?;
    let mut cells = Vec::new();
    let mut labels: Vec<(LabelColumn, &str, LabelBuilder)> = Vec::new();
    for field in schema.fields() {
        if let Some(ColumnSource::Label { field_id, kind, .. }) = columns.source(field.name()) {
            labels.push((
                *kind,
                field_id.as_str(),
                LabelBuilder::new(*kind, items.len()),
            ));
        }
    }
    for raw in &items {
        if labeled {
            let item: Option<LabeledRef<'_>> =
                serde_json::from_str(raw.get()).map_err(|e| bad_json("a labeled item", e))?;
            let item = item.unwrap_or_default();
            if let Some(fields) = item.fields {
                if !matches!(fields.get().as_bytes().first(), Some(b'{' | b'n')) {
                    return Err(bad_json(
                        "a labeled item's fields",
                        format!("{} is not an object", fields.get()),
                    ));
                }
            }
            data_columns.push(item.fields, &mut cells, "a labeled item's fields")?;
            for (kind, field_id, builder) in &mut labels {
                let label = item
                    .labels
                    .0
                    .iter()
                    .find(|(id, _)| id == field_id)
                    .map(|(_, l)| l);
                builder.push(*kind, label)?;
            }
        } else {
            data_columns.push(Some(raw), &mut cells, "a row")?;
        }
    }
    let mut data_arrays = data_columns.finish();
    let mut label_arrays = labels.into_iter().map(|(_, _, b)| b.finish());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let array = match columns.source(field.name()) {
            Some(ColumnSource::Label { .. }) => label_arrays.next(),
            _ => data_arrays.remove(field.name().as_str()),
        };
        arrays.push(array.ok_or_else(|| {
            DataFusionError::Internal(format!("column {} was not decoded", field.name()))
        })?);
    }
    let batch = RecordBatch::try_new_with_options(Arc::clone(schema), arrays, &options)?;
    Ok(DecodedPage { batch, total_count })
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
            (Self::Text(b), _) => {
                b.append_option(label.and_then(|l| l.explanation).and_then(json_text))
            }
            (Self::Number(b), _) => {
                b.append_option(label.and_then(|l| l.confidence).and_then(confidence))
            }
            (Self::Flag(b), _) => b.append_value(
                label.is_some_and(|l| l.source.and_then(json_text).as_deref() == Some("HUMAN")),
            ),
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

/// A confidence: a number, or a string holding one; anything else NULL.
fn confidence(raw: &RawValue) -> Option<f64> {
    match classify(raw).ok()? {
        Json::Number(t) => t.parse().ok(),
        Json::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

/// A label value as text: a string as it is, a list joined with `", "`, NULL as NULL, any
/// other value as its JSON text.
fn label_text(raw: Option<&RawValue>) -> Result<Option<Cow<'_, str>>> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if text.starts_with('[') {
        let items: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|e| bad_json("a label", e))?;
        let parts: Vec<Cow<'_, str>> = items.iter().filter_map(|i| json_text(i)).collect();
        return Ok(Some(Cow::Owned(parts.join(", "))));
    }
    Ok(json_text(raw))
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

    /// A table of every SQL type: `n` Float64, `i` Int64 (metadata), `d` Date32 (metadata),
    /// `b` Boolean, `s` Utf8.
    fn typed() -> TableColumns {
        let schema: DatasetSchema = serde_json::from_value(serde_json::json!({
            "properties": {
                "n": {"type": "number", "order": 0},
                "i": {"type": "number", "order": 1},
                "d": {"type": "string", "order": 2},
                "b": {"type": "boolean", "order": 3},
                "s": {"type": "string", "order": 4}
            }
        }))
        .unwrap();
        let meta = serde_json::json!({"i": {"type": "integer"}, "d": {"type": "date"}});
        TableColumns::typed(&schema, &meta).unwrap()
    }

    fn text(batch: &RecordBatch) -> String {
        pretty_format_batches(std::slice::from_ref(batch))
            .unwrap()
            .to_string()
    }

    /// Decodes `body` every way that accepts it and checks they agree; returns the page.
    fn decode_all_ways(body: &[u8], columns: &TableColumns, labeled: bool) -> DecodedPage {
        let schema = Arc::clone(&columns.schema);
        let decoder = PageDecoder::new(Arc::new(columns.clone()), Arc::clone(&schema), labeled);
        let page = decoder.decode(body).unwrap();
        // Twice: the second time with what the first left (decoders, the shape).
        let again = decoder.decode(body).unwrap();
        assert_eq!(again.batch, page.batch);
        let parts = decode_by_parts(body, columns, &schema, labeled).unwrap();
        assert_eq!(parts.batch, page.batch, "by parts differs");
        assert_eq!(parts.total_count, page.total_count);
        for map in [false, true] {
            let pass = OnePass::new(envelope_schema(columns, &schema, labeled, map));
            if let Ok(one) = decoder.decode_in_one_pass(&pass, map, body) {
                assert_eq!(one.batch, page.batch, "one pass (map: {map}) differs");
                assert_eq!(one.total_count, page.total_count);
            }
        }
        page
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
        let expected = [
            "+-----+-----------------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| id  | text            | mood_label | mood_llm_label | mood_confidence | mood_explanation | mood_verified | tags_label | tags_llm_label | tags_confidence | tags_explanation | tags_verified |",
            "+-----+-----------------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| 1.0 | a \"quoted\" text | happy      | sad            | 0.9             | because          | true          | x, y       | x              |                 |                  | false         |",
            "| 2.0 |                 | sad        | sad            | 0.5             |                  | false         |            |                |                 |                  | false         |",
            "| 3.0 |                 |            |                |                 |                  | false         |            |                |                 |                  | false         |",
            "+-----+-----------------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
        ];
        assert_eq!(text(&page.batch), expected.join("\n"));

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
            let fast = decoder
                .decode_in_one_pass(&decoder.list, false, body)
                .unwrap();
            assert_eq!(
                decoder
                    .decode_in_one_pass(&decoder.list, false, body)
                    .unwrap()
                    .batch,
                fast.batch
            );
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
        let page = decode_all_ways(body, &flat, false);
        assert_eq!(page.batch.num_rows(), 3);
        assert_eq!(page.total_count, None);

        // Labels as a map are one pass too, through the map schema; multilabel lists need
        // the parts.
        let map =
            br#"{"data": {"items": [{"fields": {"id": 1}, "labels": {"f1": {"label": "a"}}}]}}"#;
        let decoder =
            PageDecoder::new(Arc::new(columns.clone()), Arc::clone(&columns.schema), true);
        assert!(
            decoder
                .decode_in_one_pass(&decoder.list, false, map)
                .is_err()
        );
        let one = decoder
            .decode_in_one_pass(decoder.map.as_ref().unwrap(), true, map)
            .unwrap();
        assert_eq!(decoder.decode(map).unwrap().batch, one.batch);
        assert_eq!(
            Shape::from_u8(decoder.last.load(Ordering::Relaxed)),
            Shape::Map
        );
        let multi = br#"{"data": {"items": [{"fields": {"id": 1}, "labels": [{"id": "f2", "label": ["a", "b"]}]}]}}"#;
        let page = decoder.decode(multi).unwrap();
        assert_eq!(
            Shape::from_u8(decoder.last.load(Ordering::Relaxed)),
            Shape::Parts
        );
        assert_eq!(
            page.batch
                .column_by_name("tags_label")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "a, b"
        );
    }

    #[test]
    fn every_declared_shape_of_labeled_items() {
        let columns = columns();
        // The TypeScript SDK's shape: labels a map (with null entries) or null, every label
        // field nullable or missing, unknown fields, telemetry, in_evalset.
        let ts = br#"{"data": {"id": "d", "name": "n", "column_metadata": null, "response_count": 4,
            "total_count": null, "items": [
            {"fields": {"id": 1, "text": "a"}, "in_evalset": true, "telemetry": [{"telemetry_type": "t", "telemetry_value": {"x": 1}}],
             "labels": {"f1": {"id": "f1", "label": "pos", "llm_label": null, "confidence": "0.25",
                "created_by": null, "error_msg": null, "expected_label": null, "explanation": null,
                "multilabel_confidence": null, "overridden": false, "raw_confidence": null,
                "raw_response": null, "selected_labels": null, "source": "HUMAN"}, "f2": null}},
            {"fields": null, "labels": null, "telemetry": null, "in_evalset": false},
            {"fields": {"id": 3, "text": "c"}, "labels": {}},
            {"fields": {"id": 4, "text": "d"}, "labels": {"f2": {}}}
        ]}}"#;
        let page = decode_all_ways(ts, &columns, true);
        assert_eq!(page.total_count, None);
        let expected = [
            "+-----+------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| id  | text | mood_label | mood_llm_label | mood_confidence | mood_explanation | mood_verified | tags_label | tags_llm_label | tags_confidence | tags_explanation | tags_verified |",
            "+-----+------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| 1.0 | a    | pos        |                | 0.25            |                  | true          |            |                |                 |                  | false         |",
            "|     |      |            |                |                 |                  | false         |            |                |                 |                  | false         |",
            "| 3.0 | c    |            |                |                 |                  | false         |            |                |                 |                  | false         |",
            "| 4.0 | d    |            |                |                 |                  | false         |            |                |                 |                  | false         |",
            "+-----+------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
        ];
        assert_eq!(text(&page.batch), expected.join("\n"));

        // The list shape: [] and null labels, null entries, labels without an id, numbers
        // and objects where text is expected, a confidence that is not a number, a row that
        // is null, total_count missing.
        let list = br#"{"data": {"items": [
            {"fields": {"id": 1, "text": "a"}, "labels": [null, {"label": "no id"},
                {"id": "f1", "label": 3, "llm_label": true, "confidence": "high",
                 "explanation": {"why": 1}, "source": "LLM"}]},
            {"fields": {"id": 2, "text": "b"}, "labels": []},
            null,
            {"fields": {"id": 4}, "labels": [{"id": "f1", "source": "HUMAN", "confidence": 1}]}
        ]}}"#;
        let page = decode_all_ways(list, &columns, true);
        assert_eq!(page.total_count, None);
        let expected = [
            "+-----+------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| id  | text | mood_label | mood_llm_label | mood_confidence | mood_explanation | mood_verified | tags_label | tags_llm_label | tags_confidence | tags_explanation | tags_verified |",
            "+-----+------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
            "| 1.0 | a    | 3          | true           |                 | {\"why\": 1}       | false         |            |                |                 |                  | false         |",
            "| 2.0 | b    |            |                |                 |                  | false         |            |                |                 |                  | false         |",
            "|     |      |            |                |                 |                  | false         |            |                |                 |                  | false         |",
            "| 4.0 |      |            |                | 1.0             |                  | true          |            |                |                 |                  | false         |",
            "+-----+------+------------+----------------+-----------------+------------------+---------------+------------+----------------+-----------------+------------------+---------------+",
        ];
        assert_eq!(text(&page.batch), expected.join("\n"));

        // Pages mixing the shapes still decode.
        let mixed = br#"{"data": {"total_count": "2", "items": [
            {"fields": {"id": 1}, "labels": []},
            {"fields": {"id": 2}, "labels": {"f1": {"label": "x"}}}
        ]}}"#;
        let page = decode_all_ways(mixed, &columns, true);
        assert_eq!(page.total_count, Some(2));
        assert_eq!(page.batch.num_rows(), 2);
    }

    #[test]
    fn counts_and_missing_items() {
        let flat = typed();
        for (body, count) in [
            (
                &br#"{"data": {"items": [], "total_count": 12}}"#[..],
                Some(12),
            ),
            (br#"{"data": {"items": [], "total_count": 12.0}}"#, Some(12)),
            (br#"{"data": {"items": [], "total_count": "7"}}"#, Some(7)),
            (br#"{"data": {"items": [], "total_count": null}}"#, None),
            (br#"{"data": {"items": []}}"#, None),
            (br#"{"data": {"items": [], "total_count": -1}}"#, None),
            (br#"{"data": {"items": [], "total_count": "many"}}"#, None),
            (br#"{"data": {"items": [], "total_count": {"n": 1}}}"#, None),
            (br#"{"data": {"items": null, "total_count": 0}}"#, Some(0)),
            (br#"{"data": {"total_count": 3}}"#, Some(3)),
        ] {
            let page = decode_all_ways(body, &flat, false);
            assert_eq!(page.total_count, count, "{}", String::from_utf8_lossy(body));
            assert_eq!(page.batch.num_rows(), 0);
        }
        // No columns read: the rows are counted.
        let none = Arc::new(Schema::empty());
        let page = decode_page(
            br#"{"data": {"items": [{}, null, {"x": 1}]}}"#,
            &flat,
            &none,
            false,
        )
        .unwrap();
        assert_eq!(page.batch.num_rows(), 3);
    }

    #[test]
    fn cells_become_their_column_types() {
        let columns = typed();
        let body = br#"{"data": {"total_count": 6, "items": [
            {"n": 1.5, "i": 9007199254740993, "d": "2024-02-29", "b": true, "s": "x"},
            {"n": "2.5", "i": "-12", "d": null, "b": "FALSE", "s": 42},
            {"n": 3, "i": 3.0, "b": "true", "s": true},
            {"n": null, "i": 1e3, "d": "1970-01-01", "b": null, "s": {"a": [1, 2]}},
            {"i": -9223372036854775808, "s": [1, "x"]},
            null
        ]}}"#;
        let page = decode_all_ways(body, &columns, false);
        let b = &page.batch;
        assert_eq!(b.schema().field(1).data_type(), &DataType::Int64);
        assert_eq!(b.schema().field(2).data_type(), &DataType::Date32);
        let i = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(i.value(0), 9_007_199_254_740_993);
        assert_eq!(i.value(1), -12);
        assert_eq!(i.value(2), 3);
        assert_eq!(i.value(3), 1000);
        assert_eq!(i.value(4), i64::MIN);
        assert!(i.is_null(5));
        let d = b.column(2).as_primitive::<Date32Type>();
        assert_eq!(d.value(0), 19_782);
        assert!(d.is_null(1) && d.is_null(2));
        assert_eq!(d.value(3), 0);
        let s = b.column(4).as_string::<i32>();
        assert_eq!(
            (0..5).map(|r| s.value(r)).collect::<Vec<_>>(),
            ["x", "42", "true", r#"{"a": [1, 2]}"#, r#"[1, "x"]"#]
        );
        assert!(s.is_null(5));
        let flags = b.column(3).as_boolean();
        assert_eq!(
            (0..3).map(|r| flags.value(r)).collect::<Vec<_>>(),
            [true, false, true]
        );
        let n = b
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!(n.value(1), 2.5);
    }

    #[test]
    fn typed_columns_decode_in_one_pass() {
        let columns = typed();
        let body = br#"{"data": {"total_count": 3, "items": [
            {"n": 1.5, "i": 9007199254740993, "d": "2024-02-29", "b": true, "s": "x", "extra": {}},
            {"n": 2, "i": -4, "d": null, "b": false, "s": 7},
            {}
        ]}}"#;
        let decoder = PageDecoder::new(
            Arc::new(columns.clone()),
            Arc::clone(&columns.schema),
            false,
        );
        let fast = decoder
            .decode_in_one_pass(&decoder.list, false, body)
            .unwrap();
        let parts = decode_by_parts(body, &columns, &columns.schema, false).unwrap();
        assert_eq!(fast.batch, parts.batch);
        assert_eq!(fast.total_count, Some(3));
        let expected = [
            "+-----+------------------+------------+-------+---+",
            "| n   | i                | d          | b     | s |",
            "+-----+------------------+------------+-------+---+",
            "| 1.5 | 9007199254740993 | 2024-02-29 | true  | x |",
            "| 2.0 | -4               |            | false | 7 |",
            "|     |                  |            |       |   |",
            "+-----+------------------+------------+-------+---+",
        ];
        assert_eq!(text(&fast.batch), expected.join("\n"));
        // A label table's dataset columns alone do not read the labels, whatever their shape.
        let labeled = columns_with_task(&columns);
        let projected = Arc::new(labeled.schema.project(&[1, 2]).unwrap());
        let decoder = PageDecoder::new(Arc::new(labeled.clone()), Arc::clone(&projected), true);
        let body = br#"{"data": {"items": [
            {"fields": {"i": 1, "d": "2020-01-01"}, "labels": [{"id": "f1", "label": ["a"]}]},
            {"fields": {"i": 2}, "labels": {"f1": {"label": "b"}}}
        ]}}"#;
        let fast = decoder
            .decode_in_one_pass(&decoder.list, false, body)
            .unwrap();
        assert_eq!(fast.batch.num_rows(), 2);
        assert!(decoder.map.is_none());
        let parts = decode_by_parts(body, &labeled, &projected, true).unwrap();
        assert_eq!(fast.batch, parts.batch);
    }

    fn columns_with_task(columns: &TableColumns) -> TableColumns {
        let task: Task = serde_json::from_value(serde_json::json!({
            "id": "t1", "task_name": "t",
            "subtasks": [{"id": "f1", "name": "mood", "type": "classification"}]
        }))
        .unwrap();
        columns.clone().with_task(&task).unwrap()
    }

    #[test]
    fn cells_a_column_does_not_take_are_errors_naming_it() {
        let columns = typed();
        for (cell, column, shown) in [
            (r#""n": "abc""#, "n", r#""abc""#),
            (r#""n": true"#, "n", "true"),
            (r#""n": [1]"#, "n", "[1]"),
            (r#""i": 3.5"#, "i", "3.5"),
            (r#""i": 9007199254740993.0"#, "i", "9007199254740993.0"),
            (r#""i": 1e30"#, "i", "1e30"),
            (r#""i": "x""#, "i", r#""x""#),
            (r#""i": false"#, "i", "false"),
            (r#""d": "2024-02-30""#, "d", r#""2024-02-30""#),
            (r#""d": "2024-1-5""#, "d", r#""2024-1-5""#),
            (
                r#""d": "2024-01-05T00:00:00Z""#,
                "d",
                r#""2024-01-05T00:00:00Z""#,
            ),
            (r#""d": 19000"#, "d", "19000"),
            (r#""b": "yes""#, "b", r#""yes""#),
            (r#""b": 1"#, "b", "1"),
        ] {
            let body = format!(r#"{{"data": {{"items": [{{"s": "ok"}}, {{{cell}}}]}}}}"#);
            let err = decode_page(body.as_bytes(), &columns, &columns.schema, false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("column '{column}'")) && err.contains(shown),
                "{cell}: {err}"
            );
            // The same inside a labeled item's fields.
            let labeled = TableColumns::typed(
                &serde_json::from_value(serde_json::json!({"properties": {
                    "n": {"type": "number"}, "i": {"type": "number"},
                    "d": {"type": "string"}, "b": {"type": "boolean"}
                }}))
                .unwrap(),
                &serde_json::json!({"i": {"type": "integer"}, "d": {"type": "date"}}),
            )
            .unwrap();
            let body =
                format!(r#"{{"data": {{"items": [{{"fields": {{{cell}}}, "labels": {{}}}}]}}}}"#);
            let err = decode_page(body.as_bytes(), &labeled, &labeled.schema, true)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("column '{column}'")), "{cell}: {err}");
        }
        let err = decode_page(
            br#"{"data": {"items": [{"i": 2.5}]}}"#,
            &columns,
            &columns.schema,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("column metadata"), "{err}");
    }

    #[test]
    fn malformed_pages_are_errors() {
        let columns = columns();
        for body in [
            &b"not json"[..],
            br#"{"data": {"items": [{"fields": 3}]}}"#,
            br#"{"data": {"items": [{"fields": {}, "labels": 7}]}}"#,
            br#"{"data": {"items": [3]}}"#,
            br#"{"data": null}"#,
            br#"{"nodata": 1}"#,
            br#"{"data": {"items": []}} {"data": {"items": []}}"#,
        ] {
            let err = decode_page(body, &columns, &columns.schema, true).unwrap_err();
            assert!(err.to_string().contains("JSON"), "{err}");
        }
        let flat = typed();
        let err = decode_page(br#"{"data": {"items": [7]}}"#, &flat, &flat.schema, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a row"), "{err}");
    }

    #[test]
    fn text_cells_convert_by_the_same_rules() {
        let values = StringArray::from(vec![Some("3"), None, Some("4.0"), Some("-7")]);
        let ints = cast_text_column(&values, &DataType::Int64, "x").unwrap();
        assert_eq!(
            ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .iter()
                .collect::<Vec<_>>(),
            [Some(3), None, Some(4), Some(-7)]
        );
        let bad = StringArray::from(vec![Some("3.5")]);
        let err = cast_text_column(&bad, &DataType::Int64, "qty").unwrap_err();
        assert!(err.to_string().contains("column 'qty'"), "{err}");
        let dates = StringArray::from(vec![Some("2000-03-01"), None]);
        let d = cast_text_column(&dates, &DataType::Date32, "d").unwrap();
        assert_eq!(d.as_primitive::<Date32Type>().value(0), 11_017);
        let flags = StringArray::from(vec![Some("True"), Some("false")]);
        let f = cast_text_column(&flags, &DataType::Boolean, "f").unwrap();
        assert_eq!(
            f.as_boolean().iter().collect::<Vec<_>>(),
            [Some(true), Some(false)]
        );
        assert_eq!(parse_integer("1e3"), Some(1000));
        assert_eq!(parse_integer("9007199254740992.0"), None);
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("1969-12-31"), Some(-1));
    }
}
