//! Dataset exports: ask for a CSV snapshot of a dataset (optionally with a task's labels),
//! wait for its download link, and download it.
//!
//! The link is a presigned URL: it is fetched without the API key, and its query string
//! (the signature) never appears in errors or logs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt;
use url::Url;

use super::datasets::WaitOptions;
use crate::RefuelClient;
use crate::error::{Error, ResourceKind, Result, redact_url};
use crate::models::ExportCreated;
use crate::transport::Call;

/// The dataset exports of the client's current project.
#[derive(Debug, Clone, Copy)]
pub struct Exports<'c> {
    client: &'c RefuelClient,
}

impl<'c> Exports<'c> {
    pub(crate) fn new(client: &'c RefuelClient) -> Self {
        Self { client }
    }

    /// Asks for an export of a dataset (name or id), with the labels of `task` (name or
    /// id) when given. The server also mails the link to `email`, which must belong to a
    /// user of the team. Returns the export's id for [`Exports::wait`].
    pub async fn create(
        &self,
        dataset: &str,
        email: &str,
        task: Option<&str>,
    ) -> Result<ExportCreated> {
        if !email.contains('@') || email.trim() != email {
            return Err(Error::InvalidArgument(format!(
                "'{email}' is not an email address"
            )));
        }
        let dataset_id = self.client.datasets().id(dataset).await?;
        let task_id = match task {
            Some(task) => Some(self.client.tasks().id(task).await?),
            None => None,
        };
        let call = create_call(dataset, &dataset_id, email, task_id.as_deref());
        self.client
            .transport()
            .call(&call)
            .await
            .map_err(|e| super::not_found(e, ResourceKind::Dataset, dataset, self.client))
    }

    /// Polls an export until its download link is ready (the server answers 404 while it
    /// is being made), and returns the link. The link is presigned and valid for a limited
    /// time: treat it as a secret. An export that takes longer than `options.timeout` is
    /// [`Error::Timeout`].
    pub async fn wait(
        &self,
        dataset: &str,
        export_id: &str,
        options: WaitOptions,
    ) -> Result<String> {
        super::require(export_id, "the export id")?;
        let start = Instant::now();
        let dataset_id = self.client.datasets().id(dataset).await?;
        let call = Call::get(
            format!(
                "/datasets/{}/exports/{}",
                super::segment(&dataset_id),
                super::segment(export_id)
            ),
            format!("get export '{export_id}' of dataset '{dataset}'"),
        );
        loop {
            match self.client.transport().call_bytes(&call).await {
                Ok(body) => return download_link(&call.context, &body),
                Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {}
                Err(e) => return Err(e),
            }
            if start.elapsed() + options.poll_interval > options.timeout {
                return Err(Error::Timeout {
                    what: format!("export '{export_id}' of dataset '{dataset}'"),
                    timeout: options.timeout,
                });
            }
            tokio::time::sleep(options.poll_interval).await;
        }
    }

    /// Downloads an export's link as a stream of chunks, without the API key (the link is
    /// presigned). Nothing is buffered beyond the chunk at hand. The wait for the response
    /// and for each chunk is bounded by the client's timeout.
    pub fn download_stream(&self, url: &str) -> BoxStream<'static, Result<Bytes>> {
        let client = self.client.clone();
        let url = url.to_string();
        stream::once(async move {
            let parsed = parse_download_url(&url)?;
            let context = format!("download {}", redact_url(&url));
            let response = client.transport().send_presigned(&parsed, &context).await?;
            Ok::<_, Error>(chunks(response, context, client.config().timeout))
        })
        .try_flatten()
        .boxed()
    }

    /// Downloads an export's link to a file, and returns the number of bytes written. The
    /// file appears complete or not at all: the bytes go to `<path>.part`, renamed to
    /// `path` once the download has ended well (and removed when it has not).
    pub async fn download_to_file(&self, url: &str, path: impl AsRef<Path>) -> Result<u64> {
        let path = path.as_ref();
        let partial = partial_path(path)?;
        let written = self.write_stream(url, &partial).await;
        match written {
            Ok(written) => {
                tokio::fs::rename(&partial, path).await.map_err(|e| {
                    Error::io(
                        format!("move '{}' to '{}'", partial.display(), path.display()),
                        e,
                    )
                })?;
                Ok(written)
            }
            Err(e) => {
                // Best effort: the download's error matters more than the clean-up's.
                let _ = tokio::fs::remove_file(&partial).await;
                Err(e)
            }
        }
    }

    async fn write_stream(&self, url: &str, partial: &Path) -> Result<u64> {
        let io = |e| Error::io(format!("write '{}'", partial.display()), e);
        let mut file = tokio::fs::File::create(partial).await.map_err(io)?;
        let mut chunks = self.download_stream(url);
        let mut written = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            file.write_all(&chunk).await.map_err(io)?;
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        Ok(written)
    }

    /// Exports a dataset (with `task`'s labels when given), waits for the link, and
    /// downloads it to `path`; returns the number of bytes written.
    pub async fn export_to_file(
        &self,
        dataset: &str,
        email: &str,
        task: Option<&str>,
        path: impl AsRef<Path>,
        options: WaitOptions,
    ) -> Result<u64> {
        let start = Instant::now();
        let created = self.create(dataset, email, task).await?;
        let remaining = WaitOptions {
            timeout: options.timeout.saturating_sub(start.elapsed()),
            ..options
        };
        let link = self.wait(dataset, &created.export_id, remaining).await?;
        self.download_to_file(&link, path).await
    }
}

