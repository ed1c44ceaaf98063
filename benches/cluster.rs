//! Cluster benchmark: a 100,000-row label table scanned, and joined with a 1,000,000-row
//! Parquet file, in process and on a Ballista cluster of two executors on this machine.
//!
//! Run with `cargo bench --bench cluster`. The server is the emulator in a process of its
//! own (this executable in its emulator mode), 20 ms away (±2 ms) with pages capped at
//! 1000 rows; the cluster is a scheduler and two executors, each a process of its own
//! (this executable in its scheduler and executor modes: `refuel-ballista`'s processes),
//! each executor running two tasks at once. The client session is the same for both runs
//! (four target partitions, so a scan's partitions spread over both executors); each query
//! runs three times and the median is reported, with the page requests each process made
//! (told apart by their `User-Agent`).
//!
//! `REFUEL_BENCH_LATENCY_MS` overrides the latency.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::{ClientConfig, RefuelClient};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::LoggedRequest;
use refuel_ballista::Cluster;
use refuel_ballista::process::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};

#[path = "support/mod.rs"]
mod support;

const KEY: &str = "bench-key";
const PROJECT: &str = "bench";
const ROWS: usize = 100_000;
const LAKE_ROWS: usize = 1_000_000;
const LATENCY: Duration = Duration::from_millis(20);
const PAGE_CAP: usize = 1000;
const RUNS: usize = 3;

const SCAN: &str = "SELECT * FROM sentiment_labels";
const JOIN: &str = "SELECT r.region, s.sentiment_label, count(*) AS n, avg(s.price) AS price \
     FROM sentiment_labels s JOIN regions r ON CAST(s.id AS BIGINT) = r.id \
     GROUP BY r.region, s.sentiment_label";

fn config(url: &str) -> ClientConfig {
    ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(url)
        .unwrap()
        .with_project(PROJECT)
}

/// `id` 0..n (beyond the label table's ids too) and a region each.
fn write_lake(path: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
    ]));
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, Arc::clone(&schema), None).unwrap();
    let regions = ["north", "south", "east", "west", "central"];
    for start in (0..LAKE_ROWS).step_by(65_536) {
        let end = (start + 65_536).min(LAKE_ROWS);
        let ids: Int64Array = (start as i64..end as i64).collect();
        let names: StringArray = (start..end).map(|i| Some(regions[i % 5])).collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids), Arc::new(names)])
            .unwrap();
        writer.write(&batch).unwrap();
    }
    writer.close().unwrap();
}

async fn session(url: &str, lake: &std::path::Path) -> SessionContext {
    let client = RefuelClient::new(config(url)).unwrap();
    let config = SessionConfig::new()
        .with_target_partitions(4)
        .with_default_catalog_and_schema("refuel", PROJECT);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_refuel("refuel", client).await.unwrap();
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE regions STORED AS PARQUET LOCATION '{}'",
        lake.display()
    ))
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    ctx
}

