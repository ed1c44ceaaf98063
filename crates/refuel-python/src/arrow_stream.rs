//! Arrow data across the C stream interface: reading what Python passes
//! (`__arrow_c_stream__`: pyarrow, polars, pandas through pyarrow, datafusion DataFrames)
//! and handing results back as pyarrow tables.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use datafusion::arrow::record_batch::{RecordBatchIterator, RecordBatchReader};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

const STREAM_CAPSULE: &std::ffi::CStr = c"arrow_array_stream";

/// The Arrow stream `data` exports. Anything with `__arrow_c_stream__` is taken as it is;
/// the Python layer turns pandas frames and lists of dicts into pyarrow tables first.
pub(crate) fn read_stream(data: &Bound<'_, PyAny>) -> PyResult<ArrowArrayStreamReader> {
    if !data.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "expected Arrow data (an object with __arrow_c_stream__: a pyarrow Table or \
             RecordBatchReader, a polars DataFrame, a datafusion DataFrame, a pandas DataFrame \
             or a list of dicts), got {}",
            data.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )));
    }
    let capsule = data.call_method0("__arrow_c_stream__")?;
    let capsule = capsule
        .cast::<PyCapsule>()
        .map_err(|_| PyTypeError::new_err("__arrow_c_stream__ did not return a PyCapsule"))?;
    let ptr = capsule
        .pointer_checked(Some(STREAM_CAPSULE))?
        .cast::<FFI_ArrowArrayStream>();
    // SAFETY: the capsule's name says it holds an ArrowArrayStream; `from_raw` moves it out
    // and leaves a released stream behind, which the capsule's destructor ignores.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr()) };
    ArrowArrayStreamReader::try_new(stream)
        .map_err(|e| PyValueError::new_err(format!("cannot read the Arrow stream: {e}")))
}

/// A result on its way to Python: read once through `__arrow_c_stream__`.
#[pyclass(name = "ArrowResult", module = "refuel_datafusion", frozen)]
pub(crate) struct ArrowResult {
    batches: parking_lot::Mutex<Option<(SchemaRef, Vec<RecordBatch>)>>,
}

impl ArrowResult {
    pub(crate) fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self {
            batches: parking_lot::Mutex::new(Some((schema, batches))),
        }
    }
}

#[pymethods]
impl ArrowResult {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let (schema, batches) = self
            .batches
            .lock()
            .take()
            .ok_or_else(|| PyValueError::new_err("this result was read already"))?;
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
            batches.into_iter().map(Ok::<_, ArrowError>),
            schema,
        ));
        let stream = FFI_ArrowArrayStream::new(reader);
        PyCapsule::new_with_value(py, stream, STREAM_CAPSULE)
    }
}

/// `batches` as a `pyarrow.Table`.
pub(crate) fn to_pyarrow(
    py: Python<'_>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Py<PyAny>> {
    let result = Bound::new(py, ArrowResult::new(schema, batches))?;
    let table = py.import("pyarrow")?.call_method1("table", (result,))?;
    Ok(table.unbind())
}
