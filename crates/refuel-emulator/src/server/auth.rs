//! Bearer-key authentication: each key is a team.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::AppState;

/// The team a request acts for.
#[derive(Debug, Clone)]
pub(crate) struct Team(pub(crate) String);

/// Rejects requests without a known key with 401, and records the team for handlers.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let key = match header {
        None => {
            return ApiError::unauthorized("missing 'Authorization: Bearer <API key>' header")
                .into_response();
        }
        Some(h) => match h.split_once(' ') {
            Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
            _ => {
                return ApiError::unauthorized(
                    "the Authorization header must be 'Bearer <API key>'",
                )
                .into_response();
            }
        },
    };
    match state.teams.get(key) {
        Some(team) => {
            req.extensions_mut().insert(Team(team.clone()));
            next.run(req).await
        }
        None => ApiError::unauthorized("invalid API key").into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Team {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Team>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("not authenticated"))
    }
}