/// A process of this executable in another mode, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(url: &str, args: &[String]) -> Process {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .env("REFUEL_API_URL", url)
        .env("REFUEL_API_KEY", KEY)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Process(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn request_log(url: &str) -> Vec<LoggedRequest> {
    reqwest::get(format!("{url}/_emulator/requests"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Page requests by process (the `User-Agent`'s last word).
fn pages_by_process(log: &[LoggedRequest]) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for r in log {
        let page = r.method == "GET"
            && r.path.contains("/datasets/")
            && r.query.iter().any(|(k, v)| k == "max_items" && v != "0");
        if page {
            let agent = r.user_agent.clone().unwrap_or_default();
            let who = agent
                .split_whitespace()
                .nth(1)
                .unwrap_or("this process")
                .to_string();
            *by.entry(who).or_default() += 1;
        }
    }
    by
}

/// The median time of `RUNS` runs of `sql`, its row count, and the page requests by
/// process of the last run.
async fn measure(
    ctx: &SessionContext,
    url: &str,
    sql: &str,
) -> (f64, usize, BTreeMap<String, usize>) {
    let mut times = Vec::with_capacity(RUNS);
    let mut rows = 0;
    let mut pages = BTreeMap::new();
    for _ in 0..RUNS {
        support::reset(url).await;
        let started = Instant::now();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        times.push(started.elapsed().as_secs_f64());
        rows = batches.iter().map(|b| b.num_rows()).sum();
        pages = pages_by_process(&request_log(url).await);
    }
    times.sort_by(f64::total_cmp);
    (times[RUNS / 2], rows, pages)
}

fn show(pages: &BTreeMap<String, usize>) -> String {
    pages
        .iter()
        .map(|(who, n)| format!("{who}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if args
        .get(1)
        .is_some_and(|a| a == "--scheduler" || a == "--executor")
    {
        // The cluster's processes log as `refuel-ballista` does (`REFUEL_BALLISTA_LOG`).
        let filter = tracing_subscriber::EnvFilter::try_from_env("REFUEL_BALLISTA_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
    match args.get(1).map(String::as_str) {
        Some("--emulator") => runtime.block_on(support::serve_emulator(KEY)),
        Some("--scheduler") => {
            let bind: SocketAddr = args[2].parse().unwrap();
            let client = refuel_ballista::credentials::client_from_env(
                None,
                &format!("refuel-ballista-scheduler/{bind}"),
            )
            .unwrap();
            let options = SchedulerOptions {
                bind,
                executor_timeout: Duration::from_secs(60),
            };
            runtime.block_on(run_scheduler(options, client)).unwrap();
        }
        Some("--executor") => {
            let scheduler_port: u16 = args[2].parse().unwrap();
            let bind: SocketAddr = args[3].parse().unwrap();
            let client = refuel_ballista::credentials::client_from_env(
                None,
                &format!("refuel-ballista-executor/{bind}"),
            )
            .unwrap();
            let options = ExecutorOptions {
                scheduler_host: "127.0.0.1".into(),
                scheduler_port,
                bind,
                concurrent_tasks: 2,
            };
            runtime.block_on(run_executor(options, client)).unwrap();
        }
        _ => runtime.block_on(run()),
    }
}

async fn run() {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--emulator");
    let (mut server, url) = support::spawn_emulator(command);
    let started = Instant::now();
    support::seed_reviews(config(&url), ROWS).await;
    eprintln!(
        "{ROWS} rows uploaded and labeled in {:.1?}",
        started.elapsed()
    );
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("regions.parquet");
    write_lake(&lake);

    let port = free_port();
    let _scheduler = spawn(&url, &["--scheduler".into(), format!("127.0.0.1:{port}")]);
    // The executors register with a scheduler that listens already.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _executors: Vec<Process> = (0..2)
        .map(|_| {
            spawn(
                &url,
                &[
                    "--executor".into(),
                    port.to_string(),
                    format!("127.0.0.1:{}", free_port()),
                ],
            )
        })
        .collect();

    let latency = std::env::var("REFUEL_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(LATENCY, Duration::from_millis);
    support::set_network(&url, latency, Some(PAGE_CAP), None).await;

    eprintln!("cluster started; lake file written");
    let local = session(&url, &lake).await;
    let client = RefuelClient::new(config(&url)).unwrap();
    let remote = refuel_ballista::connect(
        &Cluster::Remote {
            host: "127.0.0.1".into(),
            port,
        },
        session(&url, &lake).await.state(),
        &client,
    )
    .await
    .unwrap();
    eprintln!("sessions made; waiting for the executors");
    // The executors register a moment after they start.
    for _ in 0..100 {
        let answered = match remote.sql("SELECT count(*) FROM sentiment_labels").await {
            Ok(frame) => frame.collect().await.is_ok(),
            Err(_) => false,
        };
        if answered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    println!(
        "\n### {ROWS}-row label table, {LAKE_ROWS}-row Parquet file; latency {} ms, pages of \
         {PAGE_CAP} rows; median of {RUNS}\n",
        latency.as_millis()
    );
    println!(
        "| query | rows | in process (s) | cluster of 2 executors (s) | cluster / in process | page requests in process | page requests on the cluster |"
    );
    println!("|---|---|---|---|---|---|---|");
    let scan = std::env::var("REFUEL_BENCH_SCAN").unwrap_or_else(|_| SCAN.to_string());
    for (name, sql) in [
        ("label-table scan", scan.as_str()),
        ("join with Parquet", JOIN),
    ] {
        eprintln!("{name}: in process");
        let (local_s, local_rows, local_pages) = measure(&local, &url, sql).await;
        eprintln!("{name}: on the cluster");
        let (cluster_s, cluster_rows, cluster_pages) = measure(&remote, &url, sql).await;
        assert_eq!(local_rows, cluster_rows, "{name}: other row counts");
        println!(
            "| {name} | {local_rows} | {local_s:.2} | {cluster_s:.2} | {:.2} | {} | {} |",
            cluster_s / local_s,
            show(&local_pages),
            show(&cluster_pages)
        );
    }
    drop(server.stdin.take());
    let _ = server.wait();
}
