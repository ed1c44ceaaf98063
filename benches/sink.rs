//! Sink benchmark: a DataFusion query's rows written into Refuel through an S3 staging area,
//! against DataFusion's own `COPY ... TO 's3://...' STORED AS PARQUET` of the same query to
//! the same store, measured in the same run.
//!
//! Run with `cargo bench --bench sink` (`-- 1000000` for other row counts, comma-separated).
//! Everything is on loopback: an S3 emulator (s3s-fs, SigV4 checked) and a Refuel emulator,
//! both in-process. For each row count it prints, best of two runs:
//! - `copy`: `COPY (query) TO 's3://bench/copy/..' STORED AS PARQUET`;
//! - `stage`: the sink writing the query's stream as Parquet into the same bucket (multipart);
//! - `total`: stage + presign + register + the emulator's download and ingest of every row;
//! - peak heap above the baseline while staging (sink, DataFusion and the S3 emulator in this
//!   process), against the same for `COPY`. The ingest's memory is the server's (here, the
//!   emulator holding the rows), so it is not counted.
//!
//! Targets: stage ≤ 1.2× copy; peak heap flat in the number of rows.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use object_store::aws::AmazonS3Builder;
use refuel::client::{ClientConfig, RefuelClient, WaitOptions};
use refuel::emulator::{Emulator, EmulatorConfig};
use refuel::sink::{Progress, RefuelSink, SinkOptions, StagingArea};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded to the system allocator with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded to the system allocator; the caller upholds realloc's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts a peak measurement; returns the baseline.
fn peak_start() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

fn peak_since(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

const KEY: &str = "bench-key";
#[path = "../tests/support/s3_server.rs"]
mod s3_server;
use s3_server::{S3_BUCKET as BUCKET, S3Server};

fn query(rows: u64) -> String {
    format!(
        "SELECT value AS id, concat('review ', CAST(value % 1000 AS VARCHAR), ' of product ', \
         CAST(value % 37 AS VARCHAR)) AS text, CAST(value % 97 AS DOUBLE) / 4.0 AS score, \
         value % 3 = 0 AS verified FROM range(0, {rows})"
    )
}

struct Run {
    copy: Duration,
    copy_peak: usize,
    stage: Duration,
    total: Duration,
    stage_peak: usize,
}

async fn run(rows: u64, s3_server: &S3Server, client: &RefuelClient, i: usize) -> Run {
    let ctx = SessionContext::new();
    let mut s3 = AmazonS3Builder::new().with_bucket_name(BUCKET);
    for (k, v) in s3_server.options() {
        s3 = s3.with_config(k.parse().unwrap(), v);
    }
    ctx.register_object_store(
        &reqwest::Url::parse(&format!("s3://{BUCKET}")).unwrap(),
        Arc::new(s3.build().unwrap()),
    );

    // DataFusion's COPY TO, the baseline.
    let base = peak_start();
    let start = Instant::now();
    let copied = ctx
        .sql(&format!(
            "COPY ({}) TO 's3://{BUCKET}/copy/{rows}-{i}.parquet' STORED AS PARQUET",
            query(rows)
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let copy = start.elapsed();
    let copy_peak = peak_since(base);
    assert!(!copied.is_empty());

    // The sink: the same query's stream, staged as Parquet in the same bucket.
    let staging =
        StagingArea::from_url(&format!("s3://{BUCKET}/sink"), s3_server.options()).unwrap();
    // When the sink registered the staged file, and the heap's peak by then.
    let registered: Arc<std::sync::Mutex<Option<(Instant, usize)>>> = Arc::default();
    let seen = registered.clone();
    let options = SinkOptions::default()
        .wait(WaitOptions {
            poll_interval: Duration::from_millis(20),
            timeout: Duration::from_secs(600),
        })
        .on_progress(move |p| {
            if matches!(p, Progress::Registered { .. }) {
                let mut at = seen.lock().unwrap();
                if at.is_none() {
                    *at = Some((Instant::now(), PEAK.load(Ordering::Relaxed)));
                }
            }
        });
    let sink = RefuelSink::new(client.clone(), staging).with_options(options);
    let base = peak_start();
    let start = Instant::now();
    let df = ctx.sql(&query(rows)).await.unwrap();
    let stream = df.execute_stream().await.unwrap();
    let schema = stream.schema();
    let outcome = sink
        .write_stream(&format!("bench_{rows}_{i}"), schema, stream)
        .await
        .unwrap();
    let total = start.elapsed();
    assert_eq!(outcome.rows, Some(rows));
    assert_eq!(outcome.dataset.total_count, Some(rows));
    let Some((at, peak)) = *registered.lock().unwrap() else {
        panic!("the sink never registered")
    };
    Run {
        copy,
        copy_peak,
        stage: at - start,
        total,
        stage_peak: peak.saturating_sub(base),
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![250_000, 500_000, 1_000_000]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s3_server = S3Server::start().await;
        let emu = Emulator::start(EmulatorConfig::new().api_key(KEY))
            .await
            .unwrap();
        let admin = RefuelClient::new(
            ClientConfig::default()
                .with_api_key(KEY)
                .with_base_url(emu.url())
                .unwrap(),
        )
        .unwrap();
        admin
            .projects()
            .create("bench", "sink benchmark")
            .await
            .unwrap();
        let client = admin.with_project("bench");
        println!(
            "{:>9} | {:>9} {:>9} {:>9} | {:>11} {:>11} | {:>13} {:>13}",
            "rows",
            "copy s",
            "stage s",
            "total s",
            "stage/copy",
            "total/copy",
            "copy peak MiB",
            "sink peak MiB"
        );
        for rows in sizes {
            let mut best: Option<Run> = None;
            for i in 0..2 {
                let r = run(rows, &s3_server, &client, i).await;
                best = Some(match best {
                    Some(b) => Run {
                        copy: b.copy.min(r.copy),
                        copy_peak: b.copy_peak.min(r.copy_peak),
                        stage: b.stage.min(r.stage),
                        total: b.total.min(r.total),
                        stage_peak: b.stage_peak.min(r.stage_peak),
                    },
                    None => r,
                });
            }
            let Some(r) = best else { continue };
            println!(
                "{rows:>9} | {:>9.3} {:>9.3} {:>9.3} | {:>11.2} {:>11.2} | {:>13.1} {:>13.1}",
                r.copy.as_secs_f64(),
                r.stage.as_secs_f64(),
                r.total.as_secs_f64(),
                r.stage.as_secs_f64() / r.copy.as_secs_f64(),
                r.total.as_secs_f64() / r.copy.as_secs_f64(),
                mib(r.copy_peak),
                mib(r.stage_peak),
            );
        }
        emu.shutdown().await;
    });
}
