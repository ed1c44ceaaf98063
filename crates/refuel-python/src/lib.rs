//! `refuel_datafusion` for Python: Refuel datasets and task labels as tables of
//! datafusion-python (through datafusion-ffi), dataset writes from any Arrow stream,
//! labeling, and a local emulator.
//!
//! The Python package `refuel_datafusion` (in `python/`) re-exports this module,
//! `refuel_datafusion._internal`, and turns pandas frames and lists of dicts into Arrow
//! streams before they reach it.
//!
//! What crosses the FFI boundary into a datafusion-python session: the tables' schemas,
//! projections, filters (pushed into the API's requests) and limits. What does not:
//! ORDER BY and OFFSET pushdown and a scan's fetch (the host sorts and skips itself, the
//! results are the same), `refuel_label` (an async function: use [`label::label`]),
//! `CREATE TABLE ... AS` into a Refuel schema (refused: use `write_dataset`).

mod arrow_stream;
mod catalog;
mod codec;
mod config;
mod emulator;
mod errors;
mod label;
mod providers;
mod runtime;
mod table;
mod write;

use pyo3::prelude::*;

/// The module `refuel_datafusion._internal`.
#[pymodule]
#[pyo3(name = "_internal")]
fn refuel_python(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<catalog::PyRefuelCatalog>()?;
    m.add_class::<table::PyRefuelTable>()?;
    m.add_class::<emulator::PyEmulator>()?;
    m.add_class::<arrow_stream::ArrowResult>()?;
    m.add_function(wrap_pyfunction!(write::write_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(label::label, m)?)?;
    m.add("RefuelError", m.py().get_type::<errors::RefuelError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // How this module was compiled (benchmarks report it).
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    m.add("__build_profile__", profile)?;
    Ok(())
}
