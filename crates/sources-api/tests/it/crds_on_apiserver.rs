//! The generated CRDs on a real kube-apiserver: they install, accept the
//! objects upstream users write, apply defaults, and reject invalid ones.

use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube_harness::KubeApiServer;
use serde_json::{Value, json};
use sources_api::v1alpha1::{HorizonSource, VSphereBinding, VSphereSource};

async fn setup(prefix: &str) -> (Client, String) {
    let server = KubeApiServer::shared();
    let client = server.client().await.expect("client");
    let yaml: String = sources_api::crds::all()
        .iter()
        .map(|(_, crd)| sources_api::crds::render(crd).expect("render") + "---\n")
        .collect();
    server.install_crds(&client, &yaml).await.expect("CRDs");
    let ns = server
        .create_namespace(&client, prefix)
        .await
        .expect("namespace");
    (client, ns)
}

async fn create(client: &Client, ns: &str, plural: &str, obj: Value) -> Result<Value, kube::Error> {
    let ar = kube::api::ApiResource {
        group: "sources.tanzu.vmware.com".into(),
        version: "v1alpha1".into(),
        api_version: "sources.tanzu.vmware.com/v1alpha1".into(),
        kind: obj["kind"].as_str().unwrap_or_default().into(),
        plural: plural.into(),
    };
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let obj: kube::api::DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .map(|o| serde_json::to_value(o).expect("json"))
}

#[tokio::test]
async fn upstream_sample_vspheresource_is_accepted_and_defaulted() {
    let (client, ns) = setup("crd-vss").await;
    // The README's sample, unchanged.
    let obj = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource",
        "metadata": {"name": "source"},
        "spec": {
            "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}},
            "address": "https://my-vsphere-endpoint.local",
            "skipTLSVerify": true,
            "secretRef": {"name": "vsphere-credentials"},
            "ceOverrides": {"extensions": {"team": "infra"}}
        }
    });
    let created = create(&client, &ns, "vspheresources", obj)
        .await
        .expect("create");
    assert_eq!(created["spec"]["payloadEncoding"], "application/xml");
    assert_eq!(created["spec"]["checkpointConfig"]["periodSeconds"], 10);
    assert_eq!(created["spec"]["checkpointConfig"]["maxAgeSeconds"], 300);
    assert_eq!(created["spec"]["skipTLSVerify"], true);
    // Typed access round-trips.
    let api: Api<VSphereSource> = Api::namespaced(client.clone(), &ns);
    let typed = api.get("source").await.expect("typed get");
    assert!(typed.spec.skip_tls_verify);
    assert_eq!(typed.spec.sink.reference.unwrap().kind, "Broker");

    // Explicit values (as the Go webhook stored them) are kept, any case.
    let obj = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource",
        "metadata": {"name": "explicit"},
        "spec": {
            "sink": {"uri": "http://x.y"},
            "address": "https://vc.local",
            "secretRef": {"name": "creds"},
            "checkpointConfig": {"maxAgeSeconds": 0, "periodSeconds": 10},
            "payloadEncoding": "Application/JSON",
            "serviceAccountName": "events",
            "eventTypes": ["VmPoweredOnEvent"],
            "caCerts": "-----BEGIN CERTIFICATE-----\n...",
            "delivery": {"deadLetterSink": {"uri": "http://dlq"}, "retry": 5, "backoffPolicy": "exponential"}
        }
    });
    let created = create(&client, &ns, "vspheresources", obj)
        .await
        .expect("create");
    assert_eq!(created["spec"]["checkpointConfig"]["maxAgeSeconds"], 0);
    assert_eq!(created["spec"]["payloadEncoding"], "Application/JSON");
}

