//! `refuel-client` against the emulator: every call, retries, errors.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use refuel::client::models::{ColumnType, Filter, FilterOp, IngestStatus, ItemQuery, OrderBy, Row};
use refuel::client::{ClientConfig, Error, RefuelClient, ResourceKind, WaitOptions};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn projects_create_list_get_delete() {
    let emu = emulator().await;
    let c = client_for(emu.url(), KEY, None);
    let created = c.projects().create("alpha", "first").await.unwrap();
    assert_eq!(created.project_name, "alpha");
    assert_eq!(created.description.as_deref(), Some("first"));
    let listed = c.projects().list().await.unwrap();
    assert_eq!(listed, vec![created.clone()]);
    assert_eq!(c.projects().get("alpha").await.unwrap(), created);
    assert_eq!(c.projects().get(&created.id).await.unwrap(), created);

    let dup = c.projects().create("alpha", "again").await.unwrap_err();
    assert_eq!(dup.status().map(|s| s.as_u16()), Some(409), "{dup}");
    assert!(dup.to_string().contains("already exists"), "{dup}");

    c.projects().delete("alpha").await.unwrap();
    let gone = c.projects().get("alpha").await.unwrap_err();
    assert!(
        matches!(
            gone,
            Error::NotFound {
                kind: ResourceKind::Project,
                ..
            }
        ),
        "{gone}"
    );
    let gone = c.projects().get(&created.id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
}

#[tokio::test]
async fn teams_see_only_their_own_projects() {
    let emu = emulator().await;
    let a = client_for(emu.url(), KEY, None);
    let b = client_for(emu.url(), OTHER_KEY, None);
    let pa = a.projects().create("shared-name", "").await.unwrap();
    let pb = b.projects().create("shared-name", "").await.unwrap();
    assert_ne!(pa.id, pb.id);
    assert_ne!(pa.team, pb.team);
    assert_eq!(a.projects().list().await.unwrap(), vec![pa.clone()]);
    let err = a.projects().get(&pb.id).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err}");
    // Datasets of another team are 404 too.
    let dir = tempfile::tempdir().unwrap();
    let bc = b.with_project("shared-name");
    let ds = upload_csv(&bc, dir.path(), "secret", "x\n1\n").await;
    let err = a
        .with_project("shared-name")
        .datasets()
        .get(&ds.id)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn upload_wait_get_list_delete() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "d.csv",
        b"id,name,score,ok\n1,a,0.5,true\n2,b,,false\n3,,7,\n",
    );
    let started = c.datasets().upload_file(&path, "d").await.unwrap();
    assert_eq!(started.name, "d");
    assert!(matches!(
        started.ingest_status,
        IngestStatus::InProgress | IngestStatus::Success
    ));

    let mut polls = 0;
    let done = c
        .datasets()
        .wait_for_ingest_with("d", quick_wait(), |_| polls += 1)
        .await
        .unwrap();
    assert!(polls >= 1);
    assert_eq!(done.ingest_status, IngestStatus::Success);
    assert_eq!(done.total_count, Some(3));
    let columns: Vec<(String, ColumnType)> = done
        .schema
        .columns()
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    assert_eq!(
        columns,
        vec![
            ("id".into(), ColumnType::Number),
            ("name".into(), ColumnType::String),
            ("score".into(), ColumnType::Number),
            ("ok".into(), ColumnType::Boolean),
        ]
    );
    let listed = c.datasets().list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].dataset_name, "d");
    assert_eq!(listed[0].dataset_schema, done.schema);

    let rows = c.items().query("d", &ItemQuery::new()).await.unwrap();
    assert_eq!(
        Value::Array(rows.into_iter().map(Value::Object).collect()),
        json!([
            {"id": 1, "name": "a", "score": 0.5, "ok": true},
            {"id": 2, "name": "b", "score": null, "ok": false},
            {"id": 3, "name": null, "score": 7, "ok": null},
        ])
    );

    // Names are unique in a project.
    let err = c.datasets().upload_file(&path, "d").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err}");

    c.datasets().delete("d").await.unwrap();
    let err = c.datasets().get("d").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: ResourceKind::Dataset,
                ..
            }
        ),
        "{err}"
    );
    let err = c.datasets().get(&done.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(c.datasets().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_csv_uploads_are_refused_whole() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let ragged = write_file(dir.path(), "r.csv", b"a,b\n1,2\n3\n4,5\n");
    let err = c.datasets().upload_file(&ragged, "r").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err}");
    assert!(
        err.to_string()
            .contains("line 3 has 1 fields but the header has 2"),
        "{err}"
    );
    let latin1 = write_file(dir.path(), "l.csv", b"a,b\n1,caf\xe9\n");
    let err = c.datasets().upload_file(&latin1, "l").await.unwrap_err();
    assert!(
        err.to_string().contains("line 2") && err.to_string().contains("UTF-8"),
        "{err}"
    );
    let missing = c
        .datasets()
        .upload_file(dir.path().join("nope.csv"), "n")
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
    assert!(missing.to_string().contains("nope.csv"), "{missing}");
    // Nothing half-written.
    assert!(c.datasets().list().await.unwrap().is_empty());
}

