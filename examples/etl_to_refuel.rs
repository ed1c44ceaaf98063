//! ETL into Refuel: a job's Arrow batches staged as Parquet, handed to Refuel as a new
//! dataset, and an existing file registered as another; both waited for with progress.
//!
//! ```sh
//! cargo run --example etl_to_refuel                       # stage in a temporary directory
//! REFUEL_STAGING_URL=s3://my-bucket/refuel-staging \
//!   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_REGION=... \
//!   cargo run --example etl_to_refuel                     # stage in S3, presigned URLs
//! ```
//!
//! It runs against an embedded emulator. In an S3 (or GCS, Azure) staging area the server
//! downloads the file through a presigned URL, so the emulator must be able to reach the
//! store; a local directory is uploaded through the API instead.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use refuel::client::models::ItemQuery;
use refuel::client::{ClientConfig, RefuelClient, WaitOptions};
use refuel::emulator::{Emulator, EmulatorConfig};
use refuel::sink::{Progress, RefuelSink, SinkOptions, StagingArea, StagingFormat};

const PRODUCTS: [&str; 5] = ["phone", "novel", "seeds", "puzzle", "charger"];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("text", DataType::Utf8, false),
        Field::new("product", DataType::Utf8, false),
        Field::new("stars", DataType::Float64, true),
        Field::new("verified_purchase", DataType::Boolean, true),
    ]))
}

/// One batch of the job's output: `rows` reviews starting at `start`.
fn reviews(start: usize, rows: usize) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let ids = start..start + rows;
    let text: Vec<String> = ids
        .clone()
        .map(|i| {
            format!(
                "Review #{i}: {}",
                if i % 3 == 0 {
                    "works, but late"
                } else {
                    "great value"
                }
            )
        })
        .collect();
    let product: Vec<&str> = ids.clone().map(|i| PRODUCTS[i % PRODUCTS.len()]).collect();
    let stars: Vec<Option<f64>> = ids
        .clone()
        .map(|i| (i % 10 != 7).then(|| (i % 5 + 1) as f64))
        .collect();
    let verified: Vec<Option<bool>> = ids.map(|i| Some(i % 4 != 0)).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(text)) as ArrayRef,
            Arc::new(StringArray::from(product)),
            Arc::new(Float64Array::from(stars)),
            Arc::new(BooleanArray::from(verified)),
        ],
    )
}

fn show(progress: &Progress) {
    match progress {
        Progress::Staged { object, rows, .. } if rows % 20_000 == 0 => {
            println!("  staged {rows} rows into {object}")
        }
        Progress::Registered { dataset_id } => println!("  registered as dataset {dataset_id}"),
        Progress::Ingest { status, rows, .. } => {
            println!("  ingest {status}: {} rows", rows.unwrap_or(0))
        }
        _ => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start(EmulatorConfig::new().api_key("etl-key")).await?;
    let admin = RefuelClient::new(
        ClientConfig::default()
            .with_api_key("etl-key")
            .with_base_url(emulator.url())?,
    )?;
    admin
        .projects()
        .create("etl", "nightly review exports")
        .await?;
    let client = admin.with_project("etl");

    // Where to stage: REFUEL_STAGING_URL (s3://, gs://, az://, file://), else a temp dir.
    let temp = tempfile::tempdir()?;
    let staging = match std::env::var("REFUEL_STAGING_URL") {
        Ok(url) => StagingArea::from_url(&url, std::iter::empty::<(String, String)>())?,
        Err(_) => StagingArea::local(temp.path().join("staging"))?,
    };
    println!("staging in {staging:?}");

    let options = SinkOptions::default()
        .format(StagingFormat::Parquet)
        .url_expiry(Duration::from_secs(30 * 60))
        .wait(WaitOptions {
            poll_interval: Duration::from_millis(100),
            timeout: Duration::from_secs(300),
        })
        .on_progress(show);
    let sink = RefuelSink::new(client.clone(), staging).with_options(options.clone());

    // 1. The job's output as a stream of batches (here generated; in a real job, a query).
    println!("writing reviews_nightly:");
    let batches = futures::stream::iter((0..10).map(|b| reviews(b * 10_000, 10_000)));
    let outcome = sink
        .write_stream("reviews_nightly", schema(), batches)
        .await?;
    println!(
        "reviews_nightly: {} rows, {} bytes staged, handed off by {:?}",
        outcome.rows.unwrap_or(0),
        outcome.bytes.unwrap_or(0),
        outcome.handoff
    );

    // 2. A file another tool left behind, registered as it is (uploaded, since it is local).
    let export = temp.path().join("legacy_export.csv");
    std::fs::write(
        &export,
        "text,product,stars\n\"Arrived broken, refund please\",charger,1\nLove it,phone,5\n",
    )?;
    println!("registering {}:", export.display());
    let legacy = sink
        .register_object(export.to_str().unwrap_or_default(), "reviews_legacy")
        .await?;
    println!("reviews_legacy: {} rows", legacy.rows.unwrap_or(0));

    // 3. The data is queryable in Refuel.
    let rows = client
        .items()
        .query("reviews_nightly", &ItemQuery::new().max_items(3))
        .await?;
    for row in rows {
        println!("  {}", serde_json::Value::Object(row));
    }
    emulator.shutdown().await;
    Ok(())
}
