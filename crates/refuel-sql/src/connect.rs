//! Where the shell's data lives: the Refuel cloud (or any `--endpoint`) with an API key, or
//! an emulator started in-process on a local data directory.

use std::fs::File;
use std::path::{Path, PathBuf};

use clap::Args;
use refuel_client::{ApiKey, ClientConfig, RefuelClient, ServerSemantics};
use refuel_emulator::{DEFAULT_API_KEY, Emulator, EmulatorConfig, EmulatorHandle};

use crate::demo;
use crate::error::ShellError;
use crate::progress::Progress;

/// Connection settings, shared by the shell and every subcommand.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The Refuel API's base URL.
    #[arg(long, env = "REFUEL_API_URL", global = true, value_name = "URL")]
    pub endpoint: Option<String>,

    /// The API key. Without one (and without --endpoint) refuel-sql runs a local emulator.
    #[arg(
        long,
        env = "REFUEL_API_KEY",
        hide_env_values = true,
        global = true,
        value_name = "KEY",
        value_parser = parse_api_key
    )]
    pub api_key: Option<ApiKey>,

    /// The current project: bare table names resolve in it. Local default: `demo`.
    #[arg(long, env = "REFUEL_PROJECT", global = true, value_name = "PROJECT")]
    pub project: Option<String>,

    /// Run the emulator in-process on DIR (default: REFUEL_SQL_DATA_DIR, else
    /// ~/.local/share/refuel-sql), seeded with demo data the first time.
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        global = true,
        conflicts_with = "endpoint"
    )]
    pub local: Option<Option<PathBuf>>,

    /// What the server does where the API contract leaves it open (text order, NULL order,
    /// LIKE, regex dialect, page cap): decides what SQL pushes into the API. A preset
    /// (`conservative`, the default; `emulator`) then `key=value` settings, e.g.
    /// `conservative,null_order=last`. The local emulator always uses `emulator`.
    #[arg(
        long,
        env = "REFUEL_SERVER_SEMANTICS",
        global = true,
        value_name = "SETTINGS",
        value_parser = parse_semantics
    )]
    pub server_semantics: Option<ServerSemantics>,
}

fn parse_semantics(raw: &str) -> Result<ServerSemantics, String> {
    raw.parse().map_err(|e: refuel_client::Error| e.to_string())
}

fn parse_api_key(raw: &str) -> Result<ApiKey, String> {
    let key = raw.trim();
    if key.is_empty() {
        Err("the API key is empty".to_string())
    } else {
        Ok(ApiKey::new(key))
    }
}

/// Environment variable naming the default local data directory.
pub const ENV_DATA_DIR: &str = "REFUEL_SQL_DATA_DIR";
/// The lock file that keeps two shells off one data directory.
const LOCK_FILE: &str = "refuel-sql.lock";

/// An open connection: a client and, in local mode, the emulator it talks to.
#[derive(Debug)]
pub struct Connection {
    /// A client of the team, set to the current project when there is one.
    pub client: RefuelClient,
    /// The local emulator, in local mode.
    pub local: Option<Local>,
}

/// An emulator running in this process on a data directory.
#[derive(Debug)]
pub struct Local {
    /// The data directory.
    pub dir: PathBuf,
    handle: EmulatorHandle,
    // Held for the life of the connection; the lock goes with the file.
    _lock: File,
}

impl Connection {
    /// Connects as `args` says: an API key (or an endpoint) means a remote API; otherwise,
    /// or with `--local`, an emulator in this process, seeded with the demo project the
    /// first time.
    pub async fn open(args: &ConnectionArgs, progress: &Progress) -> anyhow::Result<Self> {
        let local_dir = match (&args.local, &args.api_key, &args.endpoint) {
            (Some(dir), _, _) => Some(dir.clone().unwrap_or_else(default_data_dir)),
            (None, None, None) => Some(default_data_dir()),
            (None, None, Some(endpoint)) => {
                return Err(ShellError::NoApiKey {
                    endpoint: refuel_client::redact_url(endpoint),
                }
                .into());
            }
            (None, Some(_), _) => None,
        };
        match local_dir {
            Some(dir) => Self::open_local(args, &dir, progress).await,
            None => {
                let mut config = ClientConfig {
                    api_key: args.api_key.clone(),
                    semantics: args.server_semantics.unwrap_or_default(),
                    ..ClientConfig::default()
                };
                if let Some(endpoint) = &args.endpoint {
                    config = config.with_base_url(endpoint)?;
                }
                if let Some(project) = &args.project {
                    config = config.with_project(project);
                }
                Ok(Self {
                    client: RefuelClient::new(config)?,
                    local: None,
                })
            }
        }
    }

    async fn open_local(
        args: &ConnectionArgs,
        dir: &Path,
        progress: &Progress,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| ShellError::DataDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let lock = lock_data_dir(dir)?;
        let key = args
            .api_key
            .as_ref()
            .map_or(DEFAULT_API_KEY, |k| k.expose())
            .to_string();
        let handle = Emulator::start(EmulatorConfig::new().api_key(key.clone()).data_dir(dir))
            .await
            .map_err(|e| ShellError::Emulator {
                dir: dir.to_path_buf(),
                message: format!("{e:#}"),
            })?;
        let team = RefuelClient::new(
            ClientConfig::default()
                .with_api_key(key)
                .with_base_url(handle.url())?
                .with_semantics(ServerSemantics::emulator()),
        )?;
        if demo::needed(dir) {
            demo::seed(&team, dir, progress).await?;
        }
        let project = args.project.as_deref().unwrap_or(demo::PROJECT);
        Ok(Self {
            client: team.with_project(project),
            local: Some(Local {
                dir: dir.to_path_buf(),
                handle,
                _lock: lock,
            }),
        })
    }

    /// A one-line description for the banner: where the data is.
    pub fn describe(&self) -> String {
        match &self.local {
            Some(local) => format!("local emulator on {}", local.dir.display()),
            None => refuel_client::redact_url(self.client.base_url().as_str()),
        }
    }

    /// Stops the local emulator, letting work in flight land on disk.
    pub async fn close(self) {
        if let Some(local) = self.local {
            local.handle.shutdown().await;
        }
    }
}

/// `REFUEL_SQL_DATA_DIR`, else `$XDG_DATA_HOME/refuel-sql`, else
/// `~/.local/share/refuel-sql`, else `./refuel-sql-data`.
pub fn default_data_dir() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env(ENV_DATA_DIR) {
        return PathBuf::from(dir);
    }
    if let Some(data) = env("XDG_DATA_HOME") {
        return PathBuf::from(data).join("refuel-sql");
    }
    match env("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/refuel-sql"),
        None => PathBuf::from("refuel-sql-data"),
    }
}

/// Takes the data directory's lock, or says who holds it.
fn lock_data_dir(dir: &Path) -> Result<File, ShellError> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ShellError::DataDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ShellError::DataDirInUse {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ShellError::DataDir {
            dir: dir.to_path_buf(),
            source,
        }),
    }
}
