//! The sources-controller against a real kube-apiserver (kube-harness): the
//! children it creates, field by field, status conditions, failures, sink
//! resolution, spec changes, configuration changes, leader election and the
//! HTTP endpoints.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube_harness::KubeApiServer;
use serde_json::{Value, json};
use sources_api::v1alpha1::{HorizonSource, VSphereBinding, VSphereSource};
use sources_controller::leader::LeaderElector;
use sources_controller::{Metrics, Settings, run_controllers};
use tokio::sync::oneshot;

use crate::support::{condition, eventually, install_our_crds};

const VSPHERE_IMAGE: &str = "registry.test/vsphere-adapter:dev";
const HORIZON_IMAGE: &str = "registry.test/horizon-adapter:dev";

/// A test namespace with the CRDs installed and a controller watching only
/// it (its own system namespace too); stopped when dropped.
struct Env {
    client: Client,
    ns: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Env {
    async fn new(prefix: &str) -> Self {
        let server = KubeApiServer::shared();
        let client = server.client().await.expect("client");
        install_our_crds(server, &client).await;
        let ns = server
            .create_namespace(&client, prefix)
            .await
            .expect("namespace");
        let mut settings = Settings::new(VSPHERE_IMAGE, HORIZON_IMAGE, &ns);
        settings.watch_namespace = Some(ns.clone());
        settings.identity = format!("test-{ns}");
        let (stop, stopped) = oneshot::channel::<()>();
        let c = client.clone();
        let task = tokio::spawn(async move {
            run_controllers(c, settings, Default::default(), async move {
                let _ = stopped.await;
            })
            .await
            .expect("controller");
        });
        Self {
            client,
            ns,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create<K>(&self, value: Value) -> K
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let obj: K = serde_json::from_value(value).expect("object");
        self.api::<K>()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create")
    }

    /// The default ServiceAccount, a Secret with credentials and a Service.
    async fn basics(&self) {
        self.create::<ServiceAccount>(json!({"metadata": {"name": "default"}}))
            .await;
        self.create::<Secret>(json!({"metadata": {"name": "creds"},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": "user", "password": "pass"}}))
            .await;
        self.create::<Service>(json!({"metadata": {"name": "display"},
            "spec": {"ports": [{"port": 80}]}}))
            .await;
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn vsphere_source(name: &str, sink: Value) -> Value {
    json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource",
        "metadata": {"name": name},
        "spec": {"sink": sink, "address": "https://vc.local", "secretRef": {"name": "creds"}}
    })
}

async fn status_of<K>(env: &Env, name: &str) -> Value
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let obj = env.api::<K>().get(name).await.expect("get");
    serde_json::to_value(obj).expect("json")["status"].clone()
}

async fn wait_condition<K>(env: &Env, name: &str, type_: &str, status: &str) -> (String, String)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    eventually(&format!("{type_}={status} on {name}"), || async {
        let s = status_of::<K>(env, name).await;
        condition(&s, type_)
            .filter(|(st, _, _)| st == status)
            .map(|(_, r, m)| (r, m))
    })
    .await
}

async fn mark_available(env: &Env, deployment: &str) {
    let api = env.api::<Deployment>();
    let status = json!({"status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1,
        "conditions": [{"type": "Available", "status": "True",
                        "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability."}]}});
    api.patch_status(deployment, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("deployment status");
}

fn env_map(dep: &Deployment) -> Vec<(String, Value)> {
    let c = &dep
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    c.env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let v = match (e.value, e.value_from) {
                (Some(v), _) => json!(v),
                (None, Some(from)) => match (from.field_ref, from.secret_key_ref) {
                    (Some(f), _) => json!(f.field_path),
                    (None, Some(k)) => json!({"secret": k.name, "key": k.key}),
                    (None, None) => json!(null),
                },
                (None, None) => json!(""),
            };
            (e.name, v)
        })
        .collect()
}

fn assert_owned_by(meta: &kube::api::ObjectMeta, kind: &str, name: &str, uid: &str) {
    let refs = meta.owner_references.clone().unwrap_or_default();
    assert_eq!(refs.len(), 1, "{refs:?}");
    let r = &refs[0];
    assert_eq!(r.api_version, "sources.tanzu.vmware.com/v1alpha1");
    assert_eq!(r.kind, kind);
    assert_eq!(r.name, name);
    assert_eq!(r.uid, uid);
    assert_eq!(r.controller, Some(true));
    assert_eq!(r.block_owner_deletion, Some(true));
}

/// The checkpoint ConfigMap `<name>-configmap`, the Role `<name>-checkpoint`
/// allowing only that ConfigMap, and the RoleBinding `<name>-rolebinding`
/// granting it to the adapter's ServiceAccount `sa`, all owned by the source.
async fn assert_checkpoint_children(
    env: &Env,
    kind: &str,
    name: &str,
    uid: &str,
    sa: &str,
    labels: &BTreeMap<String, String>,
) {
    let cm = env
        .api::<ConfigMap>()
        .get(&format!("{name}-configmap"))
        .await
        .unwrap();
    assert_owned_by(&cm.metadata, kind, name, uid);
    let role = env
        .api::<Role>()
        .get(&format!("{name}-checkpoint"))
        .await
        .unwrap();
    assert_owned_by(&role.metadata, kind, name, uid);
    assert_eq!(role.metadata.labels.as_ref(), Some(labels));
    assert_eq!(
        serde_json::to_value(role.rules.unwrap()).unwrap(),
        json!([{"apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": [format!("{name}-configmap")],
                "verbs": ["get", "update"]}])
    );
    let rb = env
        .api::<RoleBinding>()
        .get(&format!("{name}-rolebinding"))
        .await
        .unwrap();
    assert_owned_by(&rb.metadata, kind, name, uid);
    assert_eq!(rb.metadata.labels.as_ref(), Some(labels));
    assert_eq!(rb.role_ref.kind, "Role");
    assert_eq!(rb.role_ref.name, format!("{name}-checkpoint"));
    let subjects = rb.subjects.unwrap();
    assert_eq!(subjects.len(), 1);
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(subjects[0].name, sa);
    assert_eq!(subjects[0].namespace.as_deref(), Some(env.ns.as_str()));
}

async fn warning_reasons(env: &Env, object: &str) -> Vec<String> {
    env.api::<K8sEvent>()
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(object))
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test]
async fn vsphere_source_children_status_and_ready() {
    let env = Env::new("vss").await;
    env.basics().await;
    let src: VSphereSource = env
        .create(vsphere_source(
            "s",
            json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}}),
        ))
        .await;
    let uid = src.metadata.uid.clone().unwrap();
    let ns = env.ns.clone();

    let dep = eventually("the adapter Deployment", || async {
        env.api::<Deployment>().get_opt("s-adapter").await.unwrap()
    })
    .await;
    assert_owned_by(&dep.metadata, "VSphereSource", "s", &uid);
    let labels = BTreeMap::from([(
        "vspheresources.sources.tanzu.vmware.com/name".to_owned(),
        "s".to_owned(),
    )]);
    assert_eq!(dep.metadata.labels.as_ref(), Some(&labels));
    let spec = dep.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.selector.match_labels.as_ref(), Some(&labels));
    assert_eq!(spec.strategy.unwrap().type_.as_deref(), Some("Recreate"));
    let pod = spec.template.spec.clone().unwrap();
    assert_eq!(
        spec.template.metadata.unwrap().labels.as_ref(),
        Some(&labels)
    );
    // No serviceAccountName: a dedicated ServiceAccount, owned by the source.
    assert_eq!(pod.service_account_name.as_deref(), Some("s-adapter"));
    let sa = env.api::<ServiceAccount>().get("s-adapter").await.unwrap();
    assert_owned_by(&sa.metadata, "VSphereSource", "s", &uid);
    assert_eq!(sa.metadata.labels.as_ref(), Some(&labels));
    assert_eq!(
        serde_json::to_value(&pod.security_context).unwrap(),
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    assert_eq!(c.name, "adapter");
    assert_eq!(c.image.as_deref(), Some(VSPHERE_IMAGE));
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 9090);
    assert!(c.readiness_probe.is_some() && c.liveness_probe.is_some());
    let resources = c.resources.as_ref().unwrap();
    assert!(resources.requests.is_some());
    let limits = resources.limits.as_ref().unwrap();
    assert!(
        limits.contains_key("cpu") && limits.contains_key("memory"),
        "{limits:?}"
    );
    let want: Vec<(String, Value)> = [
        ("NAMESPACE", json!("metadata.namespace")),
        ("NAME", json!("metadata.name")),
        ("K_METRICS_CONFIG", json!("")),
        ("K_LOGGING_CONFIG", json!("")),
        ("VSPHERE_KVSTORE_CONFIGMAP", json!("s-configmap")),
        (
            "VSPHERE_CHECKPOINT_CONFIG",
            json!(r#"{"maxAge":"5m0s","period":"10s"}"#),
        ),
        ("VSPHERE_PAYLOAD_ENCODING", json!("application/xml")),
        ("K_CE_OVERRIDES", json!("")),
        (
            "K_SINK",
            json!(format!("http://display.{ns}.svc.cluster.local")),
        ),
        ("METRICS_PROMETHEUS_PORT", json!("9090")),
        // The vCenter settings, as the Go controller's VSphereBinding injected them.
        ("VC_URL", json!("https://vc.local")),
        ("VC_INSECURE", json!("false")),
        ("VC_USERNAME", json!({"secret": "creds", "key": "username"})),
        ("VC_PASSWORD", json!({"secret": "creds", "key": "password"})),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(env_map(&dep), want);
    assert_eq!(
        serde_json::to_value(&pod.volumes).unwrap(),
        json!([{"name": "vsphere-binding", "secret": {"secretName": "creds", "defaultMode": 420}}])
    );
    assert_eq!(
        serde_json::to_value(&c.volume_mounts).unwrap(),
        json!([{"name": "vsphere-binding", "mountPath": "/var/bindings/vsphere", "readOnly": true}])
    );
    // The Pod outlives the adapter's own shutdown (grace, checkpoint save, logout).
    assert_eq!(
        dep.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .termination_grace_period_seconds,
        Some(sources_controller::resources::ADAPTER_TERMINATION_GRACE_SECONDS)
    );

    // No per-source VSphereBinding (the Go controller made one): the
    // adapter's Deployment never goes through the binding webhook.
    assert!(
        env.api::<VSphereBinding>()
            .get_opt("s-vspherebinding")
            .await
            .unwrap()
            .is_none()
    );
    let cm = env.api::<ConfigMap>().get("s-configmap").await.unwrap();
    assert!(cm.data.is_none());
    assert_checkpoint_children(&env, "VSphereSource", "s", &uid, "s-adapter", &labels).await;

    // No kubelet: the Deployment is not available, so Ready is Unknown.
    wait_condition::<VSphereSource>(&env, "s", "SinkProvided", "True").await;
    wait_condition::<VSphereSource>(&env, "s", "AuthReady", "True").await;
    let (reason, message) =
        wait_condition::<VSphereSource>(&env, "s", "DeadLetterSinkResolved", "True").await;
    assert_eq!(reason, "DeadLetterSinkNotConfigured");
    assert!(message.contains("never dropped"), "{message}");
    assert!(message.contains("refuses for good"), "{message}");
    let (reason, _) = wait_condition::<VSphereSource>(&env, "s", "Ready", "Unknown").await;
    assert_eq!(reason, "DeploymentUnavailable");
    mark_available(&env, "s-adapter").await;
    wait_condition::<VSphereSource>(&env, "s", "Ready", "True").await;
    let status = status_of::<VSphereSource>(&env, "s").await;
    assert_eq!(
        status["sinkUri"],
        format!("http://display.{ns}.svc.cluster.local")
    );
    assert_eq!(status["observedGeneration"], 1);
    assert!(
        status["ceAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "com.vmware.vsphere.VmPoweredOnEvent.v0"
                && a["source"] == "https://vc.local/sdk")
    );

    // A spec change rolls the Deployment and is observed.
    env.api::<VSphereSource>()
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"payloadEncoding": "application/json",
                "ceOverrides": {"extensions": {"team": "infra"}}}})),
        )
        .await
        .unwrap();
    eventually("the rolled Deployment", || async {
        let dep = env.api::<Deployment>().get("s-adapter").await.unwrap();
        let e = env_map(&dep);
        (e.contains(&("VSPHERE_PAYLOAD_ENCODING".into(), json!("application/json")))
            && e.contains(&(
                "K_CE_OVERRIDES".into(),
                json!(r#"{"extensions":{"team":"infra"}}"#),
            )))
        .then_some(())
    })
    .await;
    eventually("generation 2 observed", || async {
        (status_of::<VSphereSource>(&env, "s").await["observedGeneration"] == 2).then_some(())
    })
    .await;

    // Deletion: every child carries a controller owner reference with
    // blockOwnerDeletion, which garbage collection follows (no
    // controller-manager runs here to do it).
    env.api::<VSphereSource>()
        .delete("s", &Default::default())
        .await
        .unwrap();
    eventually("the source gone", || async {
        env.api::<VSphereSource>()
            .get_opt("s")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let dep = env.api::<Deployment>().get("s-adapter").await.unwrap();
    assert_eq!(dep.metadata.owner_references.unwrap()[0].uid, uid);
    env.stop().await;
}

#[tokio::test]
async fn vsphere_source_failures_have_clear_reasons() {
    let env = Env::new("vss-fail").await;
    // Missing sink.
    env.create::<ServiceAccount>(json!({"metadata": {"name": "default"}}))
        .await;
    env.create::<Secret>(json!({"metadata": {"name": "creds"},
        "stringData": {"username": "u", "password": "p"}}))
        .await;
    env.create::<VSphereSource>(vsphere_source(
        "nosink",
        json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "absent"}}),
    ))
    .await;
    let (reason, message) = wait_condition::<VSphereSource>(&env, "nosink", "Ready", "False").await;
    assert_eq!(reason, "SinkNotFound");
    assert!(message.contains("\"absent\" not found"), "{message}");
    let (reason, _) =
        wait_condition::<VSphereSource>(&env, "nosink", "SinkProvided", "False").await;
    assert_eq!(reason, "SinkNotFound");
    assert!(
        env.api::<Deployment>()
            .get_opt("nosink-adapter")
            .await
            .unwrap()
            .is_none()
    );

    // Missing ServiceAccount.
    let mut obj = vsphere_source("nosa", json!({"uri": "http://sink.example"}));
    obj["spec"]["serviceAccountName"] = json!("absent-sa");
    env.create::<VSphereSource>(obj).await;
    let (reason, message) = wait_condition::<VSphereSource>(&env, "nosa", "Ready", "False").await;
    assert_eq!(reason, "ServiceAccountMissing");
    assert!(message.contains("absent-sa"), "{message}");

    // Missing Secret.
    let mut obj = vsphere_source("nosecret", json!({"uri": "http://sink.example"}));
    obj["spec"]["secretRef"]["name"] = json!("absent-secret");
    env.create::<VSphereSource>(obj).await;
    let (reason, message) =
        wait_condition::<VSphereSource>(&env, "nosecret", "Ready", "False").await;
    assert_eq!(reason, "SecretMissing");
    assert!(message.contains("absent-secret"), "{message}");

    // Each failure is a Warning Event on the source.
    for (name, reason) in [
        ("nosink", "SinkNotFound"),
        ("nosa", "ServiceAccountMissing"),
        ("nosecret", "SecretMissing"),
    ] {
        eventually(&format!("a {reason} event"), || async {
            warning_reasons(&env, name)
                .await
                .iter()
                .any(|r| r == reason)
                .then_some(())
        })
        .await;
    }

    // Fixing the cause makes the source progress.
    env.create::<Service>(json!({"metadata": {"name": "absent"},
        "spec": {"ports": [{"port": 80}]}}))
        .await;
    wait_condition::<VSphereSource>(&env, "nosink", "SinkProvided", "True").await;
    env.stop().await;
}