/// A local file server for `source=uri` ingests.
async fn file_server(files: Vec<(&'static str, Vec<u8>)>) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let mut app = axum::Router::new();
    for (path, body) in files {
        app = app.route(path, get(move || async move { body.clone() }));
    }
    app = app.route(
        "/slow.csv",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "a\n1\n"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

fn parquet_bytes() -> Vec<u8> {
    use std::sync::Arc as A;

    use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let schema = A::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            A::new(Int64Array::from(vec![1, 2, 3])),
            A::new(StringArray::from(vec![Some("x"), None, Some("z")])),
            A::new(Float64Array::from(vec![Some(0.25), Some(1.0), None])),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[tokio::test]
async fn register_uri_csv_parquet_and_failures() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let (base, _server) = file_server(vec![
        ("/data.csv", b"id,word\n1,one\n2,two\n".to_vec()),
        ("/data.parquet", parquet_bytes()),
        ("/bad.csv", b"a,b\n1\n".to_vec()),
    ])
    .await;

    c.datasets()
        .register_uri(&format!("{base}/data.csv?X-Signature=secret"), "csv")
        .await
        .unwrap();
    let ds = c
        .datasets()
        .wait_for_ingest("csv", quick_wait())
        .await
        .unwrap();
    assert_eq!(ds.total_count, Some(2));
    let rows = c.items().query("csv", &ItemQuery::new()).await.unwrap();
    assert_eq!(rows[1]["word"], json!("two"));

    c.datasets()
        .register_uri(&format!("{base}/data.parquet"), "pq")
        .await
        .unwrap();
    let ds = c
        .datasets()
        .wait_for_ingest("pq", quick_wait())
        .await
        .unwrap();
    assert_eq!(ds.schema.column_type("score"), Some(&ColumnType::Number));
    let rows = c
        .items()
        .query("pq", &ItemQuery::new().order_by(OrderBy::desc("score")))
        .await
        .unwrap();
    assert_eq!(ids(&rows), vec![3, 2, 1]);
    assert_eq!(rows[1]["text"], Value::Null);

    c.datasets()
        .register_uri(&format!("{base}/missing.csv?sig=secret"), "missing")
        .await
        .unwrap();
    let err = c
        .datasets()
        .wait_for_ingest("missing", quick_wait())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::IngestFailed { .. }), "{text}");
    assert!(text.contains("404"), "{text}");
    assert!(!text.contains("secret"), "the signature leaked: {text}");

    c.datasets()
        .register_uri(&format!("{base}/bad.csv"), "bad")
        .await
        .unwrap();
    let err = c
        .datasets()
        .wait_for_ingest("bad", quick_wait())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 2 has 1 fields"), "{err}");

    let err = c
        .datasets()
        .register_uri("s3://bucket/key.csv", "s3")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(
        err.to_string().contains("unsupported URI scheme 's3'"),
        "{err}"
    );

    c.datasets()
        .register_uri(&format!("{base}/slow.csv"), "slow")
        .await
        .unwrap();
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_millis(200),
    };
    let err = c
        .datasets()
        .wait_for_ingest("slow", wait)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("ingest of dataset 'slow'"),
        "{err}"
    );
}

