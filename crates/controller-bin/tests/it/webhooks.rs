//! The admission webhooks and the VSphereBinding reconciler against a real
//! kube-apiserver that calls the webhooks over TLS on loopback: the
//! configurations are `config/500-vsphere-webhook-configuration.yaml` with
//! `clientConfig.url` pointing at the test's server (the controller writes
//! `caBundle`, the binding rules and selectors, as in a cluster).
//!
//! One test function: the webhook configurations are cluster-wide, so the
//! sections share one API server and one webhook server.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use sources_api::v1alpha1::VSphereBinding;
use sources_controller::certs;
use sources_controller::webhook::{self, SelectionMode};
use sources_controller::{Settings, run_binding_controller, run_controllers};
use tokio::sync::oneshot;

use crate::support::*;

/// The pod spec the API server would store for `job`, by a dry-run create
/// (the webhooks declare no side effects).
async fn admitted_pod_spec(jobs: &Api<Job>, job: &Job) -> Value {
    let created = jobs.create(&dry_run(), job).await.unwrap();
    serde_json::to_value(&created).unwrap()["spec"]["template"]["spec"].clone()
}

fn deployment(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox",
                                        "env": [{"name": "MINE", "value": "1"}]}],
                    "containers": [{"name": "app", "image": "busybox",
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }
        }
    })
}

/// Whether the pod spec carries the whole binding (volume, mount and the
/// four env entries in every container and init container).
fn is_bound(pod_spec: &Value) -> bool {
    let vol = pod_spec["volumes"].as_array().is_some_and(|v| {
        v.iter()
            .any(|v| v["name"] == "vsphere-binding" && v["secret"]["secretName"] == "creds")
    });
    let containers = pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(pod_spec["initContainers"].as_array().into_iter().flatten());
    let mut all = true;
    for c in containers {
        let mount = c["volumeMounts"].as_array().is_some_and(|m| {
            m.iter().any(|m| {
                m["name"] == "vsphere-binding"
                    && m["mountPath"] == "/var/bindings/vsphere"
                    && m["readOnly"] == true
            })
        });
        let names: Vec<&str> = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str())
            .collect();
        let env = ["VC_URL", "VC_INSECURE", "VC_USERNAME", "VC_PASSWORD"]
            .iter()
            .all(|n| names.contains(n));
        all &= mount && env;
    }
    vol && all
}

/// Whether nothing of the binding is left.
fn is_unbound(pod_spec: &Value) -> bool {
    let s = pod_spec.to_string();
    !s.contains("vsphere-binding")
        && !s.contains("VC_URL")
        && !s.contains("VC_PASSWORD")
        && !s.contains("VC_CA_CERTS")
}

