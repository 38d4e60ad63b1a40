//! The migration from the Go project (docs/operator-guide.md, "Migrating from VMware Tanzu
//! Sources for Knative"), on a real kube-apiserver.
//!
//! 1. The Go installation: the Go release's YAML and its sample objects, as the upstream
//!    repository has them (`crates/release-tests/upstream/`), plus what its webhook, controllers
//!    and adapter would have written (defaults, children, status, the checkpoint ConfigMap),
//!    shaped as `shared/spec/upstream-behaviour.md` §2.2, §3.2, §3.3, §4.3, §6.5 and §7.4 say.
//! 2. The guide's steps: `maxAgeSeconds` on the sources, the Go Deployments and webhook
//!    configurations deleted (never the CRDs), this release applied.
//! 3. The existing VSphereSources, the VSphereBinding and the HorizonSource become Ready under
//!    `sources-controller`; their children are the same objects (same UIDs and controller
//!    owner) running this release's images, except the adapter RoleBinding, whose role changes
//!    (a Role for the checkpoint ConfigMap only); the bound Job stays bound once.
//! 4. `vsphere-adapter`, started with the env of the adopted Deployment, resumes right after the
//!    event the Go adapter's checkpoint names, and keeps the checkpoint in the Go format.

use crate::common;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{Adapter, ids};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use kube_harness::{KubeApiServer, dynamic_api, sources_group_api};
use release_tests::{
    Release, ReleaseControllers, ReleaseWebhooks, SYSTEM_NAMESPACE, eventually, upstream_release,
    upstream_yaml,
};
use serde_json::{Value, json};
use test_support::RecordingSink;
use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::{Client as VcClient, Credentials};

const NS: &str = "default";
const LONG: Duration = Duration::from_secs(90);
/// The field manager of the objects the Go controllers wrote.
const GO_MANAGER: &str = "vsphere-controller";

/// The Go project's Deployments and webhook configurations that the guide deletes.
const GO_DEPLOYMENTS: [&str; 3] = [
    "vsphere-source-webhook",
    "horizon-source-controller",
    "horizon-source-webhook",
];
const GO_MUTATING: [&str; 3] = [
    "defaulting.webhook.vsphere.sources.tanzu.vmware.com",
    "vspherebindings.webhook.vsphere.sources.tanzu.vmware.com",
    "defaulting.webhook.horizon.sources.tanzu.vmware.com",
];
const GO_VALIDATING: [&str; 4] = [
    "validation.webhook.vsphere.sources.tanzu.vmware.com",
    "config.webhook.vsphere.sources.tanzu.vmware.com",
    "validation.webhook.horizon.sources.tanzu.vmware.com",
    "config.webhook.horizon.sources.tanzu.vmware.com",
];

fn create_params() -> PostParams {
    PostParams {
        field_manager: Some(GO_MANAGER.into()),
        ..PostParams::default()
    }
}

async fn create<K>(api: &Api<K>, value: Value) -> K
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"));
    api.create(&create_params(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {value}: {e}"))
}

async fn merge_status(api: &Api<DynamicObject>, name: &str, status: Value) {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap_or_else(|e| panic!("status of {name}: {e}"));
}

fn owner(kind: &str, name: &str, uid: &str) -> Value {
    json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": kind, "name": name,
           "uid": uid, "controller": true, "blockOwnerDeletion": true})
}

