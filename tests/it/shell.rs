//! `refuel-sql`: the real binary in each mode (one-shot `-c`, `-f`, standard input, the REPL
//! through a pseudo-terminal), each output format, each subcommand; against its own
//! `--local` emulator on a temporary data directory, or an in-process emulator over HTTP.
//! Outputs are compared with snapshots in `tests/it/snapshots/` after timings, ids, times
//! and temporary paths are filtered out (`UPDATE_SNAPSHOTS=1` rewrites them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use regex::Regex;

use crate::common::*;

/// The binary built next to this test binary (by `cargo build --workspace --bins`).
fn shell_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("refuel-sql{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p refuel-sql` first",
        bin.display()
    );
    bin
}

/// A data directory seeded once with the demo project; tests get copies of it.
fn seeded_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = shell(&dir).args(["-c", "SELECT 1"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        dir
    })
}

/// A fresh copy of the seeded data directory (no process shares it).
fn seeded_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(seeded_template(), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "refuel-sql.lock" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `refuel-sql --local DIR`, with no connection settings from the environment, a private
/// HOME and no standard input.
fn shell(data: &Path) -> Command {
    let mut cmd = bare_shell(data);
    cmd.arg("--local").arg(data.join("data"));
    cmd
}

/// `refuel-sql` with a clean environment (HOME in `home`) and no arguments yet.
fn bare_shell(home: &Path) -> Command {
    let mut cmd = Command::new(shell_binary());
    cmd.env_remove("REFUEL_API_KEY")
        .env_remove("REFUEL_API_URL")
        .env_remove("REFUEL_PROJECT")
        .env_remove("REFUEL_SQL_DATA_DIR")
        .env_remove("REFUEL_EMAIL")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", home)
        .env("REFUEL_SQL_HISTORY", home.join("history"))
        .stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs with `stdin` as standard input.
fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `cmd` (fed `stdin`, when given) on a blocking thread: the test's own runtime serves
/// what the shell talks to.
async fn output_off_runtime(mut cmd: Command, stdin: Option<&'static str>) -> Output {
    tokio::task::spawn_blocking(move || match stdin {
        Some(input) => run_with_stdin(cmd, input),
        None => cmd.output().unwrap(),
    })
    .await
    .unwrap()
}

/// Runs and expects success; returns standard output.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs and expects failure; returns standard error.
fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "expected a failure\nstdout: {}",
        text(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Filters what changes from run to run: timings, ids, times, temporary paths.
fn normalize(text: &str) -> String {
    static FILTERS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let filters = FILTERS.get_or_init(|| {
        vec![
            (Regex::new(r"Time: \d+\.\d+ ms").unwrap(), "Time: [TIME]"),
            (
                Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
                    .unwrap(),
                "[UUID]",
            ),
            (
                Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z").unwrap(),
                "[TIMESTAMP]",
            ),
            (Regex::new(r"/[^\s']*/\.tmp[A-Za-z0-9]+").unwrap(), "[TMP]"),
        ]
    });
    let mut out = text.to_string();
    for (re, replacement) in filters {
        out = re.replace_all(&out, *replacement).into_owned();
    }
    out
}

/// Compares `actual` (normalized) with `tests/it/snapshots/shell__<name>.snap`.
fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("shell__{name}.snap"));
    let actual = normalize(actual);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "snapshot {} is missing: run with UPDATE_SNAPSHOTS=1 and review it\nactual:\n{actual}",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "snapshot {} differs (UPDATE_SNAPSHOTS=1 rewrites it)",
        path.display()
    );
}

const BY_SENTIMENT: &str = "SELECT sentiment_label, count(*) AS reviews, round(avg(stars), 2) AS stars \
     FROM reviews_sentiment_labels GROUP BY 1 ORDER BY 1";

