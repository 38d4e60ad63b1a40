//! What a namespace user can do to other namespaces through our objects,
//! tried on the real kube-apiserver with the webhooks it calls (issue 22):
//! each section is an attack, and what it must not achieve.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::*;

fn deployment(name: &str, env: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "busybox", "env": env}]}}}
    }))
    .unwrap()
}

fn env_names(d: &Deployment) -> Vec<String> {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect()
}

/// Adds the finalizer `tenant.example/keep` (next to any other) to our
/// object `name` of `kind`, then deletes it: the API server keeps it, being
/// deleted, until the finalizer goes.
async fn keep_and_delete(client: &Client, ns: &str, kind: &str, name: &str) {
    let api = kube_harness::sources_group_api(client, ns, kind);
    let obj = api.get(name).await.unwrap();
    let mut finalizers = obj.metadata.finalizers.clone().unwrap_or_default();
    finalizers.push("tenant.example/keep".into());
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": finalizers}})),
    )
    .await
    .unwrap();
    api.delete(name, &DeleteParams::default()).await.unwrap();
}

/// Removes `tenant.example/keep` from our object `name` of `kind`.
async fn release(client: &Client, ns: &str, kind: &str, name: &str) {
    let api = kube_harness::sources_group_api(client, ns, kind);
    // The controller may remove its own finalizer between the read and the write: the write
    // names the version it read, and is made again from a fresh read when that changed (a
    // list written from a stale read would add the controller's finalizer back, refused while
    // deleting).
    for _ in 0..20 {
        let Some(obj) = api.get_opt(name).await.unwrap() else {
            return;
        };
        let finalizers: Vec<String> = obj
            .metadata
            .finalizers
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f != "tenant.example/keep")
            .collect();
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": obj.metadata.resource_version,
        }});
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 422 || e.code == 404 => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("releasing {kind} {name}: {e}"),
        }
    }
    panic!("releasing {kind} {name}: still conflicting after 20 attempts");
}

async fn merge(
    client: &Client,
    ns: &str,
    kind: &str,
    name: &str,
    patch: Value,
) -> Result<(), String> {
    kube_harness::sources_group_api(client, ns, kind)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => s.message,
            other => other.to_string(),
        })
}

/// A create that succeeded now or before.
fn stored(r: &Result<Value, kube::Error>) -> bool {
    r.is_ok() || matches!(r, Err(kube::Error::Api(s)) if s.code == 409)
}

