//! The filter and order language of row queries.
//!
//! A filter travels as one JSON object per `filters` query parameter; several filters are
//! combined with AND. An order travels as one JSON object per `order_bys` parameter; several
//! orders break ties in turn.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// What the filter looks at; `metadata` when absent.
    #[serde(default = "metadata_filter_type")]
    pub filter_type: FilterType,
    /// The column, or for label filters `llm_label`, `confidence` or `expected_label`.
    pub field: String,
    /// The operator.
    pub operator: FilterOp,
    /// The value: a string, or a list of strings for `IN`; absent for unary operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// For label filters, the task field (subtask) whose label is compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_id: Option<String>,
    /// For label filters, what `value` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<FilterValueType>,
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

    /// The JSON text sent as one `filters` query parameter.
    pub fn to_query_value(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
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

/// One key of a row query's order.
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

    /// The JSON text sent as one `order_bys` query parameter.
    pub fn to_query_value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
