//! Where an object lives: parsing `s3://`, `gs://`, `az://`/`abfs(s)://`, `http(s)://`,
//! `file://`, `memory://` URLs and plain paths, and building the object store (with its
//! signer) for the cloud schemes, credentials from the environment plus explicit options.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreScheme};
use url::Url;

use crate::error::{ErrorKind, redact_text};

/// The cloud stores whose objects are handed to Refuel as presigned URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Amazon S3 and S3-compatible stores (`s3://bucket/key`).
    S3,
    /// Google Cloud Storage (`gs://bucket/key`).
    Gcs,
    /// Azure Blob Storage (`az://container/key`, `abfs[s]://container@account.dfs.core.windows.net/key`).
    Azure,
}

impl Cloud {
    /// How the store is named in messages.
    pub fn describe(&self, bucket: &str) -> String {
        match self {
            Self::S3 => format!("s3 bucket '{bucket}'"),
            Self::Gcs => format!("gcs bucket '{bucket}'"),
            Self::Azure => format!("azure container '{bucket}'"),
        }
    }
}

/// A parsed location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An object (or prefix) in a cloud store.
    Cloud {
        /// Which store.
        cloud: Cloud,
        /// The URL as given, without query string or user info.
        url: Url,
        /// The bucket or container.
        bucket: String,
        /// The object's path (or the prefix) in the bucket.
        path: Path,
    },
    /// A URL the server can download as it is.
    Http(Url),
    /// A file (or directory) on the local file system.
    Local(PathBuf),
    /// An object (or prefix) in a new in-memory store.
    Memory(Path),
}

impl Location {
    /// Parses a URL or a plain local path. Query strings of cloud URLs are refused (options
    /// go through `store_options`), so that no credential hides in a location.
    pub fn parse(raw: &str) -> Result<Self, ErrorKind> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ErrorKind::InvalidLocation("the location is empty".into()));
        }
        let url = match Url::parse(raw) {
            Ok(url) if url.scheme().len() > 1 => url,
            // No scheme, or a Windows drive letter: a local path.
            _ => return Ok(Self::Local(PathBuf::from(raw))),
        };
        match url.scheme() {
            "http" | "https" => return Ok(Self::Http(url)),
            "file" => {
                let path = url.to_file_path().map_err(|()| {
                    ErrorKind::InvalidLocation(format!("'{raw}' is not a local file URL"))
                })?;
                return Ok(Self::Local(path));
            }
            _ => {}
        }
        // abfs[s]:// URLs name the container as the user: `container@account...`.
        let user_is_container = matches!(url.scheme(), "abfs" | "abfss");
        if url.query().is_some()
            || url.password().is_some()
            || (!url.username().is_empty() && !user_is_container)
        {
            return Err(ErrorKind::InvalidLocation(format!(
                "'{}' carries a query string or credentials: pass store options instead",
                redact_text(&redact_cloud(&url))
            )));
        }
        if !matches!(
            url.scheme(),
            "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "memory"
        ) {
            return Err(unknown_scheme(&url));
        }
        let (scheme, path) = ObjectStoreScheme::parse(&url).map_err(|e| {
            ErrorKind::InvalidLocation(format!("'{raw}': {}", redact_text(&e.to_string())))
        })?;
        let cloud = match scheme {
            ObjectStoreScheme::Memory => return Ok(Self::Memory(path)),
            ObjectStoreScheme::AmazonS3 => Cloud::S3,
            ObjectStoreScheme::GoogleCloudStorage => Cloud::Gcs,
            ObjectStoreScheme::MicrosoftAzure => Cloud::Azure,
            _ => return Err(unknown_scheme(&url)),
        };
        let bucket = match (cloud, url.scheme()) {
            // abfs[s]://container@account.dfs.core.windows.net/path
            (Cloud::Azure, "abfs" | "abfss") if !url.username().is_empty() => {
                url.username().to_string()
            }
            _ => url.host_str().unwrap_or_default().to_string(),
        };
        if bucket.is_empty() {
            return Err(ErrorKind::InvalidLocation(format!(
                "'{raw}' names no bucket or container"
            )));
        }
        Ok(Self::Cloud {
            cloud,
            url,
            bucket,
            path,
        })
    }
}

fn unknown_scheme(url: &Url) -> ErrorKind {
    ErrorKind::InvalidLocation(format!(
        "unknown store scheme '{}' in '{}': use s3://, gs://, az://, abfs://, abfss://, http(s)://, file:// or a local path",
        url.scheme(),
        redact_text(&redact_cloud(url)).trim_end_matches('/')
    ))
}

