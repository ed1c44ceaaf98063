//! The reference labeler: deterministic rules, no model.

use futures::future::BoxFuture;
use refuel_client::models::{FieldType, Subtask};

use super::{
    FieldExamples, FieldLabel, LabeledRow, Labeler, RowInput, RowKey, TaskSpec, as_input,
    field_inputs, neighbours,
};
use crate::model::words;

/// Labels by documented rules, offline and deterministically. **Not an LLM.**
///
/// The input text of a field is its input columns' values (earlier fields' labels for
/// columns naming a field), joined with spaces; its words are runs of letters and digits,
/// lowercased.
///
/// A field's label comes from the first of these rules that gives one:
/// 1. **A finetuned model's training data** (when the task or request names one of the
///    team's finetuned models): the nearest training examples vote, as in rule 3.
/// 2. **Keyword lines**: when the guidelines have a line `<label>: word, word, ...` (any
///    case) for any label, or a `regex: PATTERN` line for an extraction, those lines alone
///    decide (so labels stay what they were before examples existed).
/// 3. **Nearest labeled examples**: the task's verified (feedback) labels and its
///    ground-truth column (`store/examples.rs`; a row's own label never counts for that
///    row). The 5 examples most similar to the input vote, each with its similarity, the
///    Jaccard index of the two word sets, if at least 0.3. Classification: the label with
///    the most weight wins (ties: the label listed first); confidence is its share of the
///    weight times `(1 + closest similarity) / 2`, so an exact, unanimous match gives 1.
///    Multilabel: every label with at least half the weight. Extraction: only an example
///    with the same words counts; its label is copied, confidence 0.95.
/// 4. **Built-in vocabulary** (`labeler/vocabulary.rs`), for classification fields without
///    keyword lines: a small sentiment lexicon for labels named like `positive`,
///    `negative`, `neutral`, and words for common label names (`shipping`, `price`,
///    `quality`, `support`, `usability`, `billing`, `bug`, ...).
/// 5. Otherwise the field's fallback value (`default_value`, `-` when unset), confidence 0;
///    an extraction without a regex line copies its first input column's text instead
///    (trimmed to 200 characters, confidence 0.5).
///
/// Keyword scoring (rules 2 and 4): each label's keywords are the words of the label
/// itself plus its keyword line's (or the vocabulary's) words; a label's score is how many
/// of the input's words are among them. Classification: the best score wins (ties go to the
/// label listed first), with confidence `(best + 1) / (best + second + 2)`, rounded to 4
/// decimals: 0.5 for a tie, towards 1 as the margin grows. Multilabel: every label with a
/// score above 0, in label order, each with confidence `score / (score + 1)`; the field's
/// confidence is their mean. Extraction by regex: the first match in the input text (its
/// first group when it has one), confidence 0.9; no match: the fallback value.
///
/// The explanation names the matched keywords or the voting examples. Token counts (for
/// telemetry): the input's words read, the label's words written.
#[derive(Debug, Clone, Default)]
pub struct ReferenceLabeler;

impl Labeler for ReferenceLabeler {
    fn model_name(&self, task: &TaskSpec) -> String {
        match &task.model {
            Some(m) => format!("reference-labeler ({m} requested)"),
            None => "reference-labeler".to_string(),
        }
    }

    fn provider(&self) -> &str {
        "refuel-emulator"
    }

    fn labels_now(&self) -> bool {
        true
    }

    fn label_now(
        &self,
        task: &TaskSpec,
        row: &RowInput,
        origin: Option<RowKey>,
    ) -> Option<Result<LabeledRow, String>> {
        Some(Ok(label_row(task, row, origin)))
    }

    fn label<'a>(
        &'a self,
        task: &'a TaskSpec,
        row: &'a RowInput,
        origin: Option<RowKey>,
    ) -> BoxFuture<'a, Result<LabeledRow, String>> {
        Box::pin(async move { Ok(label_row(task, row, origin)) })
    }
}

