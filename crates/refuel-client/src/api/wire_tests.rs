//! The handlers' requests and their reading of answers, over loopback HTTP against
//! [`crate::testing::Server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{Value, json};

use crate::models::{FieldType, Row, RunStatus};
use crate::testing::Server;
use crate::{Error, LabelOptions, TaskField, WaitOptions};

const APP: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TASK: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const DATASET: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

/// The query of a request target, decoded, in the order sent.
fn query_of(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Owned pairs, for comparing with [`query_of`].
fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn row(value: Value) -> Row {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

fn quick() -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn label_sends_one_request_per_input_and_keeps_order() {
    let server = Server::start(|req| {
        let inputs: Value = serde_json::from_str(&req.body).unwrap();
        let n = inputs[0]["n"].as_i64().unwrap();
        if n == 1 {
            return (400, r#"{"detail": "bad input"}"#.into());
        }
        let body = json!({"data": {"refuel_output": [{
            "refuel_uuid": format!("u{n}"),
            "refuel_fields": {"sentiment": {"label": ["positive"], "confidence": 0.9}}
        }]}});
        (200, body.to_string())
    })
    .await;
    let client = server.client();
    let inputs: Vec<Row> = (0..4).map(|n| row(json!({ "n": n }))).collect();
    let options = LabelOptions::new()
        .model("GPT-4o")
        .explain_fields(["sentiment"]);
    let results = client
        .applications()
        .label(APP, &inputs, &options)
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(output) if i != 1 => assert_eq!(output.refuel_uuid, Some(format!("u{i}"))),
            Err(e) if i == 1 => {
                assert_eq!(e.status().map(|s| s.as_u16()), Some(400));
                assert!(e.to_string().contains("input #1"), "{e}");
                assert!(e.to_string().contains("bad input"), "{e}");
            }
            other => panic!("input {i}: {other:?}"),
        }
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "a 400 is not retried");
    for req in &requests {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path(), format!("/applications/{APP}/label"));
        // client.py:1096-1102.
        assert_eq!(
            query_of(&req.target),
            pairs(&[
                ("application_id", APP),
                ("explain", "False"),
                ("telemetry", "False"),
                ("explain_fields", "sentiment"),
                ("model_id", "gpt-4o"),
            ])
        );
        assert_eq!(req.header("authorization"), Some("Bearer test-key"));
        let body: Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(body.as_array().map(Vec::len), Some(1));
    }
}

#[tokio::test]
async fn label_retries_a_busy_server() {
    let tries = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&tries);
    let server = Server::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            return (503, "{}".into());
        }
        (
            200,
            r#"{"data": {"refuel_output": [{"refuel_uuid": "u"}]}}"#.into(),
        )
    })
    .await;
    let client = server.client();
    let results = client
        .applications()
        .label(APP, &[row(json!({"text": "hi"}))], &LabelOptions::default())
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn async_labels_are_polled_until_done() {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&polls);
    let server = Server::start(move |req| {
        if req.method == "POST" {
            // client.py:1210-1217; unset `explain_fields` and `model_id` are absent.
            assert_eq!(
                query_of(&req.target),
                pairs(&[
                    ("application_id", APP),
                    ("explain", "False"),
                    ("telemetry", "False"),
                    ("is_async", "True"),
                ])
            );
            let body = json!({"data": {"application_id": APP, "refuel_output": [
                {"refuel_uuid": "u1", "uri": "/applications/x/items/u1"},
                {"refuel_uuid": "u2", "uri": "/applications/x/items/u2"}
            ]}});
            return (200, body.to_string());
        }
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            return (
                202,
                r#"{"data": {"refuel_uuid": "u1", "status": "pending"}}"#.into(),
            );
        }
        let body = json!({"data": {"refuel_output": [
            {"refuel_uuid": "u1", "refuel_fields": {"f": {"label": ["x"]}}}
        ]}});
        (200, body.to_string())
    })
    .await;
    let client = server.client();
    let apps = client.applications();
    let inputs = [row(json!({"a": 1})), row(json!({"a": 2}))];
    let submitted = apps
        .label_async(APP, &inputs, &LabelOptions::default())
        .await
        .unwrap();
    assert_eq!(submitted.refuel_output.len(), 2);
    assert_eq!(server.requests()[0].body, r#"[{"a":1},{"a":2}]"#);
    assert_eq!(apps.labeled_item(APP, "u1").await.unwrap(), None);
    let output = apps
        .wait_for_labeled_item(APP, "u1", quick())
        .await
        .unwrap();
    assert_eq!(output.refuel_fields["f"].label, vec![json!("x")]);
    let last = server.requests().pop().unwrap();
    assert_eq!(last.target, format!("/applications/{APP}/items/u1"));
}

