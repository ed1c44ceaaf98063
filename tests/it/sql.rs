//! `refuel-datafusion`: SQL over the emulator, with pushdown checked against the same
//! queries without it.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use refuel::client::RefuelClient;
use refuel::datafusion::RefuelTable;

use crate::common::*;

/// A context with the dataset as `t` (through the provider) and as `mem` (the same rows in
/// memory, no pushdown possible).
async fn contexts(c: &RefuelClient, dataset: &str) -> SessionContext {
    let ctx = SessionContext::new();
    let table = RefuelTable::try_new(c.clone(), dataset, None)
        .await
        .unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    let all = ctx
        .sql("SELECT * FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let schema = all[0].schema();
    ctx.register_table(
        "mem",
        Arc::new(MemTable::try_new(schema, vec![all]).unwrap()),
    )
    .unwrap();
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

async fn explain(ctx: &SessionContext, sql: &str) -> String {
    run(ctx, &format!("EXPLAIN {sql}")).await
}

#[tokio::test]
async fn pushed_queries_answer_as_unpushed_ones() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(700))).await;
    let ctx = contexts(&c, "m").await;
    let queries = [
        "SELECT id, name FROM {} WHERE name LIKE '%apple%' ORDER BY id",
        "SELECT id FROM {} WHERE name ILIKE '%APPLE%' ORDER BY id",
        "SELECT id FROM {} WHERE name NOT LIKE '%apple%' ORDER BY id",
        "SELECT id FROM {} WHERE name LIKE 'date%' ORDER BY id",
        "SELECT id, score FROM {} WHERE score > 50 AND qty <= 3 ORDER BY id",
        "SELECT id FROM {} WHERE score BETWEEN 10 AND 20.5 ORDER BY id",
        "SELECT id FROM {} WHERE qty IN (1, 2, 3) ORDER BY id",
        "SELECT id FROM {} WHERE qty NOT IN (1, 2, 3) ORDER BY id",
        "SELECT id FROM {} WHERE name IS NULL ORDER BY id",
        "SELECT id FROM {} WHERE score IS NOT NULL AND active ORDER BY id",
        "SELECT id FROM {} WHERE NOT active ORDER BY id",
        "SELECT id FROM {} WHERE name = 'fig 3' OR name = 'apple 0' ORDER BY id",
        "SELECT id FROM {} WHERE name ~* '^(fig|date)' ORDER BY id",
        "SELECT id FROM {} WHERE name < 'b' AND name >= 'Ba' ORDER BY id",
        "SELECT count(*), sum(qty), avg(score) FROM {} WHERE name LIKE '%pie%'",
        "SELECT active, count(*) FROM {} GROUP BY active ORDER BY active",
        "SELECT count(*) FROM {}",
        "SELECT id FROM {} WHERE upper(name) = 'FIG 3' ORDER BY id",
    ];
    for q in queries {
        let pushed = run(&ctx, &q.replace("{}", "t AS x")).await;
        let plain = run(&ctx, &q.replace("{}", "mem AS x")).await;
        assert_eq!(pushed, plain, "{q}");
    }
}

