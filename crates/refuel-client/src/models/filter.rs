//! The filter and order language of row queries.
//!
//! A filter travels as one JSON object per `filters` query parameter; several filters are
//! combined with AND. An order travels as one JSON object per `order_bys` parameter; several
//! orders break ties in turn.
//!
//! The objects are the ones the Python SDK 0.15.15 sends (`format_filters` and
//! `format_order_by` in its `utils.py`), written as its `json.dumps` writes them (see
//! [`Filter::to_wire_value`]); reading them back is tolerant of what the TypeScript SDK and
//! older clients send.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

super::wire_enum! {
    /// A filter operator.
    FilterOp {
        /// Equal.
        Eq => "=",
        /// Not equal.
        NotEq => "<>",
        /// Less than.
        Lt => "<",
        /// Less than or equal.
        LtEq => "<=",
        /// Greater than.
        Gt => ">",
        /// Greater than or equal.
        GtEq => ">=",
        /// The field has no value.
        IsNull => "IS NULL",
        /// The field has a value.
        IsNotNull => "IS NOT NULL",
        /// The value is a substring of the field (case-sensitive). Not a SQL pattern.
        Like => "LIKE",
        /// The value is a substring of the field, ignoring case. Not a SQL pattern.
        ILike => "ILIKE",
        /// The value is not a substring of the field (case-sensitive).
        NotLike => "NOT LIKE",
        /// The value is not a substring of the field, ignoring case.
        NotILike => "NOT ILIKE",
        /// The field is one of a list of values.
        In => "IN",
        /// The field matches a regular expression, ignoring case.
        RegexMatch => "~*",
        /// The field does not match a regular expression, ignoring case.
        NotRegexMatch => "!~*",
        /// A human verified the label of the task field.
        IsVerified => "IS VERIFIED",
        /// No human verified the label of the task field.
        IsNotVerified => "IS NOT VERIFIED",
        /// Semantic similarity to a text.
        Similar => "SIMILAR",
    }
}

impl FilterOp {
    /// Every operator this version knows, in wire order.
    pub const ALL: [FilterOp; 18] = [
        Self::Eq,
        Self::NotEq,
        Self::Lt,
        Self::LtEq,
        Self::Gt,
        Self::GtEq,
        Self::IsNull,
        Self::IsNotNull,
        Self::Like,
        Self::ILike,
        Self::NotLike,
        Self::NotILike,
        Self::In,
        Self::RegexMatch,
        Self::NotRegexMatch,
        Self::IsVerified,
        Self::IsNotVerified,
        Self::Similar,
    ];

    /// Whether the operator takes no value.
    pub fn is_unary(&self) -> bool {
        matches!(
            self,
            Self::IsNull | Self::IsNotNull | Self::IsVerified | Self::IsNotVerified
        )
    }
}

super::wire_enum! {
    /// What a filter looks at.
    FilterType {
        /// A dataset column.
        Metadata => "metadata",
        /// A label of a task field (`field` is `llm_label`, `confidence` or `expected_label`).
        Label => "label",
        /// Semantic similarity to a text (carried in `field`).
        Similar => "similar",
    }
}

super::wire_enum! {
    /// What a label filter's value is.
    FilterValueType {
        /// A constant.
        Const => "string",
        /// The name of a dataset column, whose value in the same row is compared.
        Metadata => "metadata",
        /// A list of constants (for `IN`).
        List => "list",
    }
}

/// One filter of a row query.
///
/// On the wire (its `Serialize`), a filter is the object the Python SDK's `format_filters`
/// builds (`utils.py:91-120`):
/// - `metadata`: exactly `filter_type`, `field`, `operator`, `value`; the value is `""` when
///   there is none (unary operators such as `IS NULL`), as the SDK's `f.get("value", "")`.
///   `value_type` and `subtask_id` follow only when set (`IN`, which the Python SDK cannot
///   send, carries `value_type: "list"` as the TypeScript SDK's `SQLFilter` declares it).
/// - `label`: `filter_type`, `field`, `operator`, `value` (`""` when none), `subtask_id`
///   (`null` when none) and `value_type` (`"string"` when not set, as the SDK infers it for
///   a value that is not a column).
/// - `similar`: `filter_type`, `operator`, and the text in `field` (`value` only when a
///   non-empty one was set).
///
/// Reading (its `Deserialize`) accepts every shape the SDKs send: `filter_type` defaults to
/// `metadata`; for the operators without a value, a `""` (or `null`) value and a `"string"`
/// value type mean nothing and are dropped, so a filter reads back as it was built.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// What the filter looks at; `metadata` when absent.
    pub filter_type: FilterType,
    /// The column, or for label filters `llm_label`, `confidence` or `expected_label`; for
    /// similarity filters, the text.
    pub field: String,
    /// The operator.
    pub operator: FilterOp,
    /// The value: a string, or a list of strings for `IN`; `None` for unary operators.
    pub value: Option<serde_json::Value>,
    /// For label filters, the task field (subtask) whose label is compared.
    pub subtask_id: Option<String>,
    /// For label filters, what `value` is.
    pub value_type: Option<FilterValueType>,
}