/// The reference semantics of the emulator's documented filters, written independently.
fn reference(rows: &[Row], keep: impl Fn(&Row) -> bool) -> Vec<i64> {
    ids(&rows.iter().filter(|r| keep(r)).cloned().collect::<Vec<_>>())
}

fn num(r: &Row, col: &str) -> Option<f64> {
    r[col].as_f64()
}

fn text(r: &Row, col: &str) -> Option<String> {
    r[col].as_str().map(str::to_string)
}

#[tokio::test]
async fn queries_filter_and_order_as_documented() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = mixed_rows(400);
    upload_csv(&c, dir.path(), "m", &to_csv(&rows)).await;
    let q = |filters: Vec<Filter>| {
        let c = c.clone();
        async move {
            let query = filters
                .into_iter()
                .fold(ItemQuery::new(), ItemQuery::filter);
            ids(&c.items().query("m", &query).await.unwrap())
        }
    };
    let cases: Vec<(Filter, Vec<i64>)> = vec![
        (
            Filter::column("score", FilterOp::Eq, "3.7"),
            reference(&rows, |r| num(r, "score") == Some(3.7)),
        ),
        (
            Filter::column("score", FilterOp::NotEq, "3.7"),
            reference(&rows, |r| num(r, "score").is_some_and(|s| s != 3.7)),
        ),
        (
            Filter::column("score", FilterOp::Lt, "10"),
            reference(&rows, |r| num(r, "score").is_some_and(|s| s < 10.0)),
        ),
        (
            Filter::column("score", FilterOp::LtEq, "10"),
            reference(&rows, |r| num(r, "score").is_some_and(|s| s <= 10.0)),
        ),
        (
            Filter::column("qty", FilterOp::Gt, "9"),
            reference(&rows, |r| num(r, "qty").is_some_and(|s| s > 9.0)),
        ),
        (
            Filter::column("qty", FilterOp::GtEq, "-5"),
            reference(&rows, |r| num(r, "qty").is_some_and(|s| s >= -5.0)),
        ),
        (
            Filter::column("name", FilterOp::Lt, "a"),
            reference(&rows, |r| text(r, "name").is_some_and(|s| s.as_str() < "a")),
        ),
        (
            Filter::is_null("name"),
            reference(&rows, |r| r["name"].is_null()),
        ),
        (
            Filter::is_not_null("score"),
            reference(&rows, |r| !r["score"].is_null()),
        ),
        (
            Filter::column("name", FilterOp::Like, "apple"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| s.contains("apple"))
            }),
        ),
        (
            Filter::column("name", FilterOp::ILike, "apple"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| s.to_lowercase().contains("apple"))
            }),
        ),
        (
            Filter::column("name", FilterOp::NotLike, "apple"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| !s.contains("apple"))
            }),
        ),
        (
            Filter::column("name", FilterOp::NotILike, "apple"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| !s.to_lowercase().contains("apple"))
            }),
        ),
        (
            Filter::column("name", FilterOp::Like, "50%"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| s.contains("50%"))
            }),
        ),
        (
            Filter::column("name", FilterOp::Like, "_"),
            reference(&rows, |r| text(r, "name").is_some_and(|s| s.contains('_'))),
        ),
        (
            Filter::column_in("qty", [1, 2, 3]),
            reference(&rows, |r| {
                num(r, "qty").is_some_and(|s| [1.0, 2.0, 3.0].contains(&s))
            }),
        ),
        (
            Filter::column("name", FilterOp::RegexMatch, "^(fig|date)"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| s.starts_with("fig") || s.starts_with("date"))
            }),
        ),
        (
            Filter::column("name", FilterOp::NotRegexMatch, "^(fig|date)"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| !(s.starts_with("fig") || s.starts_with("date")))
            }),
        ),
        (
            Filter::column("active", FilterOp::Eq, "true"),
            reference(&rows, |r| r["active"] == json!(true)),
        ),
        (
            Filter::similar("Cherry tart"),
            reference(&rows, |r| {
                text(r, "name").is_some_and(|s| {
                    let l = s.to_lowercase();
                    l.split(|c: char| !c.is_alphanumeric())
                        .any(|w| w == "cherry" || w == "tart")
                })
            }),
        ),
    ];
    for (filter, expected) in cases {
        let shown = filter.to_query_value();
        assert!(
            !expected.is_empty(),
            "a case that selects nothing proves little: {shown}"
        );
        assert_eq!(q(vec![filter]).await, expected, "{shown}");
    }
    // Filters combine with AND.
    let both = q(vec![
        Filter::column("qty", FilterOp::GtEq, "0"),
        Filter::column("name", FilterOp::ILike, "apple"),
    ])
    .await;
    let expected = reference(&rows, |r| {
        num(r, "qty").is_some_and(|q| q >= 0.0)
            && text(r, "name").is_some_and(|s| s.to_lowercase().contains("apple"))
    });
    assert_eq!(both, expected);

    // Order: NULLs last ascending, first descending; ties in insertion order.
    let mut expected: Vec<(Option<f64>, usize, i64)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (num(r, "score"), i, r["id"].as_i64().unwrap()))
        .collect();
    expected.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => a.1.cmp(&b.1),
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.total_cmp(&y).then(a.1.cmp(&b.1)),
    });
    let asc = ids(&c
        .items()
        .query("m", &ItemQuery::new().order_by(OrderBy::asc("score")))
        .await
        .unwrap());
    assert_eq!(asc, expected.iter().map(|e| e.2).collect::<Vec<_>>());
    expected.sort_by(|a, b| match (a.0, b.0) {
        (None, None) => a.1.cmp(&b.1),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.1.cmp(&b.1)),
    });
    let desc = ids(&c
        .items()
        .query("m", &ItemQuery::new().order_by(OrderBy::desc("score")))
        .await
        .unwrap());
    assert_eq!(desc, expected.iter().map(|e| e.2).collect::<Vec<_>>());

    // Offset and max_items over an ordered query.
    let page = ids(&c
        .items()
        .query(
            "m",
            &ItemQuery::new()
                .order_by(OrderBy::desc("score"))
                .offset(37)
                .max_items(50),
        )
        .await
        .unwrap());
    assert_eq!(page, desc[37..87].to_vec());
    assert_eq!(
        c.items()
            .count("m", &ItemQuery::new().filter(Filter::is_null("name")))
            .await
            .unwrap(),
        reference(&rows, |r| r["name"].is_null()).len() as u64
    );
}

