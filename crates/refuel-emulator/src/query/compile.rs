//! Checking filters and orders against a schema (and a task's fields), with errors that
//! name what is wrong.

use refuel_client::models::{
    ColumnType, Direction, Filter, FilterOp, FilterType, FilterValueType, OrderBy, Subtask,
};
use regex::Regex;

use super::InvalidQuery;
use super::semantics::{LikeMatch, Semantics, like_regex};
use crate::model::{Cell, words};
use crate::store::DatasetData;

/// Which label value of a task field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelKind {
    /// The final label (the human's when verified, else the LLM's).
    Final,
    /// The LLM's label.
    Llm,
    /// The LLM label's confidence.
    Confidence,
}

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A dataset column.
    Column(usize),
    /// A label of a task field (by index in the task's fields).
    Label {
        /// The field.
        field: usize,
        /// Which value.
        kind: LabelKind,
    },
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// A constant.
    Const(Cell),
    /// A value of the same row (compare a label with a ground-truth column).
    Source(Source),
}

/// A filter ready to evaluate.
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    /// A comparison.
    Compare {
        src: Source,
        op: FilterOp,
        value: Operand,
    },
    /// `IS NULL` (or `IS NOT NULL` when negated).
    IsNull { src: Source, negated: bool },
    /// `LIKE`, `ILIKE`, and their negations: substring containment.
    Contains {
        src: Source,
        needle: String,
        ignore_case: bool,
        negated: bool,
    },
    /// `LIKE`, `ILIKE`, and their negations as SQL patterns `%value%`
    /// ([`LikeMatch::Pattern`]); with `ignore_case` the pattern was built from the
    /// lowercased value and matches the lowercased cell.
    Like {
        /// What is matched.
        src: Source,
        /// The pattern.
        regex: Regex,
        /// `ILIKE`.
        ignore_case: bool,
        /// `NOT LIKE` / `NOT ILIKE`.
        negated: bool,
    },
    /// `IN`.
    In { src: Source, values: Vec<Cell> },
    /// `~*` and `!~*`.
    Regex {
        src: Source,
        regex: Regex,
        negated: bool,
    },
    /// `SIMILAR`: shares a word with the text in any of these string columns.
    Similar {
        words: Vec<String>,
        cols: Vec<usize>,
    },
    /// `IS VERIFIED` (or `IS NOT VERIFIED` when negated) of a task field's label.
    Verified { field: usize, negated: bool },
}

/// One order key ready to evaluate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SortKey {
    /// What orders.
    pub src: Source,
    /// Descending.
    pub desc: bool,
}

/// A query checked against a dataset's schema.
#[derive(Debug, Clone)]
pub(crate) struct CompiledQuery {
    /// Filters, all of which must hold.
    pub predicates: Vec<Predicate>,
    /// Order keys, most significant first.
    pub sort: Vec<SortKey>,
    /// How the open behaviours (text case, NULL order, LIKE wildcards) go.
    pub semantics: Semantics,
    key: String,
}

impl CompiledQuery {
    /// Whether the query keeps every row in the default order.
    pub(crate) fn is_trivial(&self) -> bool {
        self.predicates.is_empty() && self.sort.is_empty()
    }

    /// A canonical text of the query, for caching.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Whether the query reads labels.
    pub(crate) fn reads_labels(&self) -> bool {
        let label = |s: &Source| matches!(s, Source::Label { .. });
        self.sort.iter().any(|k| label(&k.src))
            || self.predicates.iter().any(|p| match p {
                Predicate::Compare { src, value, .. } => {
                    label(src) || matches!(value, Operand::Source(s) if label(s))
                }
                Predicate::IsNull { src, .. }
                | Predicate::Contains { src, .. }
                | Predicate::Like { src, .. }
                | Predicate::In { src, .. }
                | Predicate::Regex { src, .. } => label(src),
                Predicate::Verified { .. } => true,
                Predicate::Similar { .. } => false,
            })
    }
}

/// The schema a query is checked against: a dataset and, for label queries, a task's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// The dataset.
    pub data: &'a DatasetData,
    /// The dataset's name, for messages.
    pub name: &'a str,
    /// The task's fields, when the query has a task.
    pub fields: Option<&'a [Subtask]>,
}

