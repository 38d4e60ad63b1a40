//! A real Kubernetes API server for integration tests, envtest style.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kube_harness::HarnessError> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::Api;
//!
//! // One etcd + kube-apiserver pair per test binary, started on first use and
//! // stopped when the test process exits.
//! let server = kube_harness::KubeApiServer::shared();
//! // A client for the calling tokio runtime, authenticated as a cluster admin.
//! let client = server.client().await?;
//! // A fresh namespace per test keeps tests independent.
//! let ns = server.create_namespace(&client, "demo").await?;
//! let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
//! // CRDs from YAML text, waited for until Established.
//! server.install_crds(&client, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n...").await?;
//! // Knative's published CRDs (Service, Broker, ...) for sink resolution tests.
//! server.install_knative_crds(&client).await?;
//! # let _ = cms; Ok(()) }
//! ```
//!
//! [`KubeApiServer::start`] (or the per-process [`KubeApiServer::shared`])
//! starts `etcd` and `kube-apiserver` on free loopback ports in a temporary
//! directory, with
//!
//! - a self-signed serving certificate (a throw-away CA from `test-support`),
//! - a static bearer token for the user `harness-admin` in `system:masters`,
//! - `--authorization-mode=RBAC`, so other identities are really authorized,
//! - service-account signing keys (the TokenRequest API works),
//! - no kubelet, no controller-manager and no scheduler: nothing runs Pods,
//!   updates Deployment status or garbage-collects; tests patch status
//!   themselves and check owner references instead.
//!
//! It waits for `/readyz`, writes a kubeconfig ([`KubeApiServer::kubeconfig_path`])
//! and stops both processes when dropped. Each process runs under a small `sh`
//! wrapper that kills it when the test process's end of a pipe closes, so
//! nothing outlives a test binary that was killed or that kept the server in a
//! `static`.
//!
//! The binaries come from `scripts/install-test-deps.sh`: `$KUBE_APISERVER_BIN`
//! and `$ETCD_BIN`, else `<cache>/bin/kube-apiserver` and `<cache>/bin/etcd`
//! (the cache is `$VMWARE_SOURCES_CACHE`, else `~/.cache/vmware-sources`).
//! Knative's CRDs come from `$KNATIVE_CRDS_DIR`, else `<cache>/knative-crds`.
//!
//! One job per module: finding the binaries (`binaries.rs`), running a
//! process that dies with the test (`process.rs`), the server and its
//! clients (`server.rs`), a proxy a test can cut (`proxy.rs`), and objects
//! from YAML (`apply.rs`).

#![forbid(unsafe_code)]

mod apply;
mod binaries;
mod process;
mod proxy;
mod server;

pub use apply::{dynamic_api, sources_group_api, yaml_documents};
pub use binaries::{cache_dir, etcd_binary, knative_crds_dir, kube_apiserver_binary};
pub use proxy::TcpProxy;
pub use server::{KubeApiServer, Options};

/// The field manager the harness uses for server-side apply.
pub const FIELD_MANAGER: &str = "kube-harness";

/// The admin user's name; it is in the `system:masters` group.
pub const ADMIN_USER: &str = "harness-admin";

/// Why the harness failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A binary is missing.
    #[error("{0}")]
    MissingBinary(String),
    /// A process could not be started or exited early.
    #[error("{what}: {message}\n--- last log lines ---\n{log}")]
    Process {
        /// Which process.
        what: &'static str,
        /// What happened.
        message: String,
        /// The tail of its log.
        log: String,
    },
    /// Filesystem trouble in the temporary directory.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A Kubernetes API call failed.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The error.
        source: kube::Error,
    },
    /// A kubeconfig problem.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// A YAML document could not be parsed or used.
    #[error("YAML: {0}")]
    Yaml(String),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Io { context, source }
}

pub(crate) fn kube_err(context: impl Into<String>) -> impl FnOnce(kube::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Kube { context, source }
}
