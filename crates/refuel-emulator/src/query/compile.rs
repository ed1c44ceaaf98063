//! Checking filters and orders against a schema, with errors that name what is wrong.

use refuel_client::models::{ColumnType, Direction, Filter, FilterOp, FilterType, OrderBy};
use regex::Regex;

use crate::error::{ApiError, ApiResult};
use crate::store::{Cell, DatasetData};

/// A filter ready to evaluate.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// A comparison of a column with a constant.
    Compare {
        col: usize,
        op: FilterOp,
        value: Cell,
    },
    /// `IS NULL` (or `IS NOT NULL` when negated).
    IsNull { col: usize, negated: bool },
    /// `LIKE`, `ILIKE`, and their negations: substring containment.
    Contains {
        col: usize,
        needle: String,
        ignore_case: bool,
        negated: bool,
    },
    /// `IN`.
    In { col: usize, values: Vec<Cell> },
    /// `~*` and `!~*`.
    Regex {
        col: usize,
        regex: Regex,
        negated: bool,
    },
    /// `SIMILAR`: shares a word with the text in any of these string columns.
    Similar {
        words: Vec<String>,
        cols: Vec<usize>,
    },
}

/// One order key ready to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct SortKey {
    /// The column.
    pub col: usize,
    /// Descending.
    pub desc: bool,
}

/// A query checked against a dataset's schema.
#[derive(Debug, Clone)]
pub struct CompiledQuery {
    /// Filters, all of which must hold.
    pub predicates: Vec<Predicate>,
    /// Order keys, most significant first.
    pub sort: Vec<SortKey>,
    key: String,
}

impl CompiledQuery {
    /// Whether the query keeps every row in the default order.
    pub fn is_trivial(&self) -> bool {
        self.predicates.is_empty() && self.sort.is_empty()
    }

    /// A canonical text of the query, for caching.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The words of a text: runs of letters and digits, lowercased.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Checks `filters` and `orders` against the dataset `name`'s schema.
pub fn compile(
    data: &DatasetData,
    name: &str,
    filters: &[Filter],
    orders: &[OrderBy],
) -> ApiResult<CompiledQuery> {
    let mut predicates = Vec::with_capacity(filters.len());
    for f in filters {
        predicates.push(compile_filter(data, name, f)?);
    }
    let mut sort = Vec::with_capacity(orders.len());
    for o in orders {
        if o.subtask_id.is_some()
            || ((o.field == "label" || o.field == "confidence")
                && data.column_index(&o.field).is_none())
        {
            return Err(ApiError::bad_request(format!(
                "ordering by the {} of a task field needs a task: query /tasks/{{task_id}}/datasets/{{dataset_id}}",
                o.field
            )));
        }
        let col = column(data, name, &o.field, "order_bys")?;
        let desc = match &o.direction {
            Direction::Asc => false,
            Direction::Desc => true,
            Direction::Other(d) => {
                return Err(ApiError::bad_request(format!(
                    "order direction '{d}' is neither ASC nor DESC"
                )));
            }
        };
        sort.push(SortKey { col, desc });
    }
    let key = serde_json::to_string(&(filters, orders)).unwrap_or_default();
    Ok(CompiledQuery {
        predicates,
        sort,
        key,
    })
}

fn column(data: &DatasetData, name: &str, field: &str, what: &str) -> ApiResult<usize> {
    data.column_index(field).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown column '{field}' in {what}: dataset '{name}' has {}",
            data.column_list()
        ))
    })
}