#[tokio::test]
async fn feedback_maps_field_names_to_subtask_ids() {
    let server = Server::start(|req| {
        if req.method == "GET" {
            let body = json!({"data": {"id": APP, "name": "sentiment", "subtasks": [
                {"id": "s-1", "name": "sentiment", "type": "classification"}
            ]}});
            return (200, body.to_string());
        }
        (200, "{}".into())
    })
    .await;
    let client = server.client();
    let apps = client.applications();
    apps.feedback(APP, "u1", &[("sentiment", json!(["negative"]))])
        .await
        .unwrap();
    let post = server.requests().pop().unwrap();
    assert_eq!(post.target, format!("/applications/{APP}/items/u1/label"));
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(body, json!({"s-1": {"label": ["negative"]}}));
    let err = apps
        .feedback(APP, "u1", &[("mood".to_string(), json!("x"))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[tokio::test]
async fn exports_poll_through_404_and_download_without_the_key() {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&polls);
    let base = Arc::new(parking_lot::Mutex::new(String::new()));
    let link_base = Arc::clone(&base);
    let server = Server::start(move |req| match (req.method.as_str(), req.path()) {
        ("POST", _) => (200, r#"{"data": {"export_id": "e-1"}}"#.into()),
        ("GET", "/download.csv") => (200, "a,b\n1,2\n".into()),
        ("GET", "/forbidden.csv") => (
            403,
            "<Error><SignatureProvided>sig</SignatureProvided></Error>".into(),
        ),
        ("GET", _) if counter.fetch_add(1, Ordering::SeqCst) < 2 => {
            (404, r#"{"detail": "not ready"}"#.into())
        }
        ("GET", _) => {
            let link = format!("{}/download.csv?X-Amz-Signature=sig", link_base.lock());
            (200, json!({ "data": link }).to_string())
        }
        _ => (405, "{}".into()),
    })
    .await;
    *base.lock() = server.base.clone();
    let client = server.client();
    let dir = std::env::temp_dir().join(format!("refuel-export-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.csv");
    let written = client
        .exports()
        .export_to_file(DATASET, "me@example.com", Some(TASK), &path, quick())
        .await
        .unwrap();
    assert_eq!(written, 8);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n1,2\n");
    assert!(!dir.join("out.csv.part").exists());

    let requests = server.requests();
    let create = &requests[0];
    assert_eq!(create.method, "POST");
    assert_eq!(create.path(), format!("/datasets/{DATASET}/exports"));
    // client.py:590-603.
    assert_eq!(
        query_of(&create.target),
        pairs(&[
            ("dataset_id", DATASET),
            ("email_address", "me@example.com"),
            ("task_id", TASK),
            ("include_labels", "True"),
        ])
    );
    assert_eq!(create.body, "");
    let download = requests.last().unwrap();
    assert_eq!(download.path(), "/download.csv");
    assert_eq!(download.header("authorization"), None);
    assert!(
        requests[..requests.len() - 1]
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer test-key"))
    );

    let forbidden = format!("{}/forbidden.csv?X-Amz-Signature=sig", server.base);
    let err = client
        .exports()
        .download_to_file(&forbidden, dir.join("no.csv"))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    assert!(!err.to_string().contains("sig"), "{err}");
    assert!(!dir.join("no.csv").exists() && !dir.join("no.csv.part").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn run_status_merges_metrics_and_waits() {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&polls);
    let server = Server::start(move |req| {
        if req.path().ends_with("/metrics") {
            let body = json!({"data": {"task": [
                {"name": "num_labeled", "value": 5},
                {"name": "num_remaining", "value": 5},
                {"name": "time_remaining_seconds", "value": 3}
            ], "subtasks": {}}});
            return (200, body.to_string());
        }
        if req.method == "POST" {
            // A cancel the server answers with no run.
            return (200, "{}".into());
        }
        let status = match counter.fetch_add(1, Ordering::SeqCst) {
            0 => "active",
            1 => "completed",
            _ => "cancelled",
        };
        (200, json!({"data": {"status": status}}).to_string())
    })
    .await;
    let client = server.client();
    let mut seen = Vec::new();
    let run = client
        .runs()
        .wait_for_completion(TASK, DATASET, quick(), |p| seen.push(p.clone()))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.metric("num_labeled"), Some(5.0));
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].eta, Some(Duration::from_secs(3)));
    let cancelled = client.runs().cancel(TASK, DATASET).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let requests = server.requests();
    let cancel = requests.iter().find(|r| r.method == "POST").unwrap();
    // client.py:996-1001.
    assert_eq!(cancel.path(), format!("/tasks/{TASK}/runs"));
    assert_eq!(
        query_of(&cancel.target),
        pairs(&[
            ("task_id", TASK),
            ("dataset_id", DATASET),
            ("cancel_run", "True")
        ])
    );
    // client.py:892-904: the run and its metrics, each with the task and the dataset.
    let ids = pairs(&[("task_id", TASK), ("dataset_id", DATASET)]);
    let status = requests
        .iter()
        .find(|r| r.method == "GET" && !r.path().ends_with("/metrics"))
        .unwrap();
    assert_eq!(status.path(), format!("/tasks/{TASK}/runs/{DATASET}"));
    assert_eq!(query_of(&status.target), ids);
    let metrics = requests
        .iter()
        .find(|r| r.path().ends_with("/metrics"))
        .unwrap();
    assert_eq!(
        metrics.path(),
        format!("/tasks/{TASK}/runs/{DATASET}/metrics")
    );
    assert_eq!(query_of(&metrics.target), ids);
}

#[tokio::test]
async fn task_creation_checks_then_posts_settings() {
    let server = Server::start(|req| {
        if req.method == "GET" {
            let body = json!({"data": {"id": DATASET, "name": "reviews", "ingest_status": "success",
                "schema": {"type": "object", "properties": {"text": {"name": "text", "type": "string"}}}}});
            return (200, body.to_string());
        }
        let body = json!({"data": {"id": TASK, "task_name": "sentiment"}});
        (200, body.to_string())
    })
    .await;
    let client = server.client();
    let field = TaskField::new("label", FieldType::Classification)
        .labels(["a", "b"])
        .input_columns(["text"]);
    let task = client
        .tasks()
        .create(
            "sentiment",
            DATASET,
            "ctx",
            std::slice::from_ref(&field),
            Some("GPT-4o"),
        )
        .await
        .unwrap();
    assert_eq!(task.id, TASK);
    let post = server.requests().pop().unwrap();
    assert_eq!(
        post.target,
        "/projects/11111111-1111-4111-8111-111111111111/tasks?task_name=sentiment"
    );
    // client.py:865-880: no `id` on the new subtask, unset keys as null.
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        body,
        json!({
            "context": "ctx",
            "subtasks": [{
                "name": "label",
                "type": "classification",
                "input_columns": ["text"],
                "guidelines": null,
                "default_value": "-",
                "label_column": null,
                "labels": ["a", "b"],
            }],
            "dataset_id": DATASET,
            "model": "gpt-4o",
            "task_type": "task_chain",
        })
    );
    // A bad definition is refused before anything is sent.
    let before = server.requests().len();
    let err = client
        .tasks()
        .create("x", DATASET, "", &[field.input_column("missing")], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'missing'"), "{err}");
    let sent: Vec<String> = server.requests()[before..]
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(sent, vec!["GET"], "only the dataset is read");
}

const PROJECT: &str = "11111111-1111-4111-8111-111111111111";

/// A client of `server` asking pages of `page_size` rows.
fn client_with_pages(server: &Server, page_size: u64) -> crate::RefuelClient {
    let config = crate::ClientConfig::default()
        .with_api_key("test-key")
        .with_base_url(&server.base)
        .unwrap()
        .with_project(PROJECT)
        .with_max_workers(3)
        .with_page_size(page_size)
        .with_retry_delays(Duration::from_millis(1), Duration::from_millis(5));
    crate::RefuelClient::new(config).unwrap()
}

/// How the fake dataset of [`dataset_server`] states its count.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Total {
    /// `total_count` is the number of rows.
    Stated,
    /// No `total_count`.
    Missing,
    /// `"total_count": null`.
    Null,
    /// `"total_count": 0`, whatever the rows.
    Zero,
}

/// How the fake dataset of [`dataset_server`] pages.
#[derive(Debug, Clone, Copy)]
struct Paging {
    rows: u64,
    /// The most rows a page holds, whatever was asked (a server that cuts pages short).
    silent_cap: Option<u64>,
    /// Pages larger than this are refused with this status and a message naming
    /// `max_items`.
    refuse_above: Option<(u64, u16)>,
    total: Total,
}

impl Paging {
    fn rows(rows: u64) -> Self {
        Self {
            rows,
            silent_cap: None,
            refuse_above: None,
            total: Total::Stated,
        }
    }
}

fn param(req: &crate::testing::Seen, key: &str) -> Option<String> {
    query_of(&req.target)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn max_items_of(req: &crate::testing::Seen) -> u64 {
    param(req, "max_items").unwrap().parse().unwrap()
}

/// Answers row queries of a dataset whose rows are `{"n": 0}`, `{"n": 1}`, ...
fn dataset_server(paging: Paging) -> impl Fn(&crate::testing::Seen) -> (u16, String) {
    move |req| {
        let offset: u64 = param(req, "offset").map_or(0, |v| v.parse().unwrap());
        let max: u64 = param(req, "max_items").map_or(20, |v| v.parse().unwrap());
        if let Some((limit, status)) = paging.refuse_above {
            if max > limit {
                let body = if status == 422 {
                    // FastAPI's validation error.
                    json!({"detail": [{"loc": ["query", "max_items"],
                        "msg": format!("ensure this value is less than or equal to {limit}")}]})
                } else {
                    json!({"detail": format!("max_items must be at most {limit}")})
                };
                return (status, body.to_string());
            }
        }
        let n = max.min(paging.silent_cap.unwrap_or(u64::MAX));
        let end = offset.saturating_add(n).min(paging.rows);
        let items: Vec<Value> = (offset.min(end)..end).map(|i| json!({ "n": i })).collect();
        let mut data = json!({"id": DATASET, "name": "d", "items": items});
        match paging.total {
            Total::Stated => data["total_count"] = json!(paging.rows),
            Total::Null => data["total_count"] = Value::Null,
            Total::Zero => data["total_count"] = json!(0),
            Total::Missing => {}
        }
        (200, json!({ "data": data }).to_string())
    }
}

fn numbers(rows: &[Row]) -> Vec<u64> {
    rows.iter().map(|r| r["n"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn item_queries_send_the_sdk_parameters() {
    use crate::models::{Direction, Filter, FilterOp, ItemQuery, OrderBy};
    let server = Server::start(|req| {
        let items = if req.path().starts_with("/tasks/") {
            json!([{"fields": {"n": 0}, "labels": [], "in_evalset": false}])
        } else {
            json!([{"n": 0}])
        };
        let data = json!({"id": DATASET, "name": "d", "total_count": 1, "items": items});
        (200, json!({ "data": data }).to_string())
    })
    .await;
    let client = server.client();
    let query = ItemQuery::new()
        .filter(Filter::column("stars", FilterOp::GtEq, 4))
        .filter(Filter::is_null("name"))
        .filter(Filter::column("city", FilterOp::Eq, "Zürich"))
        .order_by(OrderBy::desc("stars"));
    let rows = client.items().query(DATASET, &query).await.unwrap();
    assert_eq!(rows.len(), 1);
    // utils.py:114-121 (json.dumps: spaces, \u escapes; no value means "") and 155-160;
    // client.py:672-679 and 263-269 (the count: offset 0, max_items 0).
    let filters = [
        r#"{"filter_type": "metadata", "field": "stars", "operator": ">=", "value": "4"}"#,
        r#"{"filter_type": "metadata", "field": "name", "operator": "IS NULL", "value": ""}"#,
        r#"{"filter_type": "metadata", "field": "city", "operator": "=", "value": "Z\u00fcrich"}"#,
    ];
    let order = r#"{"field": "stars", "direction": "DESC", "subtask_id": null}"#;
    let expected = |offset: &str, max: &str| {
        pairs(&[
            ("dataset_id", DATASET),
            ("offset", offset),
            ("max_items", max),
            ("filters", filters[0]),
            ("filters", filters[1]),
            ("filters", filters[2]),
            ("order_bys", order),
            ("expand", "true"),
        ])
    };
    // The count and the first page go out side by side, in either order.
    let mut requests = server.requests();
    requests.sort_by_key(max_items_of);
    assert_eq!(requests.len(), 2);
    for req in &requests {
        assert_eq!(req.method, "GET");
        assert_eq!(req.path(), format!("/datasets/{DATASET}"));
    }
    assert_eq!(query_of(&requests[0].target), expected("0", "0"));
    assert_eq!(query_of(&requests[1].target), expected("0", "1000"));

    // With a task: its path, label and similarity filters, and `task_id` last
    // (client.py:682-689; utils.py:92-113).
    let query = ItemQuery::new()
        .task(TASK)
        .filter(Filter::label("s-1", "confidence", FilterOp::Gt, "0.5"))
        .filter(Filter {
            operator: FilterOp::IsNull,
            value: None,
            value_type: None,
            ..Filter::label("s-1", "llm_label", FilterOp::IsNull, "")
        })
        .filter(Filter::label_vs_column(
            "s-1",
            "llm_label",
            FilterOp::NotEq,
            "gold",
        ))
        .filter(Filter::similar("cherry tart"))
        .order_by(OrderBy::by_label("s-1", "confidence", Direction::Asc))
        .max_items(5);
    let labeled = client.items().query_labeled(DATASET, &query).await.unwrap();
    assert_eq!(labeled.len(), 1);
    let req = server.requests().pop().unwrap();
    assert_eq!(req.path(), format!("/tasks/{TASK}/datasets/{DATASET}"));
    assert_eq!(
        query_of(&req.target),
        pairs(&[
            ("dataset_id", DATASET),
            ("offset", "0"),
            ("max_items", "5"),
            (
                "filters",
                r#"{"filter_type": "label", "field": "confidence", "operator": ">", "value": "0.5", "subtask_id": "s-1", "value_type": "string"}"#
            ),
            (
                "filters",
                r#"{"filter_type": "label", "field": "llm_label", "operator": "IS NULL", "value": "", "subtask_id": "s-1", "value_type": "string"}"#
            ),
            (
                "filters",
                r#"{"filter_type": "label", "field": "llm_label", "operator": "<>", "value": "gold", "subtask_id": "s-1", "value_type": "metadata"}"#
            ),
            (
                "filters",
                r#"{"filter_type": "similar", "operator": "SIMILAR", "field": "cherry tart"}"#
            ),
            (
                "order_bys",
                r#"{"field": "confidence", "direction": "ASC", "subtask_id": "s-1"}"#
            ),
            ("expand", "true"),
            ("task_id", TASK),
        ])
    );
}

#[tokio::test]
async fn short_pages_are_continued_from_where_they_stopped() {
    for total in [Total::Stated, Total::Missing] {
        let paging = Paging {
            silent_cap: Some(7),
            total,
            ..Paging::rows(30)
        };
        let server = Server::start(dataset_server(paging)).await;
        let client = client_with_pages(&server, 10);
        let items = client.items();
        let all = items
            .query(DATASET, &crate::models::ItemQuery::new())
            .await
            .unwrap();
        assert_eq!(numbers(&all), (0..30).collect::<Vec<_>>(), "{total:?}");
        // Within one page: one request, then the rest from where it stopped.
        let query = crate::models::ItemQuery::new().offset(3).max_items(9);
        let some = items.query(DATASET, &query).await.unwrap();
        assert_eq!(numbers(&some), (3..12).collect::<Vec<_>>(), "{total:?}");
        let last: Vec<(u64, u64)> = server.requests()[server.requests().len() - 2..]
            .iter()
            .map(|r| {
                (
                    param(r, "offset").unwrap().parse().unwrap(),
                    max_items_of(r),
                )
            })
            .collect();
        // The first query taught the client the server's cap of 7: it asks no more.
        assert_eq!(last, vec![(3, 7), (10, 2)], "{total:?}");
        assert_eq!(items.page_rows(), 7);
        // Pages of a stream, each one continued.
        let pages: Vec<crate::Page<Row>> = items
            .stream(DATASET, crate::models::ItemQuery::new().offset(5))
            .try_collect()
            .await
            .unwrap();
        let streamed: Vec<u64> = pages.iter().flat_map(|p| numbers(&p.items)).collect();
        assert_eq!(streamed, (5..30).collect::<Vec<_>>(), "{total:?}");
        assert!(pages.iter().all(|p| !p.items.is_empty()));
        // A fetched range too.
        let target = items
            .resolve(DATASET, &crate::models::ItemQuery::new())
            .await
            .unwrap();
        let range: crate::Page<Row> = items
            .fetch_range(&target, &crate::models::ItemQuery::new(), 20, 15)
            .await
            .unwrap();
        assert_eq!(numbers(&range.items), (20..30).collect::<Vec<_>>());
        assert_eq!(
            items
                .count(DATASET, &crate::models::ItemQuery::new())
                .await
                .unwrap(),
            30
        );
    }
}

#[tokio::test]
async fn a_refused_page_size_falls_back_to_sdk_pages_once_and_is_remembered() {
    for status in [400, 422] {
        let paging = Paging {
            refuse_above: Some((100, status)),
            ..Paging::rows(250)
        };
        let server = Server::start(dataset_server(paging)).await;
        let client = server.client();
        let items = client.items();
        assert_eq!(items.page_rows(), 1000);
        let all = items
            .query(DATASET, &crate::models::ItemQuery::new())
            .await
            .unwrap();
        assert_eq!(numbers(&all), (0..250).collect::<Vec<_>>());
        // The count beside the first page (in either order); the page refused, the same
        // page with 100 rows, and the rest by 100 side by side (the last one asking only
        // the 50 rows the count leaves).
        let (counts, pages): (Vec<_>, Vec<_>) = server
            .requests()
            .into_iter()
            .partition(|r| max_items_of(r) == 0);
        assert_eq!(counts.len(), 1, "{status}");
        let mut asked: Vec<u64> = pages.iter().map(max_items_of).collect();
        asked[2..].sort_unstable();
        assert_eq!(asked, vec![1000, 100, 50, 100], "{status}");
        assert_eq!(param(&pages[1], "offset").as_deref(), Some("0"));

        // Remembered for the server, by the client's clones too: later queries ask 100.
        assert_eq!(items.page_rows(), super::items::SDK_PAGE_ROWS);
        let other = client.with_project("elsewhere");
        assert_eq!(other.items().page_rows(), 100);
        let before = server.requests().len();
        let query = crate::models::ItemQuery::new().offset(10).max_items(500);
        let rows = client.clone().items().query(DATASET, &query).await.unwrap();
        assert_eq!(numbers(&rows), (10..250).collect::<Vec<_>>());
        let later: Vec<u64> = server.requests()[before..]
            .iter()
            .map(max_items_of)
            .collect();
        // One page's worth: no count, pages of 100 straight away.
        assert_eq!(later, vec![100, 100, 100], "{status}");
    }
}

#[tokio::test]
async fn other_client_errors_stay_errors_and_the_fallback_happens_once() {
    // A 400 that is not about the page size: an error, nothing remembered, no retry.
    let server = Server::start(|req| {
        if max_items_of(req) == 0 {
            return (
                200,
                json!({"data": {"id": DATASET, "name": "d", "total_count": 500}}).to_string(),
            );
        }
        (
            400,
            r#"{"detail": "invalid filter: unknown column 'x'"}"#.into(),
        )
    })
    .await;
    let client = server.client();
    let err = client
        .items()
        .query(DATASET, &crate::models::ItemQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(err.to_string().contains("unknown column"), "{err}");
    assert_eq!(client.items().page_rows(), 1000);
    // The page was asked once (the count beside it may not have gone out before the error).
    let pages = server
        .requests()
        .iter()
        .filter(|r| max_items_of(r) > 0)
        .count();
    assert_eq!(pages, 1);

    // A server that refuses even the SDK's pages: one fallback, then the error.
    let paging = Paging {
        refuse_above: Some((50, 400)),
        ..Paging::rows(250)
    };
    let server = Server::start(dataset_server(paging)).await;
    let client = server.client();
    let err = client
        .items()
        .query(DATASET, &crate::models::ItemQuery::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_items"), "{err}");
    let asked: Vec<u64> = server.requests().iter().map(max_items_of).collect();
    let pages: Vec<u64> = asked.into_iter().filter(|m| *m > 0).collect();
    assert_eq!(pages, vec![1000, 100]);
}

#[tokio::test]
async fn unknown_counts_are_never_taken_for_zero() {
    use crate::models::ItemQuery;
    for total in [Total::Missing, Total::Null, Total::Zero] {
        let paging = Paging {
            total,
            ..Paging::rows(25)
        };
        let server = Server::start(dataset_server(paging)).await;
        let client = client_with_pages(&server, 10);
        let items = client.items();
        let expected = (total == Total::Zero).then_some(0);
        assert_eq!(
            items.total(DATASET, &ItemQuery::new()).await.unwrap(),
            expected
        );
        assert_eq!(
            items.count(DATASET, &ItemQuery::new()).await.unwrap(),
            25,
            "{total:?}"
        );
        let rows = items.query(DATASET, &ItemQuery::new()).await.unwrap();
        assert_eq!(numbers(&rows), (0..25).collect::<Vec<_>>(), "{total:?}");
        let rows = items
            .query(DATASET, &ItemQuery::new().offset(4).max_items(12))
            .await
            .unwrap();
        assert_eq!(numbers(&rows), (4..16).collect::<Vec<_>>(), "{total:?}");
    }

    // Without a count, a stream reads until an empty page...
    let paging = Paging {
        total: Total::Missing,
        ..Paging::rows(20)
    };
    let server = Server::start(dataset_server(paging)).await;
    let client = client_with_pages(&server, 10);
    let rows = client
        .items()
        .query(DATASET, &ItemQuery::new())
        .await
        .unwrap();
    assert_eq!(rows.len(), 20);
    let asked: Vec<(String, u64)> = server
        .requests()
        .iter()
        .map(|r| (param(r, "offset").unwrap(), max_items_of(r)))
        .collect();
    let expected: Vec<(String, u64)> = [("0", 0), ("0", 10), ("10", 10), ("20", 10)]
        .iter()
        .map(|(o, m)| (o.to_string(), *m))
        .collect();
    assert_eq!(asked, expected);
    // ... or a page shorter than asked, once the server answered pages of that size in full.
    let paging = Paging {
        total: Total::Null,
        ..Paging::rows(25)
    };
    let server = Server::start(dataset_server(paging)).await;
    let client = client_with_pages(&server, 10);
    let rows = client
        .items()
        .query(DATASET, &ItemQuery::new())
        .await
        .unwrap();
    assert_eq!(rows.len(), 25);
    let asked: Vec<u64> = server.requests().iter().map(max_items_of).collect();
    assert_eq!(
        asked,
        vec![0, 10, 10, 10],
        "no request after the short page"
    );
}

#[tokio::test]
async fn listings_and_creations_send_the_sdk_requests() {
    let server = Server::start(|req| match (req.method.as_str(), req.path()) {
        ("GET", "/app_catalog") => (
            200,
            json!({"data": [{"id": APP, "app_name": "Sentiment", "description": "d"}]}).to_string(),
        ),
        ("GET", p) if p.ends_with("/applications") => (200, r#"{"data": []}"#.into()),
        ("POST", p) if p.ends_with("/applications") => (
            200,
            json!({"data": {"id": "a-9", "name": "Sentiment"}}).to_string(),
        ),
        ("GET", p) if p.ends_with("/tasks") => (200, r#"{"data": []}"#.into()),
        ("POST", "/projects") => (
            200,
            json!({"data": {"id": PROJECT, "project_name": "p"}}).to_string(),
        ),
        ("GET", p) if p.contains("/items/") => (200, r#"{"data": {"n": 1}}"#.into()),
        ("DELETE", _) => (200, "{}".into()),
        _ => (404, "{}".into()),
    })
    .await;
    let client = server.client();
    client.tasks().list().await.unwrap();
    let req = server.requests().pop().unwrap();
    // client.py:725-729.
    assert_eq!(req.path(), format!("/projects/{PROJECT}/tasks"));
    assert_eq!(query_of(&req.target), pairs(&[("project_id", PROJECT)]));

    client.projects().create("p", "a project").await.unwrap();
    let req = server.requests().pop().unwrap();
    // client.py:715-719.
    assert_eq!((req.method.as_str(), req.path()), ("POST", "/projects"));
    assert_eq!(
        query_of(&req.target),
        pairs(&[("project_name", "p"), ("description", "a project")])
    );
    assert_eq!(req.body, "");

    let catalog = client.applications().catalog().await.unwrap();
    assert_eq!(catalog[0].app_name.as_deref(), Some("Sentiment"));
    client.applications().catalog_applications().await.unwrap();
    let req = server.requests().pop().unwrap();
    // client.py:1031-1037.
    assert_eq!(
        req.target,
        "/projects/fb327444-e5ad-4808-88c9-4dc1ea8f086b/applications"
    );
    let app = client.applications().import("Sentiment").await.unwrap();
    assert_eq!(app.id, "a-9");
    let requests = server.requests();
    let import = requests.iter().rfind(|r| r.method == "POST").unwrap();
    // client.py:1058-1065.
    assert_eq!(import.path(), format!("/projects/{PROJECT}/applications"));
    assert_eq!(
        query_of(&import.target),
        pairs(&[("catalog_id", APP), ("application_name", "Sentiment")])
    );
    assert_eq!(requests[requests.len() - 2].target, "/app_catalog");

    client
        .applications()
        .deploy(TASK, Some("sentiment"))
        .await
        .unwrap();
    let deploy = server.requests().pop().unwrap();
    // client.py:1042-1047.
    assert_eq!(deploy.path(), format!("/projects/{PROJECT}/applications"));
    assert_eq!(
        query_of(&deploy.target),
        pairs(&[("task_id", TASK), ("application_name", "sentiment")])
    );

    let item = client.items().get(DATASET, "i-1").await.unwrap();
    assert_eq!(item["n"], 1);
    assert_eq!(
        server.requests().pop().unwrap().target,
        format!("/datasets/{DATASET}/items/i-1")
    );
    client.items().delete(DATASET, "i-1").await.unwrap();
    let req = server.requests().pop().unwrap();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("DELETE", format!("/datasets/{DATASET}/items/i-1").as_str())
    );
}

#[tokio::test]
async fn feedback_is_one_request_per_field() {
    let server = Server::start(|req| {
        if req.method == "GET" {
            let body = json!({"data": {"id": APP, "name": "app", "subtasks": [
                {"id": "s-1", "name": "sentiment", "type": "classification"},
                {"id": "s-2", "name": "topic", "type": "classification"}
            ]}});
            return (200, body.to_string());
        }
        (200, "{}".into())
    })
    .await;
    let client = server.client();
    client
        .applications()
        .feedback(
            APP,
            "u1",
            &[("topic", json!("food")), ("sentiment", json!("negative"))],
        )
        .await
        .unwrap();
    // client.py:1256-1277.
    let posts: Vec<Value> = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .inspect(|r| {
            assert_eq!(r.target, format!("/applications/{APP}/items/u1/label"));
        })
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(
        posts,
        vec![
            json!({"s-2": {"label": "food"}}),
            json!({"s-1": {"label": "negative"}})
        ]
    );
}

#[tokio::test]
async fn finetuning_sends_the_sdk_defaults() {
    let server = Server::start(|req| match req.method.as_str() {
        "GET" => (200, json!({"data": [{"id": "m-1"}]}).to_string()),
        _ => (200, json!({"data": {"id": "m-1"}}).to_string()),
    })
    .await;
    let client = server.client();
    let ft = client.finetuning();
    ft.start(TASK, "refuel-llm-v2-small", &Default::default(), &[])
        .await
        .unwrap();
    let post = server.requests().pop().unwrap();
    assert_eq!(post.target, format!("/projects/{PROJECT}/finetuned_models"));
    // client.py:1288-1297, in its order.
    let expected = json!({
        "project_id": PROJECT,
        "task_id": TASK,
        "max_training_rows": null,
        "lora": true,
        "base_model": "refuel-llm-v2-small",
        "augmented_finetuning_model": false,
        "hyperparameters": {"num_epochs": 1},
        "datasets": null,
    });
    assert_eq!(post.body, expected.to_string());
    ft.list(Some(TASK)).await.unwrap();
    let list = server.requests().pop().unwrap();
    // client.py:1306-1307.
    assert_eq!(
        list.target,
        format!("/projects/{PROJECT}/finetuned_models?task_id={TASK}")
    );
    ft.list(None).await.unwrap();
    let list = server.requests().pop().unwrap();
    assert_eq!(list.target, format!("/projects/{PROJECT}/finetuned_models"));
    ft.cancel("m-1").await.unwrap();
    let cancel = server.requests().pop().unwrap();
    // client.py:1311-1318.
    assert_eq!(
        (cancel.method.as_str(), cancel.target.as_str()),
        ("PATCH", "/finetuned_models/m-1")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&cancel.body).unwrap(),
        json!({"model_id": "m-1", "finetuning_run_status": "INTERRUPTED"})
    );
}

#[tokio::test]
async fn uploads_send_the_sdk_forms() {
    let server = Server::start(|_| {
        (
            200,
            json!({"data": {"id": DATASET, "name": "reviews", "ingest_status": "in_progress"}})
                .to_string(),
        )
    })
    .await;
    let client = server.client();
    let dir = std::env::temp_dir().join(format!("refuel-upload-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reviews.csv");
    std::fs::write(&path, "text\nhello\n").unwrap();
    client
        .datasets()
        .upload_file(&path, "reviews")
        .await
        .unwrap();
    let upload = server.requests().pop().unwrap();
    // client.py:537-547: fields `name` and `source`, then the file part, no content type.
    assert_eq!(upload.target, format!("/projects/{PROJECT}/datasets"));
    let content_type = upload.header("content-type").unwrap().to_string();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap();
    let parts: Vec<&str> = upload
        .body
        .split(&format!("--{boundary}"))
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "--")
        .collect();
    assert_eq!(
        parts,
        vec![
            "Content-Disposition: form-data; name=\"name\"\r\n\r\nreviews",
            "Content-Disposition: form-data; name=\"source\"\r\n\r\nfile",
            "Content-Disposition: form-data; name=\"file\"; filename=\"reviews.csv\"\r\n\r\ntext\nhello",
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();

    client
        .datasets()
        .register_uri("https://store.example/r.csv?sig=s", "remote")
        .await
        .unwrap();
    let register = server.requests().pop().unwrap();
    // client.py:549-559.
    assert_eq!(
        register.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        query_of(&format!("?{}", register.body)),
        pairs(&[
            ("name", "remote"),
            ("source", "uri"),
            ("source_path", "https://store.example/r.csv?sig=s")
        ])
    );
}

#[tokio::test]
async fn a_declared_page_cap_sizes_every_request() {
    let paging = Paging {
        refuse_above: Some((100, 400)),
        ..Paging::rows(130)
    };
    let server = Server::start(dataset_server(paging)).await;
    let semantics: crate::ServerSemantics = "conservative,max_page_rows=60".parse().unwrap();
    let config = crate::ClientConfig::default()
        .with_api_key("test-key")
        .with_base_url(&server.base)
        .unwrap()
        .with_project(PROJECT)
        .with_semantics(semantics);
    let client = crate::RefuelClient::new(config).unwrap();
    assert_eq!(client.items().page_rows(), 60);
    let rows = client
        .items()
        .query(DATASET, &crate::models::ItemQuery::new().max_items(500))
        .await
        .unwrap();
    assert_eq!(numbers(&rows), (0..130).collect::<Vec<_>>());
    let asked: Vec<u64> = server.requests().iter().map(max_items_of).collect();
    assert_eq!(
        asked,
        vec![60, 60, 60],
        "never refused, never more than declared"
    );
}
