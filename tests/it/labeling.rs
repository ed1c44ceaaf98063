//! The labeling lifecycle: tasks, runs, labels in row queries, applications, feedback,
//! exports, finetuning, the OpenAI-compatible labeler, and durability of all of it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use refuel::client::models::{
    Direction, FieldType, Filter, FilterOp, Hyperparameters, ItemQuery, LabeledItem, OrderBy, Row,
    RunStatus,
};
use refuel::client::{Error, LabelOptions, RefuelClient, TaskField, WaitOptions};
use refuel::emulator::labeler::OpenAiConfig;
use refuel::emulator::{Emulator, EmulatorConfig, EmulatorHandle, LabelerConfig, Settings};
use serde_json::{Value, json};

use crate::common::*;

const POSITIVE: [&str; 4] = ["great", "love", "excellent", "perfect"];
const NEGATIVE: [&str; 4] = ["broken", "refund", "awful", "late"];

/// Product reviews whose words hit the sentiment keywords in varied amounts; `gold` is a
/// ground truth that disagrees with the keyword rule on some rows.
fn reviews(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let pos = POSITIVE[i % 4];
            let neg = NEGATIVE[(i / 3) % 4];
            let text = match i % 6 {
                0 => format!("{pos} phone, {} battery", POSITIVE[(i + 1) % 4]),
                1 => format!("{neg} screen and {} box", NEGATIVE[(i + 2) % 4]),
                2 => format!("{pos} but {neg}"),
                3 => "arrived on tuesday".to_string(),
                4 => format!("{pos} {pos} {neg} price ${}", 10 + i % 90),
                _ => format!("{neg} {pos} {neg} cheap"),
            };
            let gold = if i % 7 == 0 {
                "negative"
            } else if i % 2 == 0 {
                "positive"
            } else {
                "negative"
            };
            json!({"id": i, "text": text, "gold": gold})
                .as_object()
                .unwrap()
                .clone()
        })
        .collect()
}

fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The reference labeler's documented classification rule, written independently.
fn expected_sentiment(text: &str) -> (String, f64) {
    let w = words(text);
    let score = |kws: &[&str], label: &str| {
        w.iter()
            .filter(|x| kws.contains(&x.as_str()) || x.as_str() == label)
            .count()
    };
    let (p, n) = (score(&POSITIVE, "positive"), score(&NEGATIVE, "negative"));
    let (best, second, label) = if n > p {
        (n, p, "negative")
    } else {
        (p, n, "positive")
    };
    if best == 0 {
        return ("unsure".into(), 0.0);
    }
    let c = (best as f64 + 1.0) / (best as f64 + second as f64 + 2.0);
    (label.into(), (c * 10_000.0).round() / 10_000.0)
}

fn sentiment_field() -> TaskField {
    TaskField::new("sentiment", FieldType::Classification)
        .labels(["positive", "negative"])
        .guidelines(format!(
            "positive: {}\nnegative: {}",
            POSITIVE.join(", "),
            NEGATIVE.join(", ")
        ))
        .input_column("text")
        .ground_truth_column("gold")
        .fallback_value("unsure")
}

async fn setup(emu: &EmulatorHandle, rows: usize) -> (RefuelClient, Vec<Row>, tempfile::TempDir) {
    let c = client_with_project(emu, "p").await;
    let dir = tempfile::tempdir().unwrap();
    let data = reviews(rows);
    upload_csv(&c, dir.path(), "reviews", &to_csv(&data)).await;
    c.tasks()
        .create(
            "sentiment-task",
            "reviews",
            "You are an expert at the sentiment of product reviews.",
            &[
                sentiment_field(),
                TaskField::new("price", FieldType::AttributeExtraction)
                    .guidelines("regex: \\$(\\d+)")
                    .input_column("text"),
            ],
            Some("GPT-4o"),
        )
        .await
        .unwrap();
    (c, data, dir)
}

