//! The behaviours of filters and orders that the public contract leaves open, as a
//! parameter of query compilation and evaluation.

use std::borrow::Cow;
use std::cmp::Ordering;

/// How strings compare (in `=`, `<>`, `<`, `<=`, `>`, `>=`, `IN`) and order (ORDER BY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TextOrder {
    /// By UTF-8 bytes: case-sensitive, code-point order (the default).
    #[default]
    Bytes,
    /// By the `to_lowercase()` forms; ORDER BY then breaks ties between equal lowercase
    /// forms by bytes.
    CaseInsensitive,
}

/// Where NULLs sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NullOrder {
    /// Last ascending, first descending (the default; PostgreSQL's and DataFusion's).
    #[default]
    LastAscending,
    /// First ascending, last descending.
    FirstAscending,
}

/// What `LIKE`, `ILIKE`, `NOT LIKE` and `NOT ILIKE` match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LikeMatch {
    /// The value is a plain substring; `%` and `_` are ordinary characters (the default).
    #[default]
    Substring,
    /// The value is the SQL pattern `%value%`: `%` any run of characters, `_` any one
    /// character, `\` escapes the next character.
    Pattern,
}

/// The open behaviours of a query, all in one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Semantics {
    /// How strings compare and order.
    pub text: TextOrder,
    /// Where NULLs sort.
    pub nulls: NullOrder,
    /// What the LIKE family matches.
    pub like: LikeMatch,
}

impl Semantics {
    /// The emulator's documented behaviour (see its README).
    pub const DEFAULT: Self = Self {
        text: TextOrder::Bytes,
        nulls: NullOrder::LastAscending,
        like: LikeMatch::Substring,
    };

    /// Every open behaviour the other way round.
    pub const fn flipped() -> Self {
        Self {
            text: TextOrder::CaseInsensitive,
            nulls: NullOrder::FirstAscending,
            like: LikeMatch::Pattern,
        }
    }

    /// Compares two texts in a filter: equal lowercase forms are equal when case is ignored.
    pub fn compare_text(self, a: &str, b: &str) -> Ordering {
        match self.text {
            TextOrder::Bytes => a.as_bytes().cmp(b.as_bytes()),
            TextOrder::CaseInsensitive => fold(a).cmp(&fold(b)),
        }
    }

    /// Where a NULL goes relative to a non-NULL value when ascending (`Greater`: after it).
    pub fn null_vs_value(self) -> Ordering {
        match self.nulls {
            NullOrder::LastAscending => Ordering::Greater,
            NullOrder::FirstAscending => Ordering::Less,
        }
    }
}

/// The lowercase form of a text, borrowed when it has nothing to lowercase.
pub(super) fn fold(text: &str) -> Cow<'_, str> {
    if text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

/// The regular expression (unanchored, so it means `%pattern%`) of a SQL LIKE pattern:
/// `%` is any run of characters, `_` any one character, `\` makes the next character
/// literal (a trailing `\` is itself).
pub(super) fn like_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    let mut re = String::with_capacity(pattern.len() + 8);
    re.push_str("(?s)");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '\\' => {
                let literal = chars.next().unwrap_or('\\');
                re.push_str(&regex::escape(literal.encode_utf8(&mut [0; 4])));
            }
            other => re.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    regex::RegexBuilder::new(&re).size_limit(1 << 22).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let m = |p: &str, t: &str| like_regex(p).unwrap().is_match(t);
        assert!(m("a%c", "xxabbbcyy"));
        assert!(m("a_c", "abc"));
        assert!(!m("a_c", "ac"));
        assert!(m("50\\%", "is 50% off"));
        assert!(!m("50\\%", "is 500 off"));
        assert!(m("", "anything"));
        assert!(m("a.c", "a.c"));
        assert!(!m("a.c", "abc"));
        assert!(m("x_y", "x\ny"));
        assert!(m("end\\", "the end\\"));
    }

    #[test]
    fn text_comparison() {
        let d = Semantics::DEFAULT;
        let f = Semantics::flipped();
        assert_eq!(d.compare_text("B", "a"), Ordering::Less);
        assert_eq!(f.compare_text("B", "a"), Ordering::Greater);
        assert_eq!(f.compare_text("ÄPFEL", "äpfel"), Ordering::Equal);
        assert_eq!(d, Semantics::default());
    }
}
