//! How results are shown: the format, the row limit, timing, and where they go (standard
//! output or a file).
//!
//! On standard output a table is followed by its row count (and the time with `\timing`).
//! Other formats keep standard output to the data: counts, notices and times go to standard
//! error (counts only in the interactive shell). Written to a file, a result is announced on
//! standard error.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::ShellError;
use crate::print_format::{OutputFormat, PrintFormat, batch_writer};

/// Rows shown by default when a table is printed on standard output.
pub const DEFAULT_TABLE_ROWS: usize = 40;

/// The display settings of a session.
#[derive(Debug, Clone)]
pub struct PrintOptions {
    /// The format on standard output (and of files whose extension says nothing).
    pub format: PrintFormat,
    /// Whether `format` was chosen (rather than the default).
    pub format_chosen: bool,
    /// The most rows shown, when chosen (`Some(0)`: all).
    pub max_rows: Option<usize>,
    /// Whether each statement's time is printed.
    pub timing: bool,
    /// No counts or notices.
    pub quiet: bool,
    /// Whether a person is at the keyboard (the REPL).
    pub interactive: bool,
    /// Results go to this file instead of standard output.
    pub output: Option<PathBuf>,
    /// How many results the output file holds so far.
    results_in_file: usize,
}

impl PrintOptions {
    /// Settings from the command line.
    pub fn new(
        format: Option<PrintFormat>,
        max_rows: Option<usize>,
        timing: bool,
        quiet: bool,
        output: Option<PathBuf>,
    ) -> Self {
        Self {
            format: format.unwrap_or(PrintFormat::Table),
            format_chosen: format.is_some(),
            max_rows,
            timing,
            quiet,
            interactive: false,
            output,
            results_in_file: 0,
        }
    }

    /// The row limit of a result in `format`, `None` for all rows.
    fn limit(&self, to_stdout: bool, format: OutputFormat) -> Option<usize> {
        match self.max_rows {
            Some(0) => None,
            Some(n) => Some(n),
            None if to_stdout && format == OutputFormat::Text(PrintFormat::Table) => {
                Some(DEFAULT_TABLE_ROWS)
            }
            None => None,
        }
    }

    /// Prints a result: every batch of `stream` (up to the row limit; the rest is counted),
    /// then its count and time. A result without columns (DDL, `SET`) prints only its time.
    pub async fn print(
        &mut self,
        schema: SchemaRef,
        mut stream: SendableRecordBatchStream,
        started: Instant,
    ) -> anyhow::Result<()> {
        if schema.fields().is_empty() {
            while let Some(batch) = stream.next().await {
                batch?;
            }
            self.footer(started.elapsed(), true);
            return Ok(());
        }
        let (format, out, to_stdout): (OutputFormat, Box<dyn Write + Send>, bool) =
            match &self.output {
                None => (
                    OutputFormat::Text(self.format),
                    Box::new(BufWriter::new(std::io::stdout())),
                    true,
                ),
                Some(path) => {
                    let format =
                        OutputFormat::from_path(path, self.format_chosen.then_some(self.format))?;
                    (format, Box::new(self.open_output(path, format)?), false)
                }
            };
        let limit = self.limit(to_stdout, format);
        let mut writer = batch_writer(format, schema, out)?;
        let (mut total, mut shown) = (0usize, 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            total += batch.num_rows();
            let room = limit.map_or(usize::MAX, |l| l.saturating_sub(shown));
            if room == 0 {
                continue;
            }
            let take = batch.num_rows().min(room);
            writer.write(&batch.slice(0, take))?;
            shown += take;
        }
        writer.finish()?;
        if !to_stdout {
            self.results_in_file += 1;
        }
        let elapsed = started.elapsed();
        let table = to_stdout && format == OutputFormat::Text(PrintFormat::Table);
        if !self.quiet && shown < total {
            let notice = format!(
                "{total} rows, {shown} shown (--max-rows N or \\maxrows N to see more; 0 for all)"
            );
            if table {
                println!("{notice}");
            } else {
                eprintln!("{notice}");
            }
        } else if !self.quiet {
            let count = rows(total);
            match &self.output {
                Some(path) => eprintln!("{count} written to {}", path.display()),
                None if table => println!("{count}"),
                None if self.interactive => eprintln!("{count}"),
                None => {}
            }
        }
        self.footer(elapsed, table);
        Ok(())
    }

    /// A line about the result just printed (e.g. where `\d`'s types came from): on
    /// standard output after a table, else on standard error; none when quiet.
    pub fn notice(&self, line: &str) {
        if self.quiet {
            return;
        }
        if self.output.is_none() && self.format == PrintFormat::Table {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }

    /// The time line, when `\timing` is on: on standard output after a table, else on
    /// standard error.
    fn footer(&self, elapsed: Duration, on_stdout: bool) {
        if !self.timing {
            return;
        }
        let line = format!("Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0);
        if on_stdout && self.output.is_none() && self.format == PrintFormat::Table {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }

    /// Opens the output file: created (emptied) for the first result, appended to after
    /// (a Parquet file holds one result).
    fn open_output(&self, path: &PathBuf, format: OutputFormat) -> anyhow::Result<BufWriter<File>> {
        let first = self.results_in_file == 0;
        if !first && format == OutputFormat::Parquet {
            return Err(ShellError::ParquetHoldsOneResult { path: path.clone() }.into());
        }
        let file = File::options()
            .create(true)
            .write(true)
            .truncate(first)
            .append(!first)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot write '{}': {e}", path.display()))?;
        Ok(BufWriter::new(file))
    }
}

/// `1 row`, `3 rows`.
pub fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".to_string()
    } else {
        format!("{n} rows")
    }
}
