//! `INSERT INTO <dataset table> ...`: rows appended through the API's add-rows call.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::ArrayWriter;
use datafusion::datasource::sink::DataSink;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use refuel_client::RefuelClient;
use refuel_client::models::Row;

/// Appends the rows of an `INSERT` to a dataset, one add-rows request per 1,000 rows.
///
/// Appends are not idempotent, so a failed request is not retried blindly (see the client);
/// the error then says how many rows were appended before it.
#[derive(Debug)]
pub struct RefuelInsertSink {
    client: RefuelClient,
    dataset_id: String,
    table: String,
    schema: SchemaRef,
}

impl RefuelInsertSink {
    /// A sink appending rows of `schema` to the dataset.
    pub fn new(client: RefuelClient, dataset_id: String, table: String, schema: SchemaRef) -> Self {
        Self {
            client,
            dataset_id,
            table,
            schema,
        }
    }
}

impl DisplayAs for RefuelInsertSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefuelInsertSink: table={}", self.table)
    }
}

#[async_trait]
impl DataSink for RefuelInsertSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let mut written: u64 = 0;
        while let Some(batch) = data.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let mut writer = ArrayWriter::new(Vec::new());
            writer.write(&batch)?;
            writer.finish()?;
            let rows: Vec<Row> = serde_json::from_slice(&writer.into_inner()).map_err(|e| {
                DataFusionError::Internal(format!(
                    "rows of table {} could not be encoded: {e}",
                    self.table
                ))
            })?;
            self.client
                .datasets()
                .add_items(&self.dataset_id, &rows)
                .await
                .map_err(|e| {
                    DataFusionError::Execution(format!(
                        "INSERT INTO {} stopped after {written} rows were appended: {e}",
                        self.table
                    ))
                })?;
            written += rows.len() as u64;
        }
        Ok(written)
    }
}
