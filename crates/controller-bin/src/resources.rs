//! Pure builders of the objects the controller owns, as typed k8s-openapi
//! values for server-side apply (only the fields we own are set; unset
//! `Option`s are not sent).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext,
    ServiceAccount, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use sources_api::kmeta::child_name;
use sources_api::v1alpha1::{API_VERSION, HorizonSource, VSphereSource};

use crate::config::{AdapterConfig, Settings};

/// The label on the vSphere adapter's Deployment and Pods.
pub const VSPHERE_NAME_LABEL: &str = "vspheresources.sources.tanzu.vmware.com/name";
/// The container port of the adapters' `/metrics`, `/healthz` and `/readyz`.
pub const ADAPTER_METRICS_PORT: i32 = adapter_env::default::METRICS_PORT as i32;
/// The adapter Pods' `terminationGracePeriodSeconds`: longer than the adapter's own shutdown.
pub const ADAPTER_TERMINATION_GRACE_SECONDS: i64 =
    adapter_env::termination_grace_period_seconds(adapter_env::default::SHUTDOWN_GRACE_SECONDS);
/// The adapter container's requests and limits, sized from
/// `benches/adapter-measure.sh` (vSphere adapter, release build, 100,000
/// backlogged events): RSS 9.9 MiB idle and 13.1 MiB at the catch-up peak,
/// 2.86 CPU-seconds for the catch-up at 16,000 events/s (about half a core),
/// nothing measurable idle. The memory limit leaves room for one vCenter
/// response at its 64 MiB cap being decoded; the CPU limit never throttles
/// a catch-up.
pub const ADAPTER_RESOURCES: AdapterResources = AdapterResources {
    cpu_request: "25m",
    memory_request: "32Mi",
    cpu_limit: "1",
    memory_limit: "128Mi",
};

/// CPU and memory of the adapter container (Kubernetes quantities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdapterResources {
    /// CPU requested.
    pub cpu_request: &'static str,
    /// Memory requested.
    pub memory_request: &'static str,
    /// CPU limit.
    pub cpu_limit: &'static str,
    /// Memory limit.
    pub memory_limit: &'static str,
}

/// The label of a VSphereSource's children.
pub fn vsphere_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(VSPHERE_NAME_LABEL.to_owned(), name.to_owned())])
}

/// Child names of a VSphereSource (`kmeta.ChildName`, as upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VSphereChildren {
    /// `<name>-vspherebinding`: the Go controller's (and earlier releases')
    /// per-source VSphereBinding, retired (the controller renders the
    /// adapter's vCenter settings itself).
    pub binding: String,
    /// `<name>-configmap`, the checkpoint store.
    pub configmap: String,
    /// `<name>-checkpoint`: the Role that may read and write only the
    /// checkpoint ConfigMap.
    pub role: String,
    /// `<name>-rolebinding`.
    pub rolebinding: String,
    /// `<name>-adapter`: the Deployment, and the dedicated ServiceAccount
    /// when the source names none.
    pub deployment: String,
    /// `<name>-trust-bundles`: the trust bundles the adapter trusts
    /// ([`trust_bundles_configmap`]).
    pub trust_bundles: String,
}

impl VSphereChildren {
    /// The names for source `name`.
    pub fn of(name: &str) -> Self {
        Self {
            binding: child_name(name, "-vspherebinding"),
            configmap: child_name(name, "-configmap"),
            role: child_name(name, "-checkpoint"),
            rolebinding: child_name(name, "-rolebinding"),
            deployment: child_name(name, "-adapter"),
            trust_bundles: child_name(name, TRUST_BUNDLES_SUFFIX),
        }
    }
}

/// The controller owner reference to a source.
pub fn owner_ref(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn meta(
    name: &str,
    ns: &str,
    owner: &OwnerReference,
    labels: Option<&BTreeMap<String, String>>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(ns.to_owned()),
        labels: labels.cloned(),
        owner_references: Some(vec![owner.clone()]),
        ..ObjectMeta::default()
    }
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
fn env_vars(vars: &[adapter_env::EnvVar]) -> Vec<EnvVar> {
    vars.iter()
        .map(|v| match &v.value {
            adapter_env::EnvValue::Value(value) => EnvVar {
                name: v.name.to_owned(),
                value: Some(value.clone()),
                value_from: None,
            },
            adapter_env::EnvValue::FieldRef(path) => EnvVar {
                name: v.name.to_owned(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: (*path).to_owned(),
                        api_version: None,
                    }),
                    ..EnvVarSource::default()
                }),
            },
        })
        .collect()
}

