//! Translating SQL predicates into the API's filters, and how exactly they match.
//!
//! [`translate`] is a pure function of a predicate (one conjunct of a `WHERE` clause), the
//! table's columns and what the server is known to do where the contract leaves it open
//! ([`ServerSemantics`]). A predicate is pushed:
//! - **Exact** when the API's documented semantics (see the emulator's README) equal SQL's
//!   for every value, NULLs included: then DataFusion drops its own filter, and a `LIMIT`
//!   can reach the API.
//! - **Inexact** when the API returns a superset of the rows SQL keeps: DataFusion keeps
//!   its filter above the scan and re-checks every row. Never a subset.
//! - not at all (`None`) otherwise.
//!
//! What is exact:
//! - `col <op> literal` for `=`, `<>`, `<`, `<=`, `>`, `>=` when the literal has the column's
//!   kind (text for string columns, a finite number for number columns, a boolean for
//!   boolean columns); also `literal <op> col`, `BETWEEN`, and `IN`/`NOT IN` lists of such
//!   literals (NULLs in an `IN` list never match, so they are dropped; a `NOT IN` list with
//!   a NULL is not pushed). Strings compare by UTF-8 bytes on both sides; numbers as doubles
//!   (`Float64` columns; on `Int64` columns only integer literals within ±2^53, where
//!   comparing doubles gives the integers' answer); NULL cells match none of these, as in SQL.
//! - `IS NULL`, `IS NOT NULL`; for booleans `col`, `NOT col`, `col IS TRUE`, `col IS FALSE`.
//! - `col LIKE '%text%'` (the API's substring `LIKE`), `col NOT LIKE '%text%'`, and a
//!   pattern without wildcards as `=`, when `text` has no `%`, `_` or `\`.
//! - `col ~* 're'` and `col !~* 're'` (both sides use the Rust `regex` crate).
//! - On label tables: the same on `<f>_label`, `<f>_llm_label` (text) and `<f>_confidence`
//!   (number); `<f>_label`/`<f>_llm_label` compared with a string dataset column of the same
//!   row; `<f>_verified` as `IS VERIFIED` / `IS NOT VERIFIED`.
//!
//! What is inexact (a superset is fetched):
//! - other `LIKE` patterns: their longest literal run as a substring `LIKE`;
//! - `ILIKE` with an ASCII needle: the API lowercases with Unicode rules, DataFusion's
//!   `ILIKE` ignores ASCII case only, so the API's matches include SQL's;
//! - `col ~ 're'` (case-sensitive) as `~*`.
//!
//! Everything else (`OR` other than equalities on one column, `NOT ILIKE`, casts, functions,
//! columns compared with columns, `<f>_explanation`, `<f>_label`: the SDK's label filters
//! name `llm_label`, `confidence` or `expected_label`, never the final label) is not pushed.
//!
//! What the server does is not always known ([`ServerSemantics`]); the rules above are
//! those of a server that declares binary text order, numeric number order, literal
//! substrings and the Rust regex dialect (our emulator). Otherwise:
//! - text order `unknown`: `=`, `IN` and literal `LIKE` on text are pushed inexactly (any
//!   collation's equality keeps every bytewise-equal row); `<>`, `NOT IN`, `<`, `<=`, `>`,
//!   `>=` and `BETWEEN` on text are not pushed;
//! - number order `unknown`: no comparison on numbers is pushed;
//! - `like` `unknown`: `LIKE '%text%'` is pushed inexactly (wildcards or case folding only
//!   add rows), `NOT LIKE` not at all;
//! - regex `unknown`: `~*` / `!~*` are not pushed.
//!
//! Each pushed predicate records the settings its exactness relies on ([`Pushed::assumes`]),
//! which `EXPLAIN` shows in the scan.

use std::collections::BTreeSet;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator};
use refuel_client::models::{ColumnType, Filter, FilterOp, FilterType, FilterValueType};
use refuel_client::semantics::{
    NumberOrder, RegexDialect, ServerSemantics, SubstringMatch, TextOrder,
};
use serde_json::Value;

use crate::columns::{ColumnSource, LabelColumn, TableColumns};
use crate::decode::EXACT_INTEGERS;

/// How exactly pushed filters match the predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exactness {
    /// The API's rows are exactly SQL's.
    Exact,
    /// The API's rows include SQL's; the engine re-checks.
    Inexact,
}

