//! Against a remote-like server (the emulator's simulated latency, page cap and rate
//! limit): the client's shared limiter, pages that follow the server's cap, and scans that
//! never fail under a rate limit. Behaviour only: speed is measured by `benches/remote.rs`.

use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use refuel::client::models::{ItemQuery, Row};
use refuel::client::{ClientConfig, RefuelClient, ServerSemantics};
use refuel::datafusion::RefuelContextExt;
use refuel::emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault, LoggedRequest, Network};

use crate::common::*;

/// An emulator for `KEY` behind `network`, with a project `p` holding `big` (`rows` rows).
async fn remote(network: Network, rows: usize) -> (EmulatorHandle, Vec<Row>) {
    let emu = Emulator::start(EmulatorConfig::new().api_key(KEY))
        .await
        .unwrap();
    let c = client_with_project(&emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let data = mixed_rows(rows);
    upload_csv(&c, dir.path(), "big", &to_csv(&data)).await;
    // Set after the upload, so that only what the test does meets the network.
    emu.set_network(network);
    reset_stats(emu.url()).await;
    (emu, data)
}

/// A client of `emu` in project `p`, from `config` (quick retry delays, as the tests').
fn client_from(emu: &EmulatorHandle, config: ClientConfig) -> RefuelClient {
    let config = config
        .with_api_key(KEY)
        .with_base_url(emu.url())
        .unwrap()
        .with_project("p")
        .with_semantics(ServerSemantics::emulator())
        .with_retry_delays(Duration::from_millis(5), Duration::from_millis(50))
        .with_timeout(Duration::from_secs(20));
    RefuelClient::new(config).unwrap()
}

/// The `id`s of `SELECT id FROM refuel.p.big`, in the order asked for.
async fn sql_ids(client: &RefuelClient, sql: &str) -> Vec<i64> {
    let ctx = SessionContext::new();
    ctx.register_refuel("refuel", client.clone()).await.unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches
        .iter()
        .flat_map(|b| {
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone();
            (0..ids.len()).map(move |i| ids.value(i))
        })
        .collect()
}

/// The page requests logged since the last reset (row queries asking for rows), and the
/// count requests (`max_items=0`).
async fn page_and_count_requests(url: &str) -> (usize, usize) {
    let log: Vec<LoggedRequest> = reqwest::get(format!("{url}/_emulator/requests"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let max_items = |r: &LoggedRequest| {
        r.query
            .iter()
            .find(|(k, _)| k == "max_items")
            .map(|(_, v)| v.clone())
    };
    let pages = log
        .iter()
        .filter(|r| max_items(r).is_some_and(|m| m != "0"))
        .count();
    let counts = log
        .iter()
        .filter(|r| max_items(r).as_deref() == Some("0"))
        .count();
    (pages, counts)
}

#[tokio::test]
async fn a_rate_limited_server_never_fails_a_scan() {
    let network = Network {
        latency: Duration::from_millis(5),
        max_page_rows: Some(50),
        rate_limit: Some(25.0),
        ..Network::default()
    };
    let (emu, data) = remote(network, 2000).await;
    let c = client_from(&emu, ClientConfig::default());
    let mut expected = ids(&data);
    expected.sort_unstable();

    // Two scans at once through one client: the SQL scan and the client's stream.
    let (sql, streamed) = tokio::join!(
        sql_ids(&c, "SELECT id FROM refuel.p.big ORDER BY id"),
        c.items()
            .stream("big", ItemQuery::new())
            .try_collect::<Vec<_>>()
    );
    assert_eq!(sql, expected);
    let streamed: Vec<Row> = streamed
        .unwrap()
        .into_iter()
        .flat_map(|p| p.items)
        .collect();
    assert_eq!(streamed, data, "every row, in order, once");

    // The limit was met (so the scans did ride it out), and the client slowed down.
    let server = stats(emu.url()).await;
    let client = c.limiter().stats();
    assert!(
        server.throttled > 0,
        "the rate limit was never reached: {server:?}"
    );
    assert!(client.throttled > 0, "{client:?}");
    assert!(client.pace.is_some(), "a 429 sets a pace: {client:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_explicit_max_workers_is_never_exceeded() {
    let network = Network::with_latency(Duration::from_millis(10));
    let (emu, data) = remote(network, 1500).await;
    let config = ClientConfig::default().with_page_size(100);

    // Default: the limiter grows past the CPU count while the server keeps up.
    let adaptive = client_from(&emu, config.clone());
    let pages: Vec<_> = adaptive
        .items()
        .stream("big", ItemQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.items.len()).sum::<usize>(),
        data.len()
    );
    assert!(
        stats(emu.url()).await.peak_in_flight > 2,
        "the adaptive limiter should have grown: {:?}",
        adaptive.limiter().stats()
    );

    // max_workers = 1: one request at a time, whatever runs at once through the client.
    reset_stats(emu.url()).await;
    let one = client_from(&emu, config.with_max_workers(1));
    let (a, b, sql) = tokio::join!(
        one.items()
            .stream("big", ItemQuery::new())
            .try_collect::<Vec<_>>(),
        one.items()
            .stream("big", ItemQuery::new().offset(700))
            .try_collect::<Vec<_>>(),
        sql_ids(&one, "SELECT id FROM refuel.p.big"),
    );
    assert_eq!(
        a.unwrap().iter().map(|p| p.items.len()).sum::<usize>(),
        1500
    );
    assert_eq!(b.unwrap().iter().map(|p| p.items.len()).sum::<usize>(), 800);
    assert_eq!(sql.len(), 1500);
    let server = stats(emu.url()).await;
    assert_eq!(server.peak_in_flight, 1, "{server:?}");
    let client = one.limiter().stats();
    assert_eq!((client.peak_in_flight, client.bound), (1, 1), "{client:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_429_shrinks_the_limiter_and_its_retry_after_holds_every_request() {
    let (emu, _) = remote(Network::default(), 10).await;
    let c = client_from(&emu, ClientConfig::default().with_max_workers(8));
    c.datasets().id("big").await.unwrap();
    inject(
        emu.url(),
        Fault {
            retry_after: Some(0.5),
            ..fault(429, 1, "GET", "/projects")
        },
    )
    .await;
    let throttled = {
        let c = c.clone();
        tokio::spawn(async move { c.projects().list().await })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.limiter().stats().throttled == 0 {
        assert!(Instant::now() < deadline, "the 429 never came");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Another call, on another resource, waits out the server's Retry-After too.
    let started = Instant::now();
    let datasets = c.datasets().list().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "a request went before the Retry-After: {:?}",
        started.elapsed()
    );
    assert_eq!(datasets.len(), 1);
    assert!(
        throttled.await.unwrap().is_ok(),
        "the throttled call is retried"
    );
    let s = c.limiter().stats();
    assert_eq!((s.throttled, s.limit), (1, 4), "halved once: {s:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn pages_follow_a_servers_page_cap() {
    let network = Network {
        latency: Duration::from_millis(10),
        max_page_rows: Some(100),
        ..Network::default()
    };
    let (emu, data) = remote(network, 2500).await;

    // The client's stream: pages of 1000 asked, 100 answered; the cap is learned from the
    // first answers and the rest is fetched in pages of 100, none continued in sequence.
    let c = client_from(&emu, ClientConfig::default());
    let pages: Vec<_> = c
        .items()
        .stream("big", ItemQuery::new())
        .try_collect()
        .await
        .unwrap();
    let rows: Vec<Row> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(rows, data);
    assert_eq!(page_and_count_requests(emu.url()).await, (25, 1));
    let s = stats(emu.url()).await;
    assert!(
        s.peak_in_flight > 3,
        "pages were fetched one after another: {s:?}"
    );
    assert_eq!(c.items().page_rows(), 100);

    // The SQL scan, with a fresh client: the same.
    reset_stats(emu.url()).await;
    let fresh = client_from(&emu, ClientConfig::default());
    let mut got = sql_ids(&fresh, "SELECT id FROM refuel.p.big").await;
    got.sort_unstable();
    let mut expected = ids(&data);
    expected.sort_unstable();
    assert_eq!(got, expected);
    assert_eq!(page_and_count_requests(emu.url()).await, (25, 1));
    let s = stats(emu.url()).await;
    assert!(s.peak_in_flight > 3, "{s:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn the_network_is_set_over_http_and_bad_settings_are_refused() {
    let (emu, data) = remote(Network::default(), 30).await;
    let http = reqwest::Client::new();
    let url = format!("{}/_emulator/network", emu.url());
    let put = |body: serde_json::Value| http.put(&url).json(&body).send();
    let set = put(serde_json::json!({"latency_ms": 20, "max_page_rows": 7, "rate_limit": 500}))
        .await
        .unwrap();
    assert!(set.status().is_success());
    let shown: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        shown,
        serde_json::json!({"latency_ms": 20, "jitter_ms": 2, "max_page_rows": 7, "rate_limit": 500.0})
    );
    // The cap holds for any client: a page of 100 asked answers 7 rows, and the client's
    // stream still reads every row.
    let c = client_from(&emu, ClientConfig::default());
    let target = c.items().resolve("big", &ItemQuery::new()).await.unwrap();
    let page = c
        .items()
        .fetch::<Row>(&target, &ItemQuery::new(), 0, 100)
        .await
        .unwrap();
    assert_eq!(page.items.map(|i| i.len()), Some(7));
    let rows: Vec<Row> = c
        .items()
        .stream("big", ItemQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|p| p.items)
        .collect();
    assert_eq!(rows, data);

    for (body, says) in [
        (serde_json::json!({"max_page_rows": 0}), "max_page_rows"),
        (serde_json::json!({"rate_limit": -1}), "rate_limit"),
        (serde_json::json!({"latency": 5}), "latency"),
        (serde_json::json!({"latency_ms": "slow"}), "latency_ms"),
    ] {
        let resp = put(body.clone()).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{body}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    // A refused setting changed nothing; `{}` turns everything off.
    let shown: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["max_page_rows"], 7);
    assert!(
        put(serde_json::json!({}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let shown: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        shown,
        serde_json::json!({"latency_ms": 0, "jitter_ms": 0, "max_page_rows": null, "rate_limit": null})
    );
    emu.shutdown().await;
}
