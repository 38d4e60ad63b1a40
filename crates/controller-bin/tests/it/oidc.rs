//! OIDC sender identity (`authentication-oidc` in Knative's `config-features`) on a real
//! kube-apiserver: with it enabled the controller gives each source its own ServiceAccount
//! (owned, Knative's name), lets the adapter request tokens for it only, writes
//! `status.auth.serviceAccountName`, `status.sinkAudience` and `OIDCIdentityCreated`, and passes
//! the identity and audiences to the adapter; disabled, none of that appears (and turning it
//! off takes it away again, the source's own ServiceAccount included).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::Role;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube_harness::KubeApiServer;
use serde_json::{Value, json};
use sources_api::v1alpha1::{HorizonSource, VSphereSource};

use crate::support::{condition, eventually, install_our_crds, source_controllers};

const VSPHERE_SA: &str = "s-oidc-sources.tanzu.vmware.com-vspheresource";
const HORIZON_SA: &str = "h-oidc-sources.tanzu.vmware.com-horizonsource";

fn api<K>(client: &Client, ns: &str) -> Api<K>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    Api::namespaced(client.clone(), ns)
}

async fn create<K>(client: &Client, ns: &str, value: Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(value).expect("object");
    api::<K>(client, ns)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
}

async fn status<K>(client: &Client, ns: &str, name: &str) -> Value
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let obj = api::<K>(client, ns).get(name).await.expect("get");
    serde_json::to_value(obj).expect("json")["status"].clone()
}

/// The adapter Deployment's env, name to value (literal values only).
async fn adapter_env(client: &Client, ns: &str, name: &str) -> Vec<(String, String)> {
    let dep = api::<Deployment>(client, ns).get(name).await.expect("get");
    dep.spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers[0].env.clone().unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| Some((e.name, e.value?)))
        .collect()
}

fn value_of<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

const OIDC_ENV: [&str; 3] = [
    "K_OIDC_SERVICE_ACCOUNT",
    "K_AUDIENCE",
    "K_DEAD_LETTER_SINK_AUDIENCE",
];

async fn set_flag(client: &Client, ns: &str, value: &str) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "config-features"},
        "data": {"authentication-oidc": value}});
    api::<ConfigMap>(client, ns)
        .patch(
            "config-features",
            &PatchParams::apply("test").force(),
            &Patch::Apply(cm),
        )
        .await
        .expect("config-features");
}