impl Scope<'_> {
    fn column(&self, field: &str, what: &str) -> Result<usize, InvalidQuery> {
        self.data.column_index(field).ok_or_else(|| {
            InvalidQuery(format!(
                "unknown column '{field}' in {what}: dataset '{}' has {}",
                self.name,
                self.data.column_list()
            ))
        })
    }

    fn field(&self, subtask: Option<&str>, what: &str) -> Result<usize, InvalidQuery> {
        let fields = self.fields.ok_or_else(|| {
            InvalidQuery(format!(
                "{what} needs a task: query /tasks/{{task_id}}/datasets/{{dataset_id}}"
            ))
        })?;
        let id = subtask
            .filter(|s| !s.is_empty())
            .ok_or_else(|| InvalidQuery(format!("{what} needs a subtask_id (the task field)")))?;
        fields
            .iter()
            .position(|f| f.id == id || f.name == id)
            .ok_or_else(|| {
                let known: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{} ({})", f.name, f.id))
                    .collect();
                InvalidQuery(format!(
                    "unknown task field '{id}' in {what}; the task's fields are {}",
                    known.join(", ")
                ))
            })
    }

    /// The type a constant compared with `src` is parsed as.
    fn value_type(&self, src: Source) -> ColumnType {
        match src {
            Source::Column(i) => self.data.types[i].clone(),
            Source::Label {
                kind: LabelKind::Confidence,
                ..
            } => ColumnType::Number,
            Source::Label { .. } => ColumnType::String,
        }
    }
}

/// Checks `filters` and `orders` against the scope; they will be evaluated with
/// `semantics`.
pub(crate) fn compile(
    scope: Scope<'_>,
    filters: &[Filter],
    orders: &[OrderBy],
    semantics: Semantics,
) -> Result<CompiledQuery, InvalidQuery> {
    let mut predicates = Vec::with_capacity(filters.len());
    for f in filters {
        predicates.push(compile_filter(scope, f, semantics)?);
    }
    let mut sort = Vec::with_capacity(orders.len());
    for o in orders {
        let src = match o.field.as_str() {
            "label" | "confidence"
                if o.subtask_id.is_some() || scope.data.column_index(&o.field).is_none() =>
            {
                let field =
                    scope.field(o.subtask_id.as_deref(), &format!("ordering by {}", o.field))?;
                let kind = if o.field == "label" {
                    LabelKind::Final
                } else {
                    LabelKind::Confidence
                };
                Source::Label { field, kind }
            }
            column => {
                if o.subtask_id.as_deref().is_some_and(|s| !s.is_empty()) {
                    return Err(InvalidQuery(format!(
                        "order_bys with a subtask_id orders by 'label' or 'confidence', not '{column}'"
                    )));
                }
                Source::Column(scope.column(column, "order_bys")?)
            }
        };
        let desc = match &o.direction {
            Direction::Asc => false,
            Direction::Desc => true,
            Direction::Other(d) => {
                return Err(InvalidQuery(format!(
                    "order direction '{d}' is neither ASC nor DESC"
                )));
            }
        };
        sort.push(SortKey { src, desc });
    }
    let mut key = serde_json::to_string(&(filters, orders)).unwrap_or_default();
    if semantics != Semantics::DEFAULT {
        key.push_str(&format!("|{semantics:?}"));
    }
    Ok(CompiledQuery {
        predicates,
        sort,
        semantics,
        key,
    })
}