#[tokio::test]
async fn invalid_vspheresources_are_rejected() {
    let (client, ns) = setup("crd-bad").await;
    let base = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource",
        "metadata": {"name": "bad"},
        "spec": {"sink": {"uri": "http://x.y"}, "address": "https://vc.local", "secretRef": {"name": "creds"}}
    });
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "no sink",
            Box::new(|o: &mut Value| {
                o["spec"].as_object_mut().unwrap().remove("sink");
            }),
            "spec.sink",
        ),
        (
            "no address",
            Box::new(|o: &mut Value| {
                o["spec"].as_object_mut().unwrap().remove("address");
            }),
            "spec.address",
        ),
        (
            "empty secret name",
            Box::new(|o: &mut Value| {
                o["spec"]["secretRef"]["name"] = json!("");
            }),
            "spec.secretRef.name",
        ),
        (
            "bad encoding",
            Box::new(|o: &mut Value| {
                o["spec"]["payloadEncoding"] = json!("text/plain");
            }),
            "spec.payloadEncoding",
        ),
        (
            "negative period",
            Box::new(|o: &mut Value| {
                o["spec"]["checkpointConfig"] = json!({"periodSeconds": -1});
            }),
            "spec.checkpointConfig.periodSeconds",
        ),
        (
            "wrong type",
            Box::new(|o: &mut Value| {
                o["spec"]["skipTLSVerify"] = json!("yes");
            }),
            "spec.skipTLSVerify",
        ),
        (
            "bad backoff",
            Box::new(|o: &mut Value| {
                o["spec"]["delivery"] = json!({"backoffPolicy": "random"});
            }),
            "spec.delivery.backoffPolicy",
        ),
    ];
    for (what, edit, field) in cases {
        let mut obj = base.clone();
        edit(&mut obj);
        let err = create(&client, &ns, "vspheresources", obj)
            .await
            .expect_err(what);
        match err {
            kube::Error::Api(status) => {
                assert_eq!(status.code, 422, "{what}: {status:?}");
                assert!(status.message.contains(field), "{what}: {}", status.message);
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn unknown_fields_are_rejected_with_strict_validation() {
    let (client, ns) = setup("crd-strict").await;
    let api: Api<VSphereSource> = Api::namespaced(client, &ns);
    let obj = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource",
        "metadata": {"name": "typo"},
        "spec": {"sink": {"uri": "http://x.y"}, "address": "https://vc.local",
                 "secretRef": {"name": "creds"}, "skipTlsVerify": true}
    });
    // kubectl's default (--validate=strict) is fieldValidation=Strict.
    let mut params = PatchParams::apply("t");
    params.field_validation = Some(kube::api::ValidationDirective::Strict);
    let err = api
        .patch("typo", &params, &Patch::Apply(obj))
        .await
        .expect_err("unknown field");
    assert!(err.to_string().contains("skipTlsVerify"), "{err}");
}

#[tokio::test]
async fn binding_and_horizon_objects() {
    let (client, ns) = setup("crd-other").await;
    let binding = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereBinding",
        "metadata": {"name": "b"},
        "spec": {
            "subject": {"apiVersion": "batch/v1", "kind": "Job",
                        "selector": {"matchLabels": {"app": "vsphere-job"}}},
            "address": "https://vc.local",
            "skipTLSVerify": true,
            "secretRef": {"name": "creds"}
        }
    });
    create(&client, &ns, "vspherebindings", binding)
        .await
        .expect("binding");
    let typed: VSphereBinding = Api::namespaced(client.clone(), &ns)
        .get("b")
        .await
        .expect("get");
    assert_eq!(
        typed.spec.subject.selector.unwrap().match_labels.unwrap()["app"],
        "vsphere-job"
    );
    let horizon = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "HorizonSource",
        "metadata": {"name": "h"},
        "spec": {
            "sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
            "address": "https://horizon.local",
            "secretRef": {"name": "horizon-credentials"},
            "serviceAccountName": "horizon-sa"
        }
    });
    create(&client, &ns, "horizonsources", horizon)
        .await
        .expect("horizon");
    let typed: HorizonSource = Api::namespaced(client.clone(), &ns)
        .get("h")
        .await
        .expect("get");
    assert_eq!(typed.spec.service_account("h"), "horizon-sa");
    let bad = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "HorizonSource",
        "metadata": {"name": "bad"},
        "spec": {"sink": {"uri": "http://x"}, "address": "https://h", "secretRef": {}}
    });
    let err = create(&client, &ns, "horizonsources", bad)
        .await
        .expect_err("no secret name");
    assert!(err.to_string().contains("spec.secretRef.name"), "{err}");
}

