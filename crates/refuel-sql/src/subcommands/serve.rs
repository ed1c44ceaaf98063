//! `refuel-sql serve [--listen ADDR] [--endpoint URL | --local [DIR]]`: an Arrow Flight SQL
//! server over the Refuel catalog (`refuel-flight`), each caller in a session set up as
//! the shell's, built on the caller's own API key.
//!
//! With `--endpoint` (or `REFUEL_API_URL`, or an API key of this process) callers' keys are
//! checked by that API; otherwise (or with `--local`) the embedded emulator runs on its
//! data directory, and its key (`--api-key`, else the emulator's default) is the one it
//! accepts, as in the shell.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use refuel_client::{ApiKey, ClientConfig, RefuelClient};
use refuel_flight::{OpenError, ServeOptions, SessionFactory, Tls};

use crate::connect::{Connection, ConnectionArgs};
use crate::context::ShellContext;
use crate::error::ShellError;
use crate::progress::Progress;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Drop a caller's session after it was idle this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub idle_timeout: u64,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Opens a caller's session as the shell opens its own ([`ShellContext::new`]): one
/// request with the caller's key first, so that a refused key is `Unauthenticated`.
pub struct ShellSessions {
    /// Where the API is and how it behaves; the caller's key goes in.
    base: ClientConfig,
    /// The project current when the caller names none (the demo project, locally).
    default_project: Option<String>,
}

impl ShellSessions {
    /// Sessions on the API `base` names (its key, if any, is not used), with
    /// `default_project` current for callers that name none.
    pub fn new(base: ClientConfig, default_project: Option<String>) -> Self {
        Self {
            base: ClientConfig {
                api_key: None,
                ..base
            },
            default_project,
        }
    }
}

#[async_trait]
impl SessionFactory for ShellSessions {
    async fn open(
        &self,
        key: ApiKey,
        project: Option<String>,
    ) -> Result<SessionContext, OpenError> {
        let config = ClientConfig {
            api_key: Some(key),
            ..self.base.clone()
        };
        let client =
            RefuelClient::new(config).map_err(|e| OpenError::Unavailable(e.to_string()))?;
        // One request tells a refused key from the rest.
        if let Err(e) = client.projects().list().await {
            return Err(match e.status().map(|s| s.as_u16()) {
                Some(401 | 403) => OpenError::Unauthenticated(e.to_string()),
                _ => OpenError::Unavailable(e.to_string()),
            });
        }
        let client = match project.or_else(|| self.default_project.clone()) {
            Some(p) => client.with_project(p),
            None => client,
        };
        let shell =
            ShellContext::new(client)
                .await
                .map_err(|e| match e.downcast_ref::<ShellError>() {
                    Some(ShellError::Input(message)) => OpenError::InvalidArgument(message.clone()),
                    _ => OpenError::Unavailable(format!("{e:#}")),
                })?;
        Ok(shell.ctx)
    }
}

async fn read_tls(args: &ServeArgs) -> anyhow::Result<Option<Tls>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let cert_pem = tokio::fs::read(cert)
        .await
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?;
    let key_pem = tokio::fs::read(key)
        .await
        .with_context(|| format!("reading the TLS key {}", key.display()))?;
    Ok(Some(Tls { cert_pem, key_pem }))
}

/// Ends on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `serve` until Ctrl-C or SIGTERM.
pub async fn run(
    args: &ServeArgs,
    connection_args: &ConnectionArgs,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let remote = connection_args.local.is_none()
        && (connection_args.endpoint.is_some() || connection_args.api_key.is_some());
    let (connection, base, default_project) = if remote {
        let mut base = ClientConfig {
            api_key: None,
            semantics: connection_args.server_semantics.unwrap_or_default(),
            ..ClientConfig::default()
        };
        if let Some(endpoint) = &connection_args.endpoint {
            base = base.with_base_url(endpoint)?;
        }
        (None, base, None)
    } else {
        let connection = Connection::open(connection_args, progress).await?;
        let client = &connection.client;
        let base = ClientConfig {
            api_key: None,
            ..client.config().clone()
        };
        let project = client.project().map(str::to_string);
        (Some(connection), base, project)
    };
    let tls = read_tls(args).await?;
    let scheme = if tls.is_some() { "grpc+tls" } else { "grpc" };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let serving = match &connection {
        Some(c) => c.describe(),
        None => refuel_client::redact_url(base.base_url.as_str()),
    };
    println!("refuel-sql: Flight SQL on {scheme}://{addr} over {serving}");
    let factory = Arc::new(ShellSessions::new(base, default_project));
    let options = ServeOptions {
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        tls,
    };
    let outcome = refuel_flight::serve(listener, factory, options, shutdown_signal()).await;
    if let Some(connection) = connection {
        connection.close().await;
    }
    outcome?;
    Ok(ExitCode::SUCCESS)
}
