//! New datasets from SQL, through `refuel-sink`: query results are staged as one Parquet or
//! CSV file in an object store and handed to Refuel (a presigned URL, or an upload).
//!
//! - `COPY (SELECT ...) TO 'refuel://<project>/<dataset>' STORED AS REFUEL [OPTIONS (...)]`
//!   streams the query into the staged file without collecting it, then registers the
//!   dataset and returns the row count ([`RefuelFormatFactory`], [`RefuelCopySink`]).
//! - `CREATE TABLE refuel.<project>.<dataset> AS SELECT ...`: DataFusion collects the query
//!   into memory and hands the table to the project's schema, which writes it the same way
//!   (see [`crate::catalog::RefuelSchema`]). Prefer `COPY` for large results.
//!
//! Options (`OPTIONS ('key' 'value', ...)` of `COPY`; defaults from [`RefuelWriteOptions`]):
//!
//! | key | meaning |
//! |---|---|
//! | `staging` | where to stage: `s3://bucket/prefix`, `gs://…`, `az://…` (presigned), or a local directory / `file://` URL (uploaded); default: a `refuel-staging` directory in the system's temporary directory |
//! | `format` | the staged file: `parquet` (default) or `csv` |
//! | `csv_only` | `true`: a Parquet file is transcoded to CSV before the hand-off, for servers that take only CSV |
//! | `wait` | `false`: return once the dataset is created, without waiting for its ingest |
//! | `keep_staged` | `true`: keep the staged file after the hand-off |
//! | `url_expiry` | seconds a presigned URL stays valid (default 3600) |
//! | `check_row_count` | `false`: do not compare the ingested row count with the rows written |
//! | `part_size` | the multipart upload part size in bytes |
//! | `store.<key>` (or `<key>`) | an object_store option of the staging store (`aws_…`, `google_…`, `azure_…`), e.g. `'store.aws_endpoint' 'http://…'`; credentials otherwise come from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`) |

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
use refuel_sink::{RefuelSink, SinkOptions, StagingArea};

/// How new datasets are written: the defaults of `COPY ... STORED AS REFUEL` and what
/// `CREATE TABLE ... AS` uses.
#[derive(Clone, Default)]
pub struct RefuelWriteOptions {
    /// Where to stage (see the module documentation); `None`: a local temporary directory.
    pub staging: Option<String>,
    /// The sink's options (format, waiting, cleanup, store options).
    pub sink: SinkOptions,
}

