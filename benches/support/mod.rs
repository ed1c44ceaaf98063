//! What several benchmarks share: the emulator's statistics endpoints and the Python SDK's
//! interpreter. Included with `#[path = "support/mod.rs"] mod support;`.

#![allow(dead_code)]

/// The allocator `refuel-sql` and `refuel-emulator` run with, so that the shell mode of a
/// benchmark and its in-process emulator run as those binaries do.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use refuel::client::{ClientConfig, RefuelClient};
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
