//! The handlers' requests and their reading of answers, over loopback HTTP against
//! [`crate::testing::Server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::models::{FieldType, Row, RunStatus};
use crate::testing::Server;
use crate::{Error, LabelOptions, TaskField, WaitOptions};

const APP: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TASK: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const DATASET: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

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
        assert!(req.target.contains("explain=false"), "{}", req.target);
        assert!(
            req.target.contains("explain_fields=sentiment"),
            "{}",
            req.target
        );
        assert!(req.target.contains("telemetry=false"), "{}", req.target);
        assert!(req.target.contains("model_id=gpt-4o"), "{}", req.target);
        assert!(!req.target.contains("is_async"), "{}", req.target);
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
            assert!(req.target.contains("is_async=true"), "{}", req.target);
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
    assert_eq!(create.path(), format!("/datasets/{DATASET}/exports"));
    assert!(
        create.target.contains("include_labels=true"),
        "{}",
        create.target
    );
    assert!(
        create.target.contains(&format!("task_id={TASK}")),
        "{}",
        create.target
    );
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
    let cancel = server
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(
        cancel.target.contains("cancel_run=true"),
        "{}",
        cancel.target
    );
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
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["subtasks"][0]["labels"], json!(["a", "b"]));
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
