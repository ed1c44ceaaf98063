//! The SQL scan against a server that caps pages at 100 rows, beside today's emulator.
//!
//! Run with `cargo bench --bench scan_capped`. Two in-process emulators on loopback hold
//! the same 100,000-row dataset: one with the default profile (pages up to 10,000 rows,
//! the client declaring the emulator's semantics: the baseline), one with the
//! `cloud-shapes` profile (the TypeScript SDK's shapes, at most 100 rows a page). Against
//! the capped one the client runs on its conservative defaults, first asking its usual
//! 1,000-row pages (each answered with 100 rows and continued), then with the cap declared
//! (`max_page_rows=100`, one request per page). Each query is timed (median of 5 runs) with
//! the requests the emulator saw; times are reported as ratios to the baseline measured in
//! the same run.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::io::Write;
use std::time::{Duration, Instant};

use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use refuel::client::{ClientConfig, RefuelClient, ServerSemantics, WaitOptions};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::{Emulator, EmulatorConfig, EmulatorHandle, Profile};

#[path = "support/mod.rs"]
mod support;
use support::{reset, stats};

const KEY: &str = "bench-key";
const ROWS: usize = 100_000;
const RUNS: usize = 5;
const WORKERS: usize = 2;

const QUERIES: [(&str, &str); 5] = [
    ("full scan", "SELECT * FROM reviews"),
    (
        "selective filter (1 in 5)",
        "SELECT * FROM reviews WHERE category = 'garden'",
    ),
    (
        "numeric filter (1 in 10)",
        "SELECT * FROM reviews WHERE price < 100",
    ),
    (
        "ORDER BY price DESC LIMIT 10",
        "SELECT * FROM reviews ORDER BY price DESC LIMIT 10",
    ),
    ("count(*)", "SELECT count(*) FROM reviews"),
];

fn write_csv(path: &std::path::Path) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id,title,review,category,price,in_stock").unwrap();
    let cats = ["books", "electronics", "garden", "toys", "grocery"];
    for i in 0..ROWS {
        let price = (i * 7919 % 100_000) as f64 / 100.0;
        writeln!(
            w,
            "{i},Item {i},\"review of item {i}, order {}\",{},{price},{}",
            i * 31 % 9973,
            cats[i % cats.len()],
            i % 3 == 0
        )
        .unwrap();
    }
}

fn config(url: &str, semantics: ServerSemantics) -> ClientConfig {
    ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(url)
        .unwrap()
        .with_project("bench")
        .with_max_workers(WORKERS)
        .with_semantics(semantics)
}

async fn loaded(profile: Profile, csv: &std::path::Path) -> EmulatorHandle {
    let emu = Emulator::start(EmulatorConfig::new().api_key(KEY).profile(profile))
        .await
        .unwrap();
    let client = RefuelClient::new(config(emu.url(), ServerSemantics::emulator())).unwrap();
    client.projects().create("bench", "").await.unwrap();
    let client = client.with_project("bench");
    client.datasets().upload_file(csv, "reviews").await.unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(900),
    };
    client
        .datasets()
        .wait_for_ingest("reviews", wait)
        .await
        .unwrap();
    emu
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

/// The median time of `sql` over [`RUNS`] runs, its rows, and the requests of one run.
async fn measure(ctx: &SessionContext, url: &str, sql: &str) -> (Duration, usize, u64) {
    let mut times = Vec::with_capacity(RUNS);
    let mut rows = 0;
    let mut requests = 0;
    for _ in 0..RUNS {
        reset(url).await;
        let started = Instant::now();
        let mut stream = ctx.sql(sql).await.unwrap().execute_stream().await.unwrap();
        rows = 0;
        while let Some(batch) = stream.next().await {
            rows += batch.unwrap().num_rows();
        }
        times.push(started.elapsed());
        requests = stats(url).await.requests_total;
    }
    times.sort();
    (times[RUNS / 2], rows, requests)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("reviews.csv");
    write_csv(&csv);
    let baseline = loaded(Profile::Default, &csv).await;
    let capped = loaded(Profile::CloudShapes, &csv).await;
    let settings = [
        (
            "default profile, emulator semantics (baseline)",
            baseline.url(),
            ServerSemantics::emulator(),
        ),
        (
            "100-row pages, conservative, 1,000-row asks",
            capped.url(),
            ServerSemantics::conservative(),
        ),
        (
            "100-row pages, conservative, cap declared",
            capped.url(),
            "conservative,max_page_rows=100".parse().unwrap(),
        ),
    ];
    println!(
        "{ROWS} rows, {WORKERS} requests in flight, median of {RUNS} runs, loopback, in process"
    );
    println!(
        "| query | {} |",
        settings
            .iter()
            .map(|(name, _, _)| *name)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|---|---|");
    let mut contexts = Vec::new();
    for (_, url, semantics) in &settings {
        let client = RefuelClient::new(config(url, *semantics)).unwrap();
        contexts.push(session(client).await);
    }
    for (name, sql) in QUERIES {
        let mut cells = Vec::new();
        let mut base = None;
        let mut base_rows = None;
        for ((_, url, _), ctx) in settings.iter().zip(&contexts) {
            let (time, rows, requests) = measure(ctx, url, sql).await;
            assert_eq!(*base_rows.get_or_insert(rows), rows, "{name}: same rows");
            let base = *base.get_or_insert(time);
            cells.push(format!(
                "{:.1} ms, {requests} req, x{:.2}",
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() / base.as_secs_f64()
            ));
        }
        println!("| {name} | {} |", cells.join(" | "));
    }
    baseline.shutdown().await;
    capped.shutdown().await;
}