#[tokio::test]
async fn addressable_sink_relative_uri_ca_certs_and_logging_config() {
    let server = KubeApiServer::shared();
    let env = Env::new("vss-addr").await;
    server
        .install_knative_crds(&env.client)
        .await
        .expect("Knative CRDs");
    env.basics().await;
    let ns = env.ns.clone();
    let brokers =
        kube_harness::dynamic_api(&env.client, &ns, "eventing.knative.dev", "v1", "Broker");
    let b = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                   "metadata": {"name": "default"}, "spec": {}});
    brokers
        .patch("default", &PatchParams::apply("t"), &Patch::Apply(b))
        .await
        .unwrap();
    let url = format!("https://broker-ingress.knative-eventing.svc.cluster.local/{ns}/default/");
    let st = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                    "metadata": {"name": "default"},
                    "status": {"address": {"url": url, "CACerts": "BROKER-CA"}}});
    brokers
        .patch_status("default", &PatchParams::apply("t"), &Patch::Apply(st))
        .await
        .unwrap();
    env.create::<VSphereSource>(vsphere_source(
        "s",
        json!({"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"},
               "uri": "extra/path", "CACerts": "EXTRA-CA"}),
    ))
    .await;
    let dep = eventually("the adapter Deployment", || async {
        env.api::<Deployment>().get_opt("s-adapter").await.unwrap()
    })
    .await;
    let e = env_map(&dep);
    assert!(
        e.contains(&("K_SINK".into(), json!(format!("{url}extra/path")))),
        "{e:?}"
    );
    assert!(
        e.contains(&("K_CA_CERTS".into(), json!("BROKER-CA\nEXTRA-CA"))),
        "{e:?}"
    );
    // The status is written after the Deployment: wait for it.
    let status = eventually("the sink in the status", || async {
        let s = status_of::<VSphereSource>(&env, "s").await;
        (s["sinkUri"] == format!("{url}extra/path")).then_some(s)
    })
    .await;
    assert_eq!(status["sinkCACerts"], "BROKER-CA\nEXTRA-CA");

    // A logging (and observability) change reaches the adapter.
    env.create::<ConfigMap>(json!({"metadata": {"name": "config-logging"},
        "data": {"_example": "ignored", "zap-logger-config": "{\"level\":\"debug\"}"}}))
        .await;
    // Tracing turned on in one place: config-observability's tracing keys reach the adapter
    // as K_OBSERVABILITY_CONFIG, in Knative's JSON.
    env.create::<ConfigMap>(json!({"metadata": {"name": "config-observability"},
        "data": {"metrics.backend-destination": "prometheus",
                 "tracing-protocol": "http/protobuf",
                 "tracing-endpoint": "http://otel-collector.observability:4318/v1/traces",
                 "tracing-sampling-rate": "0.5"}}))
        .await;
    eventually("the logging configuration in the adapter", || async {
        let dep = env.api::<Deployment>().get("s-adapter").await.unwrap();
        let e = env_map(&dep);
        let logging = e.iter().find(|(k, _)| k == "K_LOGGING_CONFIG")?.1.clone();
        let metrics = e.iter().find(|(k, _)| k == "K_METRICS_CONFIG")?.1.clone();
        let observability = e.iter().find(|(k, _)| k == "K_OBSERVABILITY_CONFIG")?.1.clone();
        (observability
            == json!(
                r#"{"Tracing":{"endpoint":"http://otel-collector.observability:4318/v1/traces","protocol":"http/protobuf","sampling_rate":0.5}}"#
            )
            && logging == json!(r#"{"zap-logger-config":"{\"level\":\"debug\"}"}"#)
            && metrics
                .as_str()?
                .contains("\"metrics.backend-destination\":\"prometheus\"")
            && metrics
                .as_str()?
                .contains("\"Component\":\"vspheresource\""))
        .then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn horizon_source_children_status_and_failures() {
    let env = Env::new("hs").await;
    env.basics().await;
    let ns = env.ns.clone();
    let hs: HorizonSource = env
        .create(json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
            "kind": "HorizonSource",
            "metadata": {"name": "h"},
            "spec": {"sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
                     "address": "https://horizon.local", "secretRef": {"name": "creds"},
                     "serviceAccountName": "horizon-sa"}
        }))
        .await;
    let uid = hs.metadata.uid.clone().unwrap();
    let sa = eventually("the created ServiceAccount", || async {
        env.api::<ServiceAccount>()
            .get_opt("horizon-sa")
            .await
            .unwrap()
    })
    .await;
    assert_owned_by(&sa.metadata, "HorizonSource", "h", &uid);
    let labels = BTreeMap::from([
        (
            "knative-eventing-source".to_owned(),
            "horizon-source-controller".to_owned(),
        ),
        ("knative-eventing-source-name".to_owned(), "h".to_owned()),
    ]);
    assert_eq!(sa.metadata.labels.as_ref(), Some(&labels));
    let dep = eventually("the Horizon adapter", || async {
        env.api::<Deployment>().get_opt("h-adapter").await.unwrap()
    })
    .await;
    assert_owned_by(&dep.metadata, "HorizonSource", "h", &uid);
    assert_eq!(dep.metadata.labels.as_ref(), Some(&labels));
    let spec = dep.spec.clone().unwrap();
    assert_eq!(spec.strategy.unwrap().type_.as_deref(), Some("Recreate"));
    let pod = spec.template.spec.clone().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("horizon-sa"));
    let vol = &pod.volumes.as_ref().unwrap()[0];
    assert_eq!(vol.name, "creds");
    assert_eq!(
        vol.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("creds")
    );
    let mount = &pod.containers[0].volume_mounts.as_ref().unwrap()[0];
    assert_eq!(mount.mount_path, "/var/bindings/horizon");
    assert_eq!(mount.read_only, Some(true));
    assert_eq!(pod.containers[0].image.as_deref(), Some(HORIZON_IMAGE));
    let sink = format!("http://display.{ns}.svc.cluster.local");
    let want: Vec<(String, Value)> = [
        ("HORIZON_URL", json!("https://horizon.local")),
        ("HORIZON_INSECURE", json!("false")),
        ("METRICS_DOMAIN", json!("knative.dev/eventing")),
        ("K_CE_OVERRIDES", json!("")),
        ("SINK_URI", json!(sink)),
        ("K_SINK", json!(sink)),
        ("NAME", json!("h")),
        ("NAMESPACE", json!(ns)),
        ("K_LOGGING_CONFIG", json!("")),
        ("K_METRICS_CONFIG", json!("")),
        ("METRICS_PROMETHEUS_PORT", json!("9090")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(env_map(&dep), want);
    // The Pod outlives the adapter's own shutdown (grace, checkpoint save, logout).
    assert_eq!(
        dep.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .termination_grace_period_seconds,
        Some(sources_controller::resources::ADAPTER_TERMINATION_GRACE_SECONDS)
    );
    // The checkpoint ConfigMap (the adapter's default name) and the
    // RoleBinding that lets the adapter's ServiceAccount write it.
    assert_checkpoint_children(&env, "HorizonSource", "h", &uid, "horizon-sa", &labels).await;
    let (reason, _) = wait_condition::<HorizonSource>(&env, "h", "Deployed", "Unknown").await;
    assert_eq!(reason, "DeploymentUnavailable");
    wait_condition::<HorizonSource>(&env, "h", "SinkProvided", "True").await;
    mark_available(&env, "h-adapter").await;
    wait_condition::<HorizonSource>(&env, "h", "Ready", "True").await;
    let status = status_of::<HorizonSource>(&env, "h").await;
    assert_eq!(status["sinkUri"], sink);
    assert!(
        status["ceAttributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| {
                a["type"] == "com.vmware.horizon.vlsi_userloggedin.v0"
                    && a["source"] == "https://horizon.local"
            })),
        "{status}"
    );

    // Failures: no sink, no Secret.
    env.create::<HorizonSource>(json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
        "metadata": {"name": "nosink"},
        "spec": {"sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "absent"}},
                 "address": "https://horizon.local", "secretRef": {"name": "creds"}}
    }))
    .await;
    let (reason, _) = wait_condition::<HorizonSource>(&env, "nosink", "Ready", "False").await;
    assert_eq!(reason, "SinkNotFound");
    env.create::<HorizonSource>(json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
        "metadata": {"name": "nosecret"},
        "spec": {"sink": {"uri": "http://sink.example"},
                 "address": "https://horizon.local", "secretRef": {"name": "absent"}}
    }))
    .await;
    let (reason, message) =
        wait_condition::<HorizonSource>(&env, "nosecret", "Ready", "False").await;
    assert_eq!(reason, "SecretMissing");
    assert!(message.contains("absent"), "{message}");
    // Without serviceAccountName (none defaulted): a dedicated ServiceAccount.
    let created: HorizonSource = env.api::<HorizonSource>().get("nosecret").await.unwrap();
    assert_eq!(created.spec.service_account_name, None);
    let sa = eventually("the dedicated ServiceAccount", || async {
        env.api::<ServiceAccount>()
            .get_opt("nosecret-adapter")
            .await
            .unwrap()
    })
    .await;
    assert_owned_by(
        &sa.metadata,
        "HorizonSource",
        "nosecret",
        &created.metadata.uid.unwrap(),
    );
    env.stop().await;
}

