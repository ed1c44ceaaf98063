//! Background work on labels: task runs, and labeling for applications.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures::StreamExt;
use refuel_client::models::RunStatus;

use crate::labeler::Labeler;
use crate::model::{Cell, FieldLabel, LabeledRow, RowInput, RowKey, TaskSpec};
use crate::state::{AppState, blocking};
use crate::store::{DatasetEntry, RunState, TaskRec};

/// Rows labeled and stored together.
const BATCH: usize = 500;
/// Rows labeled at once within a batch.
const CONCURRENCY: usize = 16;
/// Up to this many rows, a labeler that computes without waiting labels on the caller's
/// thread.
const INLINE_ROWS: usize = 16;

/// Starts (or resumes) a run in the background.
pub(crate) fn spawn_run(state: AppState, run: Arc<RunState>) {
    let bg = state.clone();
    bg.spawn_background(async move {
        let outcome = execute(&state, &run).await;
        let (status, error) = match outcome {
            // A cancel that raced with the last batch still wins.
            Ok(Some(_)) if run.cancel.load(Ordering::SeqCst) => (RunStatus::Cancelled, None),
            Ok(Some(status)) => (status, None),
            // The emulator is stopping: the run stays active and resumes on the next start.
            Ok(None) => return,
            Err(message) => (RunStatus::Failed, Some(message)),
        };
        let id = run.rec.lock().id.clone();
        let (ended, end) = (Arc::clone(&run), status.clone());
        let recorded = blocking(&state, move |store| store.set_run_status(&ended, end, error)).await;
        if let Err(e) = recorded {
            tracing::error!(run = %id, error = %e, "could not record the end of a run");
        }
        tracing::info!(run = %id, status = %status, labeled = run.labeled.load(Ordering::Relaxed), "run ended");
    });
}

/// The rows of `entry` a run would label next: live rows from `from` on without a machine
/// label for the task, in default order. Also returns where to look next time.
pub(crate) fn unlabeled(
    entry: &DatasetEntry,
    task_id: &str,
    from: usize,
    limit: usize,
) -> (Vec<(u32, RowInput)>, usize) {
    let data = entry.data.read();
    let labels = entry.labels.read();
    let set = labels.get(task_id);
    let mut out = Vec::new();
    let mut next = from;
    for (i, row) in data.rows.iter().enumerate().skip(from) {
        if out.len() >= limit {
            break;
        }
        next = i + 1;
        let Some(cells) = row.as_deref() else {
            continue;
        };
        if set.is_some_and(|s| s.is_labeled(i)) {
            continue;
        }
        let input: RowInput = data
            .columns
            .iter()
            .cloned()
            .zip(cells.iter().cloned())
            .collect();
        out.push((i as u32, input));
    }
    (out, next)
}

/// Counts live rows without a machine label for the task.
pub(crate) fn count_unlabeled(entry: &DatasetEntry, task_id: &str) -> u64 {
    let data = entry.data.read();
    let labels = entry.labels.read();
    let set = labels.get(task_id);
    data.rows
        .iter()
        .enumerate()
        .filter(|(i, r)| r.is_some() && !set.is_some_and(|s| s.is_labeled(*i)))
        .count() as u64
}

async fn execute(state: &AppState, run: &Arc<RunState>) -> Result<Option<RunStatus>, String> {
    let (team, task_id, dataset_id, run_id, target) = {
        let r = run.rec.lock();
        (
            r.team.clone(),
            r.task_id.clone(),
            r.dataset_id.clone(),
            r.id.clone(),
            r.target,
        )
    };
    if run.cancel.load(Ordering::SeqCst) {
        return Ok(Some(RunStatus::Cancelled));
    }
    let started = Arc::clone(run);
    blocking(state, move |store| {
        store.set_run_status(&started, RunStatus::Active, None)
    })
    .await
    .map_err(|e| e.to_string())?;
    *run.started.lock() = Some(Instant::now());
    let mut cursor = 0;
    loop {
        // Let the server's other work run between batches.
        tokio::task::yield_now().await;
        if state.stopping.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if run.cancel.load(Ordering::SeqCst) {
            return Ok(Some(RunStatus::Cancelled));
        }
        let Ok(task) = state.store.task(&team, &task_id) else {
            return Err("the task was deleted during the run".into());
        };
        let Ok(entry) = state.store.dataset(&team, &dataset_id) else {
            return Err("the dataset was deleted during the run".into());
        };
        let done = run.labeled.load(Ordering::SeqCst);
        let left = target.saturating_sub(done);
        if left == 0 {
            return Ok(Some(RunStatus::Completed));
        }
        let (batch, next) = unlabeled(
            &entry,
            &task.id,
            cursor,
            BATCH.min(usize::try_from(left).unwrap_or(BATCH)),
        );
        cursor = next;
        if batch.is_empty() {
            return Ok(Some(RunStatus::Completed));
        }
        let labeled = label_rows(state, &task, entry.serial, batch).await;
        let failures = labeled.iter().filter(|(_, r)| r.is_err()).count();
        if failures == labeled.len() {
            if let Some((_, Err(e))) = labeled.first() {
                return Err(format!("labeling failed for every row of a batch: {e}"));
            }
        }
        let n = labeled.len() as u64;
        let rows = labeled
            .into_iter()
            .map(|(i, r)| {
                (
                    i,
                    r.map(|l| l.fields)
                        .unwrap_or_else(|e| error_labels(&task, &e)),
                )
            })
            .collect();
        let (writer, for_store, run_for_store) = (entry.clone(), task.clone(), run_id.clone());
        blocking(state, move |store| {
            store.put_labels(&writer, &for_store, Some(&run_for_store), rows)
        })
        .await
        .map_err(|e| e.to_string())?;
        run.labeled.fetch_add(n, Ordering::SeqCst);
    }
}

