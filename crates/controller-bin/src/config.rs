//! The controller's settings (environment, as upstream: [`Cli`]) and the adapter
//! configuration taken from the `config-logging` and `config-observability`
//! ConfigMaps.

use std::collections::BTreeMap;

use serde_json::json;

/// The controller's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `VSPHERE_ADAPTER`: the vSphere adapter image.
    pub vsphere_adapter_image: String,
    /// `HORIZON_SOURCE_RA_IMAGE`: the Horizon adapter image.
    pub horizon_adapter_image: String,
    /// `SYSTEM_NAMESPACE`: where the controller and its ConfigMaps live.
    pub system_namespace: String,
    /// `METRICS_DOMAIN` (default `tanzu.vmware.com/sources`).
    pub metrics_domain: String,
    /// `CONFIG_LOGGING_NAME` (default `config-logging`).
    pub config_logging_name: String,
    /// `CONFIG_OBSERVABILITY_NAME` (default `config-observability`).
    pub config_observability_name: String,
    /// `WATCH_NAMESPACE`: only this namespace (default: all).
    pub watch_namespace: Option<String>,
    /// `METRICS_PORT`: `/metrics`, `/healthz`, `/readyz` (default 9090).
    pub metrics_port: u16,
    /// `POD_NAME`: the leader-election identity (default: the host name).
    pub identity: String,
    /// `LEASE_NAME` (default `sources-controller`).
    pub lease_name: String,
    /// How long a lease lasts (`LEASE_DURATION_SECONDS`, default 15).
    pub lease_duration_seconds: i32,
    /// How often a leader renews (`LEASE_RENEW_SECONDS`, default 5).
    pub lease_renew_seconds: u64,
    /// Periodic re-reconcile of every source (`RESYNC_SECONDS`, default 600).
    pub resync_seconds: u64,
}

/// The command line of `sources-controller`: every setting is an
/// environment variable (as upstream's controllers), or the flag of the
/// same name.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "sources-controller",
    version,
    about = "Reconciles VSphereSource, HorizonSource and VSphereBinding objects and serves their \
             admission webhooks.",
    long_about = "Reconciles VSphereSource, HorizonSource and VSphereBinding objects (adapter \
        Deployments, bindings, RBAC, sink resolution, status) and serves their admission \
        webhooks with certificates it manages itself.\n\n\
        Every replica serves the admission webhooks as soon as it listens with a certificate \
        (/readyz turns 200); one replica, elected with the Lease LEASE_NAME in SYSTEM_NAMESPACE, \
        reconciles and keeps the certificate Secret and the webhook configurations current. \
        The process exits when the webhook server stops or the lease is lost.\n\n\
        Every setting below is an environment variable, or the flag of the same name.",
    after_help = "Also read: KUBECONFIG (outside a cluster; in a Pod the ServiceAccount is used), \
        RUST_LOG (overrides the log levels of config-logging: loglevel.controller, \
        loglevel.webhook, followed live). Logs are JSON lines in Knative's zap shape on stderr."
)]
pub struct Cli {
    /// The vSphere adapter image.
    #[arg(long, env = "VSPHERE_ADAPTER", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub vsphere_adapter: String,
    /// The Horizon adapter image.
    #[arg(long, env = "HORIZON_SOURCE_RA_IMAGE", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub horizon_source_ra_image: String,
    /// The controller's namespace: its Lease, certificate Secret, config-logging,
    /// config-observability and Knative's config-features (from the Pod's metadata.namespace).
    #[arg(long, env = "SYSTEM_NAMESPACE", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub system_namespace: String,
    /// Only reconcile sources and bindings in this namespace (default: all).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// This replica's name: the leader-election identity and knative.dev/pod in logs
    /// (default: HOSTNAME).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// The logging ConfigMap: its zap-logger-config goes to the adapters, its levels
    /// (loglevel.controller, loglevel.webhook) apply here.
    #[arg(long, env = "CONFIG_LOGGING_NAME", default_value = "config-logging")]
    pub config_logging_name: String,
    /// The observability ConfigMap passed to the adapters as K_METRICS_CONFIG.
    #[arg(
        long,
        env = "CONFIG_OBSERVABILITY_NAME",
        default_value = "config-observability"
    )]
    pub config_observability_name: String,
    /// The metrics domain passed to the adapters.
    #[arg(
        long,
        env = "METRICS_DOMAIN",
        default_value = "tanzu.vmware.com/sources"
    )]
    pub metrics_domain: String,
    /// The port of /metrics, /healthz and /readyz (plain HTTP).
    #[arg(long, env = "METRICS_PORT", default_value_t = 9090)]
    pub metrics_port: u16,
    /// The leader-election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "sources-controller")]
    pub lease_name: String,
    /// How long a lease lasts without renewal, measured on each replica's own clock.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: i32,
    /// How often the leader renews.
    #[arg(long, env = "LEASE_RENEW_SECONDS", default_value_t = 5)]
    pub lease_renew_seconds: u64,
    /// A leader that has not renewed its lease for this long stops its writers and exits
    /// (kept below LEASE_DURATION_SECONDS, so it stops before another replica can take
    /// over). Default: two thirds of the lease duration.
    #[arg(long, env = "LEASE_RENEW_DEADLINE_SECONDS")]
    pub lease_renew_deadline_seconds: Option<u64>,
    /// Periodic re-reconcile of every source.
    #[arg(long, env = "RESYNC_SECONDS", default_value_t = 600)]
    pub resync_seconds: u64,
    /// The port of the admission webhooks (HTTPS, every address).
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 8443)]
    pub webhook_port: u16,
    /// The Service the webhook configurations point at (its DNS names are in the certificate).
    #[arg(
        long,
        env = "WEBHOOK_SERVICE_NAME",
        default_value = "vsphere-source-webhook"
    )]
    pub webhook_service_name: String,
    /// The Secret holding the webhook CA and serving certificate.
    #[arg(
        long,
        env = "WEBHOOK_SECRET_NAME",
        default_value = "vsphere-webhook-certs"
    )]
    pub webhook_secret_name: String,
    /// More names (DNS or IP) for the serving certificate, comma-separated.
    #[arg(long, env = "WEBHOOK_EXTRA_SANS", value_delimiter = ',')]
    pub webhook_extra_sans: Vec<String>,
    /// Which namespaces and objects the VSphereBinding webhook sees: all but those labelled
    /// bindings.knative.dev/exclude=true, or only those labelled bindings.knative.dev/include=true
    /// (subject namespaces are then labelled by the controller).
    #[arg(long, env = "VSPHERE_BINDING_SELECTION_MODE", default_value = "exclusion",
          value_parser = ["exclusion", "inclusion"])]
    pub vsphere_binding_selection_mode: String,
}