/// A predicate as API filters (all of which must hold).
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// The filters.
    pub filters: Vec<Filter>,
    /// How exactly they match.
    pub exactness: Exactness,
    /// The server settings (`key=value`, as [`ServerSemantics`] prints them) that the
    /// exactness relies on.
    pub assumes: BTreeSet<&'static str>,
}

impl Pushed {
    fn exact(filters: Vec<Filter>) -> Option<Self> {
        Self::with(filters, Exactness::Exact, None)
    }

    fn inexact(filters: Vec<Filter>) -> Option<Self> {
        Self::with(filters, Exactness::Inexact, None)
    }

    fn with(
        filters: Vec<Filter>,
        exactness: Exactness,
        assumes: Option<&'static str>,
    ) -> Option<Self> {
        Some(Self {
            filters,
            exactness,
            assumes: assumes.into_iter().collect(),
        })
    }
}

/// What a comparison's exactness is on a column of `kind` under `sem`, and the setting it
/// relies on; `None` when it cannot be pushed.
fn comparison_exactness(
    kind: Kind,
    op: &FilterOp,
    sem: &ServerSemantics,
) -> Option<(Exactness, Option<&'static str>)> {
    let equality = matches!(op, FilterOp::Eq | FilterOp::In);
    match kind {
        Kind::Boolean => matches!(op, FilterOp::Eq | FilterOp::NotEq | FilterOp::In)
            .then_some((Exactness::Exact, None)),
        Kind::Number => match sem.number_order {
            NumberOrder::Numeric => Some((Exactness::Exact, Some("number_order=numeric"))),
            NumberOrder::Unknown => None,
        },
        Kind::Text => match sem.text_order {
            TextOrder::Binary => Some((Exactness::Exact, Some("text_order=binary"))),
            TextOrder::Unknown if equality => Some((Exactness::Inexact, None)),
            TextOrder::Unknown => None,
        },
    }
}

/// The translation's inputs besides the predicate.
struct Ctx<'a> {
    cols: &'a TableColumns,
    sem: &'a ServerSemantics,
}

/// The kind of values a column holds, for matching literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Boolean,
}

/// A column that filters can name.
struct Target<'a> {
    source: &'a ColumnSource,
    kind: Kind,
}

impl Target<'_> {
    /// A filter on this column with an operator and an optional value.
    fn filter(&self, operator: FilterOp, value: Option<Value>) -> Option<Filter> {
        match self.source {
            ColumnSource::Data { name, .. } => Some(Filter {
                filter_type: FilterType::Metadata,
                field: name.clone(),
                operator,
                value,
                subtask_id: None,
                value_type: None,
            }),
            ColumnSource::Label { field_id, kind, .. } => {
                // The SDK's label filter fields: the final label has none.
                let field = match kind {
                    LabelColumn::LlmLabel => "llm_label",
                    LabelColumn::Confidence => "confidence",
                    LabelColumn::Label | LabelColumn::Explanation | LabelColumn::Verified => {
                        return None;
                    }
                };
                let value_type = match &value {
                    Some(Value::Array(_)) => Some(FilterValueType::List),
                    Some(_) => Some(FilterValueType::Const),
                    None => None,
                };
                Some(Filter {
                    filter_type: FilterType::Label,
                    field: field.to_string(),
                    operator,
                    value,
                    subtask_id: Some(field_id.clone()),
                    value_type,
                })
            }
        }
    }
}

fn target<'a>(expr: &Expr, cols: &'a TableColumns) -> Option<Target<'a>> {
    let name = match expr {
        Expr::Column(c) => c.name.as_str(),
        // A cast between string types changes no value.
        Expr::Cast(cast) if is_string_type(cast.field.data_type()) => match cast.expr.as_ref() {
            Expr::Column(c) => c.name.as_str(),
            _ => return None,
        },
        _ => return None,
    };
    let source = cols.source(name)?;
    let kind = match source {
        ColumnSource::Data {
            column_type: ColumnType::Number,
            ..
        } => Kind::Number,
        ColumnSource::Data {
            column_type: ColumnType::Boolean,
            ..
        } => Kind::Boolean,
        ColumnSource::Data { .. } => Kind::Text,
        ColumnSource::Label {
            kind: LabelColumn::Confidence,
            ..
        } => Kind::Number,
        ColumnSource::Label {
            kind: LabelColumn::Verified,
            ..
        } => Kind::Boolean,
        ColumnSource::Label { .. } => Kind::Text,
    };
    if matches!(expr, Expr::Cast(_)) && kind != Kind::Text {
        return None;
    }
    Some(Target { source, kind })
}

