//! `refuel-datafusion` benchmark: SQL over a labeled dataset, against the official Python
//! SDK and against raw page fetches, and the peak memory of `count(*)` over 1M rows.
//!
//! Run with `cargo bench --bench sql` (release build; it needs the Python SDK's venv, which
//! `bash scripts/python-env.sh` makes). Over an in-process emulator on loopback, on a
//! 100,000-row dataset labeled by a task (the label table `sentiment_labels`):
//!
//! - queries: a full scan of the label table (and, for comparison, of the dataset alone),
//!   a selective filter (1 row in 5), `ORDER BY sentiment_confidence DESC LIMIT 10` and
//!   `count(*)`, each through DataFusion (median of 5 runs), with the rows the emulator
//!   served (`/_emulator/stats`);
//! - (a) the Python SDK's `get_items` for the label-table queries
//!   (`benches/sdk_get_items.py`, one run each; it has no count call, so it fetches the rows
//!   and counts them);
//! - (b) raw page fetches: the very requests the scan sent (same pages, same concurrency),
//!   sent with `reqwest` and their bodies discarded (median of 5 runs);
//! - the time to decode the full scan's pages into Arrow on one thread.
//!
//! All of it twice: with the emulator in the benchmark's own process (server and client
//! share both cores), and with the emulator in a child process on core 0 and everything
//! else (the client, DataFusion, the Python SDK) on core 1, as when the server is another
//! machine. Then, in child processes (so the emulator's own memory is not counted), the
//! peak RSS (`VmHWM`) of `SELECT count(*)` and of a streamed `SELECT *` over a
//! 1,000,000-row dataset, against the peak of a process that only sets up the same session.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use datafusion::prelude::{SessionConfig, SessionContext};
use futures::{StreamExt, TryStreamExt};
use refuel::client::models::FieldType;
use refuel::client::{ClientConfig, RefuelClient, TaskField, WaitOptions};
use refuel::datafusion::decode::PageDecoder;
use refuel::datafusion::{RefuelContextExt, RefuelTable};
use refuel::emulator::{Emulator, EmulatorConfig, LoggedRequest, StatsView};

#[path = "support/mod.rs"]
mod support;
use support::{reset, sdk_python};

const KEY: &str = "bench-key";
const ROWS: usize = 100_000;
const BIG_ROWS: usize = 1_000_000;
const RUNS: usize = 5;

const QUERIES: [(&str, &str); 5] = [
    ("full scan", "SELECT * FROM sentiment_labels"),
    ("full scan, dataset only", "SELECT * FROM reviews"),
    (
        "selective filter",
        "SELECT * FROM sentiment_labels WHERE category = 'garden'",
    ),
    (
        "ORDER BY confidence DESC LIMIT 10",
        "SELECT * FROM sentiment_labels ORDER BY sentiment_confidence DESC LIMIT 10",
    ),
    ("count(*)", "SELECT count(*) FROM sentiment_labels"),
];

fn write_csv(path: &std::path::Path, rows: usize) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id,title,review,category,price,in_stock").unwrap();
    let cats = ["books", "electronics", "garden", "toys", "grocery"];
    let opinions = [
        "great value, would buy again",
        "terrible, broke after a day",
        "okay for the price",
        "excellent quality and fast delivery",
        "bad packaging but the item works",
        "average, nothing special",
        "love it, my kids love it too",
    ];
    for i in 0..rows {
        let price = (i * 7919 % 100_000) as f64 / 100.0;
        writeln!(
            w,
            "{i},Item {i},\"{} (order {})\",{},{price},{}",
            opinions[i % opinions.len()],
            i * 31 % 9973,
            cats[i % cats.len()],
            i % 3 == 0
        )
        .unwrap();
    }
}

/// Page requests in flight and partitions, the same in both settings (a process pinned
/// to one core would otherwise default to one).
const WORKERS: usize = 2;

fn config(url: &str) -> ClientConfig {
    ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(url)
        .unwrap()
        .with_project("bench")
        .with_max_workers(WORKERS)
        .with_semantics(refuel::client::ServerSemantics::emulator())
}

async fn upload(client: &RefuelClient, dir: &std::path::Path, name: &str, rows: usize) {
    let path = dir.join(format!("{name}.csv"));
    write_csv(&path, rows);
    let started = Instant::now();
    client.datasets().upload_file(&path, name).await.unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(900),
    };
    client.datasets().wait_for_ingest(name, wait).await.unwrap();
    eprintln!("{name}: {rows} rows ingested in {:.1?}", started.elapsed());
}

async fn session(client: RefuelClient) -> SessionContext {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new()
            .with_default_catalog_and_schema("refuel", "bench")
            .with_target_partitions(WORKERS),
    );
    ctx.register_refuel("refuel", client).await.unwrap();
    ctx
}

