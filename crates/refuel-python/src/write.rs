//! `write_dataset`: Arrow data from Python as a new Refuel dataset, through the sink.

use std::collections::HashMap;
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatchReader;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use refuel_datafusion::RefuelWriteOptions;
use refuel_sink::{HandoffKind, SinkOutcome};
use tokio_stream::wrappers::ReceiverStream;

use crate::arrow_stream::read_stream;
use crate::config::Connection;
use crate::errors::{from_datafusion, from_sink};
use crate::runtime::{SIGNAL_CHECK, handle};

/// Batches read ahead of the staging upload.
const READ_AHEAD: usize = 2;

/// Writes `data` (any Arrow stream) as the new dataset `name`.
#[pyfunction]
#[pyo3(signature = (data, name, project=None, staging=None, format="parquet", wait=true, storage_options=None, api_key=None, api_url=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_dataset<'py>(
    py: Python<'py>,
    data: Bound<'py, PyAny>,
    name: String,
    project: Option<String>,
    staging: Option<String>,
    format: &str,
    wait: bool,
    storage_options: Option<HashMap<String, String>>,
    api_key: Option<String>,
    api_url: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    if name.trim().is_empty() {
        return Err(PyValueError::new_err("name must name the new dataset"));
    }
    let options = write_options(staging, format, wait, storage_options)?;
    let client = Connection {
        api_key,
        api_url,
        project,
        max_workers: None,
    }
    .client()?;
    let sink = options.sink(client).map_err(|e| from_datafusion(&e))?;
    let reader = read_stream(&data)?;
    let schema = reader.schema();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch, ArrowError>>(READ_AHEAD);
    let task = handle()?.spawn(async move {
        sink.write_stream(&name, schema, ReceiverStream::new(rx))
            .await
    });
    // The input is read on this thread (its producer may need the GIL: it is released,
    // and taken back by whoever needs it); the sink stages and hands off on the runtime.
    // Signals are looked for between batches: an interrupt (Ctrl-C) ends the input with an
    // error, so the sink makes no dataset and removes what it staged, as for any failing
    // input; the interrupt is raised once it has. Once the input is read, the write runs to
    // its end (stopping it there could leave a staged object or a dataset being made).
    let (outcome, interrupt) = py.detach(move || {
        let mut interrupt = None;
        let mut last_check = Instant::now();
        for batch in reader {
            let interrupted = batch.as_ref().err().is_some_and(python_interrupt);
            if interrupted {
                interrupt = Some(PyKeyboardInterrupt::new_err(
                    "the input was interrupted: no dataset was made",
                ));
            }
            if tx.blocking_send(batch).is_err() || interrupted {
                break; // the sink failed (its error says why), or ends on this error
            }
            if last_check.elapsed() >= SIGNAL_CHECK {
                last_check = Instant::now();
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    let stop = ArrowError::ExternalError("the write was interrupted".into());
                    let _ = tx.blocking_send(Err(stop));
                    interrupt = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        (futures::executor::block_on(task), interrupt)
    });
    if let Some(interrupt) = interrupt {
        return Err(interrupt);
    }
    let outcome = outcome
        .map_err(|e| PyValueError::new_err(format!("the write task failed: {e}")))?
        .map_err(|e| from_sink(&e))?;
    outcome_dict(py, &outcome)
}

/// Whether an input stream's error is Python's `KeyboardInterrupt`, raised while the
/// stream's producer ran: Ctrl-C is then seen by the producer, not by us. pyarrow readers of
/// Python generators pass it on as "Python exception: Traceback ... KeyboardInterrupt",
/// datafusion-python's streams as "External error: KeyboardInterrupt: ".
fn python_interrupt(error: &ArrowError) -> bool {
    error
        .to_string()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word == "KeyboardInterrupt")
}

/// The sink's options from the arguments.
fn write_options(
    staging: Option<String>,
    format: &str,
    wait: bool,
    storage_options: Option<HashMap<String, String>>,
) -> PyResult<RefuelWriteOptions> {
    let mut options = RefuelWriteOptions {
        staging,
        ..Default::default()
    };
    let invalid = |e: refuel_sink::ErrorKind| PyValueError::new_err(e.to_string());
    options.sink.set("format", format).map_err(invalid)?;
    options
        .sink
        .set("wait", if wait { "true" } else { "false" })
        .map_err(invalid)?;
    let mut store: Vec<(String, String)> =
        storage_options.unwrap_or_default().into_iter().collect();
    store.sort();
    for (key, value) in store {
        let k = key.to_ascii_lowercase();
        if !(k.starts_with("aws_") || k.starts_with("google_") || k.starts_with("azure_")) {
            return Err(PyValueError::new_err(format!(
                "storage option '{key}' is not an object store option: use aws_*, google_* or \
                 azure_* keys as object_store spells them (e.g. aws_endpoint)"
            )));
        }
        options.sink.set(&key, &value).map_err(invalid)?;
    }
    Ok(options)
}

/// What the write made, for Python.
fn outcome_dict<'py>(py: Python<'py>, outcome: &SinkOutcome) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("dataset", &outcome.dataset.name)?;
    out.set_item("dataset_id", &outcome.dataset.id)?;
    out.set_item("rows", outcome.rows)?;
    out.set_item("bytes", outcome.bytes)?;
    out.set_item(
        "handoff",
        match outcome.handoff {
            HandoffKind::PresignedUrl => "presigned_url",
            HandoffKind::Upload => "upload",
            HandoffKind::Url => "url",
        },
    )?;
    out.set_item("staged", outcome.staged.clone())?;
    Ok(out)
}