#[tokio::test]
async fn filters_and_limits_reach_the_api() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = mixed_rows(5000);
    upload_csv(&c, dir.path(), "m", &to_csv(&rows)).await;
    let ctx = SessionContext::new();
    ctx.register_table(
        "t",
        Arc::new(RefuelTable::try_new(c.clone(), "m", None).await.unwrap()),
    )
    .unwrap();

    // An exact filter and a limit: only the rows asked for travel.
    let plan = explain(&ctx, "SELECT id FROM t WHERE name LIKE '%apple%' LIMIT 5").await;
    assert!(plan.contains(r#"filters=[{"filter_type":"metadata","field":"name","operator":"LIKE","value":"apple"}]"#), "{plan}");
    assert!(plan.contains("limit=5"), "{plan}");
    reset_stats(emu.url()).await;
    let out = ctx
        .sql("SELECT id FROM t WHERE name LIKE '%apple%' LIMIT 5")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    assert_eq!(stats(emu.url()).await.rows_served, 5);

    // An inexact filter stays in DataFusion too; no limit is pushed past it.
    let plan = explain(&ctx, "SELECT id FROM t WHERE name LIKE 'apple%' LIMIT 5").await;
    assert!(plan.contains("FilterExec"), "{plan}");
    assert!(plan.contains("limit=None"), "{plan}");

    // count(*) reads no rows.
    reset_stats(emu.url()).await;
    let out = run(&ctx, "SELECT count(*) AS n FROM t WHERE qty > 3").await;
    let expected = rows
        .iter()
        .filter(|r| r["qty"].as_i64().unwrap() > 3)
        .count();
    assert!(out.contains(&format!("| {expected} ")), "{out}");
    assert_eq!(stats(emu.url()).await.rows_served, 0);

    // Errors name the table and column.
    let err = ctx.sql("SELECT nope FROM t").await.unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
}

#[tokio::test]
async fn the_catalog_names_projects_datasets_and_label_tables() {
    use datafusion::prelude::SessionConfig;
    use refuel::client::TaskField;
    use refuel::client::models::{FieldType, ItemQuery};
    use refuel::datafusion::RefuelContextExt;

    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(300))).await;
    let field = TaskField::new("fruit", FieldType::Classification)
        .labels(["apple", "cherry", "fig"])
        .input_column("name");
    c.tasks()
        .create("sent", "m", "", &[field], None)
        .await
        .unwrap();
    c.runs().start("sent", "m", None).await.unwrap();
    let wait = refuel::client::WaitOptions {
        poll_interval: std::time::Duration::from_millis(20),
        timeout: std::time::Duration::from_secs(30),
    };
    c.runs()
        .wait_for_completion("sent", "m", wait, |_| {})
        .await
        .unwrap();

    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    ctx.register_refuel("refuel", client_for(emu.url(), KEY, None))
        .await
        .unwrap();
    let tables = run(&ctx, "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'refuel' AND table_schema = 'p' ORDER BY table_name").await;
    let names: Vec<&str> = tables
        .lines()
        .skip(3)
        .filter_map(|l| l.strip_prefix("| "))
        .map(|l| l.trim_end_matches('|').trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(names, ["m", "sent_labels"], "{tables}");
    let n = run(&ctx, "SELECT count(*) AS n FROM refuel.p.m").await;
    assert!(n.contains("| 300 |"), "{n}");

    // The label table, grouped, equals the labels read through the client.
    let items = c
        .items()
        .query_labeled("m", &ItemQuery::new().task("sent"))
        .await
        .unwrap();
    let apples = items
        .iter()
        .filter(|i| {
            i.labels.first().and_then(|l| l.label.as_ref()) == Some(&serde_json::json!("apple"))
        })
        .count();
    let out = run(
        &ctx,
        "SELECT count(*) AS n FROM refuel.p.sent_labels WHERE fruit_label = 'apple'",
    )
    .await;
    assert!(out.contains(&format!("| {apples} ")), "{out}");
    let plan = explain(
        &ctx,
        "SELECT id FROM refuel.p.sent_labels WHERE fruit_confidence > 0.6 LIMIT 3",
    )
    .await;
    assert!(
        plan.contains(r#""filter_type":"label","field":"confidence","operator":">","value":"0.6""#),
        "{plan}"
    );
    assert!(plan.contains("limit=3"), "{plan}");
    let confident = run(&ctx, "SELECT id, fruit_confidence FROM refuel.p.sent_labels WHERE fruit_confidence > 0.6 ORDER BY id").await;
    let want = items
        .iter()
        .filter(|i| {
            i.labels
                .first()
                .and_then(|l| l.confidence)
                .is_some_and(|c| c > 0.6)
        })
        .count();
    assert_eq!(confident.lines().count() - 4, want, "{confident}");

    let err = ctx
        .sql("SELECT * FROM refuel.p.nope")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
}

#[tokio::test]
async fn order_by_with_limit_fetches_only_the_rows_needed() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(3000))).await;
    let ctx = contexts(&c, "m").await;
    let q = "SELECT id, score FROM {} ORDER BY score DESC LIMIT 10";
    let plan = explain(&ctx, &q.replace("{}", "t")).await;
    assert!(
        plan.contains(r#"order_bys=[{"field":"score","direction":"DESC","subtask_id":null}]"#),
        "{plan}"
    );
    assert!(plan.contains("limit=10"), "{plan}");
    assert!(!plan.contains("SortExec"), "the sort is the API's: {plan}");
    reset_stats(emu.url()).await;
    let pushed = run(&ctx, &q.replace("{}", "t AS x")).await;
    assert_eq!(stats(emu.url()).await.rows_served, 10);
    // NULLs first descending, as SQL: the same rows as DataFusion's own sort (ties aside,
    // the ordered keys are compared).
    let plain = run(&ctx, &q.replace("{}", "mem AS x")).await;
    let scores = |s: &str| {
        s.lines()
            .skip(3)
            .filter_map(|l| l.split('|').nth(2).map(|v| v.trim().to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(scores(&pushed), scores(&plain));
    for q in [
        "SELECT id, name FROM {} ORDER BY name ASC, id DESC LIMIT 25",
        "SELECT id FROM {} WHERE qty > 2 ORDER BY id LIMIT 7",
        "SELECT id, score FROM {} ORDER BY score ASC NULLS FIRST, id LIMIT 12",
        "SELECT id FROM {} WHERE name LIKE 'fig%' ORDER BY id DESC LIMIT 5",
    ] {
        assert_eq!(
            run(&ctx, &q.replace("{}", "t AS x")).await,
            run(&ctx, &q.replace("{}", "mem AS x")).await,
            "{q}"
        );
    }
}

#[tokio::test]
async fn insert_appends_rows_and_returns_the_count() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = mixed_rows(500);
    upload_csv(&c, dir.path(), "m", &to_csv(&rows)).await;
    let ctx = SessionContext::new();
    ctx.register_table(
        "t",
        Arc::new(RefuelTable::try_new(c.clone(), "m", None).await.unwrap()),
    )
    .unwrap();
    let ones = rows.iter().filter(|r| r["qty"].as_i64() == Some(1)).count();
    let out = run(
        &ctx,
        "INSERT INTO t SELECT id + 10000, name, score, qty, active FROM t WHERE qty = 1",
    )
    .await;
    assert!(out.contains(&format!("| {ones} ")), "{out}");
    let out = run(
        &ctx,
        "INSERT INTO t (id, name) VALUES (-1, 'inserted'), (-2, NULL)",
    )
    .await;
    assert!(out.contains("| 2 "), "{out}");
    assert_eq!(
        c.items()
            .count("m", &refuel::client::models::ItemQuery::new())
            .await
            .unwrap(),
        (500 + ones + 2) as u64
    );
    let out = run(
        &ctx,
        "SELECT id, name, score FROM t WHERE id < 0 ORDER BY id",
    )
    .await;
    assert!(
        out.contains("| -2.0 |          |       |") && out.contains("| -1.0 | inserted |       |"),
        "{out}"
    );
    let copied = run(
        &ctx,
        "SELECT count(*) AS n FROM t WHERE id >= 10000 AND qty = 1",
    )
    .await;
    assert!(copied.contains(&format!("| {ones} ")), "{copied}");
    let err = ctx.sql("INSERT OVERWRITE t SELECT * FROM t").await;
    let err = match err {
        Ok(df) => df.collect().await.unwrap_err().to_string(),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("appended") || err.contains("not supported") || err.contains("Unsupported"),
        "{err}"
    );
}
