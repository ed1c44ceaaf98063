//! The emulator's error answers: an HTTP status and a JSON body `{"detail": message}`.
//!
//! The store, the query compiler and the task rules have their own errors, which know
//! nothing of HTTP; they become answers here, and only here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use refuel_client::models::InvalidTask;

use crate::query::InvalidQuery;
use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status}: {detail}")]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// What went wrong, naming the thing at fault.
    pub(crate) detail: String,
}

impl ApiError {
    /// Any status with a message.
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    /// 400: the request is malformed.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: no or an unknown API key.
    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 404: no such resource for this team.
    pub(crate) fn not_found(kind: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{kind} '{id}' not found"))
    }

    /// 409: the request conflicts with the current state (a duplicate name).
    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 500: the emulator itself failed (e.g. its disk).
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }

    /// 500 from an I/O failure while persisting.
    pub(crate) fn storage(what: &str, e: std::io::Error) -> Self {
        Self::internal(format!("could not persist {what}: {e}"))
    }

    /// 403: a link's credential is missing, wrong or expired.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "detail": self.detail })),
        )
            .into_response()
    }
}

/// The result type of handlers.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            StoreError::Io { .. } | StoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl From<InvalidQuery> for ApiError {
    fn from(e: InvalidQuery) -> Self {
        Self::bad_request(e.0)
    }
}

impl From<InvalidTask> for ApiError {
    fn from(e: InvalidTask) -> Self {
        Self::bad_request(e.0)
    }
}
