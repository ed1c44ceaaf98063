//! Evaluating a compiled query over a dataset's rows (and a task's labels).

use std::borrow::Cow;
use std::cmp::Ordering;

use refuel_client::models::FilterOp;

use super::compile::{CompiledQuery, LabelKind, Operand, Predicate, SortKey, Source};
use super::semantics::{Semantics, TextOrder, fold};
use crate::model::Cell;
use crate::model::words;
use crate::store::{DatasetData, LabelSet};

static NULL: Cell = Cell::Null;

/// The rows of a dataset with, optionally, a task's labels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows<'a> {
    /// The dataset.
    pub data: &'a DatasetData,
    /// The task's labels.
    pub labels: Option<&'a LabelSet>,
}

impl<'a> Rows<'a> {
    fn cells(&self, i: u32) -> &'a [Cell] {
        self.data.rows[i as usize].as_deref().unwrap_or(&[])
    }

    /// The value of `src` in row `i`.
    pub(crate) fn value(&self, src: Source, i: u32) -> &'a Cell {
        match src {
            Source::Column(c) => self.cells(i).get(c).unwrap_or(&NULL),
            Source::Label { field, kind } => {
                let Some(label) = self
                    .labels
                    .and_then(|l| l.row(i as usize))
                    .and_then(|r| r.fields.get(field))
                else {
                    return &NULL;
                };
                match kind {
                    LabelKind::Final => label.final_text(),
                    LabelKind::Llm => &label.llm_text,
                    LabelKind::Confidence => &label.confidence,
                }
            }
        }
    }

    fn verified(&self, field: usize, i: u32) -> bool {
        self.labels
            .and_then(|l| l.row(i as usize))
            .and_then(|r| r.fields.get(field))
            .is_some_and(|l| l.verified())
    }
}

/// The indices of the rows that pass every predicate, in the query's order.
pub(crate) fn evaluate(rows: Rows<'_>, query: &CompiledQuery) -> Vec<u32> {
    let sem = query.semantics;
    let mut out: Vec<u32> = rows
        .data
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| {
            row.as_deref()?;
            let i = i as u32;
            query
                .predicates
                .iter()
                .all(|p| matches(p, rows, i, sem))
                .then_some(i)
        })
        .collect();
    if query.sort.is_empty() {
        return out;
    }
    match sem.text {
        // A stable sort of indices already in insertion order: ties keep that order.
        TextOrder::Bytes => {
            out.sort_by(|a, b| {
                compare_rows(&query.sort, sem, rows, *a, *b, |_, x, y| {
                    x.as_bytes().cmp(y.as_bytes())
                })
            });
        }
        TextOrder::CaseInsensitive => {
            // Lowercase each text key once (not per comparison), then sort positions.
            let folded: Vec<Vec<Option<String>>> = query
                .sort
                .iter()
                .map(|key| {
                    out.iter()
                        .map(|i| match rows.value(key.src, *i) {
                            Cell::Str(s) => match fold(s) {
                                Cow::Owned(lower) => Some(lower),
                                Cow::Borrowed(_) => None,
                            },
                            _ => None,
                        })
                        .collect()
                })
                .collect();
            let mut positions: Vec<usize> = (0..out.len()).collect();
            positions.sort_by(|&pa, &pb| {
                compare_rows(&query.sort, sem, rows, out[pa], out[pb], |k, x, y| {
                    let fx = folded[k][pa].as_deref().unwrap_or(x);
                    let fy = folded[k][pb].as_deref().unwrap_or(y);
                    fx.cmp(fy).then_with(|| x.as_bytes().cmp(y.as_bytes()))
                })
            });
            out = positions.into_iter().map(|p| out[p]).collect();
        }
    }
    out
}