fn is_string_type(dt: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType;
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// A literal's value as the API takes it, if it has `kind`. NULL is `Some(None)`.
fn literal(expr: &Expr, kind: Kind) -> Option<Option<Value>> {
    let value = match expr {
        Expr::Literal(v, _) => v,
        Expr::Cast(cast) => match cast.expr.as_ref() {
            Expr::Literal(v, _) if kind == Kind::Text && is_string_type(cast.field.data_type()) => {
                v
            }
            _ => return None,
        },
        _ => return None,
    };
    if value.is_null() {
        return Some(None);
    }
    let out = match (kind, value) {
        (
            Kind::Text,
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => Value::String(s.clone()),
        (Kind::Boolean, ScalarValue::Boolean(Some(b))) => Value::String(b.to_string()),
        (Kind::Number, v) => Value::String(number_text(v)?),
        _ => return None,
    };
    Some(Some(out))
}

/// A finite number literal as text that parses back to the same double.
///
/// An integer literal of ±2^53 or beyond is none: the API is assumed to compare numbers
/// as doubles (they travel as JSON numbers, and the contract says no more), where integers
/// beyond ±2^53 round, so `big = 9007199254740993` would also match `9007199254740992`.
/// Below 2^53 in magnitude every comparison is exact even on an `Int64` column holding
/// larger values: rounding is monotonic and cannot carry such a value onto the literal.
fn number_text(v: &ScalarValue) -> Option<String> {
    let integer = match v {
        ScalarValue::Int64(Some(i)) => Some(i.unsigned_abs()),
        ScalarValue::UInt64(Some(i)) => Some(*i),
        _ => None,
    };
    if integer.is_some_and(|i| i >= EXACT_INTEGERS) {
        return None;
    }
    let f = match v {
        ScalarValue::Float64(Some(f)) => *f,
        ScalarValue::Float32(Some(f)) => f64::from(*f),
        ScalarValue::Int8(Some(i)) => f64::from(*i),
        ScalarValue::Int16(Some(i)) => f64::from(*i),
        ScalarValue::Int32(Some(i)) => f64::from(*i),
        ScalarValue::Int64(Some(i)) => *i as f64,
        ScalarValue::UInt8(Some(i)) => f64::from(*i),
        ScalarValue::UInt16(Some(i)) => f64::from(*i),
        ScalarValue::UInt32(Some(i)) => f64::from(*i),
        ScalarValue::UInt64(Some(i)) => *i as f64,
        _ => return None,
    };
    if !f.is_finite() {
        return None;
    }
    // Integers travel as integers, other values in shortest round-trip form.
    if f.fract() == 0.0 && f.abs() < EXACT_INTEGERS as f64 {
        Some(format!("{}", f as i64))
    } else {
        Some(format!("{f:?}"))
    }
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Eq => Operator::Eq,
        Operator::NotEq => Operator::NotEq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        _ => return None,
    })
}

fn comparison(op: Operator) -> Option<FilterOp> {
    Some(match op {
        Operator::Eq => FilterOp::Eq,
        Operator::NotEq => FilterOp::NotEq,
        Operator::Lt => FilterOp::Lt,
        Operator::LtEq => FilterOp::LtEq,
        Operator::Gt => FilterOp::Gt,
        Operator::GtEq => FilterOp::GtEq,
        _ => return None,
    })
}

/// The API's `IS NULL` (or `IS NOT NULL`) filter on a column, when it can be filtered on.
pub fn null_filter(cols: &TableColumns, column: &str, is_null: bool) -> Option<Filter> {
    let t = target(
        &Expr::Column(datafusion::common::Column::from_name(column)),
        cols,
    )?;
    if is_verified(t.source) {
        return None;
    }
    let op = if is_null {
        FilterOp::IsNull
    } else {
        FilterOp::IsNotNull
    };
    t.filter(op, None)
}

/// Translates one predicate (a conjunct) into API filters for a server with semantics
/// `sem`, or `None` when it cannot be pushed. See the module documentation.
pub fn translate(expr: &Expr, cols: &TableColumns, sem: &ServerSemantics) -> Option<Pushed> {
    translate_in(expr, &Ctx { cols, sem })
}

