//! SQL over labeled data: an embedded emulator with product reviews, a labeling task run on
//! them, and DataFusion queries over `refuel.<project>.<dataset>` and `<task>_labels`, with
//! filters, ORDER BY and LIMIT pushed into the API.
//!
//! ```sh
//! cargo run --example sql_over_labels
//! ```
//!
//! Against the Refuel cloud, build the client with `RefuelClient::from_env()` instead.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::io::Write;
use std::time::Duration;

use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::models::FieldType;
use refuel::client::{ClientConfig, RefuelClient, ServerSemantics, TaskField, WaitOptions};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::{Emulator, EmulatorConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start(EmulatorConfig::new().api_key("demo-key")).await?;
    let config = ClientConfig::default()
        .with_api_key("demo-key")
        .with_base_url(emulator.url())?
        // What the emulator does where the API contract is open (see ServerSemantics).
        .with_semantics(ServerSemantics::emulator());
    let client = RefuelClient::new(config)?;
    client.projects().create("shop", "Product reviews").await?;
    let shop = client.with_project("shop");

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reviews.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(file, "review_id,text,stars")?;
    let texts = [
        ("Great phone, love the battery", 5),
        ("Broken on arrival, want a refund", 1),
        ("Excellent screen but late delivery", 4),
        ("Awful support, broken charger", 1),
        ("Perfect gift, kids love it", 5),
        ("Arrived on tuesday", 3),
    ];
    for i in 0..3000 {
        let (text, stars) = texts[i % texts.len()];
        writeln!(file, "{i},\"{text}\",{stars}")?;
    }
    drop(file);
    shop.datasets().upload_file(&path, "reviews").await?;
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(60),
    };
    shop.datasets().wait_for_ingest("reviews", wait).await?;
    let sentiment = TaskField::new("sentiment", FieldType::Classification)
        .labels(["positive", "negative"])
        .guidelines(
            "positive: great, love, excellent, perfect\nnegative: broken, refund, awful, late",
        )
        .input_column("text")
        .fallback_value("neutral");
    shop.tasks()
        .create(
            "reviews_sentiment",
            "reviews",
            "Product reviews.",
            &[sentiment],
            None,
        )
        .await?;
    shop.runs()
        .start("reviews_sentiment", "reviews", None)
        .await?;
    shop.runs()
        .wait_for_completion("reviews_sentiment", "reviews", wait, |p| {
            eprintln!("labeled {} of {}", p.labeled, p.labeled + p.remaining)
        })
        .await?;

    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    ctx.register_refuel("refuel", client.clone()).await?;
    for sql in [
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop' ORDER BY 1",
        "SELECT sentiment_label, count(*) AS reviews, avg(stars) AS stars FROM refuel.shop.reviews_sentiment_labels GROUP BY 1 ORDER BY 1",
        "SELECT review_id, text, sentiment_confidence FROM refuel.shop.reviews_sentiment_labels \
         WHERE sentiment_label = 'negative' ORDER BY sentiment_confidence DESC LIMIT 3",
        "EXPLAIN SELECT review_id FROM refuel.shop.reviews WHERE text LIKE '%refund%' LIMIT 5",
    ] {
        println!("> {sql}");
        ctx.sql(sql).await?.show().await?;
    }
    emulator.shutdown().await;
    Ok(())
}
