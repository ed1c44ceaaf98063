//! `refuel-sql`: a SQL shell over Refuel datasets and labels.
//!
//! Without an API key it runs the Refuel emulator in-process on a local data directory and,
//! the first time, fills it with a demo project, so a fresh machine goes straight to a query
//! over labeled data. With `--api-key`/`REFUEL_API_KEY` it talks to the Refuel cloud (or to
//! `--endpoint`).

use std::process::ExitCode;

use clap::Parser;
use refuel_sql::cli::Cli;
use refuel_sql::error::report;
use refuel_sql::exec;

/// Label pages and Arrow batches allocate many small values; mimalloc serves them faster
/// than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let verbose = cli.verbose;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("refuel-sql: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(exec::run(cli)) {
        Ok(code) => code,
        Err(e) => report(&e, verbose),
    };
    // Background work (a labeler thread, an idle connection) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

fn init_logging(verbose: bool) {
    let filter = if verbose {
        "refuel_client=debug,refuel_datafusion=debug,refuel_sql=debug,warn"
    } else {
        "error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REFUEL_SQL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