/// Issue 22 item 1: a deleting object skipped validation, so a user could
/// move a binding's subject or a source's sink to another namespace, or
/// change a HorizonSource's immutable spec, once it was being deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleting_object_never_reaches_another_namespace() {
    let cluster = AdmissionCluster::take("del").await;
    let (server, client, sys) = (cluster.server, cluster.client.clone(), cluster.sys.clone());
    let ns = cluster.namespace("tenant").await;
    let victim = cluster.namespace("victim").await;
    let (hooks, _, base) = cluster.serve(cluster.webhook_settings()).await;

    // The victim's workload, configured for vCenter by hand.
    let victim_deps: Api<Deployment> = Api::namespaced(client.clone(), &victim);
    let vc_env = json!([
        {"name": "VC_URL", "value": "https://victim-vc.example"},
        {"name": "VC_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "victim-creds", "key": "password"}}}]);
    victim_deps
        .create(&PostParams::default(), &deployment("app", vc_env))
        .await
        .unwrap();
    let victim_keeps_its_env = || async {
        let d = victim_deps.get("app").await.unwrap();
        let names = env_names(&d);
        names.contains(&"VC_URL".to_owned()) && names.contains(&"VC_PASSWORD".to_owned())
    };

    // The tenant's binding, bound to its own Deployment.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deps.create(&PostParams::default(), &deployment("mine", json!([])))
        .await
        .unwrap();
    let bindings = binding_controller(&client, &ns);
    create_raw(
        &client,
        &ns,
        binding_json(
            "b",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "mine"}),
        ),
    )
    .await
    .unwrap();
    eventually("mine bound", || async {
        env_names(&deps.get("mine").await.unwrap())
            .contains(&"VC_URL".to_owned())
            .then_some(())
    })
    .await;
    // The leader is away (our finalizer stays through the deletion).
    bindings.stop().await;

    // --- 1. Admission: the spec of an object being deleted stays.
    keep_and_delete(&client, &ns, "VSphereBinding", "b").await;
    let retarget = json!({"spec": {"subject": {"apiVersion": "apps/v1", "kind": "Deployment",
        "namespace": victim, "name": null, "selector": {}}}});
    let refused = merge(&client, &ns, "VSphereBinding", "b", retarget.clone())
        .await
        .expect_err("a deleting binding's subject cannot move");
    assert!(
        refused.contains("the object is being deleted: its spec cannot change: spec"),
        "{refused}"
    );
    for (namespace, name) in [(&ns, "display"), (&victim, "internal")] {
        Api::<Service>::namespaced(client.clone(), namespace)
            .create(
                &PostParams::default(),
                &serde_json::from_value(
                    json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}),
                )
                .unwrap(),
            )
            .await
            .unwrap();
    }
    let source = |name: &str, sink: Value| {
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": name},
            "spec": {"sink": sink, "address": "https://vc.local", "secretRef": {"name": "creds"}}})
    };
    create_raw(
        &client,
        &ns,
        source(
            "s",
            json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}}),
        ),
    )
    .await
    .unwrap();
    keep_and_delete(&client, &ns, "VSphereSource", "s").await;
    let refused = merge(
        &client,
        &ns,
        "VSphereSource",
        "s",
        json!({"spec": {"sink": {"ref": {"namespace": victim, "name": "internal"}}}}),
    )
    .await
    .expect_err("a deleting source's sink cannot move");
    assert!(refused.contains("being deleted"), "{refused}");
    create_raw(
        &client,
        &ns,
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
            "metadata": {"name": "h"},
            "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://horizon.local",
                     "secretRef": {"name": "creds"}}}),
    )
    .await
    .unwrap();
    keep_and_delete(&client, &ns, "HorizonSource", "h").await;
    let refused = merge(
        &client,
        &ns,
        "HorizonSource",
        "h",
        json!({"spec": {"address": "https://elsewhere.example"}}),
    )
    .await
    .expect_err("a deleting HorizonSource stays immutable");
    assert!(refused.contains("being deleted"), "{refused}");

    // --- 2. Stored anyway (the validation webhook away, or an earlier
    // release): nothing reaches the victim.
    without_validation(server, &client, &base, &sys, || async {
        let moved = merge(&client, &ns, "VSphereBinding", "b", retarget.clone()).await;
        let far = create_raw(
            &client,
            &ns,
            binding_json(
                "far",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": victim,
                       "name": "app"}),
            ),
        )
        .await;
        let sink = create_raw(
            &client,
            &ns,
            source(
                "t",
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "internal",
                               "namespace": victim}}),
            ),
        )
        .await;
        moved.is_ok() && stored(&far) && stored(&sink)
    })
    .await;
    // The binding webhook: the victim's writes keep the victim's settings.
    let until = Instant::now() + Duration::from_secs(5);
    let mut writes = 0;
    while Instant::now() < until {
        writes += 1;
        let patch = json!({"metadata": {"labels": {"touched": format!("w{writes}")}}});
        victim_deps
            .patch("app", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
        assert!(
            victim_keeps_its_env().await,
            "a write of the victim's Deployment lost its VC_* settings"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The binding reconciler finishes the deletion in the tenant's own
    // namespace, and binds nothing for a subject in another.
    let bindings = binding_controller(&client, &ns);
    release(&client, &ns, "VSphereBinding", "b").await;
    eventually("the deleted binding gone", || async {
        kube_harness::sources_group_api(&client, &ns, "VSphereBinding")
            .get_opt("b")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let (status, reason, message) = eventually("far refused", || async {
        let far = kube_harness::sources_group_api(&client, &ns, "VSphereBinding")
            .get("far")
            .await
            .unwrap();
        condition(&serde_json::to_value(far).unwrap()["status"], "Ready")
            .filter(|(s, _, _)| s == "False")
    })
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "SubjectNamespaceInvalid")
    );
    assert!(message.contains(&victim), "{message}");
    assert!(
        !env_names(&deps.get("mine").await.unwrap()).contains(&"VC_URL".to_owned()),
        "the tenant's own subject is unbound"
    );
    assert!(
        victim_keeps_its_env().await,
        "the victim's Deployment untouched"
    );

    // The source reconciler resolves sinks in the source's namespace only.
    let controllers = source_controllers(&client, &sys, &ns);
    let (reason, message) = eventually("t's sink refused", || async {
        let t = kube_harness::sources_group_api(&client, &ns, "VSphereSource")
            .get("t")
            .await
            .unwrap();
        let t = serde_json::to_value(t).unwrap();
        condition(&t["status"], "SinkProvided")
            .filter(|(s, _, _)| s == "False")
            .map(|(_, r, m)| (r, m))
    })
    .await;
    assert_eq!(reason, "SinkNamespaceInvalid", "{message}");
    let t = kube_harness::sources_group_api(&client, &ns, "VSphereSource")
        .get("t")
        .await
        .unwrap();
    assert!(
        !serde_json::to_string(&t)
            .unwrap()
            .contains(&format!("internal.{victim}")),
        "never resolved in the victim's namespace: {t:?}"
    );

    controllers.stop().await;
    bindings.stop().await;
    for (kind, name) in [("VSphereSource", "s"), ("HorizonSource", "h")] {
        release(&client, &ns, kind, name).await;
    }
    hooks.stop().await;
    delete_configurations(&client).await;
}

/// Issue 22 item 5: children are named after their source, so a user who
/// makes an object of such a name first (or the source after it) must not
/// see it taken over: force-applied, re-owned (and garbage-collected with
/// the source), deleted and replaced, or written by the adapter.
#[tokio::test]
async fn children_of_the_same_name_made_by_others_are_left_alone() {
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.unwrap();
    install_our_crds(server, &client).await;
    let ns = server.create_namespace(&client, "owned").await.unwrap();
    let create = |v: Value| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let obj: kube::api::DynamicObject = serde_json::from_value(v).unwrap();
            let gvk = kube::api::GroupVersionKind::try_from(obj.types.as_ref().unwrap()).unwrap();
            let (ar, _) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
            Api::<kube::api::DynamicObject>::namespaced_with(client, &ns, &ar)
                .create(&PostParams::default(), &obj)
                .await
                .unwrap()
        }
    };
    create(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": {"username": "u", "password": "p", "domain": "d"}}),
    )
    .await;
    // Someone else's objects, with the names the sources' children take.
    let someone = json!([{"apiVersion": "example.com/v1", "kind": "Owner", "name": "other",
        "uid": "0d6c3a6e-0000-4000-8000-000000000001", "controller": true}]);
    let theirs = [
        create(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "sa-taken-adapter"}}))
        .await,
        create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "rb-taken-rolebinding"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}]}))
        .await,
        create(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "role-taken-checkpoint"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}))
        .await,
        create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "dep-taken-adapter"},
            "spec": {"selector": {"matchLabels": {"app": "mine"}},
                     "template": {"metadata": {"labels": {"app": "mine"}},
                                  "spec": {"containers": [{"name": "c", "image": "mine:1"}]}}}}))
        .await,
        create(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm-taken-configmap", "ownerReferences": someone},
            "data": {"settings": "mine"}}))
        .await,
        create(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "h-taken-adapter"},
            "spec": {"selector": {"matchLabels": {"app": "h"}},
                     "template": {"metadata": {"labels": {"app": "h"}},
                                  "spec": {"containers": [{"name": "c", "image": "mine:2"}]}}}}))
        .await,
    ];
    let controllers = source_controllers(&client, &ns, &ns);
    let vss = |name: &str| {
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": name},
            "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://vc.local",
                     "secretRef": {"name": "creds"}}})
    };
    let cases = [
        (
            "VSphereSource",
            "sa-taken",
            "AdapterReady",
            "ServiceAccountNotOwned",
        ),
        (
            "VSphereSource",
            "rb-taken",
            "AdapterReady",
            "RoleBindingNotOwned",
        ),
        (
            "VSphereSource",
            "role-taken",
            "AdapterReady",
            "RoleNotOwned",
        ),
        (
            "VSphereSource",
            "dep-taken",
            "AdapterReady",
            "DeploymentNotOwned",
        ),
        (
            "VSphereSource",
            "cm-taken",
            "AdapterReady",
            "ConfigMapNotOwned",
        ),
        ("HorizonSource", "h-taken", "Deployed", "DeploymentNotOwned"),
    ];
    for (kind, name, _, _) in &cases {
        let obj = if *kind == "VSphereSource" {
            vss(name)
        } else {
            json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
                "metadata": {"name": name},
                "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://h.local",
                         "secretRef": {"name": "creds"}}})
        };
        create(obj).await;
    }
    for (kind, name, type_, want) in &cases {
        let (reason, message) = eventually(&format!("{name}: {want}"), || async {
            let o = kube_harness::sources_group_api(&client, &ns, kind)
                .get(name)
                .await
                .unwrap();
            condition(&serde_json::to_value(o).unwrap()["status"], type_)
                .filter(|(s, _, _)| s == "False")
                .map(|(_, r, m)| (r, m))
        })
        .await;
        assert_eq!(&reason, want, "{name}: {message}");
        assert!(message.contains("leaves it untouched"), "{message}");
    }
    // Give the controller a few more passes, then: every object as it was.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for before in &theirs {
        let gvk = kube::api::GroupVersionKind::try_from(before.types.as_ref().unwrap()).unwrap();
        let (ar, _) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
        let name = before.metadata.name.clone().unwrap();
        let now = Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), &ns, &ar)
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{} {name} gone: {e}", gvk.kind));
        assert_eq!(now.metadata.uid, before.metadata.uid, "{name} replaced");
        assert_eq!(
            now.metadata.owner_references, before.metadata.owner_references,
            "{name} taken over"
        );
        assert_eq!(
            now.metadata.resource_version, before.metadata.resource_version,
            "{name} written"
        );
    }
    // No adapter was written over theirs, none made beside them.
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    for name in [
        "sa-taken-adapter",
        "rb-taken-adapter",
        "role-taken-adapter",
        "cm-taken-adapter",
    ] {
        assert!(deps.get_opt(name).await.unwrap().is_none(), "{name}");
    }
    controllers.stop().await;
}

