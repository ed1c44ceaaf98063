//! Lake data beside Refuel tables (`refuel_datafusion::enable_lake`): external tables and
//! URL tables over Parquet and CSV in the S3 emulator (s3s-fs), Azurite and local files;
//! `INSERT INTO` a dataset from an S3 table; `COPY` of a label table to S3 Parquet and
//! back; a missing credential named in one line.

use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::TaskField;
use refuel::client::models::{FieldType, ItemQuery};
use refuel::datafusion::{RefuelContextExt, enable_lake};
use refuel::emulator::EmulatorHandle;

use super::{error_of, run};
use crate::common::*;
use crate::s3_server::{S3_BUCKET, S3_KEY, S3_SECRET, S3Server};

/// A project `p` with the 60-row dataset `m`, its task `fruit` labeled (table
/// `fruit_labels`), the empty dataset `target` with `m`'s columns, and a session with
/// Refuel and lake data.
async fn setup() -> (EmulatorHandle, refuel::client::RefuelClient, SessionContext) {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(60))).await;
    let field = TaskField::new("fruit", FieldType::Classification)
        .labels(["apple", "cherry", "fig"])
        .input_column("name");
    c.tasks()
        .create("fruit", "m", "", &[field], None)
        .await
        .unwrap();
    c.runs().start("fruit", "m", None).await.unwrap();
    c.runs()
        .wait_for_completion("fruit", "m", quick_wait(), |_| {})
        .await
        .unwrap();
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_default_catalog_and_schema("refuel", "p"),
    );
    ctx.register_refuel("refuel", client_for(emu.url(), KEY, None))
        .await
        .unwrap();
    enable_lake(&ctx).unwrap();
    // Twice changes nothing.
    enable_lake(&ctx).unwrap();
    (emu, c, ctx)
}

/// `OPTIONS (...)` for the S3 emulator, as a user writes them.
fn s3_options(s3: &S3Server) -> String {
    format!(
        "OPTIONS ('aws.endpoint' '{}', 'aws.allow_http' 'true', 'aws.access_key_id' '{S3_KEY}', \
         'aws.secret_access_key' '{S3_SECRET}', 'aws.region' 'us-east-1')",
        s3.endpoint()
    )
}

