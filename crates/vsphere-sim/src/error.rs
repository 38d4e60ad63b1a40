//! The simulator's error type.

use std::net::SocketAddr;

/// What can go wrong starting or running the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed certificate could not be made or the TLS configuration is invalid.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// A setting is out of range.
    #[error("invalid simulator setting: {0}")]
    Config(String),
    /// Reading or writing a file (the certificate) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
