//! The reference labeler's nearest neighbours: a field's label voted by the labeled
//! examples (ground truth, verified labels, training data) most similar to the input.

use refuel_client::models::Subtask;
use serde_json::Value;

use super::{ExampleSource, FieldExamples, FieldLabel, RowKey};

/// How many of the nearest examples vote.
pub(super) const NEIGHBOURS: usize = 5;
/// The least similarity (Jaccard index of the word sets) at which an example votes.
pub(super) const MIN_SIMILARITY: f64 = 0.3;
/// The confidence of an extraction copied from an example with the same words.
const SAME_INPUT_CONFIDENCE: f64 = 0.95;

/// One label's votes.
#[derive(Debug)]
struct Vote {
    label: String,
    /// Its place among the field's labels (unlisted labels after them, as first seen).
    rank: usize,
    /// The summed similarity of the examples voting for it.
    weight: f64,
    /// How many examples voted for it.
    count: usize,
    /// The closest of them: its similarity and source.
    best: (f64, ExampleSource),
}

/// The label names of an example's label: a list's strings, a JSON list written as a
/// string, or a string split at `,`, `;` or `|` (for multilabel fields); the string
/// itself otherwise.
fn label_names(label: &Value, multi: bool) -> Vec<String> {
    match label {
        Value::String(s) if multi => {
            if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(s) {
                return label_names(&Value::Array(items), true);
            }
            s.split([',', ';', '|'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }
        Value::String(s) => vec![s.trim().to_string()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.trim().to_string()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// A label name as the field lists it (any case) with its place in the list, or as it is
/// (no place) when the field lists no labels; `None` when the field lists labels and this
/// is not one of them.
fn canonical(field: &Subtask, name: &str) -> Option<(String, Option<usize>)> {
    let labels = field.labels.as_deref().unwrap_or_default();
    if labels.is_empty() {
        return Some((name.to_string(), None));
    }
    labels
        .iter()
        .position(|l| l.trim().eq_ignore_ascii_case(name))
        .map(|i| (labels[i].clone(), Some(i)))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// A vote's confidence: its share of the votes, scaled by how close its closest example is
/// (an exact, unanimous match gives 1).
fn confidence(v: &Vote, total: f64) -> f64 {
    round4(v.weight / total * (0.5 + 0.5 * v.best.0))
}

/// A (multilabel) classification voted by the nearest examples; `None` when no example
/// with a label of the field is similar enough.
pub(super) fn classify(
    field: &Subtask,
    examples: &FieldExamples,
    input: &[String],
    origin: Option<RowKey>,
    multi: bool,
) -> Option<FieldLabel> {
    let near = examples.nearest(input, NEIGHBOURS, MIN_SIMILARITY, origin);
    let mut votes: Vec<Vote> = Vec::new();
    let (mut total, mut voters) = (0.0, 0usize);
    for (example, sim) in &near {
        let mut voted = false;
        for name in label_names(&example.label, multi) {
            let Some((label, rank)) = canonical(field, &name) else {
                continue;
            };
            let rank = rank.unwrap_or(usize::MAX / 2 + votes.len());
            let vote = match votes.iter_mut().find(|v| v.label == label) {
                Some(v) => v,
                None => {
                    votes.push(Vote {
                        label,
                        rank,
                        weight: 0.0,
                        count: 0,
                        best: (*sim, example.source),
                    });
                    votes.last_mut()?
                }
            };
            vote.weight += sim;
            vote.count += 1;
            voted = true;
        }
        if voted {
            total += sim;
            voters += 1;
        }
    }
    if votes.is_empty() || total <= 0.0 {
        return None;
    }
    votes.sort_by_key(|v| v.rank);
    let describe = |v: &Vote| {
        format!(
            "'{}' by {} of {voters} nearest labeled examples (closest: {} at similarity {:.2})",
            v.label,
            v.count,
            v.best.1.describe(),
            v.best.0
        )
    };
    if multi {
        let chosen: Vec<&Vote> = votes.iter().filter(|v| v.weight * 2.0 >= total).collect();
        if chosen.is_empty() {
            return None;
        }
        let confs: Vec<f64> = chosen.iter().map(|v| confidence(v, total)).collect();
        let mean = round4(confs.iter().sum::<f64>() / confs.len() as f64);
        return Some(FieldLabel {
            llm_label: Value::Array(
                chosen
                    .iter()
                    .map(|v| Value::String(v.label.clone()))
                    .collect(),
            ),
            confidence: Some(mean),
            multilabel_confidence: Some(confs),
            explanation: Some(
                chosen
                    .iter()
                    .map(|v| describe(v))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            error: None,
        });
    }
    // The most weight wins; ties go to the label listed first.
    let mut best = &votes[0];
    for v in &votes[1..] {
        if v.weight > best.weight {
            best = v;
        }
    }
    Some(FieldLabel {
        llm_label: Value::String(best.label.clone()),
        confidence: Some(confidence(best, total)),
        explanation: Some(describe(best)),
        ..Default::default()
    })
}

/// An extraction copied from an example with the same words as the input (the nearest
/// one, in example order); `None` when there is none.
pub(super) fn extract(
    examples: &FieldExamples,
    input: &[String],
    origin: Option<RowKey>,
) -> Option<FieldLabel> {
    let (example, _) = examples.nearest(input, 1, 1.0, origin).into_iter().next()?;
    let value = match &example.label {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => label_names(other, true).join(", "),
    };
    Some(FieldLabel {
        llm_label: Value::String(value),
        confidence: Some(SAME_INPUT_CONFIDENCE),
        explanation: Some(format!(
            "copied from a {} with the same input",
            example.source.describe()
        )),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use refuel_client::models::FieldType;

    use super::*;
    use crate::model::{Example, words};

    fn field(ty: FieldType, labels: &[&str]) -> Subtask {
        Subtask {
            id: "f".into(),
            name: "f".into(),
            field_type: ty,
            guidelines: None,
            labels: Some(labels.iter().map(|s| s.to_string()).collect()),
            input_columns: vec!["text".into()],
            default_value: None,
            label_column: None,
        }
    }

    fn ex(text: &str, label: Value, row: u32) -> Example {
        Example {
            words: words(text),
            label,
            source: ExampleSource::GroundTruth,
            origin: Some(RowKey { dataset: 7, row }),
        }
    }

    #[test]
    fn classification_votes_by_similarity_and_canonicalises_labels() {
        let f = field(FieldType::Classification, &["billing", "bug"]);
        let examples = FieldExamples::new([
            ex("charged twice for my plan", "Billing".into(), 0),
            ex("refund the double charge", "billing".into(), 1),
            ex("the app crashes when I open the plan page", "bug".into(), 2),
            ex("charged twice", "not a label".into(), 3),
        ]);
        let out = classify(
            &f,
            &examples,
            &words("I was charged twice for the plan"),
            None,
            false,
        )
        .unwrap();
        assert_eq!(out.llm_label, "billing");
        let c = out.confidence.unwrap();
        assert!(c > 0.5 && c < 1.0, "{c}");
        assert!(out.explanation.unwrap().contains("ground truth"));
        // Exact and unanimous: confidence 1.
        let out = classify(
            &f,
            &examples,
            &words("refund the double charge"),
            None,
            false,
        )
        .unwrap();
        assert_eq!(
            (out.llm_label, out.confidence),
            ("billing".into(), Some(1.0))
        );
        // Its own row does not count.
        assert!(
            classify(
                &f,
                &examples,
                &words("refund the double charge"),
                Some(RowKey { dataset: 7, row: 1 }),
                false
            )
            .is_none()
        );
        assert!(classify(&f, &examples, &words("tuesday"), None, false).is_none());
    }

    #[test]
    fn multilabel_takes_labels_with_half_the_votes_and_extraction_needs_the_same_words() {
        let f = field(
            FieldType::MultilabelClassification,
            &["battery", "screen", "price"],
        );
        let examples = FieldExamples::new([
            ex(
                "battery and screen died",
                serde_json::json!(["battery", "screen"]),
                0,
            ),
            ex("battery and screen broke", "battery, screen".into(), 1),
            ex("battery died", "[\"battery\"]".into(), 2),
        ]);
        let out = classify(&f, &examples, &words("battery and screen died"), None, true).unwrap();
        assert_eq!(out.llm_label, serde_json::json!(["battery", "screen"]));
        assert_eq!(out.multilabel_confidence.as_ref().map(Vec::len), Some(2));
        let x = FieldExamples::new([ex("order 42 from Acme", "Acme".into(), 0)]);
        let out = extract(&x, &words("from acme, order 42"), None).unwrap();
        assert_eq!((out.llm_label, out.confidence), ("Acme".into(), Some(0.95)));
        assert!(extract(&x, &words("order 43 from Acme"), None).is_none());
    }
}
