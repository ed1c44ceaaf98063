//! Where statements end: a small lexer that knows quotes and comments, so a `;` inside a
//! string or a comment does not end a statement, and the reader that cuts a script into
//! SQL statements and backslash commands.

/// What a script holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// SQL text: one or more statements, each ended by `;` (the last one perhaps not).
    Sql(String),
    /// A backslash command line.
    Command(String),
}

/// Lexer state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    Single,
    Double,
    LineComment,
    BlockComment(u32),
}

/// Scans `sql`, returning the state at its end and its last significant character (outside
/// quotes and comments, not whitespace).
fn scan(sql: &str) -> (State, Option<char>) {
    let mut state = State::Normal;
    let mut last = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        state = match state {
            State::Normal => match c {
                '\'' => {
                    last = Some(c);
                    State::Single
                }
                '"' => {
                    last = Some(c);
                    State::Double
                }
                '-' if chars.peek() == Some(&'-') => {
                    chars.next();
                    State::LineComment
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    State::BlockComment(1)
                }
                c => {
                    if !c.is_whitespace() {
                        last = Some(c);
                    }
                    State::Normal
                }
            },
            // A doubled quote inside a string is the quote itself: leaving and entering
            // again gives the same result.
            State::Single if c == '\'' => State::Normal,
            State::Double if c == '"' => State::Normal,
            State::LineComment if c == '\n' => State::Normal,
            State::BlockComment(depth) if c == '*' && chars.peek() == Some(&'/') => {
                chars.next();
                if depth == 1 {
                    State::Normal
                } else {
                    State::BlockComment(depth - 1)
                }
            }
            State::BlockComment(depth) if c == '/' && chars.peek() == Some(&'*') => {
                chars.next();
                State::BlockComment(depth + 1)
            }
            other => other,
        };
    }
    (state, last)
}

/// Whether `sql` ends a statement: outside quotes and block comments, its last significant
/// character is `;`.
pub fn is_complete(sql: &str) -> bool {
    let (state, last) = scan(sql);
    matches!(state, State::Normal | State::LineComment) && last == Some(';')
}

/// Whether `sql` holds anything but whitespace and comments.
pub fn has_content(sql: &str) -> bool {
    scan(sql).1.is_some()
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
    }
}
