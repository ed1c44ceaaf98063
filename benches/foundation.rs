//! Foundation benchmark: the emulator's paging cost and the client's streamed scan.
//!
//! Run with `cargo bench --bench foundation` (release build). It prints:
//! 1. On a 1,000,000-row dataset: the latency of a 100-row page at offset 0 and at offset
//!    900,000, for the default order and for `ORDER BY score DESC` (whose first request
//!    evaluates and caches the order), and their ratio.
//! 2. On a 100,000-row dataset: rows/s of a full streamed scan by `refuel-client`
//!    (`items().stream`, decoded rows), against a baseline measured in the same run: the
//!    same page requests sent concurrently with raw `reqwest`, bodies discarded.
//!
//! Everything runs on loopback against an in-process emulator.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::io::Write;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use refuel::client::models::{ItemQuery, OrderBy};
use refuel::client::{ClientConfig, RefuelClient, WaitOptions};
use refuel::emulator::{Emulator, EmulatorConfig};

const KEY: &str = "bench-key";

fn write_csv(path: &std::path::Path, rows: usize) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id,name,category,score,flag").unwrap();
    let cats = ["books", "electronics", "garden", "toys", "grocery"];
    for i in 0..rows {
        let score = (i * 7919 % 100_000) as f64 / 1000.0;
        writeln!(
            w,
            "{i},item number {i},{},{score},{}",
            cats[i % cats.len()],
            i % 3 == 0
        )
        .unwrap();
    }
}

async fn dataset(client: &RefuelClient, dir: &std::path::Path, name: &str, rows: usize) -> String {
    let path = dir.join(format!("{name}.csv"));
    write_csv(&path, rows);
    let started = Instant::now();
    client.datasets().upload_file(&path, name).await.unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(600),
    };
    let ds = client.datasets().wait_for_ingest(name, wait).await.unwrap();
    eprintln!(
        "uploaded and ingested {rows} rows in {:.2?}",
        started.elapsed()
    );
    ds.id
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p95(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 95 / 100).min(v.len() - 1)]
}

async fn page_latency(client: &RefuelClient, dataset: &str, query: &ItemQuery, label: &str) {
    let items = client.items();
    let target = items.resolve(dataset, query).await.unwrap();
    let cold = Instant::now();
    let first = items.fetch_bytes(&target, query, 0, 100).await.unwrap();
    let cold = cold.elapsed();
    assert!(first.len() > 100);
    let (mut at0, mut at900k) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let t = Instant::now();
        let b = items.fetch_bytes(&target, query, 0, 100).await.unwrap();
        at0.push(t.elapsed());
        std::hint::black_box(b);
        let t = Instant::now();
        let b = items
            .fetch_bytes(&target, query, 900_000, 100)
            .await
            .unwrap();
        at900k.push(t.elapsed());
        std::hint::black_box(b);
    }
    let (m0, m9) = (median(at0.clone()), median(at900k.clone()));
    println!(
        "| {label} | {:.2?} | {:.3?} (p95 {:.3?}) | {:.3?} (p95 {:.3?}) | {:.2} |",
        cold,
        m0,
        p95(at0),
        m9,
        p95(at900k),
        m9.as_secs_f64() / m0.as_secs_f64()
    );
}

async fn raw_scan(base: &str, dataset_id: &str, total: u64, page: u64, workers: usize) -> u64 {
    let http = reqwest::Client::new();
    let offsets: Vec<u64> = (0..total).step_by(page as usize).collect();
    futures::stream::iter(offsets)
        .map(|o| {
            let http = http.clone();
            let url =
                format!("{base}/datasets/{dataset_id}?offset={o}&max_items={page}&expand=true");
            async move {
                http.get(url)
                    .bearer_auth(KEY)
                    .send()
                    .await?
                    .bytes()
                    .await
                    .map(|b| b.len() as u64)
            }
        })
        .buffered(workers)
        .try_fold(0u64, |acc, n| async move { Ok(acc + n) })
        .await
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let emu = Emulator::start(EmulatorConfig::new().api_key(KEY))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(emu.url())
        .unwrap();
    let setup = RefuelClient::new(base.clone()).unwrap();
    setup.projects().create("bench", "").await.unwrap();
    let client = RefuelClient::new(base.clone().with_project("bench")).unwrap();

    println!("## Page latency on a 1,000,000-row dataset (100-row pages, 200 samples each)\n");
    dataset(&client, dir.path(), "million", 1_000_000).await;
    println!(
        "| query | first request (cold) | offset 0, median | offset 900,000, median | ratio 900k / 0 |"
    );
    println!("|---|---|---|---|---|");
    page_latency(&client, "million", &ItemQuery::new(), "default order").await;
    page_latency(
        &client,
        "million",
        &ItemQuery::new().order_by(OrderBy::desc("score")),
        "ORDER BY score DESC",
    )
    .await;

    println!("\n## Full streamed scan of 100,000 rows (page size 1,000)\n");
    let id = dataset(&client, dir.path(), "hundredk", 100_000).await;
    println!(
        "| workers | raw fetch, bodies discarded (baseline) | client stream, rows skipped | ratio | client stream, rows decoded into `Row` | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    for workers in [1usize, 4] {
        let scan_client = RefuelClient::new(
            base.clone()
                .with_project("bench")
                .with_max_workers(workers)
                .with_page_size(1000),
        )
        .unwrap();
        scan_client.datasets().id("hundredk").await.unwrap();
        let (mut raw_times, mut client_times, mut skip_times) =
            (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            let t = Instant::now();
            let bytes = raw_scan(emu.url(), &id, 100_000, 1000, workers).await;
            raw_times.push(t.elapsed());
            assert!(bytes > 1_000_000);
            let t = Instant::now();
            let rows: usize = scan_client
                .items()
                .stream("hundredk", ItemQuery::new())
                .map_ok(|p| p.items.len())
                .try_fold(0, |a, n| async move { Ok(a + n) })
                .await
                .unwrap();
            client_times.push(t.elapsed());
            assert_eq!(rows, 100_000);
            let t = Instant::now();
            let rows: usize = scan_client
                .items()
                .stream_as::<serde::de::IgnoredAny>("hundredk", ItemQuery::new())
                .map_ok(|p| p.items.len())
                .try_fold(0, |a, n| async move { Ok(a + n) })
                .await
                .unwrap();
            skip_times.push(t.elapsed());
            assert_eq!(rows, 100_000);
        }
        let (raw, cli, skip) = (median(raw_times), median(client_times), median(skip_times));
        let rate = |d: Duration| 100_000.0 / d.as_secs_f64();
        println!(
            "| {workers} | {raw:.1?} ({:.0} rows/s) | {skip:.1?} ({:.0} rows/s) | {:.2} | {cli:.1?} ({:.0} rows/s) | {:.2} |",
            rate(raw),
            rate(skip),
            skip.as_secs_f64() / raw.as_secs_f64(),
            rate(cli),
            cli.as_secs_f64() / raw.as_secs_f64()
        );
    }
    emu.shutdown().await;
}
