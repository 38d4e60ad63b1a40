//! `spec.adapterOverrides` (TriggerMesh's name): what a source's owner may
//! change in its adapter's Pod: scheduling (`nodeSelector`, `tolerations`,
//! `affinity`, `priorityClassName`), `resources`, extra `env` (proxy
//! settings), and `labels` and `annotations` on the Pod. Nothing here reaches
//! the Pod's or the container's security settings, volumes or host
//! namespaces, so an adapter with overrides still passes Pod Security
//! "restricted".

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Overrides of the adapter's Pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterOverrides {
    /// Labels added to the adapter's Pods (not the controller's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations added to the adapter's Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Environment variables added to the adapter (e.g. `HTTPS_PROXY`,
    /// `NO_PROXY`); the ones the controller sets cannot be overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvOverride>>,
    /// The adapter container's requests and limits (`cpu`, `memory`), in
    /// place of the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceOverrides>,
    /// The Pod's `nodeSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// The Pod's tolerations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<TolerationOverride>>,
    /// The Pod's `affinity` (Kubernetes' `Affinity`: `nodeAffinity`,
    /// `podAffinity`, `podAntiAffinity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<k8s_openapi::api::core::v1::Affinity>,
    /// The Pod's `priorityClassName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// One environment variable with a literal value.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvOverride {
    /// The name, e.g. `HTTPS_PROXY`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// Requests and limits of the adapter container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceOverrides {
    /// Requests by resource name (`cpu`, `memory`), as Kubernetes
    /// quantities (`50m`, `64Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<BTreeMap<String, String>>,
    /// Limits by resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<BTreeMap<String, String>>,
}

/// A toleration of the adapter's Pod (Kubernetes' `Toleration`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TolerationOverride {
    /// The taint key (empty with `Exists`: every taint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Exists` or `Equal` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The taint value for `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; all when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// With `NoExecute`: how long the Pod stays once tainted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}
