//! `refuel-ballista`: Refuel tables on a Ballista cluster, standalone in this process and
//! as real processes (the `refuel-ballista` binary as a scheduler and two executors on
//! loopback), against the same queries run in process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{SessionConfig, SessionContext};
use refuel::client::models::FieldType;
use refuel::client::{RefuelClient, TaskField};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::{EmulatorHandle, LoggedRequest};
use refuel_ballista::Cluster;

use crate::common::*;

/// Rows of the dataset: three 1000-row pages, read by two partitions.
const ROWS: usize = 2500;

/// Queries whose answers must not depend on where they run: scans, pushed filters, orders,
/// limits and offsets, aggregates, label tables, and joins (also with themselves).
const QUERIES: &[&str] = &[
    "SELECT * FROM m",
    "SELECT id, name FROM m WHERE name LIKE '%apple%'",
    "SELECT id FROM m WHERE name ILIKE '%APPLE%'",
    "SELECT id, score FROM m WHERE score > 50 AND qty <= 3",
    "SELECT id FROM m WHERE score BETWEEN 10 AND 20.5",
    "SELECT id FROM m WHERE qty IN (1, 2, 3)",
    "SELECT id FROM m WHERE name IS NULL",
    "SELECT id FROM m WHERE score IS NOT NULL AND active",
    "SELECT id FROM m WHERE name ~* '^(fig|date)'",
    "SELECT id FROM m WHERE upper(name) = 'FIG 3'",
    "SELECT id FROM m ORDER BY id LIMIT 7",
    "SELECT id, score FROM m ORDER BY score DESC, id LIMIT 10",
    "SELECT id FROM m ORDER BY id LIMIT 20 OFFSET 1990",
    "SELECT id FROM m WHERE qty > 0 ORDER BY id LIMIT 5 OFFSET 3",
    "SELECT count(*), sum(qty), avg(score) FROM m WHERE name LIKE '%pie%'",
    "SELECT active, count(*) FROM m GROUP BY active",
    "SELECT count(*) FROM m",
    "SELECT count(DISTINCT name) FROM m",
    "SELECT a.id, b.qty FROM m a JOIN m b ON a.id = b.id WHERE a.qty > 5",
    "SELECT id, fruit_label, fruit_confidence FROM fruit_labels",
    "SELECT id FROM fruit_labels WHERE fruit_label = 'apple'",
    "SELECT fruit_label, count(*) FROM fruit_labels GROUP BY fruit_label",
    "SELECT id FROM fruit_labels ORDER BY fruit_confidence DESC, id LIMIT 5",
    "SELECT m.id, f.fruit_label FROM m JOIN fruit_labels f ON m.id = f.id WHERE m.qty < 0",
    "SELECT name, ingest_status FROM datasets",
    "SELECT t.name, d.name FROM tasks t JOIN datasets d ON t.dataset_id = d.id",
];

/// An emulator with project `p`: dataset `m` and task `fruit` labeled over it.
async fn labeled_emulator() -> (EmulatorHandle, RefuelClient) {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(ROWS))).await;
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
    c.applications().deploy("fruit", None).await.unwrap();
    (emu, c)
}

/// A session with the team's catalog, as the shell makes it.
async fn local_session(client: &RefuelClient) -> SessionContext {
    session_of(client, 2).await
}

/// A session with the team's catalog and `partitions` target partitions.
async fn session_of(client: &RefuelClient, partitions: usize) -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_information_schema(true)
        .with_default_catalog_and_schema("refuel", "p");
    let ctx = SessionContext::new_with_config(config);
    ctx.register_refuel("refuel", client.clone()).await.unwrap();
    refuel::datafusion::enable_lake(&ctx).unwrap();
    ctx
}

async fn cluster_session(cluster: &Cluster, client: &RefuelClient) -> SessionContext {
    let local = local_session(client).await;
    refuel_ballista::connect(cluster, local.state(), client)
        .await
        .unwrap()
}

