//! Task runs: batch labeling of a dataset by a task — start, cancel, status with metrics,
//! and waiting for the end with progress.

use std::time::{Duration, Instant};

use reqwest::Method;

use super::datasets::WaitOptions;
use crate::RefuelClient;
use crate::error::{Error, Result};
use crate::models::{RunMetrics, RunStatus, TaskRun};
use crate::retry::Idempotency;
use crate::transport::{Call, decode_data};

/// Where a run stands, from its metrics: what [`Runs::wait_for_completion`] reports after
/// every poll.
#[derive(Debug, Clone, PartialEq)]
pub struct RunProgress {
    /// The run's status.
    pub status: RunStatus,
    /// Rows labeled so far (`num_labeled`; 0 when the server does not say).
    pub labeled: u64,
    /// Rows still to label (`num_remaining`; 0 when the server does not say).
    pub remaining: u64,
    /// The server's estimate of the time left (`time_remaining_seconds`), sent only while
    /// the run is active.
    pub eta: Option<Duration>,
}

impl RunProgress {
    /// The progress of a run whose metrics were fetched with it (as [`Runs::status`] does).
    pub fn from_run(run: &TaskRun) -> Self {
        let count = |name: &str| {
            run.metric(name)
                .filter(|v| v.is_finite() && *v > 0.0)
                // Counts are whole numbers; `as` saturates on the (absurd) huge ones.
                .map_or(0, |v| v.round() as u64)
        };
        Self {
            status: run.status.clone(),
            labeled: count("num_labeled"),
            remaining: count("num_remaining"),
            eta: run
                .metric("time_remaining_seconds")
                .and_then(|s| Duration::try_from_secs_f64(s).ok()),
        }
    }

    /// The share of rows labeled, in `[0, 1]`, when the counts say.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.labeled.checked_add(self.remaining)?;
        (total > 0).then(|| self.labeled as f64 / total as f64)
    }
}

/// The task runs of the client's current project.
#[derive(Debug, Clone, Copy)]
pub struct Runs<'c> {
    client: &'c RefuelClient,
}

/// A task and a dataset resolved to ids, with the names given for messages.
struct RunRef<'a> {
    task: &'a str,
    dataset: &'a str,
    task_id: String,
    dataset_id: String,
}

impl RunRef<'_> {
    fn runs_path(&self) -> String {
        format!("/tasks/{}/runs", super::segment(&self.task_id))
    }

    fn run_path(&self) -> String {
        format!(
            "/tasks/{}/runs/{}",
            super::segment(&self.task_id),
            super::segment(&self.dataset_id)
        )
    }

    fn describe(&self) -> String {
        format!("task '{}' on dataset '{}'", self.task, self.dataset)
    }

    /// `task_id` and `dataset_id`, the query of every run request of the Python SDK
    /// (`client.py:892`, `967-970`, `996`).
    fn params(&self) -> [(&'static str, String); 2] {
        [
            ("task_id", self.task_id.clone()),
            ("dataset_id", self.dataset_id.clone()),
        ]
    }
}

