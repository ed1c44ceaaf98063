//! Quickstart: an embedded emulator with demo data, queried through `refuel-client`.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! To run the same against the Refuel cloud or a separate emulator, set `REFUEL_API_URL`,
//! `REFUEL_API_KEY` and `REFUEL_PROJECT` and use `RefuelClient::from_env()` instead.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::io::Write;

use futures::TryStreamExt;
use refuel::client::models::{Filter, FilterOp, ItemQuery, OrderBy};
use refuel::client::{ClientConfig, RefuelClient, WaitOptions};
use refuel::emulator::{Emulator, EmulatorConfig};

const REVIEWS: [(&str, &str, f64); 8] = [
    (
        "Great battery life, the phone lasts two days",
        "electronics",
        5.0,
    ),
    ("Stopped working after a week", "electronics", 1.0),
    (
        "The novel drags in the middle but the ending is superb",
        "books",
        4.0,
    ),
    ("Seeds never sprouted", "garden", 1.5),
    ("Kids love this puzzle", "toys", 4.5),
    ("Fresh and well packed", "grocery", 4.0),
    ("Charger died, support was unhelpful", "electronics", 2.0),
    ("A classic, beautifully printed", "books", 5.0),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start(EmulatorConfig::new().api_key("demo-key")).await?;
    println!("emulator on {}", emulator.url());
    let config = ClientConfig::default()
        .with_api_key("demo-key")
        .with_base_url(emulator.url())?;
    let client = RefuelClient::new(config)?;
    client.projects().create("demo", "Product reviews").await?;
    let client = client.with_project("demo");

    // Upload 2,000 reviews as a CSV, streamed from disk, and wait for the ingest.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reviews.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(file, "review_id,text,category,stars,verified_purchase")?;
    for i in 0..2000 {
        let (text, category, stars) = REVIEWS[i % REVIEWS.len()];
        writeln!(file, "{i},\"{text}\",{category},{stars},{}", i % 3 != 0)?;
    }
    file.flush()?;
    drop(file);
    client.datasets().upload_file(&path, "reviews").await?;
    let dataset = client
        .datasets()
        .wait_for_ingest("reviews", WaitOptions::default())
        .await?;
    println!(
        "dataset 'reviews': {} rows, columns:",
        dataset.total_count.unwrap_or(0)
    );
    for (name, ty) in dataset.schema.columns() {
        println!("  {name}: {ty}");
    }

    // Filters and order run on the server; only the 5 rows asked for travel.
    let query = ItemQuery::new()
        .filter(Filter::column("category", FilterOp::Eq, "electronics"))
        .filter(Filter::column("stars", FilterOp::LtEq, 2))
        .order_by(OrderBy::asc("stars"))
        .max_items(5);
    println!("\nlow-rated electronics:");
    for row in client.items().query("reviews", &query).await? {
        println!("  {} ★{}  {}", row["review_id"], row["stars"], row["text"]);
    }

    // A full scan streams pages concurrently, in order.
    let mut pages = client.items().stream("reviews", ItemQuery::new());
    let mut rows = 0;
    while let Some(page) = pages.try_next().await? {
        rows += page.items.len();
    }
    println!("\nstreamed {rows} rows");
    emulator.shutdown().await;
    Ok(())
}
