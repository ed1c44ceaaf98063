//! Where staged files go, and how the server gets them: a presigned URL when the store can
//! sign one, else an upload through the API.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Cleanup, ErrorKind, Result, SinkError, Step};
use crate::format::StagingFormat;
use crate::location::{CloudStore, Location, build_cloud};

/// How the server gets a staged object.
#[derive(Clone)]
pub enum Handoff {
    /// A presigned `GET` URL, registered as `source=uri`: the server downloads the object
    /// straight from the store, and the bytes never pass through this process again.
    Presign(Arc<dyn Signer>),
    /// The store cannot presign (local file system, in-memory): the staged object is
    /// uploaded through the API (`source=file`, multipart, streamed). The upload endpoint
    /// takes CSV, so a Parquet object is transcoded to CSV on the way, into a local spool
    /// file. `local` is the store when it is a local directory, so that a staged CSV
    /// file is uploaded from where it lies, without a copy.
    Upload {
        /// The store, when it is a local directory.
        local: Option<Arc<LocalFileSystem>>,
    },
}

impl fmt::Debug for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Presign(_) => f.write_str("Presign"),
            Self::Upload { local } => f
                .debug_struct("Upload")
                .field("local", &local.is_some())
                .finish(),
        }
    }
}

/// A place in an object store where the sink writes its files, and how the server gets
/// them from there. Cheap to clone.
#[derive(Clone)]
pub struct StagingArea {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    root: String,
    name: String,
    handoff: Handoff,
}

impl fmt::Debug for StagingArea {
    // The store's own `Debug` may show credentials: only the location is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagingArea")
            .field("location", &self.display(&self.prefix))
            .field("store", &self.name)
            .field("handoff", &self.handoff)
            .finish()
    }
}

impl StagingArea {
    /// A staging area from a URL: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix` (or `abfs[s]://container@account.dfs.core.windows.net/prefix`)
    /// are presigned, credentials read from the environment as the object_store builders'
    /// `from_env` do (e.g. `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`,
    /// `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`), then overridden by
    /// `options` (object_store's configuration keys, e.g. `("aws_endpoint", "http://..")`).
    /// `file:///dir`, a plain directory path, and `memory:///prefix` stage without a
    /// signer: see [`Handoff::Upload`].
    pub fn from_url<I, K, V>(url: &str, options: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_location(url, &options)
    }

    pub(crate) fn from_location(url: &str, options: &[(String, String)]) -> Result<Self> {
        let fail = |kind| SinkError::new(Step::Stage, url_for_errors(url), "staging area", kind);
        match Location::parse(url).map_err(fail)? {
            Location::Cloud {
                cloud,
                url: parsed,
                bucket,
                path,
            } => {
                let built = build_cloud(cloud, &parsed, &bucket, options).map_err(|kind| {
                    SinkError::new(Step::Stage, url_for_errors(url), cloud.describe(&bucket), kind)
                })?;
                Ok(Self::presigned_parts(built).with_prefix(path))
            }
            Location::Local(dir) => Self::local(dir),
            Location::Memory(prefix) => Ok(Self::in_memory().with_prefix(prefix)),
            Location::Http(_) => Err(fail(ErrorKind::InvalidLocation(
                "an http(s) URL cannot be a staging area: use s3://, gs://, az://, file:// or a directory"
                    .into(),
            ))),
        }
    }

    pub(crate) fn presigned_parts(built: CloudStore) -> Self {
        Self {
            store: built.store,
            prefix: Path::default(),
            root: built.root,
            name: built.name,
            handoff: Handoff::Presign(built.signer),
        }
    }

    /// A staging area in a store that presigns URLs (`AmazonS3`, `GoogleCloudStorage`,
    /// `MicrosoftAzure`, or any store with a [`Signer`]). `root` names the store in messages,
    /// e.g. `s3://my-bucket`.
    pub fn presigned<S>(store: Arc<S>, root: impl Into<String>) -> Self
    where
        S: ObjectStore + Signer,
    {
        let root = root.into();
        Self {
            store: store.clone(),
            prefix: Path::default(),
            name: root.clone(),
            root,
            handoff: Handoff::Presign(store),
        }
    }

    /// A staging area in any store; the server gets the files by upload (see
    /// [`Handoff::Upload`]). `root` names the store in messages.
    pub fn uploaded(store: Arc<dyn ObjectStore>, root: impl Into<String>) -> Self {
        let root = root.into();
        Self {
            store,
            prefix: Path::default(),
            name: root.clone(),
            root,
            handoff: Handoff::Upload { local: None },
        }
    }

