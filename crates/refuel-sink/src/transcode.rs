//! Reading staged objects back: Parquet decoded row group by row group and written out as
//! CSV, or any object copied as it is, into an async writer (a store upload or a local
//! spool file). Memory holds one decoded batch at a time.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::ErrorKind;
use crate::format::{PARQUET_MAGIC, StagingFormat, check_csv_schema, csv_bytes, parquet_error};

/// Rows decoded at a time when transcoding.
const BATCH_ROWS: usize = 8192;

/// An [`AsyncFileReader`] over one object of a store (range reads, footer by suffix).
#[derive(Debug, Clone)]
pub(crate) struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl ObjectReader {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, path: Path) -> Self {
        Self { store, path }
    }
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(external)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            // The size first: not every store serves suffix ranges (Azure does not).
            let size = self.store.head(&self.path).await.map_err(external)?.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// The format of an object: Parquet when it starts with Parquet's magic bytes, else CSV.
pub(crate) async fn sniff_format(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> Result<StagingFormat, ErrorKind> {
    let size = store
        .head(path)
        .await
        .map_err(|e| ErrorKind::store(&e))?
        .size;
    if size < 8 {
        return Ok(StagingFormat::Csv);
    }
    let head = store
        .get_range(path, 0..4)
        .await
        .map_err(|e| ErrorKind::store(&e))?;
    Ok(if head.as_ref() == PARQUET_MAGIC {
        StagingFormat::Parquet
    } else {
        StagingFormat::Csv
    })
}

/// Decodes the Parquet object at `path` and writes it as CSV (with a header) into `out`,
/// without closing it. Returns the rows and bytes written.
pub(crate) async fn parquet_to_csv<W: AsyncWrite + Unpin>(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    out: &mut W,
) -> Result<(u64, u64), ErrorKind> {
    let reader = ObjectReader::new(store, path.clone());
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| parquet_error("read the Parquet footer (is it a Parquet file?)", e))?
        .with_batch_size(BATCH_ROWS);
    let schema = builder.schema().clone();
    check_csv_schema(&schema)?;
    let mut stream = builder
        .build()
        .map_err(|e| parquet_error("read Parquet", e))?;
    let (mut rows, mut bytes, mut header) = (0u64, 0u64, true);
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| parquet_error("decode Parquet", e))?
    {
        let text = csv_bytes(&batch, header)?;
        header = false;
        rows += batch.num_rows() as u64;
        bytes += text.len() as u64;
        out.write_all(&text).await.map_err(write_error)?;
    }
    if header {
        let text = csv_bytes(&arrow_array::RecordBatch::new_empty(schema), true)?;
        bytes += text.len() as u64;
        out.write_all(&text).await.map_err(write_error)?;
    }
    Ok((rows, bytes))
}

/// Copies the object at `path` into `out` as it is, without closing it. Returns the bytes.
pub(crate) async fn copy_object<W: AsyncWrite + Unpin>(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    out: &mut W,
) -> Result<u64, ErrorKind> {
    let mut stream = store
        .get(path)
        .await
        .map_err(|e| ErrorKind::store(&e))?
        .into_stream();
    let mut bytes = 0;
    while let Some(chunk) = stream.try_next().await.map_err(|e| ErrorKind::store(&e))? {
        bytes += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(write_error)?;
    }
    Ok(bytes)
}

fn write_error(e: std::io::Error) -> ErrorKind {
    crate::format::io_store_error(e)
}
