//! A labeler backed by an OpenAI-compatible chat-completions server.

use std::time::Duration;

use futures::future::BoxFuture;
use refuel_client::models::FieldType;
use serde_json::{Value, json};

use super::{FieldLabel, LabeledRow, Labeler, RowInput, RowKey, TaskSpec, as_input, field_inputs};

/// Where and how to reach an OpenAI-compatible server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API's base URL, e.g. `https://api.openai.com/v1` (`…/chat/completions` is added).
    pub base_url: String,
    /// The bearer key.
    pub api_key: Option<String>,
    /// The model used when a task names none.
    pub model: String,
    /// The timeout of one completion.
    pub timeout: Duration,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .finish()
    }
}

/// Labels each row with one chat completion asking for JSON.
///
/// The system message holds the task's context, then per field its name, type, guidelines,
/// allowed labels and fallback value, and the required answer shape:
/// `{"<field>": {"label": "...", "confidence": 0.0-1.0, "explanation": "..."}}` (a list of
/// labels for multilabel fields). The user message is the row's input columns as a JSON
/// object. `response_format` asks for a JSON object. A label outside a classification
/// field's labels becomes the fallback value; a missing confidence is reported as absent.
#[derive(Debug, Clone)]
pub struct OpenAiLabeler {
    config: OpenAiConfig,
    http: reqwest::Client,
}

impl OpenAiLabeler {
    /// A labeler for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { config, http })
    }

    fn prompt(task: &TaskSpec) -> String {
        let mut s = String::new();
        if !task.context.is_empty() {
            s.push_str(&task.context);
            s.push_str("\n\n");
        }
        s.push_str("Label the input. Fields:\n");
        for f in &task.fields {
            s.push_str(&format!("- \"{}\" ({})", f.name, f.field_type));
            if let Some(labels) = &f.labels {
                s.push_str(&format!(
                    ", one of {}",
                    serde_json::to_string(labels).unwrap_or_default()
                ));
                if f.field_type == FieldType::MultilabelClassification {
                    s.push_str(" (any number, as a list)");
                }
            }
            if let Some(g) = f.guidelines.as_deref().filter(|g| !g.is_empty()) {
                s.push_str(&format!(". Guidelines: {g}"));
            }
            s.push_str(&format!(
                ". If no answer fits, use \"{}\".\n",
                f.default_value.as_deref().unwrap_or("-")
            ));
        }
        s.push_str(
            "\nAnswer with only a JSON object mapping each field name to {\"label\": ..., \"confidence\": a number from 0 to 1, \"explanation\": \"one sentence\"}.",
        );
        s
    }
}

impl Labeler for OpenAiLabeler {
    fn model_name(&self, task: &TaskSpec) -> String {
        task.model
            .clone()
            .unwrap_or_else(|| self.config.model.clone())
    }

    fn provider(&self) -> &str {
        "openai-compatible"
    }

    fn label<'a>(
        &'a self,
        task: &'a TaskSpec,
        row: &'a RowInput,
        _origin: Option<RowKey>,
    ) -> BoxFuture<'a, Result<LabeledRow, String>> {
        // Labeled examples are the reference labeler's; the prompt carries none.
        Box::pin(async move {
            let mut inputs = serde_json::Map::new();
            for f in &task.fields {
                for (col, text) in field_inputs(f, row) {
                    if !task.fields.iter().any(|g| g.name == col) {
                        inputs.insert(col, Value::String(text));
                    }
                }
            }
            let body = json!({
                "model": self.model_name(task),
                "messages": [
                    {"role": "system", "content": Self::prompt(task)},
                    {"role": "user", "content": Value::Object(inputs).to_string()},
                ],
                "response_format": {"type": "json_object"},
                "temperature": 0,
            });
            let url = format!(
                "{}/chat/completions",
                self.config.base_url.trim_end_matches('/')
            );
            let mut req = self.http.post(&url).json(&body);
            if let Some(key) = &self.config.api_key {
                req = req.bearer_auth(key);
            }
            let resp = req.send().await.map_err(|e| {
                format!(
                    "the labeling model could not be reached: {}",
                    e.without_url()
                )
            })?;
            let status = resp.status();
            let text = resp
                .text()
                .await
                .map_err(|e| format!("the labeling model's answer was cut: {}", e.without_url()))?;
            if !status.is_success() {
                let excerpt: String = text.chars().take(300).collect();
                return Err(format!("the labeling model answered {status}: {excerpt}"));
            }
            parse_completion(task, &text)
        })
    }
}

