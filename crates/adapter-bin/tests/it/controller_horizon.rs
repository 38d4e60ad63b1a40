//! The Deployment `sources-controller` creates for a HorizonSource runs `horizon-adapter`
//! unchanged: the controller reconciles a HorizonSource on a real kube-apiserver, and the
//! adapter starts with exactly that Deployment's env and Secret volume (mount path remapped to a
//! temporary directory, in-cluster config replaced by a kubeconfig) and delivers events, with
//! the source's `spec.delivery` honoured.

use crate::{common, horizon_common};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use kube_harness::KubeApiServer;
use serde_json::json;
use sources_controller::{Settings, run_controllers};
use test_support::RecordingSink;

/// A HorizonSource reconciled by the controller on a real API server, and
/// the env its adapter Deployment gives `horizon-adapter` (as the kubelet
/// would: fields resolved, the Secret materialised, a kubeconfig with the
/// adapter ServiceAccount's token).
struct Controlled {
    client: kube::Client,
    ns: String,
    sim: horizon_sim::Simulator,
    sink: RecordingSink,
    env: Vec<(&'static str, String)>,
    _secret_dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    controller: tokio::task::JoinHandle<Result<(), sources_controller::RunError>>,
}

impl Controlled {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.controller).await;
    }
}

/// Reconciles a HorizonSource `vdi` in a new namespace `prefix-<n>`, with
/// `delivery` as its `spec.delivery`, and returns its adapter's env.
async fn controlled_adapter(prefix: &str, delivery: Option<serde_json::Value>) -> Controlled {
    test_support::install_crypto_provider();
    let server = KubeApiServer::shared();
    let client = server.client().await.expect("client");
    let crds: String = sources_api::crds::all()
        .iter()
        .map(|(_, crd)| sources_api::crds::render(crd).expect("render") + "---\n")
        .collect();
    server.install_crds(&client, &crds).await.expect("CRDs");
    // The adapter's RBAC (a Role limited to its checkpoint ConfigMap) comes
    // from the controller itself.
    let ns = server
        .create_namespace(&client, prefix)
        .await
        .expect("namespace");

    let sim = horizon_sim::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let sink = RecordingSink::start().await;
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("object");
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("ServiceAccount");
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value::<Secret>(json!({"metadata": {"name": "horizon-creds"},
                "stringData": {"domain": sim.domain(), "username": sim.username(), "password": sim.password()}}))
            .expect("object"),
        )
        .await
        .expect("Secret");

    let mut settings = Settings::new("vsphere-adapter:test", "horizon-adapter:test", &ns);
    settings.watch_namespace = Some(ns.clone());
    settings.identity = format!("test-{ns}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run_controllers(
        client.clone(),
        settings,
        Default::default(),
        async move {
            let _ = stopped.await;
        },
    ));

    let api = kube::Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &kube::api::ApiResource {
            group: "sources.tanzu.vmware.com".into(),
            version: "v1alpha1".into(),
            api_version: "sources.tanzu.vmware.com/v1alpha1".into(),
            kind: "HorizonSource".into(),
            plural: "horizonsources".into(),
        },
    );
    let mut spec = json!({"sink": {"uri": sink.url()}, "address": sim.url(),
                          "secretRef": {"name": "horizon-creds"}});
    if let Some(d) = delivery {
        spec["delivery"] = d;
    }
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
            "kind": "HorizonSource",
            "metadata": {"name": "vdi", "namespace": ns},
            "spec": spec,
        }))
        .expect("HorizonSource"),
    )
    .await
    .expect("create HorizonSource");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let mut deployment = None;
    for _ in 0..600 {
        if let Some(d) = deployments.get_opt("vdi-adapter").await.expect("get") {
            deployment = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deployment = deployment.expect("the controller created the adapter Deployment");
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    let container = pod.containers.first().expect("a container").clone();
    assert_eq!(container.image.as_deref(), Some("horizon-adapter:test"));

    // The Secret volume, materialised where the Deployment mounts it (remapped).
    let secret_dir = tempfile::tempdir().expect("dir");
    let mounts = container.volume_mounts.clone().unwrap_or_default();
    let mount = mounts.first().expect("the Secret is mounted");
    let volume = pod
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == mount.name)
        .expect("the mounted volume");
    let secret_name = volume
        .secret
        .and_then(|s| s.secret_name)
        .expect("a Secret volume");
    let secret = Api::<Secret>::namespaced(client.clone(), &ns)
        .get(&secret_name)
        .await
        .expect("Secret");
    for (k, v) in secret.data.unwrap_or_default() {
        std::fs::write(secret_dir.path().join(k), v.0).expect("secret file");
    }

    // Exactly the Deployment's env (plain values; fields resolved as the kubelet would).
    let mut env: Vec<(&str, String)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for var in container.env.clone().unwrap_or_default() {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => match from.field_ref.as_ref().map(|f| f.field_path.as_str()) {
                Some("metadata.namespace") => ns.clone(),
                Some("metadata.name") => "vdi-adapter-pod".into(),
                other => panic!("unexpected valueFrom {other:?} in {var:?}"),
            },
            (None, None) => String::new(),
        };
        names.push(var.name.clone());
        env.push((Box::leak(var.name.into_boxed_str()), value));
    }
    for required in [
        "HORIZON_URL",
        "K_SINK",
        "NAME",
        "NAMESPACE",
        "K_LOGGING_CONFIG",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "{required} missing from {names:?}"
        );
    }
    let default_path = mount.mount_path.clone();
    assert_eq!(
        default_path, "/var/bindings/horizon",
        "the adapter's default secret path"
    );
    env.push((
        "HORIZON_SECRET_PATH",
        secret_dir.path().display().to_string(),
    ));
    // The adapter runs as the Deployment's ServiceAccount, with only the RBAC the release and
    // the controller give it (not as the admin).
    let sa_name = pod
        .service_account_name
        .clone()
        .unwrap_or_else(|| "default".into());
    let token_request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .expect("object");
    let token = Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .create_token_request(&sa_name, &PostParams::default(), &token_request)
        .await
        .expect("a token for the adapter's ServiceAccount")
        .status
        .expect("token status")
        .token;
    let kubeconfig = secret_dir
        .path()
        .join("..")
        .join(format!("{ns}-adapter-kubeconfig"));
    server
        .write_kubeconfig_for_token(&token, &kubeconfig)
        .expect("kubeconfig");
    env.push(("KUBECONFIG", kubeconfig.display().to_string()));
    // The API server authorizes from a cache of RoleBindings: wait until the new one counts.
    let as_adapter: Api<ConfigMap> =
        Api::namespaced(server.client_with_token(&token).expect("token client"), &ns);
    let mut allowed = false;
    for _ in 0..300 {
        if as_adapter.get_opt("vdi-configmap").await.is_ok() {
            allowed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        allowed,
        "the adapter's ServiceAccount cannot read its checkpoint ConfigMap"
    );
    env.retain(|(k, _)| *k != "METRICS_ADDRESS");
    Controlled {
        client,
        ns,
        sim,
        sink,
        env,
        _secret_dir: secret_dir,
        stop,
        controller,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controllers_horizon_deployment_runs_the_adapter() {
    let c = controlled_adapter("hzdeploy", None).await;
    let (client, ns, sim, sink, env) = (&c.client, &c.ns, &c.sim, &c.sink, &c.env);

    let mut adapter = horizon_common::start(env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(60))
        .await;
    let want = sim.add_events_now(12, 3);
    let got = sink
        .wait_accepted(want.len(), Duration::from_secs(30))
        .await;
    let mut ids: Vec<i64> = horizon_common::delivered(&got)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort_unstable();
    let mut want_sorted = want.clone();
    want_sorted.sort_unstable();
    assert_eq!(ids, want_sorted, "log:\n{}", adapter.log().join("\n"));
    assert_eq!(got[0].header("ce-source"), Some(sim.url().as_str()));
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
    // The checkpoint went to the ConfigMap the controller made, through the RoleBinding it made.
    let log = adapter.log().join("\n");
    assert!(
        !log.contains("no access to the checkpoint ConfigMap"),
        "the adapter's ServiceAccount cannot write its checkpoint:\n{log}"
    );
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get("vdi-configmap")
        .await
        .expect("the checkpoint ConfigMap");
    let checkpoint = cm
        .data
        .unwrap_or_default()
        .remove("checkpoint")
        .unwrap_or_else(|| panic!("no checkpoint saved; log:\n{log}"));
    let saved = checkpoint::HorizonCheckpoint::from_json(&checkpoint).expect("checkpoint JSON");
    let newest = horizon_common::delivered(&got)
        .into_iter()
        .map(|(_, time)| time)
        .max();
    assert_eq!(saved.last_event_time, newest, "{checkpoint}");

    c.stop().await;
}

/// `spec.delivery` honoured end to end: the controller passes it to the
/// adapter's env, and the adapter retries a refusing sink `retry` times
/// before the dead-letter sink, and gives up on a request after `timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_settings_reach_the_adapter_and_are_honoured() {
    let dls = RecordingSink::start().await;
    let c = controlled_adapter(
        "hzdelivery",
        Some(json!({"deadLetterSink": {"uri": dls.url()}, "retry": 2,
                    "backoffPolicy": "linear", "backoffDelay": "PT0.1S", "timeout": "PT1S"})),
    )
    .await;
    for (name, value) in [
        ("K_DEAD_LETTER_SINK", dls.url()),
        ("K_DELIVERY_RETRY", "2".to_owned()),
        ("K_DELIVERY_BACKOFF_POLICY", "linear".to_owned()),
        ("K_DELIVERY_BACKOFF_DELAY", "PT0.1S".to_owned()),
        ("K_DELIVERY_TIMEOUT", "PT1S".to_owned()),
    ] {
        assert!(
            c.env.iter().any(|(k, v)| *k == name && *v == value),
            "{name}={value} in {:?}",
            c.env
        );
    }
    let mut adapter = horizon_common::start(&c.env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(60))
        .await;
    let log = |a: &common::Adapter| a.log().join("\n");

    // A sink that refuses (500, retryable): each event is tried 1 + retry
    // times, then dead-lettered.
    c.sink.respond_default(Some(500));
    let mut refused = c.sim.add_events_now(3, 1);
    refused.sort_unstable();
    let dead = dls
        .wait_accepted(refused.len(), Duration::from_secs(60))
        .await;
    let mut ids: Vec<i64> = horizon_common::delivered(&dead)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, refused, "dead-lettered; log:\n{}", log(&adapter));
    let attempts = horizon_common::counts(&horizon_common::delivered(&c.sink.received()));
    for id in &refused {
        assert_eq!(attempts.get(id), Some(&3), "attempts of {id}: {attempts:?}");
    }

    // A sink that would accept, but only after 5 s: with a 1 s timeout per
    // request no attempt gets through, so the events are dead-lettered too
    // (without the timeout they would be accepted).
    c.sink.respond_default(None);
    c.sink.set_delay(Some(Duration::from_secs(5)));
    let mut slow = c.sim.add_events_now(2, 1);
    slow.sort_unstable();
    let dead = dls
        .wait_accepted(refused.len() + slow.len(), Duration::from_secs(90))
        .await;
    let mut ids: Vec<i64> = horizon_common::delivered(&dead)
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| slow.contains(id))
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        slow,
        "timed out, then dead-lettered; log:\n{}",
        log(&adapter)
    );
    c.sink.set_delay(None);
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
    c.stop().await;
}

