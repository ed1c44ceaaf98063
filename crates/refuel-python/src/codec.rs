//! The host's logical extension codec, from the `session` argument datafusion-python hands
//! a capsule getter: a `SessionContext` (for `register_table`) or the codec's capsule
//! itself (for `register_catalog_provider`).

use std::ptr::NonNull;

use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use pyo3::exceptions::{PyImportError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

const CODEC_GETTER: &str = "__datafusion_logical_extension_codec__";
const CODEC_CAPSULE: &std::ffi::CStr = c"datafusion_logical_extension_codec";

/// The host's codec (a clone: its own reference to the host's).
pub(crate) fn host_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    let capsule = if session.hasattr(CODEC_GETTER)? {
        session.call_method0(CODEC_GETTER)?
    } else {
        session.clone()
    };
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a datafusion SessionContext or a logical extension codec capsule, got {}",
            type_name(session)
        ))
    })?;
    let data: NonNull<FFI_LogicalExtensionCodec> =
        capsule.pointer_checked(Some(CODEC_CAPSULE))?.cast();
    // SAFETY: the capsule's name says it holds an FFI_LogicalExtensionCodec, which lives as
    // long as the capsule, which `session` keeps alive for this call.
    let codec = unsafe { data.as_ref() };
    check_version(unsafe { (codec.version)() })?;
    Ok(codec.clone())
}

/// Refuses a host built on another major version of DataFusion's FFI (its ABI changes
/// between majors).
fn check_version(host: u64) -> PyResult<()> {
    let ours = datafusion_ffi::version();
    if host == ours {
        return Ok(());
    }
    Err(PyImportError::new_err(format!(
        "refuel_datafusion was built for DataFusion {ours} and the datafusion package in use \
         is DataFusion {host}: install datafusion=={ours}.*"
    )))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an unknown type".into())
}