/// What the Go binding webhook adds to a pod spec (§4.3 `Do`).
fn go_bound(mut pod: Value, address: &str, insecure: bool, secret: &str) -> Value {
    pod["volumes"] = json!([{"name": "vsphere-binding", "secret": {"secretName": secret}}]);
    for c in pod["containers"].as_array_mut().into_iter().flatten() {
        c["volumeMounts"] = json!([{"name": "vsphere-binding", "readOnly": true, "mountPath": "/var/bindings/vsphere"}]);
        let mut env = c["env"].as_array().cloned().unwrap_or_default();
        env.extend([
            json!({"name": "VC_URL", "value": address}),
            json!({"name": "VC_INSECURE", "value": insecure.to_string()}),
            json!({"name": "VC_USERNAME", "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}}),
            json!({"name": "VC_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}),
        ]);
        c["env"] = Value::Array(env);
    }
    pod
}

/// A Go-era VSphereSource's children (§3.2, §3.3) and its status, as the Go controller left them.
async fn go_vsphere_children(
    client: &Client,
    source: &DynamicObject,
    go_adapter_image: &str,
    sink_uri: &str,
) {
    let name = source.name_any();
    let uid = source.uid().expect("uid");
    let spec = &source.data["spec"];
    let address = spec["address"].as_str().expect("address");
    let insecure = spec["skipTLSVerify"].as_bool().unwrap_or(false);
    let secret = spec["secretRef"]["name"].as_str().expect("secretRef");
    let own = owner("VSphereSource", &name, &uid);
    let binding = create(
        &sources_group_api(client, NS, "VSphereBinding"),
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereBinding",
               "metadata": {"name": format!("{name}-vspherebinding"), "namespace": NS,
                            "ownerReferences": [own],
                            "finalizers": ["vspherebindings.sources.tanzu.vmware.com"]},
               "spec": {"address": address, "skipTLSVerify": insecure, "secretRef": {"name": secret},
                        "subject": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": format!("{name}-adapter"), "namespace": NS}}}),
    )
    .await;
    merge_status(
        &sources_group_api(client, NS, "VSphereBinding"),
        &binding.name_any(),
        json!({"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}),
    )
    .await;
    create(
        &Api::<ConfigMap>::namespaced(client.clone(), NS),
        json!({"metadata": {"name": format!("{name}-configmap"), "namespace": NS, "ownerReferences": [own]}}),
    )
    .await;
    create(
        &Api::<RoleBinding>::namespaced(client.clone(), NS),
        json!({"metadata": {"name": format!("{name}-rolebinding"), "namespace": NS, "ownerReferences": [own]},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "vsphere-receive-adapter-cm"},
               "subjects": [{"kind": "ServiceAccount", "namespace": NS, "name": "default"}]}),
    )
    .await;
    let labels = json!({"vspheresources.sources.tanzu.vmware.com/name": name});
    let pod = go_bound(
        json!({"serviceAccountName": "default", "containers": [{
            "name": "adapter", "image": go_adapter_image,
            "env": [
                {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "K_METRICS_CONFIG", "value": "{\"Domain\":\"tanzu.vmware.com/sources\",\"Component\":\"vspheresource\",\"PrometheusPort\":0,\"PrometheusHost\":\"\",\"ConfigMap\":{}}"},
                {"name": "K_LOGGING_CONFIG", "value": "{\"zap-logger-config\":\"{\\\"level\\\": \\\"info\\\"}\"}"},
                {"name": "VSPHERE_KVSTORE_CONFIGMAP", "value": format!("{name}-configmap")},
                {"name": "VSPHERE_CHECKPOINT_CONFIG", "value": "{\"maxAge\":\"0s\",\"period\":\"10s\"}"},
                {"name": "VSPHERE_PAYLOAD_ENCODING", "value": "application/xml"},
                {"name": "K_CE_OVERRIDES", "value": ""},
                {"name": "K_SINK", "value": sink_uri}]}]}),
        address,
        insecure,
        secret,
    );
    create(
        &Api::<Deployment>::namespaced(client.clone(), NS),
        json!({"metadata": {"name": format!("{name}-adapter"), "namespace": NS, "labels": labels,
                            "ownerReferences": [own]},
               "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "strategy": {"type": "Recreate"},
                        "template": {"metadata": {"labels": labels}, "spec": pod}}}),
    )
    .await;
    merge_status(
        &sources_group_api(client, NS, "VSphereSource"),
        &name,
        json!({"observedGeneration": 1, "sinkUri": sink_uri, "conditions": [
            {"type": "AdapterReady", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "AuthReady", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}),
    )
    .await;
}

/// The UIDs of the named objects of `kind` in the test namespace.
async fn uid_of(client: &Client, kind: &str, name: &str) -> String {
    let uid = match kind {
        "Deployment" => Api::<Deployment>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.uid()),
        "ConfigMap" => Api::<ConfigMap>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.uid()),
        "RoleBinding" => Api::<RoleBinding>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.uid()),
        "ServiceAccount" => Api::<ServiceAccount>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.uid()),
        other => sources_group_api(client, NS, other)
            .get(name)
            .await
            .map(|o| o.uid()),
    };
    uid.unwrap_or_else(|e| panic!("{kind}/{name}: {e}"))
        .unwrap_or_else(|| panic!("{kind}/{name} has no uid"))
}

/// The owner references of `kind/name` that say `controller: true`.
async fn controllers_of(client: &Client, kind: &str, name: &str) -> Vec<String> {
    let refs = match kind {
        "Deployment" => Api::<Deployment>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.owner_references().to_vec()),
        "ConfigMap" => Api::<ConfigMap>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.owner_references().to_vec()),
        "RoleBinding" => Api::<RoleBinding>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.owner_references().to_vec()),
        "ServiceAccount" => Api::<ServiceAccount>::namespaced(client.clone(), NS)
            .get(name)
            .await
            .map(|o| o.owner_references().to_vec()),
        other => sources_group_api(client, NS, other)
            .get(name)
            .await
            .map(|o| o.owner_references().to_vec()),
    }
    .unwrap_or_else(|e| panic!("{kind}/{name}: {e}"));
    refs.into_iter()
        .filter(|r| r.controller == Some(true))
        .map(|r| r.uid)
        .collect()
}

