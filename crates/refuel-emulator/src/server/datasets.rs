//! `/datasets` and `/projects/{id}/datasets`: list, create (upload or URI), get with a row
//! query, update, delete; and the background ingest.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use futures::TryStreamExt;
use refuel_client::models::{DatasetSource, DatasetSummary, Envelope};
use refuel_client::redact_url;
use tokio::io::AsyncWriteExt;

use super::auth::Team;
use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::shapes::{Resource, deleted, reply, reply_dataset};
use super::views;
use crate::ingest::{self, Incoming, IngestSource};
use crate::state::{AppState, blocking};
use crate::store::DatasetEntry;

pub(crate) async fn list(
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

impl CreateForm {
    /// Reads the form of a create request: multipart (an upload) or URL-encoded (a URI).
    async fn read(state: &AppState, req: Request) -> ApiResult<Self> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let multipart = Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
            read_multipart(state, multipart).await
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            Self::read_urlencoded(req).await
        } else {
            Err(ApiError::bad_request(
                "creating a dataset takes a multipart/form-data body (name, source=file, file) or a form (name, source=uri, source_path)",
            ))
        }
    }

    /// Reads a URL-encoded form (at most 1 MiB); unknown fields are ignored.
    async fn read_urlencoded(req: Request) -> ApiResult<Self> {
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .map_err(|e| ApiError::bad_request(format!("invalid form body: {e}")))?;
        let mut form = Self::default();
        for (k, v) in url::form_urlencoded::parse(&bytes) {
            match k.as_ref() {
                "name" => form.name = Some(v.into_owned()),
                "source" => form.source = Some(v.into_owned()),
                "source_path" => form.source_path = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(form)
    }

    /// The dataset's name, trimmed; required.
    fn required_name(&self) -> ApiResult<String> {
        Ok(self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("the form field 'name' (the dataset's name) is required")
            })?
            .to_string())
    }
}

pub(crate) async fn create(
    State(state): State<AppState>,
    team: Team,
    Path(project_id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    state.store.project(&team.0, &project_id)?;
    let form = CreateForm::read(&state, req).await?;
    let incoming = Incoming(form.file.clone());
    let name = form.required_name()?;
    let source = form
        .source
        .as_deref()
        .unwrap_or(if form.file.is_some() { "file" } else { "uri" });
    let entry = match source {
        "file" | "local" => {
            create_from_file(&state, &team, &project_id, &name, &form, incoming).await?
        }
        "uri" => create_from_uri(&state, &team, &project_id, &name, &form).await?,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown source '{other}': use 'file' or 'uri'"
            )));
        }
    };
    reply_dataset(&state, &team.0, &entry)
}

/// `source=file`: parses the uploaded CSV, creates the dataset (the upload moves into its
/// folder, so `incoming` is kept) and ingests the parsed table in the background.
async fn create_from_file(
    state: &AppState,
    team: &Team,
    project_id: &str,
    name: &str,
    form: &CreateForm,
    incoming: Incoming,
) -> ApiResult<Arc<DatasetEntry>> {
    let path = form
        .file
        .clone()
        .ok_or_else(|| ApiError::bad_request("source=file needs a file part named 'file'"))?;
    let parse_path = path.clone();
    let table = tokio::task::spawn_blocking(move || ingest::read_csv(&parse_path))
        .await
        .map_err(|e| ApiError::internal(format!("ingest task failed: {e}")))?
        .map_err(|e| ApiError::bad_request(format!("the uploaded file is not a valid CSV: {e}")))?;
    let (team_id, project, dataset) = (team.0.clone(), project_id.to_string(), name.to_string());
    let entry = blocking(state, move |store| {
        store.create_dataset(
            &team_id,
            &project,
            &dataset,
            DatasetSource::File,
            None,
            Some(&path),
        )
    })
    .await?;
    std::mem::forget(incoming); // moved into the dataset's folder
    ingest::spawn(
        state.clone(),
        entry.meta.read().id.clone(),
        IngestSource::Parsed(table),
    );
    Ok(entry)
}

/// `source=uri`: checks the URL in `source_path`, creates the dataset, and downloads and
/// ingests it in the background.
async fn create_from_uri(
    state: &AppState,
    team: &Team,
    project_id: &str,
    name: &str,
    form: &CreateForm,
) -> ApiResult<Arc<DatasetEntry>> {
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
    let (team_id, project, dataset, source) = (
        team.0.clone(),
        project_id.to_string(),
        name.to_string(),
        url.clone(),
    );
    let entry = blocking(state, move |store| {
        store.create_dataset(
            &team_id,
            &project,
            &dataset,
            DatasetSource::Uri,
            Some(source),
            None,
        )
    })
    .await?;
    ingest::spawn(
        state.clone(),
        entry.meta.read().id.clone(),
        IngestSource::Url(url),
    );
    Ok(entry)
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

async fn read_multipart(state: &AppState, multipart: Multipart) -> ApiResult<CreateForm> {
    let mut form = CreateForm::default();
    let read = read_multipart_fields(state, multipart, &mut form).await;
    if read.is_err() {
        // A failed upload leaves no file behind.
        if let Some(path) = form.file.take() {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
    read.map(|()| form)
}

/// Reads the fields of a dataset-creating multipart body into `form`, the `file` part
/// written to the store's incoming directory as it arrives.
async fn read_multipart_fields(
    state: &AppState,
    mut multipart: Multipart,
    form: &mut CreateForm,
) -> ApiResult<()> {
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
    Ok(())
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

pub(crate) async fn get(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let entry = state.store.dataset(&team.0, &id)?;
    let params = Params::parse(q.as_deref());
    super::rows::query_response(&state, &team, &entry, &params, None)
}

#[derive(serde::Deserialize)]
pub(crate) struct UpdateBody {
    #[serde(default)]
    scheduled_ids: Option<Vec<String>>,
}

pub(crate) async fn update(
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
    let team_id = team.0.clone();
    let entry = blocking(&state, move |store| {
        store.update_dataset(&team_id, &id, scheduled)
    })
    .await?;
    reply_dataset(&state, &team.0, &entry)
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    team: Team,
    Path(id): Path<String>,
) -> ApiResult<Json<Envelope<serde_json::Value>>> {
    deleted(&state, move |store| store.delete_dataset(&team.0, &id)).await
}
