//! Shared helpers: emulators on ephemeral ports, clients, test data.

use std::path::{Path, PathBuf};
use std::time::Duration;

use refuel::client::models::{Dataset, Row};
use refuel::client::{ClientConfig, RefuelClient, ServerSemantics, WaitOptions};
use refuel::emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault, LoggedRequest, StatsView};
use serde_json::{Value, json};

/// The key of the main test team.
pub const KEY: &str = "it-team-a";
/// The key of a second team.
pub const OTHER_KEY: &str = "it-team-b";

/// An in-memory emulator with two teams.
pub async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::new().api_key(KEY).api_key(OTHER_KEY))
        .await
        .unwrap()
}

/// An emulator answering in `profile` (see `refuel::emulator::Profile`), for `KEY`.
pub async fn emulator_with_profile(profile: refuel::emulator::Profile) -> EmulatorHandle {
    Emulator::start(EmulatorConfig::new().api_key(KEY).profile(profile))
        .await
        .unwrap()
}

/// A durable emulator on `dir`.
pub async fn durable_emulator(dir: &Path) -> EmulatorHandle {
    Emulator::start(
        EmulatorConfig::new()
            .api_key(KEY)
            .api_key(OTHER_KEY)
            .data_dir(dir),
    )
    .await
    .unwrap()
}

/// A client for `url` (an emulator with its default profile, whose documented semantics
/// it declares) with quick retries.
pub fn client_for(url: &str, key: &str, project: Option<&str>) -> RefuelClient {
    client_with_semantics(url, key, project, ServerSemantics::emulator())
}

/// A client for `url` declaring `semantics` (e.g. the conservative defaults, for an
/// emulator answering in another profile), with quick retries.
pub fn client_with_semantics(
    url: &str,
    key: &str,
    project: Option<&str>,
    semantics: ServerSemantics,
) -> RefuelClient {
    let mut config = ClientConfig::default()
        .with_api_key(key)
        .with_base_url(url)
        .unwrap()
        .with_semantics(semantics)
        .with_retry_delays(Duration::from_millis(5), Duration::from_millis(50))
        .with_timeout(Duration::from_secs(20));
    if let Some(p) = project {
        config = config.with_project(p);
    }
    RefuelClient::new(config).unwrap()
}

/// A client of the main team on `emu`, in `project`.
pub fn client(emu: &EmulatorHandle, project: &str) -> RefuelClient {
    client_for(emu.url(), KEY, Some(project))
}

/// A client with a fresh project named `project`.
pub async fn client_with_project(emu: &EmulatorHandle, project: &str) -> RefuelClient {
    let c = client_for(emu.url(), KEY, None);
    c.projects()
        .create(project, "integration tests")
        .await
        .unwrap();
    c.with_project(project)
}

/// Quick polling for ingests.
pub fn quick_wait() -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(30),
    }
}

