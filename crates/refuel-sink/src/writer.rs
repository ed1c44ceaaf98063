//! Writing Arrow batches into Refuel: [`RefuelSink`] opens a [`DatasetWriter`] that stages
//! one file (multipart, bounded memory), and on `finish` hands it to the server.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::{Stream, StreamExt};
use refuel_client::RefuelClient;

use crate::error::{Cleanup, ErrorKind, Result, SinkError, Step};
use crate::format::Encoder;
use crate::handoff::{SinkOutcome, ToHandOff, ensure_new_dataset, hand_off};
use crate::options::{Progress, SinkOptions};
use crate::register::{hand_off_existing, register_location};
use crate::staging::{StagedObject, StagingArea};

/// Writes datasets into Refuel through a staging area. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RefuelSink {
    client: RefuelClient,
    staging: StagingArea,
    options: SinkOptions,
}

impl RefuelSink {
    /// A sink that stages in `staging` and creates datasets in `client`'s project.
    pub fn new(client: RefuelClient, staging: StagingArea) -> Self {
        Self {
            client,
            staging,
            options: SinkOptions::default(),
        }
    }

    /// The same sink with these options.
    pub fn with_options(mut self, options: SinkOptions) -> Self {
        self.options = options;
        self
    }

    /// The options.
    pub fn options(&self) -> &SinkOptions {
        &self.options
    }

    /// The staging area.
    pub fn staging(&self) -> &StagingArea {
        &self.staging
    }

    /// The client.
    pub fn client(&self) -> &RefuelClient {
        &self.client
    }

    /// Opens a writer for a new dataset `dataset` with `schema`. Fails at once, before
    /// anything is staged, when the project already has a dataset of that name.
    pub async fn writer(&self, dataset: &str, schema: SchemaRef) -> Result<DatasetWriter> {
        let object = self.staging.new_object(dataset, self.options.format);
        ensure_new_dataset(&self.client, dataset, &object.display).await?;
        let encoder = Encoder::open(
            self.options.format,
            self.staging.store().clone(),
            object.path.clone(),
            schema.clone(),
            &self.options.upload_settings(),
        )
        .map_err(|kind| {
            SinkError::new(
                Step::Stage,
                object.display.clone(),
                self.staging.store_name(),
                kind,
            )
        })?;
        Ok(DatasetWriter {
            sink: self.clone(),
            dataset: dataset.to_string(),
            schema,
            object,
            encoder: Some(encoder),
            rows: 0,
        })
    }

    /// Writes a stream of batches as the new dataset `dataset`, then hands it to the server
    /// (and waits, as the options say). On any failure, including one of the stream, the
    /// staged upload is aborted and the error says so.
    pub async fn write_stream<S, E>(
        &self,
        dataset: &str,
        schema: SchemaRef,
        stream: S,
    ) -> Result<SinkOutcome>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>> + Send,
        E: std::fmt::Display,
    {
        let mut writer = self.writer(dataset, schema).await?;
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(batch) => writer.write(&batch).await?,
                Err(e) => {
                    let kind = ErrorKind::Input(crate::redact_text(&e.to_string()));
                    return Err(writer.fail(kind).await);
                }
            }
        }
        writer.finish().await
    }

    /// Registers an existing object or file as the new dataset `dataset` (see
    /// [`crate::register_object`]); options and store options are this sink's. A location
    /// in this sink's staging area (such as an object kept by an earlier call) is read
    /// through the staging area's own store and hand-off.
    pub async fn register_object(&self, location: &str, dataset: &str) -> Result<SinkOutcome> {
        match self.staging.path_of(location) {
            Some(path) => {
                let shown = self.staging.display(&path);
                ensure_new_dataset(&self.client, dataset, &shown).await?;
                hand_off_existing(&self.client, &self.staging, path, dataset, &self.options).await
            }
            None => register_location(&self.client, location, dataset, &self.options).await,
        }
    }
}

/// A dataset being written: batches go into one staged file; `finish` hands it to the
/// server. Dropping it without `finish` or `abort` aborts the upload in the background.
#[derive(Debug)]
pub struct DatasetWriter {
    sink: RefuelSink,
    dataset: String,
    schema: SchemaRef,
    object: StagedObject,
    encoder: Option<Encoder>,
    rows: u64,
}

impl DatasetWriter {
    /// The schema batches must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows written so far.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// The staged object, e.g. `s3://bucket/stage/name-<id>.parquet`.
    pub fn object(&self) -> &str {
        &self.object.display
    }

