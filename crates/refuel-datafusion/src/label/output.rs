//! The result of `refuel_label`: a struct with one child per application field, each
//! `{label, confidence, explanation, error}` (`label` a list of strings for multilabel
//! fields, a string otherwise).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder, ListBuilder, StringBuilder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::Result;
use refuel_client::models::FieldType;
use serde_json::Value;

use super::directory::LabelApp;
use super::run::Outcome;

fn is_list(field_type: &FieldType) -> bool {
    matches!(field_type, FieldType::MultilabelClassification)
}

/// The children of one field's struct.
fn field_children(field_type: &FieldType) -> Fields {
    let label = if is_list(field_type) {
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
    } else {
        DataType::Utf8
    };
    Fields::from(vec![
        Field::new("label", label, true),
        Field::new("confidence", DataType::Float64, true),
        Field::new("explanation", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, true),
    ])
}

/// The function's result type for `app`.
pub fn result_type(app: &LabelApp) -> DataType {
    DataType::Struct(result_fields(app))
}

fn result_fields(app: &LabelApp) -> Fields {
    app.fields
        .iter()
        .map(|(name, ty)| Field::new(name, DataType::Struct(field_children(ty)), true))
        .collect()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

enum Labels {
    One(StringBuilder),
    Many(ListBuilder<StringBuilder>),
}

/// Builds the result array from the outcomes, in row order (`None`: a NULL input).
pub fn build(app: &LabelApp, outcomes: &[Option<Outcome>]) -> Result<ArrayRef> {
    let rows = outcomes.len();
    let valid = NullBuffer::from(outcomes.iter().map(Option::is_some).collect::<Vec<_>>());
    let mut children: Vec<ArrayRef> = Vec::with_capacity(app.fields.len());
    for (name, field_type) in &app.fields {
        let mut labels = if is_list(field_type) {
            Labels::Many(ListBuilder::new(StringBuilder::new()))
        } else {
            Labels::One(StringBuilder::with_capacity(rows, rows * 8))
        };
        let mut confidence = Float64Builder::with_capacity(rows);
        let mut explanation = StringBuilder::new();
        let mut error = StringBuilder::new();
        for outcome in outcomes {
            let (output, failure) = match outcome {
                Some(Ok(output)) => (output.refuel_fields.get(name), None),
                Some(Err(message)) => (None, Some(message.as_ref())),
                None => (None, None),
            };
            error.append_option(failure);
            match (&mut labels, output) {
                (Labels::One(b), Some(o)) => b.append_option(o.label.first().map(text)),
                (Labels::One(b), None) => b.append_null(),
                (Labels::Many(b), Some(o)) => {
                    for label in &o.label {
                        b.values().append_value(text(label));
                    }
                    b.append(true);
                }
                (Labels::Many(b), None) => b.append(false),
            }
            confidence.append_option(output.and_then(|o| o.confidence));
            explanation.append_option(output.and_then(|o| o.explanation.as_deref()));
        }
        let label: ArrayRef = match labels {
            Labels::One(mut b) => Arc::new(b.finish()),
            Labels::Many(mut b) => Arc::new(b.finish()),
        };
        let field = StructArray::try_new(
            field_children(field_type),
            vec![
                label,
                Arc::new(confidence.finish()),
                Arc::new(explanation.finish()),
                Arc::new(error.finish()),
            ],
            Some(valid.clone()),
        )?;
        children.push(Arc::new(field));
    }
    let fields = result_fields(app);
    if fields.is_empty() {
        return Ok(Arc::new(StructArray::new_empty_fields(rows, Some(valid))));
    }
    Ok(Arc::new(StructArray::try_new(
        fields,
        children,
        Some(valid),
    )?))
}