#[tokio::test]
async fn delivery_settings_and_an_unresolvable_dead_letter_sink() {
    let env = Env::new("vss-delivery").await;
    env.basics().await;
    let ns = env.ns.clone();
    let mut obj = vsphere_source("d", json!({"uri": "http://sink.example"}));
    obj["spec"]["delivery"] = json!({
        "deadLetterSink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "dls"}},
        "retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.2S", "timeout": "PT2S"});
    env.create::<VSphereSource>(obj).await;
    // The dead-letter sink does not resolve: no adapter is made without it.
    let (reason, message) =
        wait_condition::<VSphereSource>(&env, "d", "DeadLetterSinkResolved", "False").await;
    assert_eq!(reason, "DeadLetterSinkNotFound");
    assert!(
        message.contains("spec.delivery.deadLetterSink") && message.contains("\"dls\""),
        "{message}"
    );
    let (reason, _) = wait_condition::<VSphereSource>(&env, "d", "Ready", "False").await;
    assert_eq!(reason, "DeadLetterSinkNotFound");
    assert!(
        env.api::<Deployment>()
            .get_opt("d-adapter")
            .await
            .unwrap()
            .is_none()
    );
    eventually("a DeadLetterSinkNotFound event", || async {
        warning_reasons(&env, "d")
            .await
            .iter()
            .any(|r| r == "DeadLetterSinkNotFound")
            .then_some(())
    })
    .await;
    // It appears: the adapter gets every delivery setting.
    env.create::<Service>(json!({"metadata": {"name": "dls"}, "spec": {"ports": [{"port": 80}]}}))
        .await;
    let dls = format!("http://dls.{ns}.svc.cluster.local");
    let settings = [
        ("K_DEAD_LETTER_SINK", dls.clone()),
        ("K_DELIVERY_RETRY", "3".to_owned()),
        ("K_DELIVERY_BACKOFF_POLICY", "linear".to_owned()),
        ("K_DELIVERY_BACKOFF_DELAY", "PT0.2S".to_owned()),
        ("K_DELIVERY_TIMEOUT", "PT2S".to_owned()),
    ];
    eventually("the delivery settings in the adapter's env", || async {
        let dep = env
            .api::<Deployment>()
            .get_opt("d-adapter")
            .await
            .unwrap()?;
        let e = env_map(&dep);
        settings
            .iter()
            .all(|(k, v)| e.contains(&((*k).to_owned(), json!(v))))
            .then_some(())
    })
    .await;
    wait_condition::<VSphereSource>(&env, "d", "DeadLetterSinkResolved", "True").await;
    eventually("deadLetterSinkUri", || async {
        (status_of::<VSphereSource>(&env, "d").await["deadLetterSinkUri"] == json!(dls))
            .then_some(())
    })
    .await;
    // The dead-letter sink changes to one that does not resolve: the last
    // good Deployment stays as it was, and the condition says why.
    env.api::<VSphereSource>()
        .patch(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"delivery": {"retry": 5,
                "deadLetterSink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "gone"}}}}})),
        )
        .await
        .unwrap();
    eventually("generation 2 refused for its dead-letter sink", || async {
        let s = status_of::<VSphereSource>(&env, "d").await;
        let c = condition(&s, "DeadLetterSinkResolved")?;
        (s["observedGeneration"] == 2 && c.0 == "False").then_some(())
    })
    .await;
    let e = env_map(&env.api::<Deployment>().get("d-adapter").await.unwrap());
    for (k, v) in &settings {
        assert!(e.contains(&((*k).to_owned(), json!(v))), "{k} kept: {e:?}");
    }
    assert_eq!(
        status_of::<VSphereSource>(&env, "d").await["deadLetterSinkUri"],
        json!(dls),
        "the URI the adapter still uses"
    );
    env.stop().await;
}

#[tokio::test]
async fn leader_election_with_a_lease() {
    let server = KubeApiServer::shared();
    let client = server.client().await.unwrap();
    let ns = server.create_namespace(&client, "lease").await.unwrap();
    let a = LeaderElector::new(client.clone(), &ns, "sources-controller", "a", 15);
    let b = LeaderElector::new(client.clone(), &ns, "sources-controller", "b", 15);
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    assert!(a.try_acquire_or_renew().await.unwrap(), "renewal");
    a.release(Duration::from_secs(10)).await;
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "taken after release"
    );
    assert!(!a.try_acquire_or_renew().await.unwrap());
}

