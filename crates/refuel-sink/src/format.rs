//! File formats and the streaming encoders that write Arrow batches into an object store
//! with multipart uploads, holding at most one row group (Parquet) or one batch (CSV) plus
//! the upload buffers in memory.

use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tokio::io::AsyncWriteExt;

use crate::error::ErrorKind;

/// The format of a staged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StagingFormat {
    /// Apache Parquet: typed columns, compressed; the server reads booleans as `boolean`,
    /// integers, floats and decimals as `number`, everything else as `string`.
    #[default]
    Parquet,
    /// CSV with a header row; NULL is an empty cell. The server infers each column's type
    /// from its values.
    Csv,
}

impl StagingFormat {
    /// The file extension (`parquet`, `csv`).
    pub fn extension(&self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Csv => "csv",
        }
    }

    /// The format of a file, from its name's extension (`.parquet`/`.pq`, `.csv`).
    pub fn from_extension(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

impl fmt::Display for StagingFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Parquet => "Parquet",
            Self::Csv => "CSV",
        })
    }
}

/// Parquet's magic bytes, at the start and the end of every Parquet file.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// The default Parquet settings: ZSTD level 3 (as DataFusion writes), row groups of at
/// most 1 Mi rows or 32 MiB, whichever comes first, so memory stays flat in the number of
/// rows.
pub fn default_parquet_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_bytes(Some(32 << 20))
        .build()
}

/// How an encoder writes: multipart part size and parallel parts.
#[derive(Debug, Clone)]
pub(crate) struct UploadSettings {
    pub part_size: usize,
    pub max_concurrency: usize,
    pub parquet: WriterProperties,
}

/// Writes batches as one file into an object store.
pub(crate) enum Encoder {
    Parquet(Box<AsyncArrowWriter<BufWriter>>),
    Csv {
        out: Box<BufWriter>,
        header: bool,
        bytes: u64,
    },
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Parquet(_) => "Encoder::Parquet",
            Self::Csv { .. } => "Encoder::Csv",
        })
    }
}

impl Encoder {
    /// Opens a writer of `format` at `path`. CSV refuses nested columns up front.
    pub(crate) fn open(
        format: StagingFormat,
        store: Arc<dyn ObjectStore>,
        path: Path,
        schema: SchemaRef,
        settings: &UploadSettings,
    ) -> Result<Self, ErrorKind> {
        let out = BufWriter::with_capacity(store, path, settings.part_size)
            .with_max_concurrency(settings.max_concurrency);
        match format {
            StagingFormat::Parquet => {
                let w = AsyncArrowWriter::try_new(out, schema, Some(settings.parquet.clone()))
                    .map_err(|e| ErrorKind::Encode(format!("Parquet writer: {e}")))?;
                Ok(Self::Parquet(Box::new(w)))
            }
            StagingFormat::Csv => {
                check_csv_schema(&schema)?;
                Ok(Self::Csv {
                    out: Box::new(out),
                    header: true,
                    bytes: 0,
                })
            }
        }
    }

    /// Writes one batch.
    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<(), ErrorKind> {
        match self {
            Self::Parquet(w) => w
                .write(batch)
                .await
                .map_err(|e| parquet_error("write Parquet", e)),
            Self::Csv { out, header, bytes } => {
                let text = csv_bytes(batch, *header)?;
                *header = false;
                *bytes += text.len() as u64;
                out.put(text).await.map_err(|e| ErrorKind::store(&e))
            }
        }
    }

    /// Bytes encoded so far (for Parquet, the row groups flushed so far).
    pub(crate) fn bytes_written(&self) -> u64 {
        match self {
            Self::Parquet(w) => w.bytes_written() as u64,
            Self::Csv { bytes, .. } => *bytes,
        }
    }

