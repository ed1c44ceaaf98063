//! Words of a text, as `SIMILAR` and the reference labeler see them.

/// The words of a text: runs of letters and digits, lowercased, sorted, distinct.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    out.sort();
    out.dedup();
    out
}
