//! How new datasets are written from SQL: where the rows are staged and how they are handed
//! to Refuel; the defaults of `COPY ... STORED AS REFUEL` and of `CREATE TABLE ... AS`, and
//! `COPY`'s `OPTIONS` read onto them.

use std::collections::HashMap;
use std::fmt;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result};
use refuel_client::RefuelClient;
use refuel_sink::{RefuelSink, SinkOptions, StagingArea};

use crate::error::external;

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
        area.map_err(external)
    }

    /// A sink writing into `client`'s project.
    pub fn sink(&self, client: RefuelClient) -> Result<RefuelSink> {
        Ok(RefuelSink::new(client, self.staging_area()?).with_options(self.sink.clone()))
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
            .map_err(external)?;
        Ok(outcome.rows.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use refuel_sink::StagingFormat;

    use super::*;

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
        assert_eq!(out.sink.format, StagingFormat::Csv);
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
