//! Progress of a running statement's Refuel scans on a terminal: the rows read so far and
//! their rate, from the scans' `output_rows` metrics, until the statement's first output
//! (or its end) so that it never mixes with printed rows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::physical_plan::ExecutionPlan;

use crate::progress::{Bar, Progress};

/// How long a statement runs before its progress shows (quick ones show none).
const SHOW_AFTER: Duration = Duration::from_millis(700);
/// How often the line is refreshed.
const TICK: Duration = Duration::from_millis(250);
/// The scan nodes whose rows are counted.
const SCAN_NODE: &str = "RefuelScanExec";

/// The rows Refuel scans of `plan` have produced so far.
pub fn rows_read(plan: &dyn ExecutionPlan) -> usize {
    let own = if plan.name() == SCAN_NODE {
        plan.metrics().and_then(|m| m.output_rows()).unwrap_or(0)
    } else {
        0
    };
    own + plan
        .children()
        .into_iter()
        .map(|child| rows_read(child.as_ref()))
        .sum::<usize>()
}

/// A progress line for a running statement; stops at [`ScanProgress::stop`] or on drop.
#[derive(Debug)]
pub struct ScanProgress {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ScanProgress {
    /// Watches `plan`'s scans, when progress goes to a terminal and the plan reads Refuel.
    pub fn start(progress: &Progress, plan: Arc<dyn ExecutionPlan>) -> Self {
        let task = (progress.is_terminal() && reads_refuel(plan.as_ref())).then(|| {
            let progress = *progress;
            tokio::spawn(async move {
                tokio::time::sleep(SHOW_AFTER).await;
                let bar = progress.bar("reading", None);
                let started = Instant::now();
                loop {
                    show(&bar, rows_read(plan.as_ref()), started.elapsed());
                    tokio::time::sleep(TICK).await;
                }
            })
        });
        Self {
            task: Mutex::new(task),
        }
    }

    /// Removes the line (before output is printed). Idempotent.
    pub fn stop(&self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            // Aborting drops the bar, which clears its line.
            task.abort();
        }
    }
}

impl Drop for ScanProgress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the plan has a Refuel scan.
fn reads_refuel(plan: &dyn ExecutionPlan) -> bool {
    plan.name() == SCAN_NODE
        || plan
            .children()
            .into_iter()
            .any(|child| reads_refuel(child.as_ref()))
}

/// Updates the line: rows read and their rate.
fn show(bar: &Bar, rows: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = rows as f64 / secs;
    bar.status(&format!("{rows} rows from Refuel, {rate:.0} rows/s"));
}
