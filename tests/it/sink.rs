//! refuel-sink: one suite over several staging backends (in-memory, local file system, an
//! S3 emulator (s3s-fs, in-process, checking SigV4 presigned signatures and expiry), and
//! Azurite (started by `scripts/azurite.sh`, checking SAS)); presigned URLs refused by the
//! store when tampered with or expired; GCS signing against a known-answer vector; retry
//! safety with injected faults; errors that name the step, the object and the store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use refuel::client::models::ItemQuery;
use refuel::client::{ClientConfig, RefuelClient};
use refuel::emulator::EmulatorHandle;
use refuel::sink::{
    Cleanup, ErrorKind, Handoff, HandoffKind, Progress, RefuelSink, SinkError, SinkOptions,
    StagingArea, StagingFormat, Step, register_object,
};
use serde_json::Value;

use crate::common::{self, KEY};

// ---------------------------------------------------------------------------------------
// Test data

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("active", DataType::Boolean, true),
    ]))
}

/// Rows `start..start+n`: names with commas, quotes, newlines and NULLs; scores with NULLs.
fn batch(start: i64, n: i64) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n).collect();
    let names: Vec<Option<String>> = ids
        .iter()
        .map(|i| match i % 7 {
            3 => None,
            4 => Some(format!("quote \"{i}\", comma")),
            5 => Some(format!("line\nbreak {i}")),
            _ => Some(format!("name {i}")),
        })
        .collect();
    let scores: Vec<Option<f64>> = ids
        .iter()
        .map(|i| (i % 5 != 2).then(|| *i as f64 / 4.0))
        .collect();
    let active: Vec<Option<bool>> = ids
        .iter()
        .map(|i| (i % 3 != 0).then_some(i % 2 == 0))
        .collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)) as ArrayRef,
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(scores)),
            Arc::new(BooleanArray::from(active)),
        ],
    )
    .unwrap()
}

fn batches(n_batches: i64, rows: i64) -> Vec<RecordBatch> {
    (0..n_batches).map(|b| batch(b * rows, rows)).collect()
}

/// One row as the test compares it.
type Expected = (Option<String>, Option<f64>, Option<bool>);

fn expected(batches: &[RecordBatch]) -> BTreeMap<i64, Expected> {
    let mut out = BTreeMap::new();
    for b in batches {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let names = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let scores = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        let active = b.column(3).as_any().downcast_ref::<BooleanArray>().unwrap();
        for i in 0..b.num_rows() {
            out.insert(
                ids.value(i),
                (
                    (!names.is_null(i)).then(|| names.value(i).to_string()),
                    (!scores.is_null(i)).then(|| scores.value(i)),
                    (!active.is_null(i)).then(|| active.value(i)),
                ),
            );
        }
    }
    out
}

/// The dataset's rows, read back through the API.
async fn rows_of(client: &RefuelClient, dataset: &str) -> BTreeMap<i64, Expected> {
    let rows = client
        .items()
        .query(dataset, &ItemQuery::new().max_items(10_000))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let id = r["id"].as_f64().unwrap() as i64;
            let name = match &r["name"] {
                Value::Null => None,
                v => Some(v.as_str().unwrap().to_string()),
            };
            (id, (name, r["score"].as_f64(), r["active"].as_bool()))
        })
        .collect()
}

fn stream_of(
    batches: Vec<RecordBatch>,
) -> impl futures::Stream<Item = Result<RecordBatch, std::io::Error>> + Send {
    futures::stream::iter(batches.into_iter().map(Ok))
}

