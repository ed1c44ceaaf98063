//! What a sink call does: the format, the hand-off, waiting, cleanup, and progress.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parquet::file::properties::WriterProperties;
use refuel_client::WaitOptions;
use refuel_client::models::IngestStatus;

use crate::error::ErrorKind;
use crate::format::{StagingFormat, UploadSettings, default_parquet_properties};

/// Where a sink call stands, as reported to [`SinkOptions::on_progress`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// Rows and bytes staged so far (after each batch; bytes are encoded bytes, known
    /// exactly once the file is complete).
    Staged {
        /// The staged object.
        object: String,
        /// Rows written.
        rows: u64,
        /// Bytes written (for Parquet, the row groups flushed so far).
        bytes: u64,
    },
    /// The dataset was created; the server is ingesting it.
    Registered {
        /// The dataset's id.
        dataset_id: String,
    },
    /// An ingest poll.
    Ingest {
        /// The dataset's id.
        dataset_id: String,
        /// Its ingest status.
        status: IngestStatus,
        /// Its rows, as the server counts them.
        rows: Option<u64>,
    },
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of a sink call. `Default` gives: Parquet, presigned URLs valid for 1 hour,
/// wait for the ingest (polls every second, at most 15 minutes), remove staged objects once
/// the server has the data, check the ingested row count, 8 MiB upload parts, 4 parts in
/// flight.
#[derive(Clone)]
pub struct SinkOptions {
    /// The staged file's format.
    pub format: StagingFormat,
    /// The server takes only CSV: a Parquet object is transcoded to a CSV object (next to
    /// it, in the same store) before it is presigned. Uploads are always CSV.
    pub csv_only: bool,
    /// How long a presigned URL stays valid; it must outlast the server's download
    /// (at most 7 days on GCS and S3).
    pub url_expiry: Duration,
    /// Whether and how to wait for the ingest; `None` returns once the dataset is created.
    pub wait: Option<WaitOptions>,
    /// Keep staged objects after success and after failure (they are named in the outcome
    /// or the error). Without it they are removed once the server has the data, or when the
    /// call fails; when not waiting for a presigned download, they are kept, since the
    /// server may still be reading them.
    pub keep_staged: bool,
    /// After waiting, check that the server ingested as many rows as were written.
    pub check_row_count: bool,
    /// Parquet writer settings (compression, row-group size).
    pub parquet: WriterProperties,
    /// Multipart upload part size in bytes (at least 5 MiB for S3).
    pub part_size: usize,
    /// Parts uploaded in parallel.
    pub max_concurrency: usize,
    /// Object-store options for locations given as URLs (object_store's keys, e.g.
    /// `aws_endpoint`), on top of the environment.
    pub store_options: Vec<(String, String)>,
    /// Called as the call progresses.
    pub progress: Option<ProgressFn>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            format: StagingFormat::Parquet,
            csv_only: false,
            url_expiry: Duration::from_secs(3600),
            wait: Some(WaitOptions::default()),
            keep_staged: false,
            check_row_count: true,
            parquet: default_parquet_properties(),
            part_size: 8 << 20,
            max_concurrency: 4,
            store_options: Vec::new(),
            progress: None,
        }
    }
}

