//! Golden tests of the exact requests a SQL query sends to the API.
//!
//! Each query of `QUERIES` runs over a 50-row dataset (pages of 20 rows) and its labels;
//! the row requests it made (read back from the emulator's request log, ids replaced by
//! `{dataset}`, `{task}` and `{field}`) are compared with `tests/it/golden/requests.txt`.
//! `REFUEL_BLESS=1 cargo test --test it golden` rewrites that file; review its diff.

use std::fmt::Write as _;
use std::path::PathBuf;

use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::TaskField;
use refuel::client::models::FieldType;
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::LoggedRequest;

use crate::common::*;

/// Every kind of predicate, order and limit, on dataset columns (`m`: id, name, score,
/// qty, active) and on label columns (`fruit_labels`: `m` plus the task field `fruit`).
const QUERIES: &[&str] = &[
    // Scans, projections, limits.
    "SELECT * FROM m",
    "SELECT id FROM m LIMIT 5",
    "SELECT id FROM m LIMIT 25",
    "SELECT id FROM m LIMIT 5 OFFSET 30",
    "SELECT id FROM m LIMIT 30 OFFSET 15",
    "SELECT id FROM m OFFSET 45",
    "SELECT id FROM m ORDER BY score DESC LIMIT 3 OFFSET 10",
    "SELECT id FROM m ORDER BY score DESC LIMIT 30 OFFSET 10",
    "SELECT id FROM m WHERE qty > 0 LIMIT 3 OFFSET 2",
    "SELECT id FROM m WHERE upper(name) = 'FIG 3' LIMIT 3 OFFSET 2",
    "SELECT count(*) FROM (SELECT id FROM m LIMIT 10 OFFSET 45)",
    "SELECT count(*) FROM m",
    "SELECT count(*) FROM m WHERE qty > 3",
    // Comparisons by kind.
    "SELECT id FROM m WHERE name = 'fig 3'",
    "SELECT id FROM m WHERE name <> 'fig 3'",
    "SELECT id FROM m WHERE name < 'b'",
    "SELECT id FROM m WHERE score = 12.5",
    "SELECT id FROM m WHERE score <> 12.5",
    "SELECT id FROM m WHERE score < 10",
    "SELECT id FROM m WHERE score <= 10",
    "SELECT id FROM m WHERE score > 90",
    "SELECT id FROM m WHERE score >= 90",
    "SELECT id FROM m WHERE 90 < score",
    "SELECT id FROM m WHERE qty = -3",
    "SELECT id FROM m WHERE score BETWEEN 10 AND 20",
    "SELECT id FROM m WHERE score NOT BETWEEN 10 AND 20",
    // NULLs and booleans.
    "SELECT id FROM m WHERE name IS NULL",
    "SELECT id FROM m WHERE name IS NOT NULL",
    "SELECT id FROM m WHERE active",
    "SELECT id FROM m WHERE NOT active",
    "SELECT id FROM m WHERE active = false",
    "SELECT id FROM m WHERE active IS TRUE",
    // Lists.
    "SELECT id FROM m WHERE qty IN (1, 2, 3)",
    "SELECT id FROM m WHERE qty NOT IN (1, 2, 3)",
    "SELECT id FROM m WHERE name IN ('fig 3', NULL)",
    "SELECT id FROM m WHERE name = 'fig 3' OR name = 'apple 0'",
    "SELECT id FROM m WHERE name = 'fig 3' OR qty = 1",
    // Patterns.
    "SELECT id FROM m WHERE name LIKE '%apple%'",
    "SELECT id FROM m WHERE name LIKE 'apple%'",
    "SELECT id FROM m WHERE name LIKE '%5\\%%'",
    "SELECT id FROM m WHERE name LIKE '%a_c%'",
    "SELECT id FROM m WHERE name NOT LIKE '%apple%'",
    "SELECT id FROM m WHERE name ILIKE '%APPLE%'",
    "SELECT id FROM m WHERE name NOT ILIKE '%apple%'",
    "SELECT id FROM m WHERE name ~* '^(fig|date)'",
    "SELECT id FROM m WHERE name !~* 'pie'",
    "SELECT id FROM m WHERE name ~ 'pie'",
    // Not pushable: stays in DataFusion, nothing sent.
    "SELECT id FROM m WHERE upper(name) = 'FIG 3'",
    "SELECT id FROM m WHERE score + 1 > 50",
    // Several predicates: each conjunct on its own.
    "SELECT id FROM m WHERE score > 50 AND qty <= 3 AND name LIKE '%e%'",
    "SELECT id FROM m WHERE score > 50 AND upper(name) = 'FIG 3' LIMIT 2",
    // Orders.
    "SELECT id FROM m ORDER BY score DESC LIMIT 3",
    "SELECT id FROM m ORDER BY score ASC LIMIT 3",
    "SELECT id FROM m ORDER BY name, id DESC LIMIT 4",
    "SELECT id FROM m ORDER BY score ASC NULLS FIRST LIMIT 3",
    "SELECT id FROM m ORDER BY score DESC",
    "SELECT id FROM m WHERE qty > 0 ORDER BY id LIMIT 3",
    "SELECT id FROM m WHERE name LIKE 'fig%' ORDER BY id DESC LIMIT 2",
    "SELECT id FROM m ORDER BY upper(name) LIMIT 3",
    // Label columns.
    "SELECT id, fruit_label FROM fruit_labels",
    "SELECT id FROM fruit_labels WHERE fruit_label = 'apple'",
    "SELECT id FROM fruit_labels WHERE fruit_llm_label <> 'apple'",
    "SELECT id FROM fruit_labels WHERE fruit_confidence > 0.5",
    "SELECT id FROM fruit_labels WHERE fruit_confidence IS NULL",
    "SELECT id FROM fruit_labels WHERE fruit_label IN ('apple', 'fig')",
    "SELECT id FROM fruit_labels WHERE fruit_label LIKE '%pp%'",
    "SELECT id FROM fruit_labels WHERE fruit_label = name",
    "SELECT id FROM fruit_labels WHERE fruit_verified",
    "SELECT id FROM fruit_labels WHERE NOT fruit_verified",
    "SELECT id FROM fruit_labels WHERE fruit_explanation IS NOT NULL",
    "SELECT id FROM fruit_labels WHERE qty > 0 AND fruit_label = 'fig'",
    "SELECT id FROM fruit_labels ORDER BY fruit_confidence DESC LIMIT 3",
    "SELECT id FROM fruit_labels ORDER BY fruit_label, id LIMIT 3",
    "SELECT id FROM fruit_labels WHERE fruit_label = 'apple' ORDER BY fruit_confidence LIMIT 2",
];

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/requests.txt")
}