/// Objects under the staging area's prefix.
async fn staged_objects(staging: &StagingArea) -> Vec<String> {
    staging
        .store()
        .list(Some(staging.prefix()))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

fn fast_options() -> SinkOptions {
    SinkOptions::default()
        .wait(common::quick_wait())
        .upload_parts(5 << 20, 2)
}

// ---------------------------------------------------------------------------------------
// Backends

use crate::s3_server::{S3_BUCKET, S3_KEY, S3_SECRET, S3Server};

/// A staging area in the S3 emulator.
trait S3Staging {
    fn staging(&self, prefix: &str) -> StagingArea;
}

impl S3Staging for S3Server {
    fn staging(&self, prefix: &str) -> StagingArea {
        StagingArea::from_url(&format!("s3://{S3_BUCKET}/{prefix}"), self.options()).unwrap()
    }
}

/// Azurite, as started by `scripts/azurite.sh` (which exports the endpoint).
fn azurite_staging(prefix: &str) -> StagingArea {
    let (Ok(_), Ok(container)) = (
        std::env::var("AZURITE_BLOB_STORAGE_URL"),
        std::env::var("REFUEL_TEST_AZURE_CONTAINER"),
    ) else {
        panic!(
            "the Azure sink tests need Azurite: run them through `bash scripts/azurite.sh cargo test --test it sink::` \
             (bash scripts/test.sh does this); AZURITE_BLOB_STORAGE_URL is not set"
        );
    };
    StagingArea::from_url(
        &format!("az://{container}/{prefix}"),
        [("azure_storage_use_emulator", "true")],
    )
    .unwrap()
}

/// A fresh project on a fresh emulator.
async fn refuel(project: &str) -> (EmulatorHandle, RefuelClient) {
    let emu = common::emulator().await;
    let client = common::client_with_project(&emu, project).await;
    (emu, client)
}

// ---------------------------------------------------------------------------------------
// The suite every backend runs

async fn suite(name: &str, staging: StagingArea) {
    let (_emu, client) = refuel(&format!("sink-{name}")).await;
    let presigned = matches!(staging.handoff(), Handoff::Presign(_));
    let want_handoff = if presigned {
        HandoffKind::PresignedUrl
    } else {
        HandoffKind::Upload
    };

    // Parquet and CSV, several batches, with progress.
    for format in [StagingFormat::Parquet, StagingFormat::Csv] {
        let data = batches(4, 250);
        let dataset = format!("{name}_{}", format.extension());
        let events = Arc::new(progress_log::Events::default());
        let seen = events.clone();
        let sink = RefuelSink::new(client.clone(), staging.clone()).with_options(
            fast_options()
                .format(format)
                .on_progress(move |p| seen.push(p.clone())),
        );
        let outcome = sink
            .write_stream(&dataset, schema(), stream_of(data.clone()))
            .await
            .unwrap_or_else(|e| panic!("{name} {format}: {e}"));
        assert_eq!(outcome.rows, Some(1000), "{name} {format}");
        assert_eq!(outcome.handoff, want_handoff);
        assert_eq!(outcome.dataset.total_count, Some(1000));
        assert!(outcome.bytes.unwrap() > 0);
        assert!(outcome.staged.is_empty(), "{:?}", outcome.staged);
        assert_eq!(
            rows_of(&client, &dataset).await,
            expected(&data),
            "{name} {format}"
        );
        assert!(
            staged_objects(&staging).await.is_empty(),
            "{name}: staging not cleaned"
        );
        let events = events.take();
        let staged: Vec<u64> = events
            .iter()
            .filter_map(|p| match p {
                Progress::Staged { rows, .. } => Some(*rows),
                _ => None,
            })
            .collect();
        assert_eq!(staged, vec![250, 500, 750, 1000, 1000], "{name} {format}");
        assert!(
            events
                .iter()
                .any(|p| matches!(p, Progress::Registered { dataset_id } if *dataset_id == outcome.dataset.id))
        );
        assert!(events.iter().any(|p| matches!(
            p,
            Progress::Ingest {
                rows: Some(1000),
                ..
            }
        )));
    }

    // Parquet transcoded to CSV for a server that takes only CSV.
    let data = batches(3, 100);
    let sink = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options().csv_only(true));
    let outcome = sink
        .write_stream(
            &format!("{name}_csv_only"),
            schema(),
            stream_of(data.clone()),
        )
        .await
        .unwrap();
    assert_eq!(outcome.rows, Some(300));
    assert_eq!(
        rows_of(&client, &format!("{name}_csv_only")).await,
        expected(&data)
    );
    assert!(staged_objects(&staging).await.is_empty());

    // An empty stream makes an empty dataset with the columns.
    let sink = RefuelSink::new(client.clone(), staging.clone()).with_options(
        fast_options()
            .format(StagingFormat::Csv)
            .check_row_count(true),
    );
    let outcome = sink
        .write_stream(&format!("{name}_empty"), schema(), stream_of(vec![]))
        .await
        .unwrap();
    assert_eq!(outcome.rows, Some(0));
    assert_eq!(outcome.dataset.total_count, Some(0));

    // Incremental writes; a batch of another schema fails the stage step and aborts.
    let sink = RefuelSink::new(client.clone(), staging.clone()).with_options(fast_options());
    let mut writer = sink.writer(&format!("{name}_bad"), schema()).await.unwrap();
    writer.write(&batch(0, 10)).await.unwrap();
    let other =
        RecordBatch::try_from_iter([("id", Arc::new(StringArray::from(vec!["x"])) as ArrayRef)])
            .unwrap();
    let err = writer.write(&other).await.unwrap_err();
    assert_eq!(err.step(), Step::Stage);
    assert!(matches!(err.kind(), ErrorKind::Schema(_)), "{err}");
    assert!(matches!(err.cleanup(), Cleanup::Removed(_)), "{err}");
    assert!(err.to_string().contains(staging.store_name()), "{err}");
    let err = writer.finish().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed), "{err}");
    assert!(staged_objects(&staging).await.is_empty());
    assert!(
        !common::dataset_names(&client)
            .await
            .contains(&format!("{name}_bad"))
    );

    // A failing input stream: nothing staged, no dataset, the error says why.
    let failing = futures::stream::iter(vec![
        Ok(batch(0, 10)),
        Err(std::io::Error::other("upstream query failed")),
    ]);
    let err = sink
        .write_stream(&format!("{name}_input"), schema(), failing)
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Stage);
    assert!(
        err.to_string()
            .contains("the input failed: upstream query failed"),
        "{err}"
    );
    assert!(staged_objects(&staging).await.is_empty());
    assert!(
        !common::dataset_names(&client)
            .await
            .contains(&format!("{name}_input"))
    );

    // A dataset name in use is refused before anything is staged.
    let err = sink
        .write_stream(
            &format!("{name}_parquet"),
            schema(),
            stream_of(batches(1, 5)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Register);
    assert!(matches!(err.kind(), ErrorKind::DatasetExists(_)), "{err}");
    assert!(staged_objects(&staging).await.is_empty());

    // Keeping staged objects: they are named in the outcome and stay in the store.
    let sink = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options().keep_staged(true));
    let outcome = sink
        .write_stream(&format!("{name}_kept"), schema(), stream_of(batches(1, 20)))
        .await
        .unwrap();
    assert_eq!(outcome.staged.len(), 1);
    let left = staged_objects(&staging).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        outcome.staged[0].ends_with(&left[0]),
        "{:?} {left:?}",
        outcome.staged
    );
    // ... and can be registered again as another dataset (the caller's object is kept).
    let again = sink
        .register_object(&outcome.staged[0], &format!("{name}_again"))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(again.rows, Some(20));
    assert_eq!(staged_objects(&staging).await.len(), 1);
    staging
        .store()
        .delete(&ObjectPath::from(left[0].as_str()))
        .await
        .unwrap();
}

