//! Pure builders of the objects the controller owns, as server-side apply
//! documents (only the fields we own).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sources_api::kmeta::child_name;
use sources_api::v1alpha1::{API_VERSION, HorizonSource, VSphereSource};

use crate::config::{AdapterConfig, Settings};

/// The label on the vSphere adapter's Deployment and Pods.
pub const VSPHERE_NAME_LABEL: &str = "vspheresources.sources.tanzu.vmware.com/name";
/// The ClusterRole bound to the adapter's ServiceAccount.
pub const ADAPTER_CLUSTER_ROLE: &str = "vsphere-receive-adapter-cm";
/// The container port of the adapters' `/metrics`, `/healthz` and `/readyz`.
pub const ADAPTER_METRICS_PORT: i32 = adapter_env::default::METRICS_PORT as i32;
/// The adapter Pods' `terminationGracePeriodSeconds`: longer than the adapter's own shutdown.
pub const ADAPTER_TERMINATION_GRACE_SECONDS: i64 =
    adapter_env::termination_grace_period_seconds(adapter_env::default::SHUTDOWN_GRACE_SECONDS);

/// The label of a VSphereSource's children.
pub fn vsphere_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(VSPHERE_NAME_LABEL.to_owned(), name.to_owned())])
}

/// Child names of a VSphereSource (`kmeta.ChildName`, as upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VSphereChildren {
    /// `<name>-vspherebinding`.
    pub binding: String,
    /// `<name>-configmap`, the checkpoint store.
    pub configmap: String,
    /// `<name>-rolebinding`.
    pub rolebinding: String,
    /// `<name>-adapter`.
    pub deployment: String,
}

impl VSphereChildren {
    /// The names for source `name`.
    pub fn of(name: &str) -> Self {
        Self {
            binding: child_name(name, "-vspherebinding"),
            configmap: child_name(name, "-configmap"),
            rolebinding: child_name(name, "-rolebinding"),
            deployment: child_name(name, "-adapter"),
        }
    }
}

/// The controller owner reference to a source.
pub fn owner_ref(kind: &str, name: &str, uid: &str) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

fn meta(name: &str, ns: &str, owner: &Value) -> Value {
    json!({"name": name, "namespace": ns, "ownerReferences": [owner]})
}

/// Go's `time.Duration.String()` for whole seconds: `0s`, `10s`, `5m0s`,
/// `1h0m0s`.
pub fn go_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

/// The adapter container's `env`, from the one definition of the contract.
fn env_json(vars: &[adapter_env::EnvVar]) -> Vec<Value> {
    vars.iter()
        .map(|v| match &v.value {
            adapter_env::EnvValue::Value(value) => json!({"name": v.name, "value": value}),
            adapter_env::EnvValue::FieldRef(path) => {
                json!({"name": v.name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
            }
        })
        .collect()
}

/// `spec.delivery` for the adapter: the resolved dead-letter sink and the retry settings.
pub fn delivery_env(
    spec: Option<&sources_api::duck::DeliverySpec>,
    dead_letter_sink: Option<&str>,
) -> adapter_env::Delivery {
    adapter_env::Delivery {
        dead_letter_sink: dead_letter_sink.map(str::to_owned),
        retry: spec.and_then(|d| d.retry),
        backoff_policy: spec.and_then(|d| d.backoff_policy).map(|p| {
            match p {
                sources_api::duck::BackoffPolicy::Linear => "linear",
                sources_api::duck::BackoffPolicy::Exponential => "exponential",
            }
            .to_owned()
        }),
        backoff_delay: spec.and_then(|d| d.backoff_delay.clone()),
        timeout: spec.and_then(|d| d.timeout.clone()),
    }
}

fn common_env(
    sink: &ResolvedSink,
    ce_overrides: Option<&sources_api::duck::CloudEventOverrides>,
    delivery: &adapter_env::Delivery,
    config: &AdapterConfig,
    metrics_config: String,
) -> adapter_env::Common {
    adapter_env::Common {
        sink: sink.uri.clone(),
        sink_ca_certs: sink.ca_certs.clone(),
        ce_overrides: ce_overrides_json(ce_overrides),
        logging_config: config.logging_json(),
        metrics_config,
        delivery: delivery.clone(),
    }
}

/// `K_CE_OVERRIDES`: `{"extensions":{...}}`, or `""` without overrides.
pub fn ce_overrides_json(overrides: Option<&sources_api::duck::CloudEventOverrides>) -> String {
    match overrides {
        Some(o) => json!({"extensions": o.extensions.clone().unwrap_or_default()}).to_string(),
        None => String::new(),
    }
}

/// The VSphereBinding child: the adapter Deployment as subject, the
/// source's vCenter auth copied.
pub fn vsphere_binding(src: &VSphereSource, ns: &str, owner: &Value) -> Value {
    let names = VSphereChildren::of(&src.metadata.name.clone().unwrap_or_default());
    let mut spec = json!({
        "subject": {"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": names.deployment, "namespace": ns},
        "address": src.spec.address,
        "secretRef": {"name": src.spec.secret_ref.name},
    });
    if src.spec.skip_tls_verify {
        spec["skipTLSVerify"] = json!(true);
    }
    if let Some(ca) = &src.spec.ca_certs {
        spec["caCerts"] = json!(ca);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "VSphereBinding",
        "metadata": meta(&names.binding, ns, owner),
        "spec": spec,
    })
}

/// The (empty) checkpoint ConfigMap.
pub fn checkpoint_configmap(name: &str, ns: &str, owner: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, ns, owner)})
}