fn redact_cloud(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

/// A cloud store built from a URL: the store, its signer, and how to name it.
pub(crate) struct CloudStore {
    pub store: Arc<dyn ObjectStore>,
    pub signer: Arc<dyn Signer>,
    /// `s3://bucket`, used to print object locations.
    pub root: String,
    /// `s3 bucket 'b'`.
    pub name: String,
}

/// Builds the store of a cloud URL: credentials and settings from the environment (as the
/// builders' `from_env`), then the URL, then `options` (keys as object_store spells them,
/// e.g. `aws_endpoint`, `aws_allow_http`, `google_service_account_key`,
/// `azure_storage_use_emulator`).
pub(crate) fn build_cloud(
    cloud: Cloud,
    url: &Url,
    bucket: &str,
    options: &[(String, String)],
) -> Result<CloudStore, ErrorKind> {
    let base = format!("{}://{}", url.scheme(), url.authority());
    let bad_key = |k: &str| {
        ErrorKind::InvalidLocation(format!(
            "unknown {} option '{k}'",
            match cloud {
                Cloud::S3 => "s3",
                Cloud::Gcs => "gcs",
                Cloud::Azure => "azure",
            }
        ))
    };
    let built = |e: object_store::Error| ErrorKind::store(&e);
    let missing = |hint: &'static str| ErrorKind::NoCredentials {
        store: cloud.describe(bucket),
        hint,
    };
    let (store, signer): (Arc<dyn ObjectStore>, Arc<dyn Signer>) = match cloud {
        Cloud::S3 => {
            let mut b = AmazonS3Builder::from_env().with_url(base.clone());
            for (k, v) in options {
                let key: AmazonS3ConfigKey = k.parse().map_err(|_| bad_key(k))?;
                b = b.with_config(key, v);
            }
            if !s3_has_credentials(&b) {
                return Err(missing(S3_CREDENTIALS));
            }
            let s = Arc::new(b.build().map_err(built)?);
            (s.clone(), s)
        }
        Cloud::Gcs => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(base.clone());
            for (k, v) in options {
                let key: GoogleConfigKey = k.parse().map_err(|_| bad_key(k))?;
                b = b.with_config(key, v);
            }
            if !gcs_has_credentials(&b) {
                return Err(missing(GCS_CREDENTIALS));
            }
            let s = Arc::new(b.build().map_err(built)?);
            (s.clone(), s)
        }
        Cloud::Azure => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(base.clone());
            for (k, v) in options {
                let key: AzureConfigKey = k.parse().map_err(|_| bad_key(k))?;
                b = b.with_config(key, v);
            }
            if !azure_has_credentials(&b) {
                return Err(missing(AZURE_CREDENTIALS));
            }
            let s = Arc::new(b.build().map_err(built)?);
            (s.clone(), s)
        }
    };
    Ok(CloudStore {
        store,
        signer,
        root: base,
        name: cloud.describe(bucket),
    })
}

// Without any credential source the stores' builders fall back to a cloud's instance
// metadata service, which off that cloud means a minute of retries and then an error that
// names neither the store nor a variable. So a store is built only when some credential
// source is configured; on a cloud VM, naming the metadata endpoint opts into it.

const S3_CREDENTIALS: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the options \
     access_key_id and secret_access_key); AWS_SKIP_SIGNATURE=true for a public bucket, \
     AWS_METADATA_ENDPOINT for an instance role";
const GCS_CREDENTIALS: &str = "set GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_SERVICE_ACCOUNT to a \
     service account file (or the option service_account_path); GOOGLE_SKIP_SIGNATURE=true for \
     a public bucket";
const AZURE_CREDENTIALS: &str = "set AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN (or \
     the options account_key, sas_token, or use_emulator for Azurite); AZURE_SKIP_SIGNATURE=true \
     for a public container, AZURE_MSI_ENDPOINT for a managed identity";