/// Writes `text` to `dir/name`.
pub fn write_file(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Uploads a CSV and waits for its ingest.
pub async fn upload_csv(c: &RefuelClient, dir: &Path, name: &str, csv: &str) -> Dataset {
    let path = write_file(dir, &format!("{name}.csv"), csv.as_bytes());
    c.datasets().upload_file(&path, name).await.unwrap();
    c.datasets()
        .wait_for_ingest(name, quick_wait())
        .await
        .unwrap()
}

/// A deterministic mixed dataset of `n` rows: `id` (number, insertion order is a
/// permutation of ids), `name` (string with NULLs, case and `%`), `score` (float with
/// NULLs), `qty` (integer), `active` (boolean with NULLs).
pub fn mixed_rows(n: usize) -> Vec<Row> {
    let words = [
        "apple",
        "Banana",
        "cherry pie",
        "APPLE tart",
        "date 50%",
        "elder_berry",
        "fig",
    ];
    (0..n)
        .map(|i| {
            let id = (i * 7919) % n;
            let name = if i % 11 == 3 {
                Value::Null
            } else {
                json!(format!("{} {}", words[i % words.len()], i % 13))
            };
            let score = if i % 9 == 4 {
                Value::Null
            } else {
                json!(((i * 37) % 1000) as f64 / 10.0)
            };
            let active = match i % 5 {
                0 => Value::Null,
                1 | 3 => json!(true),
                _ => json!(false),
            };
            let mut row = Row::new();
            row.insert("id".into(), json!(id));
            row.insert("name".into(), name);
            row.insert("score".into(), score);
            row.insert("qty".into(), json!((i % 17) as i64 - 5));
            row.insert("active".into(), active);
            row
        })
        .collect()
}

/// The rows as CSV text (NULL as an empty cell).
pub fn to_csv(rows: &[Row]) -> String {
    let cols: Vec<&String> = rows[0].keys().collect();
    let mut out = cols
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match &row[c.as_str()] {
                Value::Null => String::new(),
                Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The emulator's statistics.
pub async fn stats(url: &str) -> StatsView {
    reqwest::get(format!("{url}/_emulator/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Zeroes the emulator's statistics.
pub async fn reset_stats(url: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/_emulator/stats/reset"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

/// Requests counted for `route` (e.g. `GET /projects`).
pub fn count(stats: &StatsView, route: &str) -> u64 {
    stats.requests.get(route).copied().unwrap_or(0)
}

/// Injects a fault.
pub async fn inject(url: &str, fault: Fault) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/_emulator/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// A fault answering `status` to `count` requests of `method` under `path_prefix`.
pub fn fault(status: u16, count: u32, method: &str, path_prefix: &str) -> Fault {
    Fault {
        status,
        count,
        method: Some(method.to_string()),
        path_prefix: Some(path_prefix.to_string()),
        retry_after: None,
    }
}

/// The `id` column of rows.
pub fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// The names of the client's project's datasets, in the server's order.
pub async fn dataset_names(client: &RefuelClient) -> Vec<String> {
    client
        .datasets()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.dataset_name)
        .collect()
}

/// The id of the project `p` of [`schemaless_server`].
pub const BARE_PROJECT: &str = "00000000-0000-4000-8000-0000000000a1";
/// The id of the dataset `bare` of [`schemaless_server`].
pub const BARE_DATASET: &str = "00000000-0000-4000-8000-0000000000d1";

/// A server with one project `p` and one dataset `bare` that has neither a schema nor column
/// metadata (in its listing entry and in its own answer), in the TypeScript SDK's shapes.
/// Counts the requests for rows.
pub async fn schemaless_server(
    row_requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use axum::extract::{Query, State};
    use axum::routing::get;
    let rows = json!([
        {"id": 1, "text": "a", "when": "2024-01-01"},
        {"id": 2, "text": null, "extra": true},
        {"id": 3.5, "text": "c", "extra": {"nested": [1]}}
    ]);
    let dataset =
        move |State(counter): State<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
              Query(q): Query<std::collections::HashMap<String, String>>| {
            let rows = rows.clone();
            async move {
                let items = match q.get("max_items").and_then(|m| m.parse::<usize>().ok()) {
                    Some(max) => {
                        if max > 0 {
                            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        let offset: usize =
                            q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
                        let all = rows.as_array().cloned().unwrap_or_default();
                        Value::Array(all.into_iter().skip(offset).take(max).collect())
                    }
                    None => Value::Null,
                };
                axum::Json(json!({"data": {
                    "id": BARE_DATASET, "name": "bare", "schema": null, "column_metadata": null,
                    "ingest_status": "success", "response_count": 0, "total_count": 3,
                    "project_ids": null, "scheduled_ids": null, "items": items
                }}))
            }
        };
    let app = axum::Router::new()
        .route(
            "/projects",
            get(|| async {
                axum::Json(json!({"data": [{"id": BARE_PROJECT, "project_name": "p"}]}))
            }),
        )
        .route(
            "/datasets",
            get(|| async {
                axum::Json(json!({"data": [{
                    "id": BARE_DATASET, "dataset_name": "bare",
                    "created_at": "2024-01-01T00:00:00Z", "updated_at": null, "ingest_status": "success", "dataset_schema": null,
                    "source": "file", "projects": null
                }]}))
            }),
        )
        .route(
            &format!("/projects/{BARE_PROJECT}/tasks"),
            get(|| async { axum::Json(json!({"data": []})) }),
        )
        .route(&format!("/datasets/{BARE_DATASET}"), get(dataset))
        .with_state(row_requests);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// The emulator's request log (`GET /_emulator/requests`), oldest first.
pub async fn request_log(url: &str) -> Vec<LoggedRequest> {
    reqwest::get(format!("{url}/_emulator/requests"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