/// A filter as it is read: every shape the SDKs send.
#[derive(Deserialize)]
struct FilterIn {
    #[serde(default = "metadata_filter_type")]
    filter_type: FilterType,
    field: String,
    operator: FilterOp,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    subtask_id: Option<String>,
    #[serde(default)]
    value_type: Option<FilterValueType>,
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = FilterIn::deserialize(d)?;
        let mut filter = Filter {
            filter_type: raw.filter_type,
            field: raw.field,
            operator: raw.operator,
            value: raw.value,
            subtask_id: raw.subtask_id,
            value_type: raw.value_type,
        };
        if filter.operator.is_unary() {
            // The Python SDK sends `"value": ""` (and, on label filters, `"value_type":
            // "string"`) when there is no value: neither says anything.
            if matches!(&filter.value, Some(serde_json::Value::String(s)) if s.is_empty()) {
                filter.value = None;
            }
            if filter.value.is_none() && filter.value_type == Some(FilterValueType::Const) {
                filter.value_type = None;
            }
        }
        Ok(filter)
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = serde_json::Value::String(String::new());
        let value = self.value.as_ref().unwrap_or(&empty);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("filter_type", &self.filter_type)?;
        match &self.filter_type {
            FilterType::Similar => {
                // "This is not a bug": the SDK sends the text in `field` (utils.py:92-98).
                map.serialize_entry("operator", &self.operator)?;
                map.serialize_entry("field", &self.field)?;
                let text = self
                    .value
                    .as_ref()
                    .filter(|v| !matches!(v, serde_json::Value::String(s) if s.is_empty()));
                if let Some(text) = text {
                    map.serialize_entry("value", text)?;
                }
            }
            FilterType::Label => {
                map.serialize_entry("field", &self.field)?;
                map.serialize_entry("operator", &self.operator)?;
                map.serialize_entry("value", value)?;
                map.serialize_entry("subtask_id", &self.subtask_id)?;
                map.serialize_entry(
                    "value_type",
                    self.value_type.as_ref().unwrap_or(&FilterValueType::Const),
                )?;
            }
            FilterType::Metadata | FilterType::Other(_) => {
                map.serialize_entry("field", &self.field)?;
                map.serialize_entry("operator", &self.operator)?;
                map.serialize_entry("value", value)?;
                if let Some(value_type) = &self.value_type {
                    map.serialize_entry("value_type", value_type)?;
                }
                if let Some(subtask_id) = &self.subtask_id {
                    map.serialize_entry("subtask_id", subtask_id)?;
                }
            }
        }
        map.end()
    }
}

fn metadata_filter_type() -> FilterType {
    FilterType::Metadata
}

impl Filter {
    /// A filter on a dataset column with a constant value (sent as a string, as the API
    /// expects).
    pub fn column(field: impl Into<String>, operator: FilterOp, value: impl ToString) -> Self {
        Self {
            filter_type: FilterType::Metadata,
            field: field.into(),
            operator,
            value: Some(serde_json::Value::String(value.to_string())),
            subtask_id: None,
            value_type: None,
        }
    }

    /// `field IS NULL` on a dataset column.
    pub fn is_null(field: impl Into<String>) -> Self {
        Self::unary(field, FilterOp::IsNull)
    }

    /// `field IS NOT NULL` on a dataset column.
    pub fn is_not_null(field: impl Into<String>) -> Self {
        Self::unary(field, FilterOp::IsNotNull)
    }

    fn unary(field: impl Into<String>, operator: FilterOp) -> Self {
        Self {
            filter_type: FilterType::Metadata,
            field: field.into(),
            operator,
            value: None,
            subtask_id: None,
            value_type: None,
        }
    }

    /// `field IN (values...)` on a dataset column.
    pub fn column_in<I, S>(field: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        Self {
            filter_type: FilterType::Metadata,
            field: field.into(),
            operator: FilterOp::In,
            value: Some(serde_json::Value::Array(
                values
                    .into_iter()
                    .map(|v| serde_json::Value::String(v.to_string()))
                    .collect(),
            )),
            subtask_id: None,
            value_type: Some(FilterValueType::List),
        }
    }

    /// Rows semantically similar to `text`.
    pub fn similar(text: impl Into<String>) -> Self {
        Self {
            filter_type: FilterType::Similar,
            field: text.into(),
            operator: FilterOp::Similar,
            value: None,
            subtask_id: None,
            value_type: None,
        }
    }

