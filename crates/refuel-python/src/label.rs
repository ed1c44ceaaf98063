//! `label`: rows from Python labeled by a Refuel application, as `refuel_label` in SQL
//! labels them (the same function, options and planning rules, in a session of this
//! module's own DataFusion): identical inputs are labeled once, a row whose inputs are all
//! null sends nothing, `max_rows` bounds the distinct inputs sent.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatchReader;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::async_udf::AsyncScalarUDF;
use datafusion::prelude::{Expr, SessionConfig, SessionContext, ident, lit};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use refuel_client::RefuelClient;
use refuel_datafusion::context::install_refuel_planning;
use refuel_datafusion::label::{ApplicationDirectory, LabelApp, RefuelLabel};

use crate::arrow_stream::{read_stream, to_pyarrow};
use crate::config::Connection;
use crate::errors::from_datafusion;
use crate::runtime::wait;

/// The labeling session's options (`refuel.label.*`).
struct LabelOptions {
    explain: bool,
    on_error: String,
    model: Option<String>,
    max_rows: Option<u64>,
}

/// Labels `rows` (an Arrow stream; the Python layer turns lists of dicts and pandas frames
/// into one) with `application`; returns the rows, in input order, with one struct column
/// per application field (`label`, `confidence`, `explanation`, `error`).
#[pyfunction]
#[pyo3(signature = (application, rows, explain=false, on_error="fail", model=None, max_rows=None, project=None, api_key=None, api_url=None, max_workers=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn label(
    py: Python<'_>,
    application: String,
    rows: Bound<'_, PyAny>,
    explain: bool,
    on_error: &str,
    model: Option<String>,
    max_rows: Option<u64>,
    project: Option<String>,
    api_key: Option<String>,
    api_url: Option<String>,
    max_workers: Option<usize>,
) -> PyResult<Py<PyAny>> {
    if !matches!(on_error, "fail" | "null") {
        return Err(PyValueError::new_err(format!(
            "on_error must be 'fail' or 'null', not '{on_error}'"
        )));
    }
    let client = Connection {
        api_key,
        api_url,
        project,
        max_workers,
    }
    .client()?;
    let reader = read_stream(&rows)?;
    let schema = reader.schema();
    let batches = py
        .detach(|| reader.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| PyValueError::new_err(format!("cannot read the rows: {e}")))?;
    let options = LabelOptions {
        explain,
        on_error: on_error.to_string(),
        model,
        max_rows,
    };
    let (schema, labeled) = wait(py, async move {
        label_batches(client, &application, schema, batches, options).await
    })?
    .map_err(|e| match e {
        LabelError::Argument(message) => PyValueError::new_err(message),
        LabelError::DataFusion(e) => from_datafusion(&e),
    })?;
    to_pyarrow(py, schema, labeled)
}

enum LabelError {
    Argument(String),
    DataFusion(DataFusionError),
}

impl From<DataFusionError> for LabelError {
    fn from(e: DataFusionError) -> Self {
        Self::DataFusion(e)
    }
}

async fn label_batches(
    client: RefuelClient,
    application: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    options: LabelOptions,
) -> std::result::Result<(SchemaRef, Vec<RecordBatch>), LabelError> {
    let directory = Arc::new(ApplicationDirectory::new(client));
    let app = directory.resolve(application)?;
    let inputs = bind_inputs(&app, &schema)?;
    let function = Arc::new(RefuelLabel::new(directory));
    // One partition: rows come back in the order they went in.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    let udf = AsyncScalarUDF::new(Arc::clone(&function) as _).into_scalar_udf();
    ctx.register_udf(udf.clone());
    {
        let state_ref = ctx.state_ref();
        let mut state = state_ref.write();
        install_refuel_planning(&mut state, Some(Arc::clone(&function)));
        set_options(state.config_mut().options_mut(), &options)?;
    }
    let input = MemTable::try_new(Arc::clone(&schema), vec![batches])?;
    let frame = ctx.read_table(Arc::new(input))?;
    const LABELS: &str = "__refuel_labels";
    // The reference as given: `project/app` resolves in that project, `app` in the client's.
    let mut args = vec![lit(application)];
    args.extend(inputs);
    let call = udf.call(args);
    let frame = frame.with_column(LABELS, call)?;
    let mut columns: Vec<Expr> = schema.fields().iter().map(|f| ident(f.name())).collect();
    for (field, _) in &app.fields {
        columns.push(get_field(ident(LABELS), field.as_str()).alias(field));
    }
    let frame = frame.select(columns)?;
    let out_schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    Ok((out_schema, batches))
}

/// The input columns of `app`, in its order, from the rows' columns of the same names.
fn bind_inputs(app: &LabelApp, schema: &SchemaRef) -> std::result::Result<Vec<Expr>, LabelError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let missing: Vec<&str> = app
        .inputs
        .iter()
        .map(String::as_str)
        .filter(|i| !names.contains(i))
        .collect();
    if !missing.is_empty() {
        return Err(LabelError::Argument(format!(
            "the rows lack the input column{} {} of application '{}' (its inputs: {}; the rows' \
             columns: {})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            app.name,
            app.inputs.join(", "),
            names.join(", ")
        )));
    }
    if let Some((clash, _)) = app.fields.iter().find(|(f, _)| names.contains(&f.as_str())) {
        return Err(LabelError::Argument(format!(
            "the rows have a column '{clash}', the name of a field of application '{}' the \
             result adds: rename or drop that column",
            app.name
        )));
    }
    Ok(app.inputs.iter().map(|i| ident(i.as_str())).collect())
}

fn set_options(
    config: &mut datafusion::config::ConfigOptions,
    options: &LabelOptions,
) -> Result<()> {
    config.set("refuel.label.explain", &options.explain.to_string())?;
    config.set("refuel.label.on_error", &options.on_error)?;
    if let Some(model) = &options.model {
        config.set("refuel.label.model", model)?;
    }
    if let Some(max) = options.max_rows {
        config.set("refuel.label.max_rows", &max.to_string())?;
    }
    Ok(())
}
