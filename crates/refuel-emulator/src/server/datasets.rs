//! `/datasets` and `/projects/{id}/datasets`: list, create (upload or URI), get with a row
//! query, update, delete; and the background ingest.

use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use refuel_client::models::{DatasetSource, DatasetSummary, Envelope};
use refuel_client::redact_url;
use tokio::io::AsyncWriteExt;

use super::auth::Team;
use super::params::Params;
use super::shapes::{Resource, reply};
use super::{AppState, views};
use crate::error::{ApiError, ApiResult};
use crate::ingest::{self, Table};

pub async fn list(
    State(state): State<AppState>,
    team: Team,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    let project = params
        .get("project_id")
        .filter(|p| !p.is_empty() && *p != "None");
    if let Some(p) = project {
        state.store.project(&team.0, p)?;
    }
    let list: Vec<DatasetSummary> = state
        .store
        .list_datasets(&team.0, project)
        .iter()
        .map(|d| views::dataset_summary(&d.meta.read(), &d.data.read()))
        .collect();
    reply(&state, &team.0, Resource::DatasetSummary, &list)
}

/// The form of a create request, multipart or URL-encoded.
#[derive(Debug, Default)]
struct CreateForm {
    name: Option<String>,
    source: Option<String>,
    source_path: Option<String>,
    file: Option<PathBuf>,
}

/// A received file, removed unless it was moved into a dataset.
struct Incoming(Option<PathBuf>);

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    state.store.project(&team.0, &project_id)?;
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(req, &state)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
        read_multipart(&state, multipart).await?
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid form body: {e}")))?;
        let mut form = CreateForm::default();
        for (k, v) in url::form_urlencoded::parse(&bytes) {
            match k.as_ref() {
                "name" => form.name = Some(v.into_owned()),
                "source" => form.source = Some(v.into_owned()),
                "source_path" => form.source_path = Some(v.into_owned()),
                _ => {}
            }
        }
        form
    } else {
        return Err(ApiError::bad_request(
            "creating a dataset takes a multipart/form-data body (name, source=file, file) or a form (name, source=uri, source_path)",
        ));
    };
    let incoming = Incoming(form.file.clone());
    let name = form
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("the form field 'name' (the dataset's name) is required")
        })?
        .to_string();
    let source = form
        .source
        .as_deref()
        .unwrap_or(if form.file.is_some() { "file" } else { "uri" });
    let entry = match source {
        "file" | "local" => {
            let path = form.file.clone().ok_or_else(|| {
                ApiError::bad_request("source=file needs a file part named 'file'")
            })?;
            let parse_path = path.clone();
            let table = tokio::task::spawn_blocking(move || ingest::read_csv(&parse_path))
                .await
                .map_err(|e| ApiError::internal(format!("ingest task failed: {e}")))?
                .map_err(|e| {
                    ApiError::bad_request(format!("the uploaded file is not a valid CSV: {e}"))
                })?;
            let entry = state.store.create_dataset(
                &team.0,
                &project_id,
                &name,
                DatasetSource::File,
                None,
                Some(&path),
            )?;
            std::mem::forget(incoming); // moved into the dataset's folder
            spawn_ingest(
                state.clone(),
                entry.meta.read().id.clone(),
                IngestSource::Parsed(table),
            );
            entry
        }
        "uri" => {
            let url = form
                .source_path
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "source=uri needs the form field 'source_path' (the URL to download)",
                    )
                })?
                .to_string();
            check_url(&url)?;
            let entry = state.store.create_dataset(
                &team.0,
                &project_id,
                &name,
                DatasetSource::Uri,
                Some(url.clone()),
                None,
            )?;
            spawn_ingest(
                state.clone(),
                entry.meta.read().id.clone(),
                IngestSource::Url(url),
            );
            entry
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown source '{other}': use 'file' or 'uri'"
            )));
        }
    };
    let meta = entry.meta.read();
    let data = entry.data.read();
    reply(
        &state,
        &team.0,
        Resource::Dataset,
        &views::dataset_meta(&meta, &data),
    )
}

