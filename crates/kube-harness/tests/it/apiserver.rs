//! The harness against the real etcd + kube-apiserver it starts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube_harness::KubeApiServer;
use serde_json::json;

/// An Addressable test CRD with a status subresource and a structural schema.
const ADDRESSABLE_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: sinks.harness.test
  labels:
    duck.knative.dev/addressable: "true"
spec:
  group: harness.test
  scope: Namespaced
  names: {kind: Sink, plural: sinks, singular: sink}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
          status:
            type: object
            properties:
              address:
                type: object
                properties:
                  url: {type: string}
"#;

async fn setup(prefix: &str) -> (Client, String) {
    let server = KubeApiServer::shared();
    let client = server.client().await.expect("client");
    let ns = server
        .create_namespace(&client, prefix)
        .await
        .expect("namespace");
    (client, ns)
}

#[tokio::test]
async fn configmap_create_and_read() {
    let (client, ns) = setup("cm").await;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("one".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..Default::default()
    };
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let got = api.get("one").await.expect("get");
    assert_eq!(got.data.unwrap()["k"], "v");
    assert!(got.metadata.uid.is_some());
    assert!(got.metadata.resource_version.is_some());
}

#[tokio::test]
async fn server_side_apply_tracks_managers_and_conflicts() {
    let (client, ns) = setup("ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(client, &ns);
    let doc = |value: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "applied"}, "data": {"owned": value}})
    };
    api.patch(
        "applied",
        &PatchParams::apply("manager-a"),
        &Patch::Apply(doc("a")),
    )
    .await
    .expect("first apply");
    // Another manager changing the same field conflicts unless forced.
    let err = api
        .patch(
            "applied",
            &PatchParams::apply("manager-b"),
            &Patch::Apply(doc("b")),
        )
        .await
        .expect_err("conflict");
    match err {
        kube::Error::Api(status) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("expected a 409, got {other:?}"),
    }
    let got = api
        .patch(
            "applied",
            &PatchParams::apply("manager-b").force(),
            &Patch::Apply(doc("b")),
        )
        .await
        .expect("forced apply");
    assert_eq!(got.data.unwrap()["owned"], "b");
    let managers: Vec<String> = got
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"manager-b".to_owned()), "{managers:?}");
}

#[tokio::test]
async fn crd_schema_and_status_subresource() {
    let server = KubeApiServer::shared();
    let (client, ns) = setup("crd").await;
    let names = server
        .install_crds(&client, ADDRESSABLE_CRD)
        .await
        .expect("install CRD");
    assert_eq!(names, ["sinks.harness.test"]);
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("harness.test", "v1", "Sink"));
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &resource);

    // The structural schema is enforced.
    let bad = json!({"apiVersion": "harness.test/v1", "kind": "Sink",
                     "metadata": {"name": "bad"}, "spec": {"size": 0}});
    let err = api
        .patch("bad", &PatchParams::apply("t"), &Patch::Apply(bad))
        .await
        .expect_err("size 0 is invalid");
    assert!(err.to_string().contains("spec.size"), "{err}");

    let good = json!({"apiVersion": "harness.test/v1", "kind": "Sink",
                      "metadata": {"name": "good"}, "spec": {"size": 2},
                      "status": {"address": {"url": "http://ignored"}}});
    let created = api
        .patch("good", &PatchParams::apply("t"), &Patch::Apply(good))
        .await
        .expect("apply");
    // Status is not written through the main resource...
    assert!(created.data.get("status").is_none(), "{:?}", created.data);
    // ...but through the status subresource.
    let status = json!({"apiVersion": "harness.test/v1", "kind": "Sink",
                        "metadata": {"name": "good"},
                        "status": {"address": {"url": "http://good.example"}}});
    api.patch_status(
        "good",
        &PatchParams::apply("t-status"),
        &Patch::Apply(status),
    )
    .await
    .expect("status apply");
    let got = api.get("good").await.expect("get");
    assert_eq!(got.data["status"]["address"]["url"], "http://good.example");
    assert_eq!(got.data["spec"]["size"], 2);
}

#[tokio::test]
async fn knative_crds_install_and_accept_objects() {
    let server = KubeApiServer::shared();
    let (client, ns) = setup("kn").await;
    let names = server
        .install_knative_crds(&client)
        .await
        .expect("install Knative CRDs");
    for expected in [
        "services.serving.knative.dev",
        "brokers.eventing.knative.dev",
        "channels.messaging.knative.dev",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // A Broker with an address in its status, as Knative would set it.
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "eventing.knative.dev",
        "v1",
        "Broker",
    ));
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &resource);
    let broker = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                        "metadata": {"name": "default"}, "spec": {}});
    api.patch("default", &PatchParams::apply("t"), &Patch::Apply(broker))
        .await
        .expect("broker");
    let status = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                        "metadata": {"name": "default"},
                        "status": {"address": {"url": "http://broker-ingress.knative-eventing.svc.cluster.local/x/default"}}});
    api.patch_status("default", &PatchParams::apply("t"), &Patch::Apply(status))
        .await
        .expect("broker status");
    let got = api.get("default").await.expect("get broker");
    assert_eq!(
        got.data["status"]["address"]["url"],
        "http://broker-ingress.knative-eventing.svc.cluster.local/x/default"
    );
}

#[tokio::test]
async fn rbac_denies_an_unprivileged_service_account() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let server = KubeApiServer::shared();
    let (client, ns) = setup("rbac").await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "nobody"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.expect("sa");
    let tr: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 600}}))
            .unwrap();
    let token = sas
        .create_token_request("nobody", &PostParams::default(), &tr)
        .await
        .expect("token request")
        .status
        .expect("token status")
        .token;
    let sa_client = server.client_with_token(&token).expect("sa client");
    let err = Api::<ConfigMap>::namespaced(sa_client, &ns)
        .list(&Default::default())
        .await
        .expect_err("forbidden");
    match err {
        kube::Error::Api(status) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[test]
fn a_second_server_starts_and_stops() {
    let server = KubeApiServer::start().expect("start");
    assert!(server.kubeconfig_path().is_file());
    let dir = server.dir().to_path_buf();
    println!("started in {:?}", server.startup_time());
    drop(server);
    assert!(!dir.exists(), "{} removed", dir.display());
}
