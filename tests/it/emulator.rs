//! `refuel-emulator`: durability, bad input, item ids, statistics, the binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use refuel::client::models::{Filter, FilterOp, IngestStatus, ItemQuery, OrderBy, Row};
use serde_json::{Value, json};

use crate::common::*;

/// Everything a restart must keep: projects, datasets, appended and deleted rows.
async fn write_everything(url: &str, dir: &Path) -> (Vec<Row>, String) {
    let c = client_for(url, KEY, None);
    c.projects().create("keep", "durable").await.unwrap();
    let c = c.with_project("keep");
    let rows = mixed_rows(1500);
    upload_csv(&c, dir, "d", &to_csv(&rows)).await;
    let extra: Vec<Row> = (0..3)
        .map(|i| {
            json!({"id": 10_000 + i, "name": format!("late {i}")})
                .as_object()
                .unwrap()
                .clone()
        })
        .collect();
    c.datasets().add_items("d", &extra).await.unwrap();
    let empty = upload_csv(&c, dir, "empty", "only,header\n").await;
    assert_eq!(empty.total_count, Some(0));
    let mut expected = c.items().query("d", &ItemQuery::new()).await.unwrap();
    assert_eq!(expected.len(), 1503);
    // Delete one row through its item id.
    let id = c.datasets().id("d").await.unwrap();
    let http = reqwest::Client::new();
    let body: Value = http
        .get(format!(
            "{url}/datasets/{id}?max_items=1&offset=7&include_ids=true"
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = body["data"]["items"][0]["refuel_item_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = http
        .delete(format!("{url}/datasets/{id}/items/{item}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    expected.remove(7);
    (expected, item)
}

async fn check_everything(url: &str, expected: &[Row], deleted_item: &str) {
    let c = client_for(url, KEY, Some("keep"));
    assert_eq!(
        c.projects()
            .get("keep")
            .await
            .unwrap()
            .description
            .as_deref(),
        Some("durable")
    );
    let mut names = dataset_names(&c).await;
    names.sort();
    assert_eq!(names, vec!["d", "empty"]);
    let d = c.datasets().get("d").await.unwrap();
    assert_eq!(d.ingest_status, IngestStatus::Success);
    assert_eq!(
        c.items().query("d", &ItemQuery::new()).await.unwrap(),
        expected
    );
    let resp = reqwest::Client::new()
        .get(format!("{url}/datasets/{}/items/{deleted_item}", d.id))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404, "a deleted row stays deleted");
    // New writes still work after a restart.
    c.datasets()
        .add_items("d", &[json!({"id": 77777}).as_object().unwrap().clone()])
        .await
        .unwrap();
    assert_eq!(
        c.items().count("d", &ItemQuery::new()).await.unwrap(),
        expected.len() as u64 + 1
    );
}

#[tokio::test]
async fn data_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let emu = durable_emulator(data.path()).await;
    let (expected, item) = write_everything(emu.url(), files.path()).await;
    emu.shutdown().await;
    let emu = durable_emulator(data.path()).await;
    check_everything(emu.url(), &expected, &item).await;
    // Another team still sees nothing.
    assert!(
        client_for(emu.url(), OTHER_KEY, None)
            .projects()
            .list()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_torn_log_tail_is_dropped_and_the_rest_kept() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let emu = durable_emulator(data.path()).await;
    let (expected, item) = write_everything(emu.url(), files.path()).await;
    let c = client(&emu, "keep");
    let id = c.datasets().id("d").await.unwrap();
    emu.shutdown().await;
    // A crash in the middle of writing a frame leaves a partial frame at the end.
    for log in [
        data.path().join("catalog.log"),
        data.path().join("datasets").join(&id).join("rows.log"),
    ] {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3, 4, b'{']).unwrap();
    }
    let emu = durable_emulator(data.path()).await;
    check_everything(emu.url(), &expected, &item).await;
}

/// The emulator binary built next to this test binary (by `cargo build --workspace`).
fn emulator_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("refuel-emulator{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p refuel-emulator` first",
        bin.display()
    );
    bin
}

/// Starts the binary and returns it with its URL (read from its first line of stdout).
fn spawn_binary(data: &Path) -> (Child, String) {
    spawn_binary_with(data, &[])
}

/// Starts the binary with extra arguments.
pub fn spawn_binary_with(data: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(emulator_binary())
        .args(extra)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--api-key",
            OTHER_KEY,
            "--data-dir",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("refuel-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (child, url)
}

#[tokio::test]
async fn data_survives_kill_9_of_the_binary() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_binary(data.path());
    let (expected, item) = write_everything(&url, files.path()).await;
    child.kill().unwrap(); // SIGKILL: no chance to flush anything
    child.wait().unwrap();
    let (mut child, url) = spawn_binary(data.path());
    check_everything(&url, &expected, &item).await;
    // SIGTERM stops it cleanly.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

async fn raw(method: reqwest::Method, url: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_input_gets_a_4xx_naming_the_problem() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let ds = upload_csv(&c, dir.path(), "d", "id,name\n1,a\n2,b\n").await;
    let url = emu.url();
    let get = reqwest::Method::GET;

    let (s, body) = raw(get.clone(), &format!("{url}/projects"), None).await;
    assert_eq!(
        (s, body["detail"].as_str().unwrap()),
        (401, "missing 'Authorization: Bearer <API key>' header")
    );
    let (s, _) = raw(get.clone(), &format!("{url}/projects"), Some("nope")).await;
    assert_eq!(s, 401);
    let (s, body) = raw(
        get.clone(),
        &format!("{url}/datasets/{}", ds.id),
        Some(OTHER_KEY),
    )
    .await;
    assert_eq!(s, 404, "another team's dataset: {body}");

    let bad_json = format!("{url}/datasets/{}?filters=%7Bnot-json&max_items=5", ds.id);
    let (s, body) = raw(get.clone(), &bad_json, Some(KEY)).await;
    assert_eq!(s, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("filter 1 is not a valid filter object"),
        "{body}"
    );
    let no_op = format!(
        "{url}/datasets/{}?filters=%7B%22field%22%3A%22id%22%7D",
        ds.id
    );
    let (s, body) = raw(get.clone(), &no_op, Some(KEY)).await;
    assert_eq!(s, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("operator"),
        "{body}"
    );
    let (s, body) = raw(
        get.clone(),
        &format!("{url}/datasets/{}?max_items=many", ds.id),
        Some(KEY),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("max_items"),
        "{body}"
    );
    let (s, _) = raw(get.clone(), &format!("{url}/no/such/route"), Some(KEY)).await;
    assert_eq!(s, 404);

    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{url}/datasets/{}/items", ds.id))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("[{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = http
        .post(format!("{url}/datasets/{}/items", ds.id))
        .bearer_auth(KEY)
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("row 0 is not a JSON object"),
        "{body}"
    );
    let resp = http
        .post(format!(
            "{url}/projects/{}/datasets",
            c.project_id().await.unwrap()
        ))
        .bearer_auth(KEY)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        400,
        "a JSON body is not a dataset upload"
    );
    let resp = http
        .post(format!("{url}/projects?description=x"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("project_name"),
        "{body}"
    );
    assert_eq!(
        c.items().count("d", &ItemQuery::new()).await.unwrap(),
        2,
        "nothing was written"
    );
}

#[tokio::test]
async fn sdk_start_up_calls_answer_empty_lists() {
    let emu = emulator().await;
    let url = emu.url();
    let (s, body) = raw(
        reqwest::Method::GET,
        &format!("{url}/projects/fb327444-e5ad-4808-88c9-4dc1ea8f086b/applications"),
        Some(KEY),
    )
    .await;
    assert_eq!((s, body), (200, json!({"data": []})));
    let (s, body) = raw(
        reqwest::Method::GET,
        &format!("{url}/app_catalog"),
        Some(KEY),
    )
    .await;
    assert_eq!((s, body), (200, json!({"data": []})));
}

#[tokio::test]
async fn pages_of_one_query_are_cut_from_one_evaluation() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "d", &to_csv(&mixed_rows(3000))).await;
    let query = ItemQuery::new()
        .filter(Filter::column("qty", FilterOp::GtEq, "0"))
        .order_by(OrderBy::desc("score"))
        .order_by(OrderBy::asc("id"));
    let whole = c
        .items()
        .query("d", &query.clone().max_items(10_000))
        .await
        .unwrap();
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let page = c
            .items()
            .query("d", &query.clone().offset(offset).max_items(97))
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        paged.extend(page);
    }
    assert_eq!(paged, whole);
}