/// Writes the lease as another replica whose clock is `skew` off would.
async fn renew_as(api: &Api<k8s_openapi::api::coordination::v1::Lease>, holder: &str, skew: i64) {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(skew);
    let lease: k8s_openapi::api::coordination::v1::Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "skewed"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 3,
                 "renewTime": t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}
    }))
    .unwrap();
    api.patch(
        "skewed",
        &PatchParams::apply("other").force(),
        &Patch::Apply(&lease),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn leader_election_tolerates_clock_skew() {
    let server = KubeApiServer::shared();
    let client = server.client().await.unwrap();
    let ns = server.create_namespace(&client, "skew").await.unwrap();
    let api: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), &ns);
    let me = LeaderElector::new(client.clone(), &ns, "skewed", "me", 3);
    // A live holder whose clock is an hour behind: its renewTime always
    // looks expired, but it changes, so the lease is not taken.
    for _ in 0..12 {
        renew_as(&api, "behind", -3600).await;
        assert!(
            !me.try_acquire_or_renew().await.unwrap(),
            "a lease that keeps being renewed is never taken"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A dead holder whose clock was an hour ahead: its renewTime looks
    // valid for an hour, but it stopped changing, so the lease is taken after
    // its duration on this replica's clock.
    renew_as(&api, "ahead", 3600).await;
    assert!(!me.try_acquire_or_renew().await.unwrap());
    eventually("the stale lease taken", || async {
        me.try_acquire_or_renew().await.unwrap().then_some(())
    })
    .await;
    let lease = api.get("skewed").await.unwrap().spec.unwrap();
    assert_eq!(lease.holder_identity.as_deref(), Some("me"));
}

#[tokio::test]
async fn metrics_and_health_endpoints() {
    let metrics = std::sync::Arc::new(Metrics::default());
    let port = test_support::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(sources_controller::serve_http(
        addr,
        metrics.clone(),
        async {
            let _ = rx.await;
        },
    ));
    metrics.observe_reconcile("VSphereSource", true, Duration::from_millis(5));
    let get = |path: &'static str| async move {
        for _ in 0..50 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                s.write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).await.unwrap();
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not start");
    };
    assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
    metrics.set_ready(true);
    assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
    let body = get("/metrics").await;
    assert!(
        body.contains(
            "sources_controller_reconcile_total{kind=\"VSphereSource\",result=\"success\"} 1"
        ),
        "{body}"
    );
    let _ = tx.send(());
    let _ = server.await;
}

