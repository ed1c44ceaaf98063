//! The sqllogictest files under `sql/`, run against the emulator through the provider.
//!
//! Each file gets a fresh emulator with the same fixture: project `shop` with the dataset
//! `reviews` (`sql/data/reviews.csv`), the task `sentiment` (one classification field,
//! `sentiment`, over `review`) labeled by a completed run, and an empty project `empty`. The
//! session has `information_schema` on and `refuel.shop` as its default schema, so bare
//! names resolve there. Ids in results (datasets, tasks, fields) are shown as
//! `<dataset:NAME>`, `<task:NAME>` and `<field:NAME>`.
//!
//! `REFUEL_BLESS=1 cargo test --test it slt` rewrites the files' expected results (review
//! the diff).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::models::FieldType;
use refuel::client::{ServerSemantics, TaskField};
use refuel::datafusion::RefuelContextExt;
use sqllogictest::{AsyncDB, ColumnType, DBOutput};

use crate::common::*;

/// Column types as the `.slt` files write them after `query`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Type {
    Text,
    Integer,
    Float,
    Boolean,
    Other,
}

impl ColumnType for Type {
    fn from_char(value: char) -> Option<Self> {
        Some(match value {
            'T' => Type::Text,
            'I' => Type::Integer,
            'R' => Type::Float,
            'B' => Type::Boolean,
            '?' => Type::Other,
            _ => return None,
        })
    }

    fn to_char(&self) -> char {
        match self {
            Type::Text => 'T',
            Type::Integer => 'I',
            Type::Float => 'R',
            Type::Boolean => 'B',
            Type::Other => '?',
        }
    }
}

fn column_type(t: &DataType) -> Type {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::Text,
        t if t.is_integer() => Type::Integer,
        t if t.is_floating() || matches!(t, DataType::Decimal128(..)) => Type::Float,
        DataType::Boolean => Type::Boolean,
        _ => Type::Other,
    }
}

/// A session over the fixture.
struct Db {
    ctx: SessionContext,
    /// Ids and the placeholders shown for them.
    ids: Arc<Vec<(String, String)>>,
}

impl Db {
    fn cell(&self, array: &dyn Array, row: usize) -> Result<String, DataFusionError> {
        if array.is_null(row) {
            return Ok("NULL".into());
        }
        let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
        let text = formatter.value(row).to_string();
        if text.is_empty() {
            return Ok("(empty)".into());
        }
        Ok(self
            .ids
            .iter()
            .fold(text, |acc, (id, name)| acc.replace(id, name)))
    }

    /// Rows of text; a cell with several lines (plans) becomes several rows.
    fn rows(&self, batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DataFusionError> {
        let mut rows = Vec::new();
        for batch in batches {
            for r in 0..batch.num_rows() {
                let cells: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| self.cell(c.as_ref(), r))
                    .collect::<Result<_, _>>()?;
                let height = cells.iter().map(|c| c.lines().count()).max().unwrap_or(1);
                for line in 0..height.max(1) {
                    rows.push(
                        cells
                            .iter()
                            .map(|c| c.lines().nth(line).unwrap_or("").trim_end().to_string())
                            .collect(),
                    );
                }
            }
        }
        Ok(rows)
    }
}