async fn get_json<T: serde::de::DeserializeOwned>(url: String) -> T {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `sql` to the end, counting rows; returns the time, the rows and the rows served.
async fn time_sql(ctx: &SessionContext, url: &str, sql: &str) -> (Duration, usize, u64) {
    reset(url).await;
    let started = Instant::now();
    let mut stream = ctx.sql(sql).await.unwrap().execute_stream().await.unwrap();
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch.unwrap().num_rows();
    }
    let elapsed = started.elapsed();
    let stats: StatsView = get_json(format!("{url}/_emulator/stats")).await;
    (elapsed, rows, stats.rows_served)
}

/// Sends `requests` again, `workers` at a time, discarding the bodies.
async fn replay(url: &str, requests: &[LoggedRequest], workers: usize) -> Duration {
    let http = reqwest::Client::new();
    let started = Instant::now();
    futures::stream::iter(requests.iter().cloned())
        .map(|r| {
            let http = http.clone();
            let target = format!("{url}{}", r.path);
            async move {
                let resp = http
                    .get(target)
                    .query(&r.query)
                    .bearer_auth(KEY)
                    .send()
                    .await?;
                resp.bytes().await.map(|b| b.len())
            }
        })
        .buffer_unordered(workers)
        .try_for_each(|_| async { Ok(()) })
        .await
        .unwrap();
    started.elapsed()
}

/// The bodies of the row requests in `requests` (the count request left out).
async fn fetch_bodies(url: &str, requests: &[LoggedRequest]) -> Vec<Vec<u8>> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for r in requests {
        if r.query.iter().any(|(k, v)| k == "max_items" && v == "0") {
            continue;
        }
        let resp = http
            .get(format!("{url}{}", r.path))
            .query(&r.query)
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        out.push(resp.bytes().await.unwrap().to_vec());
    }
    out
}

/// The SDK's timings; it runs on the cores this process may use.
fn python_sdk(url: &str, dataset: &str) -> Vec<(String, f64, u64)> {
    let python = sdk_python();
    let out = Command::new(python)
        .args([
            "benches/sdk_get_items.py",
            url,
            KEY,
            "bench",
            dataset,
            "sentiment",
            "sentiment",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python SDK run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["scenario"].as_str().unwrap().to_string(),
                v["seconds"].as_f64().unwrap(),
                v["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// This process's peak resident set, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The child: sets up a session on `url`, runs `sql` (unless it is empty) to the end, and
/// prints its peak RSS and the rows.
async fn child(url: &str, sql: &str) {
    let ctx = session(RefuelClient::new(config(url)).unwrap()).await;
    let mut rows = 0usize;
    if !sql.is_empty() {
        let mut stream = ctx.sql(sql).await.unwrap().execute_stream().await.unwrap();
        while let Some(batch) = stream.next().await {
            let batch = batch.unwrap();
            rows += if batch.num_columns() == 1 && sql.contains("count(*)") {
                use datafusion::arrow::array::AsArray;
                batch
                    .column(0)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(0) as usize
            } else {
                batch.num_rows()
            };
        }
    }
    println!("{} {rows}", peak_rss_kib());
}

fn run_child(url: &str, sql: &str) -> (u64, u64) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--child", url, sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let kib = parts.next().unwrap().parse().unwrap();
    let rows = parts.next().unwrap().parse().unwrap();
    (kib, rows)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        runtime.block_on(child(&args[i + 1], &args[i + 2]));
        return;
    }
    if args.iter().any(|a| a == "--serve") {
        runtime.block_on(support::serve_emulator(KEY));
        return;
    }
    runtime.block_on(run());
}

/// An emulator in a child process pinned to core 0; this process moves to core 1.
fn pinned_emulator() -> (std::process::Child, String) {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "0"])
        .arg(std::env::current_exe().unwrap())
        .arg("--serve");
    let (child, url) = support::spawn_emulator(command);
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "taskset could not pin the benchmark");
    (child, url)
}

async fn run() {
    let in_process = Emulator::start(EmulatorConfig::new().api_key(KEY))
        .await
        .unwrap();
    scenarios(
        in_process.url(),
        "in-process emulator; server and client share both cores",
    )
    .await;
    in_process.shutdown().await;

    let (mut server, url) = pinned_emulator();
    scenarios(
        &url,
        "emulator in its own process on core 0; client, DataFusion and the Python SDK on core 1",
    )
    .await;

    // Peak memory over 1M rows, in child processes.
    let dir = tempfile::tempdir().unwrap();
    let setup = RefuelClient::new(config(&url)).unwrap();
    upload(&setup, dir.path(), "big", BIG_ROWS).await;
    let (base, _) = run_child(&url, "");
    let (count_kib, count) = run_child(&url, "SELECT count(*) FROM big");
    let (scan_kib, scanned) = run_child(&url, "SELECT * FROM big");
    assert_eq!(count, BIG_ROWS as u64);
    assert_eq!(scanned, BIG_ROWS as u64);
    println!("\n## Peak RSS over a {BIG_ROWS}-row dataset (child process, VmHWM)\n");
    println!("| process | peak RSS |");
    println!("|---|---|");
    println!(
        "| session set-up only (baseline) | {:.1} MiB |",
        base as f64 / 1024.0
    );
    println!(
        "| `SELECT count(*) FROM big` | {:.1} MiB |",
        count_kib as f64 / 1024.0
    );
    println!(
        "| `SELECT * FROM big`, streamed and discarded | {:.1} MiB |",
        scan_kib as f64 / 1024.0
    );
    drop(server.stdin.take());
    let _ = server.wait();
}

