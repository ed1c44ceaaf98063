//! `RefuelCatalog`: a team's projects as the schemas of a datafusion-python catalog.

use std::sync::Arc;

use datafusion::catalog::CatalogProvider;
use datafusion_ffi::catalog_provider::FFI_CatalogProvider;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::codec::host_codec;
use crate::config::{Connection, describe};
use crate::errors::from_datafusion;
use crate::providers::RuntimeCatalog;
use crate::runtime::{handle, keep_if_forked, wait};

/// A team's Refuel projects as schemas: `ctx.register_catalog_provider("refuel",
/// RefuelCatalog())`, then `refuel.<project>.<dataset>` and `refuel.<project>.<task>_labels`.
#[pyclass(name = "RefuelCatalog", module = "refuel_datafusion", frozen)]
pub(crate) struct PyRefuelCatalog {
    catalog: Arc<refuel_datafusion::RefuelCatalog>,
    shown: String,
}

#[pymethods]
impl PyRefuelCatalog {
    /// Lists the team's projects, with their datasets and tasks.
    #[new]
    #[pyo3(signature = (api_key=None, api_url=None, project=None, max_workers=None))]
    fn new(
        py: Python<'_>,
        api_key: Option<String>,
        api_url: Option<String>,
        project: Option<String>,
        max_workers: Option<usize>,
    ) -> PyResult<Self> {
        let client = Connection {
            api_key,
            api_url,
            project,
            max_workers,
        }
        .client()?;
        let shown = describe(&client);
        let catalog = wait(py, refuel_datafusion::RefuelCatalog::try_new(client))?
            .map_err(|e| from_datafusion(&e))?;
        Ok(Self {
            catalog: Arc::new(catalog),
            shown,
        })
    }

    /// The catalog for datafusion-python (`register_catalog_provider` calls it).
    fn __datafusion_catalog_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = host_codec(&session)?;
        let handle = handle()?;
        let provider = Arc::new(RuntimeCatalog::new(
            Arc::clone(&self.catalog),
            handle.clone(),
        ));
        let ffi = FFI_CatalogProvider::new_with_ffi_codec(provider, Some(handle), codec);
        PyCapsule::new_with_value(py, ffi, c"datafusion_catalog_provider")
    }

    /// The projects, as schema names.
    fn schema_names(&self) -> Vec<String> {
        self.catalog.schema_names()
    }

    /// The tables of a project: its datasets, `<task>_labels` tables and metadata tables.
    fn table_names(&self, project: &str) -> PyResult<Vec<String>> {
        self.catalog
            .schema(project)
            .map(|s| s.table_names())
            .ok_or_else(|| {
                PyKeyError::new_err(format!(
                    "no Refuel project '{project}' (projects: {})",
                    self.catalog.schema_names().join(", ")
                ))
            })
    }

    /// Lists the projects, datasets and tasks again (made or deleted since show up or go).
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let catalog = Arc::clone(&self.catalog);
        wait(py, async move { catalog.refresh().await })?.map_err(|e| from_datafusion(&e))
    }

    fn __repr__(&self) -> String {
        format!("RefuelCatalog({})", self.shown)
    }
}

impl Drop for PyRefuelCatalog {
    fn drop(&mut self) {
        keep_if_forked(&self.catalog);
    }
}