    /// A staging area in a local directory (created if missing); files are uploaded.
    pub fn local(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let shown = dir.display().to_string();
        let fail = |kind| SinkError::new(Step::Stage, shown.clone(), "local file system", kind);
        std::fs::create_dir_all(&dir)
            .map_err(|e| fail(ErrorKind::Io(format!("create the directory: {e}"))))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| fail(ErrorKind::Io(format!("resolve the directory: {e}"))))?;
        let store = Arc::new(
            LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| fail(ErrorKind::store(&e)))?
                .with_automatic_cleanup(true),
        );
        Ok(Self {
            store: store.clone(),
            prefix: Path::default(),
            root: format!("file://{}", dir.display()),
            name: "local file system".into(),
            handoff: Handoff::Upload { local: Some(store) },
        })
    }

    /// A staging area in a new in-memory store; files are uploaded. For tests and small jobs.
    pub fn in_memory() -> Self {
        Self::uploaded(Arc::new(InMemory::new()), "memory://")
    }

    /// The same area, under `prefix` (appended to the current prefix).
    pub fn with_prefix(mut self, prefix: impl Into<Path>) -> Self {
        let prefix: Path = prefix.into();
        self.prefix = self.prefix.parts().chain(prefix.parts()).collect();
        self
    }

    /// The same area with another hand-off (e.g. a custom [`Signer`]).
    pub fn with_handoff(mut self, handoff: Handoff) -> Self {
        self.handoff = handoff;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix staged objects are written under.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// How the server gets staged objects.
    pub fn handoff(&self) -> &Handoff {
        &self.handoff
    }

    /// How the store is named in messages, e.g. `s3 bucket 'exports'`.
    pub fn store_name(&self) -> &str {
        &self.name
    }

    /// A printable location of `path` in this store, e.g. `s3://exports/stage/x.parquet`.
    pub fn display(&self, path: &Path) -> String {
        if path.as_ref().is_empty() {
            self.root.clone()
        } else {
            format!("{}/{path}", self.root_for_paths())
        }
    }

    /// The path of a printable location (as [`StagingArea::display`] makes) in this store.
    pub fn path_of(&self, location: &str) -> Option<Path> {
        let rest = location
            .strip_prefix(self.root_for_paths())?
            .strip_prefix('/')?;
        Path::parse(rest).ok().filter(|p| !p.as_ref().is_empty())
    }

    fn root_for_paths(&self) -> &str {
        if self.root.ends_with("://") {
            &self.root
        } else {
            self.root.trim_end_matches('/')
        }
    }

    /// A new, unique object for a dataset, in `format`.
    pub(crate) fn new_object(&self, dataset: &str, format: StagingFormat) -> StagedObject {
        let stem: String = dataset
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let file = format!(
            "{stem}-{}.{}",
            uuid::Uuid::new_v4().simple(),
            format.extension()
        );
        self.object_at(self.prefix.clone().join(file.as_str()), format)
    }

    /// The object at `path`.
    pub(crate) fn object_at(&self, path: Path, format: StagingFormat) -> StagedObject {
        StagedObject {
            display: self.display(&path),
            path,
            format,
        }
    }

    /// The local file of `object`, when the store maps to a directory.
    pub(crate) fn local_file(&self, object: &StagedObject) -> Option<PathBuf> {
        match &self.handoff {
            Handoff::Upload { local: Some(store) } => store.path_to_filesystem(&object.path).ok(),
            _ => None,
        }
    }

    /// Removes staged objects (missing ones count as removed) and says what became of them.
    pub(crate) async fn remove(&self, objects: &[StagedObject]) -> Cleanup {
        if objects.is_empty() {
            return Cleanup::NothingStaged;
        }
        let names: Vec<String> = objects.iter().map(|o| o.display.clone()).collect();
        let mut failures = Vec::new();
        for object in objects {
            match self.store.delete(&object.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => failures.push(ErrorKind::store(&e).to_string()),
            }
        }
        if failures.is_empty() {
            Cleanup::Removed(names)
        } else {
            tracing::warn!(objects = ?names, "staged objects could not be removed");
            Cleanup::RemoveFailed {
                objects: names,
                message: failures.join("; "),
            }
        }
    }
}

/// A printable form of a location for errors: URL query strings and user info removed.
pub(crate) fn url_for_errors(raw: &str) -> String {
    if raw.contains("://") {
        refuel_client::redact_url(raw)
    } else {
        raw.to_string()
    }
}

/// An object the sink wrote (or reads) in a staging area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedObject {
    /// Its path in the store.
    pub path: Path,
    /// Its printable location, e.g. `s3://exports/stage/x.parquet`.
    pub display: String,
    /// Its format.
    pub format: StagingFormat,
}
