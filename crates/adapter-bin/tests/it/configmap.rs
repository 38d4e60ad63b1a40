//! The checkpoint in a ConfigMap on a real kube-apiserver: saved as the Go adapter saves it,
//! and a restart resumes from it without re-sending history.

use crate::common;
use std::time::Duration;

use crate::common::{Adapter, ids};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use test_support::RecordingSink;
use vsphere_sim::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_from_the_configmap_checkpoint_after_a_restart() {
    test_support::install_crypto_provider();
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.expect("kube client");
    let ns = server
        .create_namespace(&client, "adapter")
        .await
        .expect("namespace");
    let sim = Simulator::builder().start().await.expect("simulator");
    let sink = RecordingSink::start().await;
    let env = vec![
        ("KUBECONFIG", server.kubeconfig_path().display().to_string()),
        ("VC_URL", sim.url().to_owned()),
        ("VC_USERNAME", sim.username().to_owned()),
        ("VC_PASSWORD", sim.password().to_owned()),
        ("VC_SECRET_PATH", "/nonexistent".into()),
        ("K_SINK", sink.url()),
        ("NAMESPACE", ns.clone()),
        (
            "VSPHERE_KVSTORE_CONFIGMAP",
            "vsphere-source-configmap".into(),
        ),
        (
            "VSPHERE_CHECKPOINT_CONFIG",
            r#"{"maxAge":"1h","period":"100ms"}"#.into(),
        ),
    ];
    let mut adapter = Adapter::start(&env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(60))
        .await;
    let (a, b) = sim.generate(20).expect("events");
    sink.wait_accepted(20, Duration::from_secs(30)).await;
    assert_eq!(
        adapter.terminate(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        adapter.log().join("\n")
    );

    let cms: Api<ConfigMap> = Api::namespaced(client, &ns);
    let cm = cms
        .get("vsphere-source-configmap")
        .await
        .expect("ConfigMap created");
    assert!(cm.metadata.owner_references.unwrap_or_default().is_empty());
    let raw = cm
        .data
        .unwrap_or_default()
        .get("checkpoint")
        .cloned()
        .expect("checkpoint key");
    let v: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(v["lastEventKey"], b);
    assert_eq!(v["vCenter"], sim.url());

    // Events created while the adapter is down are delivered after the restart; nothing before
    // the checkpoint is sent again.
    let (c, d) = sim.generate(10).expect("events");
    let mut adapter = Adapter::start(&env);
    adapter
        .wait_log("found existing checkpoint", Duration::from_secs(60))
        .await;
    // Deliveries run at once: wait for every key up to d, not only d.
    common::eventually(Duration::from_secs(30), || {
        let got: std::collections::BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
        (a..=d).all(|k| got.contains(&k))
    })
    .await;
    let mut got = ids(&sink.accepted());
    got.sort_unstable();
    // Every key once, no gap (the simulator also logs the adapter's logout and login as
    // events, which are delivered too).
    let last = got.last().copied().unwrap_or_default();
    assert!(last >= d, "{got:?}");
    assert_eq!(got, (a..=last).collect::<Vec<_>>());
    assert!(c > b);
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));

    // A replay request: the checkpoint moves back, the window is sent again, and the request
    // is recorded in the ConfigMap (where the controller reads it) beside the checkpoint.
    let before = sink.accepted().len();
    let from = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(30);
    let mut replaying = env.clone();
    replaying.push((
        "REPLAY_REQUEST",
        serde_json::json!({"id": "r-7", "from": from.to_string()}).to_string(),
    ));
    let mut adapter = Adapter::start(&replaying);
    common::eventually(Duration::from_secs(30), || {
        let again: std::collections::BTreeSet<i64> =
            ids(&sink.accepted()[before..]).into_iter().collect();
        (a..=d).all(|k| again.contains(&k))
    })
    .await;
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
    let data = cms
        .get("vsphere-source-configmap")
        .await
        .expect("ConfigMap")
        .data
        .unwrap_or_default();
    let note: serde_json::Value =
        serde_json::from_str(data.get("lastReplay").expect("the replay noted")).expect("JSON");
    assert_eq!(note["id"], "r-7");
    assert!(data.contains_key("checkpoint"), "the checkpoint stays");
}
