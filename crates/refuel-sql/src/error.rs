//! The shell's own errors, and how any error reaches the user: one clear line on standard
//! error (the causes and details with `-v`).

use std::path::PathBuf;
use std::process::ExitCode;

/// What the shell itself refuses or fails at (errors of the API, of SQL and of I/O come from
/// their crates).
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// An endpoint without a key.
    #[error(
        "no API key for {endpoint}: pass --api-key or set REFUEL_API_KEY (without --endpoint, \
         refuel-sql runs a local emulator)"
    )]
    NoApiKey {
        /// The endpoint, redacted.
        endpoint: String,
    },
    /// The local data directory cannot be used.
    #[error("data directory {}: {source}", dir.display())]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the local data directory.
    #[error(
        "data directory {} is in use by another refuel-sql; close it or pass --local with \
         another directory",
        dir.display()
    )]
    DataDirInUse {
        /// The directory.
        dir: PathBuf,
    },
    /// The local emulator did not start.
    #[error("cannot start the local emulator on {}: {message}", dir.display())]
    Emulator {
        /// Its data directory.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// A backslash command that does not parse.
    #[error("{0}")]
    Command(String),
    /// An output file whose format cannot be told.
    #[error(
        "cannot tell the format of '{}' from its extension: use .csv, .tsv, .json, .ndjson, \
         .jsonl, .parquet or .txt, or pass --format",
        path.display()
    )]
    UnknownExtension {
        /// The file.
        path: PathBuf,
    },
    /// A Parquet file can hold one result.
    #[error(
        "'{}' already holds a result: a Parquet file takes the rows of one query",
        path.display()
    )]
    ParquetHoldsOneResult {
        /// The file.
        path: PathBuf,
    },
    /// A query was cancelled with Ctrl-C.
    #[error("query cancelled")]
    Cancelled,
    /// Bad input to a subcommand.
    #[error("{0}")]
    Input(String),
}

/// The exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Prints `err` on standard error and returns the exit code. Without `verbose`, one line:
/// the message and its causes, each said once. With it, the causes one per line and the
/// debug form.
pub fn report(err: &anyhow::Error, verbose: bool) -> ExitCode {
    if is_broken_pipe(err) {
        // The reader went away (`| head`): nothing is wrong and nothing can be said.
        return ExitCode::SUCCESS;
    }
    if matches!(
        err.downcast_ref::<ShellError>(),
        Some(ShellError::Cancelled)
    ) {
        eprintln!("refuel-sql: query cancelled");
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    eprintln!("refuel-sql: error: {}", one_line(err));
    if verbose {
        for (i, cause) in err.chain().enumerate().skip(1) {
            eprintln!("  caused by ({i}): {cause}");
        }
        eprintln!("details: {err:?}");
    }
    ExitCode::FAILURE
}

/// The message of an error and of its causes on one line, each cause once (DataFusion and
/// anyhow repeat a cause in the message that wraps it), without DataFusion's
/// `External error: ` prefixes.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = clean(&cause.to_string());
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn clean(message: &str) -> String {
    let flat: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    flat.join(" ").replace("External error: ", "")
}

/// Whether the error is a write to a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.to_string().contains("Broken pipe")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_said_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(inner).context("read 'x.sql'");
        assert_eq!(one_line(&err), "read 'x.sql': no such file");
        let err = anyhow::anyhow!("External error: table 'x' not found\n  in project 'demo'");
        assert_eq!(one_line(&err), "table 'x' not found in project 'demo'");
    }
}