fn translate_in(expr: &Expr, ctx: &Ctx<'_>) -> Option<Pushed> {
    let cols = ctx.cols;
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => Some(both(translate_in(left, ctx)?, translate_in(right, ctx)?)),
            Operator::Or => or_of_equalities(expr, ctx),
            Operator::RegexMatch | Operator::RegexIMatch | Operator::RegexNotIMatch => {
                regex(left, *op, right, ctx)
            }
            _ => compare(left, *op, right, ctx),
        },
        Expr::IsNull(inner) => null_check(inner, FilterOp::IsNull, cols),
        Expr::IsNotNull(inner) => null_check(inner, FilterOp::IsNotNull, cols),
        Expr::Column(_) => boolean(expr, true, cols),
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Column(_) => boolean(inner, false, cols),
            _ => None,
        },
        Expr::IsTrue(inner) => boolean(inner, true, cols),
        Expr::IsFalse(inner) => boolean(inner, false, cols),
        Expr::IsNotTrue(inner) | Expr::IsNotFalse(inner) => {
            // NULLs are kept by these; only `<f>_verified` (never NULL) can say so.
            let t = target(inner, cols)?;
            if is_verified(t.source) {
                verified(t.source, matches!(expr, Expr::IsNotFalse(_)))
            } else {
                None
            }
        }
        Expr::Between(Between {
            expr: inner,
            negated: false,
            low,
            high,
        }) => between(inner, low, high, ctx),
        Expr::InList(list) => in_list(list, ctx),
        Expr::Like(like) => translate_like(like, ctx),
        _ => None,
    }
}

/// Whether a column is `<f>_verified` (never NULL; only its own filters apply).
fn is_verified(source: &ColumnSource) -> bool {
    matches!(
        source,
        ColumnSource::Label {
            kind: LabelColumn::Verified,
            ..
        }
    )
}

/// Two pushed conjuncts as one: exact only when both are.
fn both(l: Pushed, r: Pushed) -> Pushed {
    let exactness = if l.exactness == Exactness::Exact && r.exactness == Exactness::Exact {
        Exactness::Exact
    } else {
        Exactness::Inexact
    };
    Pushed {
        filters: [l.filters, r.filters].concat(),
        exactness,
        assumes: l.assumes.union(&r.assumes).copied().collect(),
    }
}

/// `col ~* 're'`, `col !~* 're'` (exact) and `col ~ 're'` (as `~*`, inexact), on a server
/// with the Rust regex dialect.
fn regex(left: &Expr, op: Operator, right: &Expr, ctx: &Ctx<'_>) -> Option<Pushed> {
    if ctx.sem.regex != RegexDialect::Rust {
        return None;
    }
    let t = target(left, ctx.cols).filter(|t| t.kind == Kind::Text)?;
    let Some(Some(pattern)) = literal(right, Kind::Text) else {
        return None;
    };
    let (operator, exactness) = match op {
        Operator::RegexIMatch => (FilterOp::RegexMatch, Exactness::Exact),
        Operator::RegexNotIMatch => (FilterOp::NotRegexMatch, Exactness::Exact),
        // Case-insensitive matching keeps every case-sensitive match.
        _ => (FilterOp::RegexMatch, Exactness::Inexact),
    };
    let f = t.filter(operator, Some(pattern))?;
    Pushed::with(vec![f], exactness, Some("regex=rust"))
}

/// `col IS NULL` / `col IS NOT NULL` (`op`); never on `<f>_verified`, which is never NULL.
fn null_check(inner: &Expr, op: FilterOp, cols: &TableColumns) -> Option<Pushed> {
    let t = target(inner, cols)?;
    if is_verified(t.source) {
        return None;
    }
    Pushed::exact(vec![t.filter(op, None)?])
}

/// `col BETWEEN low AND high` as `>= low` and `<= high`.
fn between(inner: &Expr, low: &Expr, high: &Expr, ctx: &Ctx<'_>) -> Option<Pushed> {
    let t = target(inner, ctx.cols)?;
    let (Some(Some(lo)), Some(Some(hi))) = (literal(low, t.kind), literal(high, t.kind)) else {
        return None;
    };
    if is_verified(t.source) {
        return None;
    }
    let (exactness, assumes) = comparison_exactness(t.kind, &FilterOp::GtEq, ctx.sem)?;
    Pushed::with(
        vec![
            t.filter(FilterOp::GtEq, Some(lo))?,
            t.filter(FilterOp::LtEq, Some(hi))?,
        ],
        exactness,
        assumes,
    )
}