impl Cli {
    /// The controller's settings.
    pub fn settings(&self) -> Settings {
        let identity = self
            .pod_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "sources-controller".into());
        Settings {
            vsphere_adapter_image: self.vsphere_adapter.clone(),
            horizon_adapter_image: self.horizon_source_ra_image.clone(),
            system_namespace: self.system_namespace.clone(),
            metrics_domain: self.metrics_domain.clone(),
            config_logging_name: self.config_logging_name.clone(),
            config_observability_name: self.config_observability_name.clone(),
            watch_namespace: self.watch_namespace.clone().filter(|n| !n.is_empty()),
            metrics_port: self.metrics_port,
            identity,
            lease_name: self.lease_name.clone(),
            lease_duration_seconds: self.lease_duration_seconds,
            lease_renew_seconds: self.lease_renew_seconds,
            resync_seconds: self.resync_seconds,
        }
    }

    /// The webhooks' settings.
    pub fn webhook_settings(&self) -> crate::webhook::WebhookSettings {
        use crate::webhook::{SelectionMode, WebhookSettings};
        let mut s = WebhookSettings::new(&self.system_namespace);
        s.addr.set_port(self.webhook_port);
        s.service_name = self.webhook_service_name.clone();
        s.secret_name = self.webhook_secret_name.clone();
        s.extra_names = self
            .webhook_extra_sans
            .iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        s.selection_mode = if self.vsphere_binding_selection_mode == "inclusion" {
            SelectionMode::Inclusion
        } else {
            SelectionMode::Exclusion
        };
        s
    }
}

impl Settings {
    /// Settings for tests and embedding: the given images and namespace,
    /// defaults for the rest.
    pub fn new(vsphere_image: &str, horizon_image: &str, system_namespace: &str) -> Self {
        Self {
            vsphere_adapter_image: vsphere_image.into(),
            horizon_adapter_image: horizon_image.into(),
            system_namespace: system_namespace.into(),
            metrics_domain: "tanzu.vmware.com/sources".into(),
            config_logging_name: "config-logging".into(),
            config_observability_name: "config-observability".into(),
            watch_namespace: None,
            metrics_port: 9090,
            identity: "sources-controller".into(),
            lease_name: "sources-controller".into(),
            lease_duration_seconds: 15,
            lease_renew_seconds: 5,
            resync_seconds: 600,
        }
    }
}

