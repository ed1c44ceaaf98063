//! `refuel-sql serve`: the real binary as a Flight SQL server over an emulator with two
//! teams, driven by arrow-flight's `FlightSqlServiceClient` (the Python ADBC driver and
//! `pyarrow.flight` run in `tests/python/test_flight_sql.py`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, CommandGetXdbcTypeInfo, SqlInfo};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightInfo,
};
use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use prost::Message;
use refuel::client::RefuelClient;
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::{EmulatorHandle, LoggedRequest};
use tonic::transport::Channel;

use crate::common::*;

const ROWS: usize = 2500;

fn shell_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    dir.join(format!("refuel-sql{}", std::env::consts::EXE_SUFFIX))
}

/// `refuel-sql serve` on a free port, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    /// Its standard error, read as it comes (a full pipe would stop the server).
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(endpoint: &str, extra: &[&str]) -> Self {
        Self::start_with(
            &[
                "--endpoint",
                endpoint,
                "--server-semantics",
                "emulator",
                "serve",
            ],
            extra,
        )
    }

    /// `refuel-sql <global> --listen 127.0.0.1:0 <extra>`.
    fn start_with(global: &[&str], extra: &[&str]) -> Self {
        let mut child = Command::new(shell_binary())
            .args(global)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("REFUEL_API_KEY")
            .env_remove("REFUEL_PROJECT")
            .env_remove("REFUEL_API_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Self {
            child,
            addr,
            stderr,
        }
    }

    /// What it wrote to standard error until now.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    async fn client(&self) -> FlightSqlServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        FlightSqlServiceClient::new(channel)
    }

    /// A client sending `key` as a bearer header on every call, in `project`.
    async fn client_with_key(
        &self,
        key: &str,
        project: Option<&str>,
    ) -> FlightSqlServiceClient<Channel> {
        let mut client = self.client().await;
        client.set_header("authorization", format!("Bearer {key}"));
        if let Some(p) = project {
            client.set_header("x-refuel-project", p);
        }
        client
    }
}

async fn team(emu: &EmulatorHandle) -> RefuelClient {
    let c = client_with_project(emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", &to_csv(&mixed_rows(ROWS))).await;
    c
}

/// Project `q` of the other team.
async fn other_team(emu: &EmulatorHandle) {
    client_for(emu.url(), OTHER_KEY, None)
        .projects()
        .create("q", "the other team")
        .await
        .unwrap();
}

async fn local(client: &RefuelClient) -> SessionContext {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_default_catalog_and_schema("refuel", "p"),
    );
    ctx.register_refuel("refuel", client.clone()).await.unwrap();
    ctx
}

async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.unwrap();
        let stream = client.do_get(ticket).await.unwrap();
        batches.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    }
    batches
}

