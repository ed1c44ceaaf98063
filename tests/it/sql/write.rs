//! New datasets from SQL: `COPY ... TO 'refuel://…' STORED AS REFUEL` (streamed through the
//! sink) and `CREATE TABLE refuel.<project>.<new> AS SELECT ...`.

use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::RefuelClient;
use refuel::client::models::ItemQuery;
use refuel::datafusion::RefuelContextExt;
use refuel::datafusion::write::RefuelWriteOptions;
use refuel::emulator::EmulatorHandle;
use refuel::sink::SinkOptions;

use super::run;
use crate::common::*;

/// A project `p` with the 700-row dataset `m`, and a session over the team.
async fn setup(staging: &std::path::Path) -> (EmulatorHandle, RefuelClient, SessionContext) {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(700))).await;
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_default_catalog_and_schema("refuel", "p"),
    );
    let writes = RefuelWriteOptions {
        staging: Some(staging.display().to_string()),
        sink: SinkOptions::default().wait(quick_wait()),
    };
    ctx.register_refuel_with("refuel", client_for(emu.url(), KEY, None), writes)
        .await
        .unwrap();
    (emu, c, ctx)
}

/// Files left in a directory tree.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_in(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_refuel_makes_a_dataset_from_a_query() {
    let staging = tempfile::tempdir().unwrap();
    let (_emu, c, ctx) = setup(staging.path()).await;
    let q = "SELECT id, name, score FROM m WHERE qty > 3";
    let expected = run(&ctx, &format!("SELECT count(*) AS n FROM ({q})")).await;

    let plan = run(
        &ctx,
        &format!("EXPLAIN COPY ({q}) TO 'refuel://p/high_qty' STORED AS REFUEL"),
    )
    .await;
    assert!(
        plan.contains("RefuelCopySink: dataset=refuel://p/high_qty"),
        "{plan}"
    );

    let out = run(
        &ctx,
        &format!("COPY ({q}) TO 'refuel://p/high_qty' STORED AS REFUEL"),
    )
    .await;
    let n: String = expected
        .lines()
        .nth(3)
        .unwrap()
        .trim_matches(|c| c == '|' || c == ' ')
        .to_string();
    assert!(out.contains(&format!("| {n} ")), "{out} vs {expected}");

    // The new dataset is a table at once, with the same rows.
    assert_eq!(
        run(&ctx, "SELECT count(*) AS n FROM high_qty").await,
        expected
    );
    assert_eq!(
        run(&ctx, "SELECT * FROM high_qty ORDER BY id").await,
        run(&ctx, &format!("SELECT * FROM ({q}) ORDER BY id")).await
    );
    assert_eq!(
        c.items()
            .count("high_qty", &ItemQuery::new())
            .await
            .unwrap(),
        n.parse::<u64>().unwrap()
    );
    // The staged file is gone once the server has the data.
    assert_eq!(files_in(staging.path()), Vec::<String>::new());

    // Options: CSV staging in another directory, kept.
    let kept = tempfile::tempdir().unwrap();
    let out = run(
        &ctx,
        &format!(
            "COPY (SELECT id, name FROM m LIMIT 10) TO 'refuel://p/ten' STORED AS REFUEL \
             OPTIONS ('staging' '{}', 'format' 'csv', 'keep_staged' 'true')",
            kept.path().display()
        ),
    )
    .await;
    assert!(out.contains("| 10 "), "{out}");
    let left = files_in(kept.path());
    assert!(
        left.len() == 1 && left[0].ends_with(".csv"),
        "the staged CSV is kept: {left:?}"
    );
    assert!(
        run(&ctx, "SELECT count(*) AS n FROM ten")
            .await
            .contains("| 10 ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_as_makes_a_dataset() {
    let staging = tempfile::tempdir().unwrap();
    let (_emu, c, ctx) = setup(staging.path()).await;
    let out = run(
        &ctx,
        "CREATE TABLE refuel.p.apples AS SELECT id, name, score, active FROM m WHERE name LIKE '%apple%'",
    )
    .await;
    // CREATE TABLE ... AS answers no rows.
    assert!(!out.contains("| "), "{out}");
    let datasets = dataset_names(&c).await;
    assert!(datasets.contains(&"apples".to_string()), "{datasets:?}");
    assert_eq!(
        run(&ctx, "SELECT * FROM apples ORDER BY id").await,
        run(
            &ctx,
            "SELECT id, name, score, active FROM m WHERE name LIKE '%apple%' ORDER BY id"
        )
        .await
    );
    // A second time: the dataset exists.
    let err = ctx
        .sql("CREATE TABLE refuel.p.apples AS SELECT 1 AS x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("apples"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_writes_name_the_problem_and_make_nothing() {
    let staging = tempfile::tempdir().unwrap();
    let (_emu, c, ctx) = setup(staging.path()).await;
    let cases = [
        (
            "COPY (SELECT 1 AS x) TO 'refuel://p/m' STORED AS REFUEL",
            "a dataset named 'm' already exists",
        ),
        (
            "COPY (SELECT 1 AS x) TO 'refuel://p' STORED AS REFUEL",
            "names no dataset",
        ),
        (
            "COPY (SELECT 1 AS x) TO 'refuel://p/new' STORED AS REFUEL OPTIONS ('colour' 'red')",
            "unknown option 'colour'",
        ),
        (
            "COPY (SELECT 1 AS x) TO 'refuel://p/new' STORED AS REFUEL OPTIONS ('staging' 'ftp://x/y')",
            "ftp://x/y",
        ),
        (
            "COPY (SELECT 1 AS x) TO 'refuel://nowhere/new' STORED AS REFUEL",
            "nowhere",
        ),
        (
            "COPY (SELECT * FROM m) TO 'refuel://p/new' STORED AS REFUEL PARTITIONED BY (active)",
            "PARTITIONED BY",
        ),
    ];
    for (sql, expect) in cases {
        let result = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let err = result.expect_err(sql).to_string();
        assert!(err.contains(expect), "{sql}: {err}");
    }
    let names = dataset_names(&c).await;
    assert_eq!(names, ["m"]);
    assert_eq!(files_in(staging.path()), Vec::<String>::new());
}

#[tokio::test]
async fn create_table_as_on_a_single_threaded_runtime_says_what_to_use() {
    let staging = tempfile::tempdir().unwrap();
    let (_emu, _c, ctx) = setup(staging.path()).await;
    let err = ctx
        .sql("CREATE TABLE refuel.p.copy AS SELECT id FROM m")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("multi-threaded") && err.contains("COPY"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_through_s3_hands_the_server_a_presigned_url() {
    let s3 = crate::s3_server::S3Server::start().await;
    let staging = tempfile::tempdir().unwrap();
    let (emu, _c, ctx) = setup(staging.path()).await;
    let store_options: Vec<String> = s3
        .options()
        .iter()
        .map(|(k, v)| format!("'store.{k}' '{v}'"))
        .collect();
    let sql = format!(
        "COPY (SELECT id, name, score FROM m WHERE active) TO 'refuel://p/from_s3' STORED AS REFUEL \
         OPTIONS ('staging' 's3://{}/sql', 'keep_staged' 'true', {})",
        crate::s3_server::S3_BUCKET,
        store_options.join(", ")
    );
    reset_stats(emu.url()).await;
    let out = run(&ctx, &sql).await;
    let expected = run(&ctx, "SELECT count(*) AS n FROM m WHERE active").await;
    let n = expected
        .lines()
        .nth(3)
        .unwrap()
        .trim_matches(|c| c == '|' || c == ' ');
    assert!(out.contains(&format!("| {n} ")), "{out}");
    // The query was staged in S3 as Parquet (kept here, to look at it), and the server got
    // it from there.
    let area = refuel::sink::StagingArea::from_url(
        &format!("s3://{}/sql", crate::s3_server::S3_BUCKET),
        s3.options(),
    )
    .unwrap();
    let staged: Vec<String> = {
        use futures::TryStreamExt;
        area.store()
            .list(Some(area.prefix()))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap()
    };
    assert!(
        staged.len() == 1
            && staged[0].starts_with("sql/from_s3")
            && staged[0].ends_with(".parquet"),
        "{staged:?}"
    );
    let log: Vec<refuel::emulator::LoggedRequest> =
        reqwest::get(format!("{}/_emulator/requests", emu.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let creates = log
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/datasets"))
        .count();
    assert_eq!(creates, 1);
    assert_eq!(
        run(&ctx, "SELECT * FROM from_s3 ORDER BY id").await,
        run(
            &ctx,
            "SELECT id, name, score FROM m WHERE active ORDER BY id"
        )
        .await
    );
    // Staged nothing locally.
    assert_eq!(files_in(staging.path()), Vec::<String>::new());
}
