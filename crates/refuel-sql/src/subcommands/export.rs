//! `refuel-sql export --dataset D [--task T] -o FILE`: the platform's export of a dataset
//! (with a task's labels: per field `<f>_label`, `<f>_llm_label`, `<f>_confidence`,
//! `<f>_explanation`, `<f>_verified`), downloaded to FILE. The export is CSV; a `.parquet`,
//! `.json`, `.ndjson` or `.tsv` FILE gets it converted.
//!
//! A converted export has the column types of the dataset's SQL table (`SELECT *` on
//! `refuel.<project>.<dataset>` or its `<task>_labels` table), typed by the same code
//! (`refuel_datafusion::columns`) and its cells read by the same rules as the scan's: an
//! integer column is `Int64`, a date column `Date32`, and so on. A column of the file the
//! table does not have is text; an empty cell is NULL (`<f>_verified`: false).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::prep_null_mask_filter;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::{CsvReadOptions, SessionContext};
use futures::StreamExt;
use refuel_client::{RefuelClient, WaitOptions};
use refuel_datafusion::columns::{TableColumns, dataset_columns, listed_dataset_columns};
use refuel_datafusion::decode::cast_text_column;

use crate::connect::Connection;
use crate::error::ShellError;
use crate::print_format::{OutputFormat, PrintFormat, batch_writer};
use crate::progress::Progress;

/// The address exports are mailed to on the local emulator (which sends no mail).
const LOCAL_EMAIL: &str = "refuel-sql@localhost";

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The dataset (name or id).
    #[arg(long, value_name = "DATASET")]
    pub dataset: String,
    /// Include the labels of this task (name or id).
    #[arg(long, value_name = "TASK")]
    pub task: Option<String>,
    /// The file to write: .csv as exported, or .parquet, .json, .ndjson/.jsonl, .tsv.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// The platform also mails the export's link to this address (a user of the team).
    #[arg(long, env = "REFUEL_EMAIL", value_name = "ADDRESS")]
    pub email: Option<String>,
}

/// Runs `export`.
pub async fn run(
    args: &ExportArgs,
    connection: &Connection,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let client = &connection.client;
    let format = OutputFormat::from_path(&args.output, Some(PrintFormat::Csv))?;
    let email = match (&args.email, &connection.local) {
        (Some(email), _) => email.clone(),
        (None, Some(_)) => LOCAL_EMAIL.to_string(),
        (None, None) => {
            return Err(ShellError::Input(
                "export needs --email (or REFUEL_EMAIL): the platform mails the export's link \
                 to that address, which must belong to a user of the team"
                    .to_string(),
            )
            .into());
        }
    };
    let what = match &args.task {
        Some(task) => format!(
            "dataset '{}' with the labels of task '{task}'",
            args.dataset
        ),
        None => format!("dataset '{}'", args.dataset),
    };
    let spinner = progress.bar(&format!("exporting {what}"), None);
    // The SQL table's columns, for a converted file's types.
    let columns = if format == OutputFormat::Text(PrintFormat::Csv) {
        None
    } else {
        Some(sql_columns(client, &args.dataset, args.task.as_deref()).await?)
    };
    let exports = client.exports();
    let created = exports
        .create(&args.dataset, &email, args.task.as_deref())
        .await?;
    spinner.status("waiting for the file");
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(500),
        timeout: Duration::from_secs(6 * 3600),
    };
    let link = exports
        .wait(&args.dataset, &created.export_id, wait)
        .await?;
    spinner.status("downloading");
    let summary = if format == OutputFormat::Text(PrintFormat::Csv) {
        let bytes = exports.download_to_file(&link, &args.output).await?;
        format!("{bytes} bytes")
    } else {
        let dir = args
            .output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let staged = tempfile::Builder::new()
            .prefix(".refuel-export-")
            .suffix(".csv")
            .tempfile_in(dir)
            .with_context(|| format!("create a temporary file in {}", dir.display()))?;
        exports.download_to_file(&link, staged.path()).await?;
        let columns = columns
            .ok_or_else(|| ShellError::Input("the export's columns were not read".to_string()))?;
        let rows = convert(staged.path(), &args.output, format, &columns).await?;
        crate::print_options::rows(rows)
    };
    spinner.finish(&format!("exported {what}"));
    println!("exported {what} to {} ({summary})", args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// The columns of the dataset's SQL table (with the task's labels), typed as the catalog
/// types them.
async fn sql_columns(
    client: &RefuelClient,
    dataset: &str,
    task: Option<&str>,
) -> anyhow::Result<TableColumns> {
    let listed = client
        .datasets()
        .list()
        .await?
        .into_iter()
        .find(|d| d.dataset_name == dataset || d.id == dataset);
    let columns = match listed {
        Some(entry) => listed_dataset_columns(client, &entry).await?,
        None => {
            let ds = client.datasets().get(dataset).await?;
            dataset_columns(client, &ds.id, &ds.schema, &ds.column_metadata).await?
        }
    };
    Ok(match task {
        None => columns,
        Some(task) => {
            let task = client.tasks().get(task).await?;
            columns.with_task(&task).map_err(ShellError::Input)?
        }
    })
}

/// The names of a CSV file's columns, from its header.
fn csv_header(csv: &Path) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(csv)
        .with_context(|| format!("cannot read the export '{}'", csv.display()))?;
    let (schema, _) = datafusion::arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(file, Some(0))
        .with_context(|| format!("the export '{}' has no CSV header", csv.display()))?;
    Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
}