async fn query(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Vec<RecordBatch> {
    let info = client.execute(sql.to_string(), None).await.unwrap();
    fetch(client, info).await
}

fn table(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

/// Whether a client error says Unauthenticated (tonic shows the code's description).
fn unauthenticated(e: &str) -> bool {
    e.contains("Unauthenticated") || e.contains("valid authentication credentials")
}

fn column(batches: &[RecordBatch], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let i = b.schema().index_of(name).unwrap();
        let col = datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8).unwrap();
        let col = col
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        out.extend((0..col.len()).map(|r| col.value(r).to_string()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flight_sql_answers_queries_metadata_prepared_statements_and_inserts() {
    let emu = emulator().await;
    let a = team(&emu).await;
    other_team(&emu).await;
    let server = Server::start(emu.url(), &[]);
    let mut client = server.client_with_key(KEY, Some("p")).await;

    // Queries answer as in process, with the filter, order and limit sent to the API.
    let ctx = local(&a).await;
    for sql in [
        "SELECT id, name, score FROM m WHERE qty > 5 ORDER BY id",
        "SELECT id FROM m WHERE name LIKE '%apple%' ORDER BY id LIMIT 7",
        "SELECT count(*) AS n, sum(qty) AS q FROM m",
    ] {
        let want = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        assert_eq!(table(&query(&mut client, sql).await), table(&want), "{sql}");
    }
    reset_stats(emu.url()).await;
    query(
        &mut client,
        "SELECT id FROM m WHERE qty = 7 ORDER BY id LIMIT 3",
    )
    .await;
    let log = request_log(emu.url()).await;
    let pages: Vec<&LoggedRequest> = log
        .iter()
        .filter(|r| r.path.contains("/datasets/") && r.query.iter().any(|(k, _)| k == "filters"))
        .collect();
    assert!(!pages.is_empty(), "no filtered page request: {log:?}");
    assert!(
        pages
            .iter()
            .any(|r| r.query.iter().any(|(k, v)| k == "max_items" && v == "3")),
        "the limit did not reach the API: {pages:?}"
    );

    // Catalogs, schemas (this team's projects only), tables with their schemas.
    let info = client.get_catalogs().await.unwrap();
    assert!(
        column(&fetch(&mut client, info).await, "catalog_name").contains(&"refuel".to_string())
    );
    let info = client
        .get_db_schemas(CommandGetDbSchemas {
            catalog: Some("refuel".into()),
            db_schema_filter_pattern: None,
        })
        .await
        .unwrap();
    let schemas = column(&fetch(&mut client, info).await, "db_schema_name");
    assert!(schemas.contains(&"p".to_string()), "{schemas:?}");
    assert!(
        !schemas.contains(&"q".to_string()),
        "another team's project listed: {schemas:?}"
    );
    let info = client
        .get_tables(CommandGetTables {
            catalog: Some("refuel".into()),
            db_schema_filter_pattern: Some("p".into()),
            table_name_filter_pattern: Some("m".into()),
            table_types: vec![],
            include_schema: true,
        })
        .await
        .unwrap();
    let tables = fetch(&mut client, info).await;
    assert_eq!(column(&tables, "table_name"), vec!["m".to_string()]);
    let info = client
        .get_sql_info(vec![SqlInfo::FlightSqlServerName])
        .await
        .unwrap();
    assert_eq!(
        fetch(&mut client, info)
            .await
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        1
    );
    let info = client
        .get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None })
        .await
        .unwrap();
    assert!(
        fetch(&mut client, info)
            .await
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>()
            >= 8
    );

    // A prepared statement with a parameter, run twice with other values.
    let mut prepared = client
        .prepare(
            "SELECT id FROM m WHERE qty > ? ORDER BY id".to_string(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(prepared.parameter_schema().unwrap().fields().len(), 1);
    for threshold in [10_i64, 3] {
        let schema = Schema::new(vec![Field::new("$1", DataType::Int64, true)]);
        let params = RecordBatch::try_new(
            std::sync::Arc::new(schema),
            vec![std::sync::Arc::new(Int64Array::from(vec![threshold]))],
        )
        .unwrap();
        prepared.set_parameters(params).unwrap();
        let info = prepared.execute().await.unwrap();
        let got = fetch(&mut client, info).await;
        let want = ctx
            .sql(&format!(
                "SELECT id FROM m WHERE qty > {threshold} ORDER BY id"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(table(&got), table(&want), "qty > {threshold}");
    }
    prepared.close().await.unwrap();

    // INSERT INTO a dataset: the row count comes back and the rows are there.
    let before: usize = query(&mut client, "SELECT * FROM m")
        .await
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    let n = client
        .execute_update(
            "INSERT INTO m (id, name, score, qty, active) VALUES (90001, 'new one', 1.5, 2, true), (90002, 'new two', 2.5, 3, false)".into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let after: usize = query(&mut client, "SELECT * FROM m")
        .await
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(after, before + 2);

    // A bad statement is an error naming the problem, and the session goes on.
    let e = client
        .execute("SELECT nope FROM m".into(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
    assert_eq!(query(&mut client, "SELECT 1 AS one").await[0].num_rows(), 1);

    let stderr = server.stderr();
    assert!(!stderr.contains(KEY), "the key was logged: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flight_sql_authenticates_each_caller_as_its_own_tenant() {
    let emu = emulator().await;
    let _a = team(&emu).await;
    other_team(&emu).await;
    // Verbose: debug logs of every request, none of which may show a key or a token.
    let server = Server::start(emu.url(), &["--idle-timeout", "2", "-v"]);

    // No key, a wrong key, a made-up token: Unauthenticated, and the key never echoed.
    let mut none = server.client().await;
    let e = none
        .execute("SELECT 1".into(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(unauthenticated(&e), "{e}");
    let mut wrong = server.client_with_key("not-a-key-of-anyone", None).await;
    let e = wrong
        .execute("SELECT 1".into(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        unauthenticated(&e) && !e.contains("not-a-key-of-anyone"),
        "{e}"
    );
    let mut forged = server.client().await;
    forged.set_token("refuel-session-00".into());
    let e = forged.get_catalogs().await.unwrap_err().to_string();
    assert!(unauthenticated(&e), "{e}");

    // The handshake (basic auth, the key as password) gives a token that is not the key.
    let mut a = server.client().await;
    a.set_header("x-refuel-project", "p");
    a.handshake("anyone", KEY).await.unwrap();
    let token = a.token().unwrap().clone();
    assert!(!token.contains(KEY));
    assert_eq!(
        column(&query(&mut a, "SELECT count(*) AS n FROM m").await, "n"),
        vec![ROWS.to_string()]
    );

    // The other team sees its own project, not this one's.
    let mut b = server.client_with_key(OTHER_KEY, None).await;
    let info = b
        .get_db_schemas(CommandGetDbSchemas {
            catalog: Some("refuel".into()),
            db_schema_filter_pattern: None,
        })
        .await
        .unwrap();
    let schemas = column(&fetch(&mut b, info).await, "db_schema_name");
    assert!(
        schemas.contains(&"q".to_string()) && !schemas.contains(&"p".to_string()),
        "{schemas:?}"
    );
    let e = b
        .execute("SELECT * FROM refuel.p.m".into(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("p"), "{e}");

    // A query cancelled while it streams ends with Cancelled, not with a short result.
    let info = a
        .execute("SELECT x.id, y.id FROM m x CROSS JOIN m y".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = a.do_get(ticket).await.unwrap();
    let first = stream.try_next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);
    let action = Action::new(
        "CancelFlightInfo",
        CancelFlightInfoRequest::new(info).encode_to_vec(),
    );
    let answers: Vec<arrow_flight::Result> = a
        .do_action(action)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let cancel = CancelFlightInfoResult::decode(answers[0].body.clone()).unwrap();
    assert_eq!(cancel.status, CancelStatus::Cancelled as i32);
    let mut rows = first.num_rows();
    let outcome = loop {
        match stream.try_next().await {
            Ok(Some(b)) => rows += b.num_rows(),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    assert!(rows < ROWS * ROWS, "the whole result came back");
    let e = outcome.expect("the stream ended without saying it was cancelled");
    assert!(e.contains("cancel"), "{e}");

    // An idle session is dropped: its token stops working.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let e = a.get_catalogs().await.unwrap_err().to_string();
    assert!(unauthenticated(&e) && e.contains("expired"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flight_sql_serves_tls_with_the_given_certificate() {
    let emu = emulator().await;
    let _a = team(&emu).await;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = certified.cert.pem();
    let dir = tempfile::tempdir().unwrap();
    let cert = write_file(dir.path(), "cert.pem", cert_pem.as_bytes());
    let key = write_file(
        dir.path(),
        "key.pem",
        certified.signing_key.serialize_pem().as_bytes(),
    );
    let server = Server::start(
        emu.url(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);
    client.set_header("authorization", format!("Bearer {KEY}"));
    client.set_header("x-refuel-project", "p");
    assert_eq!(
        column(
            &query(&mut client, "SELECT count(*) AS n FROM m").await,
            "n"
        ),
        vec![ROWS.to_string()]
    );

    // A client speaking plain HTTP/2 gets no answer from a TLS server.
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut plain = FlightSqlServiceClient::new(channel);
        plain.set_header("authorization", format!("Bearer {KEY}"));
        assert!(plain.get_catalogs().await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flight_sql_on_the_local_emulator_accepts_its_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &["--local", dir.path().to_str().unwrap(), "--quiet", "serve"],
        &[],
    );
    let mut client = server
        .client_with_key(refuel::emulator::DEFAULT_API_KEY, None)
        .await;
    // The demo project is current, as in the shell.
    let n = column(
        &query(&mut client, "SELECT count(*) AS n FROM reviews").await,
        "n",
    );
    assert_eq!(n, vec!["3000".to_string()]);
    let mut wrong = server.client_with_key("someone-elses-key", None).await;
    let e = wrong.get_catalogs().await.unwrap_err().to_string();
    assert!(unauthenticated(&e), "{e}");
}
