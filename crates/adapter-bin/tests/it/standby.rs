//! An active adapter and a standby on a Lease (`spec.replicas: 2`), on a real kube-apiserver
//! with vsphere-sim: only the holder delivers; kill -9 the holder and the standby takes the
//! Lease and delivers from the shared ConfigMap checkpoint, losing nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{Adapter, ids};
use test_support::RecordingSink;
use vsphere_sim::Simulator;

fn counts(sink: &RecordingSink) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for id in ids(&sink.accepted()) {
        *m.entry(id).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_from_a_killed_adapter_and_loses_nothing() {
    test_support::install_crypto_provider();
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.expect("kube client");
    let ns = server
        .create_namespace(&client, "standby")
        .await
        .expect("namespace");
    let sim = Simulator::builder().start().await.expect("simulator");
    let sink = RecordingSink::start().await;
    let env = |identity: &str| {
        vec![
            ("KUBECONFIG", server.kubeconfig_path().display().to_string()),
            ("VC_URL", sim.url().to_owned()),
            ("VC_USERNAME", sim.username().to_owned()),
            ("VC_PASSWORD", sim.password().to_owned()),
            ("VC_SECRET_PATH", "/nonexistent".into()),
            ("K_SINK", sink.url()),
            ("NAMESPACE", ns.clone()),
            ("VSPHERE_KVSTORE_CONFIGMAP", "src-configmap".into()),
            (
                "VSPHERE_CHECKPOINT_CONFIG",
                r#"{"maxAge":"1h","period":"200ms"}"#.into(),
            ),
            ("ADAPTER_LEASE", "src-adapter".into()),
            ("ADAPTER_IDENTITY", identity.to_owned()),
        ]
    };
    let mut active = Adapter::start(&env("pod-a"));
    active
        .wait_log("holding the lease", Duration::from_secs(60))
        .await;
    active
        .wait_log("setting begin of event stream", Duration::from_secs(60))
        .await;
    let standby = Adapter::start(&env("pod-b"));
    standby
        .wait_log("standing by for the lease", Duration::from_secs(60))
        .await;
    let (a, b) = sim.generate(20).expect("events");
    sink.wait_accepted(20, Duration::from_secs(30)).await;
    assert!(
        !standby
            .log()
            .iter()
            .any(|l| l.contains("holding the lease")),
        "two holders:\n{}",
        standby.log().join("\n")
    );

    // Duplicates may only come from after the checkpoint the active adapter had saved.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let saved: i64 = {
        use k8s_openapi::api::core::v1::ConfigMap;
        let cm = kube::Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get("src-configmap")
            .await
            .expect("checkpoint ConfigMap");
        let raw = cm
            .data
            .unwrap_or_default()
            .remove("checkpoint")
            .expect("checkpoint");
        let v: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
        v["lastEventKey"].as_i64().expect("lastEventKey")
    };
    active.kill9();
    let killed = Instant::now();
    let (c, d) = sim.generate(20).expect("events");
    let deadline = killed + Duration::from_secs(60);
    let mut first_new = None;
    loop {
        let got = counts(&sink);
        if first_new.is_none() && (c..=d).any(|k| got.contains_key(&k)) {
            first_new = Some(killed.elapsed());
        }
        if (a..=d).all(|k| got.contains_key(&k)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing {:?}; standby log:\n{}",
            (a..=d).filter(|k| !got.contains_key(k)).collect::<Vec<_>>(),
            standby.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gap = first_new.expect("a new event arrived");
    let twice: Vec<i64> = counts(&sink)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(
        twice.iter().all(|k| *k > saved),
        "re-sent from before the checkpoint {saved}: {twice:?}"
    );
    let repeated = twice.len();
    eprintln!(
        "standby: first delivery {gap:?} after kill -9 of the active adapter (lease 10 s); \
         {} events, {repeated} delivered twice",
        d - a + 1
    );
    assert!(b < c);
    assert!(
        standby
            .log()
            .iter()
            .any(|l| l.contains("holding the lease")),
        "{}",
        standby.log().join("\n")
    );
}