fn config_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn config_files() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(config_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn release_manifests_apply_and_their_rbac_suffices() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    let server = KubeApiServer::shared();
    let admin = server.client().await.unwrap();
    let files = config_files();
    let all: String = files.iter().map(|(_, y)| format!("{y}\n---\n")).collect();
    // `kubectl apply --dry-run=server -f config/` (the namespace must exist
    // for a server-side dry run of the namespaced objects).
    let ns_yaml = &files
        .iter()
        .find(|(f, _)| f == "100-namespace.yaml")
        .unwrap()
        .1;
    server
        .apply_yaml(&admin, ns_yaml, "default", false)
        .await
        .expect("namespace");
    server.install_crds(&admin, &all).await.expect("CRDs");
    let applied = server
        .apply_yaml(&admin, &all, "vmware-sources", true)
        .await
        .expect("dry-run apply of config/");
    for expected in [
        "Namespace/vmware-sources",
        "CustomResourceDefinition/vspheresources.sources.tanzu.vmware.com",
        "ClusterRole/vmware-sources-observer",
        "Deployment/sources-controller",
        "Service/sources-controller",
        "ConfigMap/config-logging",
        "ConfigMap/config-observability",
        "Service/vsphere-source-webhook",
        "MutatingWebhookConfiguration/defaulting.webhook.vsphere.sources.tanzu.vmware.com",
        "MutatingWebhookConfiguration/vspherebindings.webhook.vsphere.sources.tanzu.vmware.com",
        "ValidatingWebhookConfiguration/validation.webhook.vsphere.sources.tanzu.vmware.com",
        "ValidatingWebhookConfiguration/config.webhook.vsphere.sources.tanzu.vmware.com",
        "Role/vmware-sources-controller",
        "RoleBinding/vmware-sources-controller",
        "ClusterRole/vmware-sources-podspecable-binding",
        "PodDisruptionBudget/sources-controller",
        "NetworkPolicy/sources-controller",
    ] {
        assert!(
            applied.iter().any(|a| a == expected),
            "{expected} in {applied:?}"
        );
    }
    // The optional inclusion-mode RBAC applies too.
    let optional =
        std::fs::read_to_string(config_dir().join("optional/binding-inclusion-mode.yaml")).unwrap();
    server
        .apply_yaml(&admin, &optional, "vmware-sources", true)
        .await
        .expect("dry-run apply of config/optional/");
    // Really apply the RBAC and run the controller as its ServiceAccount.
    for (file, yaml) in &files {
        if file.starts_with("200-") || file.starts_with("201-") {
            server
                .apply_yaml(&admin, yaml, "vmware-sources", false)
                .await
                .expect(file);
        }
    }
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "vmware-sources");
    let tr: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let token = sas
        .create_token_request("sources-controller", &PostParams::default(), &tr)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let sa_client = server.client_with_token(&token).unwrap();
    let ns = server.create_namespace(&admin, "rbac-ctl").await.unwrap();
    // The API server authorizes from a cache of the RBAC objects just
    // applied: wait until they count before the controller starts.
    eventually("the shipped RBAC in effect", || async {
        Api::<Deployment>::namespaced(sa_client.clone(), &ns)
            .list(&Default::default())
            .await
            .ok()?;
        Api::<ConfigMap>::namespaced(sa_client.clone(), "vmware-sources")
            .list(&Default::default())
            .await
            .ok()
    })
    .await;
    // Least privilege: no listing of Secrets or ConfigMaps in other
    // namespaces, no patching of ConfigMaps (get, create and update are what
    // the controller and the adapters' Roles need), no creating of bindings.
    for denied in [
        Api::<ConfigMap>::namespaced(sa_client.clone(), &ns)
            .patch(
                "anything",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"x": "y"}})),
            )
            .await
            .map(|_| ()),
        kube_harness::sources_group_api(&sa_client, &ns, "VSphereBinding")
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1",
                    "kind": "VSphereBinding", "metadata": {"name": "nope"},
                    "spec": {"subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                             "address": "https://vc", "secretRef": {"name": "c"}}}))
                .unwrap(),
            )
            .await
            .map(|_| ()),
        Api::<Secret>::namespaced(sa_client.clone(), &ns)
            .list(&Default::default())
            .await
            .map(|_| ()),
        // ConfigMaps are listed and watched (trust bundles, by label), but
        // never patched or deleted.
        Api::<ConfigMap>::namespaced(sa_client.clone(), &ns)
            .delete("anything", &Default::default())
            .await
            .map(|_| ()),
        Api::<ConfigMap>::namespaced(sa_client.clone(), &ns)
            .patch(
                "anything",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"x": "y"}})),
            )
            .await
            .map(|_| ()),
        Api::<k8s_openapi::api::core::v1::Namespace>::all(sa_client.clone())
            .patch(
                &ns,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403),
            "{denied:?}"
        );
    }
    // The controller's own namespace is the release's: its Role is there.
    let mut settings = Settings::new(VSPHERE_IMAGE, HORIZON_IMAGE, "vmware-sources");
    settings.watch_namespace = Some(ns.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run_controllers(
        sa_client.clone(),
        settings,
        Default::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let env = Env {
        client: admin.clone(),
        ns: ns.clone(),
        stop: Some(stop),
        task: None,
    };
    env.basics().await;
    env.create::<VSphereSource>(vsphere_source(
        "s",
        json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}}),
    ))
    .await;
    env.create::<HorizonSource>(json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
        "metadata": {"name": "h"},
        "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://horizon.local",
                 "secretRef": {"name": "creds"}, "serviceAccountName": "new-sa"}
    }))
    .await;
    let (reason, _) = wait_condition::<VSphereSource>(&env, "s", "Ready", "Unknown").await;
    assert_eq!(
        reason, "DeploymentUnavailable",
        "all children written with the shipped RBAC"
    );
    for child in ["s-adapter", "h-adapter"] {
        eventually(child, || async {
            env.api::<Deployment>().get_opt(child).await.unwrap()
        })
        .await;
    }
    for rb in ["s-rolebinding", "h-rolebinding"] {
        assert!(
            env.api::<RoleBinding>()
                .get_opt(rb)
                .await
                .unwrap()
                .is_some(),
            "{rb} written with the shipped RBAC"
        );
    }
    // The webhook certificate (created, then rotated), the webhook
    // configurations, the lease and the caches every replica keeps, with the
    // shipped RBAC.
    use sources_controller::webhook;
    let mut wh = webhook::WebhookSettings::new("vmware-sources");
    let first = webhook::ensure_certificate(&sa_client, &wh)
        .await
        .expect("create the certificate Secret");
    wh.rotate_before = Duration::from_secs(365 * 86400);
    let rotated = webhook::ensure_certificate(&sa_client, &wh)
        .await
        .expect("rotate the serving certificate");
    assert_ne!(first.cert_pem, rotated.cert_pem);
    assert_eq!(first.bundle, rotated.bundle, "the CA stays");
    webhook::update_configurations(
        &sa_client,
        &rotated.bundle,
        &webhook::BindingWebhookSpec::new(&[], &Default::default(), &wh),
    )
    .await
    .expect("read the webhook configurations");
    let lease = LeaderElector::new(
        sa_client.clone(),
        "vmware-sources",
        "sources-controller",
        "rbac-test",
        15,
    );
    assert!(lease.try_acquire_or_renew().await.expect("the lease"));
    lease.release(Duration::from_secs(10)).await;
    let metrics = std::sync::Arc::new(Metrics::default());
    let (stop_wh, wh_stopped) = oneshot::channel::<()>();
    let mut serving = wh.clone();
    serving.addr = "127.0.0.1:0".parse().unwrap();
    serving.limits.drain = Duration::ZERO;
    let caches = webhook::WebhookCaches::start(&sa_client).await;
    let webhooks = tokio::spawn(webhook::run_webhooks(
        sa_client.clone(),
        serving,
        caches,
        "config-logging".into(),
        metrics.clone(),
        None,
        async {
            let _ = wh_stopped.await;
        },
    ));
    eventually("a replica serving with the shipped RBAC", || async {
        metrics.is_ready().then_some(())
    })
    .await;
    let _ = stop_wh.send(());
    webhooks.await.unwrap().expect("the webhook server");
    // The VSphereBinding reconciler: Do and Undo on a Deployment.
    let (stop_b, b_stopped) = oneshot::channel::<()>();
    let bindings = tokio::spawn(sources_controller::run_binding_controller(
        sa_client.clone(),
        Some(ns.clone()),
        Duration::from_secs(60),
        sources_controller::webhook::SelectionMode::Exclusion,
        async {
            let _ = b_stopped.await;
        },
    ));
    env.create::<Deployment>(json!({
        "metadata": {"name": "subject"},
        "spec": {"selector": {"matchLabels": {"app": "s"}},
                 "template": {"metadata": {"labels": {"app": "s"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .await;
    env.create::<VSphereBinding>(json!({
        "metadata": {"name": "rbac-binding"},
        "spec": {"subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "subject", "namespace": ns},
                 "address": "https://vc.local", "secretRef": {"name": "creds"}}
    }))
    .await;
    let has_binding = |d: &Deployment| serde_json::to_string(d).unwrap().contains("VC_PASSWORD");
    eventually("subject bound", || async {
        let d = env.api::<Deployment>().get("subject").await.unwrap();
        has_binding(&d).then_some(())
    })
    .await;
    env.api::<VSphereBinding>()
        .delete("rbac-binding", &Default::default())
        .await
        .unwrap();
    eventually("subject unbound", || async {
        let d = env.api::<Deployment>().get("subject").await.unwrap();
        (!has_binding(&d)).then_some(())
    })
    .await;
    // A subject the controller may not read: the finalizer stays through the
    // deletion (the status says why) until it may, then the binding goes.
    server
        .install_crds(
            &admin,
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
",
        )
        .await
        .expect("the Widget CRD");
    let widgets = ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"));
    Api::<DynamicObject>::namespaced_with(admin.clone(), &ns, &widgets)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}))
            .unwrap(),
        )
        .await
        .unwrap();
    env.create::<VSphereBinding>(json!({
        "metadata": {"name": "widget-binding"},
        "spec": {"subject": {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "namespace": ns},
                 "address": "https://vc.local", "secretRef": {"name": "creds"}}
    }))
    .await;
    let ready_reason = || async {
        let b = env
            .api::<VSphereBinding>()
            .get_opt("widget-binding")
            .await
            .unwrap()?;
        let c = b
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        c.reason
    };
    eventually("widget-binding not bound (Forbidden)", || async {
        (ready_reason().await.as_deref() == Some("SubjectUnavailable")).then_some(())
    })
    .await;
    env.api::<VSphereBinding>()
        .delete("widget-binding", &Default::default())
        .await
        .unwrap();
    eventually("the finalizer kept: UnbindFailed", || async {
        (ready_reason().await.as_deref() == Some("UnbindFailed")).then_some(())
    })
    .await;
    let kept = env
        .api::<VSphereBinding>()
        .get("widget-binding")
        .await
        .unwrap();
    assert!(kept.metadata.deletion_timestamp.is_some());
    assert_eq!(
        kept.metadata.finalizers.as_deref(),
        Some(&["vspherebindings.sources.tanzu.vmware.com".to_owned()][..])
    );
    // A cluster admin lists Widget as PodSpecable (bound directly here: no
    // controller-manager aggregates roles).
    let grant = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-podspecable
  labels: {duck.knative.dev/podspecable: \"true\"}
rules:
- apiGroups: [example.com]
  resources: [widgets]
  verbs: [get, list, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: widgets-podspecable}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: widgets-podspecable}
subjects: [{kind: ServiceAccount, name: sources-controller, namespace: vmware-sources}]
";
    server
        .apply_yaml(&admin, grant, "default", false)
        .await
        .expect("grant");
    eventually(
        "widget-binding gone once its subject could be unbound",
        || async {
            env.api::<VSphereBinding>()
                .get_opt("widget-binding")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    let _ = stop_b.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), bindings).await;
    env.stop().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

#[tokio::test]
async fn knative_service_sink_and_adoption_of_go_controller_children() {
    let server = KubeApiServer::shared();
    let env = Env::new("vss-adopt").await;
    server
        .install_knative_crds(&env.client)
        .await
        .expect("Knative CRDs");
    env.basics().await;
    let ns = env.ns.clone();
    // A Knative Service as sink.
    let ksvcs = kube_harness::dynamic_api(&env.client, &ns, "serving.knative.dev", "v1", "Service");
    let doc = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "event-display"},
        "spec": {"template": {"spec": {"containers": [{"image": "registry.test/display"}]}}}});
    ksvcs
        .patch(
            "event-display",
            &PatchParams::apply("t"),
            &Patch::Apply(doc),
        )
        .await
        .unwrap();
    let url = format!("http://event-display.{ns}.svc.cluster.local");

    // A checkpoint ConfigMap that already exists (written by the Go adapter,
    // or pre-created by the user) is kept as it is.
    let old_cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "old-configmap"},
        "data": {"checkpoint": "{\"lastEventKey\":42}"}}))
    .unwrap();
    env.api::<ConfigMap>()
        .create(&PostParams::default(), &old_cm)
        .await
        .expect("the existing ConfigMap");
    // The source exists (as after an upgrade) with children made by the Go
    // controller: same names, controller owner references, other content.
    let src: VSphereSource = env
        .create(vsphere_source(
            "old",
            json!({"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                           "name": "event-display"}}),
        ))
        .await;
    let uid = src.metadata.uid.clone().unwrap();
    let owner = json!([{"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "name": "old", "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    let labels = json!({"vspheresources.sources.tanzu.vmware.com/name": "old"});
    let old_dep = json!({"metadata": {"name": "old-adapter", "ownerReferences": owner, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "strategy": {"type": "Recreate"},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "adapter", "image": "old-go-image",
                                       "env": [{"name": "K_SINK", "value": "http://stale"}]}]}}}});
    // Created with a plain POST (an Update-style manager, like client-go).
    let old: Deployment = serde_json::from_value(old_dep).unwrap();
    env.api::<Deployment>()
        .create(&PostParams::default(), &old)
        .await
        .expect("the Go controller's Deployment");
    // The Go controller's RoleBinding to its ClusterRole (every ConfigMap of
    // the namespace); roleRef cannot change, so it is replaced.
    let old_rb: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "old-rolebinding", "ownerReferences": owner},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "vsphere-receive-adapter-cm"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}))
    .unwrap();
    // The controller's first reconcile may have applied its own RoleBinding
    // of that name already (it does so before resolving the sink): replace
    // it, as the Go controller's would have been there first.
    let rbs = env.api::<RoleBinding>();
    if let Err(kube::Error::Api(s)) = rbs.create(&PostParams::default(), &old_rb).await {
        assert_eq!(s.code, 409, "the Go controller's RoleBinding: {s:?}");
        rbs.delete("old-rolebinding", &Default::default())
            .await
            .expect("delete the controller's RoleBinding");
        eventually("the Go controller's RoleBinding in place", || async {
            rbs.create(&PostParams::default(), &old_rb).await.ok()
        })
        .await;
    }

    // Until the Knative Service has an address the controller deploys
    // nothing, so the Go controller's Deployment is there first.
    let (reason, _) = wait_condition::<VSphereSource>(&env, "old", "SinkProvided", "False").await;
    assert_eq!(reason, "SinkNotAddressable");
    let st = json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "event-display"}, "status": {"address": {"url": url}}});
    ksvcs
        .patch_status("event-display", &PatchParams::apply("t"), &Patch::Apply(st))
        .await
        .unwrap();
    eventually("the adopted Deployment updated", || async {
        let dep = env.api::<Deployment>().get("old-adapter").await.unwrap();
        let c = &dep.spec.as_ref()?.template.spec.as_ref()?.containers[0];
        (c.image.as_deref() == Some(VSPHERE_IMAGE)
            && env_map(&dep).contains(&("K_SINK".into(), json!(url))))
        .then_some(())
    })
    .await;
    eventually("the RoleBinding to the checkpoint Role", || async {
        let rb = env
            .api::<RoleBinding>()
            .get("old-rolebinding")
            .await
            .unwrap();
        (rb.role_ref.kind == "Role" && rb.role_ref.name == "old-checkpoint").then_some(())
    })
    .await;
    // The checkpoint survives.
    let cm = env.api::<ConfigMap>().get("old-configmap").await.unwrap();
    assert_eq!(cm.data.unwrap()["checkpoint"], "{\"lastEventKey\":42}");
    let deps = env
        .api::<Deployment>()
        .list(&Default::default())
        .await
        .unwrap();
    assert_eq!(
        deps.items
            .iter()
            .filter(|d| d.metadata.name.as_deref().unwrap_or("").starts_with("old"))
            .count(),
        1
    );
    // The status is written after the Deployment: wait for it.
    eventually("the sink in the status", || async {
        (status_of::<VSphereSource>(&env, "old").await["sinkUri"] == json!(url)).then_some(())
    })
    .await;
    env.stop().await;
}

