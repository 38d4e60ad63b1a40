//! `sources.tanzu.vmware.com/v1alpha1`: VSphereSource, VSphereBinding and
//! HorizonSource, with upstream's JSON names.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duck::{
    CloudEventOverrides, DeliverySpec, Destination, LocalObjectReference, SourceStatus, Status,
};
use crate::filter::{HorizonFilter, VSphereFilter};
use crate::overrides::AdapterOverrides;

/// The API group.
pub const GROUP: &str = "sources.tanzu.vmware.com";
/// The only version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every kind here.
pub const API_VERSION: &str = "sources.tanzu.vmware.com/v1alpha1";

fn is_false(b: &bool) -> bool {
    !*b
}

/// Checkpointing of the vSphere adapter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VCheckpointSpec {
    /// How far back (seconds) to replay events after a restart; 0 disables
    /// replay. When omitted: 300, as the user manual says (upstream's API
    /// stored 0).
    #[serde(default = "default_max_age")]
    #[schemars(range(min = 0), extend("default" = 300))]
    pub max_age_seconds: i64,
    /// How often (seconds) the checkpoint is saved; 0 means 10.
    #[serde(default = "default_period")]
    #[schemars(range(min = 0), extend("default" = 10))]
    pub period_seconds: i64,
}

fn default_max_age() -> i64 {
    300
}

fn default_period() -> i64 {
    10
}

impl Default for VCheckpointSpec {
    fn default() -> Self {
        Self {
            max_age_seconds: default_max_age(),
            period_seconds: default_period(),
        }
    }
}

/// The desired state of a VSphereSource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sources.tanzu.vmware.com",
    version = "v1alpha1",
    kind = "VSphereSource",
    plural = "vspheresources",
    singular = "vspheresource",
    namespaced,
    status = "SourceStatus",
    shortname = "vss",
    category = "all",
    category = "knative",
    category = "vsphere",
    category = "sources",
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.address"}"#,
    printcolumn = r#"{"name":"Sink","type":"string","jsonPath":".status.sinkUri"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].reason"}"#,
    doc = "A VSphereSource sends vCenter events as CloudEvents to a sink."
)]
#[serde(rename_all = "camelCase")]
pub struct VSphereSourceSpec {
    /// Where the events go.
    pub sink: Destination,
    /// Extensions added to every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
    /// The vCenter URL, e.g. `https://vcenter.corp.local`.
    #[schemars(length(min = 1))]
    pub address: String,
    /// Skip verification of vCenter's TLS certificate (not recommended; use
    /// `caCerts`).
    #[serde(default, rename = "skipTLSVerify", skip_serializing_if = "is_false")]
    pub skip_tls_verify: bool,
    /// A Secret of type `kubernetes.io/basic-auth` with vCenter credentials.
    pub secret_ref: LocalObjectReference,
    /// Checkpointing.
    #[serde(default)]
    pub checkpoint_config: VCheckpointSpec,
    /// `application/xml` (the default) or `application/json`, any case.
    #[serde(default = "default_encoding")]
    #[schemars(
        regex(pattern = r"^(?i)application/(xml|json)$"),
        extend("default" = "application/xml")
    )]
    pub payload_encoding: String,
    /// The ServiceAccount the adapter runs as; it must exist. When empty the
    /// controller creates a dedicated one, `<name>-adapter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// PEM CA certificates to trust for vCenter instead of the system roots
    /// (new: upstream issue #543).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certs: Option<String>,
    /// Only these vSphere event types (e.g. `VmPoweredOnEvent`, or an
    /// `EventEx` type id); all when empty (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// Only the events of these categories, of this inventory object, or of
    /// these users, applied by vCenter's collector (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<VSphereFilter>,
    /// Retries and a dead-letter sink for events the sink rejects (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
    /// Scheduling, resources, env, labels and annotations of the adapter's
    /// Pod (new; TriggerMesh's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_overrides: Option<AdapterOverrides>,
}

fn default_encoding() -> String {
    "application/xml".to_owned()
}