/// `spec.delivery` for the adapter: the resolved dead-letter sink (its URI and CA certificates)
/// and the retry settings.
pub fn delivery_env(
    spec: Option<&sources_api::duck::DeliverySpec>,
    dead_letter_sink: Option<&ResolvedSink>,
) -> adapter_env::Delivery {
    adapter_env::Delivery {
        dead_letter_sink: dead_letter_sink.map(|d| d.uri.clone()),
        dead_letter_sink_ca_certs: dead_letter_sink
            .and_then(|d| d.ca_certs.clone())
            .filter(|c| !c.trim().is_empty()),
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
        identity: None,
    }
}

fn common_env(
    sink: &ResolvedSink,
    ce_overrides: Option<&sources_api::duck::CloudEventOverrides>,
    delivery: &adapter_env::Delivery,
    config: &AdapterConfig,
    metrics_config: String,
    meta: &ObjectMeta,
) -> adapter_env::Common {
    adapter_env::Common {
        sink: sink.uri.clone(),
        sink_ca_certs: sink.ca_certs.clone(),
        ce_overrides: ce_overrides_json(ce_overrides),
        logging_config: config.logging_json(),
        metrics_config,
        observability_config: config.observability_json(),
        delivery: delivery.clone(),
        replay: sources_api::v1alpha1::replay_request(meta.annotations.as_ref()),
        lease: None,
    }
}

/// `K_CE_OVERRIDES`: `{"extensions":{...}}`, or `""` without overrides.
pub fn ce_overrides_json(overrides: Option<&sources_api::duck::CloudEventOverrides>) -> String {
    match overrides {
        Some(o) => json!({"extensions": o.extensions.clone().unwrap_or_default()}).to_string(),
        None => String::new(),
    }
}

/// The vCenter settings of a VSphereSource's adapter, rendered into its
/// Deployment exactly as a VSphereBinding's `Do` injects them (the same
/// volume `vsphere-binding` at `/var/bindings/vsphere`, the same env
/// entries in the same order: `VC_URL`, `VC_INSECURE`, `VC_USERNAME`,
/// `VC_PASSWORD` from the Secret, and `VC_CA_CERTS` from `spec.caCerts`).
/// The Go controller made a per-source VSphereBinding for this; rendering
/// them here keeps every adapter Deployment out of the binding webhook.
fn vcenter_settings(src: &VSphereSource) -> (Vec<EnvVar>, Volume, VolumeMount) {
    let secret = &src.spec.secret_ref.name;
    let from_secret = |name: &str, key: &str| EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.clone(),
                key: key.to_owned(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    };
    let value = |name: &str, value: String| EnvVar {
        name: name.to_owned(),
        value: Some(value),
        value_from: None,
    };
    let mut env = vec![
        value("VC_URL", src.spec.address.clone()),
        value("VC_INSECURE", src.spec.skip_tls_verify.to_string()),
        from_secret("VC_USERNAME", "username"),
        from_secret("VC_PASSWORD", "password"),
    ];
    if let Some(ca) = src.spec.ca_certs.as_ref().filter(|c| !c.trim().is_empty()) {
        env.push(value("VC_CA_CERTS", ca.clone()));
    }
    let volume = Volume {
        name: crate::binding::VOLUME_NAME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.clone()),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: crate::binding::VOLUME_NAME.to_owned(),
        mount_path: crate::binding::MOUNT_PATH.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    (env, volume, mount)
}

/// The label of Knative's trust bundles: ConfigMaps of CA certificates that
/// every sender trusts for https sinks (in the system namespace: cluster-wide;
/// in a namespace: for the sources there).
pub const TRUST_BUNDLE_LABEL: &str = "networking.knative.dev/trust-bundle";
/// Where the adapter reads its trust bundles, as Knative's adapters do.
pub const TRUST_BUNDLES_MOUNT: &str = adapter_env::default::TRUST_BUNDLES_DIR;
/// The pod-template annotation holding a digest of the trust bundles: a
/// changed bundle rolls the adapter, which reads them at start-up.
pub const TRUST_BUNDLES_DIGEST_ANNOTATION: &str = "sources.tanzu.vmware.com/trust-bundles-digest";
const TRUST_BUNDLES_SUFFIX: &str = "-trust-bundles";
const TRUST_BUNDLES_VOLUME: &str = "trust-bundles";

