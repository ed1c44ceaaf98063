//! Errors as Python exceptions: `RefuelError` (with `status` and `detail`) for what the
//! server or the data refused, `ValueError` for bad arguments.

use datafusion::error::DataFusionError;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use refuel_sink::{ErrorKind, SinkError};

pyo3::create_exception!(
    refuel_datafusion,
    RefuelError,
    PyException,
    "A call to Refuel failed. `status` is the HTTP status when the server answered one \
     (else None), `detail` the server's message or the failure's description."
);

/// A `RefuelError` with `message`, `status` and `detail`.
pub(crate) fn refuel_error(message: String, status: Option<u16>, detail: String) -> PyErr {
    Python::attach(|py| {
        let err = RefuelError::new_err(message);
        let value = err.value(py);
        let set = value
            .setattr("status", status)
            .and_then(|()| value.setattr("detail", detail));
        match set {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

/// A client error as a Python exception.
pub(crate) fn from_client(e: &refuel_client::Error) -> PyErr {
    use refuel_client::Error as E;
    match e {
        E::Config(_) | E::InvalidArgument(_) => PyValueError::new_err(e.to_string()),
        E::Api {
            status, message, ..
        } => refuel_error(e.to_string(), Some(status.as_u16()), message.clone()),
        other => refuel_error(
            other.to_string(),
            other.status().map(|s| s.as_u16()),
            other.to_string(),
        ),
    }
}

/// A sink error as a Python exception: `ValueError` for a bad location or option, else a
/// `RefuelError` with its client error's status when it has one.
pub(crate) fn from_sink(e: &SinkError) -> PyErr {
    match e.kind() {
        ErrorKind::InvalidLocation(_) | ErrorKind::InvalidOption(_) => {
            PyValueError::new_err(e.to_string())
        }
        ErrorKind::Api(c) => {
            refuel_error(e.to_string(), c.status().map(|s| s.as_u16()), c.to_string())
        }
        kind => refuel_error(e.to_string(), None, kind.to_string()),
    }
}

/// A DataFusion error as a Python exception: the client or sink error inside it when
/// there is one (with its status), else a `RefuelError` with DataFusion's message.
pub(crate) fn from_datafusion(e: &DataFusionError) -> PyErr {
    if let Some(sink) = find_in::<SinkError>(e) {
        return from_sink(sink);
    }
    if let Some(c) = find_in::<refuel_client::Error>(e) {
        return match c {
            refuel_client::Error::Api { .. } | refuel_client::Error::NotFound { .. } => {
                let status = c.status().map(|s| s.as_u16());
                refuel_error(e.to_string(), status, c.to_string())
            }
            _ => from_client(c),
        };
    }
    refuel_error(e.to_string(), None, e.to_string())
}

/// The first `T` in `e`'s chain of sources (DataFusion's wrapped errors included).
fn find_in<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(current) = next {
        if let Some(c) = current.downcast_ref::<T>() {
            return Some(c);
        }
        if let Some(DataFusionError::External(inner)) = current.downcast_ref::<DataFusionError>() {
            next = Some(inner.as_ref());
            continue;
        }
        next = current.source();
    }
    None
}