/// The RoleBinding that lets the adapter's ServiceAccount write its
/// checkpoint ConfigMap. `labels` let the controller watch only its own
/// RoleBindings ([`vsphere_labels`] or [`horizon_labels`]).
pub fn adapter_rolebinding(
    name: &str,
    ns: &str,
    sa: &str,
    owner: &Value,
    labels: &BTreeMap<String, String>,
) -> Value {
    let mut metadata = meta(name, ns, owner);
    metadata["labels"] = json!(labels);
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": ADAPTER_CLUSTER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "namespace": ns, "name": sa}],
    })
}

fn adapter_ports_and_probes(container: &mut Value) {
    container["ports"] = json!([{"name": "metrics", "containerPort": ADAPTER_METRICS_PORT}]);
    container["readinessProbe"] = json!({
        "httpGet": {"path": "/readyz", "port": "metrics"}, "periodSeconds": 10});
    container["livenessProbe"] = json!({
        "httpGet": {"path": "/healthz", "port": "metrics"},
        "periodSeconds": 10, "failureThreshold": 6, "initialDelaySeconds": 10});
    container["resources"] = json!({"requests": {"cpu": "25m", "memory": "32Mi"}});
    container["securityContext"] = json!({
        "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
        "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}});
}

/// What the sink resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedSink {
    /// The URI.
    pub uri: String,
    /// CA certificates for an HTTPS sink.
    pub ca_certs: Option<String>,
}

/// The vSphere adapter Deployment, with the Go controller's env plus
/// `K_CA_CERTS`, the delivery settings, probes, resource requests and a metrics port.
pub fn vsphere_deployment(
    src: &VSphereSource,
    ns: &str,
    owner: &Value,
    sink: &ResolvedSink,
    delivery: &adapter_env::Delivery,
    settings: &Settings,
    config: &AdapterConfig,
) -> Value {
    let name = src.metadata.name.clone().unwrap_or_default();
    let names = VSphereChildren::of(&name);
    let labels = vsphere_labels(&name);
    let cp = &src.spec.checkpoint_config;
    let period = if cp.period_seconds == 0 {
        10
    } else {
        cp.period_seconds
    };
    let checkpoint =
        json!({"maxAge": go_duration(cp.max_age_seconds), "period": go_duration(period)});
    let env = adapter_env::VsphereAdapterEnv {
        common: common_env(
            sink,
            src.spec.ce_overrides.as_ref(),
            delivery,
            config,
            config.metrics_json(&settings.metrics_domain, "vspheresource"),
        ),
        checkpoint_configmap: names.configmap.clone(),
        checkpoint_config: checkpoint.to_string(),
        payload_encoding: src.spec.payload_encoding.to_lowercase(),
        event_types: src.spec.event_types.clone().unwrap_or_default(),
    };
    let mut container = json!({
        "name": "adapter",
        "image": settings.vsphere_adapter_image,
        "env": env_json(&env.vars()),
    });
    adapter_ports_and_probes(&mut container);
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": names.deployment, "namespace": ns, "labels": labels,
                     "ownerReferences": [owner]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            // Never two adapters sending at once.
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": src.spec.service_account(),
                    "terminationGracePeriodSeconds": ADAPTER_TERMINATION_GRACE_SECONDS,
                    "containers": [container],
                },
            },
        },
    })
}