/// Labels a row by the reference rules (synchronously).
pub(super) fn label_row(task: &TaskSpec, row: &RowInput, origin: Option<RowKey>) -> LabeledRow {
    let mut context = row.clone();
    let mut out = LabeledRow::default();
    let trained = task.examples.trained;
    for (i, field) in task.fields.iter().enumerate() {
        let examples = task.examples.field(i);
        let inputs = field_inputs(field, &context);
        let text: String = inputs
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let input_words = words(&text);
        out.prompt_tokens += input_words.len() as u64;
        let label = match &field.field_type {
            FieldType::Classification => {
                classify(field, examples, trained, &input_words, origin, false)
            }
            FieldType::MultilabelClassification => {
                classify(field, examples, trained, &input_words, origin, true)
            }
            _ => {
                let same = || examples.and_then(|e| neighbours::extract(e, &input_words, origin));
                if trained {
                    same().unwrap_or_else(|| extract(field, &inputs, &text, same))
                } else {
                    extract(field, &inputs, &text, same)
                }
            }
        };
        out.completion_tokens += words(
            &super::label_text(&label.llm_label)
                .render()
                .unwrap_or_default(),
        )
        .len()
        .max(1) as u64;
        context.insert(field.name.clone(), as_input(&label));
        out.fields.push(label);
    }
    out
}

fn fallback(field: &Subtask) -> serde_json::Value {
    serde_json::Value::String(
        field
            .default_value
            .clone()
            .unwrap_or_else(|| "-".to_string()),
    )
}

/// Whether the guidelines have a keyword line (`<label>: ...`) for any of the field's labels.
fn has_keyword_lines(field: &Subtask) -> bool {
    let labels = field.labels.as_deref().unwrap_or_default();
    field.guidelines.as_deref().is_some_and(|g| {
        g.lines().any(|line| {
            line.split_once(':').is_some_and(|(head, _)| {
                labels
                    .iter()
                    .any(|l| head.trim().eq_ignore_ascii_case(l.trim()))
            })
        })
    })
}