/// The rows of a query as sorted lines, for comparing results across sources.
async fn lines(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let mut lines: Vec<String> = run(ctx, sql)
        .await
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_tables_copy_and_insert() {
    let (_emu, c, ctx) = setup().await;
    let s3 = S3Server::start().await;
    let options = s3_options(&s3);
    let labels = "SELECT id, name, fruit_label, fruit_confidence FROM fruit_labels";
    let want = lines(&ctx, labels).await;
    assert_eq!(want.len(), 60);

    // A label table to S3 as Parquet, and CSV; the store built from COPY's options.
    for (format, path) in [
        ("PARQUET", "labels/fruit.parquet"),
        ("CSV", "labels/fruit.csv"),
    ] {
        let copied = run(
            &ctx,
            &format!("COPY ({labels}) TO 's3://{S3_BUCKET}/{path}' STORED AS {format} {options}"),
        )
        .await;
        assert!(copied.contains("| 60    |"), "{copied}");
    }

    // And back: an external table (options again, as a new session would give them), and
    // URL tables on the store the session knows now; Parquet and CSV alike.
    run(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE lake_fruit STORED AS PARQUET \
             LOCATION 's3://{S3_BUCKET}/labels/fruit.parquet' {options}"
        ),
    )
    .await;
    assert_eq!(lines(&ctx, "SELECT * FROM lake_fruit").await, want);
    run(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE lake_fruit_csv STORED AS CSV \
             LOCATION 's3://{S3_BUCKET}/labels/fruit.csv' OPTIONS ('format.has_header' 'true')"
        ),
    )
    .await;
    assert_eq!(lines(&ctx, "SELECT * FROM lake_fruit_csv").await, want);
    let url_table = format!("SELECT * FROM 's3://{S3_BUCKET}/labels/fruit.parquet'");
    assert_eq!(lines(&ctx, &url_table).await, want);
    let url_csv = format!("SELECT * FROM 's3://{S3_BUCKET}/labels/fruit.csv'");
    assert_eq!(lines(&ctx, &url_csv).await, want);
    // A glob over a prefix.
    let glob = format!("SELECT count(*) AS n FROM 's3://{S3_BUCKET}/labels/*.parquet'");
    assert!(run(&ctx, &glob).await.contains("| 60 |"));
    // A join of lake rows with Refuel's.
    let joined = lines(
        &ctx,
        "SELECT l.id, m.qty FROM lake_fruit l JOIN m ON l.id = m.id WHERE l.fruit_label = 'fig'",
    )
    .await;
    let direct = lines(
        &ctx,
        "SELECT id, qty FROM m WHERE id IN (SELECT id FROM fruit_labels WHERE fruit_label = 'fig')",
    )
    .await;
    assert_eq!(joined, direct);
    assert!(!joined.is_empty());

    // New rows from S3 into a dataset: INSERT INTO a Refuel dataset from an S3 table.
    run(
        &ctx,
        &format!(
            "COPY (SELECT id + 1000 AS id, name, score, qty, active FROM m WHERE id < 25) \
             TO 's3://{S3_BUCKET}/new/rows.parquet' STORED AS PARQUET"
        ),
    )
    .await;
    let before = c.items().count("m", &ItemQuery::new()).await.unwrap();
    let inserted = run(
        &ctx,
        &format!("INSERT INTO m SELECT * FROM 's3://{S3_BUCKET}/new/*.parquet'"),
    )
    .await;
    assert!(inserted.contains("| 25    |"), "{inserted}");
    let after = c.items().count("m", &ItemQuery::new()).await.unwrap();
    assert_eq!(after, before + 25);
    let new_ids = lines(&ctx, "SELECT id FROM m WHERE id >= 1000").await;
    assert_eq!(new_ids.len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_and_local_tables() {
    let (Ok(_), Ok(container)) = (
        std::env::var("AZURITE_BLOB_STORAGE_URL"),
        std::env::var("REFUEL_TEST_AZURE_CONTAINER"),
    ) else {
        panic!(
            "the Azure lake tests need Azurite: run them through `bash scripts/azurite.sh cargo test --test it lake` \
             (bash scripts/test.sh does this); AZURITE_BLOB_STORAGE_URL is not set"
        );
    };
    let (_emu, _c, ctx) = setup().await;
    let rows = "SELECT id, name, score FROM m";
    let want = lines(&ctx, rows).await;
    let prefix = format!("lake-{}", std::process::id());
    for (format, ext) in [("PARQUET", "parquet"), ("CSV", "csv")] {
        let url = format!("az://{container}/{prefix}/m.{ext}");
        run(
            &ctx,
            &format!(
                "COPY ({rows}) TO '{url}' STORED AS {format} OPTIONS ('azure.use_emulator' 'true')"
            ),
        )
        .await;
        let table = format!("az_{ext}");
        run(
            &ctx,
            &format!("CREATE EXTERNAL TABLE {table} STORED AS {format} LOCATION '{url}'"),
        )
        .await;
        assert_eq!(lines(&ctx, &format!("SELECT * FROM {table}")).await, want);
        assert_eq!(lines(&ctx, &format!("SELECT * FROM '{url}'")).await, want);
    }

    // Local files and globs, by path and by file:// URL.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("m.parquet").display().to_string();
    run(
        &ctx,
        &format!("COPY ({rows}) TO '{local}' STORED AS PARQUET"),
    )
    .await;
    assert_eq!(lines(&ctx, &format!("SELECT * FROM '{local}'")).await, want);
    let glob = format!("{}/*.parquet", dir.path().display());
    assert_eq!(lines(&ctx, &format!("SELECT * FROM '{glob}'")).await, want);

    // Bare names stay Refuel's; a quoted name that is no file is no table.
    assert_eq!(lines(&ctx, "SELECT id, name, score FROM 'm'").await, want);
    let err = error_of(
        &ctx,
        &format!("SELECT * FROM '{}/missing.parquet'", dir.path().display()),
    )
    .await;
    assert!(err.contains("missing.parquet"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_name_the_store_and_what_to_set() {
    let (_emu, _c, ctx) = setup().await;
    // No credential anywhere (the test environment sets no AWS_* key).
    assert!(std::env::var_os("AWS_ACCESS_KEY_ID").is_none());
    let err = error_of(
        &ctx,
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION 's3://nowhere/x.parquet'",
    )
    .await;
    assert!(
        err.contains("no credentials for s3 bucket 'nowhere'"),
        "{err}"
    );
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = error_of(&ctx, "SELECT * FROM 's3://nowhere/x.parquet'").await;
    assert!(
        err.contains("no credentials for s3 bucket 'nowhere'"),
        "{err}"
    );

    // Options for another cloud, and unknown options, are named.
    let err = error_of(
        &ctx,
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION 's3://b/x.parquet' \
             OPTIONS ('azure.account_name' 'a')",
    )
    .await;
    assert!(err.contains("'azure.account_name' is for az://"), "{err}");
    let err = error_of(
        &ctx,
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION 's3://b/x.parquet' \
             OPTIONS ('aws.nonsense' '1', 'aws.secret_access_key' 'hidden-secret')",
    )
    .await;
    assert!(err.contains("unknown s3 option 'nonsense'"), "{err}");
    assert!(!err.contains("hidden-secret"), "{err}");
}
