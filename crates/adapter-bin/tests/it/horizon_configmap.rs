//! The Horizon checkpoint in the ConfigMap `<NAME>-configmap` on a real kube-apiserver: saved
//! on SIGTERM, and a restart resumes from it without re-sending anything.

use crate::horizon_common;
use std::collections::BTreeSet;
use std::time::Duration;

use crate::horizon_common::{delivered, secret_dir};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use test_support::RecordingSink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_from_the_configmap_checkpoint_after_a_restart() {
    test_support::install_crypto_provider();
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.expect("kube client");
    let ns = server
        .create_namespace(&client, "horizon")
        .await
        .expect("namespace");
    let sim = horizon_sim::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let sink = RecordingSink::start().await;
    let secret = secret_dir(&sim);
    let env = vec![
        ("KUBECONFIG", server.kubeconfig_path().display().to_string()),
        ("HORIZON_URL", sim.url()),
        ("HORIZON_SECRET_PATH", secret.path().display().to_string()),
        ("K_SINK", sink.url()),
        ("NAMESPACE", ns.clone()),
        ("NAME", "my-horizon".into()),
        ("HORIZON_CHECKPOINT_CONFIG", r#"{"period":"100ms"}"#.into()),
        ("HORIZON_POLL_INTERVAL", "100ms".into()),
    ];
    let mut adapter = horizon_common::start(&env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(60))
        .await;
    let first = sim.add_events_now(20, 4);
    sink.wait_accepted(20, Duration::from_secs(30)).await;
    assert_eq!(
        adapter.terminate(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        adapter.log().join("\n")
    );

    let cms: Api<ConfigMap> = Api::namespaced(client, &ns);
    let cm = cms
        .get("my-horizon-configmap")
        .await
        .expect("ConfigMap created");
    let raw = cm
        .data
        .unwrap_or_default()
        .get("checkpoint")
        .cloned()
        .expect("checkpoint key");
    let v: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    let last = sim
        .events()
        .iter()
        .map(|e| e.time)
        .max()
        .unwrap_or_default();
    assert_eq!(v["lastEventTime"], last, "{raw}");
    assert_eq!(v["horizon"], sim.url());
    assert_eq!(v["lastEventIds"].as_array().map(Vec::len), Some(4), "{raw}");

    let second = sim.add_events_now(8, 4);
    let mut adapter = horizon_common::start(&env);
    adapter
        .wait_log("found existing checkpoint", Duration::from_secs(60))
        .await;
    sink.wait_accepted(28, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = delivered(&sink.accepted());
    assert_eq!(got.len(), 28, "nothing re-sent: {got:?}");
    let got: BTreeSet<i64> = got.into_iter().map(|(id, _)| id).collect();
    let want: BTreeSet<i64> = first.into_iter().chain(second).collect();
    assert_eq!(got, want);
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
}
