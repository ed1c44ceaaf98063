//! Registering an existing object as a new dataset: cloud objects are presigned, `http(s)`
//! URLs pass through as they are, local files are uploaded.

use refuel_client::RefuelClient;

use crate::error::{ErrorKind, Result, SinkError, Step};
use crate::handoff::{
    HandoffKind, REFUEL, SinkOutcome, ToHandOff, ensure_new_dataset, hand_off, wait_for_ingest,
};
use crate::location::{Location, build_cloud};
use crate::options::{Progress, SinkOptions};
use crate::staging::{StagingArea, url_for_errors};
use crate::transcode::sniff_format;

/// Registers an existing object as the new dataset `dataset` in `client`'s project:
///
/// - `s3://`, `gs://`, `az://`, `abfs[s]://` objects are presigned for `GET` (valid for
///   `options.url_expiry`; credentials from the environment and `options.store_options`)
///   and registered as `source=uri`. With `options.csv_only`, a Parquet object is first
///   transcoded to a CSV object next to it, which is removed once the server has it.
/// - `http(s)://` URLs are registered as they are (their query strings never appear in
///   errors or logs).
/// - `file://` URLs and plain paths are uploaded (multipart, streamed from disk); a Parquet
///   file is transcoded to a local CSV spool file first, since uploads are CSV.
///
/// The caller's object is never modified or removed. Waits for the ingest as the options say.
pub async fn register_object(
    client: &RefuelClient,
    location: &str,
    dataset: &str,
    options: &SinkOptions,
) -> Result<SinkOutcome> {
    register_location(client, location, dataset, options).await
}

pub(crate) async fn register_location(
    client: &RefuelClient,
    location: &str,
    dataset: &str,
    options: &SinkOptions,
) -> Result<SinkOutcome> {
    let shown = url_for_errors(location);
    let parsed = Location::parse(location)
        .map_err(|kind| SinkError::new(Step::Stage, shown.clone(), "location", kind))?;
    ensure_new_dataset(client, dataset, &shown).await?;
    match parsed {
        Location::Http(url) => register_url(client, url.as_str(), &shown, dataset, options).await,
        Location::Memory(_) => Err(SinkError::new(
            Step::Stage,
            shown,
            "in-memory store",
            ErrorKind::InvalidLocation(
                "a memory:// URL names a new, empty store: stage with a StagingArea instead".into(),
            ),
        )),
        Location::Local(path) => {
            let fail = |kind| {
                SinkError::new(
                    Step::Stage,
                    path.display().to_string(),
                    "local file system",
                    kind,
                )
            };
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|e| fail(ErrorKind::Io(format!("read the file: {e}"))))?;
            if !meta.is_file() {
                return Err(fail(ErrorKind::Io("not a file".into())));
            }
            let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
                return Err(fail(ErrorKind::InvalidLocation("no file name".into())));
            };
            let dir = if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            };
            let area = StagingArea::local(dir)?;
            let object_path = object_store::path::Path::from(file.to_string_lossy().as_ref());
            hand_off_existing(client, &area, object_path, dataset, options).await
        }
        Location::Cloud {
            cloud,
            url,
            bucket,
            path,
        } => {
            let built =
                build_cloud(cloud, &url, &bucket, &options.store_options).map_err(|kind| {
                    SinkError::new(Step::Stage, shown.clone(), cloud.describe(&bucket), kind)
                })?;
            let area = StagingArea::presigned_parts(built);
            hand_off_existing(client, &area, path, dataset, options).await
        }
    }
}

pub(crate) async fn hand_off_existing(
    client: &RefuelClient,
    area: &StagingArea,
    path: object_store::path::Path,
    dataset: &str,
    options: &SinkOptions,
) -> Result<SinkOutcome> {
    let shown = area.display(&path);
    let format = sniff_format(area.store(), &path)
        .await
        .map_err(|kind| SinkError::new(Step::Stage, shown.clone(), area.store_name(), kind))?;
    let object = area.object_at(path, format);
    hand_off(
        client,
        ToHandOff {
            area,
            object,
            staged_here: false,
            rows_written: None,
            bytes: None,
        },
        dataset,
        options,
    )
    .await
}

async fn register_url(
    client: &RefuelClient,
    url: &str,
    shown: &str,
    dataset: &str,
    options: &SinkOptions,
) -> Result<SinkOutcome> {
    let created = client
        .datasets()
        .register_uri(url, dataset)
        .await
        .map_err(|e| SinkError::new(Step::Register, shown, REFUEL, e.into()))?;
    options.report(Progress::Registered {
        dataset_id: created.id.clone(),
    });
    let dataset = match options.wait {
        None => created,
        Some(wait) => wait_for_ingest(client, &created.id, wait, options)
            .await
            .map_err(|e| {
                SinkError::new(Step::Ingest, shown, REFUEL, e.into())
                    .with_dataset(format!("'{}' ({})", created.name, created.id))
            })?,
    };
    Ok(SinkOutcome {
        rows: options.wait.and(dataset.total_count),
        dataset,
        bytes: None,
        handoff: HandoffKind::Url,
        staged: Vec::new(),
    })
}