#[tokio::test]
async fn bad_queries_name_the_problem() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "m", "id,name\n1,a\n").await;
    let err = c
        .items()
        .query(
            "m",
            &ItemQuery::new().filter(Filter::column("nope", FilterOp::Eq, "1")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(
        err.to_string().contains("unknown column 'nope'") && err.to_string().contains("id, name"),
        "{err}"
    );
    let err = c
        .items()
        .query(
            "m",
            &ItemQuery::new().filter(Filter::column("id", FilterOp::Gt, "ten")),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'ten' is not a number"), "{err}");
    let err = c
        .items()
        .query(
            "m",
            &ItemQuery::new().filter(Filter::column("id", FilterOp::Other("=~".into()), "1")),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown operator '=~'"), "{err}");
    let err = c
        .items()
        .query("m", &ItemQuery::new().order_by(OrderBy::asc("zzz")))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown column 'zzz' in order_bys"),
        "{err}"
    );
}

#[tokio::test]
async fn streams_pages_concurrently_in_order() {
    let emu = emulator().await;
    let base = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = mixed_rows(2345);
    upload_csv(&base, dir.path(), "big", &to_csv(&rows)).await;
    let config = ClientConfig::default()
        .with_api_key(KEY)
        .with_base_url(emu.url())
        .unwrap()
        .with_project("p")
        .with_page_size(100)
        .with_max_workers(4);
    let c = RefuelClient::new(config).unwrap();
    c.datasets().id("big").await.unwrap(); // warm the name cache
    reset_stats(emu.url()).await;

    let pages: Vec<_> = c
        .items()
        .stream("big", ItemQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 24);
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p.offset, (i * 100) as u64);
    }
    let all: Vec<Row> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(all, rows);
    let s = stats(emu.url()).await;
    assert_eq!(
        count(&s, "GET /datasets/{dataset_id}"),
        25,
        "one count request and 24 pages: {s:?}"
    );
    assert_eq!(s.rows_served, 2345);

    // A range, ordered: exactly the rows of the range, fetched as pages of it.
    reset_stats(emu.url()).await;
    let query = ItemQuery::new()
        .order_by(OrderBy::asc("id"))
        .offset(150)
        .max_items(1000);
    let got = c.items().query("big", &query).await.unwrap();
    assert_eq!(ids(&got), (150..1150).collect::<Vec<i64>>());
    assert_eq!(stats(emu.url()).await.rows_served, 1000);

    // Past the end: nothing, without error.
    let none = c
        .items()
        .query("big", &ItemQuery::new().offset(5000))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn add_items_appends_in_batches_and_refuses_bad_rows_whole() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "d", "id,name,score\n0,zero,0.5\n").await;
    let new: Vec<Row> = (1..=2500)
        .map(|i| {
            json!({"id": i, "name": format!("n{i}"), "score": i as f64 / 4.0})
                .as_object()
                .unwrap()
                .clone()
        })
        .collect();
    reset_stats(emu.url()).await;
    c.datasets().add_items("d", &new).await.unwrap();
    assert_eq!(
        count(&stats(emu.url()).await, "POST /datasets/{dataset_id}/items"),
        3
    );
    let all = c.items().query("d", &ItemQuery::new()).await.unwrap();
    assert_eq!(all.len(), 2501);
    assert_eq!(&all[1..], &new[..]);

    let before = c.items().count("d", &ItemQuery::new()).await.unwrap();
    let bad = vec![
        json!({"id": 9001, "name": "ok"})
            .as_object()
            .unwrap()
            .clone(),
        json!({"id": 9002, "colour": "red"})
            .as_object()
            .unwrap()
            .clone(),
    ];
    let err = c.datasets().add_items("d", &bad).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(
        err.to_string().contains("row 1 has column 'colour'"),
        "{err}"
    );
    let wrong_type = vec![json!({"id": "nine"}).as_object().unwrap().clone()];
    let err = c.datasets().add_items("d", &wrong_type).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("column 'id' (number): 'nine' is not a number"),
        "{err}"
    );
    assert_eq!(
        c.items().count("d", &ItemQuery::new()).await.unwrap(),
        before,
        "a refused batch wrote nothing"
    );
}