fn condition<'a>(obj: &'a DynamicObject, kind: &str) -> Option<&'a Value> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Until `kind/name` has `Ready: True` with an `observedGeneration` of its current generation.
async fn wait_ready(client: &Client, kind: &str, name: &str) -> DynamicObject {
    let api = sources_group_api(client, NS, kind);
    let what = format!("{kind}/{name} Ready under sources-controller");
    let result = eventually(&what, LONG, || async {
        let o = api.get(name).await.ok()?;
        let current = o.data["status"]["observedGeneration"].as_i64() == o.metadata.generation;
        (current && condition(&o, "Ready").is_some_and(|c| c["status"] == "True")).then_some(o)
    })
    .await;
    match result {
        Ok(o) => o,
        Err(e) => panic!("{e}: {}", statuses(client).await),
    }
}

/// What the Deployment controller and kubelet would report for a rolled-out Deployment.
async fn mark_available(client: &Client, name: &str) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let generation = deployments
        .get(name)
        .await
        .expect("Deployment")
        .metadata
        .generation;
    deployments
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": generation, "replicas": 1,
                "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                "message": "Deployment has minimum availability."}]}})),
        )
        .await
        .expect("Deployment status");
}

/// Until the Deployment runs `image` (the controller applied this release's spec).
async fn wait_image(client: &Client, name: &str, image: &str) -> Deployment {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let found = eventually(
        &format!("Deployment {name} running {image}"),
        LONG,
        || async {
            let d = deployments.get(name).await.ok()?;
            let got = d
                .spec
                .as_ref()?
                .template
                .spec
                .as_ref()?
                .containers
                .first()?
                .image
                .clone()?;
            (got == image).then_some(d)
        },
    )
    .await;
    match found {
        Ok(d) => d,
        Err(e) => panic!("{e}; the sources: {}", statuses(client).await),
    }
}

/// The status of every source and binding, for a failure message.
async fn statuses(client: &Client) -> String {
    let mut out = String::new();
    for kind in ["VSphereSource", "HorizonSource", "VSphereBinding"] {
        for o in sources_group_api(client, NS, kind)
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            out += &format!("\n{kind}/{}: {}", o.name_any(), o.data["status"]);
        }
    }
    out
}