fn compile_filter(
    scope: Scope<'_>,
    f: &Filter,
    semantics: Semantics,
) -> Result<Predicate, InvalidQuery> {
    if f.operator == FilterOp::Similar || f.filter_type == FilterType::Similar {
        return similar_predicate(scope, f);
    }
    let src = match &f.filter_type {
        FilterType::Metadata => Source::Column(scope.column(&f.field, "filters")?),
        FilterType::Label => {
            let what = format!("label filter {}", f.to_query_value());
            let field = scope.field(f.subtask_id.as_deref(), &what)?;
            if matches!(f.operator, FilterOp::IsVerified | FilterOp::IsNotVerified) {
                return Ok(Predicate::Verified {
                    field,
                    negated: f.operator == FilterOp::IsNotVerified,
                });
            }
            label_source(scope, f, field, &what)?
        }
        FilterType::Similar => unreachable!("handled above"),
        FilterType::Other(t) => {
            return Err(InvalidQuery(format!(
                "unknown filter_type '{t}' (known: metadata, label, similar) in filter {}",
                f.to_query_value()
            )));
        }
    };
    let ty = scope.value_type(src);
    Ok(match &f.operator {
        op @ (FilterOp::Eq
        | FilterOp::NotEq
        | FilterOp::Lt
        | FilterOp::LtEq
        | FilterOp::Gt
        | FilterOp::GtEq) => compare_predicate(scope, f, src, op, &ty)?,
        FilterOp::IsNull => Predicate::IsNull {
            src,
            negated: false,
        },
        FilterOp::IsNotNull => Predicate::IsNull { src, negated: true },
        op @ (FilterOp::Like | FilterOp::ILike | FilterOp::NotLike | FilterOp::NotILike) => {
            like_predicate(f, src, op, semantics)?
        }
        FilterOp::In => in_predicate(f, src, &ty)?,
        op @ (FilterOp::RegexMatch | FilterOp::NotRegexMatch) => regex_predicate(f, src, op)?,
        FilterOp::IsVerified | FilterOp::IsNotVerified => {
            return Err(InvalidQuery(format!(
                "{} applies to the labels of a task field: use a label filter with a task (filter {})",
                f.operator,
                f.to_query_value()
            )));
        }
        FilterOp::Similar => unreachable!("handled above"),
        FilterOp::Other(op) => {
            let known: Vec<&str> = FilterOp::ALL.iter().map(FilterOp::as_str).collect();
            return Err(InvalidQuery(format!(
                "unknown operator '{op}' (known: {}) in filter {}",
                known.join(", "),
                f.to_query_value()
            )));
        }
    })
}

/// `SIMILAR`: the words of the filter's text, matched against every string column.
fn similar_predicate(scope: Scope<'_>, f: &Filter) -> Result<Predicate, InvalidQuery> {
    // The Python SDK sends the text in `field`; `value` is accepted too.
    let text = match &f.value {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        _ => f.field.clone(),
    };
    let words = words(&text);
    if words.is_empty() {
        return Err(InvalidQuery(format!(
            "SIMILAR needs a text with at least one word (filter {})",
            f.to_query_value()
        )));
    }
    let cols = scope
        .data
        .types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == ColumnType::String)
        .map(|(i, _)| i)
        .collect();
    Ok(Predicate::Similar { words, cols })
}

/// What a label filter on task field `field` reads: `llm_label`, `label`, `confidence`,
/// or `expected_label` (the field's ground-truth column). `what` names the filter in
/// messages.
fn label_source(
    scope: Scope<'_>,
    f: &Filter,
    field: usize,
    what: &str,
) -> Result<Source, InvalidQuery> {
    Ok(match f.field.as_str() {
        "llm_label" => Source::Label {
            field,
            kind: LabelKind::Llm,
        },
        "label" => Source::Label {
            field,
            kind: LabelKind::Final,
        },
        "confidence" => Source::Label {
            field,
            kind: LabelKind::Confidence,
        },
        "expected_label" => {
            let fields = scope.fields.unwrap_or_default();
            let gt = fields[field].label_column.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| {
                InvalidQuery(format!(
                    "task field '{}' has no ground-truth column, so it has no expected_label ({what})",
                    fields[field].name
                ))
            })?;
            Source::Column(scope.column(gt, "the ground-truth column")?)
        }
        other => {
            return Err(InvalidQuery(format!(
                "a label filter's field is llm_label, label, confidence or expected_label, not '{other}' ({what})"
            )));
        }
    })
}

/// The filter's value as text (numbers and booleans written out); an error when it has
/// none.
fn text_value(f: &Filter) -> Result<String, InvalidQuery> {
    match &f.value {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
        _ => Err(InvalidQuery(format!(
            "operator {} needs a value (filter {})",
            f.operator,
            f.to_query_value()
        ))),
    }
}

