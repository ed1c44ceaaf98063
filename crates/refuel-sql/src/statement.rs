//! Where statements end, read with DataFusion's SQL tokenizer so that a `;` inside a string
//! or a comment does not end a statement, and the reader that cuts a script into SQL
//! statements and backslash commands.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// What a script holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// SQL text: one or more statements, each ended by `;` (the last one perhaps not).
    Sql(String),
    /// A backslash command line.
    Command(String),
}

/// Where `sql` stands after its last token, as DataFusion's SQL tokenizer (sqlparser's, with
/// the generic dialect the shell parses with) reads it.
enum Ending {
    /// The last significant token (not whitespace or a comment), if any.
    Token(Option<Token>),
    /// The text ends inside a string, quoted identifier or block comment.
    Open,
    /// The tokenizer refused the text for another reason; running it will say why.
    Invalid,
}

/// Tokenizes `sql` and says how it ends.
fn ending(sql: &str) -> Ending {
    match Tokenizer::new(&GenericDialect {}, sql).tokenize() {
        Ok(tokens) => Ending::Token(
            tokens
                .into_iter()
                .rev()
                .find(|t| !matches!(t, Token::Whitespace(_) | Token::EOF)),
        ),
        // The tokenizer's errors carry only a message: those that reach the end of the
        // input inside a quote or comment say "EOF" or "Unterminated".
        Err(e) if e.message.contains("EOF") || e.message.contains("Unterminated") => Ending::Open,
        Err(_) => Ending::Invalid,
    }
}

/// Whether `sql` ends a statement: its last token (comments and whitespace aside) is `;`,
/// outside quotes and comments. Text the tokenizer refuses counts as ended when it ends with
/// `;`, so that running it reports the error instead of waiting for more lines.
pub fn is_complete(sql: &str) -> bool {
    match ending(sql) {
        Ending::Token(last) => last == Some(Token::SemiColon),
        Ending::Open => false,
        Ending::Invalid => sql.trim_end().ends_with(';'),
    }
}

/// Whether `sql` holds anything but whitespace and comments (an unended quote or comment
/// counts: more lines may follow, or running it says what is wrong).
pub fn has_content(sql: &str) -> bool {
    !matches!(ending(sql), Ending::Token(None))
}

/// Whether a line is a backslash command.
pub fn is_command(line: &str) -> bool {
    line.trim_start().starts_with('\\')
}

/// Cuts a script into chunks: a backslash command is a line of its own (between
/// statements); SQL runs until a line that completes a statement. SQL left unended at the
/// end is a chunk too.
pub fn split_script(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut buffer = String::new();
    for line in text.lines() {
        // Between statements (comments aside), a backslash line is a command.
        if !has_content(&buffer) && is_command(line) {
            buffer.clear();
            chunks.push(Chunk::Command(line.trim().to_string()));
            continue;
        }
        buffer.push_str(line);
        buffer.push('\n');
        if is_complete(&buffer) {
            chunks.push(Chunk::Sql(std::mem::take(&mut buffer)));
        }
    }
    if has_content(&buffer) {
        chunks.push(Chunk::Sql(buffer));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completeness() {
        assert!(is_complete("select 1;"));
        assert!(is_complete("select 1;  \n"));
        assert!(is_complete("select 1; -- done"));
        assert!(!is_complete("select 1"));
        assert!(!is_complete("select ';"));
        assert!(is_complete("select ';';"));
        assert!(is_complete("select 'it''s';"));
        assert!(!is_complete("select 1 -- ;"));
        assert!(!is_complete("select 1 /* ; */"));
        assert!(is_complete("select 1 /* a /* nested */ ; */;"));
        assert!(!is_complete("select \"a;"));
        assert!(!is_complete(""));
        assert!(!is_complete("select $$a;"));
        // Refused by the tokenizer for another reason than an open quote: it runs (and fails).
        assert!(is_complete("select U&'\\zzzz';"));
    }

    #[test]
    fn content() {
        assert!(!has_content("  -- nothing\n /* here */ "));
        assert!(has_content("select 1"));
    }

    #[test]
    fn scripts() {
        let chunks = split_script(
            "\\timing\nselect 1;\nselect\n  2; select 3;\n-- a; comment\n\\format csv\nselect ';'\n",
        );
        assert_eq!(
            chunks,
            vec![
                Chunk::Command("\\timing".into()),
                Chunk::Sql("select 1;\n".into()),
                Chunk::Sql("select\n  2; select 3;\n".into()),
                Chunk::Command("\\format csv".into()),
                Chunk::Sql("select ';'\n".into()),
            ]
        );
        assert!(split_script("-- only a comment\n").is_empty());
        // An unended comment is not dropped: running it says it is unended.
        assert_eq!(
            split_script("select 1;\n/* open"),
            vec![
                Chunk::Sql("select 1;\n".into()),
                Chunk::Sql("/* open\n".into())
            ]
        );
    }
}
