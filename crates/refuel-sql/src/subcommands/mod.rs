//! Subcommands that move data and label it: `upload`, `run`, `label`, `export`; `serve`
//! (a Flight SQL server); and `completions`.

pub mod completions;
pub mod export;
pub mod label;
pub mod run;
pub mod serve;
pub mod upload;

use std::process::ExitCode;

use clap::Subcommand;

use crate::connect::Connection;
use crate::progress::Progress;

/// Subcommands: moving data in and out, and labeling.
#[derive(Debug, Subcommand)]
pub enum SubCommand {
    /// Upload a CSV/Parquet file or register a URL as a new dataset.
    Upload(upload::UploadArgs),
    /// Start a task run (batch labeling) on a dataset.
    Run(run::RunArgs),
    /// Label NDJSON rows from standard input with a deployed application; write NDJSON.
    Label(label::LabelArgs),
    /// Export a dataset (with a task's labels) to a file.
    Export(export::ExportArgs),
    /// Serve the catalog over Arrow Flight SQL (BI tools, JDBC/ODBC/ADBC), each caller
    /// with its own API key.
    Serve(serve::ServeArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
}

/// Runs a subcommand on an open connection.
pub async fn run(
    sub: &SubCommand,
    connection: &Connection,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let client = &connection.client;
    match sub {
        SubCommand::Upload(args) => upload::run(args, connection, progress).await,
        SubCommand::Run(args) => run::run(args, client, progress).await,
        SubCommand::Label(args) => label::run(args, client, progress).await,
        SubCommand::Export(args) => export::run(args, connection, progress).await,
        // Run before any connection is made (see `exec::run`).
        SubCommand::Completions(_) | SubCommand::Serve(_) => Err(anyhow::anyhow!(
            "refuel-sql completions and serve run without a shared connection"
        )),
    }
}