/// The data of `config-logging` and `config-observability` (the `_example`
/// key removed), passed to the adapters as `K_LOGGING_CONFIG` and
/// `K_METRICS_CONFIG`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdapterConfig {
    /// `config-logging`'s data, if the ConfigMap exists.
    pub logging: Option<BTreeMap<String, String>>,
    /// `config-observability`'s data, if the ConfigMap exists.
    pub observability: Option<BTreeMap<String, String>>,
    /// Knative's `config-features` data, if the ConfigMap exists (see [`crate::oidc`]).
    pub features: Option<BTreeMap<String, String>>,
}

impl AdapterConfig {
    /// Whether `config-features` has `authentication-oidc: enabled`.
    pub fn oidc_enabled(&self) -> bool {
        crate::oidc::enabled(self.features.as_ref())
    }

    /// `K_LOGGING_CONFIG`: `{"zap-logger-config":"..."}`, or `""` when there
    /// is no zap configuration.
    pub fn logging_json(&self) -> String {
        match self
            .logging
            .as_ref()
            .and_then(|l| l.get("zap-logger-config"))
            .filter(|z| !z.is_empty())
        {
            Some(zap) => json!({"zap-logger-config": zap}).to_string(),
            None => String::new(),
        }
    }

    /// `K_METRICS_CONFIG` (Go field names, as upstream), or `""` without
    /// `config-observability`.
    pub fn metrics_json(&self, domain: &str, component: &str) -> String {
        match &self.observability {
            Some(data) => json!({
                "Domain": domain, "Component": component, "PrometheusPort": 0,
                "PrometheusHost": "", "ConfigMap": data,
            })
            .to_string(),
            None => String::new(),
        }
    }
}

impl AdapterConfig {
    /// `K_OBSERVABILITY_CONFIG` as Knative ≥ 1.19 renders it for its sources
    /// (`{"Tracing":{"protocol":…,"endpoint":…,"sampling_rate":…}}`), from
    /// `config-observability`'s `tracing-protocol`, `tracing-endpoint` and
    /// `tracing-sampling-rate`; `""` when it sets no `tracing-protocol` (the
    /// adapters' Deployments then stay as they were). A sampling rate that is
    /// not a number is passed as text, so the adapter's start-up error names it.
    pub fn observability_json(&self) -> String {
        let Some(data) = &self.observability else {
            return String::new();
        };
        let get = |k: &str| data.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let Some(protocol) = get("tracing-protocol") else {
            return String::new();
        };
        let mut tracing = serde_json::Map::new();
        tracing.insert("protocol".into(), protocol.into());
        if let Some(endpoint) = get("tracing-endpoint") {
            tracing.insert("endpoint".into(), endpoint.into());
        }
        if let Some(rate) = get("tracing-sampling-rate") {
            let value = match rate
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                Some(n) => serde_json::Value::Number(n),
                None => rate.into(),
            };
            tracing.insert("sampling_rate".into(), value);
        }
        json!({ "Tracing": tracing }).to_string()
    }
}

/// A ConfigMap's data without `_example`.
pub fn without_example(data: Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let mut data = data.unwrap_or_default();
    data.remove("_example");
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_config_json() {
        let mut c = AdapterConfig::default();
        assert_eq!(c.logging_json(), "");
        assert_eq!(c.metrics_json("d", "vspheresource"), "");
        c.logging = Some(BTreeMap::from([(
            "zap-logger-config".to_owned(),
            "{\"level\":\"info\"}".to_owned(),
        )]));
        assert_eq!(
            c.logging_json(),
            r#"{"zap-logger-config":"{\"level\":\"info\"}"}"#
        );
        c.observability = Some(BTreeMap::new());
        assert_eq!(
            c.metrics_json("tanzu.vmware.com/sources", "vspheresource"),
            r#"{"Component":"vspheresource","ConfigMap":{},"Domain":"tanzu.vmware.com/sources","PrometheusHost":"","PrometheusPort":0}"#
        );
        assert_eq!(c.observability_json(), "", "no tracing-protocol");
        c.observability = Some(BTreeMap::from([
            ("tracing-protocol".to_owned(), "http/protobuf".to_owned()),
            (
                "tracing-endpoint".to_owned(),
                "http://otel:4318/v1/traces".to_owned(),
            ),
            ("tracing-sampling-rate".to_owned(), "0.25".to_owned()),
        ]));
        assert_eq!(
            c.observability_json(),
            r#"{"Tracing":{"endpoint":"http://otel:4318/v1/traces","protocol":"http/protobuf","sampling_rate":0.25}}"#
        );
    }
}
