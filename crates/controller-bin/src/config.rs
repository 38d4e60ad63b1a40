//! The controller's settings (environment, as upstream) and the adapter
//! configuration taken from the `config-logging` and `config-observability`
//! ConfigMaps.

use std::collections::BTreeMap;

use serde_json::json;

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A required variable is missing.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// A variable has a bad value.
    #[error("environment variable {name}: {message}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

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

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(name: &'static str) -> Result<String, SettingsError> {
    var(name).ok_or(SettingsError::Missing(name))
}

fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, SettingsError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| SettingsError::Invalid {
            name,
            message: format!("{v:?}: {e}"),
        }),
    }
}

impl Settings {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Ok(Self {
            vsphere_adapter_image: required("VSPHERE_ADAPTER")?,
            horizon_adapter_image: required("HORIZON_SOURCE_RA_IMAGE")?,
            system_namespace: required("SYSTEM_NAMESPACE")?,
            metrics_domain: var("METRICS_DOMAIN")
                .unwrap_or_else(|| "tanzu.vmware.com/sources".into()),
            config_logging_name: var("CONFIG_LOGGING_NAME")
                .unwrap_or_else(|| "config-logging".into()),
            config_observability_name: var("CONFIG_OBSERVABILITY_NAME")
                .unwrap_or_else(|| "config-observability".into()),
            watch_namespace: var("WATCH_NAMESPACE"),
            metrics_port: number("METRICS_PORT", 9090)?,
            identity: var("POD_NAME")
                .or_else(|| var("HOSTNAME"))
                .unwrap_or_else(|| "sources-controller".into()),
            lease_name: var("LEASE_NAME").unwrap_or_else(|| "sources-controller".into()),
            lease_duration_seconds: number("LEASE_DURATION_SECONDS", 15)?,
            lease_renew_seconds: number("LEASE_RENEW_SECONDS", 5)?,
            resync_seconds: number("RESYNC_SECONDS", 600)?,
        })
    }

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
}

impl AdapterConfig {
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
    }
}