/// Reads a chat completion into labels.
fn parse_completion(task: &TaskSpec, body: &str) -> Result<LabeledRow, String> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| format!("the labeling model's answer is not JSON: {e}"))?;
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("the labeling model's answer has no choices[0].message.content")?;
    let content = content
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    let answer: Value = serde_json::from_str(content).map_err(|e| {
        format!(
            "the labeling model did not answer with a JSON object ({e}): {}",
            content.chars().take(200).collect::<String>()
        )
    })?;
    let mut out = LabeledRow {
        prompt_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        ..Default::default()
    };
    let mut context = RowInput::new();
    for f in &task.fields {
        let fallback = Value::String(f.default_value.clone().unwrap_or_else(|| "-".into()));
        let entry = &answer[&f.name];
        let (raw_label, confidence, explanation) = match entry {
            Value::Object(o) => (
                o.get("label").cloned().unwrap_or(Value::Null),
                o.get("confidence")
                    .and_then(Value::as_f64)
                    .map(|c| c.clamp(0.0, 1.0)),
                o.get("explanation")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            Value::Null => (Value::Null, None, None),
            other => (other.clone(), None, None),
        };
        let allowed = f.labels.clone().unwrap_or_default();
        let in_labels = |s: &str| allowed.is_empty() || allowed.iter().any(|l| l == s);
        let llm_label = match (&f.field_type, raw_label) {
            (FieldType::MultilabelClassification, Value::Array(items)) => {
                let kept: Vec<Value> = items
                    .into_iter()
                    .filter(|i| i.as_str().is_some_and(in_labels))
                    .collect();
                if kept.is_empty() {
                    fallback.clone()
                } else {
                    Value::Array(kept)
                }
            }
            (FieldType::MultilabelClassification, Value::String(s)) if in_labels(&s) => {
                Value::Array(vec![Value::String(s)])
            }
            (FieldType::Classification, Value::String(s)) if in_labels(&s) => Value::String(s),
            (FieldType::AttributeExtraction, Value::String(s)) => Value::String(s),
            (FieldType::AttributeExtraction, Value::Number(n)) => Value::String(n.to_string()),
            _ => fallback.clone(),
        };
        let label = FieldLabel {
            confidence: if llm_label == fallback {
                confidence.or(Some(0.0))
            } else {
                confidence
            },
            llm_label,
            explanation,
            ..Default::default()
        };
        context.insert(f.name.clone(), as_input(&label));
        out.fields.push(label);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use refuel_client::models::Subtask;

    use super::*;

    #[test]
    fn parses_structured_answers_and_falls_back() {
        let task = TaskSpec {
            context: "reviews".into(),
            fields: vec![
                Subtask {
                    id: "s".into(),
                    name: "sentiment".into(),
                    field_type: FieldType::Classification,
                    guidelines: None,
                    labels: Some(vec!["positive".into(), "negative".into()]),
                    input_columns: vec!["text".into()],
                    default_value: Some("unsure".into()),
                    label_column: None,
                },
                Subtask {
                    id: "b".into(),
                    name: "brand".into(),
                    field_type: FieldType::AttributeExtraction,
                    guidelines: None,
                    labels: None,
                    input_columns: vec!["text".into()],
                    default_value: None,
                    label_column: None,
                },
            ],
            model: None,
            examples: Default::default(),
        };
        let body = json!({
            "choices": [{"message": {"content": "```json\n{\"sentiment\": {\"label\": \"positive\", \"confidence\": 0.93, \"explanation\": \"liked\"}, \"brand\": {\"label\": \"Acme\"}}\n```"}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 12}
        })
        .to_string();
        let out = parse_completion(&task, &body).unwrap();
        assert_eq!(out.fields[0].llm_label, json!("positive"));
        assert_eq!(out.fields[0].confidence, Some(0.93));
        assert_eq!(out.fields[1].llm_label, json!("Acme"));
        assert_eq!((out.prompt_tokens, out.completion_tokens), (40, 12));
        let off_list =
            json!({"choices": [{"message": {"content": "{\"sentiment\": {\"label\": \"meh\"}}"}}]})
                .to_string();
        let out = parse_completion(&task, &off_list).unwrap();
        assert_eq!(out.fields[0].llm_label, json!("unsure"));
        assert_eq!(out.fields[1].llm_label, json!("-"));
        assert!(
            parse_completion(&task, "{\"choices\": []}")
                .unwrap_err()
                .contains("choices[0]")
        );
        assert!(OpenAiLabeler::prompt(&task).contains("one of [\"positive\",\"negative\"]"));
    }
}
