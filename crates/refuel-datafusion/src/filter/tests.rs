//! The translation, case by case.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, Operator, binary_expr, col, lit};
use refuel_client::models::{ColumnType, DatasetSchema, FieldType, Subtask, Task};
use serde_json::json;

use super::*;

fn cols() -> TableColumns {
    let schema = DatasetSchema::from_columns([
        ("s", ColumnType::String),
        ("n", ColumnType::Number),
        ("b", ColumnType::Boolean),
        ("gold", ColumnType::String),
    ]);
    let task = Task {
        id: "t".into(),
        task_name: "task".into(),
        project_id: None,
        dataset_id: None,
        context: None,
        model: None,
        task_type: None,
        subtasks: vec![Subtask {
            id: "f1".into(),
            name: "sent".into(),
            field_type: FieldType::Classification,
            guidelines: None,
            labels: Some(vec!["pos".into(), "neg".into()]),
            input_columns: vec!["s".into()],
            default_value: None,
            label_column: Some("gold".into()),
        }],
        transforms: None,
        status: None,
        created_at: None,
        updated_at: None,
    };
    TableColumns::for_task(&schema, &task).unwrap()
}

/// The filters as compact JSON, and the exactness, for a server with our emulator's
/// semantics; `None` when not pushed.
fn t(e: Expr) -> Option<(String, Exactness)> {
    t_with(e, &ServerSemantics::emulator())
}

fn t_with(e: Expr, sem: &ServerSemantics) -> Option<(String, Exactness)> {
    translate(&e, &cols(), sem).map(|p| {
        let shown: Vec<String> = p.filters.iter().map(Filter::to_query_value).collect();
        (shown.join(" & "), p.exactness)
    })
}

/// What a predicate becomes for a server we know nothing about.
fn conservative(e: Expr) -> Option<Exactness> {
    t_with(e, &ServerSemantics::conservative()).map(|(_, x)| x)
}

fn exact(e: Expr) -> String {
    match t(e.clone()) {
        Some((f, Exactness::Exact)) => f,
        other => panic!("{e} should be exact, got {other:?}"),
    }
}

fn inexact(e: Expr) -> String {
    match t(e.clone()) {
        Some((f, Exactness::Inexact)) => f,
        other => panic!("{e} should be inexact, got {other:?}"),
    }
}

fn none(e: Expr) {
    assert_eq!(t(e.clone()), None, "{e} should not be pushed");
}

fn m(field: &str, op: &str, value: serde_json::Value) -> String {
    json!({"filter_type": "metadata", "field": field, "operator": op, "value": value}).to_string()
}

/// A unary metadata filter: the Python SDK sends `"value": ""` when none is given.
fn m0(field: &str, op: &str) -> String {
    json!({"filter_type": "metadata", "field": field, "operator": op, "value": ""}).to_string()
}

fn l(field: &str, op: &str, value: serde_json::Value, vt: &str) -> String {
    json!({"filter_type": "label", "field": field, "operator": op, "value": value, "subtask_id": "f1", "value_type": vt}).to_string()
}

#[test]
fn string_comparisons_are_exact() {
    assert_eq!(exact(col("s").eq(lit("a"))), m("s", "=", json!("a")));
    assert_eq!(exact(col("s").not_eq(lit("a"))), m("s", "<>", json!("a")));
    assert_eq!(exact(col("s").lt(lit("a"))), m("s", "<", json!("a")));
    assert_eq!(exact(col("s").lt_eq(lit("a"))), m("s", "<=", json!("a")));
    assert_eq!(exact(col("s").gt(lit("a"))), m("s", ">", json!("a")));
    assert_eq!(exact(col("s").gt_eq(lit("a"))), m("s", ">=", json!("a")));
    // Literal on the left: the operator flips.
    assert_eq!(exact(lit("a").lt(col("s"))), m("s", ">", json!("a")));
    assert_eq!(exact(lit("a").gt_eq(col("s"))), m("s", "<=", json!("a")));
    assert_eq!(
        exact(col("s").eq(lit(ScalarValue::Utf8View(Some("v".into()))))),
        m("s", "=", json!("v"))
    );
    assert_eq!(
        exact(col("s").eq(lit("%_ odd \"quotes\""))),
        m("s", "=", json!("%_ odd \"quotes\""))
    );
}