impl<'c> Runs<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    async fn resolve<'a>(&self, task: &'a str, dataset: &'a str) -> Result<RunRef<'a>> {
        let tasks = self.client.tasks();
        let datasets = self.client.datasets();
        let (task_id, dataset_id) = futures::try_join!(tasks.id(task), datasets.id(dataset))?;
        Ok(RunRef {
            task,
            dataset,
            task_id,
            dataset_id,
        })
    }

    /// Starts labeling a dataset (name or id) with a task (name or id): the first
    /// `num_items` rows, or every row when `None`.
    pub async fn start(
        &self,
        task: &str,
        dataset: &str,
        num_items: Option<u64>,
    ) -> Result<TaskRun> {
        if num_items == Some(0) {
            return Err(Error::InvalidArgument(
                "num_items must be at least 1 (None labels the whole dataset)".into(),
            ));
        }
        let run = self.resolve(task, dataset).await?;
        let call = start_call(&run, num_items);
        self.client.transport().call(&call).await
    }

    /// Cancels the run of a task on a dataset, and returns the run as the server then
    /// reports it. Cancelling twice is harmless, so the call is retried like a read.
    pub async fn cancel(&self, task: &str, dataset: &str) -> Result<TaskRun> {
        let run = self.resolve(task, dataset).await?;
        let call = cancel_call(&run);
        let context = call.context.clone();
        let body = self.client.transport().call_bytes(&call).await?;
        // The contract leaves the answer open: use the run when it is there, else ask.
        match decode_data::<TaskRun>(&context, &body) {
            Ok(cancelled) => Ok(cancelled),
            Err(_) => self.status_of(&run).await,
        }
    }

    /// The run of a task on a dataset, with its metrics (`num_labeled`, `num_remaining`,
    /// and while active `time_elapsed_seconds`, `time_remaining_seconds`) in `metrics`, as
    /// the Python SDK's `get_task_run` returns it.
    pub async fn status(&self, task: &str, dataset: &str) -> Result<TaskRun> {
        let run = self.resolve(task, dataset).await?;
        self.status_of(&run).await
    }

    async fn status_of(&self, run: &RunRef<'_>) -> Result<TaskRun> {
        let call = status_call(run);
        let transport = self.client.transport();
        let (mut current, metrics) =
            futures::try_join!(transport.call::<TaskRun>(&call), self.metrics_of(run))?;
        current.metrics = metrics.task;
        Ok(current)
    }

    /// The metrics of the run of a task on a dataset: for the run, and per field id.
    pub async fn metrics(&self, task: &str, dataset: &str) -> Result<RunMetrics> {
        let run = self.resolve(task, dataset).await?;
        self.metrics_of(&run).await
    }

    async fn metrics_of(&self, run: &RunRef<'_>) -> Result<RunMetrics> {
        self.client.transport().call(&metrics_call(run)).await
    }

    /// Every run of a task (name or id), one per dataset it ran on: `GET /tasks/{id}/runs`
    /// (the contract's call; the Python SDK has none, the TypeScript SDK's takes optional
    /// `datasetId`/`evalSet` filters, which are not sent here).
    pub async fn list(&self, task: &str) -> Result<Vec<TaskRun>> {
        let task_id = self.client.tasks().id(task).await?;
        let call = Call::get(
            format!("/tasks/{}/runs", super::segment(&task_id)),
            format!("list the runs of task '{task}'"),
        );
        self.client
            .transport()
            .call(&call)
            .await
            .map_err(|e| super::not_found(e, crate::ResourceKind::Task, task, self.client))
    }

    /// Polls the run of a task on a dataset until it ends, calling `progress` after every
    /// poll. Returns the run when it is `completed`, or `paused` (a run started with
    /// `num_items` pauses once those rows are labeled, as the Python SDK's
    /// `wait_for_task_completion` takes it); a run that `failed` or was `cancelled` is
    /// [`Error::RunEnded`], one that outlasts `options.timeout` is [`Error::Timeout`].
    pub async fn wait_for_completion(
        &self,
        task: &str,
        dataset: &str,
        options: WaitOptions,
        mut progress: impl FnMut(&RunProgress),
    ) -> Result<TaskRun> {
        let start = Instant::now();
        let run = self.resolve(task, dataset).await?;
        loop {
            let current = self.status_of(&run).await?;
            progress(&RunProgress::from_run(&current));
            if let Some(ended) = run_outcome(task, dataset, current)? {
                return Ok(ended);
            }
            if start.elapsed() + options.poll_interval > options.timeout {
                return Err(Error::Timeout {
                    what: format!("the run of {}", run.describe()),
                    timeout: options.timeout,
                });
            }
            tokio::time::sleep(options.poll_interval).await;
        }
    }
}

/// The request that starts a run, as the Python SDK's `start_task_run` sends it
/// (`client.py:967-980`): `task_id`, `dataset_id`, and `num_items` when given.
fn start_call<'a>(run: &RunRef<'_>, num_items: Option<u64>) -> Call<'a> {
    let call = Call::new(
        Method::POST,
        run.runs_path(),
        format!("start a run of {}", run.describe()),
    )
    .queries(run.params());
    match num_items {
        Some(n) => call.query("num_items", n),
        None => call,
    }
}

/// The request that cancels a run, as the Python SDK's `cancel_task_run` sends it
/// (`client.py:996-1001`): `cancel_run` is a Python `True`, which `requests` writes `True`.
fn cancel_call<'a>(run: &RunRef<'_>) -> Call<'a> {
    Call::new(
        Method::POST,
        run.runs_path(),
        format!("cancel the run of {}", run.describe()),
    )
    .queries(run.params())
    .query("cancel_run", "True")
    .idempotency(Idempotency::Idempotent)
}

/// The request for a run's status, as the Python SDK's `get_task_run` sends it
/// (`client.py:892-897`).
fn status_call<'a>(run: &RunRef<'_>) -> Call<'a> {
    Call::get(run.run_path(), format!("get the run of {}", run.describe())).queries(run.params())
}

/// The request for a run's metrics, as the Python SDK's `get_task_run` sends it
/// (`client.py:900-904`).
fn metrics_call<'a>(run: &RunRef<'_>) -> Call<'a> {
    Call::get(
        format!("{}/metrics", run.run_path()),
        format!("get the metrics of the run of {}", run.describe()),
    )
    .queries(run.params())
}