/// The labeled dataset on the emulator at `url`, the queries, the baselines, the table.
async fn scenarios(url: &str, setting: &str) {
    let url = url.to_string();
    let dir = tempfile::tempdir().unwrap();
    let setup = RefuelClient::new(config(&url)).unwrap();
    setup.projects().create("bench", "").await.unwrap();
    upload(&setup, dir.path(), "reviews", ROWS).await;
    let field = TaskField::new("sentiment", FieldType::Classification)
        .labels(["positive", "negative", "neutral"])
        .guidelines(
            "positive: great, excellent, love\nnegative: terrible, bad, broke\nneutral: okay, average",
        )
        .input_column("review");
    setup
        .tasks()
        .create("sentiment", "reviews", "Product reviews", &[field], None)
        .await
        .unwrap();
    let started = Instant::now();
    setup
        .runs()
        .start("sentiment", "reviews", None)
        .await
        .unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(100),
        timeout: Duration::from_secs(900),
    };
    setup
        .runs()
        .wait_for_completion("sentiment", "reviews", wait, |_| {})
        .await
        .unwrap();
    eprintln!("labeled {ROWS} rows in {:.1?}", started.elapsed());

    let client = RefuelClient::new(config(&url)).unwrap();
    let workers = client.limiter().bound();
    let ctx = session(client.clone()).await;

    // What each query sends, for the raw baseline.
    let mut sent: Vec<Vec<LoggedRequest>> = Vec::new();
    let mut ours = Vec::new();
    for (name, sql) in QUERIES {
        let (_, rows, served) = time_sql(&ctx, &url, sql).await; // warm-up
        let log: Vec<LoggedRequest> = get_json(format!("{url}/_emulator/requests")).await;
        sent.push(log);
        let times: Vec<Duration> = {
            let mut v = Vec::new();
            for _ in 0..RUNS {
                v.push(time_sql(&ctx, &url, sql).await.0);
            }
            v
        };
        eprintln!("{name}: {rows} rows, {served} served");
        ours.push((median(times), rows, served));
    }
    let mut raw = Vec::new();
    for log in &sent {
        let mut v = Vec::new();
        for _ in 0..RUNS {
            v.push(replay(&url, log, workers).await);
        }
        raw.push(median(v));
    }
    // Decoding alone: the full scan's page bodies, fetched first, decoded on one thread.
    let bodies = fetch_bodies(&url, &sent[0]).await;
    let table = RefuelTable::try_new(client.clone(), "reviews", Some("sentiment"))
        .await
        .unwrap();
    let columns = table.columns();
    let decoder = PageDecoder::new(
        std::sync::Arc::new(columns.clone()),
        std::sync::Arc::clone(&columns.schema),
        true,
    );
    let mut decode_times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut rows = 0;
        for body in &bodies {
            rows += decoder.decode(body).unwrap().batch.num_rows();
        }
        assert_eq!(rows, ROWS);
        decode_times.push(started.elapsed());
    }
    let decode_time = median(decode_times);
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();

    reset(&url).await;
    let sdk = python_sdk(&url, "reviews");

    println!(
        "\n## SQL over a {ROWS}-row labeled dataset ({setting}; loopback, {workers} workers)\n"
    );
    println!(
        "| query | rows out | rows served | refuel-datafusion | raw fetch (bodies discarded) | ours / raw | Python SDK get_items | SDK / ours |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (name, _)) in QUERIES.iter().enumerate() {
        let (t, rows, served) = ours[i];
        let r = raw[i];
        let sdk_cells = match sdk.iter().find(|(n, _, _)| n == name) {
            Some((_, secs, sdk_rows)) => format!(
                "{:.1} ms ({sdk_rows} rows) | {:.1}×",
                secs * 1e3,
                secs / t.as_secs_f64()
            ),
            None => "- | -".to_string(),
        };
        println!(
            "| {name} | {rows} | {served} | {:.1} ms | {:.1} ms | {:.2} | {sdk_cells} |",
            t.as_secs_f64() * 1e3,
            r.as_secs_f64() * 1e3,
            t.as_secs_f64() / r.as_secs_f64(),
        );
    }

    println!(
        "\nDecoding the full scan's {} pages ({:.1} MiB of JSON) into Arrow on one thread: {:.1} ms ({:.0} rows/s).",
        bodies.len(),
        bytes as f64 / (1 << 20) as f64,
        decode_time.as_secs_f64() * 1e3,
        ROWS as f64 / decode_time.as_secs_f64()
    );
}