    /// A filter on a label of a task field: `label_field` is `llm_label`, `confidence` or
    /// `expected_label`, compared with a constant.
    pub fn label(
        subtask_id: impl Into<String>,
        label_field: impl Into<String>,
        operator: FilterOp,
        value: impl ToString,
    ) -> Self {
        Self {
            filter_type: FilterType::Label,
            field: label_field.into(),
            operator,
            value: Some(serde_json::Value::String(value.to_string())),
            subtask_id: Some(subtask_id.into()),
            value_type: Some(FilterValueType::Const),
        }
    }

    /// A filter comparing a label of a task field with a dataset column of the same row.
    pub fn label_vs_column(
        subtask_id: impl Into<String>,
        label_field: impl Into<String>,
        operator: FilterOp,
        column: impl Into<String>,
    ) -> Self {
        Self {
            filter_type: FilterType::Label,
            field: label_field.into(),
            operator,
            value: Some(serde_json::Value::String(column.into())),
            subtask_id: Some(subtask_id.into()),
            value_type: Some(FilterValueType::Metadata),
        }
    }

    /// The filter's wire object as compact JSON, for display (EXPLAIN, messages, logs):
    /// the object [`Filter::to_wire_value`] sends, without its spaces.
    pub fn to_query_value(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The exact text of the `filters` query parameter that carries this filter: its wire
    /// object written as the Python SDK writes it (`json.dumps`, `utils.py:121`: `", "` and
    /// `": "` separators, non-ASCII characters as `\uXXXX` escapes).
    pub fn to_wire_value(&self) -> String {
        python_json(&serde_json::to_value(self).unwrap_or_default())
    }
}

super::wire_enum! {
    /// A sort direction.
    #[derive(Default)]
    Direction {
        /// Ascending.
        #[default]
        Asc => "ASC",
        /// Descending.
        Desc => "DESC",
    }
}

/// One key of a row query's order. On the wire it is exactly the Python SDK's
/// `format_order_by` object (`utils.py:155-159`): `field`, `direction`, and `subtask_id`,
/// `null` when there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBy {
    /// A dataset column, or `label` / `confidence` together with `subtask_id`.
    pub field: String,
    /// The direction; ascending when absent.
    #[serde(default)]
    pub direction: Direction,
    /// The task field whose label or confidence orders the rows.
    #[serde(default)]
    pub subtask_id: Option<String>,
}

impl OrderBy {
    /// Ascending by a dataset column.
    pub fn asc(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            direction: Direction::Asc,
            subtask_id: None,
        }
    }

    /// Descending by a dataset column.
    pub fn desc(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            direction: Direction::Desc,
            subtask_id: None,
        }
    }

    /// By the label (`field = "label"`) or confidence (`field = "confidence"`) of a task field.
    pub fn by_label(
        subtask_id: impl Into<String>,
        field: impl Into<String>,
        direction: Direction,
    ) -> Self {
        Self {
            field: field.into(),
            direction,
            subtask_id: Some(subtask_id.into()),
        }
    }

    /// The order key's wire object as compact JSON, for display.
    pub fn to_query_value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The exact text of the `order_bys` query parameter that carries this key, written as
    /// the Python SDK's `json.dumps` writes it (`utils.py:160`).
    pub fn to_wire_value(&self) -> String {
        python_json(&serde_json::to_value(self).unwrap_or_default())
    }
}

/// JSON text as Python's `json.dumps` writes it with its defaults: `", "` between items,
/// `": "` after keys, keys in their order, and every character outside printable ASCII
/// escaped as `\uXXXX` (lower-case hex, surrogate pairs above U+FFFF). Numbers are
/// written as serde writes them (the filters' values are strings).
pub(crate) fn python_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_python_json(value, &mut out);
    out
}

fn write_python_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_string(key, out);
                out.push_str(": ");
                write_python_json(item, out);
            }
            out.push('}');
        }
    }
}

