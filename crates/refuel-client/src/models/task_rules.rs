//! The rules a task's field definitions follow, written once: the client checks them before
//! it sends a task (as the Python SDK does) and the emulator when it receives one, so both
//! give the same message for the same mistake.

use std::collections::HashSet;

use super::task::FieldType;

/// Every field type a task may use, as they travel on the wire.
pub const KNOWN_FIELD_TYPES: [&str; 6] = [
    "classification",
    "multilabel_classification",
    "attribute_extraction",
    "webpage_transform",
    "webpage_scrape",
    "web_search",
];

/// One field of a task being defined, as the rules see it (borrowed from the client's
/// `TaskField` or from a received subtask).
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec<'a> {
    /// The field's name.
    pub name: &'a str,
    /// Its type.
    pub field_type: &'a FieldType,
    /// The columns (or other fields) it reads.
    pub input_columns: &'a [String],
    /// Its labels, for the classification types.
    pub labels: Option<&'a [String]>,
    /// The dataset column holding its expected labels, when given.
    pub ground_truth_column: Option<&'a str>,
}

/// A task definition that breaks a rule: the message names the field or column at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTask(pub String);

/// Checks `fields` against the columns of dataset `dataset`, in this order: there is at
/// least one field; every field has a name, a known type and input columns; field names are
/// unique; no field is named like a dataset column; every input column is a dataset column
/// or another field's name (never the field itself); the classification types have a
/// non-empty list of labels; a ground-truth column, when given, is a dataset column.
pub fn check_fields(
    dataset: &str,
    columns: &[&str],
    fields: &[FieldSpec<'_>],
) -> Result<(), InvalidTask> {
    let invalid = |message: String| Err(InvalidTask(message));
    if fields.is_empty() {
        return invalid("a task needs at least one field".into());
    }
    for (i, field) in fields.iter().enumerate() {
        let name = field.name;
        if name.trim().is_empty() {
            return invalid(format!("field #{} has no name", i + 1));
        }
        if !field.field_type.is_labeled() && !field.field_type.is_enrichment() {
            return invalid(format!(
                "field '{name}' has an unknown type '{}'; known types: {}",
                field.field_type,
                KNOWN_FIELD_TYPES.join(", ")
            ));
        }
        if field.input_columns.is_empty() {
            return invalid(format!("field '{name}' has no input columns"));
        }
    }
    let mut seen = HashSet::new();
    for field in fields {
        if !seen.insert(field.name) {
            return invalid(format!(
                "field name '{}' is used more than once; field names must be unique",
                field.name
            ));
        }
    }
    for field in fields {
        if columns.contains(&field.name) {
            return invalid(format!(
                "field '{}' has the name of a column of dataset '{dataset}'; field names must \
                 differ from the dataset's columns",
                field.name
            ));
        }
    }
    let column_list = || {
        if columns.is_empty() {
            format!("dataset '{dataset}' has no columns yet (has its ingest finished?)")
        } else {
            format!("dataset '{dataset}' has columns: {}", columns.join(", "))
        }
    };
    for field in fields {
        for input in field.input_columns {
            if input == field.name {
                return invalid(format!(
                    "field '{}' lists itself as an input column",
                    field.name
                ));
            }
            if !columns.contains(&input.as_str()) && !seen.contains(input.as_str()) {
                return invalid(format!(
                    "input column '{input}' of field '{}' is neither a dataset column nor the \
                     name of another field; {}",
                    field.name,
                    column_list()
                ));
            }
        }
    }
    for field in fields {
        let has_labels = field.labels.is_some_and(|l| !l.is_empty());
        if field.field_type.has_labels() && !has_labels {
            return invalid(format!(
                "field '{}' is of type {} and needs a non-empty list of labels",
                field.name, field.field_type
            ));
        }
    }
    for field in fields {
        let truth = field.ground_truth_column.filter(|c| !c.is_empty());
        if let Some(column) = truth.filter(|c| !columns.contains(c)) {
            return invalid(format!(
                "ground-truth column '{column}' of field '{}' is not a column; {}",
                field.name,
                column_list()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(name: &'a str, t: &'a FieldType, inputs: &'a [String]) -> FieldSpec<'a> {
        FieldSpec {
            name,
            field_type: t,
            input_columns: inputs,
            labels: None,
            ground_truth_column: None,
        }
    }

    #[test]
    fn each_rule_names_what_is_wrong() {
        let extraction = FieldType::AttributeExtraction;
        let classification = FieldType::Classification;
        let other = FieldType::Other("summary".into());
        let text = vec!["text".to_string()];
        let columns = ["text", "gold"];
        let check = |fields: &[FieldSpec<'_>]| {
            check_fields("reviews", &columns, fields)
                .err()
                .map(|e| e.0)
                .unwrap_or_default()
        };
        assert_eq!(check(&[]), "a task needs at least one field");
        assert!(check(&[spec("s", &other, &text)]).contains("unknown type 'summary'"));
        assert!(check(&[spec("s", &extraction, &[])]).contains("no input columns"));
        assert!(
            check(&[spec("s", &extraction, &text), spec("s", &extraction, &text)])
                .contains("more than once")
        );
        assert!(check(&[spec("text", &extraction, &text)]).contains("name of a column"));
        let missing = vec!["body".to_string()];
        assert!(
            check(&[spec("s", &extraction, &missing)])
                .contains("dataset 'reviews' has columns: text, gold")
        );
        assert!(check(&[spec("s", &classification, &text)]).contains("non-empty list of labels"));
        let mut with_truth = spec("s", &extraction, &text);
        with_truth.ground_truth_column = Some("nope");
        assert!(check(&[with_truth]).contains("ground-truth column 'nope'"));
        with_truth.ground_truth_column = Some("gold");
        assert_eq!(check(&[with_truth]), "");
    }
}