fn set(value: Option<String>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

fn truthy(value: Option<String>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn s3_has_credentials(b: &AmazonS3Builder) -> bool {
    use AmazonS3ConfigKey as K;
    let get = |k: K| b.get_config_value(&k);
    [
        K::AccessKeyId,
        K::WebIdentityTokenFile,
        K::ContainerCredentialsRelativeUri,
        K::ContainerCredentialsFullUri,
        K::MetadataEndpoint,
    ]
    .into_iter()
    .any(|k| set(get(k)))
        || truthy(get(K::SkipSignature))
}

fn gcs_has_credentials(b: &GoogleCloudStorageBuilder) -> bool {
    use GoogleConfigKey as K;
    let get = |k: K| b.get_config_value(&k);
    [K::ServiceAccount, K::ServiceAccountKey, K::ApplicationCredentials]
        .into_iter()
        .any(|k| set(get(k)))
        || truthy(get(K::SkipSignature))
        // gcloud's application default credentials.
        || std::env::var_os("HOME").is_some_and(|home| {
            PathBuf::from(home)
                .join(".config/gcloud/application_default_credentials.json")
                .is_file()
        })
}

fn azure_has_credentials(b: &MicrosoftAzureBuilder) -> bool {
    use AzureConfigKey as K;
    let get = |k: K| b.get_config_value(&k);
    [
        K::AccessKey,
        K::SasKey,
        K::Token,
        K::ClientSecret,
        K::FederatedTokenFile,
        K::MsiEndpoint,
        K::ObjectId,
        K::MsiResourceId,
        K::FabricSessionToken,
    ]
    .into_iter()
    .any(|k| set(get(k)))
        || [K::UseEmulator, K::UseAzureCli, K::SkipSignature]
            .into_iter()
            .any(|k| truthy(get(k)))
}

/// The object store holding the objects of `url` (`s3://`, `gs://`, `az://`, `abfs[s]://`,
/// `http(s)://`, `file://` or a local path), for reading and writing tables: cloud stores
/// are built as staging areas are (credentials from the environment, then `options`, keys
/// as object_store spells them, e.g. `aws_region`, `aws_endpoint`, `use_emulator`), rooted
/// at the bucket; an `http(s)` store at the host; the local file system at `/`. A cloud
/// store with no credential source configured is an [`ErrorKind::NoCredentials`] naming the
/// store and the variables to set.
pub fn object_store_for(
    url: &str,
    options: &[(String, String)],
) -> Result<Arc<dyn ObjectStore>, ErrorKind> {
    match Location::parse(url)? {
        Location::Cloud {
            cloud, url, bucket, ..
        } => Ok(build_cloud(cloud, &url, &bucket, options)?.store),
        Location::Http(url) => {
            if let Some((key, _)) = options.first() {
                return Err(ErrorKind::InvalidOption(format!(
                    "http(s) locations take no store options ('{key}')"
                )));
            }
            let base = format!("{}://{}", url.scheme(), url.authority());
            let store = object_store::http::HttpBuilder::new()
                .with_url(base)
                .build()
                .map_err(|e| ErrorKind::store(&e))?;
            Ok(Arc::new(store))
        }
        Location::Local(_) => Ok(Arc::new(object_store::local::LocalFileSystem::new())),
        Location::Memory(_) => Err(ErrorKind::InvalidLocation(
            "a memory:// URL names a new, empty store: register an in-memory store instead".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        let Location::Cloud {
            cloud,
            bucket,
            path,
            ..
        } = Location::parse("s3://exports/runs/day=1/part.parquet").unwrap()
        else {
            panic!("not cloud")
        };
        assert_eq!(
            (cloud, bucket.as_str(), path.as_ref()),
            (Cloud::S3, "exports", "runs/day=1/part.parquet")
        );
        assert!(matches!(
            Location::parse("gs://b/k.csv").unwrap(),
            Location::Cloud {
                cloud: Cloud::Gcs,
                ..
            }
        ));
        assert!(matches!(
            Location::parse("az://c/k.csv").unwrap(),
            Location::Cloud { cloud: Cloud::Azure, ref bucket, .. } if bucket == "c"
        ));
        assert!(matches!(
            Location::parse("abfss://c@acct.dfs.core.windows.net/k.csv").unwrap(),
            Location::Cloud { cloud: Cloud::Azure, ref bucket, ref path, .. } if bucket == "c" && path.as_ref() == "k.csv"
        ));
        assert!(matches!(
            Location::parse("https://example.com/x.csv?sig=1").unwrap(),
            Location::Http(_)
        ));
        assert_eq!(
            Location::parse("file:///tmp/x.csv").unwrap(),
            Location::Local("/tmp/x.csv".into())
        );
        assert_eq!(
            Location::parse("data/x.csv").unwrap(),
            Location::Local("data/x.csv".into())
        );
        assert!(matches!(
            Location::parse("memory:///stage").unwrap(),
            Location::Memory(p) if p.as_ref() == "stage"
        ));
    }

    #[test]
    fn refuses_bad_locations() {
        for bad in [
            "",
            "ftp://host/x.csv",
            "s3:///key-without-bucket",
            "s3://b/k?X-Amz-Signature=secret",
        ] {
            let err = Location::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
            assert!(err.starts_with("invalid location"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_options_are_named() {
        let url = Url::parse("s3://b/p").unwrap();
        let err = build_cloud(Cloud::S3, &url, "b", &[("aws_nonsense".into(), "1".into())])
            .err()
            .unwrap();
        assert!(err.to_string().contains("unknown s3 option 'aws_nonsense'"));
    }

    #[test]
    fn explicit_credentials_and_public_buckets_are_credentials() {
        let url = Url::parse("s3://b/p").unwrap();
        let with = |options: &[(&str, &str)]| {
            let options: Vec<(String, String)> = options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            build_cloud(Cloud::S3, &url, "b", &options).map(|_| ())
        };
        with(&[("aws_access_key_id", "k"), ("aws_secret_access_key", "s")]).unwrap();
        with(&[("aws_skip_signature", "true")]).unwrap();
        let azure = Url::parse("az://c/p").unwrap();
        let options = [("use_emulator".to_string(), "true".to_string())];
        build_cloud(Cloud::Azure, &azure, "c", &options).unwrap();
    }
}