/// `text` parsed as a constant of type `ty` (what the filtered value is).
fn typed_value(f: &Filter, ty: &ColumnType, text: &str) -> Result<Cell, InvalidQuery> {
    match ty {
        ColumnType::Number => Cell::parse_number(text).ok_or_else(|| {
            InvalidQuery(format!(
                "'{text}' is not a number, but '{}' is numeric (filter {})",
                f.field,
                f.to_query_value()
            ))
        }),
        ColumnType::Boolean => Cell::parse_bool(text).map(Cell::Bool).ok_or_else(|| {
            InvalidQuery(format!(
                "'{text}' is not true or false, but column '{}' is a boolean column (filter {})",
                f.field,
                f.to_query_value()
            ))
        }),
        _ => Ok(Cell::Str(text.into())),
    }
}

/// `=`, `<>`, `<`, `<=`, `>`, `>=`: against a constant of type `ty`, or, with value_type
/// metadata, against the column the value names.
fn compare_predicate(
    scope: Scope<'_>,
    f: &Filter,
    src: Source,
    op: &FilterOp,
    ty: &ColumnType,
) -> Result<Predicate, InvalidQuery> {
    let value = if f.value_type == Some(FilterValueType::Metadata) {
        let column = text_value(f)?;
        Operand::Source(Source::Column(
            scope.column(&column, "a label filter's value (value_type metadata)")?,
        ))
    } else {
        Operand::Const(typed_value(f, ty, &text_value(f)?)?)
    };
    Ok(Predicate::Compare {
        src,
        op: op.clone(),
        value,
    })
}

/// `LIKE`, `ILIKE` and their negations: a SQL pattern or a substring, as `semantics`
/// says.
fn like_predicate(
    f: &Filter,
    src: Source,
    op: &FilterOp,
    semantics: Semantics,
) -> Result<Predicate, InvalidQuery> {
    let ignore_case = matches!(op, FilterOp::ILike | FilterOp::NotILike);
    let negated = matches!(op, FilterOp::NotLike | FilterOp::NotILike);
    let needle = text_value(f)?;
    if semantics.like == LikeMatch::Pattern {
        let pattern = if ignore_case {
            needle.to_lowercase()
        } else {
            needle
        };
        let regex = like_regex(&pattern).map_err(|e| {
            InvalidQuery(format!(
                "the {} pattern '{pattern}' is too complex: {e} (filter {})",
                f.operator,
                f.to_query_value()
            ))
        })?;
        return Ok(Predicate::Like {
            src,
            regex,
            ignore_case,
            negated,
        });
    }
    Ok(Predicate::Contains {
        src,
        needle: if ignore_case {
            needle.to_lowercase()
        } else {
            needle
        },
        ignore_case,
        negated,
    })
}

/// `IN`: the value is a JSON list (or a string holding one) of constants of type `ty`;
/// NULL items are dropped.
fn in_predicate(f: &Filter, src: Source, ty: &ColumnType) -> Result<Predicate, InvalidQuery> {
    let list = match &f.value {
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(serde_json::Value::String(s)) if s.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<serde_json::Value>>(s).map_err(|e| {
                InvalidQuery(format!(
                    "the value of IN is not a JSON list: {e} (filter {})",
                    f.to_query_value()
                ))
            })?
        }
        _ => {
            return Err(InvalidQuery(format!(
                "IN needs a list value, e.g. \"value\": [\"a\", \"b\"] (filter {})",
                f.to_query_value()
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
        values.push(typed_value(f, ty, &text)?);
    }
    Ok(Predicate::In { src, values })
}

/// `~*` and `!~*`: a case-insensitive regular expression of bounded size.
fn regex_predicate(f: &Filter, src: Source, op: &FilterOp) -> Result<Predicate, InvalidQuery> {
    let pattern = text_value(f)?;
    let regex = regex::RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| InvalidQuery(format!("invalid regular expression '{pattern}': {e}")))?;
    Ok(Predicate::Regex {
        src,
        regex,
        negated: *op == FilterOp::NotRegexMatch,
    })
}
