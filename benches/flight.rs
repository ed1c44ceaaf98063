//! Flight SQL benchmark: a 100,000-row label table read through `refuel-sql serve` by the
//! ADBC Flight SQL driver into a pyarrow Table, against the same query run in process by
//! `refuel-sql`'s session; then ten clients at once against ten in-process sessions at
//! once.
//!
//! Run with `cargo bench --bench flight` (the Python side, `benches/flight_client.py`, runs
//! in the virtual environment `scripts/python-env.sh` makes). The server is the emulator in
//! a process of its own, 20 ms away with pages capped at 1000 rows
//! (`REFUEL_BENCH_LATENCY_MS` changes the latency); the Flight SQL server runs in this
//! process with the shell's session factory, as `refuel-sql serve` does. Times exclude
//! making connections and sessions; each figure is the median of seven runs.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use refuel::client::{ClientConfig, RefuelClient, ServerSemantics};
use refuel_sql::context::ShellContext;
use refuel_sql::subcommands::serve::ShellSessions;

#[path = "support/mod.rs"]
mod support;

const KEY: &str = "bench-key";
const PROJECT: &str = "bench";
const ROWS: usize = 100_000;
const CLIENTS: usize = 10;
const RUNS: usize = 7;
const SQL: &str = "SELECT * FROM sentiment_labels";

fn config(url: &str) -> ClientConfig {
    ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(url)
        .unwrap()
        .with_project(PROJECT)
        .with_semantics(ServerSemantics::emulator())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

async fn in_process(url: &str, sessions: usize) -> (Vec<f64>, usize) {
    let mut contexts = Vec::new();
    for _ in 0..sessions {
        let ctx = ShellContext::new(RefuelClient::new(config(url)).unwrap())
            .await
            .unwrap();
        contexts.push(ctx.ctx);
    }
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let results = futures::future::join_all(contexts.iter().map(|ctx| async move {
            let batches = ctx.sql(SQL).await.unwrap().collect().await.unwrap();
            batches.iter().map(|b| b.num_rows()).sum::<usize>()
        }))
        .await;
        times.push(started.elapsed().as_secs_f64());
        rows = results[0];
        assert!(results.iter().all(|&n| n == rows));
    }
    (times, rows)
}

#[derive(serde::Deserialize)]
struct ClientTimes {
    single: Vec<f64>,
    rows: usize,
    concurrent: Vec<f64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if args.get(1).is_some_and(|a| a == "--emulator") {
        runtime.block_on(support::serve_emulator(KEY));
        return;
    }
    runtime.block_on(run());
}

async fn run() {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--emulator");
    let (mut server, url) = support::spawn_emulator(command);
    support::seed_reviews(config(&url), ROWS).await;
    let latency = std::env::var("REFUEL_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_millis(20), Duration::from_millis);
    support::set_network(&url, latency, Some(1000), None).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let factory = Arc::new(ShellSessions::new(config(&url), None));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let flight = tokio::spawn(refuel_flight::serve(
        listener,
        factory,
        refuel_flight::ServeOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let (one, rows) = in_process(&url, 1).await;
    let (ten, _) = in_process(&url, CLIENTS).await;
    let python = support::sdk_python();
    let out = Command::new(&python)
        .arg("benches/flight_client.py")
        .args([&format!("grpc://{addr}"), KEY, PROJECT, SQL])
        .args([CLIENTS.to_string(), RUNS.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flight_client.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let adbc: ClientTimes = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(adbc.rows, rows, "ADBC read other rows");

    eprintln!("in process, 1: {one:.3?}\nin process, {CLIENTS}: {ten:.3?}");
    eprintln!(
        "ADBC, 1: {:.3?}\nADBC, {CLIENTS}: {:.3?}",
        adbc.single, adbc.concurrent
    );
    let (one, ten) = (median(one), median(ten));
    let (adbc_one, adbc_ten) = (median(adbc.single), median(adbc.concurrent));
    println!(
        "\n### {ROWS}-row label table (`{SQL}`); latency {} ms, pages of 1000 rows; median of {RUNS}\n",
        latency.as_millis()
    );
    println!(
        "| clients | in process, refuel-sql session (s) | ADBC Flight SQL into pyarrow (s) | ratio |"
    );
    println!("|---|---|---|---|");
    println!("| 1 | {one:.2} | {adbc_one:.2} | {:.2} |", adbc_one / one);
    println!(
        "| {CLIENTS} at once (wall) | {ten:.2} | {adbc_ten:.2} | {:.2} |",
        adbc_ten / ten
    );

    let _ = stop.send(());
    let _ = flight.await;
    drop(server.stdin.take());
    let _ = server.wait();
}