#[tokio::test]
async fn oidc_identity_with_authentication_oidc_enabled_and_none_without_it() {
    let server = KubeApiServer::shared();
    let client = server.client().await.expect("client");
    install_our_crds(server, &client).await;
    server
        .install_knative_crds(&client)
        .await
        .expect("Knative CRDs");
    let ns = server
        .create_namespace(&client, "oidc")
        .await
        .expect("namespace");
    // The flag is read from the system namespace (here the test's own).
    set_flag(&client, &ns, "enabled").await;
    create::<Secret>(
        &client,
        &ns,
        json!({"metadata": {"name": "creds"}, "type": "kubernetes.io/basic-auth",
               "stringData": {"username": "user", "password": "pass"}}),
    )
    .await;
    // A Broker whose address has an audience, as Knative's with authentication-oidc.
    let brokers = kube_harness::dynamic_api(&client, &ns, "eventing.knative.dev", "v1", "Broker");
    let b = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                   "metadata": {"name": "default"}, "spec": {}});
    brokers
        .patch("default", &PatchParams::apply("t"), &Patch::Apply(b))
        .await
        .expect("broker");
    let st = json!({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
        "metadata": {"name": "default"},
        "status": {"address": {"url": "http://broker-ingress.knative-eventing.svc/x/default",
                               "audience": "eventing.knative.dev/broker/x/default"}}});
    brokers
        .patch_status("default", &PatchParams::apply("t"), &Patch::Apply(st))
        .await
        .expect("broker status");
    // A same-named ServiceAccount someone else made, for the source "t".
    let foreign = "t-oidc-sources.tanzu.vmware.com-vspheresource";
    create::<ServiceAccount>(&client, &ns, json!({"metadata": {"name": foreign}})).await;
    let controllers = source_controllers(&client, &ns, &ns);

    let vsphere = |name: &str| {
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": name},
            "spec": {"address": "https://vc.local", "secretRef": {"name": "creds"},
                "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                 "name": "default"}},
                "delivery": {"deadLetterSink": {"uri": "http://dls.example/",
                                                "audience": "dls-audience"}}}})
    };
    create::<VSphereSource>(&client, &ns, vsphere("s")).await;
    // spec.sink.audience: a URI sink with the audience given.
    create::<HorizonSource>(
        &client,
        &ns,
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
            "metadata": {"name": "h"},
            "spec": {"address": "https://horizon.local", "secretRef": {"name": "creds"},
                     "sink": {"uri": "http://display.example/", "audience": "display-audience"}}}),
    )
    .await;
    create::<VSphereSource>(&client, &ns, vsphere("t")).await;

    // VSphereSource: status, ServiceAccount, Role rule, env.
    let s = eventually("the OIDC status of s", || async {
        let s = status::<VSphereSource>(&client, &ns, "s").await;
        (s["auth"]["serviceAccountName"] == VSPHERE_SA
            && condition(&s, "OIDCIdentityCreated").is_some_and(|c| c.0 == "True"))
        .then_some(s)
    })
    .await;
    assert_eq!(s["sinkAudience"], "eventing.knative.dev/broker/x/default");
    let uid = api::<VSphereSource>(&client, &ns)
        .get("s")
        .await
        .expect("s")
        .metadata
        .uid
        .expect("uid");
    let sa = api::<ServiceAccount>(&client, &ns)
        .get(VSPHERE_SA)
        .await
        .expect("the OIDC ServiceAccount");
    let owners = sa.metadata.owner_references.unwrap_or_default();
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].uid, uid);
    assert_eq!(owners[0].kind, "VSphereSource");
    assert_eq!(owners[0].controller, Some(true));
    let labels = sa.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("oidc").map(String::as_str), Some("enabled"));
    assert_eq!(
        labels
            .get("vspheresources.sources.tanzu.vmware.com/name")
            .map(String::as_str),
        Some("s")
    );
    let role = api::<Role>(&client, &ns)
        .get("s-checkpoint")
        .await
        .expect("role");
    assert_eq!(
        serde_json::to_value(role.rules.expect("rules")).expect("json"),
        json!([{"apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["s-configmap"], "verbs": ["get", "update"]},
               {"apiGroups": [""], "resources": ["serviceaccounts/token"],
                "resourceNames": [VSPHERE_SA], "verbs": ["create"]}])
    );
    let env = adapter_env(&client, &ns, "s-adapter").await;
    assert_eq!(value_of(&env, "K_OIDC_SERVICE_ACCOUNT"), Some(VSPHERE_SA));
    assert_eq!(
        value_of(&env, "K_AUDIENCE"),
        Some("eventing.knative.dev/broker/x/default")
    );
    assert_eq!(
        value_of(&env, "K_DEAD_LETTER_SINK_AUDIENCE"),
        Some("dls-audience")
    );

    // HorizonSource: the destination's own audience.
    let h = eventually("the OIDC status of h", || async {
        let h = status::<HorizonSource>(&client, &ns, "h").await;
        (h["auth"]["serviceAccountName"] == HORIZON_SA
            && condition(&h, "OIDCIdentityCreated").is_some_and(|c| c.0 == "True"))
        .then_some(h)
    })
    .await;
    assert_eq!(h["sinkAudience"], "display-audience");
    assert!(
        api::<ServiceAccount>(&client, &ns)
            .get_opt(HORIZON_SA)
            .await
            .expect("get")
            .is_some()
    );
    let env = adapter_env(&client, &ns, "h-adapter").await;
    assert_eq!(value_of(&env, "K_OIDC_SERVICE_ACCOUNT"), Some(HORIZON_SA));
    assert_eq!(value_of(&env, "K_AUDIENCE"), Some("display-audience"));
    assert_eq!(value_of(&env, "K_DEAD_LETTER_SINK_AUDIENCE"), None);

    // A ServiceAccount of that name someone else made: left alone, said so, no adapter.
    let (reason, message) = eventually("OIDCIdentityCreated=False on t", || async {
        let t = status::<VSphereSource>(&client, &ns, "t").await;
        condition(&t, "OIDCIdentityCreated")
            .filter(|c| c.0 == "False")
            .map(|c| (c.1, c.2))
    })
    .await;
    assert_eq!(reason, "ServiceAccountNotOwned", "{message}");
    assert!(message.contains(foreign), "{message}");
    let t = status::<VSphereSource>(&client, &ns, "t").await;
    assert_eq!(
        condition(&t, "Ready").map(|c| c.0).as_deref(),
        Some("False")
    );
    let untouched = api::<ServiceAccount>(&client, &ns)
        .get(foreign)
        .await
        .expect("foreign SA");
    assert!(
        untouched.metadata.owner_references.is_none(),
        "{untouched:?}"
    );
    assert!(
        api::<Deployment>(&client, &ns)
            .get_opt("t-adapter")
            .await
            .expect("get")
            .is_none()
    );

    // Disabled: the status fields, the condition, the Role rule, the env and the source's own
    // ServiceAccounts go away (as Knative's sources delete theirs); someone else's stays.
    set_flag(&client, &ns, "disabled").await;
    eventually("s without OIDC", || async {
        let s = status::<VSphereSource>(&client, &ns, "s").await;
        (s.get("auth").is_none()
            && s.get("sinkAudience").is_none()
            && condition(&s, "OIDCIdentityCreated").is_none())
        .then_some(())
    })
    .await;
    let env = adapter_env(&client, &ns, "s-adapter").await;
    for name in OIDC_ENV {
        assert_eq!(value_of(&env, name), None, "{name} in {env:?}");
    }
    let role = api::<Role>(&client, &ns)
        .get("s-checkpoint")
        .await
        .expect("role");
    assert_eq!(role.rules.expect("rules").len(), 1);
    for gone in [VSPHERE_SA, HORIZON_SA] {
        eventually(&format!("{gone} deleted"), || async {
            api::<ServiceAccount>(&client, &ns)
                .get_opt(gone)
                .await
                .expect("get")
                .is_none()
                .then_some(())
        })
        .await;
    }
    eventually("t without OIDC", || async {
        let t = status::<VSphereSource>(&client, &ns, "t").await;
        t.get("auth").is_none().then_some(())
    })
    .await;
    assert!(
        api::<ServiceAccount>(&client, &ns)
            .get_opt(foreign)
            .await
            .expect("get")
            .is_some(),
        "someone else's ServiceAccount was deleted"
    );

    // A source made while it is disabled gets none of it.
    create::<VSphereSource>(&client, &ns, vsphere("u")).await;
    let u = eventually("u reconciled", || async {
        let u = status::<VSphereSource>(&client, &ns, "u").await;
        (u["sinkUri"].is_string() && condition(&u, "AdapterReady").is_some()).then_some(u)
    })
    .await;
    assert!(u.get("auth").is_none(), "{u}");
    assert!(u.get("sinkAudience").is_none(), "{u}");
    assert!(condition(&u, "OIDCIdentityCreated").is_none(), "{u}");
    assert!(
        api::<ServiceAccount>(&client, &ns)
            .get_opt("u-oidc-sources.tanzu.vmware.com-vspheresource")
            .await
            .expect("get")
            .is_none()
    );
    let env = adapter_env(&client, &ns, "u-adapter").await;
    for name in OIDC_ENV {
        assert_eq!(value_of(&env, name), None, "{name} in {env:?}");
    }
    controllers.stop().await;
}

