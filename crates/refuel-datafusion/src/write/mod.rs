//! Writes from SQL. `INSERT INTO` a dataset's table appends rows through the API ([`insert`]).
//!
//! New datasets, through `refuel-sink`: query results are staged as one Parquet or
//! CSV file in an object store and handed to Refuel (a presigned URL, or an upload).
//!
//! - `COPY (SELECT ...) TO 'refuel://<project>/<dataset>' STORED AS REFUEL [OPTIONS (...)]`
//!   streams the query into the staged file without collecting it, then registers the
//!   dataset and returns the row count ([`copy`]: [`RefuelFormatFactory`], [`RefuelCopySink`]).
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

pub mod copy;
pub mod insert;
pub mod options;

pub use copy::{RefuelCopySink, RefuelFormat, RefuelFormatFactory};
pub use insert::RefuelInsertSink;
pub use options::RefuelWriteOptions;