/// Issue 22 item 2: the binding webhook (failurePolicy Fail) covered every
/// Deployment write of the cluster once any binding (every VSphereSource
/// made one) named Deployments. Now it is called only in the namespaces
/// that hold a binding: with the webhook server down, a Deployment is
/// still written at once anywhere else, and refused where a binding is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_outside_bound_namespaces_never_waits_on_the_webhook() {
    let cluster = AdmissionCluster::take("radius").await;
    let client = cluster.client.clone();
    let bound = cluster.namespace("bound").await;
    let free = cluster.namespace("free").await;
    let (hooks, _, _) = cluster.serve(cluster.webhook_settings()).await;
    create_raw(
        &client,
        &bound,
        binding_json(
            "b",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "selector": {"matchLabels": {"vc": "yes"}}}),
        ),
    )
    .await
    .unwrap();
    // The binding is in use: a Deployment of its namespace is bound at
    // admission.
    let labelled = |name: &str| {
        let mut d = deployment(name, json!([]));
        d.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("vc".into(), "yes".into());
        d
    };
    let bound_deps: Api<Deployment> = Api::namespaced(client.clone(), &bound);
    eventually("the binding webhook in use", || async {
        let d = bound_deps
            .create(&dry_run(), &labelled("probe"))
            .await
            .ok()?;
        env_names(&d).contains(&"VC_URL".to_owned()).then_some(())
    })
    .await;
    // The webhook server goes down (its configurations stay).
    hooks.stop().await;
    let free_deps: Api<Deployment> = Api::namespaced(client.clone(), &free);
    let started = Instant::now();
    let written = eventually("a Deployment written without the webhook", || async {
        let t = Instant::now();
        free_deps
            .create(&PostParams::default(), &labelled("anywhere"))
            .await
            .ok()
            .map(|_| t.elapsed())
    })
    .await;
    println!(
        "with the webhook down: a Deployment outside the bound namespaces written in {written:?} \
         ({:?} after the server stopped)",
        started.elapsed()
    );
    assert!(written < Duration::from_secs(2), "{written:?}");
    let refused = bound_deps
        .create(&PostParams::default(), &labelled("here"))
        .await
        .expect_err("the binding's namespace still goes through the webhook");
    assert!(
        refused.to_string().contains("vspherebindings.webhook"),
        "{refused}"
    );
    delete_configurations(&client).await;
}

