//! Downloading a `source=uri` dataset's file to a staging folder, then reading it.

use futures::TryStreamExt;
use refuel_client::redact_url;
use tokio::io::AsyncWriteExt;

use super::read_file;
use super::staging::Incoming;
use crate::model::Table;
use crate::state::AppState;

/// Downloads `url` and reads it as a table; the error names the URL (redacted).
pub(super) async fn download_and_read(state: &AppState, url: &str) -> Result<Table, String> {
    let shown = redact_url(url);
    let dir = state
        .store
        .incoming_dir()
        .map_err(|e| format!("cannot stage the download: {e}"))?;
    let path = dir.join(uuid::Uuid::new_v4().to_string());
    let _cleanup = Incoming(Some(path.clone()));
    let resp = state
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("download of {shown} failed: {}", e.without_url()))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let excerpt: String = body.chars().take(200).collect();
        return Err(format!(
            "download of {shown} failed: HTTP {status}: {excerpt}"
        ));
    }
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| format!("cannot stage the download: {e}"))?;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("download of {shown} was interrupted: {}", e.without_url()))?
    {
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot stage the download: {e}"))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot stage the download: {e}"))?;
    drop(file);
    let read_path = path.clone();
    tokio::task::spawn_blocking(move || {
        read_file(&read_path).map_err(|e| format!("{shown}: {}", e.0))
    })
    .await
    .map_err(|e| format!("ingest task failed: {e}"))?
}
