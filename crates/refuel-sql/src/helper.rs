//! The line editor's helper: a statement goes on over several lines until it ends with `;`
//! (a backslash command is one line), and Tab completes table names, keywords and commands.

use std::sync::{Arc, RwLock};

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::statement::{has_content, is_command, is_complete};

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "OFFSET",
    "HAVING",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "AND",
    "OR",
    "NOT",
    "LIKE",
    "ILIKE",
    "IN",
    "IS NULL",
    "IS NOT NULL",
    "COUNT",
    "AVG",
    "SUM",
    "MIN",
    "MAX",
    "DISTINCT",
    "AS",
    "DESC",
    "ASC",
    "WITH",
    "UNION",
    "INSERT INTO",
    "VALUES",
    "CREATE",
    "TABLE",
    "VIEW",
    "EXTERNAL",
    "STORED AS",
    "LOCATION",
    "EXPLAIN",
    "DESCRIBE",
    "SHOW",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "refuel_items",
];

const COMMANDS: &[&str] = &[
    "\\?",
    "\\q",
    "\\l",
    "\\d",
    "\\use",
    "\\format",
    "\\timing",
    "\\maxrows",
    "\\refresh",
];

/// The helper; `tables` is kept current by the shell.
#[derive(Debug, Default)]
pub struct ShellHelper {
    tables: Arc<RwLock<Vec<String>>>,
}

impl ShellHelper {
    /// A helper completing from `tables`.
    pub fn new(tables: Arc<RwLock<Vec<String>>>) -> Self {
        Self { tables }
    }

    fn candidates(&self, word: &str) -> Vec<String> {
        if word.starts_with('\\') {
            return COMMANDS
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| c.to_string())
                .collect();
        }
        let lower = word.to_ascii_lowercase();
        let mut out: Vec<String> = self
            .tables
            .read()
            .map(|t| {
                t.iter()
                    .filter(|name| name.to_ascii_lowercase().starts_with(&lower))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let upper = word.chars().next().is_some_and(char::is_uppercase);
        out.extend(
            KEYWORDS
                .iter()
                .filter(|k| k.to_ascii_lowercase().starts_with(&lower))
                .map(|k| {
                    if upper || k.chars().any(char::is_lowercase) {
                        k.to_string()
                    } else {
                        k.to_ascii_lowercase()
                    }
                }),
        );
        out
    }
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\\' || c == '?'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        Ok((start, self.candidates(word)))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if is_command(input) || !has_content(input) || is_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_tables_keywords_and_commands() {
        let tables = Arc::new(RwLock::new(vec![
            "reviews".to_string(),
            "reviews_sentiment_labels".to_string(),
        ]));
        let h = ShellHelper::new(tables);
        assert_eq!(
            h.candidates("rev"),
            vec![
                "reviews".to_string(),
                "reviews_sentiment_labels".to_string()
            ]
        );
        assert_eq!(h.candidates("SEL"), vec!["SELECT".to_string()]);
        assert_eq!(h.candidates("sel"), vec!["select".to_string()]);
        assert_eq!(h.candidates("\\ti"), vec!["\\timing".to_string()]);
    }
}