/// The copy of the trust bundles a source's adapter mounts: one key per
/// bundle key, `<namespace>.<configmap>.<key>` (a Pod mounts only ConfigMaps
/// of its own namespace, so the system namespace's bundles are copied).
pub fn trust_bundles_configmap(
    name: &str,
    ns: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
    data: BTreeMap<String, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: meta(name, ns, owner, Some(labels)),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// A digest of trust-bundle `data` (64-bit FNV-1a over keys and values, hex):
/// stable across releases, only used to notice a change.
pub fn trust_bundles_digest(data: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in data {
        for b in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Mounts the trust-bundle ConfigMap `configmap` at [`TRUST_BUNDLES_MOUNT`]
/// in the adapter container of `deployment`, and records `digest` on its
/// pod template.
pub fn mount_trust_bundles(deployment: &mut Deployment, configmap: &str, digest: &str) {
    let Some(spec) = deployment.spec.as_mut() else {
        return;
    };
    let template = &mut spec.template;
    template
        .metadata
        .get_or_insert_with(ObjectMeta::default)
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            TRUST_BUNDLES_DIGEST_ANNOTATION.to_owned(),
            digest.to_owned(),
        );
    let Some(pod) = template.spec.as_mut() else {
        return;
    };
    pod.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: TRUST_BUNDLES_VOLUME.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: configmap.to_owned(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    });
    for c in &mut pod.containers {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: TRUST_BUNDLES_VOLUME.to_owned(),
                mount_path: TRUST_BUNDLES_MOUNT.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            });
    }
}

/// The (empty) checkpoint ConfigMap.
pub fn checkpoint_configmap(name: &str, ns: &str, owner: &OwnerReference) -> ConfigMap {
    ConfigMap {
        metadata: meta(name, ns, owner, None),
        ..ConfigMap::default()
    }
}

/// The Role that lets an adapter read and write its checkpoint ConfigMap
/// `configmap`, and nothing else (the controller creates the ConfigMap).
pub fn checkpoint_role(
    name: &str,
    ns: &str,
    configmap: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
) -> Role {
    Role {
        metadata: meta(name, ns, owner, Some(labels)),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".into()]),
            resource_names: Some(vec![configmap.to_owned()]),
            // What the adapter's ConfigMap store does: get, and update (replace)
            // with the resourceVersion it read.
            verbs: vec!["get".into(), "update".into()],
            non_resource_urls: None,
        }]),
    }
}

/// The RoleBinding of the checkpoint Role `role` to the adapter's
/// ServiceAccount `sa`. `labels` let the controller watch only its own
/// children ([`vsphere_labels`] or [`horizon_labels`]).
pub fn adapter_rolebinding(
    name: &str,
    ns: &str,
    sa: &str,
    role: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, ns, owner, Some(labels)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: role.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: sa.to_owned(),
            namespace: Some(ns.to_owned()),
            api_group: None,
        }]),
    }
}

/// A ServiceAccount the controller makes for an adapter (owned by the
/// source, labelled as its other children).
pub fn adapter_service_account(
    sa: &str,
    ns: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(sa, ns, owner, Some(labels)),
        ..ServiceAccount::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect()
}

