//! `COPY (SELECT ...) TO 'refuel://<project>/<dataset>' STORED AS REFUEL [OPTIONS (...)]`:
//! the query streamed into a staged file (never collected), then handed to Refuel as a new
//! dataset; the statement returns the row count.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{GetExt, Statistics};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory};
use datafusion::datasource::physical_plan::{
    CsvSource, FileScanConfig, FileSinkConfig, FileSource,
};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::LexRequirement;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use object_store::{ObjectMeta, ObjectStore};
use refuel_client::RefuelClient;

use super::RefuelWriteOptions;
use crate::url::RefuelUrl;

/// `STORED AS REFUEL` for `COPY ... TO 'refuel://<project>/<dataset>'`.
#[derive(Debug, Clone)]
pub struct RefuelFormatFactory {
    client: RefuelClient,
    defaults: RefuelWriteOptions,
}

impl RefuelFormatFactory {
    /// Writes through `client` (any project: the target URL names it), with `defaults`.
    pub fn new(client: RefuelClient, defaults: RefuelWriteOptions) -> Self {
        Self { client, defaults }
    }
}

impl GetExt for RefuelFormatFactory {
    fn get_ext(&self) -> String {
        "refuel".to_string()
    }
}

impl FileFormatFactory for RefuelFormatFactory {
    fn create(
        &self,
        _state: &dyn Session,
        format_options: &HashMap<String, String>,
    ) -> Result<Arc<dyn FileFormat>> {
        Ok(Arc::new(RefuelFormat {
            client: self.client.clone(),
            options: self.defaults.with_sql_options(format_options)?,
        }))
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        Arc::new(RefuelFormat {
            client: self.client.clone(),
            options: self.defaults.clone(),
        })
    }
}

/// The write side of `STORED AS REFUEL` (reads go through the tables of the catalog).
#[derive(Debug)]
pub struct RefuelFormat {
    client: RefuelClient,
    options: RefuelWriteOptions,
}

fn read_refused() -> DataFusionError {
    DataFusionError::Plan(
        "STORED AS REFUEL files are written by COPY only; read Refuel datasets as \
         refuel.<project>.<dataset> or with CREATE EXTERNAL TABLE ... STORED AS REFUEL"
            .into(),
    )
}

#[async_trait]
impl FileFormat for RefuelFormat {
    fn get_ext(&self) -> String {
        "refuel".to_string()
    }

    fn get_ext_with_compression(&self, _c: &FileCompressionType) -> Result<String> {
        Ok(self.get_ext())
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        None
    }

    async fn infer_schema(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        _objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        Err(read_refused())
    }

    async fn infer_stats(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        _table_schema: SchemaRef,
        _object: &ObjectMeta,
    ) -> Result<Statistics> {
        Err(read_refused())
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        _conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(read_refused())
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        _state: &dyn Session,
        conf: FileSinkConfig,
        order_requirements: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !conf.table_partition_cols.is_empty() {
            return Err(DataFusionError::Plan(
                "COPY ... STORED AS REFUEL makes one dataset: PARTITIONED BY is not supported"
                    .into(),
            ));
        }
        let url = RefuelUrl::parse(&conf.original_url, "COPY target")?;
        if url.task.is_some() {
            return Err(DataFusionError::Plan(format!(
                "COPY target '{url}' names a task: COPY writes a new dataset, \
                 'refuel://<project>/<dataset>'"
            )));
        }
        let (project, dataset) = (url.project, url.dataset);
        let sink = RefuelCopySink {
            client: self.client.with_project(project.clone()),
            project,
            dataset,
            options: self.options.clone(),
            schema: Arc::clone(&conf.output_schema),
        };
        Ok(Arc::new(DataSinkExec::new(
            input,
            Arc::new(sink),
            order_requirements,
        )))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        // Never scanned: `infer_schema` and `create_physical_plan` refuse reads first. A
        // source is still required by the trait.
        Arc::new(CsvSource::new(table_schema))
    }
}

/// Streams the rows of a `COPY` into a new dataset through the sink; returns the count.
pub struct RefuelCopySink {
    client: RefuelClient,
    project: String,
    dataset: String,
    options: RefuelWriteOptions,
    schema: SchemaRef,
}

impl fmt::Debug for RefuelCopySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefuelCopySink")
            .field("project", &self.project)
            .field("dataset", &self.dataset)
            .field("options", &self.options)
            .finish()
    }
}

impl DisplayAs for RefuelCopySink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RefuelCopySink: dataset=refuel://{}/{}, staging={}, format={:?}",
            self.project,
            self.dataset,
            self.options
                .staging
                .as_deref()
                .unwrap_or("local temporary directory"),
            self.options.sink.format
        )
    }
}

#[async_trait]
impl DataSink for RefuelCopySink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let schema = data.schema();
        self.options
            .write(self.client.clone(), &self.dataset, schema, data)
            .await
            .map_err(|e| {
                e.context(format!(
                    "COPY to refuel://{}/{}",
                    self.project, self.dataset
                ))
            })
    }
}
