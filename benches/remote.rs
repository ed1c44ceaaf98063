//! Remote-speed benchmark: full scans of a 100,000-row label table against a server 50 ms
//! away that caps pages at 100 rows, then under a rate limit.
//!
//! The server is the emulator in a process of its own (this executable in its emulator
//! mode), as a remote server is: its work does not share the scanning process's runtime.
//!
//! Run with `cargo bench --bench remote` (release build; it needs the Python SDK's venv,
//! which `bash scripts/python-env.sh` makes). One emulator holds the dataset
//! `reviews` labeled by the task `sentiment`. Then, with `--latency-ms 50` (±5 ms jitter)
//! and `--max-page-rows 100` in force:
//!
//! - `refuel-sql`: `SELECT * FROM sentiment_labels` written as CSV to `/dev/null`, run as a
//!   whole process (this benchmark's executable in its shell mode, which is `refuel-sql`'s
//!   `main`), with the defaults a new user has (adaptive concurrency, 1,000-row pages asked);
//! - the client's stream (`items().stream_as` with the task, default configuration);
//! - the Python SDK's `get_items` (`benches/sdk_scan.py`, whole `get_items` call);
//!
//! each with the page requests the emulator served, the most requests it had in flight
//! (the concurrency reached) and the ideal time `pages x latency / concurrency reached`.
//! Then with `--rate-limit 40` as well: `refuel-sql` and the client's stream again, with
//! their throughput as a share of the allowed rate and the share of requests answered 429.
//!
//! `REFUEL_BENCH_ONLY=sql,stream,sdk,rate` runs only the parts named (all by default), and
//! `REFUEL_BENCH_LATENCY_MS` overrides the latency (0 shows the CPU floor).

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::TryStreamExt;
use refuel::client::models::{ItemQuery, LabeledItem};
use refuel::client::{ClientConfig, RefuelClient};
use refuel::emulator::StatsView;

#[path = "support/mod.rs"]
mod support;
use support::{reset, sdk_python, stats};

const KEY: &str = "bench-key";
const PROJECT: &str = "bench";
const ROWS: usize = 100_000;
const LATENCY: Duration = Duration::from_millis(50);
const PAGE_CAP: usize = 100;
const RATE: f64 = 40.0;
const SCAN: &str = "SELECT * FROM sentiment_labels";

fn config(url: &str) -> ClientConfig {
    ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(url)
        .unwrap()
        .with_project(PROJECT)
}

/// The dataset and its labels, made before the network is slowed down.
async fn setup(url: &str) {
    support::seed_reviews(config(url), ROWS).await;
}

/// Page requests (row queries) among the requests served.
fn page_requests(s: &StatsView) -> u64 {
    s.requests
        .iter()
        .filter(|(route, _)| route.starts_with("GET /tasks/{task_id}/datasets"))
        .map(|(_, n)| n)
        .sum()
}

/// Whether the part `name` of the benchmark runs (`REFUEL_BENCH_ONLY`, all by default).
fn wanted(name: &str) -> bool {
    std::env::var("REFUEL_BENCH_ONLY")
        .map_or(true, |only| only.split(',').any(|p| p.trim() == name))
}

/// One measured scan.
#[derive(Clone)]
struct Measured {
    seconds: f64,
    rows: u64,
    stats: StatsView,
    ok: bool,
}

/// `refuel-sql -c SCAN` as a child process: its wall time.
async fn shell_process(url: &str) -> Measured {
    reset(url).await;
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["--shell", "--endpoint", url, "--api-key", KEY])
        .args([
            "--project",
            PROJECT,
            "--format",
            "csv",
            "-o",
            "/dev/null",
            "-q",
        ])
        .args(["-c", SCAN])
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!(
            "refuel-sql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Measured {
        seconds,
        rows: ROWS as u64,
        stats: stats(url).await,
        ok: out.status.success(),
    }
}

