//! Datasets: list, get, upload a CSV, register a URI, wait for ingest, delete, add rows.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::multipart::{Form, Part};

use crate::RefuelClient;
use crate::error::{Error, ResourceKind, Result, redact_url};
use crate::models::{Dataset, DatasetSummary, IngestStatus, Row};
use crate::retry::Idempotency;
use crate::transport::Call;

use super::resource::Collection;

/// How [`Datasets::wait_for_ingest`] polls.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Time between two polls (default 1 s).
    pub poll_interval: Duration,
    /// The longest wait (default 15 min, as the Python SDK).
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// Rows sent per request by [`Datasets::add_items`].
pub const ADD_ITEMS_BATCH: usize = 1000;

/// The datasets of the client's current project.
#[derive(Debug, Clone, Copy)]
pub struct Datasets<'c> {
    client: &'c RefuelClient,
}

impl<'c> Datasets<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    fn collection(&self) -> Collection<'c, DatasetSummary> {
        Collection::new(
            self.client,
            ResourceKind::Dataset,
            |project_id| Call::get("/datasets", "list datasets").query("project_id", project_id),
            "/datasets",
        )
        .in_project()
    }

    /// Every dataset of the current project.
    pub async fn list(&self) -> Result<Vec<DatasetSummary>> {
        self.collection().list().await
    }

    /// The id of a dataset given by name or id.
    pub async fn id(&self, dataset: &str) -> Result<String> {
        self.collection().id(dataset).await
    }

    /// One dataset (schema, ingest status, row count), by name or id, without rows.
    pub async fn get(&self, dataset: &str) -> Result<Dataset> {
        self.collection().get(dataset).await
    }

    /// Uploads a local CSV file as a new dataset, streaming it from disk (multipart). The
    /// server ingests it asynchronously: see [`Datasets::wait_for_ingest`].
    pub async fn upload_file(&self, path: impl AsRef<Path>, name: &str) -> Result<Dataset> {
        let path = path.as_ref();
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::io(format!("read '{}'", path.display()), e))?;
        if !meta.is_file() {
            return Err(Error::InvalidArgument(format!(
                "'{}' is not a file",
                path.display()
            )));
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data.csv".to_string());
        let len = meta.len();
        let context = format!("upload '{}' as dataset '{name}'", path.display());
        self.create(name, &context, move |rb| {
            let file = std::fs::File::open(path)
                .map_err(|e| Error::io(format!("open '{}'", path.display()), e))?;
            let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
            // As the Python SDK's `requests` sends it (`client.py:537-547`): the fields
            // `name` and `source`, then the part `file` with the file's name and no content
            // type of its own.
            let part = Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                .file_name(file_name.clone());
            let form = Form::new()
                .text("name", name.to_string())
                .text("source", "file")
                .part("file", part);
            Ok(rb.multipart(form))
        })
        .await
    }

    /// Registers a URL as a new dataset (`source=uri`): the server downloads it, so it must
    /// be reachable from the server (e.g. a presigned object-store URL). The URL's query
    /// string never appears in errors or logs.
    pub async fn register_uri(&self, url: &str, name: &str) -> Result<Dataset> {
        let context = format!("register '{}' as dataset '{name}'", redact_url(url));
        // A form (urlencoded), as the Python SDK sends it (`client.py:549-559`).
        self.create(name, &context, move |rb| {
            Ok(rb.form(&[("name", name), ("source", "uri"), ("source_path", url)]))
        })
        .await
    }

    async fn create(
        &self,
        name: &str,
        context: &str,
        body: impl Fn(reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> + Send + Sync,
    ) -> Result<Dataset> {
        if name.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "a dataset needs a non-empty name".into(),
            ));
        }
        self.collection()
            .create_once(
                name,
                |project_id| {
                    Call::new(
                        Method::POST,
                        format!("/projects/{}/datasets", super::segment(project_id)),
                        context,
                    )
                    .body_with(&body)
                },
                |entry| async move { self.get(&entry.id).await },
            )
            .await
    }

    /// Polls the dataset until its ingest ends. Returns it on success; an ingest that failed
    /// is [`Error::IngestFailed`], one that outlasts `options.timeout` is [`Error::Timeout`].
    pub async fn wait_for_ingest(&self, dataset: &str, options: WaitOptions) -> Result<Dataset> {
        self.wait_for_ingest_with(dataset, options, |_| {}).await
    }

    /// As [`Datasets::wait_for_ingest`], calling `progress` with the dataset after every poll.
    pub async fn wait_for_ingest_with(
        &self,
        dataset: &str,
        options: WaitOptions,
        mut progress: impl FnMut(&Dataset),
    ) -> Result<Dataset> {
        let start = Instant::now();
        loop {
            let current = self.get(dataset).await?;
            progress(&current);
            match current.ingest_status {
                IngestStatus::Success => return Ok(current),
                IngestStatus::Failed => {
                    return Err(Error::IngestFailed {
                        dataset: dataset.to_string(),
                        message: current
                            .ingest_error
                            .clone()
                            .unwrap_or_else(|| "the server gave no reason".to_string()),
                    });
                }
                _ => {}
            }
            if start.elapsed() + options.poll_interval > options.timeout {
                return Err(Error::Timeout {
                    what: format!("ingest of dataset '{dataset}'"),
                    timeout: options.timeout,
                });
            }
            tokio::time::sleep(options.poll_interval).await;
        }
    }

    /// Deletes a dataset and its rows.
    pub async fn delete(&self, dataset: &str) -> Result<()> {
        self.collection().delete(dataset).await
    }

    /// Appends rows, in batches of [`ADD_ITEMS_BATCH`]: each batch is the request the Python
    /// SDK's `add_items` sends (`client.py:652-656`, a JSON list of rows), which sends all
    /// the rows in one request; batches keep a request's size bounded. The dataset's schema
    /// does not change: the server refuses unknown columns and values of the wrong type.
    ///
    /// An append is never retried blindly (a retried append could duplicate rows): only when
    /// the connection could not be made, or on 429. When a batch fails, the error says how
    /// many rows were appended before it.
    pub async fn add_items(&self, dataset: &str, rows: &[Row]) -> Result<()> {
        let id = self.id(dataset).await?;
        for (i, batch) in rows.chunks(ADD_ITEMS_BATCH).enumerate() {
            let done = i * ADD_ITEMS_BATCH;
            let context = if rows.len() > ADD_ITEMS_BATCH {
                format!(
                    "add rows {}..{} of {} to dataset '{dataset}' ({done} rows already added)",
                    done,
                    done + batch.len(),
                    rows.len()
                )
            } else {
                format!("add {} rows to dataset '{dataset}'", rows.len())
            };
            let call = Call::new(Method::POST, format!("/datasets/{id}/items"), context)
                .idempotency(Idempotency::NotIdempotent)
                .json(&batch);
            self.client.transport().call_unit(&call).await?;
        }
        Ok(())
    }
}