#[tokio::test]
async fn names_are_resolved_once_and_refreshed_on_a_miss() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "d", "x\n1\n").await;
    reset_stats(emu.url()).await;
    for _ in 0..3 {
        c.datasets().get("d").await.unwrap();
    }
    let s = stats(emu.url()).await;
    assert_eq!(
        count(&s, "GET /datasets"),
        0,
        "names come from the cache: {s:?}"
    );
    assert_eq!(count(&s, "GET /projects"), 0, "{s:?}");
    // Another client makes a dataset: this one finds it by refreshing on the miss.
    let other = client(&emu, "p");
    upload_csv(&other, dir.path(), "e", "x\n2\n").await;
    reset_stats(emu.url()).await;
    c.datasets().get("e").await.unwrap();
    assert_eq!(count(&stats(emu.url()).await, "GET /datasets"), 1);
    let err = c.datasets().get("nope").await.unwrap_err();
    assert_eq!(err.to_string(), "dataset 'nope' not found in project 'p'");
}

#[tokio::test]
async fn idempotent_calls_retry_on_429_and_5xx_honouring_retry_after() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    reset_stats(emu.url()).await;
    let mut f = fault(503, 2, "GET", "/projects");
    f.retry_after = Some(0.05);
    inject(emu.url(), f).await;
    let started = std::time::Instant::now();
    assert_eq!(c.projects().list().await.unwrap().len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "Retry-After was honoured twice"
    );
    assert_eq!(count(&stats(emu.url()).await, "GET /projects"), 3);

    for status in [429, 502, 504] {
        inject(emu.url(), fault(status, 1, "GET", "/projects")).await;
        c.projects().list().await.unwrap();
    }

    // Past max_retries (3): the error carries the status and the server's message.
    reset_stats(emu.url()).await;
    inject(emu.url(), fault(503, 4, "GET", "/projects")).await;
    let err = c.projects().list().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert!(
        err.to_string().contains("list projects") && err.to_string().contains("injected fault"),
        "{err}"
    );
    assert_eq!(count(&stats(emu.url()).await, "GET /projects"), 4);

    // 500 is not a retry signal.
    reset_stats(emu.url()).await;
    inject(emu.url(), fault(500, 1, "GET", "/projects")).await;
    assert!(c.projects().list().await.is_err());
    assert_eq!(count(&stats(emu.url()).await, "GET /projects"), 1);
}

