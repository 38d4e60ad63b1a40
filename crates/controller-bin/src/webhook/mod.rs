//! The admission webhooks of `sources-controller`: one HTTPS server
//! (hyper over tokio-rustls, ring) serving AdmissionReview v1 on
//!
//! - `/defaulting`: defaults VSphereSource, VSphereBinding, HorizonSource;
//! - `/resource-validation`: validates them (strict decoding);
//! - `/config-validation`: validates `config-logging`;
//! - `/vspherebindings`: applies VSphereBindings to their PodSpecable
//!   subjects (JSONPatch, upstream's `Do`/`Undo`).
//!
//! Every replica serves ([`run_webhooks`]): it follows the certificate
//! Secret and answers as soon as it listens with a certificate. The leader
//! alone writes ([`manage_webhooks`]): it keeps the Secret current (a
//! long-lived CA, a rotated serving certificate, see [`certs`]) and writes
//! each webhook configuration on its own, `caBundle` first, then the
//! binding webhook's rules (only well-formed, PodSpecable subject kinds)
//! and selectors (never `kube-system`, `kube-node-lease` or the
//! controller's namespace).
//!
//! The server bounds what clients can hold ([`ServerLimits`]): request
//! bodies (3 MiB each, 16 MiB together beyond a 32 KiB allowance per
//! connection), a deadline for each phase of a connection (handshake,
//! head, body, idle keep-alive), and at the connection cap the connection
//! that has waited longest gives way. It answers only AdmissionReviews.
//!
//! One job per module: the HTTPS server (`server.rs`), its connections'
//! phases, deadlines and cap (`connections.rs`), the AdmissionReview
//! handlers (`review.rs`), the certificate Secret (`certificate.rs`), the
//! webhook configurations the leader writes (`configurations.rs`), the
//! caches admission reads (`caches.rs`) and the loops every replica and the
//! leader run (`run.rs`).

mod caches;
mod certificate;
mod configurations;
mod connections;
mod review;
mod run;
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use crate::admission;
use crate::certs::{self, CertPolicy};

pub use caches::{BindingIndex, WebhookCaches};
pub use certificate::ensure_certificate;
pub use configurations::{
    BindingWebhookSpec, ConfigurationErrors, binding_namespace_selector, binding_rules,
    binding_selector, update_configurations,
};
pub use review::WebhookState;
pub use run::{manage_webhooks, reconcile_webhooks, run_webhooks};
pub use server::{ServerLimits, serve};

/// `defaulting.webhook.vsphere.sources.tanzu.vmware.com`.
pub const DEFAULTING_WEBHOOK: &str = "defaulting.webhook.vsphere.sources.tanzu.vmware.com";
/// `validation.webhook.vsphere.sources.tanzu.vmware.com`.
pub const VALIDATION_WEBHOOK: &str = "validation.webhook.vsphere.sources.tanzu.vmware.com";
/// `config.webhook.vsphere.sources.tanzu.vmware.com`.
pub const CONFIG_WEBHOOK: &str = "config.webhook.vsphere.sources.tanzu.vmware.com";
/// `vspherebindings.webhook.vsphere.sources.tanzu.vmware.com`.
pub const BINDING_WEBHOOK: &str = "vspherebindings.webhook.vsphere.sources.tanzu.vmware.com";
/// The label excluding a namespace or object (exclusion mode).
pub const EXCLUDE_LABEL: &str = "bindings.knative.dev/exclude";
/// The label including a namespace or object (inclusion mode).
pub const INCLUDE_LABEL: &str = "bindings.knative.dev/include";
/// The label the API server puts on every namespace: its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// How the binding webhook selects namespaces and objects
/// (`VSPHERE_BINDING_SELECTION_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SelectionMode {
    /// Everything not labelled `bindings.knative.dev/exclude: "true"`.
    #[default]
    Exclusion,
    /// Only what is labelled `bindings.knative.dev/include: "true"`.
    Inclusion,
}