/// The adapter container: image, env, metrics port, probes, resources and
/// a security context that passes Pod Security "restricted".
fn adapter_container(image: &str, env: Vec<EnvVar>) -> Container {
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("metrics".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        ..Probe::default()
    };
    let r = ADAPTER_RESOURCES;
    Container {
        name: "adapter".into(),
        image: Some(image.to_owned()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".into()),
            container_port: ADAPTER_METRICS_PORT,
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe("/readyz")),
        liveness_probe: Some(Probe {
            failure_threshold: Some(6),
            initial_delay_seconds: Some(10),
            ..probe("/healthz")
        }),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(&[
                ("cpu", r.cpu_request),
                ("memory", r.memory_request),
            ])),
            limits: Some(quantities(&[
                ("cpu", r.cpu_limit),
                ("memory", r.memory_limit),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// The adapter Deployment around `container`: one replica, `Recreate`
/// (never two adapters sending at once), RuntimeDefault seccomp.
fn adapter_deployment(
    name: &str,
    ns: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
    service_account: &str,
    container: Container,
    volumes: Option<Vec<Volume>>,
) -> Deployment {
    Deployment {
        metadata: meta(name, ns, owner, Some(labels)),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(service_account.to_owned()),
                    termination_grace_period_seconds: Some(ADAPTER_TERMINATION_GRACE_SECONDS),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes,
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// What the sink resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedSink {
    /// The URI.
    pub uri: String,
    /// CA certificates for an HTTPS sink.
    pub ca_certs: Option<String>,
    /// Its OIDC audience: the destination's `audience`, else the Addressable's address's.
    pub audience: Option<String>,
}

/// The vSphere adapter Deployment, with the Go controller's env plus
/// `K_CA_CERTS`, the delivery settings, probes, resources and a metrics port.
pub fn vsphere_deployment(
    src: &VSphereSource,
    ns: &str,
    owner: &OwnerReference,
    sink: &ResolvedSink,
    delivery: &adapter_env::Delivery,
    settings: &Settings,
    config: &AdapterConfig,
) -> Deployment {
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
            &src.metadata,
        ),
        checkpoint_configmap: names.configmap.clone(),
        checkpoint_config: checkpoint.to_string(),
        payload_encoding: src.spec.payload_encoding.to_lowercase(),
        event_types: src.spec.event_types.clone().unwrap_or_default(),
        event_filter: src
            .spec
            .filter
            .as_ref()
            .and_then(|f| serde_json::to_string(f).ok()),
    };
    let mut env = env;
    if standby(src.spec.replicas) {
        env.common.lease = Some(names.deployment.clone());
    }
    let (vcenter, volume, mount) = vcenter_settings(src);
    let mut env = env_vars(&env.vars());
    env.extend(vcenter);
    let mut container = adapter_container(&settings.vsphere_adapter_image, env);
    container.volume_mounts = Some(vec![mount]);
    let mut deployment = adapter_deployment(
        &names.deployment,
        ns,
        owner,
        &labels,
        &src.spec.service_account(&name),
        container,
        Some(vec![volume]),
    );
    set_replicas(&mut deployment, src.spec.replicas);
    apply_overrides(&mut deployment, src.spec.adapter_overrides.as_ref());
    deployment
}

/// Whether `replicas` asks for an active adapter and a standby.
pub fn standby(replicas: Option<i32>) -> bool {
    replicas == Some(2)
}

/// The adapter Deployment's replicas: 2 for an adapter and its standby, else 1.
fn set_replicas(deployment: &mut Deployment, replicas: Option<i32>) {
    if let Some(spec) = deployment.spec.as_mut() {
        spec.replicas = Some(if standby(replicas) { 2 } else { 1 });
    }
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
/// checkpoint store with its Role and RoleBinding (new: the Go Horizon
/// adapter kept no checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HorizonChildren {
    /// `<name>-configmap`, the checkpoint store (the adapter's default).
    pub configmap: String,
    /// `<name>-checkpoint`.
    pub role: String,
    /// `<name>-rolebinding`.
    pub rolebinding: String,
    /// `<name>-adapter`: the Deployment, and the dedicated ServiceAccount
    /// when the source names none.
    pub deployment: String,
    /// `<name>-trust-bundles`: the trust bundles the adapter trusts
    /// ([`trust_bundles_configmap`]).
    pub trust_bundles: String,
}

impl HorizonChildren {
    /// The names for source `name`.
    pub fn of(name: &str) -> Self {
        Self {
            configmap: child_name(name, "-configmap"),
            role: child_name(name, "-checkpoint"),
            rolebinding: child_name(name, "-rolebinding"),
            deployment: child_name(name, "-adapter"),
            trust_bundles: child_name(name, TRUST_BUNDLES_SUFFIX),
        }
    }
}

/// The Horizon adapter Deployment, with the Go controller's env.
pub fn horizon_deployment(
    src: &HorizonSource,
    ns: &str,
    owner: &OwnerReference,
    sink: &ResolvedSink,
    delivery: &adapter_env::Delivery,
    settings: &Settings,
    config: &AdapterConfig,
) -> Deployment {
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
            &src.metadata,
        ),
        name: name.clone(),
        namespace: ns.to_owned(),
        url: src.spec.address.clone(),
        insecure: src.spec.skip_tls_verify,
        ca_certs: src.spec.ca_certs.clone(),
        metrics_domain: "knative.dev/eventing".to_owned(),
        event_filter: src.spec.filter.as_ref().map(horizon_filter_json),
    };
    let mut env = env;
    if standby(src.spec.replicas) {
        env.common.lease = Some(HorizonChildren::of(&name).deployment);
    }
    let mut container = adapter_container(&settings.horizon_adapter_image, env_vars(&env.vars()));
    container.volume_mounts = Some(vec![VolumeMount {
        name: secret.clone(),
        mount_path: adapter_env::default::HORIZON_SECRET_PATH.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }]);
    let volumes = vec![Volume {
        name: secret.clone(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.clone()),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }];
    let mut deployment = adapter_deployment(
        &HorizonChildren::of(&name).deployment,
        ns,
        owner,
        &labels,
        &src.spec.service_account(&name),
        container,
        Some(volumes),
    );
    set_replicas(&mut deployment, src.spec.replicas);
    apply_overrides(&mut deployment, src.spec.adapter_overrides.as_ref());
    deployment
}

/// A HorizonSource's `spec.filter` as the adapter reads it: severities upper
/// case (admission accepts any case).
fn horizon_filter_json(f: &sources_api::filter::HorizonFilter) -> String {
    let mut f = f.clone();
    if let Some(s) = f.severities.as_mut() {
        for v in s.iter_mut() {
            *v = v.to_ascii_uppercase();
        }
    }
    serde_json::to_string(&f).unwrap_or_default()
}

/// Applies a source's `spec.adapterOverrides` to its adapter `deployment`:
/// labels and annotations onto the Pod template (never replacing the
/// controller's own), env appended (never replacing a variable the
/// controller sets), requests and limits by resource name, and the
/// scheduling fields. Admission refuses what would be skipped here; the
/// skipping only guards objects stored while the webhook was away.
pub fn apply_overrides(
    deployment: &mut Deployment,
    overrides: Option<&sources_api::overrides::AdapterOverrides>,
) {
    let Some(o) = overrides else {
        return;
    };
    let Some(spec) = deployment.spec.as_mut() else {
        return;
    };
    let template = &mut spec.template;
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    for (to, from) in [
        (&mut meta.labels, &o.labels),
        (&mut meta.annotations, &o.annotations),
    ] {
        let to = to.get_or_insert_with(BTreeMap::new);
        for (k, v) in from.iter().flatten() {
            if !to.contains_key(k) && !k.starts_with(OWN_PREFIX) {
                to.insert(k.clone(), v.clone());
            }
        }
    }
    let Some(pod) = template.spec.as_mut() else {
        return;
    };
    if let Some(c) = pod.containers.first_mut() {
        let env = c.env.get_or_insert_with(Vec::new);
        for e in o.env.iter().flatten() {
            if !env.iter().any(|have| have.name == e.name) {
                env.push(EnvVar {
                    name: e.name.clone(),
                    value: Some(e.value.clone()),
                    value_from: None,
                });
            }
        }
        if let Some(r) = &o.resources {
            let have = c
                .resources
                .get_or_insert_with(ResourceRequirements::default);
            for (to, from) in [
                (&mut have.requests, &r.requests),
                (&mut have.limits, &r.limits),
            ] {
                let to = to.get_or_insert_with(BTreeMap::new);
                for (k, v) in from.iter().flatten() {
                    to.insert(k.clone(), Quantity(v.clone()));
                }
            }
        }
    }
    if let Some(n) = &o.node_selector {
        pod.node_selector = Some(n.clone());
    }
    if let Some(t) = &o.tolerations {
        pod.tolerations = Some(
            t.iter()
                .map(|t| Toleration {
                    key: t.key.clone(),
                    operator: t.operator.clone(),
                    value: t.value.clone(),
                    effect: t.effect.clone(),
                    toleration_seconds: t.toleration_seconds,
                })
                .collect(),
        );
    }
    if let Some(a) = &o.affinity {
        pod.affinity = Some(a.clone());
    }
    if let Some(p) = &o.priority_class_name {
        pod.priority_class_name = Some(p.clone());
    }
}

/// Labels and annotations under this prefix are the controller's.
pub const OWN_PREFIX: &str = "sources.tanzu.vmware.com/";

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
        assert_eq!(n.role, "s-checkpoint");
        assert_eq!(n.rolebinding, "s-rolebinding");
        assert_eq!(n.deployment, "s-adapter");
        let h = HorizonChildren::of("h");
        assert_eq!(h.configmap, "h-configmap");
        assert_eq!(h.rolebinding, "h-rolebinding");
        assert_eq!(h.deployment, "h-adapter");
    }

    fn source() -> VSphereSource {
        serde_json::from_value(json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"sink": {"uri": "http://sink"}, "address": "https://vc",
                     "secretRef": {"name": "creds"}}
        }))
        .unwrap()
    }

    /// The adapter Deployment of `src`, with a URI sink and default settings.
    fn rendered(src: &VSphereSource) -> Deployment {
        vsphere_deployment(
            src,
            "ns",
            &owner_ref("VSphereSource", "s", "uid"),
            &ResolvedSink {
                uri: "http://sink".into(),
                ..ResolvedSink::default()
            },
            &adapter_env::Delivery::default(),
            &Settings::new("img", "himg", "sys"),
            &AdapterConfig::default(),
        )
    }

    #[test]
    fn the_adapter_gets_its_vcenter_settings_as_the_binding_injected_them() {
        let mut src = source();
        src.spec.skip_tls_verify = true;
        let rendered = |src: &VSphereSource| serde_json::to_value(rendered(src)).unwrap();
        let d = rendered(&src);
        // What the binding's Do would make of it changes nothing.
        let mut bound = d.clone();
        crate::binding::do_binding(
            &crate::binding::BindingParams {
                address: "https://vc".into(),
                skip_tls_verify: true,
                secret: "creds".into(),
                ca_certs: None,
            },
            &mut bound,
        );
        assert_eq!(bound, d);
        assert!(!d.to_string().contains("VC_CA_CERTS"));
        src.spec.ca_certs = Some("PEM".into());
        let d = rendered(&src);
        let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(
            env.last().unwrap(),
            &json!({"name": "VC_CA_CERTS", "value": "PEM"})
        );
        assert!(d.get("status").is_none(), "{d}");
    }

    #[test]
    fn the_checkpoint_role_names_only_the_configmap() {
        let owner = owner_ref("VSphereSource", "s", "uid");
        let role = serde_json::to_value(checkpoint_role(
            "s-checkpoint",
            "ns",
            "s-configmap",
            &owner,
            &vsphere_labels("s"),
        ))
        .unwrap();
        assert_eq!(
            role["rules"],
            json!([{"apiGroups": [""], "resources": ["configmaps"],
                    "resourceNames": ["s-configmap"], "verbs": ["get", "update"]}])
        );
        let rb = serde_json::to_value(adapter_rolebinding(
            "s-rolebinding",
            "ns",
            "s-adapter",
            "s-checkpoint",
            &owner,
            &vsphere_labels("s"),
        ))
        .unwrap();
        assert_eq!(
            rb["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "s-checkpoint"})
        );
    }

    #[test]
    fn the_adapter_pod_is_restricted_and_limited() {
        let d = rendered(&source());
        let v = serde_json::to_value(&d).unwrap();
        let pod = &v["spec"]["template"]["spec"];
        assert_eq!(
            pod["serviceAccountName"], "s-adapter",
            "the dedicated account"
        );
        assert_eq!(
            pod["securityContext"],
            json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
        );
        let c = &pod["containers"][0];
        assert_eq!(
            c["resources"]["limits"]["memory"],
            ADAPTER_RESOURCES.memory_limit
        );
        assert_eq!(
            c["securityContext"]["capabilities"],
            json!({"drop": ["ALL"]})
        );
        assert!(v.get("status").is_none(), "{v}");
        assert_eq!(
            c["env"][0],
            json!({"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}})
        );
    }
}
