//! Handing a staged object to the server: presign and register the URL, or upload the
//! bytes; then wait for the ingest, check the row count, and clean up what was staged.
//!
//! Retry safety: the dataset name is checked before anything is staged; registering goes
//! through the client's create, which after an ambiguous failure looks the dataset up by name
//! before trying again (one call never makes two datasets); when registering still fails,
//! the name is looked up once more, so a dataset the server did create is used, and its
//! staged object is not removed from under the server's download.

use object_store::buffered::BufWriter;
use refuel_client::models::{Dataset, IngestStatus};
use refuel_client::{Error as ApiError, RefuelClient, WaitOptions};
use tokio::io::AsyncWriteExt;

use crate::error::{Cleanup, ErrorKind, Result, SinkError, Step};
use crate::format::StagingFormat;
use crate::options::{Progress, SinkOptions};
use crate::staging::{Handoff, StagedObject, StagingArea};
use crate::transcode::{copy_object, parquet_to_csv};

/// How the server got the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffKind {
    /// A presigned URL of the staged object (`source=uri`).
    PresignedUrl,
    /// An upload of the bytes through the API (`source=file`).
    Upload,
    /// The caller's own `http(s)` URL, registered as it is.
    Url,
}

/// What a successful sink call made.
#[derive(Debug, Clone)]
pub struct SinkOutcome {
    /// The dataset, as the server last reported it (after the ingest when waiting).
    pub dataset: Dataset,
    /// Rows: the rows written, for writes; the server's count after the ingest, for
    /// registrations that waited; else `None`.
    pub rows: Option<u64>,
    /// Bytes staged (the encoded file), when the sink wrote or transcoded it.
    pub bytes: Option<u64>,
    /// How the server got the data.
    pub handoff: HandoffKind,
    /// Staged objects left in place (kept on request, or still being downloaded by the
    /// server because the call did not wait).
    pub staged: Vec<String>,
}

/// The store named in Refuel API errors.
pub(crate) const REFUEL: &str = "Refuel";

/// Fails when the project already has a dataset called `name`, before anything is staged.
pub(crate) async fn ensure_new_dataset(
    client: &RefuelClient,
    name: &str,
    object: &str,
) -> Result<()> {
    let fail = |kind| SinkError::new(Step::Register, object, REFUEL, kind);
    if name.trim().is_empty() {
        return Err(fail(ErrorKind::Api(ApiError::InvalidArgument(
            "a dataset needs a non-empty name".into(),
        ))));
    }
    if find_dataset(client, name).await.map_err(fail)?.is_some() {
        return Err(fail(ErrorKind::DatasetExists(name.to_string())));
    }
    Ok(())
}

async fn find_dataset(client: &RefuelClient, name: &str) -> Result<Option<String>, ErrorKind> {
    Ok(client
        .datasets()
        .list()
        .await?
        .into_iter()
        .find(|d| d.dataset_name == name)
        .map(|d| d.id))
}

/// An object to hand off, and whether this call staged it (and so may remove it).
pub(crate) struct ToHandOff<'a> {
    pub area: &'a StagingArea,
    pub object: StagedObject,
    pub staged_here: bool,
    /// Rows the sink wrote, checked against the server's count after the ingest.
    pub rows_written: Option<u64>,
    pub bytes: Option<u64>,
}

/// Objects this call staged, for cleanup.
struct Staged<'a> {
    area: &'a StagingArea,
    objects: Vec<StagedObject>,
    keep: bool,
}

impl Staged<'_> {
    fn names(&self) -> Vec<String> {
        self.objects.iter().map(|o| o.display.clone()).collect()
    }

    /// After a failure: removed unless kept on request or still needed by the server.
    async fn after_failure(&self, server_may_read: bool) -> Cleanup {
        if self.objects.is_empty() {
            Cleanup::NothingStaged
        } else if self.keep || server_may_read {
            Cleanup::Kept(self.names())
        } else {
            self.area.remove(&self.objects).await
        }
    }
}