#[async_trait]
impl AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = Type;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Type>, DataFusionError> {
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types: schema
                .fields()
                .iter()
                .map(|f| column_type(f.data_type()))
                .collect(),
            rows: self.rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "refuel-datafusion"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// An emulator answering in `profile` with the fixture, and the ids to hide.
async fn fixture(
    profile: refuel::emulator::Profile,
) -> (refuel::emulator::EmulatorHandle, Vec<(String, String)>) {
    let emu = emulator_with_profile(profile).await;
    let c = client_with_project(&emu, "shop").await;
    client_with_project(&emu, "empty").await;
    let csv = std::fs::read_to_string(sql_dir().join("data/reviews.csv")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ds = upload_csv(&c, dir.path(), "reviews", &csv).await;
    let field = TaskField::new("sentiment", FieldType::Classification)
        .labels(["positive", "negative", "neutral"])
        .guidelines(
            "positive: great, excellent, love, good\n\
             negative: terrible, awful, broken, bad, burnt, leaks\n\
             neutral: okay, fine, average, nothing",
        )
        .input_column("review");
    let task = c
        .tasks()
        .create("sentiment", "reviews", "Product reviews", &[field], None)
        .await
        .unwrap();
    c.runs().start("sentiment", "reviews", None).await.unwrap();
    c.runs()
        .wait_for_completion("sentiment", "reviews", quick_wait(), |_| {})
        .await
        .unwrap();
    let mut ids = vec![
        (ds.id.clone(), "<dataset:reviews>".to_string()),
        (task.id.clone(), "<task:sentiment>".to_string()),
    ];
    for sub in &task.subtasks {
        ids.push((sub.id.clone(), format!("<field:{}>", sub.name)));
    }
    (emu, ids)
}

fn sql_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql")
}

async fn session(url: &str, semantics: ServerSemantics) -> SessionContext {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(2)
        .with_default_catalog_and_schema("refuel", "shop");
    let ctx = SessionContext::new_with_config(config);
    ctx.register_refuel(
        "refuel",
        client_with_semantics(url, KEY, Some("shop"), semantics),
    )
    .await
    .unwrap();
    ctx
}

/// Compares rows as whole lines, whitespace folded: a plan's continuation lines (an empty
/// first cell) compare as they read.
fn validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    let actual: Vec<String> = actual.iter().map(|r| normalizer(&r.join(" "))).collect();
    let expected: Vec<String> = expected.iter().map(normalizer).collect();
    actual == expected
}

/// Runs (or with `bless`, rewrites) one file against an emulator in `profile`, the client
/// declaring `semantics`.
async fn run_file(
    path: &Path,
    bless: bool,
    profile: refuel::emulator::Profile,
    semantics: ServerSemantics,
) -> Result<(), String> {
    let (emu, ids) = fixture(profile).await;
    let ids = Arc::new(ids);
    let url = emu.url().to_string();
    let mut runner = sqllogictest::Runner::new(move || {
        let (url, ids) = (url.clone(), Arc::clone(&ids));
        async move {
            Ok::<_, DataFusionError>(Db {
                ctx: session(&url, semantics).await,
                ids,
            })
        }
    });
    runner.with_validator(validator);
    runner.with_column_validator(sqllogictest::strict_column_validator);
    if bless {
        runner
            .update_test_file(
                path,
                " ",
                validator,
                sqllogictest::default_normalizer,
                sqllogictest::strict_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(false).to_string())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqllogictest_files_pass() {
    let bless = std::env::var_os("REFUEL_BLESS").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(sql_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the .slt files are missing: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let run = run_file(
            file,
            bless,
            refuel::emulator::Profile::Default,
            ServerSemantics::emulator(),
        );
        if let Err(e) = run.await {
            failures.push(format!("{}:\n{e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The files of queries (not of plans, which show what is pushed) give the same results
/// against emulators answering in the other profiles, the client on its conservative
/// defaults.
#[tokio::test(flavor = "multi_thread")]
async fn sqllogictest_query_files_pass_under_every_profile() {
    let mut failures = Vec::new();
    for profile in [
        refuel::emulator::Profile::CloudShapes,
        refuel::emulator::Profile::Flipped,
    ] {
        for name in QUERY_FILES {
            let file = sql_dir().join(name);
            let run = run_file(&file, false, profile, ServerSemantics::conservative());
            if let Err(e) = run.await {
                failures.push(format!("{profile:?}, {}:\n{e}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The `.slt` files whose results do not show plans.
const QUERY_FILES: [&str; 3] = ["queries.slt", "labels.slt", "external.slt"];
