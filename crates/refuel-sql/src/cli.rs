//! The command line: the shell's options, the connection settings every subcommand shares,
//! and the subcommands.

use std::path::PathBuf;

use clap::Parser;

use refuel_ballista::Cluster;

use crate::connect::ConnectionArgs;
use crate::print_format::PrintFormat;
use crate::subcommands::SubCommand;

/// A SQL shell over Refuel datasets and labels. Without an API key it runs a local emulator
/// with demo data.
#[derive(Debug, Parser)]
#[command(name = "refuel-sql", version, about, long_about = None)]
pub struct Cli {
    /// Where and how to connect.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Run statements on a Ballista cluster: `df://HOST:PORT` (a `refuel-ballista
    /// scheduler`, whose processes read Refuel with their own key) or `standalone` (a
    /// scheduler and an executor in this process). Names resolve here, with this shell's
    /// key; writes into Refuel and `refuel_label` run only without it.
    #[arg(long, value_name = "df://HOST:PORT|standalone", value_parser = parse_cluster)]
    pub cluster: Option<Cluster>,

    /// Run this SQL statement or backslash command and exit; repeat for more (run in order,
    /// before any `-f` file).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,

    /// Run the statements of FILE and exit (`-` reads standard input); repeatable.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format of query results (default: table).
    #[arg(long, value_enum, global = true)]
    pub format: Option<PrintFormat>,

    /// Write query results to FILE instead of standard output; its extension picks the format
    /// (.csv, .tsv, .json, .ndjson/.jsonl, .parquet, .txt for a table).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Show at most N rows of a result (0: all). Default: 40 when printing a table, all
    /// otherwise. The row count always counts every row.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<usize>,

    /// Print how long each statement took.
    #[arg(long)]
    pub timing: bool,

    /// No row counts or notices, only results and errors.
    #[arg(short, long)]
    pub quiet: bool,

    /// Show error details (causes) and log requests to standard error.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// What to do instead of the shell.
    #[command(subcommand)]
    pub subcommand: Option<SubCommand>,
}

fn parse_cluster(raw: &str) -> Result<Cluster, String> {
    raw.parse()
        .map_err(|e: refuel_ballista::session::InvalidCluster| e.to_string())
}