    /// Writes one batch. Its columns must match the schema by name and type (nullability
    /// may differ). On failure the staged upload is aborted and the writer is closed.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if let Err(kind) = self.check_schema(batch) {
            return Err(self.fail(kind).await);
        }
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(self.error(ErrorKind::Closed));
        };
        if let Err(kind) = encoder.write(batch).await {
            return Err(self.fail(kind).await);
        }
        self.rows += batch.num_rows() as u64;
        let bytes = self.encoder.as_ref().map_or(0, Encoder::bytes_written);
        self.sink.options.report(Progress::Staged {
            object: self.object.display.clone(),
            rows: self.rows,
            bytes,
        });
        Ok(())
    }

    /// Completes the staged file and hands it to the server as the new dataset.
    pub async fn finish(mut self) -> Result<SinkOutcome> {
        let Some(encoder) = self.encoder.take() else {
            return Err(self.error(ErrorKind::Closed));
        };
        let bytes = match encoder.finish(&self.schema).await {
            Ok(bytes) => bytes,
            Err(kind) => {
                // The upload was aborted: nothing became visible.
                return Err(self
                    .error(kind)
                    .with_cleanup(Cleanup::Removed(vec![self.object.display.clone()])));
            }
        };
        self.sink.options.report(Progress::Staged {
            object: self.object.display.clone(),
            rows: self.rows,
            bytes,
        });
        let sink = &self.sink;
        hand_off(
            &sink.client,
            ToHandOff {
                area: &sink.staging,
                object: self.object.clone(),
                staged_here: true,
                rows_written: Some(self.rows),
                bytes: Some(bytes),
            },
            &self.dataset,
            &sink.options,
        )
        .await
    }

    /// Abandons the dataset: the staged upload is aborted, nothing is registered.
    pub async fn abort(mut self) -> Cleanup {
        match self.encoder.take() {
            Some(encoder) => {
                encoder.abort().await;
                Cleanup::Removed(vec![self.object.display.clone()])
            }
            None => Cleanup::NothingStaged,
        }
    }

    fn check_schema(&self, batch: &RecordBatch) -> std::result::Result<(), ErrorKind> {
        let want = self.schema.fields();
        let got = batch.schema_ref().fields().clone();
        let same = want.len() == got.len()
            && want
                .iter()
                .zip(got.iter())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if same {
            Ok(())
        } else {
            let show = |f: &arrow_schema::Fields| {
                f.iter()
                    .map(|f| format!("{}: {}", f.name(), f.data_type()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(ErrorKind::Schema(format!(
                "expected ({}), got ({})",
                show(want),
                show(&got)
            )))
        }
    }

    fn error(&self, kind: ErrorKind) -> SinkError {
        SinkError::new(
            Step::Stage,
            self.object.display.clone(),
            self.sink.staging.store_name(),
            kind,
        )
    }

    /// Aborts the upload and returns the error, saying so.
    async fn fail(&mut self, kind: ErrorKind) -> SinkError {
        let cleanup = match self.encoder.take() {
            Some(encoder) => {
                encoder.abort().await;
                Cleanup::Removed(vec![self.object.display.clone()])
            }
            None => Cleanup::NothingStaged,
        };
        self.error(kind).with_cleanup(cleanup)
    }
}

impl Drop for DatasetWriter {
    fn drop(&mut self) {
        let Some(encoder) = self.encoder.take() else {
            return;
        };
        tracing::warn!(object = %self.object.display, "a dataset writer was dropped unfinished; aborting its upload");
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(encoder.abort());
            }
            Err(_) => tracing::warn!(
                object = %self.object.display,
                "no runtime to abort the upload on: an incomplete multipart upload may remain"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The futures a DataFusion `DataSink` awaits must be `Send`.
    #[allow(dead_code)]
    fn futures_are_send(
        sink: RefuelSink,
        schema: SchemaRef,
        stream: futures::stream::BoxStream<
            'static,
            std::result::Result<RecordBatch, std::io::Error>,
        >,
        mut writer: DatasetWriter,
        batch: RecordBatch,
    ) {
        fn send<T: Send>(_: T) {}
        send(sink.write_stream("x", schema.clone(), stream));
        send(sink.writer("x", schema));
        send(async move {
            let _ = writer.write(&batch).await;
            let _ = writer.finish().await;
        });
        send(sink.register_object("s3://b/k", "x"));
    }
}