/// A sink refusing the adapter's identity (401, as a broker with `authentication-oidc` before
/// the source has a token) shows in the source's status: the adapter notes it beside its
/// checkpoint (through the Role the controller gave it), the controller reports
/// `SinkIdentityAccepted=False`, and once the sink accepts, every held event arrives and the
/// condition turns True.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_refusing_the_identity_shows_in_the_status_and_loses_nothing() {
    let c = controlled_adapter("hzrefused", None).await;
    let sources =
        kube::Api::<sources_api::v1alpha1::HorizonSource>::namespaced(c.client.clone(), &c.ns);
    let condition = || async {
        let s = sources.get("vdi").await.expect("HorizonSource");
        s.status
            .and_then(|st| st.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "SinkIdentityAccepted")
            .map(|c| {
                (
                    c.status,
                    c.reason.unwrap_or_default(),
                    c.message.unwrap_or_default(),
                )
            })
    };
    let labelled = || async {
        Api::<ConfigMap>::namespaced(c.client.clone(), &c.ns)
            .get("vdi-configmap")
            .await
            .expect("checkpoint ConfigMap")
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key(checkpoint::SINK_REFUSAL_LABEL)
    };

    let mut adapter = horizon_common::start(&c.env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(60))
        .await;
    c.sink.respond_default(Some(401));
    let mut want = c.sim.add_events_now(5, 1);
    want.sort_unstable();
    let mut refused = None;
    for _ in 0..600 {
        if let Some(found) = condition().await.filter(|(s, _, _)| s == "False") {
            refused = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, reason, message) = refused.unwrap_or_else(|| {
        panic!(
            "no SinkIdentityAccepted=False; log:\n{}",
            adapter.log().join("\n")
        )
    });
    assert_eq!(reason, "SinkRefusesIdentity");
    assert!(message.contains("401"), "{message}");
    assert!(message.contains(&c.sink.url()), "{message}");
    assert!(
        labelled().await,
        "the checkpoint ConfigMap is labelled while refused"
    );
    assert!(
        c.sink.accepted().is_empty(),
        "nothing accepted while refused"
    );

    c.sink.respond_default(None);
    let got = c
        .sink
        .wait_accepted(want.len(), Duration::from_secs(60))
        .await;
    let mut ids: Vec<i64> = horizon_common::delivered(&got)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids,
        want,
        "every held event; log:\n{}",
        adapter.log().join("\n")
    );
    let mut accepted = false;
    for _ in 0..600 {
        if condition().await.is_some_and(|(s, _, _)| s == "True") && !labelled().await {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        accepted,
        "SinkIdentityAccepted did not turn True: {:?}",
        condition().await
    );
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
    c.stop().await;
}