fn env_names(pod: &Value) -> Vec<String> {
    pod["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_installation_migrates_to_this_release() {
    test_support::install_crypto_provider();
    let server = KubeApiServer::shared();
    let admin = server
        .admin_with_knative_crds()
        .await
        .expect("client with Knative's CRDs");

    // ---- 1. The Go installation.
    let go_release = upstream_release().expect("upstream config/");
    server
        .install_crds(&admin, &go_release)
        .await
        .expect("the Go CRDs");
    server
        .apply_yaml(&admin, &go_release, NS, false)
        .await
        .expect("the Go release");
    let go_adapter_image = kube_harness::yaml_documents(
        &upstream_yaml("config/500-vsphere-webhook.yaml").expect("YAML"),
    )
    .expect("YAML")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "VSPHERE_ADAPTER")
        .and_then(|e| e["value"].as_str())
        .expect("VSPHERE_ADAPTER")
        .to_owned();
    // The namespace's ServiceAccount `default`, which kube-controller-manager makes.
    create(
        &Api::<ServiceAccount>::namespaced(admin.clone(), NS),
        json!({"metadata": {"name": "default", "namespace": NS}}),
    )
    .await;
    // The sinks, as Knative reports them.
    let service_url = "http://sockeye.default.svc.cluster.local";
    let broker_url = "http://broker-ingress.knative-eventing.svc.cluster.local/default/default";
    let example_broker_url =
        "http://broker-ingress.knative-eventing.svc.cluster.local/default/example-broker";
    let ksvc = dynamic_api(&admin, NS, "serving.knative.dev", "v1", "Service");
    create(&ksvc, json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "sockeye", "namespace": NS},
        "spec": {"template": {"spec": {"containers": [{"image": "docker.io/n3wscott/sockeye:v0.7.0"}]}}}}))
    .await;
    merge_status(
        &ksvc,
        "sockeye",
        json!({"url": service_url, "address": {"url": service_url}}),
    )
    .await;
    let brokers = dynamic_api(&admin, NS, "eventing.knative.dev", "v1", "Broker");
    for (name, url) in [
        ("default", broker_url),
        ("example-broker", example_broker_url),
    ] {
        create(
            &brokers,
            json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": name, "namespace": NS}}),
        )
        .await;
        merge_status(&brokers, name, json!({"address": {"url": url}})).await;
    }
    // The upstream samples (and the Horizon Secret its README creates with kubectl).
    for sample in [
        "samples/vcsim/secret.yaml",
        "samples/vcsim/source.yaml",
        "samples/tag-new-vms/source.yaml",
        "samples/govc/binding.yaml",
        "samples/horizon/horizon-source.yml",
    ] {
        server
            .apply_yaml(&admin, &upstream_yaml(sample).expect("sample"), NS, false)
            .await
            .unwrap_or_else(|e| panic!("{sample}: {e}"));
    }
    create(
        &Api::<Secret>::namespaced(admin.clone(), NS),
        json!({"metadata": {"name": "horizon-credentials"},
               "stringData": {"domain": "corp", "username": "administrator", "password": "secret"}}),
    )
    .await;
    // The Go defaulting webhook's work (§2.2, §2.3).
    let vss = sources_group_api(&admin, NS, "VSphereSource");
    for name in ["vcsim", "vcsim-to-broker"] {
        vss.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"sink": {"ref": {"namespace": NS}},
                "checkpointConfig": {"maxAgeSeconds": 0, "periodSeconds": 10},
                "payloadEncoding": "application/xml"}})),
        )
        .await
        .expect("Go defaults");
    }
    let vsb = sources_group_api(&admin, NS, "VSphereBinding");
    vsb.patch(
        "vsphere-jobs",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"finalizers": ["vspherebindings.sources.tanzu.vmware.com"]},
                             "spec": {"subject": {"namespace": NS}}}),
        ),
    )
    .await
    .expect("Go defaults");
    merge_status(
        &vsb,
        "vsphere-jobs",
        json!({"observedGeneration": 2, "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}),
    )
    .await;
    // The Go controllers' children and status (§3.2, §3.3), and the Job the binding bound (§4.3).
    for (name, sink) in [("vcsim", service_url), ("vcsim-to-broker", broker_url)] {
        let source = vss.get(name).await.expect("source");
        go_vsphere_children(&admin, &source, &go_adapter_image, sink).await;
    }
    let job_doc =
        kube_harness::yaml_documents(&upstream_yaml("samples/govc/job.yaml").expect("job"))
            .expect("YAML")
            .remove(0);
    let mut job = job_doc.clone();
    job["metadata"]["namespace"] = json!(NS);
    job["spec"]["template"]["spec"] = go_bound(
        job["spec"]["template"]["spec"].clone(),
        "https://vcsim.default.svc.cluster.local",
        true,
        "vsphere-credentials",
    );
    create(&Api::<Job>::namespaced(admin.clone(), NS), job).await;
    // The Horizon controller's ServiceAccount and Deployment (§3.4, §7.4).
    let hs = sources_group_api(&admin, NS, "HorizonSource");
    let horizon = hs.get("horizon-example").await.expect("HorizonSource");
    let h_own = owner(
        "HorizonSource",
        "horizon-example",
        &horizon.uid().expect("uid"),
    );
    let h_labels = json!({"knative-eventing-source": "horizon-source-controller",
                          "knative-eventing-source-name": "horizon-example"});
    create(
        &Api::<ServiceAccount>::namespaced(admin.clone(), NS),
        json!({"metadata": {"name": "horizon-source-sa", "namespace": NS, "labels": h_labels,
                            "ownerReferences": [h_own]}}),
    )
    .await;
    create(
        &Api::<Deployment>::namespaced(admin.clone(), NS),
        json!({"metadata": {"name": "horizon-example-adapter", "namespace": NS, "labels": h_labels,
                            "ownerReferences": [h_own]},
               "spec": {"replicas": 1, "selector": {"matchLabels": h_labels}, "strategy": {"type": "Recreate"},
                        "template": {"metadata": {"labels": h_labels}, "spec": {
                            "serviceAccountName": "horizon-source-sa",
                            "volumes": [{"name": "horizon-credentials", "secret": {"secretName": "horizon-credentials"}}],
                            "containers": [{"name": "adapter",
                                "image": "ko://github.com/vmware-tanzu/sources-for-knative/cmd/horizon-adapter",
                                "volumeMounts": [{"name": "horizon-credentials", "readOnly": true,
                                                  "mountPath": "/var/bindings/horizon"}],
                                "env": [
                                    {"name": "HORIZON_URL", "value": "https://horizon.server.example.com"},
                                    {"name": "HORIZON_INSECURE", "value": "false"},
                                    {"name": "METRICS_DOMAIN", "value": "knative.dev/eventing"},
                                    {"name": "K_CE_OVERRIDES", "value": ""},
                                    {"name": "SINK_URI", "value": example_broker_url},
                                    {"name": "K_SINK", "value": example_broker_url},
                                    {"name": "NAME", "value": "horizon-example"},
                                    {"name": "NAMESPACE", "value": NS}]}]}}}}),
    )
    .await;
    merge_status(&hs, "horizon-example", json!({"observedGeneration": 1, "sinkUri": example_broker_url,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]})).await;

    // The Go webhook's certificates (Knative's certificates controller, the same Secret keys).
    let go_pki = test_support::TestPki::new(&["vsphere-source-webhook.vmware-sources.svc"]);
    Api::<Secret>::namespaced(admin.clone(), SYSTEM_NAMESPACE)
        .patch(
            "vsphere-webhook-certs",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"ca-cert.pem": go_pki.ca_pem(),
                "server-cert.pem": go_pki.cert_pem(), "server-key.pem": go_pki.key_pem()}})),
        )
        .await
        .expect("the Go webhook's certificates");

    // The Go adapter's checkpoint (§6.5): it delivered the first 10 events of this vCenter.
    let sim = vsphere_sim::Simulator::builder()
        .credentials("user", "pass")
        .login_events(false)
        .start()
        .await
        .expect("simulator");
    let (first, delivered) = sim.generate(10).expect("events");
    let vc = VcClient::builder(sim.url())
        .credentials(Credentials::new("user", "pass"))
        .connect()
        .await
        .expect("login");
    let root = vc.service_content().root_folder.clone();
    let collector = vc
        .create_event_collector(
            &EventFilterSpec::new()
                .entity(root, Recursion::All)
                .begin_time("2000-01-01T00:00:00Z".parse().expect("time")),
        )
        .await
        .expect("collector");
    let events = collector.read_next(100).await.expect("events");
    let last = events
        .iter()
        .find(|e| e.key() == delivered)
        .expect("the delivered event");
    let checkpoint = format!(
        r#"{{"vCenter":"{}","lastEventKey":{delivered},"lastEventType":"{}","lastEventKeyTimestamp":"{}","createdTimestamp":"{}"}}"#,
        sim.url(),
        last.kind_name(),
        last.created_time().expect("createdTime"),
        jiff::Timestamp::now(),
    );
    let _ = vc.logout().await;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), NS);
    cms.patch(
        "vcsim-configmap",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"checkpoint": checkpoint}})),
    )
    .await
    .expect("the Go checkpoint");
    // Events that happen while the adapters are switched.
    let (missed_first, missed_last) = sim.generate(10).expect("events");
    assert_eq!(missed_first, delivered + 1);
    assert!(first < delivered);

    let mut uids = BTreeMap::new();
    for (kind, name) in [
        ("VSphereSource", "vcsim"),
        ("ConfigMap", "vcsim-configmap"),
        ("Deployment", "vcsim-adapter"),
        ("VSphereSource", "vcsim-to-broker"),
        ("Deployment", "vcsim-to-broker-adapter"),
        ("VSphereBinding", "vsphere-jobs"),
        ("HorizonSource", "horizon-example"),
        ("ServiceAccount", "horizon-source-sa"),
        ("Deployment", "horizon-example-adapter"),
    ] {
        uids.insert((kind, name), uid_of(&admin, kind, name).await);
    }

    // ---- 2. The guide's steps.
    // Replay from the Go adapter's checkpoint (the Go webhook stored maxAgeSeconds: 0).
    for name in ["vcsim", "vcsim-to-broker"] {
        vss.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"checkpointConfig": {"maxAgeSeconds": 3600}}})),
        )
        .await
        .expect("maxAgeSeconds");
    }
    // Delete the Go control plane, never the CRDs.
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), SYSTEM_NAMESPACE);
    for name in GO_DEPLOYMENTS {
        deployments
            .delete(name, &DeleteParams::default())
            .await
            .expect(name);
    }
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(admin.clone(), SYSTEM_NAMESPACE)
        .delete("vsphere-source-webhook", &DeleteParams::default())
        .await
        .expect("the Go webhook Service");
    let mutating: Api<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration> =
        Api::all(admin.clone());
    for name in GO_MUTATING {
        mutating
            .delete(name, &DeleteParams::default())
            .await
            .expect(name);
    }
    let validating: Api<
        k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
    > = Api::all(admin.clone());
    for name in GO_VALIDATING {
        validating
            .delete(name, &DeleteParams::default())
            .await
            .expect(name);
    }
    // kubectl apply -f release.yaml
    let release = Release::generate().expect("config/release.sh");
    release
        .apply(server, &admin, false)
        .await
        .expect("apply the release");
    // The CRDs are this release's (structural schemas), the objects the same.
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(admin.clone());
    let crd = crds
        .get("vspheresources.sources.tanzu.vmware.com")
        .await
        .expect("CRD");
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("JSON");
    assert!(
        schema["openAPIV3Schema"]["properties"]["spec"].is_object(),
        "{schema}"
    );
    assert_eq!(
        uid_of(&admin, "VSphereSource", "vcsim").await,
        uids[&("VSphereSource", "vcsim")]
    );

    // The release running: its webhooks and its controllers, as its ServiceAccount.
    let hooks = ReleaseWebhooks::start(server, &admin, &release)
        .await
        .expect("webhooks");
    let controllers = ReleaseControllers::start(server, &admin, &release, NS)
        .await
        .expect("controllers");

    // ---- 3. Ready, with the same children.
    for name in ["vcsim", "vcsim-to-broker"] {
        wait_image(
            &admin,
            &format!("{name}-adapter"),
            &release.vsphere_adapter_image,
        )
        .await;
        mark_available(&admin, &format!("{name}-adapter")).await;
        let source = wait_ready(&admin, "VSphereSource", name).await;
        assert!(
            source.data["status"]["sinkUri"] == service_url
                || source.data["status"]["sinkUri"] == broker_url,
            "{:?}",
            source.data["status"]
        );
    }
    wait_image(
        &admin,
        "horizon-example-adapter",
        &release.horizon_adapter_image,
    )
    .await;
    mark_available(&admin, "horizon-example-adapter").await;
    wait_ready(&admin, "HorizonSource", "horizon-example").await;
    wait_ready(&admin, "VSphereBinding", "vsphere-jobs").await;
    // The Go controller's per-source binding is retired: the controller renders the adapter's
    // vCenter settings itself (docs/operator-guide.md, migration step 4).
    let vsb = sources_group_api(&admin, NS, "VSphereBinding");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while vsb
        .get_opt("vcsim-vspherebinding")
        .await
        .expect("get")
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "vcsim-vspherebinding still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for ((kind, name), uid) in &uids {
        assert_eq!(
            &uid_of(&admin, kind, name).await,
            uid,
            "{kind}/{name} was replaced, not adopted"
        );
    }
    for (kind, name, owner_kind, owner_name) in [
        ("ConfigMap", "vcsim-configmap", "VSphereSource", "vcsim"),
        ("RoleBinding", "vcsim-rolebinding", "VSphereSource", "vcsim"),
        ("Deployment", "vcsim-adapter", "VSphereSource", "vcsim"),
        (
            "Deployment",
            "vcsim-to-broker-adapter",
            "VSphereSource",
            "vcsim-to-broker",
        ),
        (
            "Deployment",
            "horizon-example-adapter",
            "HorizonSource",
            "horizon-example",
        ),
    ] {
        assert_eq!(
            controllers_of(&admin, kind, name).await,
            vec![uids[&(owner_kind, owner_name)].clone()],
            "{kind}/{name}: one controller, its source"
        );
    }
    // The Go RoleBinding bound the ClusterRole vsphere-receive-adapter-cm (every ConfigMap of the
    // namespace); a RoleBinding's role cannot change, so it is replaced by one of the same name
    // bound to the source's Role for its checkpoint ConfigMap only.
    let rb = Api::<RoleBinding>::namespaced(admin.clone(), NS)
        .get("vcsim-rolebinding")
        .await
        .expect("RoleBinding");
    assert_eq!(
        (rb.role_ref.kind.as_str(), rb.role_ref.name.as_str()),
        ("Role", "vcsim-checkpoint")
    );
    // The bound Job: bound once, by the binding that kept its finalizer.
    let binding = sources_group_api(&admin, NS, "VSphereBinding")
        .get("vsphere-jobs")
        .await
        .expect("binding");
    assert_eq!(
        binding.metadata.finalizers.clone().unwrap_or_default(),
        vec!["vspherebindings.sources.tanzu.vmware.com".to_owned()]
    );
    let job = Api::<Job>::namespaced(admin.clone(), NS)
        .get("vsphere-script")
        .await
        .expect("Job");
    let job_pod = serde_json::to_value(&job).expect("JSON")["spec"]["template"]["spec"].clone();
    let names = env_names(&job_pod);
    assert_eq!(
        names.iter().filter(|n| *n == "VC_URL").count(),
        1,
        "{names:?}"
    );
    // The adopted adapter Deployment: this release's env, bound by its binding.
    let adapter_dep = Api::<Deployment>::namespaced(admin.clone(), NS)
        .get("vcsim-adapter")
        .await
        .expect("Deployment");
    let pod = serde_json::to_value(&adapter_dep).expect("JSON")["spec"]["template"]["spec"].clone();
    let names = env_names(&pod);
    for n in [
        "VSPHERE_KVSTORE_CONFIGMAP",
        "VSPHERE_CHECKPOINT_CONFIG",
        "K_SINK",
        "VC_URL",
        "VC_PASSWORD",
    ] {
        assert_eq!(
            names.iter().filter(|x| *x == n).count(),
            1,
            "{n} once in {names:?}"
        );
    }
    // It runs as its own ServiceAccount now (the Go adapter ran as `default`).
    assert_eq!(pod["serviceAccountName"], "vcsim-adapter");
    // The controller left the Go checkpoint as it was.
    assert_eq!(
        cms.get("vcsim-configmap")
            .await
            .expect("ConfigMap")
            .data
            .unwrap_or_default()
            .get("checkpoint"),
        Some(&checkpoint)
    );

    // ---- 4. The adapter resumes from the Go checkpoint, with the adopted Deployment's env.
    let sink = RecordingSink::start().await;
    let secret = Api::<Secret>::namespaced(admin.clone(), NS)
        .get("vsphere-credentials")
        .await
        .expect("Secret");
    let secret_data: BTreeMap<String, String> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    let secret_dir = common::secret_dir(&secret_data["username"], &secret_data["password"]);
    // The adapter runs as its ServiceAccount, with the RoleBinding the Go controller made.
    let sa_name = pod["serviceAccountName"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    let kubeconfig = tempfile::NamedTempFile::new().expect("kubeconfig");
    let token_request: k8s_openapi::api::authentication::v1::TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .expect("object");
    let token = Api::<ServiceAccount>::namespaced(admin.clone(), NS)
        .create_token_request(&sa_name, &PostParams::default(), &token_request)
        .await
        .expect("token")
        .status
        .expect("status")
        .token;
    server
        .write_kubeconfig_for_token(&token, kubeconfig.path())
        .expect("kubeconfig");
    let mut env: Vec<(&str, String)> = Vec::new();
    for e in pod["containers"][0]["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("name");
        let value = if let Some(v) = e["value"].as_str() {
            v.to_owned()
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.namespace" => NS.to_owned(),
                "metadata.name" => "vcsim-adapter-5d8f7c-abcde".to_owned(),
                other => panic!("fieldRef {other}"),
            }
        } else if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str() {
            secret_data[key].clone()
        } else {
            String::new()
        };
        let value = match name {
            // The address names vcsim.default.svc; this vCenter answers on loopback.
            "VC_URL" => sim.url().to_owned(),
            // The sink's in-cluster URL, here a recording sink.
            "K_SINK" => sink.url(),
            _ => value,
        };
        env.push((Box::leak(name.to_owned().into_boxed_str()), value));
    }
    env.retain(|(k, _)| *k != "VC_SECRET_PATH");
    env.push(("VC_SECRET_PATH", secret_dir.path().display().to_string()));
    env.push(("KUBECONFIG", kubeconfig.path().display().to_string()));
    let mut adapter = Adapter::start(&env);
    // Delivery is concurrent: the last key may come before the others, so wait for all of them
    // (then compare as a sorted list: a duplicate or an extra key would show).
    let want: Vec<i64> = (missed_first..=missed_last).collect();
    common::eventually(LONG, || {
        let got = ids(&sink.accepted());
        want.iter().all(|k| got.contains(k))
    })
    .await;
    let got = sink.accepted();
    let mut keys = ids(&got);
    keys.sort_unstable();
    assert_eq!(
        keys,
        (missed_first..=missed_last).collect::<Vec<_>>(),
        "resumed right after the Go checkpoint's event {delivered}; log:\n{}",
        adapter.log().join("\n")
    );
    assert_eq!(
        adapter.terminate(Duration::from_secs(30)).await,
        Some(0),
        "{}",
        adapter.log().join("\n")
    );
    let saved: Value = serde_json::from_str(
        cms.get("vcsim-configmap")
            .await
            .expect("ConfigMap")
            .data
            .unwrap_or_default()
            .get("checkpoint")
            .expect("checkpoint"),
    )
    .expect("JSON");
    assert_eq!(saved["lastEventKey"], missed_last);
    for field in [
        "vCenter",
        "lastEventType",
        "lastEventKeyTimestamp",
        "createdTimestamp",
    ] {
        assert!(saved[field].is_string(), "{field} in {saved}");
    }

    controllers.stop().await;
    hooks.stop().await;
}
