//! Lake data beside Refuel tables, as datafusion-cli has it: object stores built on demand
//! for `s3://`, `gs://`, `az://`/`abfs[s]://` and `http(s)://` locations, store options in
//! `CREATE EXTERNAL TABLE ... OPTIONS (...)` and `COPY ... TO ... OPTIONS (...)`, and URL
//! tables (`SELECT * FROM 's3://bucket/prefix/*.parquet'`, local files and globs too).
//!
//! Stores are built by `refuel_sink::object_store_for`, the code the sink stages with, so a
//! location reads with the same credentials rules everywhere: the object_store builders'
//! environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`), then options. Options name their
//! cloud: `aws.<key>` for `s3://`, `gcp.<key>` for `gs://`, `azure.<key>` for `az://` and
//! `abfs[s]://`, where `<key>` is an object_store configuration key with or without its
//! prefix (`aws.region`, `aws.endpoint`, `aws.access_key_id`, `aws.allow_http`,
//! `gcp.service_account_path`, `azure.account_name`, `azure.use_emulator`, ...).
//!
//! Stores are registered per bucket (DataFusion keys its registry by scheme and host):
//! options given for one table of a bucket serve every later table and `COPY` of that
//! bucket in the session. A cloud store without any credential source is an error naming
//! the store and the variables to set, not a minute of instance-metadata retries.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{DynamicFileCatalog, Session, TableProviderFactory, UrlTableFactory};
use datafusion::common::config::ConfigOptions;
use datafusion::datasource::TableProvider;
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::datasource::listing::{
    ListingTable, ListingTableConfig, ListingTableConfigExt, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{CreateExternalTable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;
use glob::Pattern;
use object_store::ObjectStore;
use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::external;

/// The analyzer rule's name, also how [`enable_lake`] knows it ran.
const COPY_RULE: &str = "refuel_lake_copy_store_options";

/// A location's store could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct LakeError {
    /// The location, without query string or credentials.
    pub location: String,
    /// What went wrong.
    pub kind: refuel_sink::ErrorKind,
}

/// Gives `ctx` lake data: object stores built on demand (and with the store options of
/// `CREATE EXTERNAL TABLE` and `COPY`), and URL tables for quoted paths and URLs that are
/// no table of the catalogs (those resolve first). Calling it again changes nothing.
///
/// It replaces the session's object store registry by one that wraps it (stores
/// registered before stay), wraps every file format's table factory (all but `REFUEL`),
/// and adds an analyzer rule that takes `COPY`'s store options out of the plan.
pub fn enable_lake(ctx: &SessionContext) -> Result<()> {
    let state_ref = ctx.state_ref();
    let mut state = state_ref.write();
    if state.analyzer().rules.iter().any(|r| r.name() == COPY_RULE) {
        return Ok(());
    }
    let runtime = state.runtime_env();
    let stores = Arc::new(LakeStores::new(Arc::clone(&runtime.object_store_registry)));
    let runtime = RuntimeEnvBuilder::from_runtime_env(runtime)
        .with_object_store_registry(Arc::clone(&stores) as Arc<dyn ObjectStoreRegistry>)
        .build_arc()?;
    let factories: Vec<(String, Arc<dyn TableProviderFactory>)> = state
        .table_factories()
        .iter()
        .filter(|(name, _)| name.as_str() != "REFUEL")
        .map(|(name, inner)| {
            let wrapped = Arc::new(WithStoreOptions {
                inner: Arc::clone(inner),
                stores: Arc::clone(&stores),
            });
            (name.clone(), wrapped as Arc<dyn TableProviderFactory>)
        })
        .collect();
    state.table_factories_mut().extend(factories);
    let url_tables = Arc::new(LakeUrlTables {
        inner: DynamicListTableFactory::default(),
        stores: Arc::clone(&stores),
    });
    let catalogs = Arc::new(DynamicFileCatalog::new(
        Arc::clone(state.catalog_list()),
        Arc::clone(&url_tables) as Arc<dyn UrlTableFactory>,
    ));
    *state = SessionStateBuilder::new_from_existing(state.clone())
        .with_runtime_env(runtime)
        .with_catalog_list(catalogs)
        .with_analyzer_rule(Arc::new(CopyStoreOptions { stores }))
        .build();
    drop(state);
    url_tables
        .inner
        .session_store()
        .with_state(ctx.state_weak_ref());
    Ok(())
}

/// Whether a table name is a path or URL rather than a name: it has a scheme, a slash,
/// or a file extension DataFusion reads. Such names are tried as files when no catalog has
/// them, and the Refuel catalog does not ask the API for them again.
pub fn looks_like_location(name: &str) -> bool {
    if name.contains("://") || name.contains('/') || name.contains('\\') {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    let lower = [".gz", ".bz2", ".xz", ".zst"]
        .iter()
        .find_map(|c| lower.strip_suffix(c))
        .unwrap_or(&lower);
    [
        ".parquet", ".csv", ".tsv", ".json", ".ndjson", ".arrow", ".avro",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// Schemes whose stores are built on demand.
fn on_demand(url: &Url) -> bool {
    matches!(
        url.scheme(),
        "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "http" | "https"
    )
}

/// The option prefix of a scheme's cloud.
fn option_prefix(scheme: &str) -> Option<&'static str> {
    match scheme {
        "s3" | "s3a" => Some("aws."),
        "gs" => Some("gcp."),
        "az" | "adl" | "azure" | "abfs" | "abfss" => Some("azure."),
        _ => None,
    }
}

/// object_store configuration keys and values.
type StoreOptions = Vec<(String, String)>;

/// Splits store options (`aws.*`, `gcp.*`, `azure.*`) from the others, checking that they
/// are for `url`'s cloud; the store options come back without their prefix.
fn split_store_options(
    url: &Url,
    options: &HashMap<String, String>,
) -> Result<(StoreOptions, HashMap<String, String>)> {
    let mut store = Vec::new();
    let mut rest = HashMap::new();
    let own = option_prefix(url.scheme());
    for (key, value) in options {
        let Some(prefix) = ["aws.", "gcp.", "azure."]
            .into_iter()
            .find(|p| key.starts_with(p))
        else {
            rest.insert(key.clone(), value.clone());
            continue;
        };
        if own != Some(prefix) {
            return Err(DataFusionError::Plan(format!(
                "option '{key}' is for {} locations, not {}://",
                match prefix {
                    "aws." => "s3://",
                    "gcp." => "gs://",
                    _ => "az:// and abfs[s]://",
                },
                url.scheme()
            )));
        }
        let key = &key[prefix.len()..];
        // datafusion-cli's spelling of the key file.
        let key = if key == "application_credentials_path" {
            "application_credentials"
        } else {
            key
        };
        store.push((key.to_string(), value.clone()));
    }
    store.sort();
    Ok((store, rest))
}

/// The base URL of `location`'s store (`s3://bucket`), as DataFusion looks stores up.
fn store_url(location: &str) -> Result<Url> {
    let url = ListingTableUrl::parse(location)?;
    let store = url.object_store();
    let base: &Url = store.as_ref();
    Ok(base.clone())
}

/// An object store registry that builds the stores of cloud and http(s) locations when
/// they are first asked for, and with explicit options when a statement gives them.
#[derive(Debug)]
pub struct LakeStores {
    inner: Arc<dyn ObjectStoreRegistry>,
}

impl LakeStores {
    /// Wraps `inner`, whose stores are used as they are.
    pub fn new(inner: Arc<dyn ObjectStoreRegistry>) -> Self {
        Self { inner }
    }

    /// Builds the store of `url` with `options` (and the environment) and registers it,
    /// replacing the bucket's store built before.
    pub fn register_with_options(&self, url: &Url, options: &[(String, String)]) -> Result<()> {
        let store = build(url, options)?;
        self.inner.register_store(url, store);
        Ok(())
    }
}

fn build(url: &Url, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>> {
    refuel_sink::object_store_for(url.as_str(), options).map_err(|kind| {
        external(LakeError {
            location: refuel_sink::redact_text(url.as_str().trim_end_matches('/')),
            kind,
        })
    })
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if on_demand(url) => {
                let mut base = url.clone();
                base.set_path("");
                base.set_query(None);
                let store = build(&base, &[])?;
                self.inner.register_store(&base, Arc::clone(&store));
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}

/// A file format's table factory that first builds the location's store with the
/// statement's store options.
#[derive(Debug)]
struct WithStoreOptions {
    inner: Arc<dyn TableProviderFactory>,
    stores: Arc<LakeStores>,
}

#[async_trait]
impl TableProviderFactory for WithStoreOptions {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut rest = cmd.options.clone();
        for location in &cmd.locations {
            let url = store_url(location)?;
            let (options, others) = split_store_options(&url, &cmd.options)?;
            if !options.is_empty() {
                self.stores.register_with_options(&url, &options)?;
            } else if on_demand(&url) {
                // Now, so that a missing credential is named at CREATE, not at the first
                // query.
                self.stores.get_store(&url)?;
            }
            rest = others;
        }
        let mut cmd = cmd.clone();
        cmd.options = rest;
        self.inner.create(state, &cmd).await
    }
}

/// URL tables: a quoted path or URL that no catalog has is read as files.
#[derive(Debug)]
struct LakeUrlTables {
    inner: DynamicListTableFactory,
    stores: Arc<LakeStores>,
}

#[async_trait]
impl UrlTableFactory for LakeUrlTables {
    async fn try_new(&self, url: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !looks_like_location(url) {
            return Ok(None);
        }
        // DataFusion's factory takes any failure for "no such table": build the store
        // first, so a missing credential is said as such.
        if let Ok(store) = store_url(url)
            && on_demand(&store)
        {
            self.stores.get_store(&store)?;
        }
        match url_glob(url)? {
            Some(table_url) => self.glob_table(table_url).await.map(Some),
            None => self.inner.try_new(url).await,
        }
    }
}

impl LakeUrlTables {
    /// The files of a URL with a glob (DataFusion reads globs in local paths only).
    async fn glob_table(&self, url: ListingTableUrl) -> Result<Arc<dyn TableProvider>> {
        let session = self
            .inner
            .session_store()
            .get_session()
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("the session is gone".into()))?;
        let state = session
            .read()
            .as_any()
            .downcast_ref::<SessionState>()
            .cloned()
            .ok_or_else(|| DataFusionError::Internal("not a DataFusion session".into()))?;
        let config = ListingTableConfig::new(url)
            .infer_options(&state)
            .await?
            .infer_partitions_from_path(&state)
            .await?
            .infer_schema(&state)
            .await?;
        Ok(Arc::new(ListingTable::try_new(config)?))
    }
}

/// A URL with a scheme whose path has a glob (`*` or `[`), split into the listing prefix
/// (up to the last `/` before the glob) and the pattern the rest must match.
fn url_glob(location: &str) -> Result<Option<ListingTableUrl>> {
    let Ok(url) = Url::parse(location) else {
        return Ok(None);
    };
    if url.scheme() == "file" || url.scheme().len() < 2 {
        return Ok(None);
    }
    let path = percent_decode_str(url.path())
        .decode_utf8_lossy()
        .into_owned();
    let Some(glob_at) = path.find(['*', '[']) else {
        return Ok(None);
    };
    let split = path[..glob_at].rfind('/').map_or(0, |i| i + 1);
    let pattern = Pattern::new(&path[split..])
        .map_err(|e| DataFusionError::Plan(format!("'{location}' has an invalid glob: {e}")))?;
    let mut base = url.clone();
    base.set_path(&path[..split]);
    ListingTableUrl::try_new(base, Some(pattern)).map(Some)
}

/// Takes `COPY ... TO '<cloud url>' OPTIONS ('aws.region' ..., ...)`'s store options out
/// of the plan, building the destination's store with them (DataFusion's file sinks would
/// refuse them as unknown format options).
#[derive(Debug)]
struct CopyStoreOptions {
    stores: Arc<LakeStores>,
}

impl AnalyzerRule for CopyStoreOptions {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        match plan {
            LogicalPlan::Copy(mut copy) => {
                let Ok(url) = store_url(&copy.output_url) else {
                    return Ok(LogicalPlan::Copy(copy));
                };
                let (options, rest) = split_store_options(&url, &copy.options)?;
                if !options.is_empty() {
                    self.stores.register_with_options(&url, &options)?;
                    copy.options = rest;
                }
                Ok(LogicalPlan::Copy(copy))
            }
            // `INSERT INTO` an external table writes to the store registered at CREATE.
            other => Ok(other),
        }
    }

    fn name(&self) -> &str {
        COPY_RULE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_names() {
        for location in [
            "s3://b/k.parquet",
            "/tmp/x.parquet",
            "data/x.csv",
            "x.csv",
            "x.CSV.gz",
            "./rows",
        ] {
            assert!(looks_like_location(location), "{location}");
        }
        for name in ["reviews", "reviews_labels", "v2.reviews"] {
            assert!(!looks_like_location(name), "{name}");
        }
    }

    #[test]
    fn store_options_are_checked_against_the_location() {
        let url = Url::parse("s3://lake").unwrap();
        let options: HashMap<String, String> = [
            ("aws.region", "eu-west-1"),
            ("aws.allow_http", "true"),
            ("format.has_header", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (store, rest) = split_store_options(&url, &options).unwrap();
        assert_eq!(
            store,
            vec![
                ("allow_http".to_string(), "true".to_string()),
                ("region".to_string(), "eu-west-1".to_string())
            ]
        );
        assert_eq!(rest.len(), 1);
        let az = Url::parse("az://c").unwrap();
        let err = split_store_options(&az, &options).unwrap_err().to_string();
        assert!(
            err.contains("'aws.allow_http' is for s3:// locations")
                || err.contains("'aws.region' is for s3:// locations"),
            "{err}"
        );
    }
}