#[tokio::test]
async fn a_page_is_capped_and_the_client_continues_where_it_stopped() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = mixed_rows(12_345);
    upload_csv(&c, dir.path(), "d", &to_csv(&rows)).await;
    // One page as big as the request: the server answers 10,000 rows, the client asks for
    // the rest from there.
    let one_page = refuel::client::RefuelClient::new(
        refuel::client::ClientConfig::default()
            .with_api_key(KEY)
            .with_base_url(emu.url())
            .unwrap()
            .with_project("p")
            .with_page_size(20_000),
    )
    .unwrap();
    one_page.datasets().id("d").await.unwrap();
    reset_stats(emu.url()).await;
    let got = one_page
        .items()
        .query("d", &ItemQuery::new().max_items(20_000))
        .await
        .unwrap();
    assert_eq!(got, rows);
    let s = stats(emu.url()).await;
    assert_eq!(count(&s, "GET /datasets/{dataset_id}"), 2, "{s:?}");
    assert_eq!(s.rows_served, 12_345);
}

#[tokio::test]
async fn items_by_id() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let ds = upload_csv(&c, dir.path(), "d", "id,name\n1,a\n2,b\n").await;
    let url = emu.url();
    let (_, body) = raw(
        reqwest::Method::GET,
        &format!("{url}/datasets/{}?expand=true&include_ids=true", ds.id),
        Some(KEY),
    )
    .await;
    let item = body["data"]["items"][1]["refuel_item_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, row) = raw(
        reqwest::Method::GET,
        &format!("{url}/datasets/{}/items/{item}", ds.id),
        Some(KEY),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        row["data"],
        json!({"id": 2, "name": "b", "refuel_item_id": item})
    );
    let (s, _) = raw(
        reqwest::Method::GET,
        &format!("{url}/datasets/{}/items/{}", ds.id, uuid::Uuid::new_v4()),
        Some(KEY),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = raw(
        reqwest::Method::DELETE,
        &format!("{url}/datasets/{}/items/{item}", ds.id),
        Some(KEY),
    )
    .await;
    assert_eq!(s, 200);
    let rows = c.items().query("d", &ItemQuery::new()).await.unwrap();
    assert_eq!(ids(&rows), vec![1]);
    let (s, _) = raw(
        reqwest::Method::DELETE,
        &format!("{url}/datasets/{}/items/{item}", ds.id),
        Some(KEY),
    )
    .await;
    assert_eq!(s, 404);
}
