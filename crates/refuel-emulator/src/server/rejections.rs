//! One place that makes every error answer `{"detail": "..."}`.
//!
//! Handlers answer errors as [`ApiError`]s, already JSON. Everything else that can fail a
//! request answers on its own: axum's extractor rejections (a path segment that is not
//! valid UTF-8, a malformed JSON body, a wrong content type), its 405 for a method a route
//! does not have, a body over the size limit. This layer, outermost in the router, turns
//! any 4xx/5xx answer whose body is not JSON into the JSON body, keeping the status and
//! the headers, with a message naming the problem and the request. (axum adds a 405's
//! `Allow` header outside the layers, so it reaches the client unchanged.)

use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The most of a non-JSON error body kept in the message.
const BODY_EXCERPT: usize = 16 << 10;

/// Middleware: rewrites non-JSON error answers as `{"detail": ...}`.
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(resp.headers()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, BODY_EXCERPT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let detail = describe(status, &method, &path, &parts.headers, &text);
    let mut out = ApiError::new(status, detail).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// The fallback of unknown routes: a 404 naming the request.
pub(crate) async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.trim().to_ascii_lowercase();
            ct.starts_with("application/json") || ct.contains("+json")
        })
}

/// A message for an error answer that had no JSON body.
fn describe(
    status: StatusCode,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    text: &str,
) -> String {
    let request = format!("{method} {path}");
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = headers
                .get(ALLOW)
                .and_then(|v| v.to_str().ok())
                .filter(|a| !a.is_empty());
            match allowed {
                Some(a) => format!("method {method} is not allowed on {path} (allowed: {a})"),
                None => format!("method {method} is not allowed on {path}"),
            }
        }
        StatusCode::NOT_FOUND if text.is_empty() => format!("no such endpoint: {request}"),
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body of {request} is larger than the emulator accepts{}",
            if text.is_empty() {
                String::new()
            } else {
                format!(" ({text})")
            }
        ),
        _ if text.is_empty() => format!(
            "{request}: {}",
            status.canonical_reason().unwrap_or("request failed")
        ),
        _ => format!("{text} ({request})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let mut h = HeaderMap::new();
        h.insert(ALLOW, "GET,HEAD".parse().unwrap());
        assert_eq!(
            describe(
                StatusCode::METHOD_NOT_ALLOWED,
                &Method::PUT,
                "/projects",
                &h,
                ""
            ),
            "method PUT is not allowed on /projects (allowed: GET,HEAD)"
        );
        let none = HeaderMap::new();
        assert_eq!(
            describe(StatusCode::NOT_FOUND, &Method::GET, "/nope", &none, ""),
            "no such endpoint: GET /nope"
        );
        assert_eq!(
            describe(
                StatusCode::BAD_REQUEST,
                &Method::GET,
                "/x",
                &none,
                "Invalid URL"
            ),
            "Invalid URL (GET /x)"
        );
        assert_eq!(
            describe(StatusCode::BAD_GATEWAY, &Method::GET, "/x", &none, ""),
            "GET /x: Bad Gateway"
        );
    }
}
