//! The ConfigMap store against a real kube-apiserver (crates/kube-harness).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use vmware_sources_checkpoint::{Checkpoint, CheckpointStore, ConfigMapStore};

fn cp(key: i64) -> Checkpoint {
    Checkpoint::new(
        "https://vc.example/sdk",
        key,
        "VmPoweredOnEvent",
        "2026-11-27T02:47:56.123456789Z".parse().expect("time"),
    )
}

#[tokio::test]
async fn creates_the_configmap_keeps_other_keys_and_round_trips() {
    test_support::install_crypto_provider();
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.expect("client");
    let ns = server
        .create_namespace(&client, "cp")
        .await
        .expect("namespace");
    let store = ConfigMapStore::open(client.clone(), &ns, "src-configmap")
        .await
        .expect("open creates the ConfigMap");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = cms.get("src-configmap").await.expect("created");
    assert!(
        cm.metadata.owner_references.unwrap_or_default().is_empty(),
        "no owner"
    );
    assert!(store.load().await.expect("load").is_none());

    // Another key written by someone else survives our saves.
    let mut cm = cms.get("src-configmap").await.expect("get");
    cm.data
        .get_or_insert_with(Default::default)
        .insert("other".into(), "kept".into());
    cms.replace("src-configmap", &PostParams::default(), &cm)
        .await
        .expect("replace");

    store.save(&cp(7)).await.expect("save");
    store.save(&cp(8)).await.expect("save again");
    let loaded = store.load().await.expect("load").expect("a checkpoint");
    assert_eq!(loaded.last_event_key, Some(8));
    assert_eq!(
        loaded.last_event_key_timestamp,
        cp(8).last_event_key_timestamp
    );
    let data = cms
        .get("src-configmap")
        .await
        .expect("get")
        .data
        .unwrap_or_default();
    assert_eq!(data.get("other").map(String::as_str), Some("kept"));
    let raw = data.get("checkpoint").expect("checkpoint key");
    assert!(
        raw.starts_with(r#"{"vCenter":"https://vc.example/sdk","lastEventKey":8,"#),
        "{raw}"
    );

    store.delete().await.expect("delete");
    assert!(store.load().await.expect("load").is_none());
    let data = cms
        .get("src-configmap")
        .await
        .expect("get")
        .data
        .unwrap_or_default();
    assert_eq!(data.get("other").map(String::as_str), Some("kept"));
}

#[tokio::test]
async fn reads_a_partial_checkpoint_and_refuses_garbage() {
    test_support::install_crypto_provider();
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.expect("client");
    let ns = server
        .create_namespace(&client, "cp")
        .await
        .expect("namespace");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("partial".into());
    cm.data = Some(
        [(
            "checkpoint".to_owned(),
            r#"{"lastEventKeyTimestamp":"2026-11-27T02:47:56Z"}"#.to_owned(),
        )]
        .into(),
    );
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let store = ConfigMapStore::open(client.clone(), &ns, "partial")
        .await
        .expect("open");
    let loaded = store.load().await.expect("load").expect("checkpoint");
    assert!(loaded.last_event_key.is_none());
    assert!(loaded.last_event_key_timestamp.is_some());

    cm.metadata.name = Some("garbage".into());
    cm.data = Some([("checkpoint".to_owned(), "{not json".to_owned())].into());
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let store = ConfigMapStore::open(client, &ns, "garbage")
        .await
        .expect("open");
    let e = store.load().await.expect_err("garbage");
    let msg = e.to_string();
    assert!(
        msg.contains("garbage") && msg.contains("invalid checkpoint JSON"),
        "{msg}"
    );
}

#[tokio::test]
async fn concurrent_saves_do_not_lose_updates() {
    test_support::install_crypto_provider();
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.expect("client");
    let ns = server
        .create_namespace(&client, "cp")
        .await
        .expect("namespace");
    let a = ConfigMapStore::open(client.clone(), &ns, "race")
        .await
        .expect("open");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    // A writer of other keys races the checkpoint saves; both kinds of update must survive.
    let writer = {
        let cms = cms.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                loop {
                    let mut cm = cms.get("race").await.expect("get");
                    cm.data
                        .get_or_insert_with(Default::default)
                        .insert(format!("k{i}"), "v".into());
                    match cms.replace("race", &PostParams::default(), &cm).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(s)) if s.code == 409 => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        })
    };
    for k in 0..20 {
        a.save(&cp(k)).await.expect("save under contention");
    }
    writer.await.expect("writer");
    let data = cms.get("race").await.expect("get").data.unwrap_or_default();
    assert_eq!(
        (0..20)
            .filter(|i| data.contains_key(&format!("k{i}")))
            .count(),
        20
    );
    assert_eq!(
        a.load().await.expect("load").and_then(|c| c.last_event_key),
        Some(19)
    );
}
