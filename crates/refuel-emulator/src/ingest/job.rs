//! The background ingest of a dataset: its rows read (or downloaded and read) and kept.

use std::path::PathBuf;

use super::download::download_and_read;
use super::read_file;
use crate::model::Table;
use crate::state::{AppState, blocking};

/// Where an ingest's rows come from.
pub(crate) enum IngestSource {
    /// Already parsed (an upload, validated in its request).
    Parsed(Table),
    /// A file to read (an upload kept across a restart).
    File(PathBuf),
    /// A URL to download.
    Url(String),
}

/// Ingests a dataset in the background: the rows become visible, and the status
/// `success`, only once they are durable; any failure sets `failed` with the reason.
pub(crate) fn spawn(state: AppState, dataset_id: String, source: IngestSource) {
    let bg = state.clone();
    bg.spawn_background(async move {
        let result = match source {
            IngestSource::Parsed(table) => Ok(table),
            IngestSource::File(path) => read_in_background(path).await,
            IngestSource::Url(url) => download_and_read(&state, &url).await,
        };
        let id = dataset_id.clone();
        let outcome = blocking(&state, move |store| match result {
            Ok(table) => store.complete_ingest(&id, table),
            Err(message) => store.fail_ingest(&id, &message),
        })
        .await;
        match outcome {
            Ok(()) => tracing::info!(dataset = %dataset_id, "ingest finished"),
            Err(e) => {
                tracing::error!(dataset = %dataset_id, error = %e, "ingest could not be recorded")
            }
        }
    });
}

async fn read_in_background(path: PathBuf) -> Result<Table, String> {
    tokio::task::spawn_blocking(move || read_file(&path).map_err(|e| e.0))
        .await
        .map_err(|e| format!("ingest task failed: {e}"))?
}
