//! DataFusion and Refuel errors as gRPC statuses: the code says whose fault it is, the
//! message names the problem on one line. Messages come from errors that never hold a key.

use datafusion::error::DataFusionError;
use tonic::Status;

/// The status of a statement's error.
pub(crate) fn status(e: &DataFusionError) -> Status {
    let message = one_line(&e.to_string());
    if let Some(api) = refuel_error(e) {
        return match api.status().map(|s| s.as_u16()) {
            Some(401) => Status::unauthenticated(message),
            Some(403) => Status::permission_denied(message),
            Some(404) => Status::not_found(message),
            Some(429) => Status::resource_exhausted(message),
            _ => Status::unavailable(message),
        };
    }
    match e.find_root() {
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => Status::invalid_argument(message),
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
        _ => Status::internal(message),
    }
}

fn refuel_error(e: &DataFusionError) -> Option<&refuel_client::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(api) = err.downcast_ref::<refuel_client::Error>() {
            return Some(api);
        }
        source = err.source();
    }
    None
}

/// `text` on one line (gRPC messages travel in a header).
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A status for an Arrow error in building an answer.
pub(crate) fn internal(context: &str, e: impl std::fmt::Display) -> Status {
    Status::internal(one_line(&format!("{context}: {e}")))
}
