//! Output formats, and a writer per format that takes a result's batches as they come.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::{self, writer::JsonArray, writer::LineDelimited};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use parquet::arrow::ArrowWriter;

use crate::error::ShellError;

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrintFormat {
    /// An aligned table with a header.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

impl PrintFormat {
    /// Every format's name, for messages.
    pub const NAMES: &'static str = "table, csv, tsv, json, ndjson";

    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
        }
    }
}

impl std::fmt::Display for PrintFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrintFormat {
    type Err = ShellError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as clap::ValueEnum>::from_str(s.trim(), true).map_err(|_| {
            ShellError::Command(format!("unknown format '{s}': use one of {}", Self::NAMES))
        })
    }
}

/// The format of an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One of the printed formats.
    Text(PrintFormat),
    /// Apache Parquet.
    Parquet,
}

impl OutputFormat {
    /// The format a file's extension names; without a known extension, `fallback` (the
    /// `--format` given), else an error.
    pub fn from_path(path: &Path, fallback: Option<PrintFormat>) -> Result<Self, ShellError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match ext.as_deref() {
            Some("csv") => Self::Text(PrintFormat::Csv),
            Some("tsv" | "tab") => Self::Text(PrintFormat::Tsv),
            Some("json") => Self::Text(PrintFormat::Json),
            Some("ndjson" | "jsonl") => Self::Text(PrintFormat::Ndjson),
            Some("parquet" | "pq") => Self::Parquet,
            Some("txt" | "text" | "out") => Self::Text(PrintFormat::Table),
            _ => match fallback {
                Some(format) => Self::Text(format),
                None => {
                    return Err(ShellError::UnknownExtension {
                        path: path.to_path_buf(),
                    });
                }
            },
        };
        Ok(format)
    }
}

/// Writes one result, batch by batch.
pub trait BatchWriter {
    /// Writes a batch.
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()>;
    /// Ends the result (a table is printed now, a JSON array closed, a Parquet footer
    /// written) and flushes.
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// A writer of `format` for a result of `schema` into `out`.
pub fn batch_writer<W: Write + Send + 'static>(
    format: OutputFormat,
    schema: SchemaRef,
    out: W,
) -> anyhow::Result<Box<dyn BatchWriter>> {
    Ok(match format {
        OutputFormat::Text(PrintFormat::Table) => Box::new(TableWriter {
            schema,
            batches: Vec::new(),
            out,
        }),
        OutputFormat::Text(PrintFormat::Csv) => Box::new(CsvWriter::new(schema, out, b',')),
        OutputFormat::Text(PrintFormat::Tsv) => Box::new(CsvWriter::new(schema, out, b'\t')),
        OutputFormat::Text(PrintFormat::Json) => Box::new(JsonWriter(
            json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(out),
        )),
        OutputFormat::Text(PrintFormat::Ndjson) => Box::new(NdjsonWriter(
            json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(out),
        )),
        OutputFormat::Parquet => Box::new(ParquetWriter(ArrowWriter::try_new(out, schema, None)?)),
    })
}

/// A table, printed once every row is in.
struct TableWriter<W> {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    out: W,
}

impl<W: Write> BatchWriter for TableWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        if batch.num_rows() > 0 {
            self.batches.push(batch.clone());
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        if self.batches.is_empty() {
            self.batches
                .push(RecordBatch::new_empty(self.schema.clone()));
        }
        let options = FormatOptions::default()
            .with_display_error(true)
            .with_null("NULL");
        let table = pretty_format_batches_with_options(&self.batches, &options)?;
        writeln!(self.out, "{table}")?;
        self.out.flush()?;
        Ok(())
    }
}

/// CSV or TSV; the header is written even when there are no rows.
struct CsvWriter<W: Write> {
    schema: SchemaRef,
    inner: csv::Writer<W>,
    started: bool,
}

impl<W: Write> CsvWriter<W> {
    fn new(schema: SchemaRef, out: W, delimiter: u8) -> Self {
        Self {
            schema,
            inner: csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(out),
            started: false,
        }
    }
}

impl<W: Write> BatchWriter for CsvWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        self.inner.write(batch)?;
        self.started = true;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        if !self.started {
            self.inner
                .write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        let mut out = self.inner.into_inner();
        out.flush()?;
        Ok(())
    }
}

struct JsonWriter<W: Write>(json::Writer<W, JsonArray>);

impl<W: Write> BatchWriter for JsonWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        Ok(self.0.write(batch)?)
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.0.finish()?;
        let mut out = self.0.into_inner();
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }
}

struct NdjsonWriter<W: Write>(json::Writer<W, LineDelimited>);

impl<W: Write> BatchWriter for NdjsonWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        Ok(self.0.write(batch)?)
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.0.finish()?;
        self.0.into_inner().flush()?;
        Ok(())
    }
}

struct ParquetWriter<W: Write + Send>(ArrowWriter<W>);

impl<W: Write + Send> BatchWriter for ParquetWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        Ok(self.0.write(batch)?)
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let mut out = self.0.into_inner()?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn formats_from_extensions() {
        let f = |p: &str| OutputFormat::from_path(&PathBuf::from(p), None);
        assert_eq!(f("a.csv").unwrap(), OutputFormat::Text(PrintFormat::Csv));
        assert_eq!(f("a.TSV").unwrap(), OutputFormat::Text(PrintFormat::Tsv));
        assert_eq!(
            f("a.jsonl").unwrap(),
            OutputFormat::Text(PrintFormat::Ndjson)
        );
        assert_eq!(f("dir/a.parquet").unwrap(), OutputFormat::Parquet);
        assert!(f("a.xlsx").is_err());
        assert_eq!(
            OutputFormat::from_path(&PathBuf::from("a"), Some(PrintFormat::Json)).unwrap(),
            OutputFormat::Text(PrintFormat::Json)
        );
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("CSV".parse::<PrintFormat>().unwrap(), PrintFormat::Csv);
        let err = "xml".parse::<PrintFormat>().unwrap_err().to_string();
        assert!(err.contains("table, csv, tsv, json, ndjson"), "{err}");
    }
}
