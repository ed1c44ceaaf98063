//! Python benchmark: a 100,000-row label table into a pandas frame through
//! `refuel_datafusion` in datafusion-python (`ctx.sql("SELECT * FROM
//! refuel.<project>.sentiment_labels").to_pandas()`), against the official SDK's
//! `get_items(dataset, task=...)` on the same server.
//!
//! Run with `cargo bench --bench python` after `bash scripts/python-module.sh --build`
//! (which builds the module into `.venv-python`; the Python side is
//! `benches/python_label_table.py`). The server is the emulator in a process of its own,
//! 20 ms away with pages capped at 1000 rows (`REFUEL_BENCH_LATENCY_MS` changes the
//! latency). Figures are medians: seven runs of the module, three of the SDK.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::process::Command;
use std::time::Duration;

use refuel::client::{ClientConfig, ServerSemantics};

#[path = "support/mod.rs"]
mod support;

const KEY: &str = "bench-key";
const PROJECT: &str = "bench";
const ROWS: usize = 100_000;
const RUNS: usize = 7;
const SDK_RUNS: usize = 3;

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

#[derive(serde::Deserialize)]
struct Times {
    datafusion: Vec<f64>,
    sdk: Vec<f64>,
    rows: std::collections::BTreeMap<String, usize>,
    build: String,
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

/// The interpreter of `.venv-python`, with the module built into it.
fn module_python() -> String {
    let out = Command::new("bash")
        .args(["scripts/python-module.sh", "--build"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/python-module.sh --build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string()
}

async fn run() {
    let python = std::env::var("REFUEL_BENCH_PYTHON").unwrap_or_else(|_| module_python());
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--emulator");
    let (mut server, url) = support::spawn_emulator(command);
    support::seed_reviews(config(&url), ROWS).await;
    let latency = std::env::var("REFUEL_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_millis(20), Duration::from_millis);
    support::set_network(&url, latency, Some(1000), None).await;

    let out = Command::new(&python)
        .arg("benches/python_label_table.py")
        .args([&url, KEY, PROJECT, "reviews", "sentiment"])
        .args([RUNS.to_string(), SDK_RUNS.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "python_label_table.py failed");
    let times: Times = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        times.rows.get("datafusion"),
        Some(&ROWS),
        "{:?}",
        times.rows
    );
    assert_eq!(times.rows.get("sdk"), Some(&ROWS), "{:?}", times.rows);

    let (ours, sdk) = (median(times.datafusion), median(times.sdk));
    println!(
        "\n### {ROWS}-row label table into pandas; latency {} ms, pages of 1000 rows; \
         module built {}; median of {RUNS} (module) and {SDK_RUNS} (SDK)\n",
        latency.as_millis(),
        times.build
    );
    println!("| reader | seconds | speed-up |");
    println!("|---|---|---|");
    println!("| SDK `get_items(dataset, task=...)` | {sdk:.2} | 1.0 |");
    println!(
        "| refuel_datafusion, `ctx.sql(...).to_pandas()` | {ours:.2} | {:.1} |",
        sdk / ours
    );
    drop(server.stdin.take());
    let _ = server.wait();
}