/// A tiny event log for progress callbacks.
mod progress_log {
    use std::sync::Mutex;

    use refuel::sink::Progress;

    #[derive(Default)]
    pub struct Events(Mutex<Vec<Progress>>);

    impl Events {
        pub fn push(&self, p: Progress) {
            self.0.lock().unwrap().push(p);
        }

        pub fn take(&self) -> Vec<Progress> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suite_in_memory() {
    suite("memory", StagingArea::in_memory().with_prefix("stage")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suite_local_file_system() {
    let dir = tempfile::tempdir().unwrap();
    suite(
        "local",
        StagingArea::local(dir.path().join("stage")).unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suite_s3() {
    let s3 = S3Server::start().await;
    suite("s3", s3.staging("suite")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suite_azure() {
    let prefix = format!("suite-{}", uuid::Uuid::new_v4().simple());
    suite("azure", azurite_staging(&prefix)).await;
}

// ---------------------------------------------------------------------------------------
// Presigned URLs as the stores check them

async fn presign(staging: &StagingArea, path: &ObjectPath, expiry: Duration) -> reqwest::Url {
    let Handoff::Presign(signer) = staging.handoff() else {
        panic!("not a presigning store")
    };
    signer
        .signed_url(http::Method::GET, path, expiry)
        .await
        .unwrap()
}

fn tamper(url: &reqwest::Url) -> String {
    // Change the object's path: the signature no longer matches.
    url.as_str().replacen("/obj.csv", "/obj.csv2", 1)
}

async fn status_of(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

async fn check_store_refuses_bad_urls(staging: &StagingArea, path: &ObjectPath) {
    staging
        .store()
        .put(path, "a,b\n1,2\n".into())
        .await
        .unwrap();
    let good = presign(staging, path, Duration::from_secs(300)).await;
    assert_eq!(status_of(good.as_str()).await, 200);
    assert_eq!(
        reqwest::get(good.as_str())
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "a,b\n1,2\n"
    );
    let tampered = tamper(&good);
    assert_ne!(tampered, good.as_str());
    assert_eq!(status_of(&tampered).await, 403, "tampered URL accepted");
    // A signature altered in place.
    let mut forged = good.clone();
    let pairs: Vec<(String, String)> = good
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "X-Amz-Signature" || k == "sig" {
                let mut s: Vec<char> = v.chars().collect();
                s[0] = if s[0] == 'a' { 'b' } else { 'a' };
                s.into_iter().collect()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(
        status_of(forged.as_str()).await,
        403,
        "forged signature accepted"
    );
    let short = presign(staging, path, Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(status_of(short.as_str()).await, 403, "expired URL accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_refuses_tampered_and_expired_urls() {
    let s3 = S3Server::start().await;
    let staging = s3.staging("urls");
    check_store_refuses_bad_urls(&staging, &ObjectPath::from("urls/obj.csv")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_refuses_tampered_and_expired_urls() {
    let prefix = format!("urls-{}", uuid::Uuid::new_v4().simple());
    let staging = azurite_staging(&prefix);
    check_store_refuses_bad_urls(&staging, &ObjectPath::from(format!("{prefix}/obj.csv"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_url_fails_the_ingest_step_without_leaking_the_signature() {
    let s3 = S3Server::start().await;
    let staging = s3.staging("expired");
    let path = ObjectPath::from("expired/obj.csv");
    staging.store().put(&path, "a\n1\n".into()).await.unwrap();
    let url = presign(&staging, &path, Duration::from_secs(1)).await;
    let signature: String = url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Signature")
        .unwrap()
        .1
        .into_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_emu, client) = refuel("expired").await;
    let err = register_object(&client, url.as_str(), "late", &fast_options())
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Ingest);
    let text = format!("{err} {err:?}");
    assert!(!text.contains(&signature), "{text}");
    assert!(text.contains("403"), "{text}");
    assert!(err.dataset().is_some());
}

// ---------------------------------------------------------------------------------------
// Registering existing objects

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registers_existing_objects_from_every_kind_of_location() {
    let s3 = S3Server::start().await;
    let (emu, client) = refuel("register").await;
    let staging = s3.staging("lake");
    let data = batches(2, 50);
    // Write a Parquet file into the "lake" with keep_staged, as an ETL job would leave it.
    let sink = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options().keep_staged(true).no_wait());
    let written = sink
        .write_stream("first", schema(), stream_of(data.clone()))
        .await
        .unwrap();
    assert_eq!(
        written.staged.len(),
        1,
        "not waiting: the server may still read it"
    );
    let object = written.staged[0].clone();
    assert!(object.starts_with("s3://stage/lake/first-") && object.ends_with(".parquet"));
    client
        .datasets()
        .wait_for_ingest("first", common::quick_wait())
        .await
        .unwrap();

    // s3:// with explicit store options, as Parquet and transcoded to CSV.
    let mut options = fast_options();
    for (k, v) in s3.options() {
        options = options.store_option(k, v);
    }
    let outcome = register_object(&client, &object, "from_s3", &options)
        .await
        .unwrap();
    assert_eq!(outcome.handoff, HandoffKind::PresignedUrl);
    assert_eq!(outcome.rows, Some(100));
    assert_eq!(rows_of(&client, "from_s3").await, expected(&data));
    let csv_options = options.clone().csv_only(true);
    register_object(&client, &object, "from_s3_csv", &csv_options)
        .await
        .unwrap();
    assert_eq!(rows_of(&client, "from_s3_csv").await, expected(&data));
    // The caller's object stays; the transcoded CSV is gone.
    assert_eq!(staged_objects(&staging).await.len(), 1);

    // A missing object fails the stage step, naming it and the store.
    let err = register_object(
        &client,
        "s3://stage/lake/missing.parquet",
        "missing",
        &options,
    )
    .await
    .unwrap_err();
    assert_eq!(err.step(), Step::Stage);
    let text = err.to_string();
    assert!(
        text.contains("s3://stage/lake/missing.parquet") && text.contains("s3 bucket 'stage'"),
        "{text}"
    );
    assert!(!text.contains(S3_SECRET));
    assert!(!format!("{err:?}").contains(S3_SECRET));

    // Wrong credentials: the stage step fails (the store refuses to read).
    let bad = fast_options()
        .store_option("aws_endpoint", s3.endpoint())
        .store_option("aws_allow_http", "true")
        .store_option("aws_access_key_id", S3_KEY)
        .store_option("aws_secret_access_key", "wrong-secret")
        .store_option("aws_region", "us-east-1");
    let err = register_object(&client, &object, "bad_creds", &bad)
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Stage, "{err}");
    assert!(!err.to_string().contains("wrong-secret"));

    // http(s):// passes through: a presigned URL made by hand.
    let key = object.trim_start_matches("s3://stage/");
    let url = presign(&staging, &ObjectPath::from(key), Duration::from_secs(300)).await;
    let outcome = register_object(&client, url.as_str(), "from_http", &fast_options())
        .await
        .unwrap();
    assert_eq!(outcome.handoff, HandoffKind::Url);
    assert_eq!(outcome.rows, Some(100));

    // Local files are uploaded: CSV as it is, Parquet transcoded.
    let dir = tempfile::tempdir().unwrap();
    let csv = common::write_file(dir.path(), "local.csv", b"x,y\n1,a\n2,b\n");
    let outcome = register_object(&client, csv.to_str().unwrap(), "from_path", &fast_options())
        .await
        .unwrap();
    assert_eq!(outcome.handoff, HandoffKind::Upload);
    assert_eq!(outcome.rows, Some(2));
    let parquet_bytes = s3
        .staging("")
        .store()
        .get(&ObjectPath::from(key))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let pq = common::write_file(dir.path(), "local.parquet", &parquet_bytes);
    let file_url = reqwest::Url::from_file_path(&pq).unwrap();
    register_object(&client, file_url.as_str(), "from_file_url", &fast_options())
        .await
        .unwrap();
    assert_eq!(rows_of(&client, "from_file_url").await, expected(&data));
    assert!(
        pq.exists() && csv.exists(),
        "the caller's files are never removed"
    );

    // Malformed locations and unknown stores: a typed error, nothing created.
    for (bad, want) in [
        ("ftp://host/x.csv", "unknown store scheme 'ftp'"),
        (
            "s3://stage/x.csv?X-Amz-Signature=s3cr3t",
            "carries a query string",
        ),
        ("/no/such/file.csv", "read the file"),
    ] {
        let err = register_object(&client, bad, "never", &fast_options())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(want), "{bad}: {text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    // A broken file: it cannot be transcoded for the upload; the error names it.
    let broken = common::write_file(
        dir.path(),
        "broken.parquet",
        b"PAR1 this is not parquet PAR1",
    );
    let err = register_object(&client, broken.to_str().unwrap(), "never", &fast_options())
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Stage, "{err}");
    assert!(err.to_string().contains("broken.parquet"), "{err}");
    assert!(
        !common::dataset_names(&client)
            .await
            .contains(&"never".to_string())
    );
    drop(emu);
}

// ---------------------------------------------------------------------------------------
// Retry safety

/// A reverse proxy to the emulator that, for the first create-dataset request, lets the
/// emulator act and then holds the answer back past the client's timeout: the client sees
/// an ambiguous failure after the server created the dataset.
async fn slow_first_create_proxy(upstream: String) -> String {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};

    #[derive(Clone)]
    struct Proxy {
        upstream: String,
        http: reqwest::Client,
        creates: Arc<AtomicUsize>,
    }

    async fn forward(
        State(p): State<Proxy>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let target = format!(
            "{}{}",
            p.upstream,
            uri.path_and_query().map(|x| x.as_str()).unwrap_or("/")
        );
        let mut req = p.http.request(method.clone(), target).body(body);
        for (k, v) in &headers {
            if k != "host" && k != "content-length" {
                req = req.header(k, v);
            }
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let mut out = HeaderMap::new();
        if let Some(ct) = resp.headers().get("content-type") {
            out.insert("content-type", ct.clone());
        }
        let bytes = resp.bytes().await.unwrap();
        let is_create = method == Method::POST
            && uri.path().starts_with("/projects/")
            && uri.path().ends_with("/datasets");
        if is_create && p.creates.fetch_add(1, Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
        (status, out, bytes)
    }

    let state = Proxy {
        upstream,
        http: reqwest::Client::new(),
        creates: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ambiguous_create_makes_one_dataset() {
    let s3 = S3Server::start().await;
    let emu = common::emulator().await;
    common::client_with_project(&emu, "retry").await;
    let proxy = slow_first_create_proxy(emu.url().to_string()).await;
    let client = RefuelClient::new(
        ClientConfig::default()
            .with_api_key(KEY)
            .with_base_url(&proxy)
            .unwrap()
            .with_project("retry")
            .with_timeout(Duration::from_secs(3))
            .with_retry_delays(Duration::from_millis(5), Duration::from_millis(20)),
    )
    .unwrap();
    let staging = s3.staging("retry");
    let data = batches(2, 40);
    let outcome = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options())
        .write_stream("once", schema(), stream_of(data.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.rows, Some(80));
    let names = common::dataset_names(&client).await;
    assert_eq!(
        names.iter().filter(|n| *n == "once").count(),
        1,
        "{names:?}"
    );
    let stats = common::stats(emu.url()).await;
    assert_eq!(
        common::count(&stats, "POST /projects/{project_id}/datasets"),
        1
    );
    assert_eq!(rows_of(&client, "once").await, expected(&data));
    assert!(staged_objects(&staging).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_errors_on_create_are_retried_after_a_lookup() {
    let s3 = S3Server::start().await;
    let (emu, client) = refuel("faults").await;
    let staging = s3.staging("faults");
    common::inject(emu.url(), common::fault(503, 2, "POST", "/projects/")).await;
    let outcome = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options())
        .write_stream("after_faults", schema(), stream_of(batches(1, 30)))
        .await
        .unwrap();
    assert_eq!(outcome.rows, Some(30));
    let stats = common::stats(emu.url()).await;
    // Two refused tries, one that worked; a lookup by name before each retry.
    assert_eq!(
        common::count(&stats, "POST /projects/{project_id}/datasets"),
        3
    );
    assert!(common::count(&stats, "GET /datasets") >= 3);
    let names = common::dataset_names(&client).await;
    assert_eq!(names.iter().filter(|n| *n == "after_faults").count(), 1);
    assert!(staged_objects(&staging).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_registration_removes_what_was_staged() {
    let s3 = S3Server::start().await;
    let (emu, client) = refuel("refused").await;
    let staging = s3.staging("refused");
    common::inject(emu.url(), common::fault(400, 1, "POST", "/projects/")).await;
    let err: SinkError = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options())
        .write_stream("refused", schema(), stream_of(batches(1, 30)))
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Register);
    assert!(
        matches!(err.cleanup(), Cleanup::Removed(o) if o.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("injected fault 400"), "{err}");
    assert!(staged_objects(&staging).await.is_empty());
    assert!(common::dataset_names(&client).await.is_empty());

    // With keep_staged the object stays, named, ready to be registered again.
    common::inject(emu.url(), common::fault(400, 1, "POST", "/projects/")).await;
    let err = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options().keep_staged(true))
        .write_stream("refused", schema(), stream_of(batches(1, 30)))
        .await
        .unwrap_err();
    let Cleanup::Kept(kept) = err.cleanup() else {
        panic!("{err}")
    };
    let mut options = fast_options();
    for (k, v) in s3.options() {
        options = options.store_option(k, v);
    }
    let outcome = register_object(&client, &kept[0], "refused", &options)
        .await
        .unwrap();
    assert_eq!(outcome.rows, Some(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_ingest_wait_names_the_dataset_and_cleans_up() {
    let s3 = S3Server::start().await;
    let (emu, client) = refuel("slowingest").await;
    let staging = s3.staging("slow");
    // Every status poll fails: the wait ends in an error after the dataset exists.
    common::inject(emu.url(), common::fault(404, 1000, "GET", "/datasets/")).await;
    let err = RefuelSink::new(client.clone(), staging.clone())
        .with_options(fast_options().wait(refuel::client::WaitOptions {
            poll_interval: Duration::from_millis(10),
            timeout: Duration::from_millis(200),
        }))
        .write_stream("slow", schema(), stream_of(batches(1, 10)))
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Ingest, "{err}");
    assert!(err.dataset().unwrap_or("").contains("slow"), "{err}");
    assert!(matches!(err.cleanup(), Cleanup::Removed(_)), "{err}");
    drop(emu);
}

// ---------------------------------------------------------------------------------------
// GCS signing, checked against a known-answer vector

/// A 2048-bit RSA key made for this test only (PKCS#8).
const GCS_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDjkbz+lRDK8xGJ\n\
9yqzHqQzUpKT1dGyLgHziWTq+UlultSMQCUQ+JTdHpXeaKjS0H89FFR0rPSrMlhM\n\
KyTFTkdojrvSRe9yURtpqR0J2ZEDaAHMrM9ySm1KZbfk4xSPHaPb3ilYy4FzUc9H\n\
kZt+1CQL3/WYt9XNcBtRU/PMLrssmW3/kOgbgxKx1a78zPe7GyBV0NB4VhosuKOp\n\
kSWn3+4NRu+eUswCjnCaM0Zssq0d3/gtE+2SZsN9rpoy1krXQE5sJY3TBFkiUpCY\n\
klnle6TCOR2O5lc2+g5o/3koJaKc80LBmvGFf/9D9tfno5wYGtynnibPnbp8SK/y\n\
Dcp57J95AgMBAAECggEAHs2wXmmBD2edfSZWwk4ofcX0j0xHCS5PF08GuQOrW+vQ\n\
s3dPTR/IzrGAKc3S5E5Smsrwr6Zlq/KxnwXMAWUaJ14CsHDE+51c741zn8yyY1ql\n\
u7W8ksTeTE6+eJ4AP2sMrgtBX4KUcC6ntxFPkfhXNMBI9zYTG67ME9MgUggVT/Dn\n\
Z0KikQgAImyDya9vjCnl7146Y+0mwaaIpIK38+97ujmy9VTxmI0S8eG/l8JxCB2l\n\
sQbXJelkEfkrm2FPYIkbW9eazQ8DQkN5nzUpY9rtwfa/DVHRjQwX0FGy8WVMjVzT\n\
jUkV96YGJ8fB9CkLqBDo1zQxkaoqCmDuxr5pP92O8QKBgQD1wIQyxJDKhEXd88U/\n\
+jniz7rg1+BzclcvNin4muusKkGyDpnTB2J0K9gFDoeg5sP5mLM3zNdARTiZqI7y\n\
DdmuIZ3CU6ubdCbtHDDERGMdqCgoVtqw5NxNkqKESuaamH96Srg3jc7WuAKwAOeM\n\
edwakIF5mACN7NInZv38o9/5pQKBgQDtDx2CPdo1o4sxcb/phC2uufBeqxBPlRZx\n\
vKJoghr3PUa20nlfGHjoShc5IO4px1nt8BotBTwc/qa6BiPUXIjErsFvTjxOe3IV\n\
oPNbtewRkOOmdp0RvAG8cGSJ4nZpVircdbaCMUsBptK3jyZ+sI2+03e6/JP6Emv3\n\
gwilvokeRQKBgQDVz6B09xYuTHTpDZ0Q86kHT8p8svWiG9oExnAvzsG6sa0kuJVW\n\
yDb9cePpSmHwOLZK43MR2lNwpIkBD2kG6cv5N2AlYVyNzLnNU9iN+h3uAI6nwiFV\n\
BFkz2J8y0GPgH0vR3051bxiFMeWMsczDKIa6Sf2MCBZ7ZI7XH0FdXEqSzQKBgQCd\n\
xiubnVL31Cs180EJSCGnYrVqLGwkq1NOy39EEyOjXbMMxrRk6ELAR1+BdDtOrxFZ\n\
XS3uvMcvfQS2VpPOKPAWB0FStT1J9rsNThvp9AB0CHybM+KCBSEaq6seYgzxOpo4\n\
NFgN+oSzSrZ/2NSECTmtwcy0NJrAGzakex9sQI2+CQKBgQDqlFGdBi72TQE3qujL\n\
umJkwzRrGt402Mhps+W8RV2JRnvhhV50JPgmyW6TUykNkaQFEhdo8c/f5FAe7obR\n\
GLUKRTU7LLE4dIHyJ1sebNb4uf83/76t6wO/zVd6CszaP3rZg4szM/FmIWWsg90y\n\
bPh3FpnX6vpLLftGdjmL1fiMaQ==\n\
-----END PRIVATE KEY-----\n";
const GCS_EMAIL: &str = "sink-test@refuel-test.iam.gserviceaccount.com";

/// Google's V4 canonical request for a signed URL (GET, host header only, unsigned payload).
fn gcs_canonical_request(url: &reqwest::Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "X-Goog-Signature")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "GET\n{}\n{query}\nhost:storage.googleapis.com\n\nhost\nUNSIGNED-PAYLOAD",
        url.path()
    )
}

fn gcs_string_to_sign(url: &reqwest::Url) -> String {
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let date = get("X-Goog-Date");
    let hash = ring::digest::digest(&ring::digest::SHA256, gcs_canonical_request(url).as_bytes());
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "GOOG4-RSA-SHA256\n{date}\n{}/auto/storage/goog4_request\n{hex}",
        &date[..8]
    )
}

fn gcs_key() -> ring::rsa::KeyPair {
    let b64: String = GCS_TEST_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    ring::rsa::KeyPair::from_pkcs8(&decode_base64(&b64)).unwrap()
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(val(*c)) << (18 - 6 * i);
        }
        let take = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    out
}

fn rsa_sha256_hex(key: &ring::rsa::KeyPair, message: &str) -> String {
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message.as_bytes(),
        &mut sig,
    )
    .unwrap();
    sig.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn gcs_known_answer_vector() {
    // A signed URL's parts for a fixed date, and the signature `openssl dgst -sha256 -sign`
    // made over its string-to-sign with the test key.
    let url = reqwest::Url::parse(
        "https://storage.googleapis.com/refuel-kat/stage/data.parquet?X-Goog-Algorithm=GOOG4-RSA-SHA256\
         &X-Goog-Credential=sink-test%40refuel-test.iam.gserviceaccount.com%2F20261101%2Fauto%2Fstorage%2Fgoog4_request\
         &X-Goog-Date=20261101T120000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host",
    )
    .unwrap();
    let sts = gcs_string_to_sign(&url);
    assert_eq!(
        sts,
        "GOOG4-RSA-SHA256\n20261101T120000Z\n20261101/auto/storage/goog4_request\n\
         e3398c81ab1439b0482c9421739d0bb7d0b8d9e3c50849fd84d841a277ea3408"
    );
    assert_eq!(
        rsa_sha256_hex(&gcs_key(), &sts),
        "630911138cd390973c101c4057633595a5b5bcd7eab2f1a9f5769323f5403da923e81e4315544bfcfde2601ba2f7e6\
         ffbd5bb4ab669f66e6bd3223729ab8b49d8b31a3e5bf33692d372f378d5af1e1e68a8b190d6bbadbef1d5a21f9457f\
         c070bb13167f96b967e74af7d9dfb6e0954ed4189eb1dbb351b3e546ab0745e7df075d56636ddb8b3730150869c87b\
         6175193470042fa648187585d72f6f3cf780764de4b91a2cc9b4dadf633197d9369f73fc055b72e7bc7cd40f355ed\
         ad62f05303c0c44ed1185b33d1d849bd8cdd3cbe60100a8f05d0c5d98c440bd5d8e07aed1497f936a8903ec1f6c8cf\
         fa7bb43ccc1372bc6f12e534b4ade9c12ccea94a5ec"
    );
}

#[tokio::test]
async fn gcs_staging_signs_urls_that_match_the_vector_algorithm() {
    let account = serde_json::json!({
        "private_key": GCS_TEST_KEY,
        "private_key_id": "refuel-sink-test",
        "client_email": GCS_EMAIL,
    })
    .to_string();
    let staging = StagingArea::from_url(
        "gs://refuel-kat/stage",
        [("google_service_account_key", account.as_str())],
    )
    .unwrap();
    assert_eq!(staging.store_name(), "gcs bucket 'refuel-kat'");
    let debug = format!("{staging:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    let url = presign(
        &staging,
        &ObjectPath::from("stage/data.parquet"),
        Duration::from_secs(900),
    )
    .await;
    assert_eq!(url.host_str(), Some("storage.googleapis.com"));
    assert_eq!(url.path(), "/refuel-kat/stage/data.parquet");
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    assert_eq!(get("X-Goog-Algorithm"), "GOOG4-RSA-SHA256");
    assert_eq!(get("X-Goog-Expires"), "900");
    assert_eq!(get("X-Goog-SignedHeaders"), "host");
    let date = get("X-Goog-Date");
    assert_eq!(
        get("X-Goog-Credential"),
        format!("{GCS_EMAIL}/{}/auto/storage/goog4_request", &date[..8])
    );
    // RSA PKCS#1 v1.5 is deterministic: the signature is the known answer for its date.
    assert_eq!(
        get("X-Goog-Signature"),
        rsa_sha256_hex(&gcs_key(), &gcs_string_to_sign(&url))
    );
    // More than 7 days is refused at the sign step.
    let Handoff::Presign(signer) = staging.handoff() else {
        panic!()
    };
    assert!(
        signer
            .signed_url(
                http::Method::GET,
                &ObjectPath::from("x"),
                Duration::from_secs(8 * 24 * 3600)
            )
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// Secrets

#[tokio::test]
async fn options_and_staging_areas_do_not_show_secrets() {
    let s3 = S3Server::start().await;
    let staging = s3.staging("secrets");
    let options = fast_options().store_option("aws_secret_access_key", S3_SECRET);
    for text in [format!("{staging:?}"), format!("{options:?}")] {
        assert!(!text.contains(S3_SECRET), "{text}");
    }
}