/// A Pod from `template` (a Deployment's `spec.template`), created with a
/// server-side dry run in `ns`: the API server's PodSecurity admission
/// refuses it there if it breaks the namespace's enforced level.
async fn dry_run_pod(
    client: &Client,
    ns: &str,
    name: &str,
    template: &Value,
) -> Result<(), String> {
    use k8s_openapi::api::core::v1::Pod;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }))
    .map_err(|e| e.to_string())?;
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    Api::<Pod>::namespaced(client.clone(), ns)
        .create(&params, &pod)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `spec.adapterOverrides` with every field set.
fn every_override() -> Value {
    json!({
        "labels": {"team": "infra"},
        "annotations": {"example.com/note": "overrides"},
        "env": [{"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"}],
        "resources": {"requests": {"cpu": "10m"}, "limits": {"memory": "256Mi"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "events",
                         "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions":
                [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
        "priorityClassName": "event-sources"
    })
}

/// A VSphereSource's `spec.adapterOverrides` reach its adapter's Pod
/// template, beside (never instead of) the controller's own labels, env and
/// resources; removing them removes them.
#[tokio::test]
async fn adapter_overrides_reach_the_adapter_pod() {
    let env = Env::new("vss-overrides").await;
    env.basics().await;
    let mut src = vsphere_source("s", json!({"uri": "http://sink.example"}));
    src["spec"]["adapterOverrides"] = every_override();
    env.create::<VSphereSource>(src).await;
    let dep = eventually("the adapter Deployment", || async {
        env.api::<Deployment>().get_opt("s-adapter").await.unwrap()
    })
    .await;
    let t = serde_json::to_value(&dep.spec.as_ref().unwrap().template).unwrap();
    assert_eq!(t["metadata"]["labels"]["team"], "infra", "{t}");
    assert_eq!(
        t["metadata"]["labels"][resources_label()],
        "s",
        "the controller's label stays: {t}"
    );
    assert_eq!(
        t["metadata"]["annotations"]["example.com/note"],
        "overrides"
    );
    let pod = &t["spec"];
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(pod["priorityClassName"], "event-sources");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["values"],
        json!(["amd64", "arm64"])
    );
    let c = &pod["containers"][0];
    assert_eq!(c["resources"]["requests"]["cpu"], "10m");
    assert_eq!(c["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(
        c["resources"]["requests"]["memory"], "32Mi",
        "the defaults not overridden stay"
    );
    let e = env_map(&dep);
    assert!(
        e.contains(&("HTTPS_PROXY".into(), json!("http://proxy.corp:3128"))),
        "{e:?}"
    );
    assert!(e.iter().any(|(k, _)| k == "K_SINK"), "{e:?}");

    // Removed from the spec: gone from the Pod template.
    env.api::<VSphereSource>()
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"adapterOverrides": null}})),
        )
        .await
        .unwrap();
    eventually("the overrides removed", || async {
        let dep = env.api::<Deployment>().get("s-adapter").await.unwrap();
        let t = serde_json::to_value(&dep.spec.unwrap().template).unwrap();
        (t["metadata"]["labels"].get("team").is_none()
            && t["spec"].get("nodeSelector").is_none()
            && t["spec"].get("affinity").is_none()
            && !env_map_has(&t, "HTTPS_PROXY"))
        .then_some(())
    })
    .await;
    env.stop().await;
}