/// A string as `json.dumps` (with `ensure_ascii`) writes it.
fn write_python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Filter {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn wire_objects_are_the_sdk_ones() {
        // utils.py:114-120: exactly four keys, "" for a missing value.
        assert_eq!(
            Filter::column("stars", FilterOp::GtEq, 4).to_wire_value(),
            r#"{"filter_type": "metadata", "field": "stars", "operator": ">=", "value": "4"}"#
        );
        assert_eq!(
            Filter::is_null("name").to_wire_value(),
            r#"{"filter_type": "metadata", "field": "name", "operator": "IS NULL", "value": ""}"#
        );
        // utils.py:105-113: label filters always carry subtask_id and value_type.
        assert_eq!(
            Filter::label("s-1", "llm_label", FilterOp::Eq, "yes").to_query_value(),
            r#"{"filter_type":"label","field":"llm_label","operator":"=","value":"yes","subtask_id":"s-1","value_type":"string"}"#
        );
        let unary = Filter {
            value: None,
            value_type: None,
            ..Filter::label("s-1", "label", FilterOp::IsVerified, "")
        };
        assert_eq!(
            unary.to_query_value(),
            r#"{"filter_type":"label","field":"label","operator":"IS VERIFIED","value":"","subtask_id":"s-1","value_type":"string"}"#
        );
        // utils.py:93-98: the text in `field`, no value.
        assert_eq!(
            Filter::similar("cherry tart").to_wire_value(),
            r#"{"filter_type": "similar", "operator": "SIMILAR", "field": "cherry tart"}"#
        );
        // IN (beyond the Python SDK) keeps the TypeScript SDK's value type.
        assert_eq!(
            Filter::column_in("qty", [1, 2]).to_query_value(),
            r#"{"filter_type":"metadata","field":"qty","operator":"IN","value":["1","2"],"value_type":"list"}"#
        );
        // utils.py:155-160.
        assert_eq!(
            OrderBy::desc("stars").to_wire_value(),
            r#"{"field": "stars", "direction": "DESC", "subtask_id": null}"#
        );
        assert_eq!(
            OrderBy::by_label("s-1", "confidence", Direction::Asc).to_query_value(),
            r#"{"field":"confidence","direction":"ASC","subtask_id":"s-1"}"#
        );
    }

    #[test]
    fn filters_read_back_as_built() {
        let built = [
            Filter::column("stars", FilterOp::GtEq, 4),
            Filter::is_null("name"),
            Filter::is_not_null("name"),
            Filter::column_in("qty", [1, 2]),
            Filter::similar("cherry tart"),
            Filter::label("s-1", "confidence", FilterOp::Gt, "0.5"),
            Filter::label_vs_column("s-1", "llm_label", FilterOp::NotEq, "gold"),
            Filter {
                value: None,
                value_type: None,
                ..Filter::label("s-1", "llm_label", FilterOp::IsNull, "")
            },
        ];
        for filter in built {
            assert_eq!(read(&filter.to_query_value()), filter);
            assert_eq!(read(&filter.to_wire_value()), filter);
        }
    }

    #[test]
    fn every_sdk_shape_is_read() {
        // The Python SDK's, with spaces.
        let f = read(
            r#"{"filter_type": "metadata", "field": "a", "operator": "IS NULL", "value": ""}"#,
        );
        assert_eq!(f, Filter::is_null("a"));
        // The TypeScript SDK's and older clients': no filter_type, no value for unary
        // operators, a null value, the text of SIMILAR in `value`.
        assert_eq!(
            read(r#"{"field": "a", "operator": "IS NULL"}"#),
            Filter::is_null("a")
        );
        assert_eq!(
            read(r#"{"field": "a", "operator": "IS NOT NULL", "value": null}"#),
            Filter::is_not_null("a")
        );
        let f = read(
            r#"{"filter_type": "similar", "field": "", "operator": "SIMILAR", "value": "pie"}"#,
        );
        assert_eq!(f.value, Some(json!("pie")));
        assert_eq!(
            f.to_query_value(),
            r#"{"filter_type":"similar","operator":"SIMILAR","field":"","value":"pie"}"#
        );
        let f = read(
            r#"{"filter_type": "label", "field": "llm_label", "operator": "IN", "value": ["a"], "subtask_id": "s", "value_type": "list"}"#,
        );
        assert_eq!(f.value_type, Some(FilterValueType::List));
        // Unknown operators and types are kept, to be refused with a message.
        let f = read(r#"{"filter_type": "vector", "field": "a", "operator": "~~", "value": "x"}"#);
        assert_eq!(f.filter_type, FilterType::Other("vector".into()));
        assert_eq!(f.operator, FilterOp::Other("~~".into()));
        // A value given to a binary operator is kept, even an empty one.
        assert_eq!(
            read(r#"{"field": "a", "operator": "=", "value": ""}"#).value,
            Some(json!(""))
        );
        // OrderBy: direction and subtask_id may be absent.
        let o: OrderBy = serde_json::from_str(r#"{"field": "a"}"#).unwrap();
        assert_eq!(o, OrderBy::asc("a"));
    }

    #[test]
    fn python_json_text() {
        // As Python's json.dumps({...}) writes it.
        let value =
            json!({"a": "é\u{7f}\n\u{1}😀/\"\\", "b": [1, 2.5, null, true], "c": {}, "d": []});
        assert_eq!(
            python_json(&value),
            r#"{"a": "\u00e9\u007f\n\u0001\ud83d\ude00/\"\\", "b": [1, 2.5, null, true], "c": {}, "d": []}"#
        );
    }
}
