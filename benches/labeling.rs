//! Labeling benchmark: task-run throughput on the reference labeler, and `label` throughput
//! of an application.
//!
//! Run with `cargo bench --bench labeling`. It prints, on loopback against an in-process
//! emulator (reference labeler):
//! 1. A 10,000-row task run (two fields), from `start` to `completed` as the client sees it
//!    (polling every 10 ms), in memory and with a data directory (labels fsynced per batch),
//!    against a baseline measured in the same run: the reference labeler alone on the same
//!    rows, in-process, with no HTTP and no storage.
//! 2. `applications().label` with 1,000 inputs (one request per input, as the Python SDK
//!    sends them, `max_workers` in flight), against raw concurrent POSTs of the same
//!    requests with bodies discarded.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::io::Write;
use std::time::{Duration, Instant};

use futures::StreamExt;
use refuel::client::models::{FieldType, Row};
use refuel::client::{LabelOptions, RefuelClient, TaskField, WaitOptions};
use refuel::emulator::Cell;
use refuel::emulator::EmulatorConfig;
use refuel::emulator::labeler::{Labeler, ReferenceLabeler, RowInput, TaskSpec};
use serde_json::json;

#[path = "support/mod.rs"]
mod support;

const KEY: &str = "bench-key";
const ROWS: usize = 10_000;
const WORDS: [&str; 10] = [
    "great", "love", "broken", "refund", "battery", "screen", "late", "perfect", "cheap", "awful",
];

fn text(i: usize) -> String {
    (0..12)
        .map(|k| WORDS[(i * 7 + k * 3) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
        + &format!(" order ${}", i % 500)
}

fn fields() -> Vec<TaskField> {
    vec![
        TaskField::new("sentiment", FieldType::Classification)
            .labels(["positive", "negative"])
            .guidelines("positive: great, love, perfect\nnegative: broken, refund, awful, late")
            .input_column("text"),
        TaskField::new("amount", FieldType::AttributeExtraction)
            .guidelines("regex: \\$(\\d+)")
            .input_column("text"),
    ]
}

async fn run_once(durable: bool) -> Duration {
    let data = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new().api_key(KEY);
    if durable {
        config = config.data_dir(data.path());
    }
    let (emu, config) = support::emulator_from(config, KEY, "bench").await;
    let c = RefuelClient::new(config).unwrap();
    let path = data.path().join("rows.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(w, "id,text").unwrap();
    for i in 0..ROWS {
        writeln!(w, "{i},{}", text(i)).unwrap();
    }
    drop(w);
    c.datasets().upload_file(&path, "rows").await.unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_secs(600),
    };
    c.datasets().wait_for_ingest("rows", wait).await.unwrap();
    c.tasks()
        .create("t", "rows", "", &fields(), None)
        .await
        .unwrap();
    let t = Instant::now();
    c.runs().start("t", "rows", None).await.unwrap();
    let run = c
        .runs()
        .wait_for_completion("t", "rows", wait, |_| {})
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(run.metric("num_labeled"), Some(ROWS as f64));
    emu.shutdown().await;
    took
}

async fn labeler_alone(task: &TaskSpec) -> Duration {
    let rows: Vec<RowInput> = (0..ROWS)
        .map(|i| {
            [
                ("id".to_string(), Cell::Int(i as i64)),
                ("text".to_string(), Cell::Str(text(i).into())),
            ]
            .into_iter()
            .collect()
        })
        .collect();
    let t = Instant::now();
    for r in &rows {
        std::hint::black_box(ReferenceLabeler.label(task, r, None).await.unwrap());
    }
    t.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    // The task spec the emulator derives, for the in-process baseline.
    let subtasks = refuel::client::task_settings(
        &serde_json::from_value(json!({"id": "x", "name": "rows", "ingest_status": "success",
            "schema": {"type": "object", "properties": {"id": {"name": "id", "type": "number", "order": 0}, "text": {"name": "text", "type": "string", "order": 1}}}}))
        .unwrap(),
        "",
        &fields(),
        None,
    )
    .unwrap()
    .subtasks;
    let spec = TaskSpec {
        context: String::new(),
        fields: subtasks,
        model: None,
        examples: Default::default(),
    };

    println!("## Task run of {ROWS} rows, reference labeler (median of 3)\n");
    println!("| setup | time | rows/s | ratio to the labeler alone |");
    println!("|---|---|---|---|");
    let mut alone = Vec::new();
    for _ in 0..3 {
        alone.push(labeler_alone(&spec).await);
    }
    alone.sort();
    let base = alone[1];
    println!(
        "| reference labeler alone, in-process (baseline) | {base:.1?} | {:.0} | 1.00 |",
        ROWS as f64 / base.as_secs_f64()
    );
    for durable in [false, true] {
        let mut times = Vec::new();
        for _ in 0..3 {
            times.push(run_once(durable).await);
        }
        times.sort();
        let t = times[1];
        println!(
            "| task run over HTTP, {} | {t:.1?} | {:.0} | {:.2} |",
            if durable {
                "durable (--data-dir)"
            } else {
                "in memory"
            },
            ROWS as f64 / t.as_secs_f64(),
            t.as_secs_f64() / base.as_secs_f64()
        );
    }

    println!("\n## label() with 1,000 inputs (median of 3)\n");
    let (emu, config) = support::emulator_with_project(KEY, "bench").await;
    let c = RefuelClient::new(config.with_max_workers(8)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.csv");
    std::fs::write(&path, format!("id,text\n0,{}\n", text(0))).unwrap();
    c.datasets().upload_file(&path, "seed").await.unwrap();
    c.datasets()
        .wait_for_ingest("seed", WaitOptions::default())
        .await
        .unwrap();
    c.tasks()
        .create("t", "seed", "", &fields(), None)
        .await
        .unwrap();
    let app = c.applications().deploy("t", Some("app")).await.unwrap();
    let inputs: Vec<Row> = (0..1000)
        .map(|i| {
            json!({"id": i, "text": text(i)})
                .as_object()
                .unwrap()
                .clone()
        })
        .collect();
    println!(
        "| workers | raw concurrent POSTs, bodies discarded (baseline) | client label() | ratio |"
    );
    println!("|---|---|---|---|");
    let http = reqwest::Client::new();
    let (mut raw, mut client) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let ok = futures::stream::iter(&inputs)
            .map(|input| {
                let http = http.clone();
                let url = format!(
                    "{}/applications/{}/label?explain=false&telemetry=false",
                    emu.url(),
                    app.id
                );
                async move {
                    http.post(url)
                        .bearer_auth(KEY)
                        .json(&[input])
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .is_ok()
                }
            })
            .buffered(8)
            .filter(|ok| futures::future::ready(*ok))
            .count()
            .await;
        raw.push(t.elapsed());
        assert_eq!(ok, 1000);
        let t = Instant::now();
        let outs = c
            .applications()
            .label("app", &inputs, &LabelOptions::new())
            .await
            .unwrap();
        client.push(t.elapsed());
        assert!(outs.iter().all(Result::is_ok));
    }
    raw.sort();
    client.sort();
    let (r, cl) = (raw[1], client[1]);
    println!(
        "| 8 | {r:.1?} ({:.0} inputs/s) | {cl:.1?} ({:.0} inputs/s) | {:.2} |",
        1000.0 / r.as_secs_f64(),
        1000.0 / cl.as_secs_f64(),
        cl.as_secs_f64() / r.as_secs_f64()
    );
    emu.shutdown().await;
}