/// `spec.replicas: 2`: two adapters on a Lease named after the Deployment, the
/// identity from the Pod's name, and the adapter's ServiceAccount bound to the
/// standby ClusterRole; back to 1, the binding goes.
#[tokio::test]
async fn two_replicas_give_a_standby_on_a_lease() {
    let env = Env::new("vss-standby").await;
    env.basics().await;
    let mut src = vsphere_source("s", json!({"uri": "http://sink.example"}));
    src["spec"]["replicas"] = json!(2);
    env.create::<VSphereSource>(src).await;
    let dep = eventually("two adapter replicas", || async {
        let d = env
            .api::<Deployment>()
            .get_opt("s-adapter")
            .await
            .unwrap()?;
        (d.spec.as_ref()?.replicas == Some(2)).then_some(d)
    })
    .await;
    let e = env_map(&dep);
    assert!(
        e.contains(&("ADAPTER_LEASE".into(), json!("s-adapter"))),
        "{e:?}"
    );
    let t = serde_json::to_value(&dep.spec.unwrap().template).unwrap();
    let identity = t["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "ADAPTER_IDENTITY")
        .cloned()
        .expect("ADAPTER_IDENTITY");
    assert_eq!(
        identity["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    let rb = eventually("the standby RoleBinding", || async {
        env.api::<RoleBinding>().get_opt("s-standby").await.unwrap()
    })
    .await;
    assert_eq!(rb.role_ref.kind, "ClusterRole");
    assert_eq!(rb.role_ref.name, "vmware-sources-adapter-standby");
    assert_eq!(rb.subjects.unwrap()[0].name, "s-adapter");

    env.api::<VSphereSource>()
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    eventually("one replica, no standby binding", || async {
        let d = env.api::<Deployment>().get("s-adapter").await.unwrap();
        let gone = env
            .api::<RoleBinding>()
            .get_opt("s-standby")
            .await
            .unwrap()
            .is_none();
        (d.spec?.replicas == Some(1) && gone).then_some(())
    })
    .await;
    env.stop().await;
}

fn resources_label() -> &'static str {
    sources_controller::resources::VSPHERE_NAME_LABEL
}

