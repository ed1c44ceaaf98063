//! What a server does where the public contract leaves it open.
//!
//! The wire contract does not pin down how the API compares and orders text, how a `number`
//! column compares with values sent as text, where NULLs sort, whether `LIKE` is a plain
//! substring for every value, which regular-expression dialect `~*` speaks, or how many
//! rows a page may hold. Pushing a SQL predicate or `ORDER BY` into the API is only safe
//! where the server's answer equals SQL's, so each of these is a named setting of the
//! server a client talks to, [`ServerSemantics`]:
//!
//! - [`ServerSemantics::conservative`] (the default, for any server we do not know) assumes
//!   nothing that could change a result, except that a column the server types `number`
//!   compares and orders numerically (both SDKs type such columns as numbers; a server
//!   that ordered them as text would contradict its own schema);
//! - [`ServerSemantics::emulator`] is what our emulator documents (its README): binary text
//!   order, NULLs last ascending, literal substrings, the Rust regex dialect;
//! - any other server's behaviour can be declared in configuration, as text:
//!   `REFUEL_SERVER_SEMANTICS="conservative,null_order=last"` (a preset, then settings).
//!
//! [`ServerSemantics`] is read by the SQL layer to decide what it pushes; the text form is
//! what `EXPLAIN` shows next to a pushed predicate or order that relies on a setting.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Environment variable declaring the server's semantics (see [`ServerSemantics::from_str`]).
pub const ENV_SERVER_SEMANTICS: &str = "REFUEL_SERVER_SEMANTICS";

/// How the server compares and orders text values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextOrder {
    /// By UTF-8 bytes (code points), case-sensitive: SQL's default (`binary`).
    Binary,
    /// Not known: text comparisons other than equality, and text orders, are not pushed;
    /// equality is pushed as a superset the engine re-checks (`unknown`).
    Unknown,
}

/// How the server compares and orders a `number` column with values sent as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberOrder {
    /// As numbers (`numeric`).
    Numeric,
    /// Not known: no comparison or order on numbers is pushed (`unknown`).
    Unknown,
}

/// Where the server sorts NULLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NullOrder {
    /// Last ascending, first descending, as PostgreSQL and DataFusion (`last`).
    LastAscending,
    /// First ascending, last descending (`first`).
    FirstAscending,
    /// Not known (`unknown`): an order is pushed with NULL and non-NULL rows asked for
    /// separately (`IS NULL` / `IS NOT NULL`), so their placement never matters.
    Unknown,
}

/// What `LIKE`/`ILIKE` do with their value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubstringMatch {
    /// The value is a plain substring: `%` and `_` are ordinary characters; `LIKE` is
    /// case-sensitive (`literal`).
    Literal,
    /// Not known (`unknown`): the server's matches are assumed to include every row that
    /// holds the value as a substring (wildcards or case folding only add rows), so `LIKE`
    /// is pushed as a superset the engine re-checks and `NOT LIKE` is not pushed.
    Unknown,
}

/// The regular-expression dialect of `~*` / `!~*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegexDialect {
    /// The Rust `regex` crate's syntax, as DataFusion's (`rust`).
    Rust,
    /// Not known: regular expressions are not pushed (`unknown`).
    Unknown,
}

/// What the server does where the public contract leaves it open. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerSemantics {
    /// `text_order`.
    pub text_order: TextOrder,
    /// `number_order`.
    pub number_order: NumberOrder,
    /// `null_order`.
    pub null_order: NullOrder,
    /// `like`.
    pub like: SubstringMatch,
    /// `regex`.
    pub regex: RegexDialect,
    /// `max_page_rows`: the most rows the server answers in one page, when known. Pages
    /// are asked for in this size; a page answered shorter is continued either way, so
    /// this changes speed, never a result.
    pub max_page_rows: Option<u64>,
}

impl Default for ServerSemantics {
    fn default() -> Self {
        Self::conservative()
    }
}

impl ServerSemantics {
    /// Nothing assumed that could change a result, except numeric order of `number`
    /// columns (see the module docs). The default for any server.
    pub const fn conservative() -> Self {
        Self {
            text_order: TextOrder::Unknown,
            number_order: NumberOrder::Numeric,
            null_order: NullOrder::Unknown,
            like: SubstringMatch::Unknown,
            regex: RegexDialect::Unknown,
            max_page_rows: None,
        }
    }