/// What a polled run means for a waiter: `Some(run)` when it is done, `None` while it goes
/// on, an error when it ended badly.
fn run_outcome(task: &str, dataset: &str, run: TaskRun) -> Result<Option<TaskRun>> {
    match run.status {
        RunStatus::Completed | RunStatus::Paused => Ok(Some(run)),
        RunStatus::Failed | RunStatus::Cancelled => {
            let message = run.error.clone().unwrap_or_else(|| {
                if run.status == RunStatus::Failed {
                    "the platform reported a failure without a reason".to_string()
                } else {
                    "the run was cancelled".to_string()
                }
            });
            Err(Error::RunEnded {
                task: task.to_string(),
                dataset: dataset.to_string(),
                status: run.status,
                message,
            })
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Metric;

    fn run(status: RunStatus, metrics: &[(&str, Option<f64>)]) -> TaskRun {
        TaskRun {
            id: None,
            project_id: None,
            task_id: None,
            task_name: None,
            dataset_id: None,
            dataset_name: None,
            model_name: None,
            status,
            error: None,
            created_at: None,
            updated_at: None,
            metrics: metrics
                .iter()
                .map(|(name, value)| Metric {
                    name: (*name).to_string(),
                    value: value.map_or(serde_json::Value::Null, Into::into),
                })
                .collect(),
        }
    }

    #[test]
    fn progress_from_metrics() {
        let active = run(
            RunStatus::Active,
            &[
                ("num_labeled", Some(40.0)),
                ("num_remaining", Some(60.0)),
                ("time_elapsed_seconds", Some(12.0)),
                ("time_remaining_seconds", Some(18.5)),
            ],
        );
        let p = RunProgress::from_run(&active);
        assert_eq!(p.status, RunStatus::Active);
        assert_eq!((p.labeled, p.remaining), (40, 60));
        assert_eq!(p.eta, Some(Duration::from_millis(18_500)));
        assert_eq!(p.fraction(), Some(0.4));

        let done = run(
            RunStatus::Completed,
            &[
                ("num_labeled", Some(100.0)),
                ("time_remaining_seconds", None),
            ],
        );
        let p = RunProgress::from_run(&done);
        assert_eq!((p.labeled, p.remaining, p.eta), (100, 0, None));

        let odd = run(
            RunStatus::Active,
            &[
                ("num_labeled", Some(-3.0)),
                ("num_remaining", Some(f64::NAN)),
                ("time_remaining_seconds", Some(-1.0)),
            ],
        );
        let p = RunProgress::from_run(&odd);
        assert_eq!((p.labeled, p.remaining, p.eta), (0, 0, None));
        assert_eq!(p.fraction(), None);
    }

    #[test]
    fn outcomes() {
        assert!(
            run_outcome("t", "d", run(RunStatus::Active, &[]))
                .unwrap()
                .is_none()
        );
        assert!(
            run_outcome("t", "d", run(RunStatus::NotStarted, &[]))
                .unwrap()
                .is_none()
        );
        assert!(
            run_outcome("t", "d", run(RunStatus::Completed, &[]))
                .unwrap()
                .is_some()
        );
        assert!(
            run_outcome("t", "d", run(RunStatus::Paused, &[]))
                .unwrap()
                .is_some()
        );
        let mut failed = run(RunStatus::Failed, &[]);
        failed.error = Some("labeler crashed".into());
        let err = run_outcome("t", "d", failed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the run of task 't' on dataset 'd' ended as failed: labeler crashed"
        );
        let err = run_outcome("t", "d", run(RunStatus::Cancelled, &[])).unwrap_err();
        assert!(matches!(
            err,
            Error::RunEnded {
                status: RunStatus::Cancelled,
                ..
            }
        ));
    }

    #[test]
    fn start_request() {
        let r = RunRef {
            task: "sentiment",
            dataset: "reviews",
            task_id: "t-1".into(),
            dataset_id: "d-1".into(),
        };
        let call = start_call(&r, Some(100));
        assert_eq!(call.method, Method::POST);
        assert_eq!(call.path, "/tasks/t-1/runs");
        assert_eq!(
            call.query,
            vec![
                ("task_id", "t-1".to_string()),
                ("dataset_id", "d-1".to_string()),
                ("num_items", "100".to_string()),
            ]
        );
        assert_eq!(call.idempotency, Idempotency::NotIdempotent);
        assert_eq!(start_call(&r, None).query.len(), 2);
        assert_eq!(r.run_path(), "/tasks/t-1/runs/d-1");
        let ids = vec![
            ("task_id", "t-1".to_string()),
            ("dataset_id", "d-1".to_string()),
        ];
        let cancel = cancel_call(&r);
        assert_eq!(
            (cancel.method, cancel.path.as_str()),
            (Method::POST, "/tasks/t-1/runs")
        );
        let mut cancel_query = ids.clone();
        cancel_query.push(("cancel_run", "True".to_string()));
        assert_eq!(cancel.query, cancel_query);
        let status = status_call(&r);
        assert_eq!(
            (status.method, status.path.as_str()),
            (Method::GET, "/tasks/t-1/runs/d-1")
        );
        assert_eq!(status.query, ids);
        let metrics = metrics_call(&r);
        assert_eq!(metrics.path, "/tasks/t-1/runs/d-1/metrics");
        assert_eq!(metrics.query, ids);
    }
}