/// One label per field carrying the error.
pub(crate) fn error_labels(task: &TaskRec, error: &str) -> Vec<FieldLabel> {
    task.subtasks
        .iter()
        .map(|_| FieldLabel {
            error: Some(error.to_string()),
            ..Default::default()
        })
        .collect()
}

/// Labels rows of a dataset (given by its serial) with the emulator's labeler, keeping
/// their order. The labeler sees the task with its labeled examples
/// ([`crate::store::Store::labeling_spec`]). A labeler that computes without waiting labels
/// on blocking threads, one chunk per core; one that waits (on a model server) labels a
/// bounded number of rows at once.
pub(crate) async fn label_rows(
    state: &AppState,
    task: &TaskRec,
    dataset: u64,
    rows: Vec<(u32, RowInput)>,
) -> Vec<(u32, Result<LabeledRow, String>)> {
    let spec: TaskSpec = state.store.labeling_spec(task);
    let origin = move |row: u32| Some(RowKey { dataset, row });
    let labeler = Arc::clone(&state.labeler);
    if labeler.labels_now() {
        if rows.len() <= INLINE_ROWS {
            // A few rows cost less than handing them to another thread.
            return rows
                .into_iter()
                .map(|(i, row)| (i, label_now(labeler.as_ref(), &spec, &row, origin(i))))
                .collect();
        }
        return label_on_blocking_threads(labeler, spec, dataset, rows).await;
    }
    let spec = &spec;
    futures::stream::iter(rows)
        .map(|(i, row)| {
            let labeler = Arc::clone(&labeler);
            async move { (i, labeler.label(spec, &row, origin(i)).await) }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

fn label_now(
    labeler: &dyn Labeler,
    spec: &TaskSpec,
    row: &RowInput,
    origin: Option<RowKey>,
) -> Result<LabeledRow, String> {
    labeler
        .label_now(spec, row, origin)
        .unwrap_or_else(|| Err("the labeler cannot label synchronously".into()))
}

async fn label_on_blocking_threads(
    labeler: Arc<dyn Labeler>,
    spec: TaskSpec,
    dataset: u64,
    rows: Vec<(u32, RowInput)>,
) -> Vec<(u32, Result<LabeledRow, String>)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = rows.len().div_ceil(cores).max(1);
    let spec = Arc::new(spec);
    let mut chunks = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let part: Vec<(u32, RowInput)> = rows.by_ref().take(chunk).collect();
        let indices: Vec<u32> = part.iter().map(|(i, _)| *i).collect();
        let (labeler, spec) = (Arc::clone(&labeler), Arc::clone(&spec));
        let handle = tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|(i, row)| {
                    let origin = Some(RowKey { dataset, row: i });
                    (i, label_now(labeler.as_ref(), &spec, &row, origin))
                })
                .collect::<Vec<_>>()
        });
        chunks.push((indices, handle));
    }
    let mut out = Vec::new();
    for (indices, handle) in chunks {
        match handle.await {
            Ok(part) => out.extend(part),
            // Every row of a failed chunk is reported as failed, never dropped.
            Err(e) => out.extend(
                indices
                    .into_iter()
                    .map(|i| (i, Err(format!("a labeling thread failed: {e}")))),
            ),
        }
    }
    out
}

/// A JSON input row as labeler input.
pub(crate) fn input_of(value: &serde_json::Map<String, serde_json::Value>) -> RowInput {
    value
        .iter()
        .map(|(k, v)| {
            let cell = match v {
                serde_json::Value::Null => Cell::Null,
                serde_json::Value::Bool(b) => Cell::Bool(*b),
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .map(Cell::Int)
                    .or_else(|| n.as_f64().map(Cell::Float))
                    .unwrap_or(Cell::Null),
                serde_json::Value::String(s) => Cell::Str(s.as_str().into()),
                other => Cell::Str(other.to_string().into()),
            };
            (k.clone(), cell)
        })
        .collect()
}