/// Hands `item` to the server as dataset `name`, waits as the options say, and cleans up.
pub(crate) async fn hand_off(
    client: &RefuelClient,
    item: ToHandOff<'_>,
    name: &str,
    options: &SinkOptions,
) -> Result<SinkOutcome> {
    let area = item.area;
    let mut staged = Staged {
        area,
        objects: Vec::new(),
        keep: options.keep_staged,
    };
    if item.staged_here {
        staged.objects.push(item.object.clone());
    }
    let presigned = matches!(area.handoff(), Handoff::Presign(_));
    let (created, kind) = match register(client, &item, name, options, &mut staged).await {
        Ok(created) => created,
        Err(err) => {
            // After an ambiguous failure to register (no answer, or a 5xx), did the server
            // act after all? Then the dataset is ours and may be reading the object.
            let ambiguous = err.step() == Step::Register
                && matches!(err.kind(), ErrorKind::Api(e) if e.status().is_none_or(|s| s.is_server_error()));
            let found = if ambiguous {
                find_dataset(client, name).await
            } else {
                Ok(None)
            };
            match found {
                Ok(Some(id)) => {
                    tracing::warn!(dataset = %id, "registration failed but the dataset exists; using it");
                    match client.datasets().get(&id).await {
                        Ok(d) => (
                            d,
                            if presigned {
                                HandoffKind::PresignedUrl
                            } else {
                                HandoffKind::Upload
                            },
                        ),
                        Err(_) => {
                            let cleanup = staged.after_failure(presigned).await;
                            return Err(err.with_cleanup(cleanup).with_dataset(id));
                        }
                    }
                }
                _ => {
                    let cleanup = staged.after_failure(false).await;
                    return Err(err.with_cleanup(cleanup));
                }
            }
        }
    };
    let dataset_label = format!("'{}' ({})", created.name, created.id);
    options.report(Progress::Registered {
        dataset_id: created.id.clone(),
    });
    // The server reads a presigned object until its ingest ends.
    let server_reads = kind == HandoffKind::PresignedUrl;
    let Some(wait) = options.wait else {
        let kept = if server_reads || options.keep_staged {
            staged.names()
        } else {
            finish_cleanup(&staged).await
        };
        return Ok(SinkOutcome {
            dataset: created,
            rows: item.rows_written,
            bytes: item.bytes,
            handoff: kind,
            staged: kept,
        });
    };
    let ingest_fail = |kind: ErrorKind| {
        SinkError::new(Step::Ingest, item.object.display.clone(), REFUEL, kind)
            .with_dataset(dataset_label.clone())
    };
    let waited = wait_for_ingest(client, &created.id, wait, options).await;
    let dataset = match waited {
        Ok(d) => d,
        Err(e) => {
            let still_reading = server_reads && matches!(e, ApiError::Timeout { .. });
            let cleanup = staged.after_failure(still_reading).await;
            return Err(ingest_fail(ErrorKind::Api(e)).with_cleanup(cleanup));
        }
    };
    if options.check_row_count {
        if let (Some(written), Some(ingested)) = (item.rows_written, dataset.total_count) {
            if written != ingested {
                let cleanup = staged.after_failure(false).await;
                return Err(
                    ingest_fail(ErrorKind::RowCount { written, ingested }).with_cleanup(cleanup)
                );
            }
        }
    }
    debug_assert_eq!(dataset.ingest_status, IngestStatus::Success);
    let kept = finish_cleanup(&staged).await;
    Ok(SinkOutcome {
        rows: item.rows_written.or(dataset.total_count),
        dataset,
        bytes: item.bytes,
        handoff: kind,
        staged: kept,
    })
}

/// Waits for the ingest of `dataset_id`, reporting each poll.
pub(crate) async fn wait_for_ingest(
    client: &RefuelClient,
    dataset_id: &str,
    wait: WaitOptions,
    options: &SinkOptions,
) -> refuel_client::Result<Dataset> {
    client
        .datasets()
        .wait_for_ingest_with(dataset_id, wait, |d| {
            options.report(Progress::Ingest {
                dataset_id: d.id.clone(),
                status: d.ingest_status.clone(),
                rows: d.total_count,
            })
        })
        .await
}

/// After success: removes staged objects unless kept; returns those left in place.
async fn finish_cleanup(staged: &Staged<'_>) -> Vec<String> {
    if staged.keep || staged.objects.is_empty() {
        return staged.names();
    }
    match staged.area.remove(&staged.objects).await {
        Cleanup::RemoveFailed { objects, message } => {
            tracing::warn!(?objects, %message, "staged objects could not be removed after success");
            objects
        }
        _ => Vec::new(),
    }
}

