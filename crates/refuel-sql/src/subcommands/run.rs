//! `refuel-sql run --task T --dataset D [--num-items N] [--wait]`: batch labeling, with
//! progress from the run's metrics.

use std::process::ExitCode;
use std::time::Duration;

use refuel_client::{RefuelClient, WaitOptions};

use crate::progress::Progress;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The labeling task (name or id).
    #[arg(long, value_name = "TASK")]
    pub task: String,
    /// The dataset to label (name or id).
    #[arg(long, value_name = "DATASET")]
    pub dataset: String,
    /// Label at most N rows not labeled yet (default: every one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub num_items: Option<u64>,
    /// Wait until the run ends (and show its progress).
    #[arg(long)]
    pub wait: bool,
}

/// Runs `run`.
pub async fn run(
    args: &RunArgs,
    client: &RefuelClient,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let described = format!("task '{}' on dataset '{}'", args.task, args.dataset);
    client
        .runs()
        .start(&args.task, &args.dataset, args.num_items)
        .await?;
    if !args.wait {
        println!("started a run of {described}");
        return Ok(ExitCode::SUCCESS);
    }
    let bar = progress.bar(&format!("labeling with {described}"), None);
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(500),
        timeout: Duration::from_secs(7 * 24 * 3600),
    };
    let run = client
        .runs()
        .wait_for_completion(&args.task, &args.dataset, wait, |p| {
            let total = p.labeled.saturating_add(p.remaining);
            bar.set(p.labeled, (total > 0).then_some(total));
        })
        .await?;
    let labeled = refuel_client::RunProgress::from_run(&run).labeled;
    bar.finish(&format!("run of {described}: {}", run.status));
    println!("run of {described} {}: {labeled} rows labeled", run.status);
    Ok(ExitCode::SUCCESS)
}
