//! Knative trust bundles (ConfigMaps labelled
//! `networking.knative.dev/trust-bundle: "true"`) reaching the adapters:
//! the system namespace's and the source's own namespace's are copied into
//! `<source>-trust-bundles` and mounted at `/knative-custom-certs`; another
//! namespace's never; a change rolls the adapter; a removed bundle stops
//! being trusted.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_harness::KubeApiServer;
use serde_json::{Value, json};
use sources_api::v1alpha1::{HorizonSource, VSphereSource};

use crate::support::{eventually, install_our_crds, source_controllers};

const LABEL: &str = "networking.knative.dev/trust-bundle";

async fn create<K>(client: &Client, ns: &str, value: Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(value).expect("object");
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
}

fn bundle(name: &str, pem: &str, labelled: bool) -> Value {
    let labels = if labelled {
        json!({LABEL: "true"})
    } else {
        json!({})
    };
    json!({"metadata": {"name": name, "labels": labels}, "data": {"ca.crt": pem}})
}

/// The copy's data and the adapter's trust-bundle volume, digest and mount,
/// once the Deployment exists.
async fn mounted(
    client: &Client,
    ns: &str,
    copy: &str,
    deployment: &str,
) -> (Option<Value>, Option<String>, Option<String>, bool) {
    let data = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(copy)
        .await
        .expect("get copy")
        .and_then(|c| c.data)
        .map(|d| serde_json::to_value(d).expect("json"));
    let dep = Api::<Deployment>::namespaced(client.clone(), ns)
        .get_opt(deployment)
        .await
        .expect("get deployment");
    let Some(dep) = dep else {
        return (data, None, None, false);
    };
    let v = serde_json::to_value(&dep).expect("json");
    let template = &v["spec"]["template"];
    let volume = template["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == "trust-bundles")
        .and_then(|v| v["configMap"]["name"].as_str().map(str::to_owned));
    let digest =
        template["metadata"]["annotations"]["sources.tanzu.vmware.com/trust-bundles-digest"]
            .as_str()
            .map(str::to_owned);
    let mount = template["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["name"] == "trust-bundles" && m["mountPath"] == "/knative-custom-certs");
    (data, volume, digest, mount)
}

#[tokio::test]
async fn trust_bundles_of_the_system_and_own_namespace_reach_the_adapter() {
    let server = KubeApiServer::shared();
    let client = server.client().await.unwrap();
    install_our_crds(server, &client).await;
    let sys = server.create_namespace(&client, "tb-sys").await.unwrap();
    let ns = server.create_namespace(&client, "tb-src").await.unwrap();
    let other = server.create_namespace(&client, "tb-other").await.unwrap();
    let pki_a = test_support::TestPki::localhost();
    let pki_b = test_support::TestPki::localhost();
    let (a, b) = (pki_a.ca_pem().to_owned(), pki_b.ca_pem().to_owned());

    create::<ConfigMap>(&client, &sys, bundle("cluster-ca", &a, true)).await;
    create::<ConfigMap>(&client, &ns, bundle("team-ca", &b, true)).await;
    // Neither an unlabelled ConfigMap nor another namespace's bundle counts.
    create::<ConfigMap>(&client, &ns, bundle("not-a-bundle", "NOT-TRUSTED", false)).await;
    create::<ConfigMap>(&client, &other, bundle("theirs", "OTHER-TENANT", true)).await;
    create::<ServiceAccount>(&client, &ns, json!({"metadata": {"name": "default"}})).await;
    create::<Secret>(
        &client,
        &ns,
        json!({"metadata": {"name": "creds"}, "type": "kubernetes.io/basic-auth",
               "stringData": {"username": "u", "password": "p", "domain": "d"}}),
    )
    .await;
    let controllers = source_controllers(&client, &sys, &ns);
    create::<VSphereSource>(
        &client,
        &ns,
        json!({"metadata": {"name": "s"}, "spec": {"sink": {"uri": "https://sink.example/"},
               "address": "https://vc.local", "secretRef": {"name": "creds"}}}),
    )
    .await;
    create::<HorizonSource>(
        &client,
        &ns,
        json!({"metadata": {"name": "h"}, "spec": {"sink": {"uri": "https://sink.example/"},
               "address": "https://horizon.local", "secretRef": {"name": "creds"}}}),
    )
    .await;

    let want = json!({format!("{sys}.cluster-ca.ca.crt"): a, format!("{ns}.team-ca.ca.crt"): b});
    for (copy, deployment) in [
        ("s-trust-bundles", "s-adapter"),
        ("h-trust-bundles", "h-adapter"),
    ] {
        eventually(&format!("{copy} mounted into {deployment}"), || async {
            let (data, volume, digest, mount) = mounted(&client, &ns, copy, deployment).await;
            (data.as_ref() == Some(&want)
                && volume.as_deref() == Some(copy)
                && digest.is_some()
                && mount)
                .then_some(())
        })
        .await;
        let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get(copy)
            .await
            .unwrap();
        let owner = &cm.metadata.owner_references.unwrap()[0];
        assert_eq!(owner.controller, Some(true), "{copy} is the source's");
        assert_eq!(owner.name, &copy[..1], "{copy}");
    }
    let (_, _, first_digest, _) = mounted(&client, &ns, "s-trust-bundles", "s-adapter").await;

    // A changed system bundle reaches the copy and rolls the adapter (the
    // digest on its pod template changes).
    let renewed = test_support::TestPki::localhost().ca_pem().to_owned();
    Api::<ConfigMap>::namespaced(client.clone(), &sys)
        .patch(
            "cluster-ca",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"ca.crt": renewed}})),
        )
        .await
        .unwrap();
    eventually(
        "the renewed bundle in the copy and a new digest",
        || async {
            let (data, _, digest, _) = mounted(&client, &ns, "s-trust-bundles", "s-adapter").await;
            (data?[format!("{sys}.cluster-ca.ca.crt")] == json!(renewed) && digest != first_digest)
                .then_some(())
        },
    )
    .await;

    // Bundles removed (one unlabelled, one deleted): the copy is emptied
    // and no longer mounted.
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .patch(
            "team-ca",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {LABEL: null}}})),
        )
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &sys)
        .delete("cluster-ca", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the copy emptied and unmounted", || async {
        let (data, volume, digest, mount) =
            mounted(&client, &ns, "s-trust-bundles", "s-adapter").await;
        (data.is_none_or(|d| d == json!({})) && volume.is_none() && digest.is_none() && !mount)
            .then_some(())
    })
    .await;
    controllers.stop().await;
}
