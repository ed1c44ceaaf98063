//! `refuel-sql label --app A [--explain] < inputs.ndjson > outputs.ndjson`: online labeling.
//!
//! Each input line is a JSON object keyed by the task's input columns. Each output line is
//! the application's output for the input on the same line: `refuel_uuid`,
//! `refuel_api_timestamp` and `refuel_fields` (per field: `label`, a list, `confidence`, and
//! `explanation` with `--explain`); an input that failed gives `{"error": "..."}` on its line,
//! and the exit code is then 1. Inputs are read and labeled in chunks, so memory stays
//! bounded and outputs appear as they are made. Blank lines are skipped.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use refuel_client::models::Row;
use refuel_client::{LabelOptions, RefuelClient};

use crate::error::ShellError;
use crate::progress::Progress;

/// Inputs sent per chunk (each input is its own request; these run concurrently).
const CHUNK: usize = 200;

/// Arguments of `label`.
#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    /// The application (name or id).
    #[arg(long, value_name = "APP")]
    pub app: String,
    /// Return an explanation with every label.
    #[arg(long)]
    pub explain: bool,
    /// Label with this model (a display name such as `GPT-4o`, or a model id) instead of the
    /// application's.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
}

/// Runs `label`.
pub async fn run(
    args: &LabelArgs,
    client: &RefuelClient,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let mut options = LabelOptions::new().explain(args.explain);
    if let Some(model) = &args.model {
        options = options.model(model);
    }
    // Fail early, before reading anything, when the application does not exist.
    client.applications().id(&args.app).await?;
    let bar = progress.bar(&format!("labeling with application '{}'", args.app), None);
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let (mut line_no, mut done, mut failed) = (0usize, 0u64, 0u64);
    loop {
        // Reading blocks: let the runtime move its other work (a local emulator) elsewhere.
        let chunk = tokio::task::block_in_place(|| read_chunk(&mut lines, &mut line_no))?;
        if chunk.is_empty() {
            break;
        }
        let results = client
            .applications()
            .label(&args.app, &chunk, &options)
            .await?;
        for result in results {
            let line = match result {
                Ok(output) => serde_json::to_string(&output)?,
                Err(e) => {
                    failed += 1;
                    serde_json::json!({ "error": e.to_string() }).to_string()
                }
            };
            writeln!(out, "{line}")?;
            done += 1;
        }
        out.flush()?;
        bar.set(done, None);
    }
    out.flush()?;
    bar.finish(&format!(
        "labeled {} inputs with application '{}'{}",
        done - failed,
        args.app,
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    ));
    if failed > 0 {
        eprintln!(
            "refuel-sql: error: {failed} of {done} inputs could not be labeled (see their \"error\" lines)"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads up to [`CHUNK`] inputs.
fn read_chunk(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    line_no: &mut usize,
) -> Result<Vec<Row>, ShellError> {
    let mut chunk: Vec<Row> = Vec::with_capacity(CHUNK);
    while chunk.len() < CHUNK {
        let Some(line) = lines.next() else { break };
        *line_no += 1;
        let line = line.map_err(|e| {
            ShellError::Input(format!(
                "standard input line {line_no}: cannot read it: {e}"
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        chunk.push(parse_input(&line, *line_no)?);
    }
    Ok(chunk)
}

/// One input line: a JSON object.
fn parse_input(line: &str, line_no: usize) -> Result<Row, ShellError> {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(row)) => Ok(row),
        Ok(other) => Err(ShellError::Input(format!(
            "standard input line {line_no}: expected a JSON object of input columns, got {}",
            match other {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
        Err(e) => Err(ShellError::Input(format!(
            "standard input line {line_no}: not JSON: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs() {
        assert_eq!(parse_input(r#"{"text": "hi"}"#, 1).unwrap()["text"], "hi");
        let e = parse_input("[1]", 3).unwrap_err().to_string();
        assert_eq!(
            e,
            "standard input line 3: expected a JSON object of input columns, got an array"
        );
        assert!(
            parse_input("{", 4)
                .unwrap_err()
                .to_string()
                .starts_with("standard input line 4: not JSON")
        );
    }
}
