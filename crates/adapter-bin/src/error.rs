//! Why an adapter stopped with an error: only what retrying cannot fix.

use crate::settings::ConfigError;

/// Why the adapter stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The checkpoint store could not be opened or read.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::StoreError),
    /// The metrics/health server could not listen.
    #[error("cannot serve metrics and health on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Tracing was asked for and its exporter could not be built.
    #[error(transparent)]
    Tracing(#[from] crate::telemetry::tracing_export::TracingError),
    /// The Kubernetes client could not be built.
    #[error("cannot reach Kubernetes for the checkpoint ConfigMap: {0}")]
    Kubernetes(String),
    /// The Kubernetes client for OIDC tokens (TokenRequest) could not be built.
    #[error("cannot reach Kubernetes for OIDC tokens (K_OIDC_SERVICE_ACCOUNT): {0}")]
    TokenClient(String),
}
