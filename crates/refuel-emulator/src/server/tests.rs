//! The server over real HTTP: profiles (cloud shapes, flipped semantics, page caps), column
//! metadata, and JSON error answers.

// Scenarios read better whole.
#![allow(clippy::too_many_lines)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Emulator, EmulatorConfig, EmulatorHandle, Profile};

const KEY: &str = "test-key";

struct Server {
    handle: EmulatorHandle,
    http: reqwest::Client,
}

impl Server {
    async fn start(profile: Profile) -> Self {
        Self::start_with(EmulatorConfig::new().api_key(KEY).profile(profile)).await
    }

    async fn start_with(config: EmulatorConfig) -> Self {
        Self {
            handle: Emulator::start(config).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.url())
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text:?}"));
        (status, value)
    }

    /// `data` of a successful call.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{path}: {value}");
        value["data"].clone()
    }

    async fn get(&self, path: &str) -> Value {
        self.ok(Method::GET, path, None).await
    }

    async fn project(&self, name: &str) -> String {
        let p = self
            .ok(
                Method::POST,
                &format!("/projects?project_name={name}"),
                None,
            )
            .await;
        p["id"].as_str().unwrap().to_string()
    }

    /// Uploads a CSV and waits until its ingest succeeded.
    async fn upload(&self, project: &str, name: &str, csv: &str) -> String {
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_string())
            .text("source", "file")
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("d.csv"),
            );
        let resp = self
            .http
            .post(self.url(&format!("/projects/{project}/datasets")))
            .bearer_auth(KEY)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await.unwrap();
        let id = body["data"]["id"].as_str().unwrap().to_string();
        for _ in 0..200 {
            let d = self.get(&format!("/datasets/{id}")).await;
            if d["ingest_status"] == "success" {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("ingest of {name} did not finish");
    }
}

fn query(filters: &[Value], orders: &[Value], extra: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for f in filters {
        q.append_pair("filters", &f.to_string());
    }
    for o in orders {
        q.append_pair("order_bys", &o.to_string());
    }
    let mut s = q.finish();
    if !extra.is_empty() {
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(extra);
    }
    s
}

fn column_of(items: &Value, column: &str) -> Vec<Value> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[column].clone())
        .collect()
}

fn ids(values: &[i64]) -> Vec<Value> {
    values.iter().map(|v| json!(v)).collect()
}

const NAMES_CSV: &str = "id,name\n0,Apple pie\n1,banana\n2,\n3,apple 50%\n4,Cherry\n";

fn many_rows(n: usize) -> String {
    let mut csv = String::from("n\n");
    for i in 0..n {
        csv.push_str(&format!("{i}\n"));
    }
    csv
}