/// `col IN (...)` (NULLs in the list never match, so they are dropped) and `col NOT IN
/// (...)` as one `<>` per value (not with a NULL in the list, which makes SQL keep no row).
fn in_list(list: &datafusion::logical_expr::expr::InList, ctx: &Ctx<'_>) -> Option<Pushed> {
    let t = target(&list.expr, ctx.cols)?;
    if is_verified(t.source) {
        return None;
    }
    let mut values = Vec::new();
    let mut has_null = false;
    for item in &list.list {
        match literal(item, t.kind)? {
            Some(v) => values.push(v),
            None => has_null = true,
        }
    }
    if values.is_empty() || (list.negated && has_null) {
        return None;
    }
    if list.negated {
        let (exactness, assumes) = comparison_exactness(t.kind, &FilterOp::NotEq, ctx.sem)?;
        let filters = values
            .into_iter()
            .map(|v| t.filter(FilterOp::NotEq, Some(v)))
            .collect::<Option<Vec<_>>>()?;
        return Pushed::with(filters, exactness, assumes);
    }
    let (exactness, assumes) = comparison_exactness(t.kind, &FilterOp::In, ctx.sem)?;
    let mut f = t.filter(FilterOp::In, Some(Value::Array(values)))?;
    f.value_type = Some(FilterValueType::List);
    Pushed::with(vec![f], exactness, assumes)
}

/// `col <op> literal`, `literal <op> col`, or a label column compared with a string column.
fn compare(left: &Expr, op: Operator, right: &Expr, ctx: &Ctx<'_>) -> Option<Pushed> {
    let cols = ctx.cols;
    let (col, op, other) = match (target(left, cols), target(right, cols)) {
        (Some(_), Some(_)) => return label_vs_column(left, op, right, ctx),
        (Some(_), None) => (left, op, right),
        (None, Some(_)) => (right, flip(op)?, left),
        (None, None) => return None,
    };
    let t = target(col, cols)?;
    let operator = comparison(op)?;
    let value = literal(other, t.kind)?;
    let Some(value) = value else {
        // A comparison with NULL is never true.
        return None;
    };
    if is_verified(t.source) {
        let b = value.as_str() == Some("true");
        return match operator {
            FilterOp::Eq => verified(t.source, b),
            FilterOp::NotEq => verified(t.source, !b),
            _ => None,
        };
    }
    let (exactness, assumes) = comparison_exactness(t.kind, &operator, ctx.sem)?;
    Pushed::with(vec![t.filter(operator, Some(value))?], exactness, assumes)
}

/// `<f>_llm_label` compared with a string dataset column (either side).
fn label_vs_column(left: &Expr, op: Operator, right: &Expr, ctx: &Ctx<'_>) -> Option<Pushed> {
    let cols = ctx.cols;
    let (l, r) = (target(left, cols)?, target(right, cols)?);
    let is_label = |t: &Target<'_>| {
        matches!(
            t.source,
            ColumnSource::Label {
                kind: LabelColumn::LlmLabel,
                ..
            }
        )
    };
    let is_string_column =
        |t: &Target<'_>| matches!(t.source, ColumnSource::Data { .. }) && t.kind == Kind::Text;
    let (label, column, op) = if is_label(&l) && is_string_column(&r) {
        (l, r, op)
    } else if is_label(&r) && is_string_column(&l) {
        (r, l, flip(op)?)
    } else {
        return None;
    };
    let ColumnSource::Data { name, .. } = column.source else {
        return None;
    };
    let operator = comparison(op)?;
    let (exactness, assumes) = comparison_exactness(Kind::Text, &operator, ctx.sem)?;
    let mut f = label.filter(operator, Some(Value::String(name.clone())))?;
    f.value_type = Some(FilterValueType::Metadata);
    Pushed::with(vec![f], exactness, assumes)
}

/// A boolean column (or `<f>_verified`) being `value`.
fn boolean(col: &Expr, value: bool, cols: &TableColumns) -> Option<Pushed> {
    let t = target(col, cols).filter(|t| t.kind == Kind::Boolean)?;
    if is_verified(t.source) {
        return verified(t.source, value);
    }
    Pushed::exact(vec![
        t.filter(FilterOp::Eq, Some(Value::String(value.to_string())))?,
    ])
}

fn verified(source: &ColumnSource, yes: bool) -> Option<Pushed> {
    let ColumnSource::Label { field_id, .. } = source else {
        return None;
    };
    Pushed::exact(vec![Filter {
        filter_type: FilterType::Label,
        field: "llm_label".into(),
        operator: if yes {
            FilterOp::IsVerified
        } else {
            FilterOp::IsNotVerified
        },
        value: None,
        subtask_id: Some(field_id.clone()),
        value_type: None,
    }])
}

