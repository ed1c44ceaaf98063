//! `refuel-ballista`: a Ballista scheduler or executor that runs Refuel tables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use refuel_ballista::credentials::client_from_env;
use refuel_ballista::process::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};

/// Shuffle batches and label pages allocate many small values.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Ballista scheduler or executor with Refuel's codecs, planner and rules. The Refuel
/// endpoint and key come from REFUEL_API_URL and REFUEL_API_KEY (or a key file): every
/// process of a cluster uses the same endpoint, and a key of the team the cluster serves.
#[derive(Debug, Parser)]
#[command(name = "refuel-ballista", version, about)]
struct Cli {
    /// A file whose first line is the API key, when REFUEL_API_KEY is unset (also
    /// REFUEL_API_KEY_FILE).
    #[arg(long, global = true, value_name = "FILE")]
    api_key_file: Option<PathBuf>,

    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Run a scheduler: clients connect to it with `refuel-sql --cluster df://HOST:PORT`.
    Scheduler {
        /// Where to listen.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// Seconds an executor may stay silent before its tasks are run elsewhere.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        executor_timeout: u64,
    },
    /// Run an executor of the scheduler at HOST:PORT.
    Executor {
        /// The scheduler.
        #[arg(long, value_name = "HOST:PORT")]
        scheduler: String,
        /// Where to serve shuffle data to other executors (default: a free port of
        /// 127.0.0.1).
        #[arg(long, value_name = "HOST:PORT")]
        bind: Option<SocketAddr>,
        /// Tasks run at once (default: the number of CPUs).
        #[arg(long, value_name = "N")]
        concurrent_tasks: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("REFUEL_BALLISTA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("refuel-ballista: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("refuel-ballista: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let key_file = cli.api_key_file.as_deref();
    match cli.role {
        Role::Scheduler {
            bind,
            executor_timeout,
        } => {
            let client = client_from_env(key_file, &format!("refuel-ballista-scheduler/{bind}"))?;
            let options = SchedulerOptions {
                bind,
                executor_timeout: Duration::from_secs(executor_timeout),
            };
            run_scheduler(options, client).await?;
        }
        Role::Executor {
            scheduler,
            bind,
            concurrent_tasks,
        } => {
            let (host, port) = split_host_port(&scheduler)?;
            let bind = match bind {
                Some(bind) => bind,
                None => free_port()?,
            };
            let client = client_from_env(key_file, &format!("refuel-ballista-executor/{bind}"))?;
            let concurrent_tasks = concurrent_tasks
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let options = ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                bind,
                concurrent_tasks,
            };
            run_executor(options, client).await?;
        }
    }
    Ok(())
}

/// `HOST:PORT` (a `df://` prefix allowed) as its parts.
fn split_host_port(s: &str) -> anyhow::Result<(String, u16)> {
    let bare = s.strip_prefix("df://").unwrap_or(s).trim_end_matches('/');
    let (host, port) = bare
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--scheduler {s}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| anyhow::anyhow!("--scheduler {s}: the port is not a number"))?;
    Ok((host.to_string(), port))
}

/// A free port of 127.0.0.1.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