fn quick() -> WaitOptions {
    WaitOptions {
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn tasks_are_created_checked_listed_and_deleted() {
    let emu = emulator().await;
    let (c, _, _dir) = setup(&emu, 20).await;
    let task = c.tasks().get("sentiment-task").await.unwrap();
    assert_eq!(task.model.as_deref(), Some("gpt-4o"));
    assert_eq!(task.subtasks.len(), 2);
    assert!(
        task.subtasks
            .iter()
            .all(|s| uuid::Uuid::try_parse(&s.id).is_ok())
    );
    assert_eq!(task.subtasks[0].label_column.as_deref(), Some("gold"));
    assert_eq!(task.subtasks[0].default_value.as_deref(), Some("unsure"));
    assert_eq!(c.tasks().list().await.unwrap().len(), 1);

    let check = |fields: Vec<TaskField>, model: Option<&'static str>, needle: &'static str| {
        let c = c.clone();
        async move {
            let err = c
                .tasks()
                .create("bad", "reviews", "", &fields, model)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    };
    let f = || {
        TaskField::new("s", FieldType::Classification)
            .labels(["a"])
            .input_column("text")
    };
    check(vec![f(), f()], None, "'s'").await;
    check(
        vec![TaskField::new("text", FieldType::AttributeExtraction).input_column("id")],
        None,
        "text",
    )
    .await;
    check(vec![f().input_column("nope")], None, "nope").await;
    check(
        vec![TaskField::new("s", FieldType::Classification).input_column("text")],
        None,
        "labels",
    )
    .await;
    check(vec![f()], Some("GPT-5 Ultra"), "GPT-5 Ultra").await;
    // The server checks too.
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/projects/{}/tasks?task_name=x",
            emu.url(),
            c.project_id().await.unwrap()
        ))
        .bearer_auth(KEY)
        .json(
            &json!({"dataset_id": c.datasets().id("reviews").await.unwrap(), "context": "",
            "subtasks": [{"name": "f", "type": "classification", "input_columns": ["text"]}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert!(
        raw.text()
            .await
            .unwrap()
            .contains("needs a non-empty list of labels")
    );

    c.tasks().delete("sentiment-task").await.unwrap();
    assert!(
        c.tasks()
            .get("sentiment-task")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn runs_label_rows_with_progress_and_labels_are_queryable() {
    let emu = emulator().await;
    let (c, data, _dir) = setup(&emu, 600).await;
    let started = c
        .runs()
        .start("sentiment-task", "reviews", Some(250))
        .await
        .unwrap();
    assert!(matches!(
        started.status,
        RunStatus::NotStarted | RunStatus::Active | RunStatus::Completed
    ));
    let mut seen = Vec::new();
    let run = c
        .runs()
        .wait_for_completion("sentiment-task", "reviews", quick(), |p| {
            seen.push(p.labeled)
        })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.metric("num_labeled"), Some(250.0));
    assert_eq!(run.metric("num_remaining"), Some(0.0));
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {seen:?}"
    );
    assert_eq!(run.task_name.as_deref(), Some("sentiment-task"));
    assert_eq!(run.dataset_name.as_deref(), Some("reviews"));

    // The rest of the dataset in a second run.
    c.runs()
        .start("sentiment-task", "reviews", None)
        .await
        .unwrap();
    let run = c
        .runs()
        .wait_for_completion("sentiment-task", "reviews", quick(), |_| {})
        .await
        .unwrap();
    assert_eq!(run.metric("num_labeled"), Some(350.0));
    assert_eq!(c.runs().list("sentiment-task").await.unwrap().len(), 2);
    let metrics = c.runs().metrics("sentiment-task", "reviews").await.unwrap();
    assert_eq!(metrics.subtasks.len(), 2);

    let task = c.tasks().get("sentiment-task").await.unwrap();
    let (sentiment, price) = (&task.subtasks[0].id, &task.subtasks[1].id);
    let items: Vec<LabeledItem> = c
        .items()
        .query_labeled("reviews", &ItemQuery::new().task("sentiment-task"))
        .await
        .unwrap();
    assert_eq!(items.len(), 600);
    for (item, row) in items.iter().zip(&data) {
        assert_eq!(item.fields, *row);
        let (label, confidence) = expected_sentiment(row["text"].as_str().unwrap());
        let l = &item.labels[0];
        assert_eq!(&l.id, sentiment);
        assert_eq!(l.llm_label, Some(json!(label)), "{row:?}");
        assert_eq!(l.label, Some(json!(label)));
        assert_eq!(l.confidence, Some(confidence), "{row:?}");
        assert_eq!(l.expected_label, Some(row["gold"].clone()));
        assert_eq!(l.source.as_deref(), Some("LLM"));
        let text = row["text"].as_str().unwrap();
        let want_price = text.split('$').nth(1).map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        });
        assert_eq!(
            item.labels[1].llm_label,
            Some(json!(want_price.unwrap_or_else(|| "-".into()))),
            "{text}"
        );
        assert_eq!(&item.labels[1].id, price);
    }

    // Label filters and orders, compared with the labels just read.
    let by = |q: ItemQuery| {
        let c = c.clone();
        async move {
            c.items()
                .query_labeled("reviews", &q.task("sentiment-task"))
                .await
                .unwrap()
        }
    };
    let ids_of = |items: &[LabeledItem]| {
        items
            .iter()
            .map(|i| i.fields["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let want = |keep: &dyn Fn(&LabeledItem) -> bool| {
        ids_of(
            &items
                .iter()
                .filter(|i| keep(i))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    let positive = by(ItemQuery::new().filter(Filter::label(
        sentiment,
        "llm_label",
        FilterOp::Eq,
        "positive",
    )))
    .await;
    assert_eq!(
        ids_of(&positive),
        want(&|i| i.labels[0].llm_label == Some(json!("positive")))
    );
    let confident =
        by(ItemQuery::new().filter(Filter::label(sentiment, "confidence", FilterOp::Gt, "0.7")))
            .await;
    assert_eq!(
        ids_of(&confident),
        want(&|i| i.labels[0].confidence.is_some_and(|c| c > 0.7))
    );
    assert!(!confident.is_empty() && confident.len() < 600);
    let disagree = by(ItemQuery::new().filter(Filter::label_vs_column(
        sentiment,
        "llm_label",
        FilterOp::NotEq,
        "gold",
    )))
    .await;
    assert_eq!(
        ids_of(&disagree),
        want(&|i| i.labels[0].llm_label.as_ref() != Some(&i.fields["gold"]))
    );
    assert!(!disagree.is_empty());
    let wrong = by(ItemQuery::new().filter(Filter::label(
        sentiment,
        "expected_label",
        FilterOp::Eq,
        "negative",
    )))
    .await;
    assert_eq!(
        ids_of(&wrong),
        want(&|i| i.fields["gold"] == json!("negative"))
    );
    let ordered =
        by(ItemQuery::new().order_by(OrderBy::by_label(sentiment, "confidence", Direction::Desc)))
            .await;
    let confs: Vec<f64> = ordered
        .iter()
        .map(|i| i.labels[0].confidence.unwrap())
        .collect();
    assert!(confs.windows(2).all(|w| w[0] >= w[1]));
    let top = by(ItemQuery::new()
        .order_by(OrderBy::by_label(sentiment, "confidence", Direction::Asc))
        .max_items(5))
    .await;
    let mut ascending: Vec<&LabeledItem> = items.iter().collect();
    ascending.sort_by(|a, b| {
        a.labels[0]
            .confidence
            .unwrap()
            .total_cmp(&b.labels[0].confidence.unwrap())
    });
    assert_eq!(
        ids_of(&top),
        ids_of(
            &ascending[..5]
                .iter()
                .map(|i| (*i).clone())
                .collect::<Vec<_>>()
        )
    );
    let err = c
        .items()
        .query_labeled(
            "reviews",
            &ItemQuery::new()
                .task("sentiment-task")
                .filter(Filter::label("nope", "confidence", FilterOp::Gt, "0")),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown task field 'nope'"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cancelled_run_stops_and_a_new_run_labels_what_is_left() {
    // A slow model (20 ms a row) so that the cancel lands mid-run.
    let (url, _) = chat_server(Duration::from_millis(20)).await;
    let emu = Emulator::start(openai_config(url)).await.unwrap();
    let (c, _, _dir) = setup(&emu, 2000).await;
    c.runs()
        .start("sentiment-task", "reviews", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cancelled = c.runs().cancel("sentiment-task", "reviews").await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let err = c
        .runs()
        .wait_for_completion("sentiment-task", "reviews", quick(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RunEnded { .. }), "{err}");
    let labeled = c
        .runs()
        .status("sentiment-task", "reviews")
        .await
        .unwrap()
        .metric("num_labeled")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = c
        .runs()
        .status("sentiment-task", "reviews")
        .await
        .unwrap()
        .metric("num_labeled")
        .unwrap();
    assert!(later < 2000.0, "the run stopped early: {later}");
    assert!(
        later - labeled <= 500.0,
        "at most the batch in flight finishes: {labeled} -> {later}"
    );
    // A new run labels only rows left unlabeled.
    c.runs()
        .start("sentiment-task", "reviews", Some(100))
        .await
        .unwrap();
    let run = c
        .runs()
        .wait_for_completion("sentiment-task", "reviews", quick(), |_| {})
        .await
        .unwrap();
    assert_eq!(run.metric("num_labeled"), Some(100.0), "{run:?}");
    let task = c.tasks().get("sentiment-task").await.unwrap();
    let unlabeled = c
        .items()
        .count(
            "reviews",
            &ItemQuery::new().task("sentiment-task").filter(Filter {
                value: None,
                ..Filter::label(&task.subtasks[0].id, "llm_label", FilterOp::IsNull, "")
            }),
        )
        .await
        .unwrap();
    assert_eq!(unlabeled as f64, 2000.0 - later - 100.0);
}

fn openai_config(url: String) -> EmulatorConfig {
    EmulatorConfig::new()
        .labeler(LabelerConfig::OpenAi(OpenAiConfig {
            base_url: url,
            api_key: Some("sk-test".into()),
            model: "gpt-test".into(),
            timeout: Duration::from_secs(10),
        }))
        .api_key(KEY)
}

#[tokio::test]
async fn applications_label_in_order_async_and_take_feedback() {
    let emu = emulator().await;
    let (c, _, _dir) = setup(&emu, 10).await;
    let app = c
        .applications()
        .deploy("sentiment-task", Some("sentiment-app"))
        .await
        .unwrap();
    assert_eq!(app.name, "sentiment-app");
    assert_eq!(c.applications().list().await.unwrap().len(), 1);
    let got = c.applications().get("sentiment-app").await.unwrap();
    assert_eq!(got.subtasks.len(), 2);

    let inputs: Vec<Row> = reviews(40)
        .into_iter()
        .map(|mut r| {
            r.remove("gold");
            r
        })
        .collect();
    let opts = LabelOptions::new()
        .explain(false)
        .explain_fields(["sentiment"])
        .telemetry(true);
    let outputs = c
        .applications()
        .label("sentiment-app", &inputs, &opts)
        .await
        .unwrap();
    assert_eq!(outputs.len(), 40);
    for (out, input) in outputs.iter().zip(&inputs) {
        let out = out.as_ref().unwrap();
        let (label, confidence) = expected_sentiment(input["text"].as_str().unwrap());
        let s = &out.refuel_fields["sentiment"];
        assert_eq!(s.label, vec![json!(label)]);
        assert_eq!(s.confidence, Some(confidence));
        assert!(s.explanation.is_some(), "explain_fields asks for it");
        assert!(out.refuel_fields["price"].explanation.is_none());
        let usage = out.usage.as_ref().unwrap();
        assert!(
            usage.total_tokens.unwrap() > 0 && usage.model.as_deref().unwrap().contains("gpt-4o")
        );
    }
    // A bad input fails alone, at its index.
    let mut mixed = inputs[..3].to_vec();
    mixed[1].insert("id".into(), json!("not a number"));
    let outputs = c
        .applications()
        .label("sentiment-app", &mixed, &LabelOptions::new())
        .await
        .unwrap();
    assert!(outputs[0].is_ok() && outputs[2].is_ok());
    let err = outputs[1].as_ref().unwrap_err();
    assert!(
        err.to_string().contains("'not a number' is not a number"),
        "{err}"
    );

    let later = c
        .applications()
        .label_async("sentiment-app", &inputs[..5], &LabelOptions::new())
        .await
        .unwrap();
    assert_eq!(later.refuel_output.len(), 5);
    for (out, input) in later.refuel_output.iter().zip(&inputs) {
        let uuid = out.refuel_uuid.as_deref().unwrap();
        assert!(out.uri.as_deref().unwrap().ends_with(uuid));
        let done = c
            .applications()
            .wait_for_labeled_item("sentiment-app", uuid, quick())
            .await
            .unwrap();
        let (label, _) = expected_sentiment(input["text"].as_str().unwrap());
        assert_eq!(done.refuel_fields["sentiment"].label, vec![json!(label)]);
    }

    // Feedback makes a verified human label, visible in row queries with the task.
    let first = outputs[0].as_ref().unwrap().refuel_uuid.clone().unwrap();
    c.applications()
        .feedback(
            "sentiment-app",
            &first,
            &[("sentiment", json!(["negative"]))],
        )
        .await
        .unwrap();
    let log = c
        .items()
        .query_labeled(
            "sentiment-app (application log)",
            &ItemQuery::new().task("sentiment-task"),
        )
        .await
        .unwrap();
    let item = log
        .iter()
        .find(|i| i.id.as_deref() == Some(first.as_str()))
        .unwrap();
    assert_eq!(item.labels[0].label, Some(json!("negative")));
    assert_eq!(item.labels[0].source.as_deref(), Some("HUMAN"));
    let task = c.tasks().get("sentiment-task").await.unwrap();
    let verified = c
        .items()
        .query_labeled(
            "sentiment-app (application log)",
            &ItemQuery::new().task("sentiment-task").filter(Filter {
                operator: FilterOp::IsVerified,
                value: None,
                ..Filter::label(&task.subtasks[0].id, "label", FilterOp::IsVerified, "")
            }),
        )
        .await
        .unwrap();
    assert_eq!(verified.len(), 1);
    let err = c
        .applications()
        .feedback("sentiment-app", &first, &[("mood", json!("x"))])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mood"), "{err}");
}

#[tokio::test]
async fn exports_are_csv_with_labels_behind_signed_expiring_urls() {
    let settings = Settings {
        export_url_ttl: Duration::from_secs(1),
        ..Settings::default()
    };
    let emu = Emulator::start(EmulatorConfig::new().settings(settings).api_key(KEY))
        .await
        .unwrap();
    let (c, data, dir) = setup(&emu, 120).await;
    c.runs()
        .start("sentiment-task", "reviews", None)
        .await
        .unwrap();
    c.runs()
        .wait_for_completion("sentiment-task", "reviews", quick(), |_| {})
        .await
        .unwrap();
    let path = dir.path().join("export.csv");
    c.exports()
        .export_to_file(
            "reviews",
            "me@example.com",
            Some("sentiment-task"),
            &path,
            quick(),
        )
        .await
        .unwrap();
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(&header[..3], ["id", "text", "gold"]);
    assert!(
        header.contains(&"sentiment_label".to_string())
            && header.contains(&"price_verified".to_string())
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 120);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (rec, row) in records.iter().zip(&data) {
        let (label, _) = expected_sentiment(row["text"].as_str().unwrap());
        assert_eq!(&rec[col("sentiment_llm_label")], label.as_str());
        assert_eq!(&rec[col("sentiment_verified")], "false");
    }
    // Without a task: the dataset's columns only.
    let created = c
        .exports()
        .create("reviews", "me@example.com", None)
        .await
        .unwrap();
    let url = c
        .exports()
        .wait("reviews", &created.export_id, quick())
        .await
        .unwrap();
    let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(body.starts_with("id,text,gold\n"), "{}", &body[..40]);
    // A tampered URL and an expired one are refused.
    let tampered = format!("{}0", url.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    assert_eq!(
        reqwest::get(&tampered).await.unwrap().status().as_u16(),
        403
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = reqwest::get(&url).await.unwrap();
    assert_eq!(expired.status().as_u16(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));
    let err = c
        .exports()
        .create("reviews", "not-an-email", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not-an-email"), "{err}");
}

#[tokio::test]
async fn finetuning_advances_through_stages_and_can_be_interrupted() {
    let settings = Settings {
        finetune_stage: Duration::from_millis(150),
        ..Settings::default()
    };
    let emu = Emulator::start(EmulatorConfig::new().settings(settings).api_key(KEY))
        .await
        .unwrap();
    let (c, _, _dir) = setup(&emu, 10).await;
    let hp = Hyperparameters {
        num_epochs: Some(2),
        learning_rate: Some(1e-4),
        ..Default::default()
    };
    let model = c
        .finetuning()
        .start("sentiment-task", "refuel-llm-v2-small", &hp, &["reviews"])
        .await
        .unwrap();
    assert_eq!(
        model.finetuning_run_status.as_deref(),
        Some("TRAINING IN PROGRESS")
    );
    assert_eq!(model.availability_status.as_deref(), Some("UNAVAILABLE"));
    assert_eq!(model.hyperparameters["num_epochs"], json!(2));
    assert_eq!(
        c.finetuning()
            .list(Some("sentiment-task"))
            .await
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let done = c.finetuning().get(&model.id).await.unwrap();
    assert_eq!(
        done.finetuning_run_status.as_deref(),
        Some("DEPLOYMENT COMPLETED")
    );
    assert_eq!(done.availability_status.as_deref(), Some("AVAILABLE"));
    assert_eq!(done.finetuning_run_timeline.as_array().unwrap().len(), 4);
    let err = c.finetuning().cancel(&model.id).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409), "{err}");

    let second = c
        .finetuning()
        .start(
            "sentiment-task",
            "refuel-llm-v2-large",
            &Hyperparameters::default(),
            &[],
        )
        .await
        .unwrap();
    let stopped = c.finetuning().cancel(&second.id).await.unwrap();
    assert_eq!(
        stopped.finetuning_run_status.as_deref(),
        Some("INTERRUPTED")
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        c.finetuning()
            .get(&second.id)
            .await
            .unwrap()
            .finetuning_run_status
            .as_deref(),
        Some("INTERRUPTED")
    );
    assert_eq!(c.finetuning().list(None).await.unwrap().len(), 2);

    let err = c
        .finetuning()
        .start("sentiment-task", "gpt-17", &hp, &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("gpt-17"), "{err}");
    let raw = reqwest::Client::new()
        .post(format!("{}/projects/{}/finetuned_models", emu.url(), c.project_id().await.unwrap()))
        .bearer_auth(KEY)
        .json(&json!({"project_id": "x", "task_id": model.task_id, "base_model": "refuel-llm-v2-small", "hyperparameters": {"epochs": 3}}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert!(
        raw.text()
            .await
            .unwrap()
            .contains("unknown hyperparameter 'epochs'")
    );
}

/// A local server speaking the chat-completions protocol: `positive` when the input
/// mentions "great", else `negative`; it records the requests.
async fn chat_server(delay: Duration) -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::extract::State;
    use axum::routing::post;
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(move |State(seen): State<Arc<Mutex<Vec<Value>>>>, axum::Json(body): axum::Json<Value>| async move {
                let user = body["messages"][1]["content"].as_str().unwrap_or("").to_string();
                tokio::time::sleep(delay).await;
                seen.lock().unwrap().push(body);
                let label = if user.contains("great") { "positive" } else { "negative" };
                let content = json!({"sentiment": {"label": label, "confidence": 0.8, "explanation": "by the test server"},
                                     "price": {"label": "42"}}).to_string();
                axum::Json(json!({"choices": [{"message": {"role": "assistant", "content": content}}],
                                  "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57}}))
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn the_openai_compatible_labeler_prompts_and_parses() {
    let (url, seen) = chat_server(Duration::ZERO).await;
    let emu = Emulator::start(openai_config(url)).await.unwrap();
    let (c, data, _dir) = setup(&emu, 30).await;
    c.runs()
        .start("sentiment-task", "reviews", None)
        .await
        .unwrap();
    let run = c
        .runs()
        .wait_for_completion("sentiment-task", "reviews", quick(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        run.model_name.as_deref(),
        Some("gpt-4o"),
        "the task's model is asked for"
    );
    let items = c
        .items()
        .query_labeled("reviews", &ItemQuery::new().task("sentiment-task"))
        .await
        .unwrap();
    for (item, row) in items.iter().zip(&data) {
        let want = if row["text"].as_str().unwrap().contains("great") {
            "positive"
        } else {
            "negative"
        };
        assert_eq!(item.labels[0].llm_label, Some(json!(want)));
        assert_eq!(item.labels[0].confidence, Some(0.8));
        assert_eq!(item.labels[1].llm_label, Some(json!("42")));
    }
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 30);
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("sentiment of product reviews"),
        "context: {system}"
    );
    assert!(
        system.contains("[\"positive\",\"negative\"]"),
        "labels: {system}"
    );
    assert!(system.contains("positive: great"), "guidelines: {system}");
    assert!(system.contains("\"unsure\""), "fallback: {system}");
    assert_eq!(requests[0]["model"], json!("gpt-4o"));
    assert_eq!(requests[0]["response_format"]["type"], json!("json_object"));

    c.applications()
        .deploy("sentiment-task", None)
        .await
        .unwrap();
    let out = c
        .applications()
        .label(
            "sentiment-task",
            &data[..1],
            &LabelOptions::new().telemetry(true),
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    let usage = out.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (Some(50), Some(7), Some(57))
    );
    assert_eq!(usage.provider.as_deref(), Some("openai-compatible"));
}

#[tokio::test]
async fn labels_feedback_and_models_survive_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let emu = durable_emulator(data_dir.path()).await;
    let (c, _, _files) = setup(&emu, 300).await;
    c.runs()
        .start("sentiment-task", "reviews", None)
        .await
        .unwrap();
    c.runs()
        .wait_for_completion("sentiment-task", "reviews", quick(), |_| {})
        .await
        .unwrap();
    c.applications()
        .deploy("sentiment-task", Some("app"))
        .await
        .unwrap();
    let out = c
        .applications()
        .label("app", &reviews(3), &LabelOptions::new())
        .await
        .unwrap();
    let uuid = out[1].as_ref().unwrap().refuel_uuid.clone().unwrap();
    c.applications()
        .feedback("app", &uuid, &[("sentiment", json!("positive"))])
        .await
        .unwrap();
    let model = c
        .finetuning()
        .start(
            "sentiment-task",
            "refuel-llm-v2-small",
            &Hyperparameters::default(),
            &[],
        )
        .await
        .unwrap();
    let before = c
        .items()
        .query_labeled("reviews", &ItemQuery::new().task("sentiment-task"))
        .await
        .unwrap();
    let log_before = c
        .items()
        .query_labeled(
            "app (application log)",
            &ItemQuery::new().task("sentiment-task"),
        )
        .await
        .unwrap();
    emu.shutdown().await;

    let emu = durable_emulator(data_dir.path()).await;
    let c = client(&emu, "p");
    assert_eq!(
        c.items()
            .query_labeled("reviews", &ItemQuery::new().task("sentiment-task"))
            .await
            .unwrap(),
        before
    );
    assert_eq!(
        c.items()
            .query_labeled(
                "app (application log)",
                &ItemQuery::new().task("sentiment-task")
            )
            .await
            .unwrap(),
        log_before
    );
    let run = c.runs().status("sentiment-task", "reviews").await.unwrap();
    assert_eq!(
        (run.status.clone(), run.metric("num_labeled")),
        (RunStatus::Completed, Some(300.0))
    );
    assert_eq!(c.applications().list().await.unwrap().len(), 1);
    assert_eq!(
        c.finetuning()
            .get(&model.id)
            .await
            .unwrap()
            .base_model
            .as_deref(),
        Some("refuel-llm-v2-small")
    );
    let item = c
        .applications()
        .labeled_item("app", &uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item.refuel_fields["sentiment"].label,
        vec![json!("positive")]
    );
}

#[tokio::test]
async fn a_run_killed_mid_way_resumes_after_a_restart() {
    // A slow model so that the kill lands mid-run; the binary is killed with SIGKILL.
    let (url, seen) = chat_server(Duration::from_millis(10)).await;
    let data = tempfile::tempdir().unwrap();
    let args = ["--labeler", "openai", "--openai-base-url", url.as_str()];
    let (mut child, base) = crate::emulator::spawn_binary_with(data.path(), &args);
    let c = client_for(&base, KEY, None);
    c.projects().create("p", "").await.unwrap();
    let c = c.with_project("p");
    let files = tempfile::tempdir().unwrap();
    upload_csv(&c, files.path(), "reviews", &to_csv(&reviews(3000))).await;
    c.tasks()
        .create("t", "reviews", "", &[sentiment_field()], None)
        .await
        .unwrap();
    c.runs().start("t", "reviews", None).await.unwrap();
    let mut labeled = 0.0;
    while labeled < 600.0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        labeled = c
            .runs()
            .status("t", "reviews")
            .await
            .unwrap()
            .metric("num_labeled")
            .unwrap_or(0.0);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, base) = crate::emulator::spawn_binary_with(data.path(), &args);
    let c = client_for(&base, KEY, Some("p"));
    let run = c
        .runs()
        .wait_for_completion(
            "t",
            "reviews",
            WaitOptions {
                poll_interval: Duration::from_millis(50),
                timeout: Duration::from_secs(120),
            },
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(run.metric("num_labeled"), Some(3000.0), "{run:?}");
    let items = c
        .items()
        .query_labeled("reviews", &ItemQuery::new().task("t"))
        .await
        .unwrap();
    assert!(
        items
            .iter()
            .all(|i| i.labels.len() == 1 && i.labels[0].llm_label.is_some())
    );
    // Each row was sent to the model once, but for the batch in flight at the kill.
    let calls = seen.lock().unwrap().len();
    assert!((3000..3000 + 500).contains(&calls), "{calls} model calls");
    let _ = child.kill();
    let _ = child.wait();
}

/// Support tickets for the routing task: three teams, two phrasings each, with ground truth
/// on the first `labeled` rows only.
fn tickets_csv(rows: usize, labeled: usize) -> (String, Vec<&'static str>) {
    const TEAMS: [(&str, [&str; 2]); 3] = [
        (
            "ledger",
            [
                "invoice {} was charged twice",
                "refund for invoice {} not received",
            ],
        ),
        (
            "identity",
            [
                "cannot reset my password for account {}",
                "two factor code for account {} never arrives",
            ],
        ),
        (
            "logistics",
            ["parcel {} stuck at the depot", "courier lost parcel {}"],
        ),
    ];
    let mut csv = String::from("id,text,gold_team\n");
    let mut expected = Vec::new();
    for i in 0..rows {
        let (team, phrasings) = TEAMS[i % 3];
        let text = phrasings[(i / 3) % 2].replace("{}", &(1000 + i).to_string());
        let gold = if i < labeled { team } else { "" };
        csv.push_str(&format!("{i},{text},{gold}\n"));
        expected.push(team);
    }
    (csv, expected)
}

/// One input row `{"text": text}`.
fn text_row(text: &str) -> Vec<Row> {
    vec![json!({ "text": text }).as_object().unwrap().clone()]
}

/// Labels one text with the router application: its label, confidence and explanation.
async fn route(c: &RefuelClient, text: &str, model: Option<&str>) -> (Vec<Value>, f64, String) {
    let mut opts = LabelOptions::new().explain(true);
    if let Some(m) = model {
        opts = opts.model(m);
    }
    let out = c
        .applications()
        .label("router-app", &text_row(text), &opts)
        .await
        .unwrap();
    let f = out.into_iter().next().unwrap().unwrap().refuel_fields["owner"].clone();
    (f.label, f.confidence.unwrap(), f.explanation.unwrap())
}

#[tokio::test]
async fn the_reference_labeler_learns_from_ground_truth_feedback_and_finetuning() {
    let data_dir = tempfile::tempdir().unwrap();
    let emu = durable_emulator(data_dir.path()).await;
    let c = client_with_project(&emu, "p").await;
    let files = tempfile::tempdir().unwrap();
    let (csv, expected) = tickets_csv(48, 24);
    upload_csv(&c, files.path(), "tickets", &csv).await;
    // No keyword lines, label names no built-in vocabulary knows: only examples can help.
    let field = TaskField::new("owner", FieldType::Classification)
        .labels(["ledger", "identity", "logistics"])
        .guidelines("Route the ticket to the team that owns it.")
        .input_column("text")
        .ground_truth_column("gold_team")
        .fallback_value("unrouted");
    c.tasks()
        .create("router", "tickets", "Support tickets.", &[field], None)
        .await
        .unwrap();
    c.runs().start("router", "tickets", None).await.unwrap();
    c.runs()
        .wait_for_completion("router", "tickets", quick(), |_| {})
        .await
        .unwrap();
    let labeled = c
        .items()
        .query_labeled("tickets", &ItemQuery::new().task("router"))
        .await
        .unwrap();
    assert_eq!(labeled.len(), 48);
    for item in &labeled {
        let i = item.fields["id"].as_i64().unwrap() as usize;
        let l = &item.labels[0];
        assert_eq!(l.label, Some(json!(expected[i])), "row {i}: {item:?}");
        let confidence = l.confidence.unwrap();
        // A row's own ground truth never counts: no labeled row matches itself exactly.
        assert!(
            confidence > 0.5 && confidence < 1.0,
            "row {i}: {confidence}"
        );
    }

    c.applications()
        .deploy("router", Some("router-app"))
        .await
        .unwrap();
    let label = |text, model| route(&c, text, model);
    // New rows follow the nearest ground truth; unrelated text falls back.
    let (l, _, why) = label("refund for invoice 77 never received", None).await;
    assert_eq!(l, vec![json!("ledger")]);
    assert!(why.contains("ground truth"), "{why}");
    let (l, conf, _) = label("the weather is nice today", None).await;
    assert_eq!((l, conf), (vec![json!("unrouted")], 0.0));

    // A human label becomes an example: the same text is labeled as the human said.
    let out = c
        .applications()
        .label(
            "router-app",
            &text_row("my cat walked on the keyboard"),
            &LabelOptions::new(),
        )
        .await
        .unwrap();
    let uuid = out[0].as_ref().unwrap().refuel_uuid.clone().unwrap();
    assert_eq!(
        out[0].as_ref().unwrap().refuel_fields["owner"].label,
        vec![json!("unrouted")]
    );
    c.applications()
        .feedback("router-app", &uuid, &[("owner", json!("identity"))])
        .await
        .unwrap();
    let (l, conf, why) = label("My cat walked on the keyboard!", None).await;
    assert_eq!((l, conf), (vec![json!("identity")], 1.0));
    assert!(why.contains("verified label"), "{why}");

    // A finetuned model labels with what it was trained on, which later feedback does not
    // change; its training survives a restart.
    let model = c
        .finetuning()
        .start(
            "router",
            "refuel-llm-v2-small",
            &Hyperparameters::default(),
            &["tickets", "router-app (application log)"],
        )
        .await
        .unwrap();
    let out = c
        .applications()
        .label(
            "router-app",
            &text_row("printer on fire"),
            &LabelOptions::new(),
        )
        .await
        .unwrap();
    let late = out[0].as_ref().unwrap().refuel_uuid.clone().unwrap();
    c.applications()
        .feedback("router-app", &late, &[("owner", json!("logistics"))])
        .await
        .unwrap();
    assert_eq!(
        label("printer on fire", None).await.0,
        vec![json!("logistics")]
    );
    emu.shutdown().await;
    let emu = durable_emulator(data_dir.path()).await;
    let c = client(&emu, "p");
    let label = |text, model| route(&c, text, model);
    let trained = Some(model.id.as_str());
    let (l, conf, why) = label("my cat walked on the keyboard", trained).await;
    assert_eq!((l, conf), (vec![json!("identity")], 1.0));
    assert!(why.contains("training example"), "{why}");
    // Ground truth rows were training data too, exact matches included.
    let (l, conf, _) = label("courier lost parcel 1005", trained).await;
    assert_eq!((l, conf), (vec![json!("logistics")], 1.0));
    // Feedback given after training is not in the model, but is in the task's examples.
    assert_eq!(
        label("printer on fire", trained).await.0,
        vec![json!("unrouted")]
    );
    assert_eq!(
        label("printer on fire", None).await.0,
        vec![json!("logistics")]
    );
}