/// `c = a OR c = b OR ...` on one column, as `IN`.
fn or_of_equalities(expr: &Expr, ctx: &Ctx<'_>) -> Option<Pushed> {
    fn leaves<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match e {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Or,
                right,
            }) => {
                leaves(left, out);
                leaves(right, out);
            }
            other => out.push(other),
        }
    }
    let cols = ctx.cols;
    let mut parts = Vec::new();
    leaves(expr, &mut parts);
    let mut column: Option<&str> = None;
    let mut values = Vec::new();
    for p in parts {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = p
        else {
            return None;
        };
        let (col, lit) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), other) | (other, Expr::Column(c))
                if !matches!(other, Expr::Column(_)) =>
            {
                (c, other)
            }
            _ => return None,
        };
        if column.is_some_and(|n| n != col.name) {
            return None;
        }
        column = Some(&col.name);
        let t = target(&Expr::Column(col.clone()), cols)?;
        if let Some(v) = literal(lit, t.kind)? {
            values.push(v);
        }
    }
    let name = column?;
    if values.is_empty() {
        return None;
    }
    let t = target(
        &Expr::Column(datafusion::common::Column::from_name(name)),
        cols,
    )?;
    if is_verified(t.source) {
        return None;
    }
    let (exactness, assumes) = comparison_exactness(t.kind, &FilterOp::In, ctx.sem)?;
    let mut f = t.filter(FilterOp::In, Some(Value::Array(values)))?;
    f.value_type = Some(FilterValueType::List);
    Pushed::with(vec![f], exactness, assumes)
}

/// A LIKE pattern's pieces.
#[derive(Debug, PartialEq)]
enum Pattern {
    /// No wildcard: equality.
    Literal(String),
    /// `%text%`: a substring.
    Contains(String),
    /// Anything else: its longest literal run (possibly empty).
    Other(String),
}

fn parse_pattern(p: &str) -> Option<Pattern> {
    if p.contains('\\') {
        return None;
    }
    if !p.contains(['%', '_']) {
        return Some(Pattern::Literal(p.to_string()));
    }
    if let Some(inner) = p.strip_prefix('%').and_then(|s| s.strip_suffix('%')) {
        if !inner.is_empty() && !inner.contains(['%', '_']) {
            return Some(Pattern::Contains(inner.to_string()));
        }
    }
    // The first of the longest runs.
    let longest = p.split(['%', '_']).fold(
        "",
        |best, run| if run.len() > best.len() { run } else { best },
    );
    Some(Pattern::Other(longest.to_string()))
}

fn translate_like(like: &Like, ctx: &Ctx<'_>) -> Option<Pushed> {
    let t = target(&like.expr, ctx.cols).filter(|t| t.kind == Kind::Text)?;
    if like.escape_char.is_some() {
        return None;
    }
    let Some(Some(Value::String(p))) = literal(&like.pattern, Kind::Text) else {
        return None;
    };
    let pattern = parse_pattern(&p)?;
    let f = |op: FilterOp, v: &str| t.filter(op, Some(Value::String(v.to_string())));
    let literal_substrings = ctx.sem.like == SubstringMatch::Literal;
    match (like.case_insensitive, like.negated, pattern) {
        // No wildcard: a text (in)equality.
        (false, negated, Pattern::Literal(s)) => {
            let op = if negated {
                FilterOp::NotEq
            } else {
                FilterOp::Eq
            };
            let (exactness, assumes) = comparison_exactness(Kind::Text, &op, ctx.sem)?;
            Pushed::with(vec![f(op, &s)?], exactness, assumes)
        }
        (false, false, Pattern::Contains(s)) if literal_substrings => Pushed::with(
            vec![f(FilterOp::Like, &s)?],
            Exactness::Exact,
            Some("like=literal"),
        ),
        (false, true, Pattern::Contains(s)) if literal_substrings => Pushed::with(
            vec![f(FilterOp::NotLike, &s)?],
            Exactness::Exact,
            Some("like=literal"),
        ),
        // Whatever the server does with wildcards or case, it keeps every row holding the
        // substring.
        (false, false, Pattern::Contains(s) | Pattern::Other(s)) if !s.is_empty() => {
            Pushed::inexact(vec![f(FilterOp::Like, &s)?])
        }
        (true, false, Pattern::Literal(s) | Pattern::Contains(s) | Pattern::Other(s))
            if !s.is_empty() && s.is_ascii() =>
        {
            Pushed::inexact(vec![f(FilterOp::ILike, &s)?])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
