//! Refuel inside a DataFusion-based analytics app: the app's own data (an order table kept
//! in memory here; Parquet or CSV files work the same) joined with labels that live in
//! Refuel, through both the DataFrame API and SQL, with the Refuel side of each query
//! pushed into the API. The app registers Refuel once and then uses plain DataFusion.
//!
//! ```sh
//! cargo run --example embed_in_app
//! ```
//!
//! Against the Refuel cloud, build the client with `ClientConfig::from_env()` (it reads
//! `REFUEL_API_KEY`, `REFUEL_API_URL` and `REFUEL_PROJECT`) instead of the embedded emulator.

#![allow(missing_docs, unreachable_pub, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::functions_aggregate::expr_fn::{avg, count};
use datafusion::prelude::{SessionConfig, SessionContext, col, lit};
use refuel::client::models::FieldType;
use refuel::client::{ClientConfig, RefuelClient, ServerSemantics, TaskField, WaitOptions};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::{Emulator, EmulatorConfig};

/// Support tickets in Refuel, labeled by a task with their urgency.
async fn tickets_in_refuel(client: &RefuelClient) -> Result<(), Box<dyn std::error::Error>> {
    client
        .projects()
        .create("support", "Support tickets")
        .await?;
    let support = client.with_project("support");
    let texts = [
        "My order never arrived, this is urgent",
        "How do I change my delivery address?",
        "Package damaged, need a replacement asap",
        "Thanks, everything arrived fine",
        "Charged twice, please refund immediately",
    ];
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tickets.csv");
    let mut csv = String::from("ticket_id,order_id,text\n");
    for i in 0..500 {
        let text = texts[i % texts.len()];
        csv.push_str(&format!("{i},{},\"{text}\"\n", 1000 + i % 120));
    }
    std::fs::write(&path, csv)?;
    support.datasets().upload_file(&path, "tickets").await?;
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(60),
    };
    support.datasets().wait_for_ingest("tickets", wait).await?;
    let urgency = TaskField::new("urgency", FieldType::Classification)
        .labels(["urgent", "routine"])
        .guidelines("urgent: urgent, asap, immediately, never, damaged\nroutine: how, thanks, fine")
        .input_column("text");
    support
        .tasks()
        .create("triage", "tickets", "Support tickets.", &[urgency], None)
        .await?;
    support.runs().start("triage", "tickets", None).await?;
    support
        .runs()
        .wait_for_completion("triage", "tickets", wait, |_| {})
        .await?;
    Ok(())
}

/// The app's own data: orders with their value and region.
fn orders() -> Result<MemTable, Box<dyn std::error::Error>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]));
    let ids: Vec<i64> = (1000..1120).collect();
    let regions: Vec<&str> = ids
        .iter()
        .map(|i| ["north", "south", "east", "west"][*i as usize % 4])
        .collect();
    let values: Vec<f64> = ids.iter().map(|i| 20.0 + (*i % 37) as f64 * 3.5).collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(regions)),
            Arc::new(Float64Array::from(values)),
        ],
    )?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start(EmulatorConfig::new().api_key("app-key")).await?;
    let client = RefuelClient::new(
        ClientConfig::default()
            .with_api_key("app-key")
            .with_base_url(emulator.url())?
            // The emulator documents what it does where the API contract is open, so SQL
            // can push more into it; against the cloud keep the conservative default.
            .with_semantics(ServerSemantics::emulator()),
    )?;
    tickets_in_refuel(&client).await?;

    // The app's session: its own tables, plus Refuel as the catalog `refuel`.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    ctx.register_table("orders", Arc::new(orders()?))?;
    ctx.register_refuel("refuel", client).await?;

    // DataFrame API: urgent tickets (the label filter runs in Refuel) joined with orders.
    let urgent = ctx
        .table("refuel.support.triage_labels")
        .await?
        .filter(col("urgency_label").eq(lit("urgent")))?
        .select(vec![
            col("ticket_id"),
            col("order_id"),
            col("urgency_confidence"),
        ])?;
    println!("Plan of the Refuel side (the filter is sent to the API):");
    urgent.clone().explain(false, false)?.show().await?;

    let by_region = urgent
        .join_on(
            ctx.table("orders").await?,
            datafusion::common::JoinType::Inner,
            [col("order_id").eq(col("orders.order_id"))],
        )?
        .aggregate(
            vec![col("region")],
            vec![
                count(col("ticket_id")).alias("urgent_tickets"),
                avg(col("value")).alias("avg_order_value"),
            ],
        )?
        .sort(vec![col("urgent_tickets").sort(false, true)])?;
    println!("Urgent tickets by region:");
    by_region.show().await?;

    // The same app, in SQL: the orders with the most confidently urgent tickets.
    ctx.sql(
        "SELECT o.order_id, o.region, o.value, max(t.urgency_confidence) AS confidence \
         FROM refuel.support.triage_labels t JOIN orders o ON t.order_id = o.order_id \
         WHERE t.urgency_label = 'urgent' \
         GROUP BY o.order_id, o.region, o.value \
         ORDER BY confidence DESC, o.value DESC LIMIT 5",
    )
    .await?
    .show()
    .await?;

    emulator.shutdown().await;
    Ok(())
}