/// Compares rows `a` and `b` by the keys; two strings of key `k` compare with
/// `text(k, x, y)`.
fn compare_rows(
    keys: &[SortKey],
    sem: Semantics,
    rows: Rows<'_>,
    a: u32,
    b: u32,
    text: impl Fn(usize, &str, &str) -> Ordering,
) -> Ordering {
    for (k, key) in keys.iter().enumerate() {
        let (x, y) = (rows.value(key.src, a), rows.value(key.src, b));
        // The ascending order; descending reverses all of it, NULL placement included.
        let ascending = match (x, y) {
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Null, _) => sem.null_vs_value(),
            (_, Cell::Null) => sem.null_vs_value().reverse(),
            (Cell::Str(sx), Cell::Str(sy)) => text(k, sx, sy),
            _ => x.compare(y),
        };
        let ord = if key.desc {
            ascending.reverse()
        } else {
            ascending
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Compares two non-NULL values of possibly different kinds (a label with a column):
/// by value when both are numbers or both strings (texts as `sem` says), else by their
/// text.
fn compare_loose(a: &Cell, b: &Cell, sem: Semantics) -> Ordering {
    let numeric = |c: &Cell| matches!(c, Cell::Int(_) | Cell::Float(_));
    if let (Cell::Str(x), Cell::Str(y)) = (a, b) {
        return sem.compare_text(x, y);
    }
    if (numeric(a) && numeric(b)) || std::mem::discriminant(a) == std::mem::discriminant(b) {
        return a.compare(b);
    }
    match (a.render(), b.render()) {
        (Some(x), Some(y)) => sem.compare_text(&x, &y),
        _ => a.compare(b),
    }
}

fn matches(p: &Predicate, rows: Rows<'_>, i: u32, sem: Semantics) -> bool {
    match p {
        Predicate::Compare { src, op, value } => {
            let c = rows.value(*src, i);
            let v = match value {
                Operand::Const(v) => v,
                Operand::Source(s) => rows.value(*s, i),
            };
            if c.is_null() || v.is_null() {
                return false;
            }
            let ord = compare_loose(c, v, sem);
            match op {
                FilterOp::Eq => ord == Ordering::Equal,
                FilterOp::NotEq => ord != Ordering::Equal,
                FilterOp::Lt => ord == Ordering::Less,
                FilterOp::LtEq => ord != Ordering::Greater,
                FilterOp::Gt => ord == Ordering::Greater,
                FilterOp::GtEq => ord != Ordering::Less,
                _ => false,
            }
        }
        Predicate::IsNull { src, negated } => rows.value(*src, i).is_null() != *negated,
        Predicate::Contains {
            src,
            needle,
            ignore_case,
            negated,
        } => match rows.value(*src, i).render() {
            None => false,
            Some(text) => {
                let found = if *ignore_case {
                    text.to_lowercase().contains(needle.as_str())
                } else {
                    text.contains(needle.as_str())
                };
                found != *negated
            }
        },
        Predicate::Like {
            src,
            regex,
            ignore_case,
            negated,
        } => match rows.value(*src, i).render() {
            None => false,
            Some(text) => {
                let found = if *ignore_case {
                    regex.is_match(&text.to_lowercase())
                } else {
                    regex.is_match(&text)
                };
                found != *negated
            }
        },
        Predicate::In { src, values } => {
            let c = rows.value(*src, i);
            !c.is_null()
                && values
                    .iter()
                    .any(|v| compare_loose(c, v, sem) == Ordering::Equal)
        }
        Predicate::Regex {
            src,
            regex,
            negated,
        } => match rows.value(*src, i).render() {
            None => false,
            Some(text) => regex.is_match(&text) != *negated,
        },
        Predicate::Similar {
            words: wanted,
            cols,
        } => cols
            .iter()
            .any(|c| match rows.value(Source::Column(*c), i) {
                Cell::Str(s) => words(s).iter().any(|w| wanted.binary_search(w).is_ok()),
                _ => false,
            }),
        Predicate::Verified { field, negated } => rows.verified(*field, i) != *negated,
    }
}

#[cfg(test)]
mod tests {
    use refuel_client::models::{ColumnType, Filter, OrderBy};

    use super::super::compile::{Scope, compile};
    use super::*;

    fn dataset(columns: Vec<(&str, ColumnType)>, rows: Vec<Vec<Cell>>) -> DatasetData {
        let mut d = DatasetData::default();
        let (c, t): (Vec<String>, Vec<ColumnType>) =
            columns.into_iter().map(|(n, t)| (n.to_string(), t)).unzip();
        d.columns = c.into();
        d.types = t.into();
        d.live = rows.len();
        d.rows = rows
            .into_iter()
            .map(|r| Some(r.into_boxed_slice()))
            .collect();
        d
    }

    fn data() -> DatasetData {
        dataset(
            vec![
                ("id", ColumnType::Number),
                ("name", ColumnType::String),
                ("score", ColumnType::Number),
                ("ok", ColumnType::Boolean),
            ],
            vec![
                vec![
                    Cell::Int(0),
                    Cell::Str("Apple pie".into()),
                    Cell::Float(2.5),
                    Cell::Bool(true),
                ],
                vec![
                    Cell::Int(1),
                    Cell::Str("banana".into()),
                    Cell::Int(10),
                    Cell::Null,
                ],
                vec![Cell::Int(2), Cell::Null, Cell::Int(-1), Cell::Bool(false)],
                vec![
                    Cell::Int(3),
                    Cell::Str("apple 50%".into()),
                    Cell::Null,
                    Cell::Bool(true),
                ],
                vec![
                    Cell::Int(4),
                    Cell::Str("Cherry".into()),
                    Cell::Int(10),
                    Cell::Bool(false),
                ],
            ],
        )
    }

    fn run_on(
        d: &DatasetData,
        filters: &[Filter],
        orders: &[OrderBy],
        semantics: Semantics,
    ) -> Vec<u32> {
        let q = compile(
            Scope {
                data: d,
                name: "t",
                fields: None,
            },
            filters,
            orders,
            semantics,
        )
        .unwrap();
        evaluate(
            Rows {
                data: d,
                labels: None,
            },
            &q,
        )
    }

    fn run(filters: &[Filter], orders: &[OrderBy]) -> Vec<u32> {
        run_on(&data(), filters, orders, Semantics::DEFAULT)
    }

    fn flipped(filters: &[Filter], orders: &[OrderBy]) -> Vec<u32> {
        run_on(&data(), filters, orders, Semantics::flipped())
    }

    #[test]
    fn flipped_text_compares_ignore_case() {
        let eq = [Filter::column("name", FilterOp::Eq, "apple PIE")];
        assert_eq!(run(&eq, &[]), Vec::<u32>::new());
        assert_eq!(flipped(&eq, &[]), vec![0]);
        let ne = [Filter::column("name", FilterOp::NotEq, "BANANA")];
        assert_eq!(run(&ne, &[]), vec![0, 1, 3, 4]);
        assert_eq!(flipped(&ne, &[]), vec![0, 3, 4]);
        let lt = [Filter::column("name", FilterOp::Lt, "b")];
        assert_eq!(run(&lt, &[]), vec![0, 3, 4]);
        assert_eq!(flipped(&lt, &[]), vec![0, 3]);
        let ge = [Filter::column("name", FilterOp::GtEq, "CHERRY")];
        assert_eq!(run(&ge, &[]), vec![1, 3, 4]);
        assert_eq!(flipped(&ge, &[]), vec![4]);
        let le = [Filter::column("name", FilterOp::LtEq, "APPLE PIE")];
        assert_eq!(run(&le, &[]), Vec::<u32>::new());
        assert_eq!(flipped(&le, &[]), vec![0, 3]);
        let gt = [Filter::column("name", FilterOp::Gt, "BANANA")];
        assert_eq!(run(&gt, &[]), vec![1, 3, 4]);
        assert_eq!(flipped(&gt, &[]), vec![4]);
        let within = [Filter::column_in("name", ["APPLE PIE", "cherry"])];
        assert_eq!(run(&within, &[]), Vec::<u32>::new());
        assert_eq!(flipped(&within, &[]), vec![0, 4]);
        // Numbers and booleans compare as before.
        let num = [Filter::column("score", FilterOp::Gt, "3")];
        assert_eq!(flipped(&num, &[]), vec![1, 4]);
        let b = [Filter::column("ok", FilterOp::Eq, "TRUE")];
        assert_eq!(flipped(&b, &[]), vec![0, 3]);
    }

    #[test]
    fn flipped_order_folds_case_then_bytes_then_insertion() {
        assert_eq!(run(&[], &[OrderBy::asc("name")]), vec![0, 4, 3, 1, 2]);
        assert_eq!(flipped(&[], &[OrderBy::asc("name")]), vec![2, 3, 0, 1, 4]);
        assert_eq!(flipped(&[], &[OrderBy::desc("name")]), vec![4, 1, 0, 3, 2]);
        let d = dataset(
            vec![("s", ColumnType::String)],
            ["b", "B", "a", "A", "b", "Ä", "ä"]
                .into_iter()
                .map(|v| vec![Cell::Str(v.into())])
                .collect(),
        );
        assert_eq!(
            run_on(&d, &[], &[OrderBy::asc("s")], Semantics::DEFAULT),
            vec![3, 1, 2, 0, 4, 5, 6]
        );
        assert_eq!(
            run_on(&d, &[], &[OrderBy::asc("s")], Semantics::flipped()),
            vec![3, 2, 1, 0, 4, 5, 6]
        );
        assert_eq!(
            run_on(&d, &[], &[OrderBy::desc("s")], Semantics::flipped()),
            vec![6, 5, 0, 4, 1, 2, 3]
        );
    }

    #[test]
    fn flipped_nulls_sort_first_ascending_and_last_descending() {
        assert_eq!(flipped(&[], &[OrderBy::asc("score")]), vec![3, 2, 0, 1, 4]);
        assert_eq!(flipped(&[], &[OrderBy::desc("score")]), vec![1, 4, 0, 2, 3]);
        assert_eq!(
            flipped(&[], &[OrderBy::desc("score"), OrderBy::desc("id")]),
            vec![4, 1, 0, 2, 3]
        );
        assert_eq!(flipped(&[], &[OrderBy::asc("ok")]), vec![1, 2, 4, 0, 3]);
    }

    #[test]
    fn flipped_like_takes_wildcards() {
        let like = |op: FilterOp, v: &str| [Filter::column("name", op, v)];
        assert_eq!(run(&like(FilterOp::Like, "a%e"), &[]), Vec::<u32>::new());
        assert_eq!(flipped(&like(FilterOp::Like, "a%e"), &[]), vec![3]);
        assert_eq!(run(&like(FilterOp::Like, "p_e"), &[]), Vec::<u32>::new());
        assert_eq!(flipped(&like(FilterOp::Like, "p_e"), &[]), vec![0, 3]);
        assert_eq!(flipped(&like(FilterOp::ILike, "A%E"), &[]), vec![0, 3]);
        assert_eq!(run(&like(FilterOp::ILike, "A%E"), &[]), Vec::<u32>::new());
        assert_eq!(flipped(&like(FilterOp::NotLike, "p_e"), &[]), vec![1, 4]);
        assert_eq!(flipped(&like(FilterOp::NotILike, "A%E"), &[]), vec![1, 4]);
        assert_eq!(flipped(&like(FilterOp::Like, "50\\%"), &[]), vec![3]);
        assert_eq!(flipped(&like(FilterOp::Like, ""), &[]), vec![0, 1, 3, 4]);
        // Plain substrings still match the same.
        assert_eq!(flipped(&like(FilterOp::Like, "pple"), &[]), vec![0, 3]);
        let num = [Filter::column("score", FilterOp::Like, "_._")];
        assert_eq!(flipped(&num, &[]), vec![0]);
        assert_eq!(run(&num, &[]), Vec::<u32>::new());
    }

    #[test]
    fn comparisons_are_typed_and_exclude_nulls() {
        assert_eq!(
            run(&[Filter::column("score", FilterOp::Gt, "3")], &[]),
            vec![1, 4]
        );
        assert_eq!(
            run(&[Filter::column("score", FilterOp::Eq, "10.0")], &[]),
            vec![1, 4]
        );
        assert_eq!(
            run(&[Filter::column("score", FilterOp::NotEq, "10")], &[]),
            vec![0, 2]
        );
        assert_eq!(
            run(&[Filter::column("name", FilterOp::Lt, "a")], &[]),
            vec![0, 4]
        );
        assert_eq!(
            run(&[Filter::column("ok", FilterOp::Eq, "TRUE")], &[]),
            vec![0, 3]
        );
        assert_eq!(run(&[Filter::is_null("name")], &[]), vec![2]);
        assert_eq!(run(&[Filter::is_not_null("score")], &[]), vec![0, 1, 2, 4]);
        assert_eq!(run(&[Filter::column_in("id", [1, 3, 9])], &[]), vec![1, 3]);
    }

    #[test]
    fn like_is_a_literal_substring() {
        assert_eq!(
            run(&[Filter::column("name", FilterOp::Like, "pple")], &[]),
            vec![0, 3]
        );
        assert_eq!(
            run(&[Filter::column("name", FilterOp::Like, "apple")], &[]),
            vec![3]
        );
        assert_eq!(
            run(&[Filter::column("name", FilterOp::ILike, "APPLE")], &[]),
            vec![0, 3]
        );
        assert_eq!(
            run(&[Filter::column("name", FilterOp::Like, "50%")], &[]),
            vec![3]
        );
        assert_eq!(
            run(&[Filter::column("name", FilterOp::Like, "a%")], &[]),
            Vec::<u32>::new()
        );
        assert_eq!(
            run(&[Filter::column("name", FilterOp::NotLike, "apple")], &[]),
            vec![0, 1, 4]
        );
        assert_eq!(
            run(&[Filter::column("name", FilterOp::NotILike, "apple")], &[]),
            vec![1, 4]
        );
        assert_eq!(
            run(&[Filter::column("score", FilterOp::Like, "2.")], &[]),
            vec![0]
        );
        assert_eq!(
            run(
                &[Filter::column(
                    "name",
                    FilterOp::RegexMatch,
                    "^(apple|cherry)"
                )],
                &[]
            ),
            vec![0, 3, 4]
        );
        assert_eq!(
            run(
                &[Filter::column("name", FilterOp::NotRegexMatch, "^apple")],
                &[]
            ),
            vec![1, 4]
        );
        assert_eq!(run(&[Filter::similar("a BANANA split")], &[]), vec![1]);
    }

    #[test]
    fn order_puts_nulls_last_ascending_and_first_descending() {
        assert_eq!(run(&[], &[OrderBy::asc("score")]), vec![2, 0, 1, 4, 3]);
        assert_eq!(run(&[], &[OrderBy::desc("score")]), vec![3, 1, 4, 0, 2]);
        assert_eq!(
            run(&[], &[OrderBy::desc("score"), OrderBy::desc("id")]),
            vec![3, 4, 1, 0, 2]
        );
        assert_eq!(run(&[], &[OrderBy::asc("name")]), vec![0, 4, 3, 1, 2]);
        assert_eq!(
            run(
                &[Filter::column("ok", FilterOp::Eq, "false")],
                &[OrderBy::desc("id")]
            ),
            vec![4, 2]
        );
    }

    #[test]
    fn bad_filters_name_the_problem() {
        let d = data();
        let scope = Scope {
            data: &d,
            name: "t",
            fields: None,
        };
        let err = |f: Filter| compile(scope, &[f], &[], Semantics::DEFAULT).unwrap_err().0;
        assert!(err(Filter::column("nope", FilterOp::Eq, "1")).contains("unknown column 'nope'"));
        assert!(
            err(Filter::column("score", FilterOp::Gt, "high")).contains("'high' is not a number")
        );
        assert!(err(Filter::column("ok", FilterOp::Eq, "yes")).contains("not true or false"));
        assert!(
            err(Filter::column(
                "name",
                FilterOp::Other("LIKEISH".into()),
                "x"
            ))
            .contains("unknown operator 'LIKEISH'")
        );
        assert!(
            err(Filter::column("name", FilterOp::RegexMatch, "("))
                .contains("invalid regular expression")
        );
        assert!(
            err(Filter::label("s", "confidence", FilterOp::Gt, "0.5")).contains("needs a task")
        );
        let e = compile(scope, &[], &[OrderBy::asc("zzz")], Semantics::DEFAULT)
            .unwrap_err()
            .0;
        assert!(e.contains("unknown column 'zzz' in order_bys"), "{e}");
    }
}
