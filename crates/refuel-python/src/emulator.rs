//! `Emulator`: a local Refuel-compatible server in the Python process, for tests and
//! notebooks.

use std::path::PathBuf;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use refuel_emulator::{DEFAULT_API_KEY, EmulatorConfig, EmulatorHandle, Network};

use crate::config::Connection;
use crate::errors::from_client;
use crate::runtime::{handle, not_forked, wait};

/// A Refuel emulator serving on a loopback port of this process:
/// `with Emulator() as emu: RefuelCatalog(api_key=emu.api_key, api_url=emu.url)`.
#[pyclass(name = "Emulator", module = "refuel_datafusion", frozen)]
pub(crate) struct PyEmulator {
    handle: Mutex<Option<EmulatorHandle>>,
    url: String,
    api_key: String,
    data_dir: Option<PathBuf>,
}

#[pymethods]
impl PyEmulator {
    /// Starts the emulator: in memory, or keeping its data in `data_dir` (and finding it
    /// there again); `api_key` is the key it accepts (a default one when not given).
    /// `latency_ms`, `max_page_rows` and `rate_limit` (requests per second per key) make
    /// it answer as a remote server would (none by default).
    #[new]
    #[pyo3(signature = (data_dir=None, api_key=None, *, latency_ms=0, max_page_rows=None, rate_limit=None))]
    fn new(
        py: Python<'_>,
        data_dir: Option<PathBuf>,
        api_key: Option<String>,
        latency_ms: u64,
        max_page_rows: Option<usize>,
        rate_limit: Option<f64>,
    ) -> PyResult<Self> {
        let api_key = api_key.unwrap_or_else(|| DEFAULT_API_KEY.to_string());
        if api_key.trim().is_empty() {
            return Err(PyValueError::new_err("api_key must not be empty"));
        }
        let network = network(latency_ms, max_page_rows, rate_limit)?;
        let mut config = EmulatorConfig::new()
            .api_key(api_key.clone())
            .network(network);
        if let Some(dir) = &data_dir {
            config = config.data_dir(dir.clone());
        }
        let handle = wait(py, refuel_emulator::Emulator::start(config))?
            .map_err(|e| PyRuntimeError::new_err(format!("the emulator did not start: {e:#}")))?;
        Ok(Self {
            url: handle.url().to_string(),
            handle: Mutex::new(Some(handle)),
            api_key,
            data_dir,
        })
    }

    /// Its base URL, e.g. `http://127.0.0.1:41234` (`api_url=` of the other classes).
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The API key it accepts.
    #[getter]
    fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Where it keeps its data, when not in memory.
    #[getter]
    fn data_dir(&self) -> Option<String> {
        self.data_dir.as_ref().map(|d| d.display().to_string())
    }

    /// Whether it is serving.
    #[getter]
    fn running(&self) -> bool {
        self.handle.lock().is_some()
    }

    /// Makes a project (and returns its id).
    #[pyo3(signature = (name, description=""))]
    fn create_project(&self, py: Python<'_>, name: String, description: &str) -> PyResult<String> {
        let client = Connection {
            api_key: Some(self.api_key.clone()),
            api_url: Some(self.url.clone()),
            ..Default::default()
        }
        .client()?;
        let description = description.to_string();
        let project = wait(py, async move {
            client.projects().create(&name, &description).await
        })?
        .map_err(|e| from_client(&e))?;
        Ok(project.id)
    }

    /// The requests it served since it started or since `reset_requests()`, oldest first:
    /// dicts of `method`, `path` and `query` (a list of (name, value) pairs).
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let logged = self.serving(|h| h.requests())?;
        let out = PyList::empty(py);
        for r in logged {
            let d = PyDict::new(py);
            d.set_item("method", r.method)?;
            d.set_item("path", r.path)?;
            d.set_item("query", r.query)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Changes how it answers from now on, as the constructor's arguments of the same
    /// names do: `set_network()` makes it answer at once again.
    #[pyo3(signature = (*, latency_ms=0, max_page_rows=None, rate_limit=None))]
    fn set_network(
        &self,
        latency_ms: u64,
        max_page_rows: Option<usize>,
        rate_limit: Option<f64>,
    ) -> PyResult<()> {
        let network = network(latency_ms, max_page_rows, rate_limit)?;
        self.serving(|h| h.set_network(network))
    }

    /// Empties the request log.
    fn reset_requests(&self) -> PyResult<()> {
        self.serving(|h| h.reset_requests())
    }

    /// Stops serving (requests in flight finish first). Stopping twice does nothing.
    /// In a process forked from the one serving, it only lets go of the server here.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let handle = self.handle.lock().take();
        if let Some(handle) = handle {
            if not_forked().is_err() {
                std::mem::forget(handle); // the server and its tasks are the parent's
                return Ok(());
            }
            wait(py, handle.shutdown())?;
        }
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.running() { "running" } else { "stopped" };
        match &self.data_dir {
            Some(dir) => format!(
                "Emulator(url='{}', data_dir='{}', {state})",
                self.url,
                dir.display()
            ),
            None => format!("Emulator(url='{}', in memory, {state})", self.url),
        }
    }
}

/// The simulated network of the arguments, checked.
fn network(
    latency_ms: u64,
    max_page_rows: Option<usize>,
    rate_limit: Option<f64>,
) -> PyResult<Network> {
    if max_page_rows == Some(0) {
        return Err(PyValueError::new_err("max_page_rows must be at least 1"));
    }
    if let Some(rate) = rate_limit.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(PyValueError::new_err(format!(
            "rate_limit must be a positive number of requests per second, not {rate}"
        )));
    }
    Ok(Network {
        max_page_rows,
        rate_limit,
        ..Network::with_latency(Duration::from_millis(latency_ms))
    })
}

impl PyEmulator {
    /// `f` of the running server's handle: an error once stopped, or in a process forked
    /// from the one serving (its request log and settings are the parent's).
    fn serving<T>(&self, f: impl FnOnce(&EmulatorHandle) -> T) -> PyResult<T> {
        not_forked().map_err(PyRuntimeError::new_err)?;
        match self.handle.lock().as_ref() {
            Some(h) => Ok(f(h)),
            None => Err(PyRuntimeError::new_err("the emulator is stopped")),
        }
    }
}

impl Drop for PyEmulator {
    fn drop(&mut self) {
        if let Some(server) = self.handle.lock().take() {
            if not_forked().is_err() {
                std::mem::forget(server); // the server and its tasks are the parent's
            } else if let Ok(runtime) = handle() {
                runtime.spawn(server.shutdown());
            }
        }
    }
}
