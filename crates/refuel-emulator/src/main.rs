//! `refuel-emulator`: a local, durable, Refuel-compatible API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use refuel_emulator::labeler::OpenAiConfig;
use refuel_emulator::{DEFAULT_API_KEY, Emulator, EmulatorConfig, LabelerConfig, Network, Profile};

/// Pages of rows allocate many small values; mimalloc serves them faster than the system
/// allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A local, durable, Refuel-compatible API server.
#[derive(Debug, Parser)]
#[command(name = "refuel-emulator", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8321", env = "REFUEL_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// Directory for durable data; without it, data lives in memory.
    #[arg(long, env = "REFUEL_EMULATOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// An accepted API key; repeat for more teams (each key is a team). Default:
    /// `refuel-emulator-key`.
    #[arg(long = "api-key", value_name = "KEY")]
    api_keys: Vec<String>,
    /// What labels task runs and applications: `reference` (offline, deterministic rules;
    /// not an LLM) or `openai` (an OpenAI-compatible chat-completions server).
    #[arg(
        long,
        value_enum,
        default_value = "reference",
        env = "REFUEL_EMULATOR_LABELER"
    )]
    labeler: LabelerKind,
    /// Base URL of the OpenAI-compatible server (with `--labeler openai`).
    #[arg(
        long,
        env = "OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    openai_base_url: String,
    /// Its API key (with `--labeler openai`).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    openai_api_key: Option<String>,
    /// The model used when a task names none (with `--labeler openai`).
    #[arg(
        long,
        env = "REFUEL_EMULATOR_OPENAI_MODEL",
        default_value = "gpt-4o-mini"
    )]
    openai_model: String,
    /// Seconds each finetuning stage lasts.
    #[arg(long, default_value_t = 10.0)]
    finetune_stage_seconds: f64,
    /// Which answers to give where the public contract leaves room: `default` (the
    /// documented behaviour), `cloud-shapes` (the TypeScript SDK's declared shapes, pages of
    /// at most 100 rows) or `flipped` (case-insensitive text, NULLs first ascending, LIKE
    /// wildcards, pages of at most 100 rows).
    #[arg(
        long,
        value_enum,
        default_value = "default",
        env = "REFUEL_EMULATOR_PROFILE"
    )]
    profile: ProfileArg,
    /// Milliseconds added before each API request is handled, to behave like a remote
    /// server.
    #[arg(long, default_value_t = 0, env = "REFUEL_EMULATOR_LATENCY_MS")]
    latency_ms: u64,
    /// Random variation of that delay, plus or minus this many milliseconds (default: a
    /// tenth of the latency).
    #[arg(long, env = "REFUEL_EMULATOR_LATENCY_JITTER_MS")]
    latency_jitter_ms: Option<u64>,
    /// The most rows one page answers, whatever a request asks for (default: the profile's
    /// cap, 10,000 rows, or 100 in the other profiles).
    #[arg(long, env = "REFUEL_EMULATOR_MAX_PAGE_ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    max_page_rows: Option<u64>,
    /// Requests per second allowed per API key (a bucket holding one second's worth);
    /// beyond it, 429 with Retry-After and Retry-After-Ms.
    #[arg(long, env = "REFUEL_EMULATOR_RATE_LIMIT")]
    rate_limit: Option<f64>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ProfileArg {
    Default,
    CloudShapes,
    Flipped,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Default => Profile::Default,
            ProfileArg::CloudShapes => Profile::CloudShapes,
            ProfileArg::Flipped => Profile::Flipped,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LabelerKind {
    Reference,
    Openai,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REFUEL_EMULATOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("refuel-emulator: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("refuel-emulator: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = EmulatorConfig::new()
        .listen(args.listen)
        .profile(args.profile.into());
    if let Some(dir) = &args.data_dir {
        config = config.data_dir(dir);
    }
    if let LabelerKind::Openai = args.labeler {
        config.labeler = LabelerConfig::OpenAi(OpenAiConfig {
            base_url: args.openai_base_url.clone(),
            api_key: args.openai_api_key.clone(),
            model: args.openai_model.clone(),
            timeout: std::time::Duration::from_secs(120),
        });
    }
    if !(args.finetune_stage_seconds.is_finite() && args.finetune_stage_seconds >= 0.0) {
        anyhow::bail!("--finetune-stage-seconds must be a non-negative number");
    }
    config.settings.finetune_stage =
        std::time::Duration::from_secs_f64(args.finetune_stage_seconds);
    config.network = network(&args)?;
    let default_key = args.api_keys.is_empty();
    for key in args.api_keys {
        config = config.api_key(key);
    }
    let handle = Emulator::start(config).await?;
    // The first line of stdout is the URL; tools read it to find an ephemeral port.
    println!("refuel-emulator listening on {}", handle.url());
    if default_key {
        eprintln!("API key: {DEFAULT_API_KEY} (pass --api-key to choose your own)");
    }
    let profile = Profile::from(args.profile);
    if profile != Profile::Default {
        eprintln!("profile: {profile}");
    }
    let network = handle.network();
    if network != Network::default() {
        eprintln!("network: {network:?}");
    }
    match &args.data_dir {
        Some(dir) => eprintln!("data: {}", dir.display()),
        None => eprintln!("data: in memory (pass --data-dir to keep it)"),
    }
    shutdown_signal().await;
    eprintln!("refuel-emulator: stopping");
    handle.shutdown().await;
    Ok(())
}

/// The simulated network the flags ask for.
fn network(args: &Args) -> anyhow::Result<Network> {
    let latency = Duration::from_millis(args.latency_ms);
    let mut network = Network::with_latency(latency);
    if let Some(jitter) = args.latency_jitter_ms {
        network.jitter = Duration::from_millis(jitter);
    }
    network.max_page_rows = args
        .max_page_rows
        .map(|rows| usize::try_from(rows).unwrap_or(usize::MAX));
    if let Some(rate) = args.rate_limit {
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!("--rate-limit must be a positive number of requests per second");
        }
        network.rate_limit = Some(rate);
    }
    Ok(network)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
