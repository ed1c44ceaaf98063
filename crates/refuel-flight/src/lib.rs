//! An Arrow Flight SQL server over the Refuel catalog, for BI tools, JDBC/ODBC/ADBC
//! drivers and any language with a Flight SQL client.
//!
//! Each caller is a tenant of its own: it authenticates with its Refuel API key, as an
//! `authorization: Bearer <key>` header on every call or through the handshake with basic
//! auth whose password is the key (the handshake answers with an opaque session token
//! for later calls, never the key). The server answers each caller from a DataFusion
//! session built on that key by a [`SessionFactory`] (`refuel-sql serve` builds the
//! shell's session), so one team never sees another's projects. A caller names its current
//! project in the `x-refuel-project` header. Sessions idle for longer than
//! [`ServeOptions::idle_timeout`] are dropped.
//!
//! Served: statement queries and updates (`INSERT INTO` a dataset answers its row count),
//! prepared statements with parameters (`?` or `$n`), `GetCatalogs`, `GetDbSchemas`,
//! `GetTables` (with schemas), `GetTableTypes`, `GetSqlInfo`, `GetXdbcTypeInfo`, and
//! cancelling a query (`CancelFlightInfo`, `CancelQuery`, or the client dropping its
//! stream). Results stream batch by batch as the client reads them (gRPC flow control is
//! the back-pressure), so memory stays flat in the size of a result.
//!
//! Modules: [`auth`] (reading credentials), `sessions` (a session per caller), `statements`
//! (planned queries, prepared statements), `metadata` (catalog answers), `service` (the
//! Flight SQL service), `error` (statuses).

pub mod auth;
mod error;
mod metadata;
mod service;
mod sessions;
mod statements;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use service::RefuelFlightSql;
pub use sessions::{OpenError, SessionFactory};

/// How long a session may sit idle before it is dropped, unless told otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The largest message a client may send (bound parameters, rows to insert).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A certificate and its private key, PEM.
pub struct Tls {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

/// How the server runs.
#[derive(Debug)]
pub struct ServeOptions {
    /// Sessions idle for longer are dropped (their token stops working).
    pub idle_timeout: Duration,
    /// TLS, when set; plain HTTP/2 otherwise.
    pub tls: Option<Tls>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            tls: None,
        }
    }
}

/// Why the server stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificate or key could not be used.
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    /// The gRPC server failed.
    #[error("the Flight SQL server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves Flight SQL on `listener` until `shutdown` completes, each caller's session
/// opened by `factory`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    factory: Arc<dyn SessionFactory>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let sessions = Arc::new(sessions::Sessions::new(factory, options.idle_timeout));
    let sweeper = {
        let sessions = Arc::clone(&sessions);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(sessions.sweep_every());
            loop {
                tick.tick().await;
                sessions.sweep();
            }
        })
    };
    let service = FlightServiceServer::new(RefuelFlightSql::new(sessions))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let mut builder = Server::builder();
    if let Some(tls) = options.tls {
        let identity = Identity::from_pem(tls.cert_pem, tls.key_pem);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| ServeError::Tls(e.to_string()))?;
    }
    let outcome = builder
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await;
    sweeper.abort();
    Ok(outcome?)
}