/// The controller runs as its release ServiceAccount with the shipped RBAC (`config/`): it may
/// write a Role granting `create` on `serviceaccounts/token` (Kubernetes lets it grant only what
/// it holds) and make the OIDC ServiceAccount, and, once the flag is off, delete it.
#[tokio::test]
async fn the_shipped_rbac_lets_the_controller_grant_token_requests() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    let server = KubeApiServer::shared();
    let admin = server.client().await.expect("client");
    install_our_crds(server, &admin).await;
    let config = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
    for file in [
        "100-namespace.yaml",
        "200-serviceaccount.yaml",
        "200-clusterroles.yaml",
        "201-clusterrolebindings.yaml",
    ] {
        let yaml = std::fs::read_to_string(config.join(file)).expect(file);
        server
            .apply_yaml(&admin, &yaml, "vmware-sources", false)
            .await
            .expect(file);
    }
    let tr: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .expect("token request");
    let token = api::<ServiceAccount>(&admin, "vmware-sources")
        .create_token_request("sources-controller", &PostParams::default(), &tr)
        .await
        .expect("token")
        .status
        .expect("status")
        .token;
    let controller = server.client_with_token(&token).expect("client");
    let ns = server
        .create_namespace(&admin, "oidc-rbac")
        .await
        .expect("namespace");
    // The API server authorizes from a cache of the RBAC objects just applied.
    eventually("the shipped RBAC in effect", || async {
        api::<Role>(&controller, &ns)
            .list(&Default::default())
            .await
            .ok()
    })
    .await;
    set_flag(&admin, &ns, "enabled").await;
    create::<Secret>(
        &admin,
        &ns,
        json!({"metadata": {"name": "creds"}, "type": "kubernetes.io/basic-auth",
               "stringData": {"username": "user", "password": "pass"}}),
    )
    .await;
    create::<VSphereSource>(
        &admin,
        &ns,
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": "s"},
            "spec": {"address": "https://vc.local", "secretRef": {"name": "creds"},
                     "sink": {"uri": "http://sink.example/", "audience": "sink-audience"}}}),
    )
    .await;
    // The flag is read at start, then followed: here a restart takes the change, so this test
    // checks what the shipped RBAC allows without depending on the watch.
    let run = || source_controllers(&controller, &ns, &ns);
    let controllers = run();
    eventually("OIDCIdentityCreated=True with the shipped RBAC", || async {
        let s = status::<VSphereSource>(&admin, &ns, "s").await;
        (condition(&s, "OIDCIdentityCreated").is_some_and(|c| c.0 == "True")
            && s["sinkAudience"] == "sink-audience")
            .then_some(())
    })
    .await;
    let role = api::<Role>(&admin, &ns)
        .get("s-checkpoint")
        .await
        .expect("role");
    assert!(
        serde_json::to_string(&role.rules)
            .expect("json")
            .contains("serviceaccounts/token"),
        "{role:?}"
    );
    assert!(
        api::<ServiceAccount>(&admin, &ns)
            .get_opt(VSPHERE_SA)
            .await
            .expect("get")
            .is_some()
    );
    controllers.stop().await;

    set_flag(&admin, &ns, "disabled").await;
    let controllers = run();
    eventually(
        "the OIDC ServiceAccount deleted with the shipped RBAC",
        || async {
            let gone = api::<ServiceAccount>(&admin, &ns)
                .get_opt(VSPHERE_SA)
                .await
                .expect("get")
                .is_none();
            let s = status::<VSphereSource>(&admin, &ns, "s").await;
            (gone && s.get("auth").is_none()).then_some(())
        },
    )
    .await;
    controllers.stop().await;
}