fn check_url(url: &str) -> ApiResult<()> {
    let parsed = url::Url::parse(url).map_err(|e| {
        ApiError::bad_request(format!(
            "source_path '{}' is not a URL: {e}",
            redact_url(url)
        ))
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(ApiError::bad_request(format!(
            "unsupported URI scheme '{other}' in source_path: the server downloads only http and https URLs (presign object-store URLs first)"
        ))),
    }
}

async fn read_multipart(state: &AppState, mut multipart: Multipart) -> ApiResult<CreateForm> {
    let mut form = CreateForm::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("invalid multipart body: {e}"))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let field_name = field.name().unwrap_or("").to_string();
        match field_name.as_str() {
            "file" => {
                let dir = state
                    .store
                    .incoming_dir()
                    .map_err(|e| ApiError::storage("the upload", e))?;
                let path = dir.join(uuid::Uuid::new_v4().to_string());
                // Registered before writing, so a failed upload is cleaned up.
                form.file = Some(path.clone());
                write_field(&path, field).await?;
            }
            "name" | "source" | "source_path" => {
                let text = field.text().await.map_err(bad)?;
                match field_name.as_str() {
                    "name" => form.name = Some(text),
                    "source" => form.source = Some(text),
                    _ => form.source_path = Some(text),
                }
            }
            _ => {}
        }
    }
    Ok(form)
}

async fn write_field(path: &FsPath, field: axum::extract::multipart::Field<'_>) -> ApiResult<()> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::storage("the upload", e))?;
    let mut stream =
        field.map_err(|e| ApiError::bad_request(format!("the upload was interrupted: {e}")));
    while let Some(chunk) = stream.try_next().await? {
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::storage("the upload", e))?;
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::storage("the upload", e))?;
    Ok(())
}

/// Where an ingest's rows come from.
pub enum IngestSource {
    /// Already parsed (an upload, validated in its request).
    Parsed(Table),
    /// A file to read (an upload kept across a restart).
    File(PathBuf),
    /// A URL to download.
    Url(String),
}

/// Ingests a dataset in the background: the rows become visible, and the status
/// `success`, only once they are durable; any failure sets `failed` with the reason.
pub fn spawn_ingest(state: AppState, dataset_id: String, source: IngestSource) {
    let bg = state.clone();
    bg.spawn_background(async move {
        let result = match source {
            IngestSource::Parsed(table) => Ok(table),
            IngestSource::File(path) => read_in_background(path).await,
            IngestSource::Url(url) => download_and_read(&state, &url).await,
        };
        let store = state.store.clone();
        let id = dataset_id.clone();
        let outcome = tokio::task::spawn_blocking(move || match result {
            Ok(table) => store.complete_ingest(&id, table),
            Err(message) => store.fail_ingest(&id, &message),
        })
        .await;
        match outcome {
            Ok(Ok(())) => tracing::info!(dataset = %dataset_id, "ingest finished"),
            Ok(Err(e)) => {
                tracing::error!(dataset = %dataset_id, error = %e, "ingest could not be recorded")
            }
            Err(e) => tracing::error!(dataset = %dataset_id, error = %e, "ingest task failed"),
        }
    });
}

async fn read_in_background(path: PathBuf) -> Result<Table, String> {
    tokio::task::spawn_blocking(move || ingest::read_file(&path).map_err(|e| e.0))
        .await
        .map_err(|e| format!("ingest task failed: {e}"))?
}

async fn download_and_read(state: &AppState, url: &str) -> Result<Table, String> {
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
        ingest::read_file(&read_path).map_err(|e| format!("{shown}: {}", e.0))
    })
    .await
    .map_err(|e| format!("ingest task failed: {e}"))?
}

pub async fn get(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let entry = state.store.dataset(&team.0, &id)?;
    let params = Params::parse(q.as_deref());
    super::items::query_response(&state, &team, &entry, &params, None)
}

#[derive(serde::Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    scheduled_ids: Option<Vec<String>>,
}

pub async fn update(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    body: Result<Json<UpdateBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) =
        body.map_err(|e| ApiError::bad_request(format!("invalid body: {}", e.body_text())))?;
    let current = state.store.dataset(&team.0, &id)?;
    let scheduled = body
        .scheduled_ids
        .unwrap_or_else(|| current.meta.read().scheduled_ids.clone());
    let entry = state.store.update_dataset(&team.0, &id, scheduled)?;
    let meta = entry.meta.read();
    let data = entry.data.read();
    reply(
        &state,
        &team.0,
        Resource::Dataset,
        &views::dataset_meta(&meta, &data),
    )
}

pub async fn delete(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<serde_json::Value>>> {
    state.store.delete_dataset(&team.0, &id)?;
    Ok(Json(Envelope::new(serde_json::json!({}))))
}

/// A JSON response from bytes serialized under a lock.
pub fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(CONTENT_TYPE, "application/json")], Body::from(bytes)).into_response()
}
