//! `refuel-datafusion`: SQL over the emulator, with pushdown checked against the same
//! queries without it.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use refuel::client::RefuelClient;
use refuel::datafusion::RefuelTable;

use crate::common::*;

mod golden;
mod label;
mod lake;
mod slt;
mod types;
mod write;

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

/// A result table with its cells trimmed and its fractional numbers rounded to 9
/// decimals: sums of floats depend on the order DataFusion adds them in (batch sizes,
/// partitions), so their last digits are not part of a query's answer.
fn rounded(table: &str) -> String {
    let number = regex::Regex::new(r"^-?\d+\.\d+(e-?\d+)?$").unwrap();
    table
        .lines()
        .filter(|l| !l.starts_with('+'))
        .map(|line| {
            line.split('|')
                .map(|cell| {
                    let cell = cell.trim();
                    match cell.parse::<f64>() {
                        Ok(v) if number.is_match(cell) => format!("{v:.9}"),
                        _ => cell.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The error of a statement, whether planning or running it fails.
async fn error_of(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(frame) => frame
            .collect()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{sql}: no error")),
    }
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
    assert_eq!(
        names,
        [
            "applications",
            "datasets",
            "finetuned_models",
            "m",
            "sent_labels",
            "task_runs",
            "tasks"
        ],
        "{tables}"
    );
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
        out.contains("| -2 |          |       |") && out.contains("| -1 | inserted |       |"),
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

/// A small deterministic generator (xorshift), so failures are reproducible by seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn predicate(g: &mut Gen) -> String {
    let words = [
        "apple",
        "Banana",
        "cherry",
        "APPLE",
        "date 50",
        "elder_berry",
        "fig",
        "pie",
        "tart",
        "a",
        "e",
        "50%",
        "r_b",
        "z",
    ];
    let w = g.pick(&words);
    let n = g.below(120) as f64 / 1.5;
    let q = g.below(17) as i64 - 6;
    match g.below(30) {
        0 => format!("name = '{w} {}'", g.below(13)),
        1 => format!("name <> '{w} {}'", g.below(13)),
        2 => format!("name < '{w}'"),
        3 => format!("name >= '{w}'"),
        4 => format!("name LIKE '%{w}%'"),
        5 => format!("name LIKE '{w}%'"),
        6 => format!("name LIKE '%{w}'"),
        7 => format!("name ILIKE '%{w}%'"),
        8 => format!("name NOT LIKE '%{w}%'"),
        9 => format!("name NOT ILIKE '%{w}%'"),
        10 => "name IS NULL".into(),
        11 => "name IS NOT NULL".into(),
        12 => format!("name IN ('{w} 1', '{w} 2', 'fig 3')"),
        13 => format!("name ~* '^{}'", w.replace('%', "").replace('_', ".")),
        14 => format!("score > {n}"),
        15 => format!("score <= {n}"),
        16 => format!("score = {}", g.below(1000) as f64 / 10.0),
        17 => format!("score BETWEEN {n} AND {}", n + 20.0),
        18 => "score IS NULL".into(),
        19 => format!("qty = {q}"),
        20 => format!("qty <> {q}"),
        21 => format!("qty IN ({q}, {}, {})", q + 1, q + 5),
        22 => format!("qty NOT IN ({q}, {})", q + 2),
        23 => "active".into(),
        24 => "NOT active".into(),
        25 => "active IS NOT TRUE".into(),
        26 => "active IS NULL".into(),
        27 => format!("(qty = {q} OR qty = {})", q + 3),
        28 => format!("(name LIKE '%{w}%' OR score > {n})"),
        _ => format!("upper(name) LIKE '%{}%'", w.to_uppercase()),
    }
}

fn query(g: &mut Gen) -> String {
    let filters: Vec<String> = (0..g.below(4)).map(|_| predicate(g)).collect();
    let wh = if filters.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filters.join(" AND "))
    };
    let keys = ["score", "name", "qty", "active"];
    let order = |g: &mut Gen| {
        let k = g.pick(&keys);
        let dir = g.pick(&["ASC", "DESC", "ASC NULLS FIRST", "DESC NULLS LAST", ""]);
        format!("{k} {dir}, id")
    };
    match g.below(8) {
        0..=2 => {
            let cols = g.pick(&["*", "id", "id, name", "name, score, id", "qty, active, id"]);
            let limit = match g.below(3) {
                0 => String::new(),
                1 => format!(" LIMIT {}", g.below(40) + 1),
                _ => format!(" LIMIT {} OFFSET {}", g.below(40) + 1, g.below(100)),
            };
            format!("SELECT {cols} FROM {{}}{wh} ORDER BY {}{limit}", order(g))
        }
        3 => format!(
            "SELECT count(*) AS n, sum(qty) AS s, min(name) AS lo, max(score) AS hi FROM {{}}{wh}"
        ),
        4 => format!(
            "SELECT active, count(*) AS n, avg(score) AS a FROM {{}}{wh} GROUP BY active ORDER BY active"
        ),
        5 => format!("SELECT DISTINCT qty FROM {{}}{wh} ORDER BY qty"),
        6 => format!(
            "SELECT a.id, b.name FROM {{}} a JOIN {{}} b ON a.id = b.qty + 100{} ORDER BY a.id, b.name LIMIT {}",
            wh.replace("name", "a.name")
                .replace("score", "a.score")
                .replace("qty", "a.qty")
                .replace("active", "a.active"),
            g.below(30) + 1
        ),
        _ => format!(
            "SELECT id FROM {{}}{wh} ORDER BY {} LIMIT {}",
            order(g),
            g.below(10) + 1
        ),
    }
}

/// What the differential run saw, for the report.
#[derive(Debug, Default)]
struct DifferentialFigures {
    queries: usize,
    /// Queries whose every filter was pushed exactly (no `FilterExec` left).
    all_filters_exact: usize,
    /// Queries with at least one filter pushed (exactly or not).
    some_filter_pushed: usize,
    /// Queries whose order was pushed (`order_bys` in the scan).
    order_pushed: usize,
    /// Queries whose order was pushed with NULL and non-NULL rows read apart.
    null_split: usize,
}

/// 500 generated queries over 800 mixed rows, through the provider and over the same rows
/// in memory: the results must be equal. `profile` is the emulator's, `semantics` what the
/// client declares about it.
async fn differential(
    profile: refuel::emulator::Profile,
    semantics: refuel::client::ServerSemantics,
) -> DifferentialFigures {
    let emu = emulator_with_profile(profile).await;
    let setup = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&setup, dir.path(), "m", &to_csv(&mixed_rows(800))).await;
    let c = client_with_semantics(emu.url(), KEY, Some("p"), semantics);
    let ctx = contexts(&c, "m").await;
    let mut g = Gen(0x5eed_cafe_f00d_1234);
    let mut figures = DifferentialFigures::default();
    for i in 0..500 {
        let q = query(&mut g);
        let over = |table: &str| {
            q.replace("{} a", &format!("{table} AS a"))
                .replace("{} b", &format!("{table} AS b"))
                .replace("{}", &format!("{table} AS x"))
        };
        let with = run(&ctx, &over("t")).await;
        let without = run(&ctx, &over("mem")).await;
        assert_eq!(
            rounded(&with),
            rounded(&without),
            "{profile:?}, query {i}: {q}\n{with}\n{without}"
        );
        let plan = explain(&ctx, &over("t")).await;
        figures.queries += 1;
        if plan.contains("filters=[{") {
            figures.some_filter_pushed += 1;
            if !plan.contains("FilterExec") {
                figures.all_filters_exact += 1;
            }
        }
        if plan.contains("order_bys=[") {
            figures.order_pushed += 1;
        }
        if plan.contains("null_split=") {
            figures.null_split += 1;
        }
    }
    eprintln!("differential, profile {profile:?}, semantics {semantics}: {figures:?}");
    figures
}

#[tokio::test]
async fn differential_500_generated_queries() {
    let figures = differential(
        refuel::emulator::Profile::Default,
        refuel::client::ServerSemantics::emulator(),
    )
    .await;
    // The generator exercises pushdown, not only the engine.
    assert!(
        figures.all_filters_exact > 100,
        "only {} queries had every filter pushed exactly",
        figures.all_filters_exact
    );
}

#[tokio::test]
async fn differential_500_generated_queries_in_the_cloud_shapes() {
    let figures = differential(
        refuel::emulator::Profile::CloudShapes,
        refuel::client::ServerSemantics::conservative(),
    )
    .await;
    assert!(figures.some_filter_pushed > 100, "{figures:?}");
}

#[tokio::test]
async fn differential_500_generated_queries_with_flipped_semantics() {
    let figures = differential(
        refuel::emulator::Profile::Flipped,
        refuel::client::ServerSemantics::conservative(),
    )
    .await;
    assert!(figures.some_filter_pushed > 100, "{figures:?}");
}

/// The flipped profile really disagrees with the emulator's documented semantics: a client
/// that wrongly declared them would answer wrongly, which is what the conservative
/// defaults prevent.
#[tokio::test]
async fn declaring_the_wrong_semantics_changes_results() {
    let emu = emulator_with_profile(refuel::emulator::Profile::Flipped).await;
    let setup = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&setup, dir.path(), "m", &to_csv(&mixed_rows(300))).await;
    let wrong = contexts(&setup, "m").await;
    let right = contexts(
        &client_with_semantics(
            emu.url(),
            KEY,
            Some("p"),
            refuel::client::ServerSemantics::conservative(),
        ),
        "m",
    )
    .await;
    for q in [
        "SELECT id FROM {} WHERE name < 'b' ORDER BY id",
        "SELECT id FROM {} WHERE name = 'apple tart 10' ORDER BY id",
        "SELECT score FROM {} ORDER BY score LIMIT 40",
    ] {
        let truth = run(&wrong, &q.replace("{}", "mem")).await;
        assert_ne!(run(&wrong, &q.replace("{}", "t")).await, truth, "{q}");
        assert_eq!(run(&right, &q.replace("{}", "t")).await, truth, "{q}");
    }
}

/// ORDER BY one nullable key with a LIMIT is pushed on a server whose NULL placement is
/// unknown, reading the NULL rows apart, and answers as SQL does on both NULL placements.
#[tokio::test]
async fn order_with_limit_is_right_wherever_the_server_puts_nulls() {
    for profile in [
        refuel::emulator::Profile::Default,
        refuel::emulator::Profile::Flipped,
    ] {
        let emu = emulator_with_profile(profile).await;
        let setup = client_with_project(&emu, "p").await;
        let dir = tempfile::tempdir().unwrap();
        upload_csv(&setup, dir.path(), "m", &to_csv(&mixed_rows(300))).await;
        let c = client_with_semantics(
            emu.url(),
            KEY,
            Some("p"),
            refuel::client::ServerSemantics::conservative(),
        );
        let ctx = contexts(&c, "m").await;
        for q in [
            "SELECT score FROM {} ORDER BY score DESC LIMIT 10",
            "SELECT score FROM {} ORDER BY score DESC NULLS LAST LIMIT 10",
            "SELECT score FROM {} ORDER BY score ASC LIMIT 40",
            "SELECT score FROM {} ORDER BY score NULLS FIRST LIMIT 40 OFFSET 20",
            "SELECT score FROM {} ORDER BY score DESC",
        ] {
            let plan = explain(&ctx, &q.replace("{}", "t")).await;
            assert!(plan.contains("null_split="), "{profile:?}: {q}: {plan}");
            assert!(plan.contains("assumes=[number_order=numeric]"), "{plan}");
            assert_eq!(
                run(&ctx, &q.replace("{}", "t")).await,
                run(&ctx, &q.replace("{}", "mem")).await,
                "{profile:?}: {q}"
            );
        }
        // Text orders are not pushed on a server whose text order is unknown.
        let plan = explain(&ctx, "SELECT name FROM t ORDER BY name LIMIT 5").await;
        assert!(!plan.contains("order_bys"), "{plan}");
    }
}

#[tokio::test]
async fn order_by_passes_a_filter_that_stays_in_datafusion() {
    use refuel::datafusion::RefuelContextExt;
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(20_000))).await;
    let ctx = SessionContext::new();
    // Two requests at most in flight: how far the scan reads ahead of a query that stops
    // early then does not depend on how far the limiter has grown.
    let config = refuel::client::ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(emu.url())
        .unwrap()
        .with_semantics(refuel::client::ServerSemantics::emulator())
        .with_max_workers(2);
    let client = refuel::client::RefuelClient::new(config).unwrap();
    ctx.register_refuel("refuel", client).await.unwrap();
    let all = ctx
        .sql("SELECT * FROM refuel.p.m")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    ctx.register_table(
        "mem",
        Arc::new(MemTable::try_new(all[0].schema(), vec![all]).unwrap()),
    )
    .unwrap();
    // An order led by an integer column (`id`), read as its NULL rows and its values
    // within and beyond ±2^53.
    let q = "SELECT id, score FROM {} WHERE upper(name) LIKE '%APPLE%' ORDER BY id DESC LIMIT 5";
    let plan = explain(&ctx, &q.replace("{}", "refuel.p.m")).await;
    assert!(
        plan.contains(r#"order_bys=[{"field":"id","direction":"DESC","subtask_id":null}]"#),
        "{plan}"
    );
    assert!(plan.contains("integer_split=nulls_first"), "{plan}");
    assert!(!plan.contains("SortExec"), "{plan}");
    reset_stats(emu.url()).await;
    let pushed = run(&ctx, &q.replace("{}", "refuel.p.m AS x")).await;
    let served = stats(emu.url()).await.rows_served;
    assert_eq!(pushed, run(&ctx, &q.replace("{}", "mem AS x")).await);
    assert!(
        served < 20_000,
        "pages stop once the filter has its rows: {served} rows served; {plan}"
    );

    // An integer key after the first is not pushed (its values beyond ±2^53 tie on the
    // server): the first key is, and DataFusion's TopK stops reading once it has its rows
    // (with a filter in between, which gathers rows into batches of 8192, later).
    for (q, most) in [
        (
            "SELECT id, score FROM {} ORDER BY score DESC, id LIMIT 5",
            10_000,
        ),
        (
            "SELECT id, score FROM {} WHERE upper(name) LIKE '%APPLE%' ORDER BY score DESC, id LIMIT 5",
            20_000,
        ),
    ] {
        let plan = explain(&ctx, &q.replace("{}", "refuel.p.m")).await;
        assert!(
            plan.contains(r#"order_bys=[{"field":"score","direction":"DESC","subtask_id":null}]"#),
            "{plan}"
        );
        assert!(plan.contains("TopK"), "{plan}");
        reset_stats(emu.url()).await;
        let pushed = run(&ctx, &q.replace("{}", "refuel.p.m AS x")).await;
        let served = stats(emu.url()).await.rows_served;
        assert_eq!(pushed, run(&ctx, &q.replace("{}", "mem AS x")).await, "{q}");
        assert!(
            served <= most,
            "{q}: reading stops once the sorted prefix has its rows: {served} rows served; {plan}"
        );
    }
}
