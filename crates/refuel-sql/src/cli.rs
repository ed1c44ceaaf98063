//! The command line: the shell's options, the connection settings every subcommand shares,
//! and the subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use refuel_client::{ApiKey, ServerSemantics};

use crate::print_format::PrintFormat;
use crate::subcommands;

/// A SQL shell over Refuel datasets and labels. Without an API key it runs a local emulator
/// with demo data.
#[derive(Debug, Parser)]
#[command(name = "refuel-sql", version, about, long_about = None)]
pub struct Cli {
    /// Where and how to connect.
    #[command(flatten)]
    pub connection: ConnectionArgs,

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

/// Connection settings, shared by the shell and every subcommand.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The Refuel API's base URL.
    #[arg(long, env = "REFUEL_API_URL", global = true, value_name = "URL")]
    pub endpoint: Option<String>,

    /// The API key. Without one (and without --endpoint) refuel-sql runs a local emulator.
    #[arg(
        long,
        env = "REFUEL_API_KEY",
        hide_env_values = true,
        global = true,
        value_name = "KEY",
        value_parser = parse_api_key
    )]
    pub api_key: Option<ApiKey>,

    /// The current project: bare table names resolve in it. Local default: `demo`.
    #[arg(long, env = "REFUEL_PROJECT", global = true, value_name = "PROJECT")]
    pub project: Option<String>,

    /// Run the emulator in-process on DIR (default: REFUEL_SQL_DATA_DIR, else
    /// ~/.local/share/refuel-sql), seeded with demo data the first time.
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        global = true,
        conflicts_with = "endpoint"
    )]
    pub local: Option<Option<PathBuf>>,

    /// What the server does where the API contract leaves it open (text order, NULL order,
    /// LIKE, regex dialect, page cap): decides what SQL pushes into the API. A preset
    /// (`conservative`, the default; `emulator`) then `key=value` settings, e.g.
    /// `conservative,null_order=last`. The local emulator always uses `emulator`.
    #[arg(
        long,
        env = "REFUEL_SERVER_SEMANTICS",
        global = true,
        value_name = "SETTINGS",
        value_parser = parse_semantics
    )]
    pub server_semantics: Option<ServerSemantics>,
}

fn parse_semantics(raw: &str) -> Result<ServerSemantics, String> {
    raw.parse().map_err(|e: refuel_client::Error| e.to_string())
}

fn parse_api_key(raw: &str) -> Result<ApiKey, String> {
    let key = raw.trim();
    if key.is_empty() {
        Err("the API key is empty".to_string())
    } else {
        Ok(ApiKey::new(key))
    }
}

/// Subcommands: moving data in and out, and labeling.
#[derive(Debug, Subcommand)]
pub enum SubCommand {
    /// Upload a CSV/Parquet file or register a URL as a new dataset.
    Upload(subcommands::upload::UploadArgs),
    /// Start a task run (batch labeling) on a dataset.
    Run(subcommands::run::RunArgs),
    /// Label NDJSON rows from standard input with a deployed application; write NDJSON.
    Label(subcommands::label::LabelArgs),
    /// Export a dataset (with a task's labels) to a file.
    Export(subcommands::export::ExportArgs),
    /// Print a shell completion script.
    Completions(subcommands::completions::CompletionsArgs),
}
