//! Evaluating a compiled query over a dataset's rows (and a task's labels).

use std::cmp::Ordering;

use refuel_client::models::FilterOp;

use super::compile::{CompiledQuery, LabelKind, Operand, Predicate, SortKey, Source, words};
use crate::store::labels::LabelSet;
use crate::store::{Cell, DatasetData};

static NULL: Cell = Cell::Null;

/// The rows of a dataset with, optionally, a task's labels.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
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
    pub fn value(&self, src: Source, i: u32) -> &'a Cell {
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
pub fn evaluate(rows: Rows<'_>, query: &CompiledQuery) -> Vec<u32> {
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
                .all(|p| matches(p, rows, i))
                .then_some(i)
        })
        .collect();
    if !query.sort.is_empty() {
        // A stable sort of indices already in insertion order: ties keep that order.
        out.sort_by(|a, b| compare_rows(&query.sort, rows, *a, *b));
    }
    out
}

fn compare_rows(keys: &[SortKey], rows: Rows<'_>, a: u32, b: u32) -> Ordering {
    for key in keys {
        let (x, y) = (rows.value(key.src, a), rows.value(key.src, b));
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            // NULLs last ascending, first descending.
            (true, false) => {
                if key.desc {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if key.desc {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = x.compare(y);
                if key.desc { o.reverse() } else { o }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Compares two non-NULL values of possibly different kinds (a label with a column):
/// by value when both are numbers or both strings, else by their text.
fn compare_loose(a: &Cell, b: &Cell) -> Ordering {
    let numeric = |c: &Cell| matches!(c, Cell::Int(_) | Cell::Float(_));
    if (numeric(a) && numeric(b)) || std::mem::discriminant(a) == std::mem::discriminant(b) {
        return a.compare(b);
    }
    match (a.render(), b.render()) {
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => a.compare(b),
    }
}

fn matches(p: &Predicate, rows: Rows<'_>, i: u32) -> bool {
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
            let ord = compare_loose(c, v);
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
        Predicate::In { src, values } => {
            let c = rows.value(*src, i);
            !c.is_null()
                && values
                    .iter()
                    .any(|v| compare_loose(c, v) == Ordering::Equal)
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

    fn data() -> DatasetData {
        let table = crate::ingest::Table {
            columns: vec![
                ("id".into(), ColumnType::Number),
                ("name".into(), ColumnType::String),
                ("score".into(), ColumnType::Number),
                ("ok".into(), ColumnType::Boolean),
            ],
            rows: vec![
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
        };
        let mut d = DatasetData::default();
        let (c, t): (Vec<String>, Vec<ColumnType>) = table.columns.into_iter().unzip();
        d.columns = c.into();
        d.types = t.into();
        d.live = table.rows.len();
        d.rows = table
            .rows
            .into_iter()
            .map(|r| Some(r.into_boxed_slice()))
            .collect();
        d
    }

    fn run(filters: &[Filter], orders: &[OrderBy]) -> Vec<u32> {
        let d = data();
        let q = compile(
            Scope {
                data: &d,
                name: "t",
                fields: None,
            },
            filters,
            orders,
        )
        .unwrap();
        evaluate(
            Rows {
                data: &d,
                labels: None,
            },
            &q,
        )
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
        let err = |f: Filter| compile(scope, &[f], &[]).unwrap_err().detail;
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
        let e = compile(scope, &[], &[OrderBy::asc("zzz")])
            .unwrap_err()
            .detail;
        assert!(e.contains("unknown column 'zzz' in order_bys"), "{e}");
    }
}