#[tokio::test]
async fn appends_are_never_retried_blindly() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    upload_csv(&c, dir.path(), "d", "id\n1\n").await;
    let id = c.datasets().id("d").await.unwrap();
    let rows = vec![json!({"id": 2}).as_object().unwrap().clone()];

    reset_stats(emu.url()).await;
    inject(
        emu.url(),
        fault(503, 1, "POST", &format!("/datasets/{id}/items")),
    )
    .await;
    let err = c.datasets().add_items("d", &rows).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(
        count(&stats(emu.url()).await, "POST /datasets/{dataset_id}/items"),
        1
    );
    assert_eq!(c.items().count("d", &ItemQuery::new()).await.unwrap(), 1);

    // 429 means the server refused the request unprocessed: retried.
    inject(
        emu.url(),
        fault(429, 1, "POST", &format!("/datasets/{id}/items")),
    )
    .await;
    c.datasets().add_items("d", &rows).await.unwrap();
    assert_eq!(c.items().count("d", &ItemQuery::new()).await.unwrap(), 2);
}

#[tokio::test]
async fn an_ambiguous_create_failure_never_makes_two() {
    let emu = emulator().await;
    let c = client_for(emu.url(), KEY, None);
    // A 502 on the create: the emulator answers before creating, so the lookup finds
    // nothing and the create is tried again, once.
    reset_stats(emu.url()).await;
    inject(emu.url(), fault(502, 1, "POST", "/projects")).await;
    let p = c.projects().create("once", "").await.unwrap();
    assert_eq!(c.projects().list().await.unwrap(), vec![p]);
    let s = stats(emu.url()).await;
    assert_eq!(count(&s, "POST /projects"), 2, "{s:?}");
}

/// A server that drops the first connection after reading its request, then answers every
/// request with `body`; it records each request line.
fn flaky_server(body: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { break };
            let mut buf = vec![0u8; 65536];
            let len = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..len]).to_string();
            log.lock()
                .unwrap()
                .push(request.lines().next().unwrap_or("").to_string());
            if n == 0 {
                drop(stream);
                continue;
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, seen)
}

