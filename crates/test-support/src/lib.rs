//! Test helpers shared by the workspace's tests, benches and examples.
//!
//! This crate is only ever a dev-dependency. It knows nothing about the vSphere
//! client or Kubernetes; it provides the environment those tests run in:
//!
//! - [`install_crypto_provider`] makes `ring` the process-wide rustls crypto
//!   provider (the workspace builds rustls and reqwest without a default one).
//! - [`Vcsim`] starts govmomi's vCenter simulator on a free loopback port and
//!   stops it when dropped, including when the test panics.
//! - [`TestPki`] makes a throw-away CA and a server certificate for given DNS
//!   names or IP addresses, written as PEM files into a temporary directory.
//! - [`free_port`] finds an unused TCP port on 127.0.0.1.
//! - [`RecordingSink`] is a real HTTP sink that records requests and answers with scripted
//!   statuses, for delivery tests.
//!
//! The vcsim binary is installed by `scripts/install-test-deps.sh`, which
//! prints the `VCSIM_BIN` to export; see [`vcsim_binary`] for how it is found.
//! The same script installs the real clients tests point at simulators: govc
//! ([`govc_binary`], `GOVC_BIN`) and pyVmomi ([`pyvmomi_python`], `PYVMOMI_PYTHON`).
//!
//! ```no_run
//! use test_support::{TestPki, Vcsim};
//!
//! // vcsim with its own self-signed certificate, user "user", password "pass".
//! let sim = Vcsim::start().expect("vcsim starts");
//! println!("{} as {}", sim.url(), sim.username());
//!
//! // vcsim serving a certificate signed by a CA the test controls.
//! let pki = TestPki::new(&["localhost", "127.0.0.1"]);
//! let sim = Vcsim::builder()
//!     .cert(pki.cert_pem_path(), pki.key_pem_path())
//!     .start()
//!     .expect("vcsim starts");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod sink;
pub use sink::{Received, RecordingSink};
mod pki;
mod tools;
mod vcsim;

pub use pki::TestPki;
pub use tools::{cache_dir, govc_binary, pyvmomi_python, vcsim_binary};
pub use vcsim::{Vcsim, VcsimBuilder, VcsimError};

use std::net::TcpListener;

/// Installs `rustls`'s `ring` provider as the process-wide default crypto
/// provider.
///
/// Idempotent: calling it again, from any thread, or after another provider
/// was installed, does nothing.
pub fn install_crypto_provider() {
    // `install_default` fails only when a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Returns a TCP port on 127.0.0.1 that was free when this function ran.
///
/// The port is released before returning, so another process may take it
/// before the caller binds it; prefer letting the server bind port 0 where it
/// can (as [`Vcsim`] does).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port on 127.0.0.1")
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_provider_install_is_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