    /// What our emulator documents in its README (its default profile).
    pub const fn emulator() -> Self {
        Self {
            text_order: TextOrder::Binary,
            number_order: NumberOrder::Numeric,
            null_order: NullOrder::LastAscending,
            like: SubstringMatch::Literal,
            regex: RegexDialect::Rust,
            max_page_rows: None,
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let bad = || format!("'{value}' is not a value of {key}");
        match key {
            "text_order" => {
                self.text_order = match value {
                    "binary" => TextOrder::Binary,
                    "unknown" => TextOrder::Unknown,
                    _ => return Err(format!("{}: binary or unknown", bad())),
                }
            }
            "number_order" => {
                self.number_order = match value {
                    "numeric" => NumberOrder::Numeric,
                    "unknown" => NumberOrder::Unknown,
                    _ => return Err(format!("{}: numeric or unknown", bad())),
                }
            }
            "null_order" => {
                self.null_order = match value {
                    "last" => NullOrder::LastAscending,
                    "first" => NullOrder::FirstAscending,
                    "unknown" => NullOrder::Unknown,
                    _ => return Err(format!("{}: last, first or unknown", bad())),
                }
            }
            "like" => {
                self.like = match value {
                    "literal" => SubstringMatch::Literal,
                    "unknown" => SubstringMatch::Unknown,
                    _ => return Err(format!("{}: literal or unknown", bad())),
                }
            }
            "regex" => {
                self.regex = match value {
                    "rust" => RegexDialect::Rust,
                    "unknown" => RegexDialect::Unknown,
                    _ => return Err(format!("{}: rust or unknown", bad())),
                }
            }
            "max_page_rows" => {
                self.max_page_rows = match value {
                    "unknown" | "none" => None,
                    n => Some(
                        n.parse::<u64>()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| format!("{}: a positive number or unknown", bad()))?,
                    ),
                }
            }
            _ => {
                return Err(format!(
                    "unknown setting '{key}' (known: text_order, number_order, null_order, \
                     like, regex, max_page_rows)"
                ));
            }
        }
        Ok(())
    }

    /// The settings in their text form, each `key=value`.
    pub fn settings(&self) -> Vec<String> {
        let text = match self.text_order {
            TextOrder::Binary => "binary",
            TextOrder::Unknown => "unknown",
        };
        let number = match self.number_order {
            NumberOrder::Numeric => "numeric",
            NumberOrder::Unknown => "unknown",
        };
        let nulls = match self.null_order {
            NullOrder::LastAscending => "last",
            NullOrder::FirstAscending => "first",
            NullOrder::Unknown => "unknown",
        };
        let like = match self.like {
            SubstringMatch::Literal => "literal",
            SubstringMatch::Unknown => "unknown",
        };
        let regex = match self.regex {
            RegexDialect::Rust => "rust",
            RegexDialect::Unknown => "unknown",
        };
        let pages = self
            .max_page_rows
            .map_or_else(|| "unknown".to_string(), |n| n.to_string());
        vec![
            format!("text_order={text}"),
            format!("number_order={number}"),
            format!("null_order={nulls}"),
            format!("like={like}"),
            format!("regex={regex}"),
            format!("max_page_rows={pages}"),
        ]
    }
}

impl fmt::Display for ServerSemantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.settings().join(","))
    }
}

impl FromStr for ServerSemantics {
    type Err = Error;

    /// Reads `PRESET[,key=value...]` or `key=value[,...]` (over the conservative preset).
    /// Presets: `conservative`, `emulator`. Settings: `text_order=binary|unknown`,
    /// `number_order=numeric|unknown`, `null_order=last|first|unknown`,
    /// `like=literal|unknown`, `regex=rust|unknown`, `max_page_rows=N|unknown`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Self::conservative();
        for (i, part) in s.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            match part.split_once('=') {
                Some((key, value)) => out
                    .set(key.trim(), value.trim())
                    .map_err(|e| Error::Config(format!("server semantics '{s}': {e}")))?,
                None if i == 0 => {
                    out = match part {
                        "conservative" => Self::conservative(),
                        "emulator" => Self::emulator(),
                        other => {
                            return Err(Error::Config(format!(
                                "server semantics '{s}': unknown preset '{other}' \
                                 (conservative or emulator)"
                            )));
                        }
                    }
                }
                None => {
                    return Err(Error::Config(format!(
                        "server semantics '{s}': '{part}' is not key=value (a preset comes first)"
                    )));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_settings_round_trip() {
        for s in [ServerSemantics::conservative(), ServerSemantics::emulator()] {
            assert_eq!(s.to_string().parse::<ServerSemantics>().unwrap(), s);
        }
        let s: ServerSemantics = "emulator, null_order=unknown,max_page_rows=100"
            .parse()
            .unwrap();
        assert_eq!(s.null_order, NullOrder::Unknown);
        assert_eq!(s.text_order, TextOrder::Binary);
        assert_eq!(s.max_page_rows, Some(100));
        let s: ServerSemantics = "text_order=binary".parse().unwrap();
        assert_eq!(s.null_order, NullOrder::Unknown);
        assert_eq!(s.text_order, TextOrder::Binary);
    }

    #[test]
    fn bad_settings_name_the_problem() {
        for (text, needle) in [
            ("cloud", "unknown preset 'cloud'"),
            ("null_order=middle", "'middle' is not a value of null_order"),
            ("collation=binary", "unknown setting 'collation'"),
            ("emulator,binary", "'binary' is not key=value"),
            ("max_page_rows=0", "a positive number"),
        ] {
            let err = text.parse::<ServerSemantics>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