#[tokio::test]
async fn status_subresource_and_printer_columns() {
    let (client, ns) = setup("crd-status").await;
    let obj = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource",
        "metadata": {"name": "s"},
        "spec": {"sink": {"uri": "http://x.y"}, "address": "https://vc.local", "secretRef": {"name": "creds"}}
    });
    create(&client, &ns, "vspheresources", obj)
        .await
        .expect("create");
    let api: Api<VSphereSource> = Api::namespaced(client.clone(), &ns);
    let status = json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "status": {"sinkUri": "http://x.y", "observedGeneration": 1,
                   "conditions": [{"type": "Ready", "status": "False", "reason": "SecretMissing",
                                   "message": "secret \"creds\" not found", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    });
    api.patch_status("s", &PatchParams::apply("t"), &Patch::Apply(status))
        .await
        .expect("status");
    // kubectl get's table view shows upstream's columns, and kubectl's Age.
    let req = http::Request::get(format!(
        "/apis/sources.tanzu.vmware.com/v1alpha1/namespaces/{ns}/vspheresources"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: Value = client.request(req).await.expect("table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["Name", "Source", "Sink", "Ready", "Reason", "Age"]
    );
    let cells = &table["rows"][0]["cells"];
    // The API server prints a date column as an age: `5s`, `2m`.
    let age = cells[5].as_str().expect("an age");
    assert!(
        age.ends_with('s') || age.ends_with('m'),
        "age {age:?} in {cells}"
    );
    assert_eq!(cells[1], "https://vc.local");
    assert_eq!(cells[2], "http://x.y");
    assert_eq!(cells[3], "False");
    assert_eq!(cells[4], "SecretMissing");
}

/// The API server's refusal (without echoing an object it stored).
fn refused(created: Result<Value, kube::Error>) -> String {
    match created {
        Ok(o) => panic!("stored: {}", o["metadata"]["name"]),
        Err(e) => e.to_string(),
    }
}

/// Issue 22 item 3: every string, list and map a namespace user writes is
/// bounded, so no object carries megabytes into the controller's caches; the
/// largest allowed values are accepted.
#[tokio::test]
async fn oversized_fields_are_refused_and_the_largest_allowed_accepted() {
    let (client, ns) = setup("crd-limits").await;
    let binding = |name: &str, ca_len: usize| {
        json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
            "kind": "VSphereBinding",
            "metadata": {"name": name},
            "spec": {
                "subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
                "address": "https://vc.local",
                "secretRef": {"name": "creds"},
                "caCerts": "x".repeat(ca_len)
            }
        })
    };
    create(&client, &ns, "vspherebindings", binding("largest", 65536))
        .await
        .expect("64 KiB of caCerts");
    let message = refused(create(&client, &ns, "vspherebindings", binding("over", 65537)).await);
    assert!(
        message.contains("spec.caCerts") && message.contains("65536"),
        "{message}"
    );
    let source = |name: &str, types: usize| {
        json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1",
            "kind": "VSphereSource",
            "metadata": {"name": name},
            "spec": {
                "sink": {"uri": "http://x.y"},
                "address": "https://vc.local",
                "secretRef": {"name": "creds"},
                "eventTypes": vec!["VmPoweredOnEvent"; types]
            }
        })
    };
    create(&client, &ns, "vspheresources", source("many", 1024))
        .await
        .expect("1024 event types");
    let message = refused(create(&client, &ns, "vspheresources", source("too-many", 1025)).await);
    assert!(message.contains("spec.eventTypes"), "{message}");
    let mut long = source("long-uri", 1);
    long["spec"]["sink"]["uri"] = json!(format!("http://x.y/{}", "p".repeat(2048)));
    let message = refused(create(&client, &ns, "vspheresources", long).await);
    assert!(message.contains("spec.sink.uri"), "{message}");
}
