//! `refuel_label(...)` in SQL: the same answers as `applications().label`, in row order;
//! duplicates and NULLs send nothing; LIMIT bounds what is labeled, with and without a
//! filter on the result; `on_error` both ways; `max_rows`; multilabel and extraction
//! fields; use in WHERE, GROUP BY, CTAS, and over a file table; planning errors.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::models::{FieldType, ItemQuery, Row};
use refuel::client::{LabelOptions, RefuelClient, TaskField};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::EmulatorHandle;
use serde_json::json;

use super::{error_of, run};
use crate::common::*;

const LABEL_ROUTE: &str = "POST /applications/{application_id}/label";

/// Ticket texts: 30% repeat an earlier one's input; every tenth row's inputs are NULL.
fn tickets(n: usize) -> Vec<Row> {
    let words = [
        "great phone, love it",
        "broken screen, refund please",
        "late delivery and awful box",
        "perfect fit, excellent price $25",
        "arrived on tuesday",
        "love the color but broken strap $40",
    ];
    (0..n)
        .map(|i| {
            let text = if i % 10 == 9 {
                serde_json::Value::Null
            } else if i % 10 >= 6 {
                // A repeat of an earlier row's input.
                json!(format!("{} #{}", words[i % 6], (i / 10) * 10 + i % 3))
            } else {
                json!(format!("{} #{i}", words[i % 6]))
            };
            let source = match (i % 10, i % 2) {
                (9, _) => serde_json::Value::Null,
                (_, 0) => json!("email"),
                _ => json!("chat"),
            };
            json!({"id": i, "text": text, "source": source})
                .as_object()
                .unwrap()
                .clone()
        })
        .collect()
}

/// A project `p` with `tickets` (n rows) and the application `triage` over `text` and
/// `source`: a classification, a multilabel and an extraction field.
async fn setup(n: usize) -> (EmulatorHandle, RefuelClient, SessionContext, Vec<Row>) {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = tickets(n);
    upload_csv(&c, dir.path(), "tickets", &to_csv(&rows)).await;
    c.tasks()
        .create(
            "triage",
            "tickets",
            "Route support tickets.",
            &[
                TaskField::new("sentiment", FieldType::Classification)
                    .labels(["positive", "negative"])
                    .guidelines("positive: great, love, perfect, excellent\nnegative: broken, refund, late, awful")
                    .input_column("text")
                    .fallback_value("unsure"),
                TaskField::new("topics", FieldType::MultilabelClassification)
                    .labels(["shipping", "quality", "price"])
                    .guidelines("shipping: delivery, late, arrived, box\nquality: broken, perfect, great\nprice: price, refund")
                    .input_column("text"),
                TaskField::new("price", FieldType::AttributeExtraction)
                    .guidelines("regex: \\$(\\d+)")
                    .input_column("text"),
                TaskField::new("channel", FieldType::Classification)
                    .labels(["email", "chat"])
                    .guidelines("email: email\nchat: chat")
                    .input_column("source"),
            ],
            Some("GPT-4o"),
        )
        .await
        .unwrap();
    c.applications().deploy("triage", None).await.unwrap();
    let ctx = SessionContext::new_with_config(
        SessionConfig::new()
            .with_target_partitions(2)
            .with_default_catalog_and_schema("refuel", "p"),
    );
    ctx.register_refuel("refuel", c.clone()).await.unwrap();
    refuel::datafusion::enable_lake(&ctx).unwrap();
    (emu, c, ctx, rows)
}

async fn collect(
    ctx: &SessionContext,
    sql: &str,
) -> Vec<datafusion::arrow::record_batch::RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn label_requests(emu: &EmulatorHandle) -> u64 {
    count(&stats(emu.url()).await, LABEL_ROUTE)
}

/// One row of labels as compared: sentiment (label, confidence), topics, price, channel.
type Labels = (
    Option<String>,
    Option<f64>,
    Option<Vec<String>>,
    Option<String>,
    Option<String>,
);