impl fmt::Debug for SinkOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkOptions")
            .field("format", &self.format)
            .field("csv_only", &self.csv_only)
            .field("url_expiry", &self.url_expiry)
            .field("wait", &self.wait)
            .field("keep_staged", &self.keep_staged)
            .field("check_row_count", &self.check_row_count)
            .field("part_size", &self.part_size)
            .field("max_concurrency", &self.max_concurrency)
            // Values may be credentials: only the keys are shown.
            .field(
                "store_options",
                &self
                    .store_options
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl SinkOptions {
    /// Sets the staged file's format.
    pub fn format(mut self, format: StagingFormat) -> Self {
        self.format = format;
        self
    }

    /// Transcodes Parquet to CSV before the hand-off, for servers that take only CSV.
    pub fn csv_only(mut self, yes: bool) -> Self {
        self.csv_only = yes;
        self
    }

    /// Sets how long presigned URLs stay valid.
    pub fn url_expiry(mut self, expiry: Duration) -> Self {
        self.url_expiry = expiry;
        self
    }

    /// Waits for the ingest with these options.
    pub fn wait(mut self, wait: WaitOptions) -> Self {
        self.wait = Some(wait);
        self
    }

    /// Returns as soon as the dataset is created.
    pub fn no_wait(mut self) -> Self {
        self.wait = None;
        self
    }

    /// Keeps staged objects.
    pub fn keep_staged(mut self, yes: bool) -> Self {
        self.keep_staged = yes;
        self
    }

    /// Sets whether the ingested row count is checked.
    pub fn check_row_count(mut self, yes: bool) -> Self {
        self.check_row_count = yes;
        self
    }

    /// Sets the Parquet writer settings.
    pub fn parquet(mut self, properties: WriterProperties) -> Self {
        self.parquet = properties;
        self
    }

    /// Sets the multipart part size (bytes) and the parts in flight.
    pub fn upload_parts(mut self, part_size: usize, max_concurrency: usize) -> Self {
        self.part_size = part_size.max(1);
        self.max_concurrency = max_concurrency.max(1);
        self
    }

    /// Adds an object-store option for locations given as URLs.
    pub fn store_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.store_options.push((key.into(), value.into()));
        self
    }

    /// Sets the progress callback.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Sets an option from text, as SQL `OPTIONS (...)` or a command line give them:
    /// `format` (`parquet` | `csv`), `csv_only`, `wait`, `keep_staged`, `check_row_count`
    /// (`true` | `false`), `url_expiry` (seconds), `part_size` (bytes), and object-store
    /// options (keys starting with `aws_`, `google_`, `azure_`, as object_store spells them).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ErrorKind> {
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let invalid = |what: &str| {
            ErrorKind::InvalidOption(format!("option '{key}' takes {what}, not '{value}'"))
        };
        let flag = || match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err(invalid("true or false")),
        };
        match key.as_str() {
            "format" => {
                self.format = match value.to_ascii_lowercase().as_str() {
                    "parquet" => StagingFormat::Parquet,
                    "csv" => StagingFormat::Csv,
                    _ => return Err(invalid("parquet or csv")),
                }
            }
            "csv_only" => self.csv_only = flag()?,
            "keep_staged" => self.keep_staged = flag()?,
            "check_row_count" => self.check_row_count = flag()?,
            "wait" => {
                self.wait = if flag()? {
                    Some(self.wait.unwrap_or_default())
                } else {
                    None
                }
            }
            "url_expiry" => {
                let secs: u64 = value.parse().map_err(|_| invalid("a number of seconds"))?;
                self.url_expiry = Duration::from_secs(secs.max(1));
            }
            "part_size" => {
                let bytes: usize = value.parse().map_err(|_| invalid("a number of bytes"))?;
                self.part_size = bytes.max(1);
            }
            k if k.starts_with("aws_") || k.starts_with("google_") || k.starts_with("azure_") => {
                self.store_options.push((k.to_string(), value.to_string()));
            }
            _ => {
                return Err(ErrorKind::InvalidOption(format!(
                    "unknown option '{key}': use format, csv_only, wait, keep_staged, check_row_count, url_expiry, part_size or an aws_/google_/azure_ store option"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn report(&self, progress: Progress) {
        if let Some(f) = &self.progress {
            f(&progress);
        }
    }

    pub(crate) fn upload_settings(&self) -> UploadSettings {
        UploadSettings {
            part_size: self.part_size,
            max_concurrency: self.max_concurrency,
            parquet: self.parquet.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_text() {
        let mut o = SinkOptions::default();
        for (k, v) in [
            ("FORMAT", "csv"),
            ("csv_only", "true"),
            ("wait", "false"),
            ("keep_staged", "yes"),
            ("url_expiry", "600"),
            ("aws_endpoint", "http://127.0.0.1:9000"),
        ] {
            o.set(k, v).unwrap();
        }
        assert_eq!(o.format, StagingFormat::Csv);
        assert!(o.csv_only && o.keep_staged && o.wait.is_none());
        assert_eq!(o.url_expiry, Duration::from_secs(600));
        assert_eq!(o.store_options.len(), 1);
        let err = o.set("format", "json").unwrap_err().to_string();
        assert!(err.contains("parquet or csv"), "{err}");
        let err = o.set("colour", "red").unwrap_err().to_string();
        assert!(err.contains("unknown option 'colour'"), "{err}");
        // Store option values never show in Debug.
        o.set("aws_secret_access_key", "hunter2").unwrap();
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
