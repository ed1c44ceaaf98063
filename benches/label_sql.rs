//! Labeling from SQL against the Python SDK's `label()`: 10,000 rows of which 30% repeat an
//! earlier row's input, labeled through one application on the same emulator.
//!
//! Run with `cargo bench --bench label_sql` (release build; it needs the Python SDK's
//! venv, which `bash scripts/python-env.sh` makes). One in-process emulator (reference
//! labeler) holds the application `bench_app` (two fields over `text`); the rows are a CSV
//! file. Timed, in one run:
//!
//! - SQL: `SELECT count(l) ... refuel_label('bench_app', text) ...
//!   FROM '<csv>'` in a DataFusion session with `register_refuel` (default settings);
//! - the SDK: `client.label(application, inputs)` over the same rows (`benches/sdk_label.py`);
//!
//! each with the label requests the emulator served. `REFUEL_BENCH_LATENCY_MS` adds a
//! network latency per request (default 0: loopback).

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use refuel::client::models::FieldType;
use refuel::client::{RefuelClient, TaskField, WaitOptions};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::Network;

#[path = "support/mod.rs"]
mod support;
use support::{emulator_with_project, reset, sdk_python, stats};

const KEY: &str = "bench-key";
const PROJECT: &str = "bench";
const APP: &str = "bench_app";
const ROWS: usize = 10_000;
const DISTINCT: usize = 7_000;
const ROUTE: &str = "POST /applications/{application_id}/label";
const WORDS: [&str; 10] = [
    "great", "love", "broken", "refund", "battery", "screen", "late", "perfect", "cheap", "awful",
];

fn text(i: usize) -> String {
    (0..8)
        .map(|k| WORDS[(i * 7 + k * 3 + i / 10) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
        + &format!(" order {i} ${}", i % 500)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn label_requests(url: &str) -> u64 {
    stats(url).await.requests.get(ROUTE).copied().unwrap_or(0)
}

async fn run() {
    let (emu, config) = emulator_with_project(KEY, PROJECT).await;
    let c = RefuelClient::new(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A small dataset for the task the application deploys; the rows to label are a file.
    let seed = dir.path().join("seed.csv");
    std::fs::write(&seed, "id,text\n0,great\n").unwrap();
    c.datasets().upload_file(&seed, "seed").await.unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(60),
    };
    c.datasets().wait_for_ingest("seed", wait).await.unwrap();
    let fields = [
        TaskField::new("sentiment", FieldType::Classification)
            .labels(["positive", "negative"])
            .guidelines("positive: great, love, perfect\nnegative: broken, refund, awful, late")
            .input_column("text"),
        TaskField::new("amount", FieldType::AttributeExtraction)
            .guidelines("regex: \\$(\\d+)")
            .input_column("text"),
    ];
    c.tasks()
        .create("t", "seed", "", &fields, None)
        .await
        .unwrap();
    c.applications().deploy("t", Some(APP)).await.unwrap();
    let csv = dir.path().join("rows.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(w, "id,text").unwrap();
    for i in 0..ROWS {
        // Rows past DISTINCT repeat an earlier row's input.
        writeln!(
            w,
            "{i},{}",
            text(if i < DISTINCT { i } else { i - DISTINCT })
        )
        .unwrap();
    }
    drop(w);

    let latency = std::env::var("REFUEL_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    emu.set_network(Network::with_latency(latency));
    println!(
        "\n### {ROWS} rows ({}% duplicate inputs) labeled through one application, latency {} ms\n",
        (ROWS - DISTINCT) * 100 / ROWS,
        latency.as_millis()
    );
    println!("| who | seconds | label requests | rows/s | vs SDK |");
    println!("|---|---|---|---|---|");

    // SQL.
    reset(emu.url()).await;
    let ctx = SessionContext::new();
    ctx.register_refuel("refuel", c.clone()).await.unwrap();
    refuel::datafusion::enable_lake(&ctx).unwrap();
    let sql = format!(
        "SELECT count(l) AS n FROM \
         (SELECT refuel_label('{APP}', text) AS l FROM '{}')",
        csv.display()
    );
    let t = Instant::now();
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let sql_time = t.elapsed().as_secs_f64();
    let labeled = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(labeled.contains(&ROWS.to_string()), "{labeled}");
    let sql_requests = label_requests(emu.url()).await;

    // The SDK.
    reset(emu.url()).await;
    let out = Command::new(sdk_python())
        .args(["benches/sdk_label.py", emu.url(), KEY, PROJECT, APP])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sdk: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sdk_time = sdk["seconds"].as_f64().unwrap();
    assert_eq!(sdk["outputs"].as_u64(), Some(ROWS as u64));
    let sdk_requests = label_requests(emu.url()).await;

    println!(
        "| SQL `refuel_label` | {sql_time:.2} | {sql_requests} | {:.0} | {:.1}x faster |",
        ROWS as f64 / sql_time,
        sdk_time / sql_time
    );
    println!(
        "| Python SDK `label()` | {sdk_time:.2} | {sdk_requests} | {:.0} | 1.0x |",
        ROWS as f64 / sdk_time
    );
    println!(
        "\nDistinct inputs: {DISTINCT}; SQL sent {} request(s) for duplicates, the SDK {}.",
        sql_requests.saturating_sub(DISTINCT as u64),
        sdk_requests.saturating_sub(DISTINCT as u64)
    );
    emu.shutdown().await;
}