/// Labels of the Horizon adapter (Deployment, selector, Pods).
pub fn horizon_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "knative-eventing-source".to_owned(),
            "horizon-source-controller".to_owned(),
        ),
        ("knative-eventing-source-name".to_owned(), name.to_owned()),
    ])
}

/// Child names of a HorizonSource: the Go controller's Deployment, and the
/// checkpoint store with its RoleBinding (new: the Go Horizon adapter kept
/// no checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HorizonChildren {
    /// `<name>-configmap`, the checkpoint store (the adapter's default).
    pub configmap: String,
    /// `<name>-rolebinding`.
    pub rolebinding: String,
    /// `<name>-adapter`.
    pub deployment: String,
}

impl HorizonChildren {
    /// The names for source `name`.
    pub fn of(name: &str) -> Self {
        Self {
            configmap: child_name(name, "-configmap"),
            rolebinding: child_name(name, "-rolebinding"),
            deployment: child_name(name, "-adapter"),
        }
    }
}

/// The ServiceAccount a HorizonSource creates when missing.
pub fn horizon_service_account(sa: &str, src_name: &str, ns: &str, owner: &Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": sa, "namespace": ns, "labels": horizon_labels(src_name),
                     "ownerReferences": [owner]},
    })
}

/// The Horizon adapter Deployment, with the Go controller's env.
pub fn horizon_deployment(
    src: &HorizonSource,
    ns: &str,
    owner: &Value,
    sink: &ResolvedSink,
    delivery: &adapter_env::Delivery,
    settings: &Settings,
    config: &AdapterConfig,
) -> Value {
    let name = src.metadata.name.clone().unwrap_or_default();
    let labels = horizon_labels(&name);
    let secret = &src.spec.secret_ref.name;
    let env = adapter_env::HorizonAdapterEnv {
        common: common_env(
            sink,
            src.spec.ce_overrides.as_ref(),
            delivery,
            config,
            config.metrics_json(&settings.metrics_domain, "horizonsource"),
        ),
        name: name.clone(),
        namespace: ns.to_owned(),
        url: src.spec.address.clone(),
        insecure: src.spec.skip_tls_verify,
        metrics_domain: "knative.dev/eventing".to_owned(),
    };
    let envs = env_json(&env.vars());
    let mut container = json!({
        "name": "adapter",
        "image": settings.horizon_adapter_image,
        "env": envs,
        "volumeMounts": [{"name": secret, "mountPath": "/var/bindings/horizon", "readOnly": true}],
    });
    adapter_ports_and_probes(&mut container);
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": HorizonChildren::of(&name).deployment, "namespace": ns,
                     "labels": labels, "ownerReferences": [owner]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": src.spec.service_account(),
                    "terminationGracePeriodSeconds": ADAPTER_TERMINATION_GRACE_SECONDS,
                    "containers": [container],
                    "volumes": [{"name": secret, "secret": {"secretName": secret}}],
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(10), "10s");
        assert_eq!(go_duration(300), "5m0s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(3661), "1h1m1s");
    }

    #[test]
    fn child_names_match_upstream() {
        let n = VSphereChildren::of("s");
        assert_eq!(n.binding, "s-vspherebinding");
        assert_eq!(n.configmap, "s-configmap");
        assert_eq!(n.rolebinding, "s-rolebinding");
        assert_eq!(n.deployment, "s-adapter");
        let h = HorizonChildren::of("h");
        assert_eq!(h.configmap, "h-configmap");
        assert_eq!(h.rolebinding, "h-rolebinding");
        assert_eq!(h.deployment, "h-adapter");
    }

    #[test]
    fn the_binding_carries_the_vcenter_ca_certs() {
        let mut src: VSphereSource = serde_json::from_value(json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"sink": {"uri": "http://sink"}, "address": "https://vc",
                     "secretRef": {"name": "creds"}}
        }))
        .unwrap();
        let owner = owner_ref("VSphereSource", "s", "uid");
        let b = vsphere_binding(&src, "ns", &owner);
        assert!(b["spec"].get("caCerts").is_none(), "{b}");
        src.spec.ca_certs = Some("PEM".into());
        let b = vsphere_binding(&src, "ns", &owner);
        assert_eq!(b["spec"]["caCerts"], "PEM");
        assert_eq!(b["spec"]["subject"]["name"], "s-adapter");
    }
}