impl fmt::Debug for RefuelWriteOptions {
    // Store options may hold credentials: only their keys are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefuelWriteOptions")
            .field("staging", &self.staging)
            .field("format", &self.sink.format)
            .field("csv_only", &self.sink.csv_only)
            .field("wait", &self.sink.wait.is_some())
            .field("keep_staged", &self.sink.keep_staged)
            .field(
                "store_options",
                &self
                    .sink
                    .store_options
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RefuelWriteOptions {
    /// These options with `COPY`'s `OPTIONS` applied (keys as DataFusion passes them: those
    /// without a dot prefixed with `format.`). `staging` and `store.<key>` are read here,
    /// the rest by [`SinkOptions::set`].
    pub fn with_sql_options(&self, options: &HashMap<String, String>) -> Result<Self> {
        let mut out = self.clone();
        let mut keys: Vec<&String> = options.keys().collect();
        keys.sort();
        for key in keys {
            let value = options[key].trim();
            let name = key.strip_prefix("format.").unwrap_or(key);
            if name == "staging" {
                out.staging = Some(value.to_string());
                continue;
            }
            let name = name.strip_prefix("store.").unwrap_or(name);
            out.sink
                .set(name, value)
                .map_err(|e| DataFusionError::Plan(format!("STORED AS REFUEL: {e}")))?;
        }
        Ok(out)
    }

    /// The staging area these options name.
    pub fn staging_area(&self) -> Result<StagingArea> {
        let area = match &self.staging {
            Some(url) => StagingArea::from_url(url, self.sink.store_options.clone()),
            None => StagingArea::local(std::env::temp_dir().join("refuel-staging")),
        };
        area.map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// A sink writing into `client`'s project.
    pub fn sink(&self, client: RefuelClient) -> Result<RefuelSink> {
        Ok(RefuelSink::new(client, self.staging_area()?).with_options(self.sink.clone()))
    }
}

/// Splits `refuel://<project>/<dataset>` (the target of `COPY ... TO`).
pub fn parse_target(url: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        DataFusionError::Plan(format!(
            "COPY target '{url}' {why}: expected 'refuel://<project>/<dataset>'"
        ))
    };
    let rest = url
        .strip_prefix("refuel://")
        .ok_or_else(|| bad("is not a refuel:// URL"))?;
    let (project, dataset) = rest
        .trim_end_matches('/')
        .split_once('/')
        .ok_or_else(|| bad("names no dataset"))?;
    if project.is_empty() || dataset.is_empty() || dataset.contains(['/', '?']) {
        return Err(bad("needs exactly a project and a dataset"));
    }
    Ok((project.to_string(), dataset.to_string()))
}

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
        let (project, dataset) = parse_target(&conf.original_url)?;
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

impl RefuelWriteOptions {
    /// Writes `batches` as the new dataset `dataset` of `client`'s project through the
    /// sink, as these options say; returns the rows written.
    pub async fn write<S>(
        &self,
        client: RefuelClient,
        dataset: &str,
        schema: SchemaRef,
        batches: S,
    ) -> Result<u64>
    where
        S: futures::Stream<Item = Result<datafusion::arrow::record_batch::RecordBatch>> + Send,
    {
        let outcome = self
            .sink(client)?
            .write_stream(dataset, schema, batches)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(outcome.rows.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use refuel_sink::FileFormat as StagedFormat;

    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("refuel://p/d").unwrap(),
            ("p".to_string(), "d".to_string())
        );
        assert_eq!(
            parse_target("refuel://p/d/").unwrap(),
            ("p".to_string(), "d".to_string())
        );
        for bad in [
            "s3://p/d",
            "refuel://p",
            "refuel:///d",
            "refuel://p/d/e",
            "refuel://p/d?x",
        ] {
            let err = parse_target(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn sql_options() {
        let base = RefuelWriteOptions::default();
        let options: HashMap<String, String> = [
            ("format.staging", "s3://b/p"),
            ("format.format", "CSV"),
            ("format.csv_only", "true"),
            ("format.wait", "false"),
            ("format.keep_staged", "true"),
            ("format.url_expiry", "60"),
            ("store.aws_endpoint", "http://127.0.0.1:9000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let out = base.with_sql_options(&options).unwrap();
        assert_eq!(out.staging.as_deref(), Some("s3://b/p"));
        assert_eq!(out.sink.format, StagedFormat::Csv);
        assert!(out.sink.csv_only && out.sink.keep_staged && out.sink.wait.is_none());
        assert_eq!(out.sink.url_expiry, Duration::from_secs(60));
        assert_eq!(
            out.sink.store_options,
            [(
                "aws_endpoint".to_string(),
                "http://127.0.0.1:9000".to_string()
            )]
        );
        // Store options' values never show in Debug.
        assert!(!format!("{out:?}").contains("127.0.0.1"));

        for (key, value, expect) in [
            ("format.color", "red", "unknown option 'color'"),
            ("format.wait", "maybe", "takes true or false"),
            ("format.format", "orc", "takes parquet or csv"),
            ("format.url_expiry", "soon", "a number of seconds"),
            ("store.colour", "red", "unknown option 'colour'"),
        ] {
            let one: HashMap<String, String> =
                [(key.to_string(), value.to_string())].into_iter().collect();
            let err = base.with_sql_options(&one).unwrap_err().to_string();
            assert!(err.contains(expect), "{key}: {err}");
        }
    }
}
