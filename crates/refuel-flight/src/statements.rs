//! A session's statements: queries planned by `GetFlightInfo` and waiting for their
//! `DoGet` (or running, cancellable), and prepared statements with their bound
//! parameters.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::DataFrame;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A query between its `GetFlightInfo` and the end of its `DoGet`.
pub(crate) enum Query {
    /// Planned, not fetched yet.
    Planned(DataFrame),
    /// Being streamed; cancelling the token ends the stream with `Cancelled`.
    Running(CancellationToken),
}

/// A prepared statement: its plan (with `$n` placeholders) and the parameter rows bound
/// to it last.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) plan: LogicalPlan,
    pub(crate) parameters: SchemaRef,
    pub(crate) bound: Vec<Vec<ScalarValue>>,
}

/// What cancelling a query found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// It was cancelled.
    Yes,
    /// No such query (never planned, finished, or cancelled before).
    Unknown,
}

/// A session's statements.
#[derive(Default)]
pub(crate) struct Statements {
    queries: Mutex<HashMap<Uuid, Query>>,
    prepared: Mutex<HashMap<Uuid, Prepared>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Statements {
    /// Keeps a planned query; its handle.
    pub(crate) fn plan(&self, frame: DataFrame) -> Uuid {
        let handle = Uuid::new_v4();
        lock(&self.queries).insert(handle, Query::Planned(frame));
        handle
    }

    /// Takes the query `handle` to run it: it becomes running under the returned token.
    pub(crate) fn start(&self, handle: Uuid) -> Option<(DataFrame, CancellationToken)> {
        let mut queries = lock(&self.queries);
        match queries.remove(&handle) {
            Some(Query::Planned(frame)) => {
                let token = CancellationToken::new();
                queries.insert(handle, Query::Running(token.clone()));
                Some((frame, token))
            }
            Some(running) => {
                queries.insert(handle, running);
                None
            }
            None => None,
        }
    }

    /// Forgets the query `handle` (its stream ended).
    pub(crate) fn finish(&self, handle: Uuid) {
        lock(&self.queries).remove(&handle);
    }

    /// Cancels the query `handle`, planned or running.
    pub(crate) fn cancel(&self, handle: Uuid) -> Cancelled {
        match lock(&self.queries).remove(&handle) {
            Some(Query::Running(token)) => {
                token.cancel();
                Cancelled::Yes
            }
            Some(Query::Planned(_)) => Cancelled::Yes,
            None => Cancelled::Unknown,
        }
    }

    /// Keeps a prepared statement; its handle.
    pub(crate) fn prepare(&self, prepared: Prepared) -> Uuid {
        let handle = Uuid::new_v4();
        lock(&self.prepared).insert(handle, prepared);
        handle
    }

    /// The prepared statement `handle`.
    pub(crate) fn prepared(&self, handle: Uuid) -> Option<Prepared> {
        lock(&self.prepared).get(&handle).cloned()
    }

    /// Binds parameter rows to the prepared statement `handle`.
    pub(crate) fn bind(&self, handle: Uuid, rows: Vec<Vec<ScalarValue>>) -> bool {
        match lock(&self.prepared).get_mut(&handle) {
            Some(p) => {
                p.bound = rows;
                true
            }
            None => false,
        }
    }

    /// Closes the prepared statement `handle`.
    pub(crate) fn close(&self, handle: Uuid) -> bool {
        lock(&self.prepared).remove(&handle).is_some()
    }
}

/// `sql` with its `?` placeholders (JDBC, ODBC and ADBC write them) numbered as
/// DataFusion's `$1`, `$2`, ...; `$n` placeholders stay. Strings, identifiers and comments
/// are left as they are.
pub(crate) fn number_placeholders(sql: &str) -> Result<String> {
    if !sql.contains('?') {
        return Ok(sql.to_string());
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| DataFusionError::Plan(format!("cannot read the statement: {e}")))?;
    let mut n = 0;
    let mut out = String::with_capacity(sql.len() + 8);
    for token in tokens {
        match token {
            Token::Placeholder(p) if p == "?" => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            other => out.push_str(&other.to_string()),
        }
    }
    Ok(out)
}

/// The parameters of `plan` as a schema: `$1`, `$2`, ... in order, each of the type the
/// plan infers for it (`Null` when it infers none).
pub(crate) fn parameter_schema(plan: &LogicalPlan) -> Result<SchemaRef> {
    let types = plan.get_parameter_types()?;
    let mut named: Vec<(usize, String, DataType)> = types
        .into_iter()
        .map(|(name, ty)| {
            let n = name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "parameter {name}: use positional parameters ($1, $2, ... or ?)"
                    ))
                })?;
            Ok((n, name, ty.unwrap_or(DataType::Null)))
        })
        .collect::<Result<_>>()?;
    named.sort_by_key(|(n, _, _)| *n);
    for (i, (n, name, _)) in named.iter().enumerate() {
        if *n != i + 1 {
            return Err(DataFusionError::Plan(format!(
                "parameter {name} without ${}: parameters are numbered from $1 without gaps",
                i + 1
            )));
        }
    }
    let fields: Vec<Field> = named
        .into_iter()
        .map(|(_, name, ty)| Field::new(name, ty, true))
        .collect();
    Ok(std::sync::Arc::new(Schema::new(fields)))
}

/// The rows of `batches` as parameter values, one row a call, each value cast to the type
/// `parameters` asks for.
pub(crate) fn parameter_rows(
    batches: &[RecordBatch],
    parameters: &Schema,
) -> Result<Vec<Vec<ScalarValue>>> {
    let mut rows = Vec::new();
    for batch in batches {
        if batch.num_columns() != parameters.fields().len() {
            return Err(DataFusionError::Plan(format!(
                "the statement takes {} parameter(s), the bound rows have {} column(s)",
                parameters.fields().len(),
                batch.num_columns()
            )));
        }
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .zip(parameters.fields())
                .map(|(column, field)| {
                    let value = ScalarValue::try_from_array(column, row)?;
                    if field.data_type() == &DataType::Null
                        || value.data_type() == *field.data_type()
                    {
                        Ok(value)
                    } else {
                        value.cast_to(field.data_type()).map_err(|e| {
                            DataFusionError::Plan(format!(
                                "parameter {}: cannot use a {} value as {}: {e}",
                                field.name(),
                                value.data_type(),
                                field.data_type()
                            ))
                        })
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            rows.push(values);
        }
    }
    Ok(rows)
}

/// `plan` with `values` in place of its placeholders.
pub(crate) fn bind_plan(plan: &LogicalPlan, values: &[ScalarValue]) -> Result<LogicalPlan> {
    plan.clone().with_param_values(ParamValues::List(
        values.iter().cloned().map(Into::into).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_question_marks_outside_strings() {
        assert_eq!(
            number_placeholders("SELECT a FROM t WHERE a = ? AND b = '?' AND c > ?").unwrap(),
            "SELECT a FROM t WHERE a = $1 AND b = '?' AND c > $2"
        );
        assert_eq!(number_placeholders("SELECT $1").unwrap(), "SELECT $1");
    }
}