fn keywords(field: &Subtask, label: &str, builtin: bool) -> Vec<String> {
    let mut kws = words(label);
    if builtin {
        let own = kws.clone();
        kws.extend(
            super::vocabulary::words_for(&own)
                .into_iter()
                .map(str::to_string),
        );
    }
    if let Some(guidelines) = &field.guidelines {
        for line in guidelines.lines() {
            if let Some((head, rest)) = line.split_once(':') {
                if head.trim().eq_ignore_ascii_case(label.trim()) {
                    kws.extend(words(rest));
                }
            }
        }
    }
    kws.sort();
    kws.dedup();
    kws
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// A (multilabel) classification, by the first rule that gives one: a finetuned model's
/// training examples; the guidelines' keyword lines when the field has any (they alone
/// decide then); else the nearest labeled examples, then the built-in vocabulary; else the
/// fallback value.
fn classify(
    field: &Subtask,
    examples: Option<&FieldExamples>,
    trained: bool,
    input: &[String],
    origin: Option<RowKey>,
    multi: bool,
) -> FieldLabel {
    let keyed = has_keyword_lines(field);
    let near = || examples.and_then(|e| neighbours::classify(field, e, input, origin, multi));
    let found = if trained {
        near().or_else(|| by_keywords(field, input, multi, !keyed))
    } else if keyed {
        by_keywords(field, input, multi, false)
    } else {
        near().or_else(|| by_keywords(field, input, multi, true))
    };
    found.unwrap_or_else(|| FieldLabel {
        llm_label: fallback(field),
        confidence: Some(0.0),
        explanation: Some(
            "no keyword of any label appears in the input, and no labeled example is similar"
                .into(),
        ),
        ..Default::default()
    })
}

/// A (multilabel) classification by keywords: the guidelines' keyword lines, or the
/// built-in vocabulary with `builtin`; `None` when no keyword appears in the input.
fn by_keywords(
    field: &Subtask,
    input: &[String],
    multi: bool,
    builtin: bool,
) -> Option<FieldLabel> {
    let labels = field.labels.clone().unwrap_or_default();
    let scored: Vec<(String, usize, Vec<String>)> = labels
        .iter()
        .map(|l| {
            let kws = keywords(field, l, builtin);
            let hits: Vec<String> = input
                .iter()
                .filter(|w| kws.binary_search(w).is_ok())
                .cloned()
                .collect();
            (l.clone(), hits.len(), hits)
        })
        .collect();
    if multi {
        let chosen: Vec<&(String, usize, Vec<String>)> =
            scored.iter().filter(|s| s.1 > 0).collect();
        if chosen.is_empty() {
            return None;
        }
        let confs: Vec<f64> = chosen
            .iter()
            .map(|s| round4(s.1 as f64 / (s.1 as f64 + 1.0)))
            .collect();
        let mean = round4(confs.iter().sum::<f64>() / confs.len() as f64);
        let explanation = chosen
            .iter()
            .map(|s| format!("'{}' matched {}", s.0, s.2.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        return Some(FieldLabel {
            llm_label: serde_json::Value::Array(
                chosen
                    .iter()
                    .map(|s| serde_json::Value::String(s.0.clone()))
                    .collect(),
            ),
            confidence: Some(mean),
            multilabel_confidence: Some(confs),
            explanation: Some(explanation),
            error: None,
        });
    }
    let mut best: Option<&(String, usize, Vec<String>)> = None;
    for s in &scored {
        if best.is_none_or(|b| s.1 > b.1) {
            best = Some(s);
        }
    }
    best.filter(|b| b.1 > 0).map(|b| {
        let second = scored
            .iter()
            .filter(|s| !std::ptr::eq(*s, b))
            .map(|s| s.1)
            .max()
            .unwrap_or(0);
        let confidence = round4((b.1 as f64 + 1.0) / (b.1 as f64 + second as f64 + 2.0));
        FieldLabel {
            llm_label: serde_json::Value::String(b.0.clone()),
            confidence: Some(confidence),
            explanation: Some(format!(
                "'{}' matched {} (score {} against {} for the next label)",
                b.0,
                b.2.join(", "),
                b.1,
                second
            )),
            ..Default::default()
        }
    })
}

/// An extraction: by the guidelines' `regex:` line when there is one (it alone decides);
/// else copied from an example with the same words (`same`); else the first input
/// column's text, or the fallback value for an empty input.
fn extract(
    field: &Subtask,
    inputs: &[(String, String)],
    text: &str,
    same: impl Fn() -> Option<FieldLabel>,
) -> FieldLabel {
    let pattern = field.guidelines.as_deref().and_then(|g| {
        g.lines().find_map(|l| {
            let l = l.trim();
            l.strip_prefix("regex:")
                .or_else(|| l.strip_prefix("Regex:"))
                .map(|p| p.trim().to_string())
        })
    });
    if let Some(pattern) = pattern {
        return match regex::Regex::new(&pattern) {
            Ok(re) => match re.captures(text) {
                Some(caps) => {
                    let m = caps
                        .get(1)
                        .or_else(|| caps.get(0))
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_default();
                    FieldLabel {
                        llm_label: serde_json::Value::String(m.clone()),
                        confidence: Some(0.9),
                        explanation: Some(format!("'{m}' matches /{pattern}/")),
                        ..Default::default()
                    }
                }
                None => FieldLabel {
                    llm_label: fallback(field),
                    confidence: Some(0.0),
                    explanation: Some(format!("nothing matches /{pattern}/")),
                    ..Default::default()
                },
            },
            Err(e) => FieldLabel {
                llm_label: fallback(field),
                confidence: Some(0.0),
                error: Some(format!("invalid regex in the guidelines: {e}")),
                ..Default::default()
            },
        };
    }
    if let Some(label) = same() {
        return label;
    }
    let first = inputs.first().map(|(_, t)| t.trim()).unwrap_or("");
    if first.is_empty() {
        return FieldLabel {
            llm_label: fallback(field),
            confidence: Some(0.0),
            explanation: Some("the input is empty".into()),
            ..Default::default()
        };
    }
    let value: String = first.chars().take(200).collect();
    FieldLabel {
        llm_label: serde_json::Value::String(value),
        confidence: Some(0.5),
        explanation: Some("copied from the first input column (no regex in the guidelines)".into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Cell;

    fn field(name: &str, ty: FieldType, labels: &[&str], guidelines: &str) -> Subtask {
        Subtask {
            id: format!("{name}-id"),
            name: name.into(),
            field_type: ty,
            guidelines: Some(guidelines.into()),
            labels: Some(labels.iter().map(|s| s.to_string()).collect()),
            input_columns: vec!["text".into()],
            default_value: Some("unknown".into()),
            label_column: None,
        }
    }

    fn row(text: &str) -> RowInput {
        let mut r = RowInput::new();
        r.insert("text".into(), Cell::Str(text.into()));
        r
    }

    #[test]
    fn classification_scores_keywords_and_margins() {
        let spec = TaskSpec {
            context: String::new(),
            fields: vec![field(
                "sentiment",
                FieldType::Classification,
                &["positive", "negative"],
                "positive: great, love, excellent\nnegative: broken, refund, awful",
            )],
            model: None,
            examples: Default::default(),
        };
        let out = label_row(&spec, &row("Great phone, I love it"), None);
        assert_eq!(out.fields[0].llm_label, serde_json::json!("positive"));
        assert_eq!(out.fields[0].confidence, Some(0.75)); // (2+1)/(2+0+2)
        let out = label_row(&spec, &row("great but broken, awful"), None);
        assert_eq!(out.fields[0].llm_label, serde_json::json!("negative"));
        assert_eq!(out.fields[0].confidence, Some(0.6)); // (2+1)/(2+1+2)
        let out = label_row(&spec, &row("it arrived on tuesday"), None);
        assert_eq!(out.fields[0].llm_label, serde_json::json!("unknown"));
        assert_eq!(out.fields[0].confidence, Some(0.0));
        // Deterministic.
        assert_eq!(
            label_row(&spec, &row("great"), None).fields,
            label_row(&spec, &row("great"), None).fields
        );
    }

    #[test]
    fn multilabel_and_extraction() {
        let spec = TaskSpec {
            context: String::new(),
            fields: vec![
                field(
                    "topics",
                    FieldType::MultilabelClassification,
                    &["battery", "screen", "price"],
                    "price: cheap, expensive",
                ),
                field(
                    "amount",
                    FieldType::AttributeExtraction,
                    &[],
                    "regex: \\$(\\d+)",
                ),
            ],
            model: None,
            examples: Default::default(),
        };
        let out = label_row(
            &spec,
            &row("battery died, screen cracked, paid $120, too expensive"),
            None,
        );
        assert_eq!(
            out.fields[0].llm_label,
            serde_json::json!(["battery", "screen", "price"])
        );
        assert_eq!(
            out.fields[0].multilabel_confidence,
            Some(vec![0.5, 0.5, 0.5])
        );
        assert_eq!(out.fields[1].llm_label, serde_json::json!("120"));
        assert_eq!(out.fields[1].confidence, Some(0.9));
    }

    #[test]
    fn fields_without_keyword_lines_use_the_built_in_vocabulary() {
        let plain = field(
            "sentiment",
            FieldType::Classification,
            &["positive", "negative", "neutral"],
            "How does the customer feel?",
        );
        let spec = TaskSpec {
            context: String::new(),
            fields: vec![plain.clone()],
            model: None,
            examples: Default::default(),
        };
        let label = |text: &str| {
            label_row(&spec, &row(text), None).fields[0]
                .llm_label
                .clone()
        };
        assert_eq!(label("I love it, works perfectly"), "positive");
        assert_eq!(label("Arrived broken, I want a refund"), "negative");
        assert_eq!(label("It is okay, about what I expected"), "neutral");
        assert_eq!(label("tuesday"), "unknown");
        // A keyword line for any label: the guidelines alone decide, as before.
        let keyed = field(
            "sentiment",
            FieldType::Classification,
            &["positive", "negative"],
            "positive: splendid",
        );
        let spec = TaskSpec {
            context: String::new(),
            fields: vec![keyed],
            model: None,
            examples: Default::default(),
        };
        assert_eq!(
            label_row(&spec, &row("I love it"), None).fields[0].llm_label,
            "unknown"
        );
    }
}
