//! What several benchmarks share: the emulator's statistics and network endpoints, the
//! labeled reviews dataset, and the Python SDK's interpreter. Included with `#[path = "support/mod.rs"] mod support;`.

#![allow(dead_code)]

/// The allocator `refuel-sql` and `refuel-emulator` run with, so that the shell mode of a
/// benchmark and its in-process emulator run as those binaries do.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::time::Duration;

use refuel::client::models::FieldType;
use refuel::client::{ClientConfig, RefuelClient, TaskField, WaitOptions};
use refuel::emulator::{Emulator, EmulatorConfig, EmulatorHandle, StatsView};

/// An in-process emulator accepting `key`, with the project `project`, and the client
/// configuration for it (set to that project).
pub async fn emulator_with_project(key: &str, project: &str) -> (EmulatorHandle, ClientConfig) {
    emulator_from(EmulatorConfig::new().api_key(key), key, project).await
}

/// As [`emulator_with_project`], for an emulator started from `config` (which accepts
/// `key`).
pub async fn emulator_from(
    config: EmulatorConfig,
    key: &str,
    project: &str,
) -> (EmulatorHandle, ClientConfig) {
    let emu = Emulator::start(config).await.unwrap();
    let base = ClientConfig::default()
        .with_api_key(key)
        .with_base_url(emu.url())
        .unwrap();
    RefuelClient::new(base.clone())
        .unwrap()
        .projects()
        .create(project, "")
        .await
        .unwrap();
    (emu, base.with_project(project))
}

/// The emulator's request statistics (`GET /_emulator/stats`).
pub async fn stats(url: &str) -> StatsView {
    reqwest::get(format!("{url}/_emulator/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Zeroes the emulator's statistics and empties its request log.
pub async fn reset(url: &str) {
    reqwest::Client::new()
        .post(format!("{url}/_emulator/stats/reset"))
        .send()
        .await
        .unwrap();
}

/// The Python interpreter of the SDK's virtual environment (`scripts/python-env.sh` makes it
/// and prints its path last).
pub fn sdk_python() -> String {
    let venv = std::process::Command::new("bash")
        .arg("scripts/python-env.sh")
        .output()
        .unwrap();
    String::from_utf8_lossy(&venv.stdout)
        .lines()
        .last()
        .unwrap_or("python3")
        .to_string()
}

/// A benchmark executable's emulator mode: an emulator accepting `key`, its URL printed on
/// stdout, serving until stdin closes (the benchmark that started it ended).
pub async fn serve_emulator(key: &str) {
    let emu = Emulator::start(EmulatorConfig::new().api_key(key))
        .await
        .unwrap();
    println!("{}", emu.url());
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    })
    .await
    .unwrap();
    emu.shutdown().await;
}

/// Starts `command`, a benchmark executable in its emulator mode ([`serve_emulator`]):
/// the child and the emulator's URL. Closing the child's stdin stops it.
pub fn spawn_emulator(mut command: std::process::Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the emulator process starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_string())
}

/// `rows` product reviews as CSV: id, title, review, category, price.
fn write_reviews(path: &std::path::Path, rows: usize) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id,title,review,category,price").unwrap();
    let cats = ["books", "electronics", "garden", "toys", "grocery"];
    let opinions = [
        "great value, would buy again",
        "terrible, broke after a day",
        "okay for the price",
        "excellent quality and fast delivery",
        "average, nothing special",
    ];
    for i in 0..rows {
        writeln!(
            w,
            "{i},Item {i},\"{} (order {})\",{},{}",
            opinions[i % opinions.len()],
            i * 31 % 9973,
            cats[i % cats.len()],
            (i * 7919 % 100_000) as f64 / 100.0
        )
        .unwrap();
    }
}

/// Project `config.project` with `rows` reviews (dataset `reviews`) labeled by the task
/// `sentiment` (the client of `config`).
pub async fn seed_reviews(config: ClientConfig, rows: usize) {
    let project = config.project.clone().unwrap_or_default();
    let setup = RefuelClient::new(config).unwrap();
    setup
        .projects()
        .create(&project, "benchmark")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reviews.csv");
    write_reviews(&path, rows);
    setup
        .datasets()
        .upload_file(&path, "reviews")
        .await
        .unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(900),
    };
    setup
        .datasets()
        .wait_for_ingest("reviews", wait)
        .await
        .unwrap();
    let field = TaskField::new("sentiment", FieldType::Classification)
        .labels(["positive", "negative", "neutral"])
        .guidelines("positive: great, excellent\nnegative: terrible\nneutral: okay, average")
        .input_column("review");
    setup
        .tasks()
        .create("sentiment", "reviews", "Product reviews", &[field], None)
        .await
        .unwrap();
    setup
        .runs()
        .start("sentiment", "reviews", None)
        .await
        .unwrap();
    setup
        .runs()
        .wait_for_completion("sentiment", "reviews", wait, |_| {})
        .await
        .unwrap();
}

/// Sets the emulator's simulated network: latency (±10 % jitter), page cap, rate limit.
pub async fn set_network(
    url: &str,
    latency: Duration,
    page_cap: Option<usize>,
    rate_limit: Option<f64>,
) {
    let body = serde_json::json!({
        "latency_ms": latency.as_millis() as u64,
        "max_page_rows": page_cap,
        "rate_limit": rate_limit,
    });
    let resp = reqwest::Client::new()
        .put(format!("{url}/_emulator/network"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}