#[test]
fn literals_of_another_kind_are_not_pushed() {
    none(col("s").eq(lit(5)));
    none(col("n").eq(lit("5")));
    none(col("b").eq(lit(1)));
    none(col("n").eq(lit(f64::NAN)));
    none(col("n").eq(lit(f64::INFINITY)));
    none(col("s").eq(lit(ScalarValue::Utf8(None))));
    none(col("s").eq(col("gold")));
    none(col("nope").eq(lit("a")));
}

#[test]
fn numbers_travel_as_round_trip_text() {
    assert_eq!(exact(col("n").eq(lit(5))), m("n", "=", json!("5")));
    assert_eq!(exact(col("n").gt(lit(5.0))), m("n", ">", json!("5")));
    assert_eq!(exact(col("n").gt(lit(0.1))), m("n", ">", json!("0.1")));
    assert_eq!(exact(col("n").lt(lit(-2.5f32))), m("n", "<", json!("-2.5")));
    assert_eq!(
        exact(col("n").lt_eq(lit(1e300))),
        m("n", "<=", json!("1e300"))
    );
    // Integer literals of 2^53 or more stay in DataFusion (the API compares doubles);
    // doubles are doubles on both sides.
    none(col("n").eq(lit(9_007_199_254_740_993i64)));
    none(col("n").gt(lit(-9_007_199_254_740_992i64)));
    none(col("n").lt(lit(u64::MAX)));
    assert_eq!(
        exact(col("n").gt(lit(9_007_199_254_740_991i64))),
        m("n", ">", json!("9007199254740991"))
    );
    assert_eq!(
        exact(col("n").eq(lit(9_007_199_254_740_992f64))),
        m("n", "=", json!("9007199254740992.0"))
    );
    assert_eq!(exact(col("n").not_eq(lit(7u8))), m("n", "<>", json!("7")));
}

#[test]
fn nulls_and_booleans() {
    assert_eq!(exact(col("s").is_null()), m0("s", "IS NULL"));
    assert_eq!(exact(col("n").is_not_null()), m0("n", "IS NOT NULL"));
    assert_eq!(exact(col("b")), m("b", "=", json!("true")));
    assert_eq!(
        exact(Expr::Not(Box::new(col("b")))),
        m("b", "=", json!("false"))
    );
    assert_eq!(exact(col("b").is_true()), m("b", "=", json!("true")));
    assert_eq!(exact(col("b").is_false()), m("b", "=", json!("false")));
    assert_eq!(exact(col("b").eq(lit(false))), m("b", "=", json!("false")));
    none(col("b").is_not_true());
    none(col("b").is_not_false());
    none(col("s")); // not a boolean
    none(Expr::Not(Box::new(col("s").eq(lit("a")))));
}