/// The client's stream of labeled rows, default configuration (a fresh client).
async fn client_stream(url: &str) -> Measured {
    reset(url).await;
    let started = Instant::now();
    let client = RefuelClient::new(config(url)).unwrap();
    // When pages arrive (seconds from the start), shown on stderr: where the time goes
    // (start-up, ramp, steady rate, tail).
    let marks = std::sync::Mutex::new(Vec::new());
    let pages: Result<Vec<_>, _> = client
        .items()
        .stream_as::<LabeledItem>("reviews", ItemQuery::new().task("sentiment"))
        .inspect_ok(|_| marks.lock().unwrap().push(started.elapsed().as_secs_f64()))
        .try_collect()
        .await;
    let m = marks.into_inner().unwrap();
    if !m.is_empty() {
        let at = |q: f64| m[((m.len() - 1) as f64 * q) as usize];
        eprintln!(
            "pages at: first {:.3} 10% {:.3} 50% {:.3} 90% {:.3} last {:.3} ({} pages)",
            at(0.0),
            at(0.1),
            at(0.5),
            at(0.9),
            at(1.0),
            m.len()
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let ok = pages.is_ok();
    let rows = pages
        .map(|p| p.iter().map(|p| p.items.len() as u64).sum())
        .unwrap_or(0);
    eprintln!("client limiter: {:?}", client.limiter().stats());
    Measured {
        seconds,
        rows,
        stats: stats(url).await,
        ok,
    }
}

/// The Python SDK's `get_items` over the label table.
async fn python_sdk(url: &str) -> Measured {
    let python = sdk_python();
    reset(url).await;
    let out = Command::new(python)
        .args([
            "benches/sdk_scan.py",
            url,
            KEY,
            PROJECT,
            "reviews",
            "sentiment",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python SDK run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Measured {
        seconds: v["seconds"].as_f64().unwrap(),
        rows: v["rows"].as_u64().unwrap(),
        stats: stats(url).await,
        ok: true,
    }
}

/// Sets the emulator's simulated network (`PUT /_emulator/network`).
async fn set_network(url: &str, latency: Duration, rate_limit: Option<f64>) {
    support::set_network(url, latency, Some(PAGE_CAP), rate_limit).await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--emulator") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(support::serve_emulator(KEY));
        return;
    }
    if args.get(1).map(String::as_str) == Some("--shell") {
        // `refuel-sql`'s main, with the rest of the arguments.
        let cli = refuel_sql::cli::Cli::parse_from(
            std::iter::once("refuel-sql".to_string()).chain(args[2..].iter().cloned()),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let code = runtime.block_on(refuel_sql::exec::run(cli));
        runtime.shutdown_timeout(Duration::from_secs(2));
        match code {
            Ok(_) => std::process::exit(0),
            Err(e) => {
                eprintln!("{e:#}");
                std::process::exit(1);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--emulator");
    let (mut server, url) = support::spawn_emulator(command);
    let started = Instant::now();
    setup(&url).await;
    eprintln!(
        "{ROWS} rows uploaded and labeled in {:.1?}",
        started.elapsed()
    );

    let latency = std::env::var("REFUEL_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(LATENCY, Duration::from_millis);
    set_network(&url, latency, None).await;
    println!(
        "\n### {ROWS}-row label table, latency {} ms (±{} ms), pages capped at {PAGE_CAP} rows\n",
        latency.as_millis(),
        (latency / 10).as_millis()
    );
    println!(
        "| scan | rows | seconds | page requests | concurrency reached | ideal (s) | time / ideal | SDK time / this |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    if wanted("sql") {
        rows.push(("refuel-sql (whole process)", shell_process(&url).await));
    }
    if wanted("stream") {
        rows.push(("client stream", client_stream(&url).await));
    }
    let sdk = if wanted("sdk") {
        let sdk = python_sdk(&url).await;
        rows.push(("Python SDK get_items", sdk.clone()));
        Some(sdk.seconds)
    } else {
        None
    };
    for (name, m) in &rows {
        let pages = page_requests(&m.stats);
        let peak = m.stats.peak_in_flight.max(1);
        let ideal = pages as f64 * latency.as_secs_f64() / peak as f64;
        println!(
            "| {name} | {} | {:.2} | {pages} | {peak} | {ideal:.2} | {:.2} | {} |{}",
            m.rows,
            m.seconds,
            m.seconds / ideal,
            sdk.map_or("-".to_string(), |s| format!("{:.1}x", s / m.seconds)),
            if m.ok { "" } else { " FAILED" }
        );
    }
    if !wanted("rate") {
        drop(server.stdin.take());
        let _ = server.wait();
        return;
    }

    set_network(&url, latency, Some(RATE)).await;
    println!("\n### The same with --rate-limit {RATE} (requests per second per key)\n");
    println!(
        "| scan | seconds | requests | answered 429 | 429 share | ok requests / s | share of the allowed rate | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for name in ["refuel-sql (whole process)", "client stream"] {
        // A full bucket for each run.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m = if name.starts_with("refuel-sql") {
            shell_process(&url).await
        } else {
            client_stream(&url).await
        };
        let total = m.stats.requests_total;
        let throttled = m.stats.throttled;
        let ok_rate = (total - throttled) as f64 / m.seconds;
        println!(
            "| {name} | {:.2} | {total} | {throttled} | {:.1}% | {ok_rate:.1} | {:.0}% | {} |",
            m.seconds,
            100.0 * throttled as f64 / total.max(1) as f64,
            100.0 * ok_rate / RATE,
            if m.ok && m.rows == ROWS as u64 {
                "no"
            } else {
                "YES"
            }
        );
    }
    drop(server.stdin.take());
    let _ = server.wait();
}