/// `tracker.Reference`: the subject of a binding, by name or by selector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// API version of the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace of the subject; the binding's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the subject (or use `selector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Label selector of the subjects (or use `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// The desired state of a VSphereBinding.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sources.tanzu.vmware.com",
    version = "v1alpha1",
    kind = "VSphereBinding",
    plural = "vspherebindings",
    singular = "vspherebinding",
    namespaced,
    status = "Status",
    shortname = "vsb",
    category = "all",
    category = "knative",
    category = "vsphere",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].reason"}"#,
    doc = "A VSphereBinding injects vCenter credentials into the pods of its subject."
)]
#[serde(rename_all = "camelCase")]
pub struct VSphereBindingSpec {
    /// The workload to inject into.
    pub subject: Reference,
    /// The vCenter URL.
    #[schemars(length(min = 1))]
    pub address: String,
    /// Skip verification of vCenter's TLS certificate.
    #[serde(default, rename = "skipTLSVerify", skip_serializing_if = "is_false")]
    pub skip_tls_verify: bool,
    /// A Secret of type `kubernetes.io/basic-auth` with vCenter credentials.
    pub secret_ref: LocalObjectReference,
    /// PEM CA certificates to trust for vCenter (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certs: Option<String>,
}

/// The desired state of a HorizonSource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sources.tanzu.vmware.com",
    version = "v1alpha1",
    kind = "HorizonSource",
    plural = "horizonsources",
    singular = "horizonsource",
    namespaced,
    status = "SourceStatus",
    shortname = "hs",
    category = "all",
    category = "knative",
    category = "eventing",
    category = "horizon",
    category = "sources",
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.address"}"#,
    printcolumn = r#"{"name":"Sink","type":"string","jsonPath":".status.sinkUri"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type=='Ready')].reason"}"#,
    doc = "A HorizonSource sends VMware Horizon audit events as CloudEvents to a sink."
)]
#[serde(rename_all = "camelCase")]
pub struct HorizonSourceSpec {
    /// Where the events go.
    pub sink: Destination,
    /// Extensions added to every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_overrides: Option<CloudEventOverrides>,
    /// The ServiceAccount the adapter runs as, created when missing; when
    /// empty, a dedicated `<name>-adapter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// The Horizon server URL.
    #[schemars(length(min = 1))]
    pub address: String,
    /// Skip verification of Horizon's TLS certificate.
    #[serde(default, rename = "skipTLSVerify", skip_serializing_if = "is_false")]
    pub skip_tls_verify: bool,
    /// A Secret with keys `domain`, `username` and `password`.
    pub secret_ref: LocalObjectReference,
    /// PEM CA certificates to trust for the Horizon server besides the system roots (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certs: Option<String>,
    /// Only the audit events of these types, modules or severities, applied
    /// by Horizon's query (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<HorizonFilter>,
    /// Retries and a dead-letter sink for events the sink rejects (new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliverySpec>,
    /// Scheduling, resources, env, labels and annotations of the adapter's
    /// Pod (new; TriggerMesh's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_overrides: Option<AdapterOverrides>,
}

/// The ServiceAccount of a source's adapter: `serviceAccountName`, or the
/// dedicated `<source>-adapter` the controller creates when none is given.
fn adapter_service_account(given: Option<&str>, source_name: &str) -> String {
    match given.filter(|s| !s.is_empty()) {
        Some(sa) => sa.to_owned(),
        None => crate::kmeta::child_name(source_name, "-adapter"),
    }
}

impl VSphereSourceSpec {
    /// The adapter's ServiceAccount for the source `source_name`:
    /// `serviceAccountName` (which must exist), or the dedicated
    /// `<source_name>-adapter` the controller creates.
    pub fn service_account(&self, source_name: &str) -> String {
        adapter_service_account(self.service_account_name.as_deref(), source_name)
    }
}

impl HorizonSourceSpec {
    /// The adapter's ServiceAccount for the source `source_name`:
    /// `serviceAccountName` (created when missing, as upstream), or the
    /// dedicated `<source_name>-adapter`.
    pub fn service_account(&self, source_name: &str) -> String {
        adapter_service_account(self.service_account_name.as_deref(), source_name)
    }
}

/// Labels every CRD of the group carries.
pub fn crd_labels(source: bool) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (
            "sources.tanzu.vmware.com/release".to_owned(),
            "devel".to_owned(),
        ),
        ("knative.dev/crd-install".to_owned(), "true".to_owned()),
    ]);
    if source {
        labels.insert("duck.knative.dev/source".to_owned(), "true".to_owned());
        labels.insert("eventing.knative.dev/source".to_owned(), "true".to_owned());
    } else {
        labels.insert("duck.knative.dev/binding".to_owned(), "true".to_owned());
    }
    labels
}
