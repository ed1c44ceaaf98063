//! `refuel-sql upload <path-or-url> --dataset NAME [--wait]`: a new dataset from a local
//! file (streamed from disk), an http(s) URL (downloaded by the server), or an object-store
//! URL (`s3://`, `gs://`, `az://`: staged and handed over as a presigned URL).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use refuel_client::models::Dataset;
use refuel_client::{RefuelClient, WaitOptions, redact_url};
use url::Url;

use crate::connect::Connection;
use crate::error::ShellError;
use crate::progress::Progress;

/// Arguments of `upload`.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// A local CSV (or Parquet) file, or an http(s)://, s3://, gs:// or az:// URL.
    #[arg(value_name = "PATH_OR_URL")]
    pub source: String,
    /// The new dataset's name.
    #[arg(long, value_name = "NAME")]
    pub dataset: String,
    /// Wait until the rows are ingested (and show the progress).
    #[arg(long)]
    pub wait: bool,
}

/// Where the rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local file.
    File(PathBuf),
    /// A URL the server downloads itself.
    Http(Url),
    /// An object in a cloud store.
    ObjectStore(Url),
}

impl Source {
    /// Reads a path or URL.
    pub fn parse(raw: &str) -> Result<Self, ShellError> {
        if !raw.contains("://") {
            return Ok(Self::File(PathBuf::from(raw)));
        }
        let url = Url::parse(raw).map_err(|e| {
            ShellError::Input(format!("'{}' is not a valid URL: {e}", redact_url(raw)))
        })?;
        match url.scheme() {
            "http" | "https" => Ok(Self::Http(url)),
            "s3" | "s3a" | "gs" | "gcs" | "az" | "azure" | "abfs" | "abfss" => {
                Ok(Self::ObjectStore(url))
            }
            "file" => url
                .to_file_path()
                .map(Self::File)
                .map_err(|()| ShellError::Input(format!("'{raw}' does not name a local file"))),
            other => Err(ShellError::Input(format!(
                "cannot upload from a {other}:// URL: use a local path, or an http(s)://, s3://, \
                 gs:// or az:// URL"
            ))),
        }
    }
}

/// Runs `upload`.
pub async fn run(
    args: &UploadArgs,
    connection: &Connection,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let client = &connection.client;
    let source = Source::parse(&args.source)?;
    let what = match &source {
        Source::File(path) => format!("'{}'", path.display()),
        Source::Http(url) | Source::ObjectStore(url) => format!("'{}'", redact_url(url.as_str())),
    };
    let spinner = progress.bar(&format!("uploading {what} as '{}'", args.dataset), None);
    let created: anyhow::Result<Dataset> = match &source {
        // Uploads are CSV: the sink transcodes a Parquet file on the way.
        Source::File(path) if is_parquet(path) => {
            let location = path.to_str().ok_or_else(|| {
                ShellError::Input(format!("'{}' is not a UTF-8 path", path.display()))
            })?;
            through_sink(client, location, &args.dataset).await
        }
        Source::File(path) => Ok(client.datasets().upload_file(path, &args.dataset).await?),
        Source::Http(url) => Ok(client
            .datasets()
            .register_uri(url.as_str(), &args.dataset)
            .await?),
        Source::ObjectStore(url) => through_sink(client, url.as_str(), &args.dataset).await,
    };
    let created = match created {
        Ok(d) => d,
        Err(e) => {
            spinner.abandon();
            return Err(e);
        }
    };
    if !args.wait {
        spinner.finish(&format!(
            "dataset '{}' created; its rows are being ingested",
            created.name
        ));
        if connection.local.is_some() {
            progress.line(
                "(the local emulator stops with refuel-sql; the ingest goes on when it next starts)",
            );
        }
        println!("created dataset '{}' from {what}", created.name);
        return Ok(ExitCode::SUCCESS);
    }
    spinner.status("ingesting");
    let wait = WaitOptions {
        poll_interval: Duration::from_millis(250),
        timeout: Duration::from_secs(24 * 3600),
    };
    let done = client
        .datasets()
        .wait_for_ingest_with(&created.id, wait, |d| {
            spinner.status(&format!("ingest {}", d.ingest_status))
        })
        .await;
    let done = match done {
        Ok(d) => d,
        Err(e) => {
            spinner.abandon();
            return Err(e.into());
        }
    };
    let rows = done.total_count.unwrap_or(0);
    spinner.finish(&format!("dataset '{}' is ready", done.name));
    println!(
        "uploaded {what} as dataset '{}': {rows} rows, {} columns",
        done.name,
        done.schema.properties.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Registers `location` through refuel-sink. An object-store URL becomes a dataset through
/// a presigned URL: the sink signs the object for reading (credentials from the
/// environment, as object_store's builders read them) and registers the URL, so the server
/// downloads the object itself and its bytes never pass through this machine. A local
/// Parquet file is transcoded to CSV and uploaded. The caller waits for the ingest as for
/// any other source.
async fn through_sink(
    client: &RefuelClient,
    location: &str,
    dataset: &str,
) -> anyhow::Result<Dataset> {
    let options = refuel_sink::SinkOptions::default().no_wait();
    let outcome = refuel_sink::register_object(client, location, dataset, &options).await?;
    Ok(outcome.dataset)
}

/// Whether a file starts with Parquet's magic bytes.
fn is_parquet(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == refuel_sink::PARQUET_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("data/reviews.csv").unwrap(),
            Source::File(PathBuf::from("data/reviews.csv"))
        );
        assert!(matches!(
            Source::parse("https://example.com/a.csv?sig=secret").unwrap(),
            Source::Http(_)
        ));
        assert!(matches!(
            Source::parse("s3://bucket/key.parquet").unwrap(),
            Source::ObjectStore(_)
        ));
        assert_eq!(
            Source::parse("file:///tmp/a.csv").unwrap(),
            Source::File(PathBuf::from("/tmp/a.csv"))
        );
        let err = Source::parse("ftp://host/a.csv?sig=secret")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ftp://"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
