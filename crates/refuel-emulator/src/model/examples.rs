//! Labeled examples of a task's fields (ground truth, human feedback, a finetuned model's
//! training data), indexed for the reference labeler's nearest-neighbour lookups.

use std::collections::HashMap;

/// A row of a dataset: where an example comes from, and which row is being labeled, so
/// that a row's own label never counts as its neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowKey {
    /// The dataset's process-unique serial.
    pub dataset: u64,
    /// The row's index in it.
    pub row: u32,
}

/// Where an example's label comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExampleSource {
    /// A human's label (feedback) on a row.
    Feedback,
    /// The row's value in the field's ground-truth column.
    GroundTruth,
    /// What a finetuned model was trained on.
    Training,
}

impl ExampleSource {
    /// How explanations name it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Feedback => "verified label",
            Self::GroundTruth => "ground truth",
            Self::Training => "training example",
        }
    }
}

/// One labeled example of a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The words of the field's inputs on that row (see `words`).
    pub words: Vec<String>,
    /// Its label: a string, or a list of strings for multilabel fields.
    pub label: serde_json::Value,
    /// Where the label comes from.
    pub source: ExampleSource,
    /// The row it was taken from, when it is a row of a dataset.
    pub origin: Option<RowKey>,
}

/// The most examples kept per field: the first ones in the order they are given.
pub(crate) const MAX_EXAMPLES: usize = 2_000;

/// Words held by more than this share of a field's examples (once there are at least
/// [`COMMON_MIN_EXAMPLES`]) do not propose candidates; they still count in similarities.
const COMMON_SHARE: usize = 5;
/// See [`COMMON_SHARE`].
const COMMON_MIN_EXAMPLES: usize = 50;

/// The examples of one field, with an index from each word to the examples holding it.
#[derive(Debug, Default)]
pub struct FieldExamples {
    examples: Vec<Example>,
    index: HashMap<String, Vec<u32>>,
}

impl FieldExamples {
    /// Indexes examples: the first [`MAX_EXAMPLES`] that have at least one word.
    pub fn new(examples: impl IntoIterator<Item = Example>) -> Self {
        let examples: Vec<Example> = examples
            .into_iter()
            .filter(|e| !e.words.is_empty())
            .take(MAX_EXAMPLES)
            .collect();
        let mut index: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, e) in examples.iter().enumerate() {
            for w in &e.words {
                index.entry(w.clone()).or_default().push(i as u32);
            }
        }
        Self { examples, index }
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// The examples, in order.
    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// The `k` examples most similar to a text's `words` (sorted and distinct) with a
    /// similarity of at least `min`, leaving out the example of row `exclude`. The
    /// similarity is the Jaccard index of the two word sets (shared words over all words);
    /// most similar first, ties in example order.
    pub fn nearest(
        &self,
        words: &[String],
        k: usize,
        min: f64,
        exclude: Option<RowKey>,
    ) -> Vec<(&Example, f64)> {
        if words.is_empty() || self.examples.is_empty() || k == 0 {
            return Vec::new();
        }
        let n = self.examples.len();
        let common = |holders: usize| n >= COMMON_MIN_EXAMPLES && holders * COMMON_SHARE > n;
        let mut proposed = vec![false; n];
        let mut any = false;
        for w in words {
            if let Some(holders) = self.index.get(w) {
                if !common(holders.len()) {
                    for &i in holders {
                        proposed[i as usize] = true;
                        any = true;
                    }
                }
            }
        }
        if !any {
            // Only common words (or none indexed): every example holding one of them.
            for w in words {
                for &i in self.index.get(w).map_or(&[][..], Vec::as_slice) {
                    proposed[i as usize] = true;
                }
            }
        }
        let mut scored: Vec<(usize, f64)> = proposed
            .iter()
            .enumerate()
            .filter(|(_, p)| **p)
            .filter(|(i, _)| exclude.is_none() || self.examples[*i].origin != exclude)
            .map(|(i, _)| (i, jaccard(words, &self.examples[i].words)))
            .filter(|(_, s)| *s >= min)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
            .into_iter()
            .take(k)
            .map(|(i, s)| (&self.examples[i], s))
            .collect()
    }
}

/// The Jaccard index of two sorted, distinct word lists.
fn jaccard(a: &[String], b: &[String]) -> f64 {
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let all = a.len() + b.len() - shared;
    if all == 0 {
        0.0
    } else {
        shared as f64 / all as f64
    }
}

/// The labeled examples of a task, one entry per field in the task's order.
#[derive(Debug, Default)]
pub struct TaskExamples {
    /// Per field, in the task's field order (a missing entry has none).
    pub fields: Vec<FieldExamples>,
    /// Whether these are what a finetuned model was trained on: they then come before
    /// the guidelines' keyword lines.
    pub trained: bool,
}

impl TaskExamples {
    /// The examples of field `i`, when it has any.
    pub fn field(&self, i: usize) -> Option<&FieldExamples> {
        self.fields.get(i).filter(|f| !f.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::words;

    fn ex(text: &str, label: &str, row: u32) -> Example {
        Example {
            words: words(text),
            label: serde_json::json!(label),
            source: ExampleSource::GroundTruth,
            origin: Some(RowKey { dataset: 1, row }),
        }
    }

    #[test]
    fn nearest_ranks_by_jaccard_and_leaves_out_the_row_itself() {
        let f = FieldExamples::new([
            ex("invoice charged twice", "billing", 0),
            ex("app crashes on login", "bug", 1),
            ex("charged twice this month", "billing", 2),
            ex("", "ignored", 3),
        ]);
        assert_eq!(f.len(), 3);
        let q = words("I was charged twice");
        let near = f.nearest(&q, 5, 0.1, None);
        assert_eq!(near.len(), 2);
        assert_eq!(near[0].0.label, "billing");
        // 2 shared of 5 words, then 2 of 6.
        assert!((near[0].1 - 0.4).abs() < 1e-9, "{near:?}");
        assert!((near[1].1 - 2.0 / 6.0).abs() < 1e-9);
        let own = words("app crashes on login");
        assert_eq!(f.nearest(&own, 1, 0.1, None)[0].1, 1.0);
        assert!(
            f.nearest(&own, 1, 0.1, Some(RowKey { dataset: 1, row: 1 }))
                .is_empty()
        );
        assert!(f.nearest(&q, 5, 0.9, None).is_empty());
    }

    #[test]
    fn common_words_alone_still_find_examples() {
        let many: Vec<Example> = (0..100)
            .map(|i| ex(&format!("the item {i}"), "x", i))
            .collect();
        let f = FieldExamples::new(many);
        let near = f.nearest(&words("the item"), 3, 0.1, None);
        assert_eq!(near.len(), 3);
        assert_eq!(near[0].0.origin.map(|o| o.row), Some(0));
    }
}