/// Issue 22 item 4: sources that never become Ready were reconciled every
/// 5 s forever (and failed reconciles every 2 s), each time with a Warning
/// Event, on eight slots shared by every namespace. Now each backs off
/// (5 s doubling to 2 min), the same Warning is recorded once per 10 min,
/// and a namespace holds at most half the slots: a healthy source elsewhere
/// is reconciled at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_sources_back_off_and_do_not_hold_up_other_namespaces() {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::api::events::v1::Event;

    const FAILING: usize = 40;
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.unwrap();
    install_our_crds(server, &client).await;
    let failing = server.create_namespace(&client, "failing").await.unwrap();
    let healthy = server.create_namespace(&client, "healthy").await.unwrap();
    for ns in [&failing, &healthy] {
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "creds"},
                    "stringData": {"username": "u", "password": "p"}}))
                .unwrap(),
            )
            .await
            .unwrap();
    }
    let metrics = std::sync::Arc::new(sources_controller::Metrics::default());
    let mut settings = sources_controller::Settings::new(
        "registry.test/vsphere-adapter:dev",
        "registry.test/horizon-adapter:dev",
        &failing,
    );
    settings.identity = format!("test-{failing}");
    let controllers = {
        let (client, metrics) = (client.clone(), metrics.clone());
        Stoppable::spawn(move |stopped| async move {
            let _ = sources_controller::run_controllers(client, settings, metrics, stopped).await;
        })
    };
    let source = |name: &str, sink: Value| {
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": name},
            "spec": {"sink": sink, "address": "https://vc.local", "secretRef": {"name": "creds"}}})
    };
    // Sources whose sink never appears.
    let started = Instant::now();
    for i in 0..FAILING {
        create_raw(
            &client,
            &failing,
            source(
                &format!("f{i}"),
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "absent"}}),
            ),
        )
        .await
        .unwrap();
    }
    // A healthy source in another namespace meanwhile.
    let created = Instant::now();
    create_raw(
        &client,
        &healthy,
        source("fine", json!({"uri": "http://sink.example"})),
    )
    .await
    .unwrap();
    let latency = eventually("the healthy source reconciled", || async {
        let s = kube_harness::sources_group_api(&client, &healthy, "VSphereSource")
            .get("fine")
            .await
            .unwrap();
        let s = serde_json::to_value(s).unwrap();
        condition(&s["status"], "SinkProvided")
            .filter(|(st, _, _)| st == "True")
            .map(|_| created.elapsed())
    })
    .await;
    // A minute of failing sources. The first seconds also hold the reconciles
    // that the sources' own new children trigger (more of them when the machine
    // is loaded and the writes spread out); the backoff shows in what follows.
    let settle = Duration::from_secs(15);
    tokio::time::sleep(settle.saturating_sub(started.elapsed())).await;
    let settled = metrics.reconcile_count("VSphereSource");
    let window = Duration::from_secs(60);
    tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
    let reconciles = metrics.reconcile_count("VSphereSource");
    let backed_off = reconciles - settled;
    let events = Api::<Event>::namespaced(client.clone(), &failing)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let recordings: Vec<i32> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SinkNotFound"))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .collect();
    let most = recordings.iter().max().copied().unwrap_or(0);
    println!(
        "{FAILING} sources failing for {:?}: {reconciles} reconciles ({:.1} per source), \
         {backed_off} after the first {settle:?} ({:.1} per source); SinkNotFound recorded at \
         most {most} times per source; a healthy source in another namespace reconciled after \
         {latency:?}",
        started.elapsed(),
        reconciles as f64 / FAILING as f64,
        backed_off as f64 / FAILING as f64
    );
    controllers.stop().await;
    assert_eq!(
        recordings.len(),
        FAILING,
        "one SinkNotFound Event per source"
    );
    assert_eq!(most, 1, "the same Warning recorded once per interval");
    // Backoff 5, 10, 20 and 40 s: a source first reconciled in the first
    // seconds is retried about 15 and 35 s later, so twice between 15 s and
    // 60 s (a retry every 5 s would make 9). Three per source leaves one for a
    // reconcile that a late child event adds.
    assert!(
        backed_off <= 3 * FAILING as u64,
        "{backed_off} reconciles of {FAILING} failing sources between {settle:?} and {window:?} \
         ({reconciles} in all)"
    );
    assert!(latency < Duration::from_secs(10), "{latency:?}");
}
