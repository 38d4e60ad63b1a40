//! The environment contract, both ways: the controller renders each source's adapter
//! Deployment (with the VSphereBinding's injection for vSphere), the adapter binary parses
//! exactly that environment (`--check-settings`), and every setting arrives with its meaning.

use std::process::Command;

use serde_json::{Value, json};
use sources_api::v1alpha1::{HorizonSource, VSphereSource};
use sources_controller::resources::{self, ResolvedSink};
use sources_controller::{AdapterConfig, Settings};

fn settings() -> Settings {
    Settings {
        vsphere_adapter_image: "vsphere-adapter".into(),
        horizon_adapter_image: "horizon-adapter".into(),
        system_namespace: "vmware-sources".into(),
        metrics_domain: "tanzu.vmware.com/sources".into(),
        config_logging_name: "config-logging".into(),
        config_observability_name: "config-observability".into(),
        watch_namespace: None,
        metrics_port: 9090,
        identity: "test".into(),
        lease_name: "sources-controller".into(),
        lease_duration_seconds: 15,
        lease_renew_seconds: 5,
        resync_seconds: 600,
    }
}

/// The container's env as a process would see it: field and secret references resolved.
fn resolve(deployment: &Value, pod: &str, secret: &[(&str, &str)]) -> Vec<(String, String)> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut out = Vec::new();
    for e in container["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("name").to_owned();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_owned()
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.namespace" => deployment["metadata"]["namespace"]
                    .as_str()
                    .expect("namespace")
                    .to_owned(),
                "metadata.name" => pod.to_owned(),
                other => panic!("unexpected field reference {other}"),
            }
        } else if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str() {
            secret
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_else(|| panic!("no secret key {key}"))
        } else {
            panic!("unexpected env entry {e}")
        };
        out.push((name, value));
    }
    out
}

/// Run `binary --check-settings` with exactly `env` (plus PATH); its JSON.
fn check_settings(binary: &str, env: &[(String, String)]) -> Value {
    let out = Command::new(binary)
        .arg("--check-settings")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run the adapter");
    assert!(
        out.status.success(),
        "{binary} refused the controller's environment: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON settings")
}

fn delivery_spec() -> Value {
    json!({"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.2S", "timeout": "PT2S",
           "deadLetterSink": {"uri": "http://dls.example/"}})
}

/// The OTLP endpoint of `config-observability`'s tracing.
const OTLP: &str = "http://otel-collector.observability:4318/v1/traces";

/// The tracing the adapter took from the controller's `K_OBSERVABILITY_CONFIG`.
fn tracing_summary() -> serde_json::Value {
    json!({"protocol": "http/protobuf", "endpoint": OTLP, "samplingRate": 0.5})
}

