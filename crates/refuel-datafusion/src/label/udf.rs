//! `refuel_label(application, input1 [, input2 ...])`: an async scalar function that labels
//! each row through a deployed application.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, StructArray, make_array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::async_udf::AsyncScalarUDFImpl;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use refuel_client::models::Row;
use serde_json::{Number, Value};

use super::directory::{ApplicationDirectory, LabelApp};
use super::options::LabelConfig;
use super::output::{build, result_type};
use super::run::LabelRun;

/// The function's name.
pub const REFUEL_LABEL: &str = "refuel_label";

/// `refuel_label` (see the module docs of [`crate::label`]).
#[derive(Debug)]
pub struct RefuelLabel {
    directory: Arc<ApplicationDirectory>,
    /// The query's labeling state, when a rule of ours gave the plan one.
    run: Option<Arc<LabelRun>>,
    signature: Signature,
}

impl RefuelLabel {
    /// The function over `directory`'s applications, with a labeling state per call.
    pub fn new(directory: Arc<ApplicationDirectory>) -> Self {
        Self {
            directory,
            run: None,
            signature: Signature::variadic_any(Volatility::Volatile),
        }
    }

    /// The same function sharing `run` (one query's state) across its calls.
    pub fn with_run(&self, run: Arc<LabelRun>) -> Self {
        Self {
            directory: Arc::clone(&self.directory),
            run: Some(run),
            signature: self.signature.clone(),
        }
    }

    /// The applications it resolves names in.
    pub fn directory(&self) -> &Arc<ApplicationDirectory> {
        &self.directory
    }
}

impl PartialEq for RefuelLabel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.directory, &other.directory)
            && match (&self.run, &other.run) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Eq for RefuelLabel {}

impl Hash for RefuelLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.directory).hash(state);
        self.run.as_ref().map(Arc::as_ptr).hash(state);
    }
}

/// The application's name: the first argument, a string literal.
fn app_name(value: Option<&ScalarValue>) -> Result<String> {
    match value {
        Some(
            ScalarValue::Utf8(Some(name))
            | ScalarValue::LargeUtf8(Some(name))
            | ScalarValue::Utf8View(Some(name)),
        ) => Ok(name.clone()),
        _ => Err(DataFusionError::Plan(format!(
            "{REFUEL_LABEL}: the first argument must be the application's name, as a string \
             literal: {REFUEL_LABEL}('my_app', text)"
        ))),
    }
}

/// How the arguments after the name bind to the application's input columns.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Binding {
    /// One argument per input column, in their order.
    Positional,
    /// One struct whose field names are input columns.
    Named(Vec<String>),
}

fn bind(app: &LabelApp, inputs: &[FieldRef]) -> Result<Binding> {
    if let [only] = inputs
        && let DataType::Struct(fields) = only.data_type()
    {
        let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        if let Some(unknown) = names.iter().find(|n| !app.inputs.contains(n)) {
            return Err(DataFusionError::Plan(format!(
                "{REFUEL_LABEL}: '{unknown}' is no input column of {}",
                app.describe()
            )));
        }
        let missing: Vec<&str> = app
            .inputs
            .iter()
            .filter(|i| !names.contains(i))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "{REFUEL_LABEL}: the struct lacks {} of {}",
                missing.join(", "),
                app.describe()
            )));
        }
        return Ok(Binding::Named(names));
    }
    if inputs.len() != app.inputs.len() {
        return Err(DataFusionError::Plan(format!(
            "{REFUEL_LABEL}: {} takes {} input{} after its name, got {}",
            app.describe(),
            app.inputs.len(),
            if app.inputs.len() == 1 { "" } else { "s" },
            inputs.len()
        )));
    }
    Ok(Binding::Positional)
}