fn compile_filter(data: &DatasetData, name: &str, f: &Filter) -> ApiResult<Predicate> {
    let show = || f.to_query_value();
    match &f.filter_type {
        FilterType::Metadata => {}
        FilterType::Similar => {}
        FilterType::Label => {
            return Err(ApiError::bad_request(format!(
                "label filters need a task: query /tasks/{{task_id}}/datasets/{{dataset_id}} (filter {})",
                show()
            )));
        }
        FilterType::Other(t) => {
            return Err(ApiError::bad_request(format!(
                "unknown filter_type '{t}' (known: metadata, label, similar) in filter {}",
                show()
            )));
        }
    }
    if f.operator == FilterOp::Similar || f.filter_type == FilterType::Similar {
        // The Python SDK sends the text in `field`; `value` is accepted too.
        let text = match &f.value {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            _ => f.field.clone(),
        };
        let words = words(&text);
        if words.is_empty() {
            return Err(ApiError::bad_request(format!(
                "SIMILAR needs a text with at least one word (filter {})",
                show()
            )));
        }
        let cols = data
            .types
            .iter()
            .enumerate()
            .filter(|(_, t)| **t == ColumnType::String)
            .map(|(i, _)| i)
            .collect();
        return Ok(Predicate::Similar { words, cols });
    }
    let col = column(data, name, &f.field, "filters")?;
    let ty = &data.types[col];
    let text_value = || -> ApiResult<String> {
        match &f.value {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(ApiError::bad_request(format!(
                "operator {} needs a value (filter {})",
                f.operator,
                show()
            ))),
        }
    };
    let typed = |text: &str| -> ApiResult<Cell> {
        match ty {
            ColumnType::Number => Cell::parse_number(text).ok_or_else(|| {
                ApiError::bad_request(format!("'{text}' is not a number, but column '{}' is a number column (filter {})", f.field, show()))
            }),
            ColumnType::Boolean => Cell::parse_bool(text).map(Cell::Bool).ok_or_else(|| {
                ApiError::bad_request(format!("'{text}' is not true or false, but column '{}' is a boolean column (filter {})", f.field, show()))
            }),
            _ => Ok(Cell::Str(text.into())),
        }
    };
    Ok(match &f.operator {
        op @ (FilterOp::Eq
        | FilterOp::NotEq
        | FilterOp::Lt
        | FilterOp::LtEq
        | FilterOp::Gt
        | FilterOp::GtEq) => Predicate::Compare {
            col,
            op: op.clone(),
            value: typed(&text_value()?)?,
        },
        FilterOp::IsNull => Predicate::IsNull {
            col,
            negated: false,
        },
        FilterOp::IsNotNull => Predicate::IsNull { col, negated: true },
        op @ (FilterOp::Like | FilterOp::ILike | FilterOp::NotLike | FilterOp::NotILike) => {
            let ignore_case = matches!(op, FilterOp::ILike | FilterOp::NotILike);
            let needle = text_value()?;
            Predicate::Contains {
                col,
                needle: if ignore_case {
                    needle.to_lowercase()
                } else {
                    needle
                },
                ignore_case,
                negated: matches!(op, FilterOp::NotLike | FilterOp::NotILike),
            }
        }
        FilterOp::In => {
            let list = match &f.value {
                Some(serde_json::Value::Array(items)) => items.clone(),
                Some(serde_json::Value::String(s)) if s.trim_start().starts_with('[') => {
                    serde_json::from_str::<Vec<serde_json::Value>>(s).map_err(|e| {
                        ApiError::bad_request(format!(
                            "the value of IN is not a JSON list: {e} (filter {})",
                            show()
                        ))
                    })?
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "IN needs a list value, e.g. \"value\": [\"a\", \"b\"] (filter {})",
                        show()
                    )));
                }
            };
            let mut values = Vec::with_capacity(list.len());
            for item in &list {
                let text = match item {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => continue, // NULL is never IN anything
                    other => other.to_string(),
                };
                values.push(typed(&text)?);
            }
            Predicate::In { col, values }
        }
        op @ (FilterOp::RegexMatch | FilterOp::NotRegexMatch) => {
            let pattern = text_value()?;
            let regex = regex::RegexBuilder::new(&pattern)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    ApiError::bad_request(format!("invalid regular expression '{pattern}': {e}"))
                })?;
            Predicate::Regex {
                col,
                regex,
                negated: *op == FilterOp::NotRegexMatch,
            }
        }
        FilterOp::IsVerified | FilterOp::IsNotVerified => {
            return Err(ApiError::bad_request(format!(
                "{} applies to the labels of a task field: use a label filter with a task (filter {})",
                f.operator,
                show()
            )));
        }
        FilterOp::Similar => unreachable!("handled above"),
        FilterOp::Other(op) => {
            let known: Vec<&str> = FilterOp::ALL.iter().map(FilterOp::as_str).collect();
            return Err(ApiError::bad_request(format!(
                "unknown operator '{op}' (known: {}) in filter {}",
                known.join(", "),
                show()
            )));
        }
    })
}