/// Webhook settings.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Where the HTTPS server listens (`WEBHOOK_PORT`, default 8443, all
    /// addresses).
    pub addr: SocketAddr,
    /// The namespace of the Service and the Secret (`SYSTEM_NAMESPACE`).
    pub namespace: String,
    /// The Service the configurations point at (`WEBHOOK_SERVICE_NAME`,
    /// default `vsphere-source-webhook`).
    pub service_name: String,
    /// The certificate Secret (`WEBHOOK_SECRET_NAME`, default
    /// `vsphere-webhook-certs`).
    pub secret_name: String,
    /// Extra names (DNS or IP) in the serving certificate
    /// (`WEBHOOK_EXTRA_SANS`, comma-separated).
    pub extra_names: Vec<String>,
    /// Validity of a serving certificate (7 days).
    pub validity: Duration,
    /// A serving certificate expiring sooner than this is replaced (1 day).
    pub rotate_before: Duration,
    /// Validity of the CA (365 days).
    pub ca_validity: Duration,
    /// A CA expiring sooner than this gets a successor (30 days).
    pub ca_rotate_before: Duration,
    /// How long every configuration carries a new CA before it signs (1 h).
    pub ca_overlap: Duration,
    /// How often the Secret and the configurations are checked (30 s).
    pub check_interval: Duration,
    /// `VSPHERE_BINDING_SELECTION_MODE` (`exclusion` or `inclusion`).
    pub selection_mode: SelectionMode,
    /// The server's limits.
    pub limits: ServerLimits,
}

impl WebhookSettings {
    /// Defaults for the Service in `namespace`.
    pub fn new(namespace: &str) -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 8443)),
            namespace: namespace.to_owned(),
            service_name: "vsphere-source-webhook".to_owned(),
            secret_name: "vsphere-webhook-certs".to_owned(),
            extra_names: Vec::new(),
            validity: Duration::from_secs(7 * 86400),
            rotate_before: Duration::from_secs(86400),
            ca_validity: Duration::from_secs(365 * 86400),
            ca_rotate_before: Duration::from_secs(30 * 86400),
            ca_overlap: Duration::from_secs(3600),
            check_interval: Duration::from_secs(30),
            selection_mode: SelectionMode::Exclusion,
            limits: ServerLimits::default(),
        }
    }

    /// The names in the serving certificate: the Service's DNS names and
    /// the extra names.
    pub fn cert_names(&self) -> Vec<String> {
        let (svc, ns) = (&self.service_name, &self.namespace);
        let mut names = vec![
            format!("{svc}.{ns}.svc"),
            svc.clone(),
            format!("{svc}.{ns}"),
            format!("{svc}.{ns}.svc.cluster.local"),
        ];
        names.extend(self.extra_names.iter().cloned());
        names
    }

    /// The certificate lifetimes and names.
    pub fn cert_policy(&self) -> CertPolicy {
        CertPolicy {
            names: self.cert_names(),
            validity: self.validity,
            rotate_before: self.rotate_before,
            ca_validity: self.ca_validity,
            ca_rotate_before: self.ca_rotate_before,
            ca_overlap: self.ca_overlap,
        }
    }

    /// The namespaces the binding webhook never mutates in.
    pub fn excluded_namespaces(&self) -> Vec<String> {
        admission::excluded_namespaces(&self.namespace)
    }
}

/// Why the webhook stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The listener could not bind.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Certificates.
    #[error("{0}")]
    Cert(#[from] certs::CertError),
    /// The API server.
    #[error("{0}")]
    Kube(#[from] kube::Error),
    /// Some webhook configurations could not be written (the others were).
    #[error("{0}")]
    Configurations(ConfigurationErrors),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_names() {
        let s = WebhookSettings::new("vmware-sources");
        assert_eq!(
            s.cert_names()[0],
            "vsphere-source-webhook.vmware-sources.svc"
        );
    }
}