const LABEL_COLUMNS: &str = "l['sentiment']['label'] AS s, l['sentiment']['confidence'] AS c, \
     l['topics']['label'] AS t, l['price']['label'] AS p, l['channel']['label'] AS ch";

fn labels_of(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> Vec<(i64, Option<Labels>)> {
    let mut out = Vec::new();
    for b in batches {
        let ids = b
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let s = b.column(1).as_string::<i32>();
        let c = b.column(2).as_primitive::<Float64Type>();
        let t = b.column(3).as_list::<i32>();
        let p = b.column(4).as_string::<i32>();
        let ch = b.column(5).as_string::<i32>();
        for i in 0..b.num_rows() {
            let text = |a: &datafusion::arrow::array::StringArray| {
                (!a.is_null(i)).then(|| a.value(i).to_string())
            };
            let row = if s.is_null(i) && c.is_null(i) && t.is_null(i) {
                None
            } else {
                let topics = (!t.is_null(i)).then(|| {
                    let v = t.value(i);
                    let v = v.as_string::<i32>();
                    (0..v.len()).map(|j| v.value(j).to_string()).collect()
                });
                Some((
                    text(s),
                    (!c.is_null(i)).then(|| c.value(i)),
                    topics,
                    text(p),
                    text(ch),
                ))
            };
            out.push((ids.value(i), row));
        }
    }
    out
}

fn client_labels(out: &refuel::client::models::LabelOutput) -> Labels {
    let f = |name: &str| out.refuel_fields.get(name);
    let one = |name: &str| {
        f(name)
            .and_then(|o| o.label.first().cloned())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    (
        one("sentiment"),
        f("sentiment").and_then(|o| o.confidence),
        f("topics").map(|o| {
            o.label
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        }),
        one("price"),
        one("channel"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_equal_the_clients_in_row_order_and_duplicates_and_nulls_send_nothing() {
    let (emu, c, ctx, rows) = setup(60).await;
    reset_stats(emu.url()).await;
    let batches = collect(
        &ctx,
        &format!(
            "SELECT id, {LABEL_COLUMNS} FROM \
             (SELECT id, refuel_label('triage', text, source) AS l FROM tickets) ORDER BY id"
        ),
    )
    .await;
    let got = labels_of(&batches);
    assert_eq!(got.len(), 60);
    // Distinct non-NULL inputs, each sent once.
    let inputs: Vec<Option<Row>> = rows
        .iter()
        .map(|r| {
            (!r["text"].is_null()).then(|| {
                json!({"text": r["text"], "source": r["source"]})
                    .as_object()
                    .unwrap()
                    .clone()
            })
        })
        .collect();
    let mut distinct: Vec<String> = inputs
        .iter()
        .flatten()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() < 50, "the data has duplicates");
    assert_eq!(label_requests(&emu).await, distinct.len() as u64);

    // The same answers as the client's, row by row; NULL inputs are NULL.
    let present: Vec<Row> = inputs.iter().flatten().cloned().collect();
    let answers = c
        .applications()
        .label("triage", &present, &LabelOptions::new())
        .await
        .unwrap();
    let mut answers = answers.into_iter();
    for ((id, labels), input) in got.iter().zip(&inputs) {
        match input {
            None => assert_eq!(labels, &None, "row {id}"),
            Some(_) => {
                let want = client_labels(&answers.next().unwrap().unwrap());
                assert_eq!(labels.as_ref(), Some(&want), "row {id}");
            }
        }
    }
    // Multilabel and extraction fields carry values.
    assert!(got.iter().any(|(_, l)| {
        l.as_ref()
            .is_some_and(|l| l.2.as_ref().is_some_and(|t| t.len() > 1))
    }));
    assert!(
        got.iter()
            .any(|(_, l)| l.as_ref().is_some_and(|l| l.3.as_deref() == Some("25")))
    );

    // The struct form binds by name.
    let named = collect(
        &ctx,
        &format!(
            "SELECT id, {LABEL_COLUMNS} FROM (SELECT id, refuel_label('triage', \
             named_struct('source', source, 'text', text)) AS l FROM tickets) ORDER BY id"
        ),
    )
    .await;
    assert_eq!(labels_of(&named), got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_bound_what_is_labeled() {
    let (emu, _c, ctx, _rows) = setup(400).await;
    ctx.sql("SET refuel.label.batch_size = 4").await.unwrap();

    // A LIMIT directly above: no more than the limit labeled; EXPLAIN shows the batch.
    let sql = "SELECT id, refuel_label('triage', text, source) AS l FROM tickets LIMIT 5";
    let plan = run(&ctx, &format!("EXPLAIN {sql}")).await;
    // The limit reaches the scan, or stops the labeling node itself.
    assert!(plan.contains("RefuelLabelExec: batch_size=4"), "{plan}");
    assert!(
        plan.contains("limit=5") || plan.contains("fetch=5"),
        "{plan}"
    );
    reset_stats(emu.url()).await;
    let got = collect(&ctx, sql).await;
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    assert!(label_requests(&emu).await <= 5);

    // Over a join: the limit reaches the labeling node or its input.
    let sql = "SELECT a.id, refuel_label('triage', a.text, a.source) AS l \
               FROM tickets a JOIN tickets b ON a.id = b.id LIMIT 5";
    let plan = run(&ctx, &format!("EXPLAIN {sql}")).await;
    assert!(plan.contains("fetch=5"), "{plan}");
    reset_stats(emu.url()).await;
    let got = collect(&ctx, sql).await;
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    assert!(label_requests(&emu).await <= 5);

    // With OFFSET too.
    reset_stats(emu.url()).await;
    let got = collect(
        &ctx,
        "SELECT id, refuel_label('triage', text, source) AS l FROM tickets LIMIT 3 OFFSET 4",
    )
    .await;
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    assert!(label_requests(&emu).await <= 7);

    // A filter on the result: labeling stops once the limit is met (a few batches in
    // flight beyond it at most), far short of the 400 rows.
    reset_stats(emu.url()).await;
    let got = collect(
        &ctx,
        "SELECT id FROM tickets WHERE refuel_label('triage', text, source)['sentiment']['label'] = 'negative' LIMIT 3",
    )
    .await;
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let sent = label_requests(&emu).await;
    assert!((3..=40).contains(&sent), "{sent} label requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_follow_on_error_and_max_rows_bounds_the_inputs_sent() {
    let (emu, _c, ctx, _rows) = setup(20).await;
    let sql = "SELECT id, refuel_label('triage', text, source)['sentiment'] AS s FROM tickets ORDER BY id";

    // 'fail' (the default): the query fails, naming the application.
    inject(emu.url(), fault(400, 1, "POST", "/applications/")).await;
    let err = error_of(&ctx, sql).await;
    assert!(
        err.contains("refuel_label with application 'triage'"),
        "{err}"
    );
    assert!(err.contains("on_error"), "{err}");

    // 'null': the failed input has NULL labels and its message; the others are labeled.
    ctx.sql("SET refuel.label.on_error = 'null'").await.unwrap();
    inject(emu.url(), fault(400, 1, "POST", "/applications/")).await;
    let batches = collect(
        &ctx,
        "SELECT id, s['label'] AS label, s['error'] AS error FROM \
         (SELECT id, refuel_label('triage', text, source)['sentiment'] AS s FROM tickets) ORDER BY id",
    )
    .await;
    let mut failed = 0;
    let mut labeled = 0;
    // One request fails: its input (and any row repeating it) gets the error.
    for b in &batches {
        let label = b.column(1).as_string::<i32>();
        let error = b.column(2).as_string::<i32>();
        for i in 0..b.num_rows() {
            if !error.is_null(i) {
                failed += 1;
                assert!(label.is_null(i));
                assert!(!error.value(i).is_empty());
            } else if !label.is_null(i) {
                labeled += 1;
            }
        }
    }
    assert!(failed >= 1);
    assert_eq!(failed + labeled, 18, "20 rows, 2 with NULL inputs");

    // max_rows: the query fails before sending more distinct inputs than allowed.
    ctx.sql("SET refuel.label.max_rows = 3").await.unwrap();
    reset_stats(emu.url()).await;
    let err = error_of(&ctx, sql).await;
    assert!(err.contains("refuel.label.max_rows = 3"), "{err}");
    assert!(label_requests(&emu).await <= 3);
    ctx.sql("SET refuel.label.max_rows = 1000").await.unwrap();
    collect(&ctx, sql).await;

    // Bad option values are named.
    let err = error_of(&ctx, "SET refuel.label.on_error = 'skip'").await;
    assert!(err.contains("'skip' is not 'fail' or 'null'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_errors_and_use_across_sql() {
    let (_emu, c, ctx, _rows) = setup(30).await;
    let err = error_of(&ctx, "SELECT refuel_label('nope', text) FROM tickets").await;
    assert!(
        err.contains("application 'nope' not found in project 'p' (applications: triage)"),
        "{err}"
    );
    let err = error_of(&ctx, "SELECT refuel_label('triage', text) FROM tickets").await;
    assert!(
        err.contains("application 'triage' (input columns: text, source) takes 2 inputs after its name, got 1"),
        "{err}"
    );
    let err = error_of(
        &ctx,
        "SELECT refuel_label('triage', named_struct('body', text)) FROM tickets",
    )
    .await;
    assert!(
        err.contains("'body' is no input column of application 'triage'"),
        "{err}"
    );
    let err = error_of(&ctx, "SELECT refuel_label(source, text) FROM tickets").await;
    assert!(err.contains("string literal"), "{err}");

    // An application deployed after the session started is found.
    c.applications()
        .deploy("triage", Some("triage-2"))
        .await
        .unwrap();
    collect(
        &ctx,
        "SELECT refuel_label('triage-2', text, source) FROM tickets LIMIT 1",
    )
    .await;

    // In WHERE and GROUP BY.
    let by_label = run(
        &ctx,
        "SELECT refuel_label('triage', text, source)['channel']['label'] AS ch, count(*) AS n \
         FROM tickets GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert!(by_label.contains("| chat  | 12 |"), "{by_label}");
    assert!(by_label.contains("| email | 15 |"), "{by_label}");
    let positive = run(
        &ctx,
        "SELECT count(*) AS n FROM tickets WHERE refuel_label('triage', text, source)['sentiment']['label'] = 'positive'",
    )
    .await;
    assert!(!positive.contains("| 0 |"), "{positive}");

    // CTAS into a new dataset.
    collect(
        &ctx,
        "CREATE TABLE refuel.p.triaged AS SELECT id, \
         refuel_label('triage', text, source)['sentiment']['label'] AS sentiment FROM tickets",
    )
    .await;
    let stored = c
        .items()
        .query("triaged", &ItemQuery::new().max_items(100))
        .await
        .unwrap();
    assert_eq!(stored.len(), 30);
    assert!(stored.iter().any(|r| r["sentiment"] == json!("negative")));

    // Over a file table (not a Refuel one).
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("new.csv");
    std::fs::write(&csv, "text,source\nlove it,chat\nbroken and late,email\n").unwrap();
    let from_file = run(
        &ctx,
        &format!(
            "SELECT text, refuel_label('triage', text, source)['sentiment']['label'] AS s \
             FROM '{}' ORDER BY text",
            csv.display()
        ),
    )
    .await;
    assert!(
        from_file.contains("| broken and late | negative |"),
        "{from_file}"
    );
    assert!(
        from_file.contains("| love it         | positive |"),
        "{from_file}"
    );
}
