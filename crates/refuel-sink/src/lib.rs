//! Parquet and CSV into Refuel from object stores.
//!
//! Refuel ingests a dataset by downloading a URL. This crate joins that to the object
//! stores ETL jobs write to, without pulling the bytes through the job's machine:
//!
//! 1. **stage**: Arrow batches are written as one Parquet or CSV file into an object store
//!    with multipart uploads and bounded memory ([`RefuelSink::write_stream`],
//!    [`DatasetWriter`]); or an existing object is used ([`register_object`]);
//! 2. **sign**: the object gets a presigned `GET` URL (S3, GCS, Azure: object_store's
//!    [`Signer`](object_store::signer::Signer)); stores without a signer (local file
//!    system, in-memory) upload the file through the API instead, as CSV;
//! 3. **register**: the URL is registered as a new dataset (`source=uri`), retry-safe;
//! 4. **ingest**: optionally, the call waits for the ingest with progress and checks the
//!    row count; then staged objects are removed (unless kept).
//!
//! Errors ([`SinkError`]) name the step, the object and the store, and say what became of
//! the staged objects. No error, log line or `Debug` output carries a key, a signature or
//! a URL's query string.
//!
//! ```no_run
//! # async fn run(client: refuel_client::RefuelClient,
//! #     schema: arrow_schema::SchemaRef,
//! #     batches: futures::stream::BoxStream<'static, Result<arrow_array::RecordBatch, std::io::Error>>)
//! #     -> refuel_sink::Result<()> {
//! use refuel_sink::{StagingFormat, RefuelSink, SinkOptions, StagingArea};
//!
//! // Credentials from AWS_* variables, as AmazonS3Builder::from_env.
//! let staging = StagingArea::from_url("s3://etl-bucket/refuel-staging", [("aws_region", "eu-west-1")])?;
//! let sink = RefuelSink::new(client, staging)
//!     .with_options(SinkOptions::default().format(StagingFormat::Parquet));
//! let outcome = sink.write_stream("reviews_2026_11", schema, batches).await?;
//! println!("dataset {} with {:?} rows", outcome.dataset.id, outcome.rows);
//! # Ok(()) }
//! ```

mod error;
mod format;
mod handoff;
mod location;
mod options;
mod register;
mod staging;
mod transcode;
mod writer;

pub use error::{Cleanup, ErrorKind, Result, SinkError, Step, StoreErrorKind, redact_text};
pub use format::{PARQUET_MAGIC, StagingFormat, default_parquet_properties};
pub use handoff::{HandoffKind, SinkOutcome};
pub use location::{Cloud, Location, object_store_for};
pub use options::{Progress, ProgressFn, SinkOptions};
pub use register::register_object;
pub use staging::{Handoff, StagedObject, StagingArea};
pub use writer::{DatasetWriter, RefuelSink};

pub use refuel_client::WaitOptions;