#[test]
fn in_lists_between_and_ors() {
    assert_eq!(exact(col("s").in_list(vec![lit("a"), lit("b")], false)), json!({"filter_type": "metadata", "field": "s", "operator": "IN", "value": ["a", "b"], "value_type": "list"}).to_string());
    // NULL never matches IN.
    assert_eq!(exact(col("n").in_list(vec![lit(1), lit(ScalarValue::Int64(None))], false)), json!({"filter_type": "metadata", "field": "n", "operator": "IN", "value": ["1"], "value_type": "list"}).to_string());
    assert_eq!(
        exact(col("n").in_list(vec![lit(1), lit(2)], true)),
        format!(
            "{} & {}",
            m("n", "<>", json!("1")),
            m("n", "<>", json!("2"))
        )
    );
    none(col("n").in_list(vec![lit(1), lit(ScalarValue::Int64(None))], true));
    none(col("n").in_list(vec![lit("x")], false));
    assert_eq!(
        exact(col("n").between(lit(1), lit(5))),
        format!(
            "{} & {}",
            m("n", ">=", json!("1")),
            m("n", "<=", json!("5"))
        )
    );
    none(col("n").not_between(lit(1), lit(5)));
    assert_eq!(exact(col("s").eq(lit("a")).or(col("s").eq(lit("b"))).or(lit("c").eq(col("s")))), json!({"filter_type": "metadata", "field": "s", "operator": "IN", "value": ["a", "b", "c"], "value_type": "list"}).to_string());
    none(col("s").eq(lit("a")).or(col("gold").eq(lit("b"))));
    none(col("s").eq(lit("a")).or(col("s").gt(lit("b"))));
    assert_eq!(
        exact(col("s").eq(lit("a")).and(col("n").gt(lit(1)))),
        format!("{} & {}", m("s", "=", json!("a")), m("n", ">", json!("1")))
    );
    assert_eq!(
        inexact(col("s").like(lit("a%")).and(col("n").gt(lit(1)))),
        format!(
            "{} & {}",
            m("s", "LIKE", json!("a")),
            m("n", ">", json!("1"))
        )
    );
    none(col("s").eq(lit("a")).and(col("s").eq(col("gold"))));
}

#[test]
fn like_patterns() {
    assert_eq!(
        exact(col("s").like(lit("%abc%"))),
        m("s", "LIKE", json!("abc"))
    );
    assert_eq!(
        exact(col("s").not_like(lit("%abc%"))),
        m("s", "NOT LIKE", json!("abc"))
    );
    assert_eq!(exact(col("s").like(lit("abc"))), m("s", "=", json!("abc")));
    assert_eq!(
        exact(col("s").not_like(lit("abc"))),
        m("s", "<>", json!("abc"))
    );
    assert_eq!(
        inexact(col("s").like(lit("abc%"))),
        m("s", "LIKE", json!("abc"))
    );
    assert_eq!(
        inexact(col("s").like(lit("%abc"))),
        m("s", "LIKE", json!("abc"))
    );
    assert_eq!(
        inexact(col("s").like(lit("a%bcd_e"))),
        m("s", "LIKE", json!("bcd"))
    );
    assert_eq!(
        inexact(col("s").like(lit("%a_c%"))),
        m("s", "LIKE", json!("a"))
    );
    none(col("s").like(lit("%")));
    none(col("s").like(lit("_%_")));
    none(col("s").not_like(lit("abc%")));
    none(col("s").like(lit("%a\\%b%")));
    none(col("n").like(lit("%1%")));
    // ILIKE: a superset with an ASCII needle, never exact; NOT ILIKE never.
    assert_eq!(
        inexact(col("s").ilike(lit("%AbC%"))),
        m("s", "ILIKE", json!("AbC"))
    );
    assert_eq!(
        inexact(col("s").ilike(lit("abc"))),
        m("s", "ILIKE", json!("abc"))
    );
    assert_eq!(
        inexact(col("s").ilike(lit("ab%c"))),
        m("s", "ILIKE", json!("ab"))
    );
    none(col("s").ilike(lit("%çé%")));
    none(col("s").not_ilike(lit("%abc%")));
    let escaped = Expr::Like(Like::new(
        false,
        Box::new(col("s")),
        Box::new(lit("%a%")),
        Some('!'),
        false,
    ));
    none(escaped);
}

