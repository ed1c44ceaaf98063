//! Subcommands that move data and label it: `upload`, `run`, `label`, `export`, and
//! `completions`.

pub mod completions;
pub mod export;
pub mod label;
pub mod run;
pub mod upload;

use std::process::ExitCode;

use crate::cli::SubCommand;
use crate::connect::Connection;
use crate::progress::Progress;

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
        SubCommand::Completions(args) => {
            completions::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
