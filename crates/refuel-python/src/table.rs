//! `RefuelTable`: one dataset, or one task's labels, as a datafusion-python table.

use std::sync::Arc;

use datafusion::arrow::ffi::FFI_ArrowSchema;
use datafusion::catalog::TableProvider;
use datafusion_ffi::table_provider::FFI_TableProvider;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::codec::host_codec;
use crate::config::{Connection, describe};
use crate::errors::from_datafusion;
use crate::providers::RuntimeTable;
use crate::runtime::{handle, keep_if_forked, wait};

/// A dataset's rows, or with `task` the rows of the task's dataset with its label columns:
/// `ctx.register_table("reviews", RefuelTable("reviews", task="sentiment"))`.
#[pyclass(name = "RefuelTable", module = "refuel_datafusion", frozen)]
pub(crate) struct PyRefuelTable {
    table: Arc<refuel_datafusion::RefuelTable>,
    dataset: String,
    task: Option<String>,
    shown: String,
}

#[pymethods]
impl PyRefuelTable {
    /// Finds the dataset (and task) and reads its columns.
    #[new]
    #[pyo3(signature = (dataset, task=None, project=None, api_key=None, api_url=None, max_workers=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dataset: String,
        task: Option<String>,
        project: Option<String>,
        api_key: Option<String>,
        api_url: Option<String>,
        max_workers: Option<usize>,
    ) -> PyResult<Self> {
        if dataset.trim().is_empty() {
            return Err(PyValueError::new_err("dataset must name a dataset"));
        }
        let client = Connection {
            api_key,
            api_url,
            project,
            max_workers,
        }
        .client()?;
        let shown = describe(&client);
        let (d, t) = (dataset.clone(), task.clone());
        let table = wait(py, async move {
            refuel_datafusion::RefuelTable::try_new(client, &d, t.as_deref()).await
        })?
        .map_err(|e| from_datafusion(&e))?;
        Ok(Self {
            table: Arc::new(table),
            dataset,
            task,
            shown,
        })
    }

    /// The table for datafusion-python (`register_table` calls it): filters and limits
    /// are pushed into the API's requests.
    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = host_codec(&session)?;
        let handle = handle()?;
        let table = RuntimeTable::wrap(
            Arc::clone(&self.table) as Arc<dyn TableProvider>,
            handle.clone(),
        );
        let ffi = FFI_TableProvider::new_with_ffi_codec(table, true, Some(handle), codec);
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }

    /// The table's Arrow schema (`pyarrow.schema(table)`).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.table.schema().as_ref())
            .map_err(|e| PyValueError::new_err(format!("cannot export the schema: {e}")))?;
        PyCapsule::new_with_value(py, schema, c"arrow_schema")
    }

    /// The dataset's name or id, as given.
    #[getter]
    fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The task's name or id, as given, for a label table.
    #[getter]
    fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }

    /// The column names.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __repr__(&self) -> String {
        match &self.task {
            Some(task) => format!(
                "RefuelTable(dataset='{}', task='{task}', {})",
                self.dataset, self.shown
            ),
            None => format!("RefuelTable(dataset='{}', {})", self.dataset, self.shown),
        }
    }
}

impl Drop for PyRefuelTable {
    fn drop(&mut self) {
        keep_if_forked(&self.table);
    }
}