/// The request that asks for an export, as the Python SDK's `download_dataset` sends it
/// (`client.py:590-603`): `dataset_id`, `email_address`, and with a task `task_id` and
/// `include_labels` (a Python `True`, which `requests` writes `True`).
fn create_call<'a>(
    dataset: &str,
    dataset_id: &str,
    email: &str,
    task_id: Option<&str>,
) -> Call<'a> {
    let call = Call::new(
        Method::POST,
        format!("/datasets/{}/exports", super::segment(dataset_id)),
        format!("export dataset '{dataset}'"),
    )
    .query("dataset_id", dataset_id)
    .query("email_address", email);
    match task_id {
        Some(task_id) => call
            .query("task_id", task_id)
            .query("include_labels", super::py_bool(true)),
        None => call,
    }
}

/// The download link in the body of a finished export: `{"data": "<URL>"}` (or the bare
/// JSON string). The body is never quoted in errors: it holds a presigned link.
fn download_link(context: &str, body: &[u8]) -> Result<String> {
    let withheld = |message: String| Error::Decode {
        context: context.to_string(),
        path: "data".to_string(),
        message,
        excerpt: "(withheld: it may hold a presigned link)".to_string(),
    };
    let value = serde_json::from_slice::<serde_json::Value>(body)
        .map_err(|_| withheld("the body is not JSON".to_string()))?;
    let data = match value {
        serde_json::Value::Object(mut object) if object.contains_key("data") => {
            object.remove("data").unwrap_or_default()
        }
        other => other,
    };
    match data {
        serde_json::Value::String(link) => {
            parse_download_url(&link)?;
            Ok(link)
        }
        other => Err(withheld(format!(
            "expected the download link, a string, got {}",
            kind(&other)
        ))),
    }
}

/// The JSON type of a value, for messages that must not show the value.
fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Parses a download link, refusing anything but http(s); errors show it redacted.
fn parse_download_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw).map_err(|e| {
        Error::InvalidArgument(format!(
            "the download link '{}' is not a URL: {e}",
            redact_url(raw)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidArgument(format!(
            "the download link '{}' is not an http(s) URL",
            redact_url(raw)
        )));
    }
    Ok(url)
}

/// `<path>.part`, next to `path`.
fn partial_path(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        Error::InvalidArgument(format!("'{}' does not name a file", path.display()))
    })?;
    let mut partial = name.to_os_string();
    partial.push(".part");
    Ok(path.with_file_name(partial))
}

/// The body of a response as a stream of chunks, each awaited at most `timeout`.
fn chunks(
    response: reqwest::Response,
    context: String,
    timeout: Duration,
) -> BoxStream<'static, Result<Bytes>> {
    stream::try_unfold(
        (response, context),
        move |(mut response, context)| async move {
            match tokio::time::timeout(timeout, response.chunk()).await {
                Ok(Ok(Some(chunk))) => Ok(Some((chunk, (response, context)))),
                Ok(Ok(None)) => Ok(None),
                Ok(Err(e)) => Err(Error::transport(context, e)),
                Err(_) => Err(Error::Timeout {
                    what: format!("{context}: the next part of the body"),
                    timeout,
                }),
            }
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_request() {
        let call = create_call("reviews", "d-1", "me@example.com", Some("t-1"));
        assert_eq!(call.method, Method::POST);
        assert_eq!(call.path, "/datasets/d-1/exports");
        assert_eq!(
            call.query,
            vec![
                ("dataset_id", "d-1".to_string()),
                ("email_address", "me@example.com".to_string()),
                ("task_id", "t-1".to_string()),
                ("include_labels", "True".to_string()),
            ]
        );
        assert_eq!(
            create_call("reviews", "d-1", "me@x.io", None).query.len(),
            2
        );
    }

    #[test]
    fn download_links() {
        assert!(
            parse_download_url("https://bucket.s3.amazonaws.com/x.csv?X-Amz-Signature=abc").is_ok()
        );
        let err = parse_download_url("ftp://host/x.csv?sig=secret").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = parse_download_url("not a url?sig=secret").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn links_in_bodies() {
        let link = "https://store.example/x.csv?sig=secret";
        let body = serde_json::json!({ "data": link }).to_string();
        assert_eq!(download_link("t", body.as_bytes()).unwrap(), link);
        let bare = serde_json::json!(link).to_string();
        assert_eq!(download_link("t", bare.as_bytes()).unwrap(), link);
        for body in [
            serde_json::json!({ "data": { "url": link } }).to_string(),
            format!("{link} not json"),
        ] {
            let err = download_link("t", body.as_bytes()).unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn partial_paths() {
        assert_eq!(
            partial_path(Path::new("/tmp/out/data.csv")).unwrap(),
            PathBuf::from("/tmp/out/data.csv.part")
        );
        assert!(partial_path(Path::new("/")).is_err());
    }
}