fn env_map_has(template: &Value, name: &str) -> bool {
    template["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["name"] == name)
}

#[tokio::test]
async fn manifests_pass_pod_security_restricted() {
    let server = KubeApiServer::shared();
    let client = server.client().await.unwrap();
    let ns = server
        .create_namespace(&client, "restricted")
        .await
        .unwrap();
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    nss.patch(
        &ns,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest"}}})),
    )
    .await
    .unwrap();
    // The check is real: a pod without the restricted settings is refused.
    // PodSecurity admission reads namespaces from its informer, which may
    // not have seen the label yet under load: wait (bounded) until it has.
    let plain = json!({"metadata": {"labels": {"app": "plain"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let refused = loop {
        match dry_run_pod(&client, &ns, "plain", &plain).await {
            Err(refused) => break refused,
            Ok(()) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Ok(()) => panic!("the restricted label was not enforced within 30 s"),
        }
    };
    assert!(
        refused.contains("violates PodSecurity \"restricted"),
        "{refused}"
    );
    // The controller's Deployment.
    let docs = kube_harness::yaml_documents(
        &std::fs::read_to_string(config_dir().join("400-controller.yaml")).unwrap(),
    )
    .unwrap();
    let controller = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("the controller Deployment");
    dry_run_pod(&client, &ns, "controller", &controller["spec"]["template"])
        .await
        .expect("the controller's pod passes restricted");
    // The adapters' Deployments, as the controller renders them.
    use sources_controller::resources;
    let vss: VSphereSource =
        serde_json::from_value(vsphere_source("s", json!({"uri": "http://sink.example"}))).unwrap();
    // Every adapterOverrides field set: none of them reaches what restricted forbids.
    let hs: HorizonSource = serde_json::from_value(json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
        "metadata": {"name": "h"},
        "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://horizon.local",
                 "secretRef": {"name": "creds"}, "adapterOverrides": every_override()}
    }))
    .unwrap();
    // The priority class the overrides name (the API server checks it).
    let classes: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(client.clone());
    let class =
        serde_json::from_value(json!({"metadata": {"name": "event-sources"}, "value": 1000}))
            .unwrap();
    match classes.create(&PostParams::default(), &class).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("priority class: {e}"),
    }
    let owner = resources::owner_ref("VSphereSource", "s", "uid");
    let sink = resources::ResolvedSink {
        uri: "http://sink.example".into(),
        ..resources::ResolvedSink::default()
    };
    let settings = Settings::new(VSPHERE_IMAGE, HORIZON_IMAGE, &ns);
    let delivery = resources::delivery_env(None, None);
    let config = Default::default();
    for (name, dep) in [
        (
            "vsphere-adapter",
            resources::vsphere_deployment(&vss, &ns, &owner, &sink, &delivery, &settings, &config),
        ),
        (
            "horizon-adapter",
            resources::horizon_deployment(&hs, &ns, &owner, &sink, &delivery, &settings, &config),
        ),
    ] {
        let template = serde_json::to_value(dep.spec.unwrap().template).unwrap();
        dry_run_pod(&client, &ns, name, &template)
            .await
            .unwrap_or_else(|e| panic!("the {name} pod passes restricted: {e}"));
    }
}

#[test]
fn help_documents_the_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sources-controller"))
        .arg("--help")
        .output()
        .expect("run sources-controller --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "VSPHERE_ADAPTER",
        "HORIZON_SOURCE_RA_IMAGE",
        "SYSTEM_NAMESPACE",
        "WATCH_NAMESPACE",
        "POD_NAME",
        "CONFIG_LOGGING_NAME",
        "CONFIG_OBSERVABILITY_NAME",
        "METRICS_DOMAIN",
        "METRICS_PORT",
        "LEASE_NAME",
        "LEASE_DURATION_SECONDS",
        "LEASE_RENEW_SECONDS",
        "LEASE_RENEW_DEADLINE_SECONDS",
        "RESYNC_SECONDS",
        "WEBHOOK_PORT",
        "WEBHOOK_SERVICE_NAME",
        "WEBHOOK_SECRET_NAME",
        "WEBHOOK_EXTRA_SANS",
        "VSPHERE_BINDING_SELECTION_MODE",
        "KUBECONFIG",
        "RUST_LOG",
    ] {
        assert!(help.contains(var), "{var} missing from --help:\n{help}");
    }
    // Every variable the shipped Deployment sets is documented.
    let docs = kube_harness::yaml_documents(
        &std::fs::read_to_string(config_dir().join("400-controller.yaml")).unwrap(),
    )
    .unwrap();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
    {
        let name = e["name"].as_str().unwrap();
        assert!(
            help.contains(name),
            "{name} (400-controller.yaml) missing from --help"
        );
    }
}
