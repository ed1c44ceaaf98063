//! Dataset exports: a CSV snapshot (with a task's labels when asked) served from a
//! time-limited, signed download URL.
//!
//! The file is written in the background (small datasets are ready before the create call
//! returns); `GET /datasets/{id}/exports/{export_id}` answers 404 until it is, then
//! `{"data": URL}`. The URL (`/_emulator/downloads/{export_id}?expires=UNIX&signature=HEX`)
//! needs no API key: its HMAC-SHA256 signature, over the export id and the expiry, is the
//! credential. A tampered or expired URL answers 403.

use std::io::Write;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use refuel_client::models::{Envelope, ExportCreated};

use super::auth::Team;
use super::error::{ApiError, ApiResult};
use super::links::public_base;
use super::params::Params;
use super::shapes::{Resource, reply};
use super::signing;
use crate::model::label_text;
use crate::state::{AppState, blocking};
use crate::store::{DatasetEntry, ExportRec, TaskRec, now};

/// Rows up to which an export is written before the create call returns.
const SYNC_ROWS: usize = 200_000;

pub(crate) async fn create(
    State(state): State<AppState>,
    team: Team,
    headers: HeaderMap,
    Path(dataset_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    let entry = state.store.dataset(&team.0, &dataset_id)?;
    let email = params.required("email_address")?;
    if !email.contains('@') {
        return Err(ApiError::bad_request(format!(
            "'{email}' is not an email address"
        )));
    }
    let task = match params
        .get("task_id")
        .filter(|t| !t.is_empty() && *t != "None")
    {
        Some(t) => Some(state.store.task(&team.0, t)?),
        None => None,
    };
    let with_labels = params.bool("include_labels")?.unwrap_or(task.is_some());
    let task = task.filter(|_| with_labels);
    let rec = ExportRec {
        id: uuid::Uuid::new_v4().to_string(),
        team: team.0.clone(),
        dataset_id: dataset_id.clone(),
        dataset_name: entry.meta.read().name.clone(),
        task_id: task.as_ref().map(|t| t.id.clone()),
        created_at: now(),
    };
    let rec = blocking(&state, move |store| store.create_export(rec)).await?;
    let path = state.store.export_path(&rec.id);
    let rows = entry.data.read().live;
    let job = tokio::task::spawn_blocking(move || write_csv(&entry, task.as_ref(), &path));
    if rows <= SYNC_ROWS {
        job.await
            .map_err(|e| ApiError::internal(format!("export task failed: {e}")))?
            .map_err(|e| ApiError::storage("the export", e))?;
    } else {
        let id = rec.id.clone();
        tokio::spawn(async move {
            match job.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(export = %id, error = %e, "export failed"),
                Err(e) => tracing::error!(export = %id, error = %e, "export task failed"),
            }
        });
    }
    // The cloud's answer also carries the file's URI (it answers 404 until it exists).
    let uri = signing::download_url(
        &public_base(&headers),
        state.store.secret(),
        &rec.id,
        state.settings.export_url_ttl,
    );
    reply(
        &state,
        &team.0,
        Resource::ExportCreated { uri: &uri },
        &ExportCreated { export_id: rec.id },
    )
}

/// Writes the CSV: the dataset's columns, then per field of the task `<field>_label`,
/// `<field>_llm_label`, `<field>_confidence`, `<field>_explanation`, `<field>_verified`.
fn write_csv(
    entry: &DatasetEntry,
    task: Option<&TaskRec>,
    path: &std::path::Path,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut w = csv::Writer::from_writer(file);
        let data = entry.data.read();
        let labels = entry.labels.read();
        let set = task.and_then(|t| labels.get(&t.id));
        let mut header: Vec<String> = data.columns.to_vec();
        if let Some(t) = task {
            for f in &t.subtasks {
                for suffix in [
                    "label",
                    "llm_label",
                    "confidence",
                    "explanation",
                    "verified",
                ] {
                    header.push(format!("{}_{suffix}", f.name));
                }
            }
        }
        w.write_record(&header).map_err(std::io::Error::other)?;
        let text = |v: &serde_json::Value| {
            label_text(v)
                .render()
                .map(|t| t.into_owned())
                .unwrap_or_default()
        };
        for (i, row) in data.rows.iter().enumerate() {
            let Some(cells) = row.as_deref() else {
                continue;
            };
            let mut record: Vec<String> = cells
                .iter()
                .map(|c| c.render().map(|t| t.into_owned()).unwrap_or_default())
                .collect();
            if let Some(t) = task {
                let row_labels = set.and_then(|s| s.row(i));
                for (fi, _) in t.subtasks.iter().enumerate() {
                    match row_labels.and_then(|r| r.fields.get(fi)) {
                        Some(l) => {
                            record.push(text(l.final_value()));
                            record.push(text(&l.llm.llm_label));
                            record
                                .push(l.llm.confidence.map(|c| c.to_string()).unwrap_or_default());
                            record.push(l.llm.explanation.clone().unwrap_or_default());
                            record.push(l.verified().to_string());
                        }
                        None => record.extend(["", "", "", "", "false"].map(String::from)),
                    }
                }
            }
            w.write_record(&record).map_err(std::io::Error::other)?;
        }
        let mut file = w
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        file.flush()?;
        file.get_ref().sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub(crate) async fn status(
    State(state): State<AppState>,
    team: Team,
    headers: HeaderMap,
    Path((dataset_id, export_id)): Path<(String, String)>,
) -> ApiResult<Json<Envelope<String>>> {
    state.store.dataset(&team.0, &dataset_id)?;
    let rec = state.store.export(&team.0, &export_id)?;
    if rec.dataset_id != dataset_id || !state.store.export_path(&rec.id).exists() {
        return Err(ApiError::not_found("finished export", &export_id));
    }
    let base = public_base(&headers);
    Ok(Json(Envelope::new(signing::download_url(
        &base,
        state.store.secret(),
        &rec.id,
        state.settings.export_url_ttl,
    ))))
}

/// `GET /_emulator/downloads/{id}?expires&signature`: the export's CSV, without auth.
pub(crate) async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = Params::parse(q.as_deref());
    let expires: i64 = params
        .get("expires")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| ApiError::forbidden("the download link has no valid expiry"))?;
    let given = params.get("signature").unwrap_or("");
    if !signing::verify(state.store.secret(), &id, expires, given) {
        return Err(ApiError::forbidden(
            "the download link's signature does not match",
        ));
    }
    if chrono::Utc::now().timestamp() > expires {
        return Err(ApiError::forbidden("the download link has expired"));
    }
    let rec = state
        .store
        .export_by_id(&id)
        .ok_or_else(|| ApiError::not_found("export", &id))?;
    let file = tokio::fs::File::open(state.store.export_path(&id))
        .await
        .map_err(|_| ApiError::not_found("export file", &id))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let disposition = format!(
        "attachment; filename=\"{}.csv\"",
        rec.dataset_name.replace('"', "")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