/// Creates the dataset from the object, by presigned URL or by upload.
async fn register(
    client: &RefuelClient,
    item: &ToHandOff<'_>,
    name: &str,
    options: &SinkOptions,
    staged: &mut Staged<'_>,
) -> Result<(Dataset, HandoffKind)> {
    let area = item.area;
    let object = &item.object;
    let at = |step: Step, object: &StagedObject, kind| {
        SinkError::new(step, object.display.clone(), area.store_name(), kind)
    };
    match area.handoff() {
        Handoff::Presign(signer) => {
            let to_sign = if options.csv_only && object.format == StagingFormat::Parquet {
                // Next to the object: `<name>.<unique>.csv`.
                let file = format!(
                    "{}.{}.csv",
                    object.path.filename().unwrap_or("object"),
                    uuid::Uuid::new_v4().simple()
                );
                let parent = object.path.parent().unwrap_or_default();
                let csv = area.object_at(parent.join(file.as_str()), StagingFormat::Csv);
                staged.objects.push(csv.clone());
                transcode_into_store(area, object, &csv, options)
                    .await
                    .map_err(|kind| at(Step::Stage, &csv, kind))?;
                csv
            } else {
                object.clone()
            };
            let url = signer
                .signed_url(http::Method::GET, &to_sign.path, options.url_expiry)
                .await
                .map_err(|e| at(Step::Sign, &to_sign, ErrorKind::store(&e)))?;
            let dataset = client
                .datasets()
                .register_uri(url.as_str(), name)
                .await
                .map_err(|e| {
                    SinkError::new(Step::Register, to_sign.display.clone(), REFUEL, e.into())
                })?;
            Ok((dataset, HandoffKind::PresignedUrl))
        }
        Handoff::Upload { .. } => {
            let direct = match object.format {
                StagingFormat::Csv => area.local_file(object),
                StagingFormat::Parquet => None,
            };
            let dataset = match direct {
                Some(path) => client.datasets().upload_file(&path, name).await,
                None => {
                    let spool = spool_csv(area, object)
                        .await
                        .map_err(|kind| at(Step::Stage, object, kind))?;
                    client.datasets().upload_file(&*spool, name).await
                }
            }
            .map_err(|e| {
                SinkError::new(Step::Register, object.display.clone(), REFUEL, e.into())
            })?;
            Ok((dataset, HandoffKind::Upload))
        }
    }
}

/// Writes `object` as CSV into the store at `csv`.
async fn transcode_into_store(
    area: &StagingArea,
    object: &StagedObject,
    csv: &StagedObject,
    options: &SinkOptions,
) -> Result<u64, ErrorKind> {
    let mut out =
        BufWriter::with_capacity(area.store().clone(), csv.path.clone(), options.part_size)
            .with_max_concurrency(options.max_concurrency);
    let result = async {
        let (_, bytes) = parquet_to_csv(area.store().clone(), &object.path, &mut out).await?;
        out.shutdown()
            .await
            .map_err(crate::format::io_store_error)?;
        Ok(bytes)
    }
    .await;
    if result.is_err() {
        let _ = out.abort().await;
    }
    result
}

/// The object as a local CSV file (transcoded from Parquet, or copied), removed on drop.
async fn spool_csv(
    area: &StagingArea,
    object: &StagedObject,
) -> Result<tempfile::TempPath, ErrorKind> {
    let io = |what: &str, e: std::io::Error| ErrorKind::Io(format!("{what}: {e}"));
    let named = tempfile::Builder::new()
        .prefix("refuel-sink-")
        .suffix(".csv")
        .tempfile()
        .map_err(|e| io("create a local spool file", e))?;
    let (file, path) = named.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    match object.format {
        StagingFormat::Parquet => {
            parquet_to_csv(area.store().clone(), &object.path, &mut file).await?;
        }
        StagingFormat::Csv => {
            copy_object(area.store(), &object.path, &mut file).await?;
        }
    }
    file.flush()
        .await
        .map_err(|e| io("write the local spool file", e))?;
    Ok(path)
}