#[test]
fn regexes() {
    assert_eq!(
        exact(binary_expr(col("s"), Operator::RegexIMatch, lit("^a.*b$"))),
        m("s", "~*", json!("^a.*b$"))
    );
    assert_eq!(
        exact(binary_expr(col("s"), Operator::RegexNotIMatch, lit("x"))),
        m("s", "!~*", json!("x"))
    );
    assert_eq!(
        inexact(binary_expr(col("s"), Operator::RegexMatch, lit("A+"))),
        m("s", "~*", json!("A+"))
    );
    none(binary_expr(col("s"), Operator::RegexNotMatch, lit("x")));
    none(binary_expr(col("n"), Operator::RegexIMatch, lit("1")));
}

#[test]
fn label_columns() {
    assert_eq!(
        exact(col("sent_llm_label").eq(lit("pos"))),
        l("llm_label", "=", json!("pos"), "string")
    );
    // The final label is no filter field of the SDK's.
    none(col("sent_label").not_eq(lit("pos")));
    none(col("sent_label").eq(lit("pos")));
    assert_eq!(
        exact(col("sent_confidence").gt_eq(lit(0.8))),
        l("confidence", ">=", json!("0.8"), "string")
    );
    assert_eq!(
        exact(lit(0.5).gt(col("sent_confidence"))),
        l("confidence", "<", json!("0.5"), "string")
    );
    assert_eq!(
        exact(col("sent_llm_label").is_null()),
        l("llm_label", "IS NULL", json!(""), "string")
    );
    assert_eq!(
        exact(col("sent_llm_label").like(lit("%po%"))),
        l("llm_label", "LIKE", json!("po"), "string")
    );
    assert_eq!(
        exact(col("sent_llm_label").in_list(vec![lit("pos"), lit("neg")], false)),
        l("llm_label", "IN", json!(["pos", "neg"]), "list")
    );
    none(col("sent_label").in_list(vec![lit("pos"), lit("neg")], false));
    // A label compared with a string column of the same row.
    assert_eq!(
        exact(col("sent_llm_label").not_eq(col("gold"))),
        l("llm_label", "<>", json!("gold"), "metadata")
    );
    assert_eq!(
        exact(col("gold").eq(col("sent_llm_label"))),
        l("llm_label", "=", json!("gold"), "metadata")
    );
    none(col("gold").eq(col("sent_label")));
    none(col("sent_confidence").eq(col("n")));
    none(col("sent_llm_label").eq(col("n")));
    none(col("sent_explanation").like(lit("%x%")));
    none(col("sent_explanation").is_null());
}

#[test]
fn verified_columns() {
    let v = |op: &str| l("llm_label", op, json!(""), "string");
    assert_eq!(exact(col("sent_verified")), v("IS VERIFIED"));
    assert_eq!(exact(col("sent_verified").is_true()), v("IS VERIFIED"));
    assert_eq!(exact(col("sent_verified").eq(lit(true))), v("IS VERIFIED"));
    assert_eq!(
        exact(col("sent_verified").not_eq(lit(true))),
        v("IS NOT VERIFIED")
    );
    assert_eq!(
        exact(Expr::Not(Box::new(col("sent_verified")))),
        v("IS NOT VERIFIED")
    );
    assert_eq!(exact(col("sent_verified").is_false()), v("IS NOT VERIFIED"));
    assert_eq!(
        exact(col("sent_verified").is_not_true()),
        v("IS NOT VERIFIED")
    );
    assert_eq!(exact(col("sent_verified").is_not_false()), v("IS VERIFIED"));
    none(col("sent_verified").is_null());
    none(col("sent_verified").in_list(vec![lit(true)], false));
    none(col("sent_verified").lt(lit(true)));
}

