//! The reference labeler's built-in vocabulary, for classification fields whose guidelines
//! give no keyword lines: a small sentiment lexicon and synonyms of common label names.
//! Deterministic and fixed; a label whose name is in none of the groups keeps only its own
//! name's words.

/// Groups of label names (any of the label's words) and the words that vote for them.
const GROUPS: &[(&[&str], &[&str])] = &[
    (
        &[
            "positive",
            "pos",
            "good",
            "happy",
            "satisfied",
            "praise",
            "promoter",
        ],
        &[
            "good",
            "great",
            "love",
            "loved",
            "loves",
            "excellent",
            "perfect",
            "perfectly",
            "amazing",
            "awesome",
            "happy",
            "best",
            "fantastic",
            "wonderful",
            "recommend",
            "nice",
            "pleased",
            "satisfied",
            "beautiful",
            "impressed",
            "superb",
            "brilliant",
            "glad",
            "enjoy",
            "enjoyed",
            "favorite",
            "thanks",
            "worth",
        ],
    ),
    (
        &[
            "negative",
            "neg",
            "bad",
            "unhappy",
            "complaint",
            "dissatisfied",
            "detractor",
        ],
        &[
            "bad",
            "broken",
            "broke",
            "terrible",
            "awful",
            "worst",
            "hate",
            "hated",
            "poor",
            "refund",
            "returned",
            "disappointed",
            "disappointing",
            "useless",
            "defective",
            "waste",
            "problem",
            "problems",
            "horrible",
            "angry",
            "unacceptable",
            "faulty",
            "damaged",
            "missing",
            "wrong",
            "never",
            "late",
        ],
    ),
    (
        &["neutral", "mixed", "average"],
        &[
            "okay", "ok", "fine", "average", "decent", "expected", "alright", "mediocre",
        ],
    ),
    (
        &["shipping", "delivery", "logistics", "shipment"],
        &[
            "shipping",
            "shipped",
            "delivery",
            "delivered",
            "arrived",
            "arrival",
            "late",
            "package",
            "courier",
            "tracking",
            "box",
            "parcel",
            "days",
            "weeks",
        ],
    ),
    (
        &["price", "pricing", "cost", "value", "money"],
        &[
            "price",
            "expensive",
            "cheap",
            "cost",
            "costs",
            "money",
            "worth",
            "overpriced",
            "discount",
            "deal",
            "value",
            "affordable",
            "pricey",
        ],
    ),
    (
        &["quality", "defect", "durability"],
        &[
            "quality",
            "broken",
            "broke",
            "defective",
            "sturdy",
            "durable",
            "flimsy",
            "cracked",
            "faulty",
            "solid",
            "materials",
            "build",
            "lasted",
            "stopped",
        ],
    ),
    (
        &["support", "service", "help"],
        &[
            "support",
            "service",
            "help",
            "agent",
            "response",
            "rude",
            "helpful",
            "staff",
            "representative",
            "contacted",
            "replied",
            "email",
            "call",
        ],
    ),
    (
        &["usability", "ux", "ease", "usage"],
        &[
            "easy",
            "intuitive",
            "confusing",
            "difficult",
            "setup",
            "simple",
            "interface",
            "instructions",
            "manual",
            "complicated",
            "use",
        ],
    ),
    (
        &["billing", "payment", "invoice", "charge"],
        &[
            "bill",
            "billing",
            "billed",
            "charged",
            "charge",
            "invoice",
            "payment",
            "refund",
            "subscription",
            "card",
            "paid",
        ],
    ),
    (
        &["bug", "technical", "outage", "error"],
        &[
            "bug", "crash", "crashes", "crashed", "error", "outage", "down", "fails", "failed",
            "glitch", "freezes", "broken",
        ],
    ),
];

/// The built-in words that vote for a label named `label` (lowercased words of its name
/// matched against each group's names; empty when none matches).
pub(super) fn words_for(label_words: &[String]) -> Vec<&'static str> {
    GROUPS
        .iter()
        .filter(|(names, _)| label_words.iter().any(|w| names.contains(&w.as_str())))
        .flat_map(|(_, words)| words.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_find_their_group() {
        let w = words_for(&["positive".to_string()]);
        assert!(w.contains(&"love"));
        let w = words_for(&["customer".to_string(), "support".to_string()]);
        assert!(w.contains(&"agent"));
        assert!(words_for(&["apple".to_string()]).is_empty());
    }
}