#[test]
fn first_run_seeds_the_demo_and_later_runs_reuse_it() {
    let home = tempfile::tempdir().unwrap();
    let out = shell(home.path())
        .args(["-c", BY_SENTIMENT])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("First run: creating the demo project 'demo'"),
        "{err}"
    );
    assert!(err.contains("labeled 3000 reviews"), "{err}");
    assert_snapshot("demo_by_sentiment", &text(&out.stdout));

    // The demo holds a dataset, a task, a completed run and a deployed application.
    let sql = "SELECT (SELECT count(*) FROM reviews) AS reviews, \
               (SELECT count(*) FROM reviews_sentiment_labels WHERE sentiment_label IS NOT NULL \
                  AND topic_label IS NOT NULL) AS labeled, \
               (SELECT count(*) FROM tasks WHERE name = 'reviews_sentiment') AS tasks, \
               (SELECT max(status) FROM task_runs WHERE task_name = 'reviews_sentiment') AS run, \
               (SELECT count(*) FROM applications WHERE name = 'reviews_sentiment') AS apps";
    let out = shell(home.path())
        .args(["--format", "csv", "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "reviews,labeled,tasks,run,apps\n3000,3000,1,completed,1\n"
    );
    // Nothing is seeded twice.
    assert!(
        !text(&out.stderr).contains("First run"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn every_format_on_standard_output() {
    let dir = seeded_dir();
    for format in ["table", "csv", "tsv", "json", "ndjson"] {
        let out = shell(dir.path())
            .args(["--format", format, "-c", BY_SENTIMENT])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{format}: notices stay off stdout");
        assert_snapshot(&format!("format_{format}"), &text(&out.stdout));
    }
    // Timing, on standard output after a table, on standard error otherwise.
    let out = ok(shell(dir.path()).args(["--timing", "-c", "SELECT 1 AS one"]));
    assert_snapshot("timing_table", &out);
    let out = shell(dir.path())
        .args(["--timing", "--format", "csv", "-c", "SELECT 1 AS one"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "one\n1\n");
    assert_eq!(normalize(&text(&out.stderr)), "Time: [TIME]\n");
    // Empty results keep their header.
    let out = ok(shell(dir.path()).args([
        "--format",
        "csv",
        "-c",
        "SELECT review_id, text FROM reviews WHERE stars > 5",
    ]));
    assert_eq!(out, "review_id,text\n");
    let out = ok(shell(dir.path()).args([
        "--format",
        "json",
        "-c",
        "SELECT review_id FROM reviews WHERE stars > 5",
    ]));
    assert_eq!(out, "[]\n");
}

#[test]
fn max_rows_shows_a_notice_and_counts_every_row() {
    let dir = seeded_dir();
    let sql = "SELECT review_id, stars FROM reviews ORDER BY review_id";
    let out = ok(shell(dir.path()).args(["-c", sql]));
    assert_snapshot("max_rows_default_table", &out);
    let out = shell(dir.path())
        .args(["--format", "csv", "--max-rows", "3", "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "review_id,stars\n1,5\n2,5\n3,5\n");
    assert_eq!(
        text(&out.stderr),
        "3000 rows, 3 shown (--max-rows N or \\maxrows N to see more; 0 for all)\n"
    );
    // 0 shows all; csv shows all by default.
    let all = ok(shell(dir.path()).args(["--format", "csv", "-c", sql]));
    assert_eq!(all.lines().count(), 3001);
    let all = ok(shell(dir.path()).args(["--max-rows", "0", "-c", sql]));
    assert!(all.ends_with("3000 rows\n"), "{all}");
    // And from the shell's own command.
    let out = ok(shell(dir.path()).args(["-c", "\\maxrows 2", "-c", sql]));
    assert!(out.contains("3000 rows, 2 shown"), "{out}");
}

#[test]
fn meta_commands() {
    let dir = seeded_dir();
    let out = ok(shell(dir.path()).args([
        "--format",
        "csv",
        "-c",
        "\\l",
        "-c",
        "\\d",
        "-c",
        "\\d reviews_sentiment_labels",
    ]));
    assert_snapshot("meta_csv", &out);
    let out = ok(shell(dir.path()).args(["-c", "\\d reviews", "-c", "\\?"]));
    assert_snapshot("meta_table_and_help", &out);
    // \use names what exists.
    let out = fails(shell(dir.path()).args(["-c", "\\use shop"]));
    assert_eq!(
        out,
        "refuel-sql: error: project 'shop' not found (projects: demo)\n"
    );
    let out = fails(shell(dir.path()).args(["--project", "shop", "-c", "SELECT 1"]));
    assert_eq!(
        out,
        "refuel-sql: error: project 'shop' not found (projects: demo)\n"
    );
    // Bad commands are one clear line.
    let err = fails(shell(dir.path()).args(["-c", "\\frobnicate"]));
    assert_eq!(
        err,
        "refuel-sql: error: unknown command \\frobnicate: \\? lists the commands\n"
    );
    let err = fails(shell(dir.path()).args(["-c", "\\format xml"]));
    assert_eq!(
        err,
        "refuel-sql: error: unknown format 'xml': use one of table, csv, tsv, json, ndjson\n"
    );
}

#[test]
fn scripts_from_files_and_standard_input() {
    let dir = seeded_dir();
    let script = "-- a comment; not a statement\n\
        \\format csv\n\
        SELECT category,\n       count(*) AS n\n  FROM reviews\n GROUP BY category\n ORDER BY category;\n\
        CREATE VIEW unhappy AS SELECT * FROM reviews_sentiment_labels WHERE sentiment_label = 'negative';\n\
        SELECT topic_label, count(*) AS n FROM unhappy GROUP BY 1 ORDER BY 2 DESC, 1; SELECT 'a;b' AS semi\n";
    let file = write_file(dir.path(), "report.sql", script.as_bytes());
    let from_file = ok(shell(dir.path()).arg("-f").arg(&file));
    assert_snapshot("script", &from_file);
    let from_stdin = run_with_stdin(shell(dir.path()), script);
    assert!(from_stdin.status.success(), "{}", text(&from_stdin.stderr));
    assert_eq!(text(&from_stdin.stdout), from_file);
    let dash = run_with_stdin(
        {
            let mut c = shell(dir.path());
            c.args(["-f", "-"]);
            c
        },
        script,
    );
    assert_eq!(text(&dash.stdout), from_file);
    // -c runs before -f, in order; \q stops.
    let out = ok(shell(dir.path())
        .args([
            "--format",
            "csv",
            "-c",
            "SELECT 1 AS a",
            "-c",
            "SELECT 2 AS b",
        ])
        .arg("-f")
        .arg(write_file(
            dir.path(),
            "q.sql",
            b"SELECT 3 AS c;\n\\q\nSELECT 4 AS d;\n",
        )));
    assert_eq!(out, "a\n1\nb\n2\nc\n3\n");
    // The first error stops the script, with its exit code.
    let mut cmd = shell(dir.path());
    cmd.arg("-f").arg(write_file(
        dir.path(),
        "bad.sql",
        b"SELECT 1 AS ok;\nSELECT nope FROM reviews;\nSELECT 2 AS never;\n",
    ));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stdout).contains("never"));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("refuel-sql: error: "), "{err}");
    assert!(err.contains("nope"), "{err}");
    // In a project, CREATE TABLE ... AS makes a dataset; views live in the session, beside
    // the project's tables.
    let out = ok(shell(dir.path()).args([
        "--format",
        "csv",
        "-c",
        "CREATE TABLE picks AS SELECT review_id FROM reviews WHERE stars = 5 LIMIT 2",
        "-c",
        "CREATE VIEW fives AS SELECT * FROM picks",
        "-c",
        "SELECT count(*) AS n FROM fives",
        "-c",
        "\\d",
    ]));
    assert!(out.starts_with("n\n2\n"), "{out}");
    assert!(out.contains("picks,dataset\n"), "{out}");
    assert!(out.contains("fives,session view\n"), "{out}");
    // The dataset outlives the session; the view does not.
    let out = ok(shell(dir.path()).args([
        "--format",
        "csv",
        "-c",
        "SELECT count(*) AS n FROM picks",
        "-c",
        "\\d",
    ]));
    assert!(out.starts_with("n\n2\n"), "{out}");
    assert!(!out.contains("fives"), "{out}");
    let err = fails(shell(dir.path()).args(["-c", "DROP TABLE reviews"]));
    assert_eq!(
        err,
        "refuel-sql: error: 'reviews' is a dataset table of the Refuel project: it cannot be \
         dropped from the shell\n"
    );
    let out =
        ok(shell(dir.path()).args(["--format", "csv", "-c", "SELECT count(*) AS n FROM reviews"]));
    assert_eq!(out, "n\n3000\n");
}

#[test]
fn output_files_take_their_format_from_the_extension() {
    let dir = seeded_dir();
    let sql = "SELECT review_id, sentiment_label, sentiment_confidence FROM reviews_sentiment_labels ORDER BY review_id LIMIT 4";
    for ext in ["csv", "tsv", "json", "ndjson", "txt"] {
        let path = dir.path().join(format!("out.{ext}"));
        let out = shell(dir.path())
            .args(["-c", sql, "-o"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "", "results go to the file");
        assert_eq!(
            text(&out.stderr),
            format!("4 rows written to {}\n", path.display())
        );
        assert_snapshot(
            &format!("file_{ext}"),
            &std::fs::read_to_string(&path).unwrap(),
        );
    }
    // Parquet: every row, typed.
    let path = dir.path().join("labels.parquet");
    ok(shell(dir.path())
        .args(["-q", "-c", "SELECT * FROM reviews_sentiment_labels", "-o"])
        .arg(&path));
    let file = std::fs::File::open(&path).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = reader.schema().clone();
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3000);
    assert!(schema.field_with_name("sentiment_label").is_ok());
    assert_eq!(
        schema
            .field_with_name("sentiment_confidence")
            .unwrap()
            .data_type(),
        &arrow_schema::DataType::Float64
    );
    // Several results append to a text file; a Parquet file takes one.
    let path = dir.path().join("two.csv");
    ok(shell(dir.path())
        .args(["-q", "-c", "SELECT 1 AS a; SELECT 2 AS b", "-o"])
        .arg(&path));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\n1\nb\n2\n");
    let err = fails(
        shell(dir.path())
            .args(["-q", "-c", "SELECT 1 AS a; SELECT 2 AS b", "-o"])
            .arg(dir.path().join("two.parquet")),
    );
    assert!(
        err.contains("a Parquet file takes the rows of one query"),
        "{err}"
    );
    // An extension that names no format.
    let err = fails(
        shell(dir.path())
            .args(["-c", "SELECT 1", "-o"])
            .arg(dir.path().join("out.xlsx")),
    );
    assert!(err.contains("cannot tell the format of"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn errors_are_one_line_and_never_show_the_key() {
    let dir = seeded_dir();
    let err = fails(shell(dir.path()).args(["-c", "SELEC 1"]));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("refuel-sql: error: SQL error: "), "{err}");
    let err = fails(shell(dir.path()).args(["-c", "SELECT * FROM nowhere"]));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nowhere"), "{err}");
    // -v adds details.
    let out = shell(dir.path())
        .args(["-v", "-c", "SELECT * FROM nowhere"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).lines().count() > 1);
    // An endpoint without a key.
    let err =
        fails(bare_shell(dir.path()).args(["--endpoint", "http://127.0.0.1:9", "-c", "SELECT 1"]));
    assert_eq!(
        err,
        "refuel-sql: error: no API key for http://127.0.0.1:9/: pass --api-key or set \
         REFUEL_API_KEY (without --endpoint, refuel-sql runs a local emulator)\n"
    );
    // An endpoint that does not answer; the key shows nowhere, even with -v.
    for verbose in [false, true] {
        let mut cmd = bare_shell(dir.path());
        cmd.args(["--endpoint", "http://127.0.0.1:9", "-c", "SELECT 1"])
            .env("REFUEL_API_KEY", "sekrit-key-123");
        if verbose {
            cmd.arg("-v");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(err.contains("refuel-sql: error: list projects: "), "{err}");
        assert!(!err.contains("sekrit"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        if !verbose {
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    // --help never shows the key from the environment.
    let out = bare_shell(dir.path())
        .arg("--help")
        .env("REFUEL_API_KEY", "sekrit-key-123")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains("sekrit"));
    // A bad flag is clap's usage error (exit 2), not a panic.
    let out = bare_shell(dir.path())
        .args(["run", "--task", "t", "--dataset", "d", "--num-items", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_mode_over_http() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "shop").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(
        &c,
        dir.path(),
        "orders",
        "order_id,item,amount\n1,kettle,25.5\n2,mug,7\n3,teapot,31\n",
    )
    .await;
    let url = emu.url().to_string();
    let home = dir.path().to_path_buf();
    let run = move |args: Vec<String>, env_key: bool| {
        let mut cmd = bare_shell(&home);
        if env_key {
            cmd.env("REFUEL_API_KEY", KEY)
                .env("REFUEL_API_URL", &url)
                .env("REFUEL_PROJECT", "shop");
        } else {
            cmd.args(["--endpoint", &url, "--api-key", KEY, "--project", "shop"]);
        }
        cmd.args(&args);
        cmd.output().unwrap()
    };
    let query = || {
        vec![
            "--format".to_string(),
            "csv".to_string(),
            "-c".to_string(),
            "SELECT item, amount FROM orders WHERE amount > 10 ORDER BY amount".to_string(),
            "-c".to_string(),
            "SELECT count(*) AS n FROM refuel.shop.orders".to_string(),
        ]
    };
    for env_key in [false, true] {
        let out = tokio::task::spawn_blocking({
            let run = run.clone();
            move || run(query(), env_key)
        })
        .await
        .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "item,amount\nkettle,25.5\nteapot,31.0\nn\n3\n"
        );
    }
    // Another team's key sees none of it.
    let home = dir.path().to_path_buf();
    let url = emu.url().to_string();
    let out = tokio::task::spawn_blocking(move || {
        bare_shell(&home)
            .args([
                "--endpoint",
                &url,
                "--api-key",
                OTHER_KEY,
                "--project",
                "shop",
            ])
            .args(["-c", "SELECT 1"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "refuel-sql: error: project 'shop' not found (projects: none)\n"
    );
}

/// `\d` says where a table's types came from: here a dataset without a schema or column
/// metadata, typed from its first rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_says_where_types_came_from() {
    let url = schemaless_server(std::sync::Arc::default()).await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = bare_shell(home.path());
    cmd.args(["--endpoint", &url, "--api-key", KEY, "--project", "p"])
        .args(["-c", "\\d bare"]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "+--------+------+----------+\n\
         | column | type | nullable |\n\
         +--------+------+----------+\n\
         | id     | Utf8 | true     |\n\
         | text   | Utf8 | true     |\n\
         | when   | Utf8 | true     |\n\
         | extra  | Utf8 | true     |\n\
         +--------+------+----------+\n\
         4 rows\n\
         columns from the first rows, as text (the dataset has no schema or column metadata)\n"
    );
    // In other formats standard output keeps to the data; the line goes to standard error.
    let mut cmd = bare_shell(home.path());
    cmd.args(["--endpoint", &url, "--api-key", KEY, "--project", "p"])
        .args(["--format", "csv", "-c", "\\d bare"]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("extra,Utf8,true\n"));
    assert!(
        text(&out.stderr).contains("columns from the first rows, as text"),
        "{}",
        text(&out.stderr)
    );
}

/// Serves `body` at `/data.csv` on loopback; returns the URL.
async fn serve_csv(body: &'static str) -> String {
    let app =
        axum::Router::new().route("/data.csv", axum::routing::get(move || async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/data.csv")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subcommands_move_and_label_data() {
    let dir = seeded_dir();
    let home = dir.path().to_path_buf();

    // upload a file, and wait.
    let csv = write_file(
        dir.path(),
        "feedback.csv",
        b"id,text\n1,\"Great value, fast delivery\"\n2,\"Broken on arrival and support never replied\"\n3,\"It does the job\"\n",
    );
    let mut cmd = shell(&home);
    cmd.arg("upload")
        .arg(&csv)
        .args(["--dataset", "feedback", "--wait"]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_snapshot("upload_file", &text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("ingest success"),
        "plain progress lines: {err}"
    );

    // upload a URL; the server downloads it.
    let url = serve_csv("sku,name\n1,kettle\n2,mug\n").await;
    let mut cmd = shell(&home);
    cmd.args(["upload", &url, "--dataset", "catalog", "--wait"]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("as dataset 'catalog': 2 rows, 2 columns"),
        "{}",
        text(&out.stdout)
    );

    // run a task on the new dataset, and wait; progress comes as plain lines.
    let mut cmd = shell(&home);
    cmd.args([
        "run",
        "--task",
        "reviews_sentiment",
        "--dataset",
        "feedback",
        "--num-items",
        "2",
        "--wait",
    ]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_snapshot("run_wait", &text(&out.stdout));
    assert!(
        text(&out.stderr)
            .contains("labeling with task 'reviews_sentiment' on dataset 'feedback': 2/")
    );

    // label NDJSON from standard input with the application.
    let mut cmd = shell(&home);
    cmd.args(["label", "--app", "reviews_sentiment", "--explain"]);
    let out = output_off_runtime(cmd, Some("{\"text\": \"Excellent build, arrived early\"}\n\n{\"text\": \"Overpriced and the app keeps crashing\"}\n")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["refuel_fields"]["sentiment"]["label"][0],
        "positive"
    );
    assert_eq!(
        lines[1]["refuel_fields"]["sentiment"]["label"][0],
        "negative"
    );
    assert!(lines[0]["refuel_fields"]["sentiment"]["explanation"].is_string());
    assert_snapshot("label", &text(&out.stdout));
    // A bad line is named.
    let mut cmd = shell(&home);
    cmd.args(["label", "--app", "reviews_sentiment"]);
    let out = output_off_runtime(cmd, Some("{\"text\": \"ok\"}\nnot json\n")).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refuel-sql: error: standard input line 2: not JSON"),
        "{}",
        text(&out.stderr)
    );
    // An unknown application fails before reading anything.
    let mut cmd = shell(&home);
    cmd.args(["label", "--app", "nope"]);
    let out = output_off_runtime(cmd, None).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "refuel-sql: error: application 'nope' not found in project 'demo'\n"
    );

    // export, with labels, as CSV and as Parquet.
    let target = dir.path().join("export.csv");
    let mut cmd = shell(&home);
    cmd.args([
        "export",
        "--dataset",
        "feedback",
        "--task",
        "reviews_sentiment",
        "-o",
    ])
    .arg(&target);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(
        "exported dataset 'feedback' with the labels of task 'reviews_sentiment' to "
    ));
    assert_snapshot("export_csv", &std::fs::read_to_string(&target).unwrap());
    let target = dir.path().join("export.parquet");
    let mut cmd = shell(&home);
    cmd.args([
        "export",
        "--dataset",
        "reviews",
        "--task",
        "reviews_sentiment",
        "-o",
    ])
    .arg(&target);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("(3000 rows)\n"),
        "{}",
        text(&out.stdout)
    );
    let file = std::fs::File::open(&target).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert!(reader.schema().field_with_name("sentiment_label").is_ok());
    // The converted export has the columns and types of the SQL table.
    let mut cmd = shell(&home);
    cmd.args(["--format", "csv", "-c", "\\d reviews_sentiment_labels"]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let described: Vec<String> = text(&out.stdout)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    let exported: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{},{},{}", f.name(), f.data_type(), f.is_nullable()))
        .collect();
    assert_eq!(exported, described);
    assert!(
        described.contains(&"review_id,Int64,true".to_string()),
        "{described:?}"
    );
    // A Parquet file uploads too (transcoded to CSV on the way).
    let mut cmd = shell(&home);
    cmd.arg("upload")
        .arg(&target)
        .args(["--dataset", "from_parquet", "--wait"]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("as dataset 'from_parquet': 3000 rows, 18 columns\n"),
        "{}",
        text(&out.stdout)
    );

    // The shell sees the new datasets.
    let mut cmd = shell(&home);
    cmd.args([
        "--format",
        "csv",
        "-c",
        "SELECT id, text FROM feedback ORDER BY id",
        "-c",
        "SELECT name FROM catalog ORDER BY sku",
    ]);
    let out = output_off_runtime(cmd, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_snapshot("after_upload", &text(&out.stdout));

    // Object-store URLs go through the sink; without credentials that fails in one line.
    let mut cmd = shell(&home);
    cmd.args(["upload", "ftp://example.invalid/x.csv", "--dataset", "x"]);
    let out = output_off_runtime(cmd, None).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "refuel-sql: error: cannot upload from a ftp:// URL: use a local path, or an \
         http(s)://, s3://, gs:// or az:// URL\n"
    );
}

#[test]
fn completions_for_each_shell() {
    let home = tempfile::tempdir().unwrap();
    for (shell_name, marker) in [
        ("bash", "complete -F _refuel__sql"),
        ("zsh", "#compdef refuel-sql"),
        ("fish", "complete -c refuel-sql"),
    ] {
        let out = ok(bare_shell(home.path()).args(["completions", shell_name]));
        assert!(out.contains(marker), "{shell_name}: {out}");
        for sub in ["upload", "run", "label", "export"] {
            assert!(out.contains(sub), "{shell_name} lacks {sub}");
        }
    }
    let out = bare_shell(home.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn repl_through_a_pseudo_terminal() {
    let dir = seeded_dir();
    let mut cmd = shell(dir.path());
    cmd.stdin(Stdio::inherit()).env("TERM", "xterm");
    let mut repl = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    repl.exp_string("project 'demo'").unwrap();
    repl.exp_string("demo> ").unwrap();

    // A statement over several lines runs once it ends with ';'.
    repl.send_line("SELECT sentiment_label, count(*) AS n")
        .unwrap();
    repl.send_line("FROM reviews_sentiment_labels").unwrap();
    repl.send_line("GROUP BY 1 ORDER BY 1;").unwrap();
    repl.exp_string("| positive        |").unwrap();
    repl.exp_string("3 rows").unwrap();
    repl.exp_string("demo> ").unwrap();

    // A second shell cannot open the same data directory meanwhile.
    let err = fails(shell(dir.path()).args(["-c", "SELECT 1"]));
    assert!(err.contains("is in use by another refuel-sql"), "{err}");

    // Ctrl-C cancels a long query and keeps the shell.
    repl.send_line("SELECT count(*) FROM reviews a, reviews b, reviews c;")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    repl.send_control('c').unwrap();
    repl.exp_string("query cancelled").unwrap();
    repl.exp_string("demo> ").unwrap();

    // Errors are one line; the shell goes on.
    repl.send_line("SELECT nope;").unwrap();
    repl.exp_string("error: ").unwrap();
    repl.exp_string("demo> ").unwrap();

    // Meta commands.
    repl.send_line("\\format csv").unwrap();
    repl.exp_string("format: csv").unwrap();
    repl.send_line("\\timing on").unwrap();
    repl.exp_string("timing: on").unwrap();
    repl.send_line("SELECT 40 + 2 AS answer;").unwrap();
    repl.exp_string("answer").unwrap();
    repl.exp_string("42").unwrap();
    repl.exp_string("Time: ").unwrap();
    repl.send_line("\\d").unwrap();
    repl.exp_string("reviews_sentiment_labels,labels").unwrap();
    repl.send_line("\\use nowhere").unwrap();
    repl.exp_string("project 'nowhere' not found").unwrap();
    repl.exp_string("demo> ").unwrap();

    // Ctrl-C at the prompt drops the line; \q leaves.
    repl.send("SELECT 'half").unwrap();
    repl.flush().unwrap();
    repl.send_control('c').unwrap();
    repl.exp_string("demo> ").unwrap();
    repl.send_line("\\q").unwrap();
    repl.exp_eof().unwrap();

    // History keeps whole statements, across sessions.
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(
        history.contains("SELECT sentiment_label, count(*) AS n\\nFROM reviews_sentiment_labels\\nGROUP BY 1 ORDER BY 1;"),
        "{history}"
    );
    assert!(history.contains("\\\\format csv"), "{history}");
    let mut cmd = shell(dir.path());
    cmd.stdin(Stdio::inherit()).env("TERM", "xterm");
    let mut repl = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    repl.exp_string("demo> ").unwrap();
    // Up arrow brings back the last line of the last session.
    repl.send("\x1b[A").unwrap();
    repl.flush().unwrap();
    repl.exp_string("\\q").unwrap();
    repl.send_control('c').unwrap();
    repl.exp_string("demo> ").unwrap();
    repl.send_control('d').unwrap();
    repl.exp_eof().unwrap();
}

/// A long scan shows the rows read and their rate on a terminal, before its result.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_long_scan_shows_its_progress_on_a_terminal() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "shop").await;
    let dir = tempfile::tempdir().unwrap();
    let csv: String = std::iter::once("id,amount\n".to_string())
        .chain((0..3000).map(|i| format!("{i},{}\n", i % 7)))
        .collect();
    upload_csv(&c, dir.path(), "orders", &csv).await;
    // Each request takes 0.6 s: the count and the pages take longer than the progress
    // line waits before it shows.
    emu.set_network(refuel::emulator::Network::with_latency(
        std::time::Duration::from_millis(600),
    ));
    let url = emu.url().to_string();
    let home = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut cmd = bare_shell(&home);
        cmd.args(["--endpoint", &url, "--api-key", KEY, "--project", "shop"])
            .stdin(Stdio::inherit())
            .env("TERM", "xterm");
        let mut repl = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
        repl.exp_string("shop> ").unwrap();
        repl.send_line("SELECT sum(amount) AS total FROM orders;")
            .unwrap();
        repl.exp_string("rows from Refuel").unwrap();
        repl.exp_string("rows/s").unwrap();
        repl.exp_string("8994").unwrap();
        repl.exp_string("shop> ").unwrap();
        repl.send_line("\\q").unwrap();
        repl.exp_eof().unwrap();
    })
    .await
    .unwrap();
    emu.shutdown().await;
}

/// Lake data in the shell: `COPY` to S3, a URL table and an external table over it, with
/// credentials from the usual `AWS_*` variables; `\d` lists the session's table beside
/// the project's; without credentials, one line naming the store and the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_stores_and_file_urls_in_the_shell() {
    use crate::s3_server::{S3_BUCKET, S3_KEY, S3_SECRET, S3Server};
    let s3 = S3Server::start().await;
    let dir = seeded_dir();
    let files = tempfile::tempdir().unwrap();
    let local = files.path().join("labels.csv");
    let object = format!("s3://{S3_BUCKET}/demo/labels.parquet");
    let mut cmd = shell(dir.path());
    cmd.env("AWS_ENDPOINT", s3.endpoint())
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", S3_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env("AWS_REGION", "us-east-1")
        .args(["--format", "csv", "-q"])
        .args(["-c", &format!(
            "COPY (SELECT review_id, sentiment_label FROM reviews_sentiment_labels) TO '{object}' STORED AS PARQUET"
        )])
        .args(["-c", &format!("SELECT count(*) AS n FROM '{object}'")])
        .args(["-c", &format!("CREATE EXTERNAL TABLE lake STORED AS PARQUET LOCATION '{object}'")])
        .args(["-c", &format!("COPY (SELECT * FROM lake WHERE sentiment_label = 'positive') TO '{}' STORED AS CSV", local.display())])
        .args(["-c", &format!(
            "SELECT (SELECT count(*) FROM '{}') = (SELECT count(*) FROM reviews_sentiment_labels WHERE sentiment_label = 'positive') AS same",
            local.display()
        )])
        .args(["-c", "SELECT count(*) AS n FROM reviews"])
        .args(["-c", "\\d"]);
    let out = output_off_runtime(cmd, None).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let reviews: Vec<&str> = stdout.lines().collect();
    // The count of the copied rows equals the dataset's.
    let counts: Vec<&str> = reviews
        .windows(2)
        .filter(|w| w[0] == "n")
        .map(|w| w[1])
        .collect();
    assert_eq!(counts.len(), 2, "{stdout}");
    assert_eq!(counts[0], counts[1], "{stdout}");
    assert!(stdout.contains("same\ntrue\n"), "{stdout}");
    assert!(stdout.contains("lake,session table\n"), "{stdout}");
    assert!(stdout.contains("reviews,dataset\n"), "{stdout}");

    // No credentials: one line naming the store and the variable.
    let mut cmd = shell(dir.path());
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["-c", "SELECT * FROM 's3://lake/labels.parquet'"]);
    let out = output_off_runtime(cmd, None).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no credentials for s3 bucket 'lake'"), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
}

/// The README's labeling recipe: new rows from a CSV file labeled with `refuel_label`, the
/// duplicate sent once; `\df` lists the functions and the demo's application.
#[test]
fn refuel_label_labels_a_csv_file_and_df_lists_it() {
    let dir = seeded_dir();
    let csv = dir.path().join("new_reviews.csv");
    std::fs::write(
        &csv,
        "review_id,text\n9001,\"Love it, works perfectly and arrived early\"\n\
         9002,\"Broken on arrival, asking for a refund\"\n\
         9003,\"Broken on arrival, asking for a refund\"\n",
    )
    .unwrap();
    let out = ok(shell(dir.path()).args([
        "--format",
        "csv",
        "-c",
        &format!(
            "SELECT review_id, refuel_label('reviews_sentiment', text)['sentiment']['label'] AS sentiment \
             FROM '{}' ORDER BY review_id",
            csv.display()
        ),
        "-c",
        "\\df",
    ]));
    assert!(
        out.starts_with("review_id,sentiment\n9001,positive\n9002,negative\n9003,negative\n"),
        "{out}"
    );
    assert!(out.contains("refuel_label,scalar (async)"), "{out}");
    assert!(out.contains("refuel_items,table"), "{out}");
    assert!(
        out.contains("refuel_label,application,\"('reviews_sentiment', text)\""),
        "{out}"
    );
}

#[test]
fn statements_run_on_a_standalone_cluster() {
    let dir = seeded_dir();
    let sql = "SELECT sentiment_label, count(*) AS n FROM reviews_sentiment_labels \
               GROUP BY 1 ORDER BY 1";
    let local = ok(shell(dir.path()).args(["--format", "csv", "-c", sql]));
    let cluster =
        ok(shell(dir.path()).args(["--cluster", "standalone", "--format", "csv", "-c", sql]));
    assert_eq!(cluster, local);
    assert!(local.lines().count() > 2, "{local}");

    // Writes and labeling say they run in process.
    let err = fails(shell(dir.path()).args([
        "--cluster",
        "standalone",
        "-c",
        "INSERT INTO reviews (review_id) VALUES (424242)",
    ]));
    assert!(err.contains("without --cluster"), "{err}");

    // A cluster address that is not one is refused before anything runs.
    let out = shell(dir.path())
        .args(["--cluster", "http://host:1", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("df://HOST:PORT or standalone"), "{err}");
}