impl ScalarUDFImpl for RefuelLabel {
    fn name(&self) -> &str {
        REFUEL_LABEL
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(format!(
            "{REFUEL_LABEL}'s type depends on its application: return_field_from_args gives it"
        )))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let name = app_name(args.scalar_arguments.first().copied().flatten())?;
        let app = self.directory.resolve(&name)?;
        bind(&app, args.arg_fields.get(1..).unwrap_or_default())?;
        Ok(Arc::new(Field::new(REFUEL_LABEL, result_type(&app), true)))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Err(DataFusionError::Internal(format!(
            "{REFUEL_LABEL} runs asynchronously"
        )))
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for RefuelLabel {
    fn ideal_batch_size(&self) -> Option<usize> {
        // Whole batches: the rows of a batch are labeled concurrently, and the batches
        // are made small by `RefuelLabelExec` (see `crate::label::exec`).
        None
    }

    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let name = match args.args.first() {
            Some(ColumnarValue::Scalar(value)) => app_name(Some(value))?,
            _ => app_name(None)?,
        };
        let app = self.directory.resolve(&name)?;
        let binding = bind(&app, args.arg_fields.get(1..).unwrap_or_default())?;
        let inputs: Vec<ArrayRef> = args.args[1..]
            .iter()
            .map(|v| v.to_array(rows))
            .collect::<Result<_>>()?;
        let rows = input_rows(&app, &binding, &inputs, rows)?;
        let config = args
            .config_options
            .extensions
            .get::<LabelConfig>()
            .cloned()
            .unwrap_or_default();
        let run = self.run.clone().unwrap_or_default();
        let outcomes = run
            .label(&self.directory.client(), &app, rows, &config)
            .await?;
        if config.on_error == super::options::OnError::Fail
            && let Some(Some(Err(message))) = outcomes.iter().find(|o| matches!(o, Some(Err(_))))
        {
            return Err(DataFusionError::Execution(format!(
                "{REFUEL_LABEL} with application '{}': {message} (SET refuel.label.on_error = 'null' \
                 gives NULL labels and the message instead)",
                app.name
            )));
        }
        Ok(ColumnarValue::Array(build(&app, &outcomes)?))
    }
}

/// The input of each row as the API takes it (`{column: value}`), `None` when every input
/// of the row is NULL (nothing is sent for it).
fn input_rows(
    app: &LabelApp,
    binding: &Binding,
    inputs: &[ArrayRef],
    rows: usize,
) -> Result<Vec<Option<Row>>> {
    let columns: Vec<(String, ArrayRef)> = match binding {
        Binding::Positional => app
            .inputs
            .iter()
            .cloned()
            .zip(inputs.iter().cloned())
            .collect(),
        Binding::Named(names) => {
            let Some(input) = inputs.first() else {
                return Err(DataFusionError::Internal("no struct argument".into()));
            };
            let Some(structs) = input.as_any().downcast_ref::<StructArray>() else {
                return Err(DataFusionError::Internal(
                    "the struct argument is no struct".into(),
                ));
            };
            let whole = structs.logical_nulls();
            names
                .iter()
                .zip(structs.columns())
                .map(|(name, column)| {
                    // A NULL struct makes each of its inputs NULL.
                    let column = match &whole {
                        Some(outer) => {
                            let nulls =
                                NullBuffer::union(Some(outer), column.logical_nulls().as_ref());
                            make_array(column.to_data().into_builder().nulls(nulls).build()?)
                        }
                        None => Arc::clone(column),
                    };
                    Ok((name.clone(), column))
                })
                .collect::<Result<_>>()?
        }
    };
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        if columns.iter().all(|(_, c)| c.is_null(i)) {
            out.push(None);
            continue;
        }
        let mut row = Row::new();
        for (name, column) in &columns {
            row.insert(name.clone(), json_value(column, i)?);
        }
        out.push(Some(row));
    }
    Ok(out)
}

/// One value as JSON: strings, numbers and booleans as themselves, anything else as its
/// text.
fn json_value(column: &ArrayRef, i: usize) -> Result<Value> {
    if column.is_null(i) {
        return Ok(Value::Null);
    }
    let value = ScalarValue::try_from_array(column, i)?;
    Ok(match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Value::String(s),
        ScalarValue::Boolean(Some(b)) => Value::Bool(b),
        ScalarValue::Int8(Some(n)) => Value::from(n),
        ScalarValue::Int16(Some(n)) => Value::from(n),
        ScalarValue::Int32(Some(n)) => Value::from(n),
        ScalarValue::Int64(Some(n)) => Value::from(n),
        ScalarValue::UInt8(Some(n)) => Value::from(n),
        ScalarValue::UInt16(Some(n)) => Value::from(n),
        ScalarValue::UInt32(Some(n)) => Value::from(n),
        ScalarValue::UInt64(Some(n)) => Value::from(n),
        ScalarValue::Float32(Some(f)) => {
            Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number)
        }
        ScalarValue::Float64(Some(f)) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        _ => Value::String(array_value_to_string(column, i)?),
    })
}