#[tokio::test]
async fn dropped_connections_retry_reads_and_look_before_recreating() {
    let body = r#"{"data": [{"id": "6f1c1d2e-0000-4000-8000-000000000001", "project_name": "p"}]}"#;
    let (url, seen) = flaky_server(body);
    let c = client_for(&url, KEY, None);
    let projects = c.projects().list().await.unwrap();
    assert_eq!(projects[0].project_name, "p");
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "the read was retried after the dropped connection"
    );

    let (url, seen) = flaky_server(body);
    let c = client_for(&url, KEY, None);
    let p = c.projects().create("p", "").await.unwrap();
    assert_eq!(p.id, "6f1c1d2e-0000-4000-8000-000000000001");
    let lines = seen.lock().unwrap().clone();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("POST /projects?"), "{lines:?}");
    assert!(
        lines[1].starts_with("GET /projects"),
        "the create was not repeated: {lines:?}"
    );
}

#[tokio::test]
async fn auth_errors_and_secrets() {
    let emu = emulator().await;
    let bad = client_for(emu.url(), "wrong-key-s3cr3t", None);
    let err = bad.projects().list().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert!(err.to_string().contains("invalid API key"), "{err}");
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{bad:?}"),
        format!("{:?}", bad.config()),
    ] {
        assert!(!shown.contains("s3cr3t"), "the key leaked: {shown}");
    }
    let no_key =
        RefuelClient::new(ClientConfig::default().with_base_url(emu.url()).unwrap()).unwrap_err();
    assert!(matches!(no_key, Error::Config(_)), "{no_key}");
    assert!(no_key.to_string().contains("REFUEL_API_KEY"), "{no_key}");
    let no_project = client_for(emu.url(), KEY, None)
        .datasets()
        .list()
        .await
        .unwrap_err();
    assert!(
        no_project.to_string().contains("REFUEL_PROJECT"),
        "{no_project}"
    );
    let bad_url = ClientConfig::default()
        .with_base_url("ftp://x")
        .unwrap_err();
    assert!(bad_url.to_string().contains("http or https"), "{bad_url}");
}

#[tokio::test]
async fn unknown_datasets_are_not_found() {
    let emu = emulator().await;
    let c = client_with_project(&emu, "p").await;
    let err = c
        .items()
        .query("ghost", &ItemQuery::new())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "dataset 'ghost' not found in project 'p'");
    let random = uuid::Uuid::new_v4().to_string();
    let err = c.datasets().get(&random).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = c
        .items()
        .query(&random, &ItemQuery::new())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = client_for(emu.url(), KEY, Some("no-such-project"))
        .datasets()
        .list()
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "project 'no-such-project' not found");
}

#[tokio::test]
async fn streams_without_a_total_count_page_until_the_end() {
    use axum::extract::{Query, State};
    use axum::routing::get;
    // A server that does not send `total_count` and caps pages at 40 rows.
    let rows: Arc<Vec<Value>> = Arc::new((0..250).map(|i| json!({"id": i})).collect());
    let app = axum::Router::new()
        .route(
            "/datasets/{id}",
            get(|State(rows): State<Arc<Vec<Value>>>, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
                let max: usize = q.get("max_items").and_then(|v| v.parse().ok()).unwrap_or(20);
                let items: Vec<Value> = rows.iter().skip(offset).take(max.min(40)).cloned().collect();
                axum::Json(json!({"data": {"id": "x", "name": "x", "ingest_status": "success", "items": items}}))
            }),
        )
        .with_state(rows);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let c = RefuelClient::new(
        ClientConfig::default()
            .with_api_key(KEY)
            .with_base_url(&url)
            .unwrap()
            .with_page_size(100),
    )
    .unwrap();
    let dataset = uuid::Uuid::new_v4().to_string();
    let all: Vec<Row> = c
        .items()
        .stream(&dataset, ItemQuery::new())
        .map_ok(|p| p.items)
        .try_concat()
        .await
        .unwrap();
    assert_eq!(ids(&all), (0..250).collect::<Vec<i64>>());
    let some: Vec<Row> = c
        .items()
        .stream(&dataset, ItemQuery::new().offset(30).max_items(150))
        .map_ok(|p| p.items)
        .try_concat()
        .await
        .unwrap();
    assert_eq!(ids(&some), (30..180).collect::<Vec<i64>>());
}