/// A batch of text cells in the SQL table's types (`schema`, by position).
fn typed_batch(batch: &RecordBatch, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            let text = column.as_string_opt::<i32>().ok_or_else(|| {
                ShellError::Input(format!(
                    "column '{}' of the export is not text",
                    field.name()
                ))
            })?;
            let typed = cast_text_column(text, field.data_type(), field.name())
                .with_context(|| format!("reading column '{}' of the export", field.name()))?;
            // `<f>_verified` is never NULL: false until a human verifies.
            let typed: ArrayRef = match (field.is_nullable(), field.data_type()) {
                (false, DataType::Boolean) if typed.null_count() > 0 => {
                    Arc::new(prep_null_mask_filter(typed.as_boolean()))
                }
                _ => typed,
            };
            Ok(typed)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Converts a CSV file to `format` in the types of `columns` (by column name; other columns
/// text), through a partial file renamed at the end; returns the number of rows.
async fn convert(
    csv: &Path,
    output: &Path,
    format: OutputFormat,
    columns: &TableColumns,
) -> anyhow::Result<usize> {
    let ctx = SessionContext::new();
    let path = csv
        .to_str()
        .ok_or_else(|| ShellError::Input(format!("'{}' is not UTF-8", csv.display())))?;
    // Every cell is read as text, then typed by the same rules as the SQL scan's.
    let header = csv_header(csv)?;
    let text = Schema::new(
        header
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let typed: SchemaRef = Arc::new(Schema::new(
        header
            .iter()
            .map(|name| match columns.schema.field_with_name(name) {
                Ok(field) => field.clone(),
                Err(_) => Field::new(name, DataType::Utf8, true),
            })
            .collect::<Vec<_>>(),
    ));
    let frame = ctx
        .read_csv(path, CsvReadOptions::new().schema(&text))
        .await?;
    let mut stream = frame.execute_stream().await?;
    let mut partial = output.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot write '{}'", partial.display()))?;
    let written: anyhow::Result<usize> = async {
        let mut writer = batch_writer(format, Arc::clone(&typed), std::io::BufWriter::new(file))?;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = typed_batch(&batch?, &typed)?;
            rows += batch.num_rows();
            writer.write(&batch)?;
        }
        writer.finish()?;
        Ok(rows)
    }
    .await;
    match written {
        Ok(rows) => {
            std::fs::rename(&partial, output)
                .with_context(|| format!("cannot move the export to '{}'", output.display()))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