fn config() -> AdapterConfig {
    AdapterConfig {
        logging: Some([("zap-logger-config".into(), r#"{"level":"info"}"#.into())].into()),
        features: None,
        observability: Some(
            [
                ("metrics.backend-destination".into(), "prometheus".into()),
                ("tracing-protocol".into(), "http/protobuf".into()),
                ("tracing-endpoint".into(), OTLP.into()),
                ("tracing-sampling-rate".into(), "0.5".into()),
            ]
            .into(),
        ),
    }
}

#[test]
fn the_vsphere_adapter_reads_what_the_controller_renders() {
    let src: VSphereSource = serde_json::from_value(json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": "src", "namespace": "team-a", "uid": "u1"},
        "spec": {
            "sink": {"uri": "http://broker.example/team-a/default"},
            "address": "https://vcenter.example.com", "skipTLSVerify": true,
            "secretRef": {"name": "vc-creds"},
            "payloadEncoding": "application/json",
            "eventTypes": ["VmPoweredOnEvent", "com.vmware.vc.HA.Example"],
            "filter": {"categories": ["warning", "error"],
                       "entity": {"path": "/DC0/vm/Production", "recursion": "children"},
                       "users": {"names": ["VSPHERE.LOCAL\\svc"], "includeSystem": true}},
            "checkpointConfig": {"maxAgeSeconds": 600, "periodSeconds": 5},
            "ceOverrides": {"extensions": {"team": "a"}},
            "delivery": delivery_spec(),
        }
    }))
    .expect("source");
    let owner = resources::owner_ref("VSphereSource", "src", "u1");
    let dls_ca = test_support::TestPki::localhost().ca_pem().to_owned();
    let delivery = resources::delivery_env(
        src.spec.delivery.as_ref(),
        Some(&ResolvedSink {
            uri: "http://dls.example/".into(),
            ca_certs: Some(dls_ca),
            audience: None,
        }),
    );
    // authentication-oidc enabled: the identity the reconciler adds.
    let mut delivery = delivery;
    delivery.identity = Some(adapter_env::Identity {
        service_account: sources_controller::oidc::service_account_name("src", "VSphereSource"),
        audience: Some("broker-audience".into()),
        dead_letter_sink_audience: Some("dls-audience".into()),
    });
    let mut deployment = serde_json::to_value(resources::vsphere_deployment(
        &src,
        "team-a",
        &owner,
        &ResolvedSink {
            uri: "http://broker.example/team-a/default".into(),
            ca_certs: None,
            audience: Some("broker-audience".into()),
        },
        &delivery,
        &settings(),
        &config(),
    ))
    .expect("Deployment JSON");
    // The VSphereBinding the controller creates injects the vCenter settings.
    sources_controller::binding::do_binding(
        &sources_controller::binding::BindingParams {
            secret: "vc-creds".into(),
            address: "https://vcenter.example.com".into(),
            skip_tls_verify: true,
            ca_certs: None,
        },
        &mut deployment,
    );
    let env = resolve(
        &deployment,
        "src-adapter-7d9f-abcde",
        &[
            ("username", "administrator@vsphere.local"),
            ("password", "s3cret"),
        ],
    );
    let got = check_settings(env!("CARGO_BIN_EXE_vsphere-adapter"), &env);
    assert_eq!(got["vcenter"], "https://vcenter.example.com");
    assert_eq!(got["insecure"], true);
    assert_eq!(got["username"], "administrator@vsphere.local");
    assert!(!got.to_string().contains("s3cret"), "no password in {got}");
    assert_eq!(got["namespace"], "team-a");
    assert_eq!(
        got["checkpoint"],
        json!({"configMap": "src-configmap", "namespace": "team-a"})
    );
    assert_eq!(got["maxAgeSeconds"], 600);
    assert_eq!(got["periodSeconds"], 5.0);
    assert_eq!(got["payloadEncoding"], "application/json");
    assert_eq!(
        got["eventTypes"],
        json!(["VmPoweredOnEvent", "com.vmware.vc.HA.Example"])
    );
    assert_eq!(
        got["filter"],
        json!({"categories": ["warning", "error"], "entity": "/DC0/vm/Production",
               "recursion": "children",
               "users": {"names": ["VSPHERE.LOCAL\\svc"], "includeSystem": true}})
    );
    assert_eq!(got["metricsAddress"], "0.0.0.0:9090");
    assert_eq!(got["tracing"], tracing_summary());
    let d = &got["delivery"];
    assert_eq!(d["sink"], "http://broker.example/team-a/default");
    assert_eq!(d["deadLetterSink"], "http://dls.example/");
    assert_eq!(
        d["deadLetterSinkCaCerts"], true,
        "the dead-letter sink's CA reaches the adapter"
    );
    assert_eq!(d["retry"], 3);
    assert_eq!(d["backoffPolicy"], "linear");
    assert_eq!(d["backoffDelayMs"], 200);
    assert_eq!(d["timeoutMs"], 2000);
    assert_eq!(d["ceOverrides"], json!({"team": "a"}));
    assert_eq!(d["concurrency"], adapter_env::default::DELIVERY_CONCURRENCY);
    assert_eq!(
        d["oidcServiceAccount"],
        "src-oidc-sources.tanzu.vmware.com-vspheresource"
    );
    assert_eq!(d["audience"], "broker-audience");
    assert_eq!(d["deadLetterSinkAudience"], "dls-audience");
}

#[test]
fn the_horizon_adapter_reads_what_the_controller_renders() {
    let src: HorizonSource = serde_json::from_value(json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "HorizonSource",
        "metadata": {"name": "hz", "namespace": "vdi", "uid": "u2"},
        "spec": {
            "sink": {"uri": "http://display.vdi.svc.cluster.local"},
            "address": "https://horizon.example.com", "secretRef": {"name": "hz-creds"},
            "serviceAccountName": "horizon-sa",
            "caCerts": test_support::TestPki::localhost().ca_pem(),
            "filter": {"eventTypes": ["VLSI_USERLOGGEDIN"], "modules": ["Broker"],
                       "severities": ["audit_fail"]},
            "delivery": delivery_spec(),
        }
    }))
    .expect("source");
    let owner = resources::owner_ref("HorizonSource", "hz", "u2");
    let delivery = resources::delivery_env(
        src.spec.delivery.as_ref(),
        Some(&ResolvedSink {
            uri: "http://dls.example/".into(),
            ca_certs: None,
            audience: None,
        }),
    );
    let deployment = serde_json::to_value(resources::horizon_deployment(
        &src,
        "vdi",
        &owner,
        &ResolvedSink {
            uri: "http://display.vdi.svc.cluster.local".into(),
            ca_certs: Some(
                test_support::TestPki::new(&["localhost"])
                    .ca_pem()
                    .to_owned(),
            ),
            audience: None,
        },
        &delivery,
        &settings(),
        &config(),
    ))
    .expect("Deployment JSON");
    // The Secret is mounted at the adapter's default path; standalone runs give the same
    // credentials as settings instead.
    let mut env = resolve(&deployment, "hz-adapter-1", &[]);
    env.extend([
        ("HORIZON_SECRET_PATH".into(), "/nonexistent".into()),
        ("HORIZON_DOMAIN".into(), "corp".into()),
        ("HORIZON_USERNAME".into(), "administrator".into()),
        ("HORIZON_PASSWORD".into(), "s3cret".into()),
    ]);
    let got = check_settings(env!("CARGO_BIN_EXE_horizon-adapter"), &env);
    assert_eq!(got["horizon"], "https://horizon.example.com");
    assert_eq!(got["insecure"], false);
    assert_eq!(
        got["caCerts"], true,
        "the HorizonSource's caCerts reach the adapter"
    );
    assert!(!got.to_string().contains("s3cret"), "no password in {got}");
    assert_eq!(
        got["checkpoint"],
        json!({"configMap": "hz-configmap", "namespace": "vdi"})
    );
    assert_eq!(
        got["filter"],
        json!({"eventTypes": ["VLSI_USERLOGGEDIN"], "modules": ["Broker"],
               "severities": ["AUDIT_FAIL"]}),
        "severities in any case reach the adapter upper case"
    );
    assert_eq!(got["metricsAddress"], "0.0.0.0:9090");
    assert_eq!(got["tracing"], tracing_summary());
    let d = &got["delivery"];
    assert_eq!(d["sink"], "http://display.vdi.svc.cluster.local/");
    assert_eq!(d["sinkCaCerts"], true);
    assert_eq!(d["deadLetterSink"], "http://dls.example/");
    assert_eq!(d["retry"], 3);
    assert_eq!(d["backoffPolicy"], "linear");
    assert_eq!(d["timeoutMs"], 2000);
}