#[test]
fn a_server_we_know_nothing_about() {
    use Exactness::{Exact, Inexact};
    // Text: equality keeps a superset under any collation; order comparisons are not pushed.
    assert_eq!(conservative(col("s").eq(lit("a"))), Some(Inexact));
    assert_eq!(
        conservative(col("s").in_list(vec![lit("a"), lit("b")], false)),
        Some(Inexact)
    );
    assert_eq!(
        conservative(col("s").eq(lit("a")).or(col("s").eq(lit("b")))),
        Some(Inexact)
    );
    assert_eq!(conservative(col("s").like(lit("abc"))), Some(Inexact));
    assert_eq!(conservative(col("s").not_eq(lit("a"))), None);
    assert_eq!(conservative(col("s").not_like(lit("abc"))), None);
    assert_eq!(conservative(col("s").lt(lit("a"))), None);
    assert_eq!(conservative(col("s").between(lit("a"), lit("b"))), None);
    assert_eq!(conservative(col("s").in_list(vec![lit("a")], true)), None);
    assert_eq!(
        conservative(col("sent_llm_label").eq(col("gold"))),
        Some(Inexact)
    );
    assert_eq!(
        conservative(col("sent_llm_label").not_eq(col("gold"))),
        None
    );
    // Substrings: a superset whatever the server does with wildcards and case.
    assert_eq!(conservative(col("s").like(lit("%a_c%"))), Some(Inexact));
    assert_eq!(conservative(col("s").like(lit("%abc%"))), Some(Inexact));
    assert_eq!(conservative(col("s").not_like(lit("%abc%"))), None);
    // Regular expressions: the dialect is unknown.
    assert_eq!(
        conservative(binary_expr(col("s"), Operator::RegexIMatch, lit("a.c"))),
        None
    );
    // Numbers, booleans, NULLs, verification.
    assert_eq!(conservative(col("n").gt(lit(2))), Some(Exact));
    assert_eq!(conservative(col("b").eq(lit(true))), Some(Exact));
    assert_eq!(conservative(col("s").is_null()), Some(Exact));
    assert_eq!(conservative(col("sent_verified")), Some(Exact));
    // AND: exact only when both sides are.
    assert_eq!(
        conservative(col("n").gt(lit(2)).and(col("s").eq(lit("a")))),
        Some(Inexact)
    );
    let numbers_unknown: ServerSemantics = "number_order=unknown".parse().unwrap();
    assert_eq!(t_with(col("n").gt(lit(2)), &numbers_unknown), None);
}

#[test]
fn pushed_predicates_name_what_they_assume() {
    let assumes = |e: Expr| {
        translate(&e, &cols(), &ServerSemantics::emulator())
            .map(|p| p.assumes.into_iter().collect::<Vec<_>>())
    };
    assert_eq!(
        assumes(col("s").lt(lit("a"))),
        Some(vec!["text_order=binary"])
    );
    assert_eq!(
        assumes(col("n").gt(lit(1)).and(col("s").like(lit("%a%")))),
        Some(vec!["like=literal", "number_order=numeric"])
    );
    assert_eq!(assumes(col("s").is_null()), Some(vec![]));
}

#[test]
fn columns_of_a_label_table() {
    let c = cols();
    let names: Vec<&str> = c
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "s",
            "n",
            "b",
            "gold",
            "sent_label",
            "sent_llm_label",
            "sent_confidence",
            "sent_explanation",
            "sent_verified"
        ]
    );
    assert!(
        !c.schema
            .field_with_name("sent_verified")
            .unwrap()
            .is_nullable()
    );
    let schema = DatasetSchema::from_columns([("sent_label", ColumnType::String)]);
    let mut task = Task {
        id: "t".into(),
        task_name: "task".into(),
        project_id: None,
        dataset_id: None,
        context: None,
        model: None,
        task_type: None,
        subtasks: Vec::new(),
        transforms: None,
        status: None,
        created_at: None,
        updated_at: None,
    };
    task.subtasks.push(Subtask {
        id: "f".into(),
        name: "sent".into(),
        field_type: FieldType::Classification,
        guidelines: None,
        labels: None,
        input_columns: Vec::new(),
        default_value: None,
        label_column: None,
    });
    assert!(
        TableColumns::for_task(&schema, &task)
            .unwrap_err()
            .contains("sent_label")
    );
}