/// A request as one line, ids replaced by names, the query's pairs in the order sent.
fn render(req: &LoggedRequest, ids: &[(String, &str)]) -> String {
    let replace = |s: &str| {
        ids.iter()
            .fold(s.to_string(), |acc, (id, name)| acc.replace(id, name))
    };
    let query: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k != "dataset_id" && k != "task_id")
        .map(|(k, v)| format!("{k}={}", replace(v)))
        .collect();
    format!("{} {}?{}", req.method, replace(&req.path), query.join("&"))
}

#[tokio::test]
async fn requests_sent_for_each_kind_of_query_match_the_golden_file() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let ds = upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(50))).await;
    let field = TaskField::new("fruit", FieldType::Classification)
        .labels(["apple", "cherry", "fig"])
        .input_column("name");
    let task = c
        .tasks()
        .create("fruit", "m", "", &[field], None)
        .await
        .unwrap();
    c.runs().start("fruit", "m", None).await.unwrap();
    c.runs()
        .wait_for_completion("fruit", "m", quick_wait(), |_| {})
        .await
        .unwrap();
    let mut ids = vec![(ds.id.clone(), "{dataset}"), (task.id.clone(), "{task}")];
    for sub in &task.subtasks {
        ids.push((sub.id.clone(), "{field}"));
    }

    // Pages of 20 rows, two partitions: the offset ranges show.
    let config = refuel::client::ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(emu.url())
        .unwrap()
        .with_semantics(refuel::client::ServerSemantics::emulator())
        .with_page_size(20)
        .with_max_workers(2);
    let client = refuel::client::RefuelClient::new(config).unwrap();
    let config = SessionConfig::new()
        .with_target_partitions(2)
        .with_default_catalog_and_schema("refuel", "p");
    let ctx = SessionContext::new_with_config(config);
    ctx.register_refuel("refuel", client).await.unwrap();

    let mut out = String::new();
    for sql in QUERIES {
        reset_stats(emu.url()).await;
        ctx.sql(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        // Pages run concurrently: sorted, the lines do not depend on timing.
        let mut lines: Vec<String> = request_log(emu.url())
            .await
            .iter()
            .map(|r| render(r, &ids))
            .collect();
        lines.sort();
        writeln!(out, "-- {sql}").unwrap();
        for line in lines {
            writeln!(out, "{line}").unwrap();
        }
        out.push('\n');
    }

    let path = golden_path();
    if std::env::var_os("REFUEL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with REFUEL_BLESS=1 to write it",
            path.display()
        )
    });
    if expected != out {
        let first = expected
            .lines()
            .zip(out.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(out.lines().count()));
        let context: Vec<&str> = out.lines().skip(first.saturating_sub(3)).take(8).collect();
        panic!(
            "the requests differ from {} from line {}:\n{}\n(REFUEL_BLESS=1 rewrites the file)",
            path.display(),
            first + 1,
            context.join("\n")
        );
    }
}
