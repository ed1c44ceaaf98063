//! `refuel-sql export --dataset D [--task T] -o FILE`: the platform's export of a dataset
//! (with a task's labels: per field `<f>_label`, `<f>_llm_label`, `<f>_confidence`,
//! `<f>_explanation`, `<f>_verified`), downloaded to FILE. The export is CSV; a `.parquet`,
//! `.json`, `.ndjson` or `.tsv` FILE gets it converted.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use datafusion::prelude::{CsvReadOptions, SessionContext};
use futures::StreamExt;
use refuel_client::WaitOptions;

use crate::connect::Connection;
use crate::error::ShellError;
use crate::print_format::{FileFormat, PrintFormat, batch_writer};
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
    let format = FileFormat::from_path(&args.output, Some(PrintFormat::Csv))?;
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
    let summary = if format == FileFormat::Text(PrintFormat::Csv) {
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
        let rows = convert(staged.path(), &args.output, format).await?;
        crate::print_options::rows(rows)
    };
    spinner.finish(&format!("exported {what}"));
    println!("exported {what} to {} ({summary})", args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// Converts a CSV file to `format`, through a partial file renamed at the end; returns the
/// number of rows.
async fn convert(csv: &Path, output: &Path, format: FileFormat) -> anyhow::Result<usize> {
    let ctx = SessionContext::new();
    let path = csv
        .to_str()
        .ok_or_else(|| ShellError::Input(format!("'{}' is not UTF-8", csv.display())))?;
    let frame = ctx.read_csv(path, CsvReadOptions::new()).await?;
    let mut stream = frame.execute_stream().await?;
    let mut partial = output.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot write '{}'", partial.display()))?;
    let written: anyhow::Result<usize> = async {
        let mut writer = batch_writer(format, stream.schema(), std::io::BufWriter::new(file))?;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
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