/// The result's lines, cells trimmed, in the order given.
async fn lines(ctx: &SessionContext, sql: &str) -> Result<Vec<String>, String> {
    let frame = ctx.sql(sql).await.map_err(|e| e.to_string())?;
    let batches = frame.collect().await.map_err(|e| e.to_string())?;
    let table = pretty_format_batches(&batches).unwrap().to_string();
    let table = if table.trim().is_empty() {
        String::new()
    } else {
        table
    };
    Ok(table
        .lines()
        .filter(|l| !l.starts_with('+'))
        .skip(1)
        .map(|l| {
            l.split('|')
                .map(|c| {
                    let c = c.trim();
                    // Sums of floats depend on the order they are added in.
                    match c.parse::<f64>() {
                        Ok(v) if c.contains('.') => format!("{v:.6}"),
                        _ => c.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect())
}

/// Runs every query in both sessions and compares: the same rows, and in the same order
/// where the order is total (`ORDER BY ... id`).
async fn assert_same_answers(local: &SessionContext, cluster: &SessionContext) {
    for sql in QUERIES {
        let want = lines(local, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let got = lines(cluster, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} on the cluster: {e}"));
        if sql.contains("ORDER BY") && sql.contains("id LIMIT") {
            assert_eq!(got, want, "{sql}");
        } else {
            let (mut got, mut want) = (got, want);
            got.sort();
            want.sort();
            assert_eq!(got, want, "{sql}");
        }
    }
}

/// The `RefuelScanExec` lines of a statement's `EXPLAIN`.
async fn scan_lines(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let out = lines(ctx, &format!("EXPLAIN {sql}")).await.unwrap();
    let mut scans: Vec<String> = out
        .iter()
        .flat_map(|l| l.split('|'))
        .flat_map(|cell| cell.split('\n'))
        .filter(|l| l.contains("RefuelScanExec"))
        .map(|l| l.trim().to_string())
        .collect();
    // A cluster's EXPLAIN shows the plan twice: whole, and cut into stages.
    scans.sort();
    scans.dedup();
    scans
}

/// Checks that the row requests in the log fetched each row at most once per query: per
/// distinct query (filters, order, task), one count, and page ranges that never overlap.
/// Returns the page requests by `User-Agent`.
fn assert_pages_once(log: &[LoggedRequest]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut ranges: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let mut by_agent = BTreeMap::new();
    for r in log {
        if r.method != "GET" || !r.path.contains("/datasets/") {
            continue;
        }
        let param = |k: &str| {
            r.query
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let (Some(offset), Some(max)) = (param("offset"), param("max_items")) else {
            continue;
        };
        let rest: Vec<String> = r
            .query
            .iter()
            .filter(|(k, _)| k != "offset" && k != "max_items")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let key = format!("{} {}", r.path, rest.join("&"));
        let (offset, max): (u64, u64) = (offset.parse().unwrap(), max.parse().unwrap());
        if max == 0 {
            *counts.entry(key).or_default() += 1;
            continue;
        }
        *by_agent
            .entry(r.user_agent.clone().unwrap_or_default())
            .or_default() += 1;
        ranges.entry(key).or_default().push((offset, offset + max));
    }
    for (key, n) in &counts {
        assert_eq!(*n, 1, "{key} counted {n} times: {log:#?}");
    }
    for (key, mut spans) in ranges {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "{key}: pages {:?} and {:?} overlap",
                pair[0],
                pair[1]
            );
        }
    }
    by_agent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_cluster_answers_and_pushes_down_as_in_process() {
    let (emu, client) = labeled_emulator().await;
    let local = local_session(&client).await;
    let cluster = cluster_session(&Cluster::Standalone, &client).await;
    assert_same_answers(&local, &cluster).await;

    // EXPLAIN shows the same filters, order and limit sent to the API.
    for sql in [
        "SELECT id FROM m WHERE name LIKE '%apple%' AND qty > 2",
        "SELECT id FROM m ORDER BY score DESC LIMIT 4",
        "SELECT id FROM fruit_labels WHERE fruit_label = 'fig' LIMIT 3",
    ] {
        let want = scan_lines(&local, sql).await;
        assert!(!want.is_empty(), "{sql}");
        assert_eq!(scan_lines(&cluster, sql).await, want, "{sql}");
    }

    // Each page once across the cluster's tasks, one count per scan.
    reset_stats(emu.url()).await;
    let rows = lines(&cluster, "SELECT * FROM m").await.unwrap();
    assert_eq!(rows.len(), ROWS);
    assert_pages_once(&request_log(emu.url()).await);

    // What runs only in process says so.
    for (sql, says) in [
        (
            "SELECT refuel_label('fruit', name) FROM m LIMIT 1",
            "does not run on a Ballista cluster",
        ),
        (
            "INSERT INTO m (id, name) VALUES (1, 'x')",
            "run them in process",
        ),
        (
            "COPY (SELECT id FROM m LIMIT 3) TO 'refuel://p/copied' STORED AS REFUEL",
            "run them in process",
        ),
    ] {
        let err = lines(&cluster, sql).await.unwrap_err();
        assert!(err.contains(says), "{sql}: {err}");
    }
    // CREATE TABLE ... AS: the query on the cluster, the dataset made by the client.
    lines(
        &cluster,
        "CREATE TABLE refuel.p.picked AS SELECT id, name FROM m WHERE qty = 3",
    )
    .await
    .unwrap();
    let want = lines(&local, "SELECT count(*) FROM m WHERE qty = 3")
        .await
        .unwrap();
    let fresh = local_session(&client).await;
    assert_eq!(
        lines(&fresh, "SELECT count(*) FROM picked").await.unwrap(),
        want
    );
    drop(emu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plans_carry_no_key_and_decode_only_for_their_endpoint() {
    use datafusion_proto::bytes::{
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };
    use refuel_ballista::RefuelPhysicalCodec;

    let (emu, client) = labeled_emulator().await;
    let other = emulator().await;
    let ctx = local_session(&client).await;
    let plan = ctx
        .sql("SELECT id, fruit_label FROM fruit_labels WHERE fruit_label = 'apple' ORDER BY id")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    // Without its ranges fixed, a scan does not leave the process.
    let codec = RefuelPhysicalCodec::new(client.clone());
    let err = physical_plan_to_bytes_with_extension_codec(Arc::clone(&plan), &codec).unwrap_err();
    assert!(err.to_string().contains("without its row ranges"), "{err}");
    refuel_ballista::planner::plan_ranges(&plan).await.unwrap();
    let bytes = physical_plan_to_bytes_with_extension_codec(Arc::clone(&plan), &codec).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(KEY), "the key travels in the plan");
    assert!(text.contains(emu.url().trim_end_matches('/')), "{text}");

    // A process of this endpoint reads it back and gets the same rows.
    let task = ctx.task_ctx();
    let decoded = physical_plan_from_bytes_with_extension_codec(&bytes, &task, &codec).unwrap();
    let got = datafusion::physical_plan::collect(decoded, Arc::clone(&task))
        .await
        .unwrap();
    let want = datafusion::physical_plan::collect(Arc::clone(&plan), Arc::clone(&task))
        .await
        .unwrap();
    assert_eq!(
        pretty_format_batches(&got).unwrap().to_string(),
        pretty_format_batches(&want).unwrap().to_string()
    );

    // A process configured for another endpoint refuses it: its key stays home.
    let elsewhere = RefuelPhysicalCodec::new(client_for(other.url(), KEY, Some("p")));
    let err = physical_plan_from_bytes_with_extension_codec(&bytes, &task, &elsewhere).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains(KEY), "{err}");
}

/// A process of the cluster, killed when dropped.
struct ClusterProcess(Child);

impl Drop for ClusterProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `refuel-ballista` binary built next to this test binary.
fn ballista_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("refuel-ballista{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler and two executors reading Refuel at `url` with `key`.
struct LocalCluster {
    scheduler: u16,
    _scheduler: ClusterProcess,
    executors: Vec<ClusterProcess>,
    _key_file: tempfile::NamedTempFile,
}

impl LocalCluster {
    /// The scheduler reads the key from `REFUEL_API_KEY`, the executors from a key file.
    async fn start(url: &str, key: &str) -> Self {
        let port = free_port();
        let key_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(key_file.path(), format!("{key}\n")).unwrap();
        let spawn = |args: &[String]| {
            let mut command = Command::new(ballista_binary());
            if args[0] == "executor" {
                command
                    .arg("--api-key-file")
                    .arg(key_file.path())
                    .env_remove("REFUEL_API_KEY");
            } else {
                command.env("REFUEL_API_KEY", key);
            }
            let child = command
                .args(args)
                .env("REFUEL_API_URL", url)
                .env_remove("REFUEL_API_KEY_FILE")
                .env_remove("REFUEL_PROJECT")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            ClusterProcess(child)
        };
        let scheduler = spawn(&[
            "scheduler".into(),
            "--bind".into(),
            format!("127.0.0.1:{port}"),
            "--executor-timeout".into(),
            "6".into(),
        ]);
        wait_for_port(port).await;
        let executors = (0..2)
            .map(|_| {
                spawn(&[
                    "executor".into(),
                    "--scheduler".into(),
                    format!("127.0.0.1:{port}"),
                    "--bind".into(),
                    format!("127.0.0.1:{}", free_port()),
                    "--concurrent-tasks".into(),
                    "2".into(),
                ])
            })
            .collect();
        Self {
            scheduler: port,
            _scheduler: scheduler,
            executors,
            _key_file: key_file,
        }
    }

    fn cluster(&self) -> Cluster {
        Cluster::Remote {
            host: "127.0.0.1".into(),
            port: self.scheduler,
        }
    }
}

async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port}");
}

/// Runs `sql` until the cluster answers (its executors register a moment after start).
async fn first_answer(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let mut last = String::new();
    for _ in 0..100 {
        match lines(ctx, sql).await {
            Ok(rows) => return rows,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{sql}: the cluster never answered: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_cluster_answers_as_in_process_and_joins_lake_files() {
    let (emu, client) = labeled_emulator().await;
    let cluster = LocalCluster::start(emu.url(), KEY).await;
    let local = local_session(&client).await;
    let remote = cluster_session(&cluster.cluster(), &client).await;
    assert_eq!(
        first_answer(&remote, "SELECT count(*) FROM m").await,
        vec![format!("|{ROWS}|")]
    );
    assert_same_answers(&local, &remote).await;

    // Each page once across both executors, one count per scan (at the scheduler).
    reset_stats(emu.url()).await;
    assert_eq!(
        lines(&remote, "SELECT * FROM fruit_labels")
            .await
            .unwrap()
            .len(),
        ROWS
    );
    let by_agent = assert_pages_once(&request_log(emu.url()).await);
    assert!(
        by_agent
            .keys()
            .all(|a| a.contains("refuel-ballista-executor")),
        "pages read elsewhere than on executors: {by_agent:?}"
    );

    // A Parquet file every executor sees, joined with a Refuel table on the executors.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regions.parquet");
    write_regions(&path, ROWS);
    for ctx in [&local, &remote] {
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE regions STORED AS PARQUET LOCATION '{}'",
            path.display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    }
    for sql in [
        "SELECT r.region, count(*), sum(m.qty) FROM m JOIN regions r ON m.id = r.id GROUP BY r.region",
        "SELECT f.fruit_label, r.region, count(*) FROM fruit_labels f JOIN regions r ON f.id = r.id \
         WHERE f.fruit_label IS NOT NULL GROUP BY f.fruit_label, r.region",
    ] {
        let mut want = lines(&local, sql).await.unwrap();
        let mut got = lines(&remote, sql).await.unwrap();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{sql}");
    }

    // Scans of more partitions than a task takes: the tasks of a stage hold different
    // numbers of the scan's slices, yet report plans of one shape (Ballista drops the
    // status of a task whose plan differs, and the query would never end).
    let wide = refuel_ballista::connect(
        &cluster.cluster(),
        session_of(&client, 5).await.state(),
        &client,
    )
    .await
    .unwrap();
    for sql in [
        "SELECT count(*) FROM fruit_labels",
        "SELECT qty, count(*), sum(score) FROM m GROUP BY qty",
    ] {
        let mut want = lines(&local, sql).await.unwrap();
        let mut got = tokio::time::timeout(Duration::from_secs(60), lines(&wide, sql))
            .await
            .unwrap_or_else(|_| panic!("{sql}: no answer in 60 s"))
            .unwrap();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{sql}");
    }
}

/// `id` 0..n and a region each.
fn write_regions(path: &Path, n: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
    ]));
    let ids: Int64Array = (0..n as i64).collect();
    let regions: StringArray = (0..n)
        .map(|i| Some(["north", "south", "east", "west"][i % 4]))
        .collect();
    let batch =
        RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids), Arc::new(regions)]).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_cluster_refuses_other_endpoints_and_other_teams() {
    let (emu, client) = labeled_emulator().await;
    let cluster = LocalCluster::start(emu.url(), KEY).await;
    let remote = cluster_session(&cluster.cluster(), &client).await;
    first_answer(&remote, "SELECT count(*) FROM m").await;

    // A client planning against another endpoint: the cluster will not send its key there.
    let (other, other_client) = labeled_emulator().await;
    let elsewhere = cluster_session(&cluster.cluster(), &other_client).await;
    let err = lines(&elsewhere, "SELECT * FROM m").await.unwrap_err();
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains(KEY), "{err}");
    drop(other);

    // A client of another team on the same endpoint: an error, not the cluster team's rows.
    let team_b = client_for(emu.url(), OTHER_KEY, None);
    team_b.projects().create("q", "").await.unwrap();
    let team_b = team_b.with_project("q");
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&team_b, dir.path(), "m", &to_csv(&mixed_rows(10))).await;
    let config = SessionConfig::new().with_default_catalog_and_schema("refuel", "q");
    let ctx = SessionContext::new_with_config(config);
    ctx.register_refuel("refuel", team_b.clone()).await.unwrap();
    let b = refuel_ballista::connect(&cluster.cluster(), ctx.state(), &team_b)
        .await
        .unwrap();
    let err = lines(&b, "SELECT * FROM m").await.unwrap_err();
    assert!(
        err.contains("not visible with the cluster's API key"),
        "{err}"
    );
    assert!(!err.contains(OTHER_KEY) && !err.contains(KEY), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_executor_fails_the_query_or_is_retried_never_wrong_rows() {
    let (emu, client) = labeled_emulator().await;
    let mut cluster = LocalCluster::start(emu.url(), KEY).await;
    let local = local_session(&client).await;
    let remote = cluster_session(&cluster.cluster(), &client).await;
    first_answer(&remote, "SELECT count(*) FROM m").await;
    let sql = "SELECT m.id, f.fruit_label FROM m JOIN fruit_labels f ON m.id = f.id";
    let mut want = lines(&local, sql).await.unwrap();
    want.sort();

    // Slow pages, so the query is still running when an executor dies.
    emu.set_network(refuel::emulator::Network {
        latency: Duration::from_millis(150),
        max_page_rows: Some(100),
        ..Default::default()
    });
    reset_stats(emu.url()).await;
    let query = {
        let remote = remote.clone();
        tokio::spawn(async move { lines(&remote, sql).await })
    };
    for _ in 0..100 {
        if stats(emu.url()).await.requests.values().sum::<u64>() > 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(cluster.executors.remove(0));
    let outcome = tokio::time::timeout(Duration::from_secs(120), query)
        .await
        .expect("the query neither failed nor finished")
        .unwrap();
    match outcome {
        Ok(mut got) => {
            got.sort();
            assert_eq!(got, want, "the query finished with other rows");
        }
        Err(e) => assert!(!e.trim().is_empty(), "an empty error"),
    }
    emu.set_network(refuel::emulator::Network::default());
}