    /// Completes the file (the multipart upload) and returns its size in bytes.
    pub(crate) async fn finish(self, schema: &SchemaRef) -> Result<u64, ErrorKind> {
        match self {
            Self::Parquet(w) => {
                let mut w = *w;
                // `finish` writes the footer and completes the upload.
                match w.finish().await {
                    Ok(_) => Ok(w.bytes_written() as u64),
                    Err(e) => {
                        abort_upload(w.into_inner()).await;
                        Err(parquet_error("finish Parquet", e))
                    }
                }
            }
            Self::Csv {
                mut out,
                header,
                bytes,
            } => {
                let mut written = bytes;
                let result = async {
                    if header {
                        // No batch came: the file still needs its header.
                        let empty = RecordBatch::new_empty(schema.clone());
                        let bytes = csv_bytes(&empty, true)?;
                        written += bytes.len() as u64;
                        out.put(bytes).await.map_err(|e| ErrorKind::store(&e))?;
                    }
                    out.shutdown().await.map_err(io_store_error)
                }
                .await;
                match result {
                    Ok(()) => Ok(written),
                    Err(e) => {
                        abort_upload(*out).await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// Abandons the file: aborts the multipart upload (nothing becomes visible).
    pub(crate) async fn abort(self) {
        abort_upload(match self {
            Self::Parquet(w) => w.into_inner(),
            Self::Csv { out, .. } => *out,
        })
        .await;
    }
}

async fn abort_upload(mut out: BufWriter) {
    if let Err(e) = out.abort().await {
        tracing::warn!(error = %ErrorKind::store(&e), "aborting a staged upload failed");
    }
}

/// The columns CSV cannot hold (lists, structs, maps, unions, binary views of nested data).
pub(crate) fn check_csv_schema(schema: &SchemaRef) -> Result<(), ErrorKind> {
    for field in schema.fields() {
        if field.data_type().is_nested() || matches!(field.data_type(), DataType::Union(..)) {
            return Err(ErrorKind::Encode(format!(
                "column '{}' of type {} cannot be written as CSV: cast it to a string or stage Parquet",
                field.name(),
                field.data_type()
            )));
        }
    }
    Ok(())
}

/// One batch as CSV text (RFC 4180 quoting, NULL as an empty cell).
pub(crate) fn csv_bytes(batch: &RecordBatch, header: bool) -> Result<Bytes, ErrorKind> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 2 + 64);
    {
        let mut w = arrow_csv::WriterBuilder::new()
            .with_header(header)
            .build(&mut buf);
        w.write(batch)
            .map_err(|e| ErrorKind::Encode(format!("write CSV: {e}")))?;
    }
    Ok(Bytes::from(buf))
}

/// A Parquet failure: the store's error when it came from the store (directly or through
/// `BufWriter`'s I/O errors), else an encoding error, redacted.
pub(crate) fn parquet_error(what: &str, e: parquet::errors::ParquetError) -> ErrorKind {
    let inner = match e {
        parquet::errors::ParquetError::External(inner) => inner,
        other => {
            return ErrorKind::Encode(format!(
                "{what}: {}",
                crate::redact_text(&other.to_string())
            ));
        }
    };
    let inner = match inner.downcast::<object_store::Error>() {
        Ok(store) => return ErrorKind::store(&store),
        Err(inner) => inner,
    };
    match inner.downcast::<std::io::Error>() {
        Ok(io) => io_store_error(*io),
        Err(other) => ErrorKind::Encode(format!(
            "{what}: {}",
            crate::redact_text(&other.to_string())
        )),
    }
}

/// An I/O error from `BufWriter`, which wraps the store's error.
pub(crate) fn io_store_error(e: std::io::Error) -> ErrorKind {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<object_store::Error>())
    {
        Some(store) => ErrorKind::store(store),
        None => ErrorKind::Store {
            kind: crate::error::StoreErrorKind::Other,
            message: crate::redact_text(&e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};

    #[test]
    fn extensions() {
        assert_eq!(
            StagingFormat::from_extension("a/b.PARQUET"),
            Some(StagingFormat::Parquet)
        );
        assert_eq!(
            StagingFormat::from_extension("x.csv"),
            Some(StagingFormat::Csv)
        );
        assert_eq!(StagingFormat::from_extension("x.json"), None);
        assert_eq!(StagingFormat::from_extension("noext"), None);
    }

    #[test]
    fn csv_quotes_and_nulls() {
        let batch = RecordBatch::try_from_iter([
            (
                "t",
                Arc::new(StringArray::from(vec![Some("a,\"b\""), None])) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![None, Some(2)])) as ArrayRef,
            ),
        ])
        .unwrap();
        let text = csv_bytes(&batch, true).unwrap();
        assert_eq!(&text[..], b"t,n\n\"a,\"\"b\"\"\",\n,2\n");
        assert_eq!(&csv_bytes(&batch, false).unwrap()[..4], b"\"a,\"");
    }

    #[test]
    fn csv_refuses_nested_columns() {
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "l",
            DataType::List(Arc::new(arrow_schema::Field::new(
                "item",
                DataType::Int64,
                true,
            ))),
            true,
        )]));
        let err = check_csv_schema(&schema).unwrap_err().to_string();
        assert!(err.contains("column 'l'"), "{err}");
    }
}