async fn pod_spec(api: &Api<Deployment>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()["spec"]["template"]["spec"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_called_by_the_api_server() {
    let cluster = AdmissionCluster::take("wh").await;
    let (server, client, sys) = (cluster.server, cluster.client.clone(), cluster.sys.clone());
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.patch(
        &sys,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"labels": {"sources.tanzu.vmware.com/release": "devel"}}}),
        ),
    )
    .await
    .unwrap();
    let ns = cluster.namespace("wh").await;

    let settings = cluster.webhook_settings();
    let (hooks, addr) = Webhooks::start(&client, settings.clone()).await;
    let base = format!("https://127.0.0.1:{}", addr.port());
    for doc in configurations(&base) {
        server
            .apply_yaml(
                &client,
                &serde_yaml::to_string(&doc).unwrap(),
                "default",
                false,
            )
            .await
            .unwrap();
    }
    let first_ca = wait_ca_current(&client, &sys, "vsphere-webhook-certs").await;

    // Reconcilers: bindings, and the sources (for the last section).
    let (stop_ctl, ctl_stopped) = oneshot::channel::<()>();
    let (stop_b, b_stopped) = oneshot::channel::<()>();
    let c = client.clone();
    let bindings_task = tokio::spawn(run_binding_controller(
        c,
        Some(ns.clone()),
        Duration::from_secs(60),
        SelectionMode::Inclusion,
        async {
            let _ = b_stopped.await;
        },
    ));
    let mut ctl_settings = Settings::new(
        "registry.test/vsphere-adapter:dev",
        "registry.test/horizon-adapter:dev",
        &sys,
    );
    ctl_settings.watch_namespace = Some(ns.clone());
    ctl_settings.identity = format!("test-{ns}");
    let c = client.clone();
    let ctl_task = tokio::spawn(async move {
        let _ = run_controllers(c, ctl_settings, Arc::default(), async {
            let _ = ctl_stopped.await;
        })
        .await;
    });

    // --- Validation and defaulting.
    let empty = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
                       "metadata": {"name": "empty"},
                       "spec": {"sink": {}, "address": "vc.local", "secretRef": {"name": "creds"}}});
    let msg = validation_denial(&client, &ns, &empty).await;
    assert!(
        msg.contains("validation.webhook.vsphere.sources.tanzu.vmware.com")
            && msg.contains(
                "validation failed: expected at least one, got none: spec.sink.ref, spec.sink.uri\n\
                             missing field(s): spec.address.host"
            ),
        "{msg}"
    );
    let unknown = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": "unknown"},
        "spec": {"sink": {"uri": "http://x.y"}, "address": "https://vc.local", "secretRef": {"name": "creds"}, "bogus": 1}});
    // The CRDs' structural schema prunes unknown fields before admission
    // (so the webhook's strict decoding only sees what survives); with
    // strict field validation (kubectl's default) the API server rejects
    // them.
    let strict = PatchParams::apply("test-user").validation_strict();
    let msg = denial(
        kube_harness::sources_group_api(&client, &ns, "VSphereSource")
            .patch("unknown", &strict, &Patch::Apply(&unknown))
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains(".spec.bogus: field not declared in schema"),
        "{msg}"
    );
    let bad_ext = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": "ext"},
        "spec": {"sink": {"uri": "http://x.y"}, "address": "https://vc.local", "secretRef": {"name": "creds"},
                 "ceOverrides": {"extensions": {"Upper": "x"}}}});
    let msg = denial(create_raw(&client, &ns, bad_ext).await.unwrap_err());
    assert!(
        msg.contains("invalid key name \"Upper\": spec.ceOverrides.extensions"),
        "{msg}"
    );
    // adapterOverrides that would break the adapter's contract, through the API server.
    let bad_overrides = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": "overrides"},
        "spec": {"sink": {"uri": "http://x.y"}, "address": "https://vc.local", "secretRef": {"name": "creds"},
                 "adapterOverrides": {"env": [{"name": "K_SINK", "value": "http://elsewhere"}],
                                      "labels": {"knative-eventing-source-name": "x"}}}});
    let msg = denial(create_raw(&client, &ns, bad_overrides).await.unwrap_err());
    assert!(
        msg.contains("invalid value: K_SINK: spec.adapterOverrides.env[0].name")
            && msg.contains("the controller sets this variable")
            && msg.contains("spec.adapterOverrides.labels[knative-eventing-source-name]"),
        "{msg}"
    );
    let binding_bad = binding_json(
        "bad",
        json!({"apiVersion": "apps/v1", "kind": "Deployment"}),
    );
    let msg = denial(create_raw(&client, &ns, binding_bad).await.unwrap_err());
    assert!(
        msg.contains("expected exactly one, got neither: spec.subject.name, spec.subject.selector"),
        "{msg}"
    );

    // Defaults on create (the object is sent without them).
    let minimal = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": "defaults"},
        "spec": {"sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
                 "address": "https://vc.local", "secretRef": {"name": "creds"}, "payloadEncoding": "Application/JSON"}});
    let created = create_raw(&client, &ns, minimal).await.unwrap();
    assert_eq!(
        created["spec"]["checkpointConfig"],
        json!({"maxAgeSeconds": 300, "periodSeconds": 10})
    );
    assert_eq!(created["spec"]["payloadEncoding"], "application/json");
    assert_eq!(created["spec"]["sink"]["ref"]["namespace"], ns.as_str());

    // HorizonSource: defaults (no serviceAccountName), then the spec is
    // immutable.
    let hs = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
        "metadata": {"name": "h"},
        "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://horizon.local", "secretRef": {"name": "creds"}}});
    let created = create_raw(&client, &ns, hs).await.unwrap();
    assert!(
        created["spec"].get("serviceAccountName").is_none(),
        "not defaulted (a dedicated ServiceAccount): {created}"
    );
    let msg = denial(
        kube_harness::sources_group_api(&client, &ns, "HorizonSource")
            .patch(
                "h",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"serviceAccountName": "other"}})),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        msg.contains("Immutable fields changed (-old +new): spec")
            && msg.contains(
                "{v1alpha1.HorizonSourceSpec}.ServiceAccountName:\n\t-: null\n\t+: \"other\""
            ),
        "{msg}"
    );

    // config-logging in the system namespace.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &sys);
    let bad_cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "config-logging"},
        "data": {"loglevel.controller": "loud"}}))
    .unwrap();
    let msg = denial(
        cms.create(&PostParams::default(), &bad_cm)
            .await
            .unwrap_err(),
    );
    assert!(msg.contains("invalid logging level: loud"), "{msg}");
    let good_cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "config-logging"},
        "data": {"loglevel.controller": "debug", "zap-logger-config": "{\"level\":\"info\"}"}}))
    .unwrap();
    cms.create(&PostParams::default(), &good_cm).await.unwrap();

    // --- A Deployment bound by name: Do, kept on re-apply, Undo on delete.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let original = deployment("by-name", json!({}));
    let ssa = PatchParams::apply("test-user").force();
    deps.patch("by-name", &ssa, &Patch::Apply(&original))
        .await
        .unwrap();
    let before = pod_spec(&deps, "by-name").await;
    // With spec.caCerts (new): the adapter or app trusts vCenter's private CA.
    let ca_pem = test_support::TestPki::new(&["vc.local"])
        .ca_pem()
        .to_owned();
    let ca_pem = ca_pem.as_str();
    let mut by_name = binding_json(
        "b-name",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "by-name"}),
    );
    by_name["spec"]["caCerts"] = json!(ca_pem);
    create_raw(&client, &ns, by_name).await.unwrap();
    eventually("by-name bound", || async {
        is_bound(&pod_spec(&deps, "by-name").await).then_some(())
    })
    .await;
    let ps = pod_spec(&deps, "by-name").await;
    let env = &ps["containers"][0]["env"];
    assert_eq!(
        env[0],
        json!({"name": "VC_URL", "value": "https://vc.local"})
    );
    assert_eq!(env[1], json!({"name": "VC_INSECURE", "value": "true"}));
    assert_eq!(
        env[3],
        json!({"name": "VC_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}})
    );
    assert_eq!(env[4], json!({"name": "VC_CA_CERTS", "value": ca_pem}));
    let vsb: Api<VSphereBinding> = Api::namespaced(client.clone(), &ns);
    let b = eventually("b-name Ready", || async {
        let b = vsb.get("b-name").await.unwrap();
        let ready = b
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .status
            .clone();
        (ready == "True").then_some(b)
    })
    .await;
    assert_eq!(
        b.metadata.finalizers.as_deref(),
        Some(&["vspherebindings.sources.tanzu.vmware.com".to_owned()][..])
    );
    // A second apply of the user's manifest keeps the binding (admission).
    deps.patch("by-name", &ssa, &Patch::Apply(&original))
        .await
        .unwrap();
    assert!(is_bound(&pod_spec(&deps, "by-name").await));
    // Deleting the binding removes what it added, and only that.
    vsb.delete("b-name", &DeleteParams::default())
        .await
        .unwrap();
    eventually("b-name gone", || async {
        vsb.get_opt("b-name").await.unwrap().is_none().then_some(())
    })
    .await;
    let after = pod_spec(&deps, "by-name").await;
    assert!(is_unbound(&after), "{after}");
    assert_eq!(after["volumes"], before["volumes"]);
    assert_eq!(
        after["initContainers"][0]["env"],
        before["initContainers"][0]["env"]
    );
    assert_eq!(
        after["containers"][0]["volumeMounts"],
        before["containers"][0]["volumeMounts"]
    );

    // A named subject that does not exist.
    create_raw(
        &client,
        &ns,
        binding_json(
            "b-missing",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "nope"}),
        ),
    )
    .await
    .unwrap();
    eventually("SubjectMissing", || async {
        let b = vsb.get("b-missing").await.unwrap();
        let c = b
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (c.status == "False" && c.reason.as_deref() == Some("SubjectMissing")).then_some(())
    })
    .await;

    // --- By selector: an existing Deployment, and a Job created later is
    // bound at admission.
    deps.patch(
        "by-label",
        &ssa,
        &Patch::Apply(&deployment("by-label", json!({"vsphere": "yes"}))),
    )
    .await
    .unwrap();
    create_raw(
        &client,
        &ns,
        binding_json(
            "b-sel",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                     "selector": {"matchLabels": {"vsphere": "yes"}}}),
        ),
    )
    .await
    .unwrap();
    eventually("by-label bound", || async {
        is_bound(&pod_spec(&deps, "by-label").await).then_some(())
    })
    .await;
    create_raw(
        &client,
        &ns,
        binding_json(
            "b-job",
            json!({"apiVersion": "batch/v1", "kind": "Job",
                                     "selector": {"matchLabels": {"vsphere": "yes"}}}),
        ),
    )
    .await
    .unwrap();
    eventually("jobs rule", || async {
        let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        let c = m.get(webhook::BINDING_WEBHOOK).await.unwrap();
        let rules = serde_json::to_string(&c.webhooks.unwrap()[0].rules).unwrap();
        rules.contains("jobs/*").then_some(())
    })
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "later", "labels": {"vsphere": "yes"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap();
    // The stored rules reach the API server's admission a moment later.
    eventually("the jobs rule in use", || async {
        is_bound(&admitted_pod_spec(&jobs, &job).await).then_some(())
    })
    .await;
    let created = jobs.create(&PostParams::default(), &job).await.unwrap();
    let ps = serde_json::to_value(&created).unwrap()["spec"]["template"]["spec"].clone();
    assert!(is_bound(&ps), "bound at admission: {ps}");

    // --- The other PodSpecable kinds: StatefulSet, DaemonSet, ReplicaSet,
    // Knative Service and Configuration, bound by the reconciler.
    server.install_knative_crds(&client).await.unwrap();
    let template = json!({"metadata": {"labels": {"app": "m"}},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let selector = json!({"matchLabels": {"app": "m"}});
    let subjects = [
        (
            "apps",
            "v1",
            "StatefulSet",
            json!({"selector": selector, "serviceName": "m", "template": template}),
        ),
        (
            "apps",
            "v1",
            "DaemonSet",
            json!({"selector": selector, "template": template}),
        ),
        (
            "apps",
            "v1",
            "ReplicaSet",
            json!({"selector": selector, "template": template}),
        ),
        (
            "serving.knative.dev",
            "v1",
            "Service",
            json!({"template": template}),
        ),
        (
            "serving.knative.dev",
            "v1",
            "Configuration",
            json!({"template": template}),
        ),
    ];
    for (group, version, kind, spec) in &subjects {
        let (ar, _) =
            kube::discovery::pinned_kind(&client, &GroupVersionKind::gvk(group, version, kind))
                .await
                .unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        let name = format!("multi-{}", kind.to_lowercase());
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{group}/{version}"), "kind": kind,
            "metadata": {"name": name}, "spec": spec
        }))
        .unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();
        create_raw(
            &client,
            &ns,
            binding_json(
                &format!("b-{name}"),
                json!({"apiVersion": format!("{group}/{version}"), "kind": kind, "name": name}),
            ),
        )
        .await
        .unwrap();
        eventually(&format!("{kind} bound"), || async {
            let o = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
            is_bound(&o["spec"]["template"]["spec"]).then_some(())
        })
        .await;
    }
    let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let w = m
        .get(webhook::BINDING_WEBHOOK)
        .await
        .unwrap()
        .webhooks
        .unwrap()
        .remove(0);
    assert_eq!(w.reinvocation_policy.as_deref(), Some("IfNeeded"));
    assert_eq!(w.match_policy.as_deref(), Some("Equivalent"));
    eventually("rules for every kind in use", || async {
        let w = m
            .get(webhook::BINDING_WEBHOOK)
            .await
            .unwrap()
            .webhooks
            .unwrap()
            .remove(0);
        let rules = serde_json::to_string(&w.rules).unwrap();
        [
            "deployments/*",
            "jobs/*",
            "statefulsets/*",
            "daemonsets/*",
            "replicasets/*",
            "services/*",
            "configurations/*",
        ]
        .iter()
        .all(|r| rules.contains(r))
        .then_some(())
    })
    .await;

    // --- Hostile subjects: refused at admission with the reason...
    let hostile = [
        (
            json!({"apiVersion": "apps/*", "kind": "Deployment", "name": "x"}),
            "invalid value: apps/*: spec.subject.apiVersion",
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "*", "name": "x"}),
            "invalid value: *: spec.subject.kind",
        ),
        (
            json!({"apiVersion": "v1", "kind": "Pod", "name": "x"}),
            "Pod (core group) is not a PodSpecable kind a VSphereBinding may bind",
        ),
    ];
    for (i, (subject, want)) in hostile.iter().enumerate() {
        let msg = denial(
            create_raw(
                &client,
                &ns,
                binding_json(&format!("hostile-{i}"), subject.clone()),
            )
            .await
            .unwrap_err(),
        );
        assert!(msg.contains(want), "{want:?} in {msg}");
    }
    // ...and one stored while the validation webhook was away never makes
    // the generated rules invalid, and goes away cleanly.
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    v.delete(webhook::VALIDATION_WEBHOOK, &DeleteParams::default())
        .await
        .unwrap();
    let wildcard = binding_json(
        "wildcard",
        json!({"apiVersion": "apps/*", "kind": "Deployment", "name": "by-label"}),
    );
    eventually("the validation webhook out of use", || async {
        create_raw(&client, &ns, wildcard.clone()).await.ok()
    })
    .await;
    let validation_doc = configurations(&base)
        .into_iter()
        .find(|d| d["metadata"]["name"] == webhook::VALIDATION_WEBHOOK)
        .unwrap();
    server
        .apply_yaml(
            &client,
            &serde_yaml::to_string(&validation_doc).unwrap(),
            "default",
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        wait_ca_current(&client, &sys, "vsphere-webhook-certs").await,
        first_ca
    );
    let deployments_rule = eventually("rules without the wildcard binding", || async {
        let c = m.get(webhook::BINDING_WEBHOOK).await.unwrap();
        let rules = c.webhooks.unwrap()[0].rules.clone().unwrap_or_default();
        let r = rules
            .into_iter()
            .find(|r| r.resources.as_deref() == Some(&["deployments/*".to_owned()][..]))?;
        Some(r)
    })
    .await;
    assert_eq!(
        deployments_rule.api_versions.as_deref(),
        Some(&["v1".to_owned()][..])
    );
    let (reason, message) = eventually("wildcard SubjectInvalid", || async {
        let b = vsb.get("wildcard").await.unwrap();
        let c = b
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (c.status == "False")
            .then_some((c.reason.unwrap_or_default(), c.message.unwrap_or_default()))
    })
    .await;
    assert_eq!(reason, "SubjectInvalid", "{message}");
    assert!(message.contains("apps/*"), "{message}");
    vsb.delete("wildcard", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the wildcard binding gone (finalizer removed)", || async {
        vsb.get_opt("wildcard")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        is_bound(&pod_spec(&deps, "by-label").await),
        "other bindings untouched"
    );

    // --- Rotation: a serving certificate about to expire is replaced by one
    // of the same CA, served without a restart; caBundle stays.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &sys);
    let served_cert = |client: Client, sys: String| async move {
        let s: Api<Secret> = Api::namespaced(client, &sys);
        s.get("vsphere-webhook-certs").await.unwrap().data.unwrap()[certs::CERT_KEY]
            .0
            .clone()
    };
    let old_cert = served_cert(client.clone(), sys.clone()).await;
    let mut hooks = hooks;
    hooks.stop_manager().await;
    let mut soon = settings.clone();
    soon.rotate_before = Duration::from_secs(365 * 86400);
    let (stop_rotating, rotating_stopped) = oneshot::channel::<()>();
    let caches = webhook::WebhookCaches::start(&client).await;
    let rotating = tokio::spawn(webhook::manage_webhooks(
        client.clone(),
        soon,
        caches,
        async {
            let _ = rotating_stopped.await;
        },
    ));
    let new_cert = eventually("a rotated serving certificate", || async {
        let c = served_cert(client.clone(), sys.clone()).await;
        (c != old_cert).then_some(c)
    })
    .await;
    let _ = stop_rotating.send(());
    let _ = rotating.await;
    assert_eq!(
        secret_ca(&client, &sys, "vsphere-webhook-certs")
            .await
            .unwrap(),
        first_ca,
        "same CA"
    );
    assert_eq!(
        wait_ca_current(&client, &sys, "vsphere-webhook-certs").await,
        first_ca
    );
    assert!(certs::issued_by(
        &String::from_utf8(new_cert).unwrap(),
        &String::from_utf8(first_ca.clone()).unwrap()
    ));
    // The server presents a certificate of the CA.
    eventually("the new certificate served", || async {
        tls_handshake(addr, &first_ca).await.then_some(())
    })
    .await;
    let after_rotation = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": "after-rotation"},
        "spec": {"sink": {"uri": "http://x.y"}, "address": "https://vc.local", "secretRef": {"name": "creds"}}});
    create_raw(&client, &ns, after_rotation)
        .await
        .expect("admitted with the new certificate");
    drop(secrets);

    // --- A VSphereSource's adapter Deployment gets its binding's env.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap(),
    )
    .await
    .ok(); // The HorizonSource reconciler may have made it.
    let creds: Secret = serde_json::from_value(json!({"metadata": {"name": "creds"},
        "type": "kubernetes.io/basic-auth", "stringData": {"username": "u", "password": "p"}}))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &creds)
        .await
        .unwrap();
    let src = json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": "together"},
        "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://vc.together", "secretRef": {"name": "creds"}}});
    create_raw(&client, &ns, src).await.unwrap();
    eventually("adapter bound", || async {
        let d = deps.get_opt("together-adapter").await.unwrap()?;
        let ps = serde_json::to_value(d).unwrap()["spec"]["template"]["spec"].clone();
        (is_bound(&ps) && ps.to_string().contains("https://vc.together")).then_some(())
    })
    .await;

    // --- Inclusion mode: only labelled namespaces and objects.
    hooks.stop().await;
    let mut inclusion = settings.clone();
    inclusion.addr = addr;
    inclusion.selection_mode = SelectionMode::Inclusion;
    let (hooks, _) = Webhooks::start(&client, inclusion).await;
    eventually("inclusion selectors", || async {
        let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        let c = m.get(webhook::BINDING_WEBHOOK).await.unwrap();
        let w = &c.webhooks.unwrap()[0];
        serde_json::to_string(&w.object_selector)
            .unwrap()
            .contains("bindings.knative.dev/include")
            .then_some(())
    })
    .await;
    // The reconciler labelled the subjects' namespace.
    let labels = nss
        .get(&ns)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("bindings.knative.dev/include")
            .map(String::as_str),
        Some("true")
    );
    let unlabelled: Job = serde_json::from_value(json!({
        "metadata": {"name": "not-included", "labels": {"vsphere": "yes"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap();
    let included: Job = serde_json::from_value(json!({
        "metadata": {"name": "included", "labels": {"vsphere": "yes", "bindings.knative.dev/include": "true"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap();
    eventually("the inclusion selectors in use", || async {
        (is_unbound(&admitted_pod_spec(&jobs, &unlabelled).await)
            && is_bound(&admitted_pod_spec(&jobs, &included).await))
        .then_some(())
    })
    .await;
    let created = jobs
        .create(&PostParams::default(), &unlabelled)
        .await
        .unwrap();
    let ps = serde_json::to_value(&created).unwrap()["spec"]["template"]["spec"].clone();
    assert!(is_unbound(&ps), "not included: {ps}");
    let created = jobs
        .create(&PostParams::default(), &included)
        .await
        .unwrap();
    let ps = serde_json::to_value(&created).unwrap()["spec"]["template"]["spec"].clone();
    assert!(is_bound(&ps), "included: {ps}");

    let _ = stop_ctl.send(());
    let _ = stop_b.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), ctl_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), bindings_task).await;
    hooks.stop().await;
    // Leave the shared API server without our failing webhooks.
    delete_configurations(&client).await;
}