#[tokio::test]
async fn flipped_profile_flips_every_open_behaviour() {
    let s = Server::start(Profile::Flipped).await;
    assert_eq!(s.handle.profile(), Profile::Flipped);
    let p = s.project("p").await;
    let d = s.upload(&p, "names", NAMES_CSV).await;
    let server = &s;
    let rows = |filters: Vec<Value>, orders: Vec<Value>| {
        let path = format!("/datasets/{d}?{}", query(&filters, &orders, "expand=true"));
        async move { column_of(&server.get(&path).await["items"], "id") }
    };
    let metadata = |field: &str, op: &str, value: &str| json!({"filter_type": "metadata", "field": field, "operator": op, "value": value});
    // (1) Case-insensitive text.
    assert_eq!(
        rows(vec![metadata("name", "=", "APPLE PIE")], vec![]).await,
        ids(&[0])
    );
    assert_eq!(
        rows(vec![metadata("name", ">", "BANANA")], vec![]).await,
        ids(&[4])
    );
    // (1) + (2): ORDER BY folds case; NULLs first ascending, last descending.
    let asc = json!({"field": "name", "direction": "ASC"});
    let desc = json!({"field": "name", "direction": "DESC"});
    assert_eq!(rows(vec![], vec![asc]).await, ids(&[2, 3, 0, 1, 4]));
    assert_eq!(rows(vec![], vec![desc]).await, ids(&[4, 1, 0, 3, 2]));
    // (3) LIKE takes wildcards.
    assert_eq!(
        rows(vec![metadata("name", "LIKE", "p_e")], vec![]).await,
        ids(&[0, 3])
    );
    assert_eq!(
        rows(vec![metadata("name", "NOT ILIKE", "A%E")], vec![]).await,
        ids(&[1, 4])
    );
    // total_count still counts the matches.
    let path = format!(
        "/datasets/{d}?{}",
        query(&[metadata("name", "ILIKE", "a%")], &[], "max_items=0")
    );
    assert_eq!(s.get(&path).await["total_count"], 3);
    // (4) Pages of at most 100 rows.
    let big = s.upload(&p, "big", &many_rows(150)).await;
    let page = s.get(&format!("/datasets/{big}?max_items=500")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    assert_eq!(
        (page["total_count"].clone(), page["response_count"].clone()),
        (json!(150), json!(100))
    );
    let tail = s
        .get(&format!("/datasets/{big}?max_items=500&offset=100"))
        .await;
    assert_eq!(tail["items"][0]["n"], 100);
    assert_eq!(tail["items"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn default_profile_keeps_the_documented_behaviour() {
    let s = Server::start(Profile::Default).await;
    let p = s.project("p").await;
    let d = s.upload(&p, "names", NAMES_CSV).await;
    let path = format!(
        "/datasets/{d}?{}",
        query(
            &[],
            &[json!({"field": "name", "direction": "ASC"})],
            "expand=true"
        )
    );
    assert_eq!(
        column_of(&s.get(&path).await["items"], "id"),
        ids(&[0, 4, 3, 1, 2])
    );
    let big = s.upload(&p, "big", &many_rows(150)).await;
    let page = s.get(&format!("/datasets/{big}?max_items=500")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 150);
    // Our own shapes: lists, not nulls; no fields of the SDK we do not model.
    let listed = s.get(&format!("/datasets?project_id={p}")).await;
    assert!(listed[0]["projects"].is_array());
    assert!(listed[0]["dataset_schema"].get("$schema").is_none());
    let got = s.get(&format!("/datasets/{d}")).await;
    assert_eq!(got["scheduled_ids"], json!([]));
    assert_eq!(got["response_count"], Value::Null);
}

/// Creates a task with a classification and an extraction field on `dataset`, runs it to
/// the end, and returns the task.
async fn labeled_task(s: &Server, project: &str, dataset: &str) -> Value {
    let settings = json!({
        "context": "",
        "dataset_id": dataset,
        "model": null,
        "task_type": "task_chain",
        "subtasks": [
            {"name": "sentiment", "type": "classification", "labels": ["positive", "negative"],
             "input_columns": ["text"], "guidelines": ""},
            {"name": "topics", "type": "multilabel_classification",
             "labels": ["food", "weather"], "input_columns": ["text"]},
            {"name": "echo", "type": "attribute_extraction", "input_columns": ["text"]}
        ]
    });
    let task = s
        .ok(
            Method::POST,
            &format!("/projects/{project}/tasks?task_name=t"),
            Some(settings),
        )
        .await;
    let id = task["id"].as_str().unwrap().to_string();
    s.ok(
        Method::POST,
        &format!("/tasks/{id}/runs?dataset_id={dataset}&num_items=2"),
        None,
    )
    .await;
    for _ in 0..500 {
        let run = s.get(&format!("/tasks/{id}/runs/{dataset}")).await;
        if run["status"] == "completed" {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the run did not complete");
}

#[tokio::test]
async fn cloud_shapes_answer_as_the_typescript_sdk_declares() {
    let s = Server::start(Profile::CloudShapes).await;
    let p = s.project("p").await;
    let project = s.get(&format!("/projects/{p}")).await;
    assert_eq!(project["team"], Value::Null);
    assert!(project.get("description").is_none(), "{project}");

    let d = s
        .upload(
            &p,
            "reviews",
            "text,stars,day\ngood food positive,5,2024-01-02\nrainy weather negative,1,2024-01-03\nnothing,,\n",
        )
        .await;
    let listed = s.get(&format!("/datasets?project_id={p}")).await;
    let entry = &listed[0];
    assert_eq!(entry["updated_at"], Value::Null);
    assert_eq!(entry["projects"], Value::Null);
    assert!(entry["dataset_schema"]["$schema"].is_string());
    assert_eq!(entry["column_metadata"]["stars"]["type"], "integer");
    assert_eq!(entry["column_metadata"]["day"]["type"], "date");

    let got = s.get(&format!("/datasets/{d}")).await;
    assert_eq!(got["scheduled_ids"], Value::Null);
    assert_eq!(got["response_count"], 0);
    assert_eq!(got["column_metadata"]["text"]["type"], "string");
    assert_eq!(got["schema"]["properties"]["day"]["type"], "string");
    assert!(got["project_ids"].is_array());

    let task = labeled_task(&s, &p, &d).await;
    let task_id = task["id"].as_str().unwrap();
    assert_eq!(task["context"], Value::Null);
    for key in ["compute_confidence", "mutable", "runnable", "deployed"] {
        assert!(task[key].is_boolean(), "{key}: {task}");
    }
    assert_eq!(task["emoji"], Value::Null);
    let fields = task["subtasks"].as_array().unwrap();
    assert_eq!(fields[0]["guidelines"], Value::Null);
    assert!(fields[0]["labels"].is_array());
    assert_eq!(fields[2]["labels"], Value::Null);
    assert_eq!(fields[2]["label_column"], Value::Null);
    assert!(fields.iter().all(|f| f.get("default_value").is_none()));

    // Labeled rows: labels as a map by field id, `null` for the unlabeled row.
    let rows = s
        .get(&format!("/tasks/{task_id}/datasets/{d}?expand=true"))
        .await;
    let items = rows["items"].as_array().unwrap();
    let sentiment = fields[0]["id"].as_str().unwrap();
    let topics = fields[1]["id"].as_str().unwrap();
    assert_eq!(items[0]["labels"][sentiment]["llm_label"], "positive");
    assert_eq!(items[0]["labels"][sentiment]["created_by"], Value::Null);
    assert!(items[0]["labels"][topics]["multilabel_confidence"].is_object());
    assert_eq!(items[0]["telemetry"], Value::Null);
    assert_eq!(items[2]["labels"], Value::Null);

    let runs = s.get(&format!("/tasks/{task_id}/runs")).await;
    assert_eq!(runs[0]["is_eval_run"], false);
    assert!(runs[0]["model_ids"].is_array());
    let metrics = s.get(&format!("/tasks/{task_id}/runs/{d}/metrics")).await;
    let task_metrics = metrics["task"].as_array().unwrap();
    assert!(
        task_metrics
            .iter()
            .all(|m| m["type"].is_string() && m["support"].is_u64())
    );
    let dist = task_metrics
        .iter()
        .find(|m| m["name"] == "label_distribution")
        .unwrap();
    assert_eq!(dist["value"]["sentiment"]["positive"], 1);
    assert_eq!(dist["value"]["sentiment"]["negative"], 1);
    assert!(metrics["subtasks"][sentiment].is_array());

    let app = s
        .ok(
            Method::POST,
            &format!("/projects/{p}/applications?task_id={task_id}&application_name=a"),
            None,
        )
        .await;
    assert_eq!(app["emoji"], Value::Null);
    assert_eq!(app["task_updated_at"], Value::Null);
    assert_eq!(app["input_columns"], json!(["text"]));
    assert_eq!(app["task_name"], "t");
    assert!(app["model_name"].is_string());
    let task = s.get(&format!("/tasks/{task_id}")).await;
    assert_eq!(task["deployed"], true);
    let labeled = s
        .ok(
            Method::POST,
            &format!("/applications/{}/label", app["id"].as_str().unwrap()),
            Some(json!([{"text": "good food"}])),
        )
        .await;
    let out = &labeled["refuel_output"][0]["refuel_fields"]["sentiment"];
    assert_eq!(out["raw_confidence"], out["confidence"]);

    let model = s
        .ok(
            Method::POST,
            &format!("/projects/{p}/finetuned_models"),
            Some(
                json!({"project_id": p, "task_id": task_id, "base_model": "refuel-llm-v2-small",
                "hyperparameters": {}}),
            ),
        )
        .await;
    assert_eq!(model["training_stats"], Value::Null);
    assert_eq!(model["evaluation_stats"], json!([]));
    assert!(model["provider"].is_string());

    let export = s
        .ok(
            Method::POST,
            &format!("/datasets/{d}/exports?email_address=a@b.c"),
            None,
        )
        .await;
    assert!(export["export_id"].is_string());
    assert!(
        export["uri"]
            .as_str()
            .unwrap()
            .contains("/_emulator/downloads/")
    );

    // Pages of at most 100 rows, total_count unchanged.
    let big = s.upload(&p, "big", &many_rows(150)).await;
    let page = s.get(&format!("/datasets/{big}?max_items=1000")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    assert_eq!(page["total_count"], 150);
}

#[tokio::test]
async fn column_metadata_types_columns_and_survives_appends_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig::new().api_key(KEY).data_dir(dir.path());
    let s = Server::start_with(config()).await;
    let p = s.project("p").await;
    let d = s
        .upload(
            &p,
            "typed",
            "i,f,day,when,ok,s\n1,1.5,2024-02-29,2024-01-01,true,x\n2,2,,later,false,y\n",
        )
        .await;
    let types = |v: &Value| {
        ["i", "f", "day", "when", "ok", "s"]
            .iter()
            .map(|c| {
                v["column_metadata"][c]["type"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    let got = s.get(&format!("/datasets/{d}")).await;
    assert_eq!(
        types(&got),
        ["integer", "number", "date", "string", "boolean", "string"]
    );
    assert_eq!(
        got["column_metadata"]["i"],
        json!({"type": "integer", "source": "user", "is_confidence": null,
            "is_llm_label": null, "taskId": null})
    );
    assert_eq!(got["schema"]["properties"]["i"]["type"], "number");
    let listed = s.get(&format!("/datasets?project_id={p}")).await;
    assert_eq!(listed[0]["column_metadata"], got["column_metadata"]);

    // Integers and dates stay so; a float and a non-date widen them.
    s.ok(
        Method::POST,
        &format!("/datasets/{d}/items"),
        Some(json!([{"i": 3, "day": "2024-03-01"}])),
    )
    .await;
    assert_eq!(
        types(&s.get(&format!("/datasets/{d}")).await)[..3],
        ["integer", "number", "date"]
    );
    s.ok(
        Method::POST,
        &format!("/datasets/{d}/items"),
        Some(json!([{"i": 3.5, "day": "soon"}])),
    )
    .await;
    let widened = ["number", "number", "string", "string", "boolean", "string"];
    assert_eq!(types(&s.get(&format!("/datasets/{d}")).await), widened);
    s.handle.shutdown().await;

    let s = Server::start_with(config()).await;
    assert_eq!(types(&s.get(&format!("/datasets/{d}")).await), widened);
    let other = s.upload(&p, "ints", "k\n7\n").await;
    s.handle.shutdown().await;
    let s = Server::start_with(config()).await;
    let got = s.get(&format!("/datasets/{other}")).await;
    assert_eq!(got["column_metadata"]["k"]["type"], "integer");
}

#[tokio::test]
async fn every_error_answer_is_json_with_a_detail() {
    let s = Server::start(Profile::Default).await;
    let p = s.project("p").await;
    let d = s.upload(&p, "d", "a\n1\n").await;
    let detail = |v: &Value| v["detail"].as_str().unwrap_or_default().to_string();

    // A path segment that is not valid UTF-8.
    let (status, body) = s.call(Method::GET, "/datasets/%00%ff", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(detail(&body).contains("UTF-8"), "{body}");
    // An unknown route and a wrong method.
    let (status, body) = s.call(Method::GET, "/nowhere/at/all", None).await;
    assert_eq!(status, 404);
    assert_eq!(detail(&body), "no such endpoint: GET /nowhere/at/all");
    let (status, body) = s.call(Method::PUT, "/projects", None).await;
    assert_eq!(status, 405, "{body}");
    assert!(
        detail(&body).contains("PUT is not allowed on /projects"),
        "{body}"
    );
    // A malformed JSON body and a wrong content type, in handlers and in axum's extractors.
    let send = |path: String, content_type: &'static str, body: &'static str| {
        let req = s
            .http
            .post(s.url(&path))
            .bearer_auth(KEY)
            .header("content-type", content_type)
            .body(body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body: Value = resp.json().await.unwrap();
            (status, ct, body)
        }
    };
    for (path, ct, body) in [
        (format!("/datasets/{d}/items"), "application/json", "[{"),
        (format!("/datasets/{d}/items"), "text/plain", "[]"),
        (
            "/_emulator/faults".to_string(),
            "application/json",
            "{\"status\":",
        ),
        ("/_emulator/faults".to_string(), "text/plain", "{}"),
    ] {
        let (status, content_type, answer) = send(path.clone(), ct, body).await;
        assert!((400..500).contains(&status), "{path}: {status}");
        assert_eq!(content_type, "application/json", "{path}");
        assert!(!detail(&answer).is_empty(), "{path}: {answer}");
    }
    let (_, _, answer) = send(format!("/datasets/{d}/items"), "text/plain", "[]").await;
    assert!(
        detail(&answer).to_lowercase().contains("content-type"),
        "{answer}"
    );
    // Auth failures were JSON already, and stay so.
    let resp = s.http.get(s.url("/projects")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert!(detail(&body).contains("Authorization"));
}
