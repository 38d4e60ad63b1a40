//! Controller footprint: RSS idle and with 100 VSphereSources reconciled,
//! and the time to reconcile them, against a real kube-apiserver.
//!
//! `cargo bench -p controller-bin --bench scale` (release build of the
//! `sources-controller` binary, run as a child process). Target: at most
//! 30 MiB RSS with 100 sources. `SCALE_SOURCES=n` changes the count.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use kube::api::{Api, ListParams, PostParams};
use kube_harness::KubeApiServer;
use serde_json::json;
use sources_api::v1alpha1::VSphereSource;

fn rss_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn create<K>(api: &Api<K>, v: serde_json::Value)
where
    K: Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create");
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("SCALE_SOURCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let server = KubeApiServer::start().expect("API server");
    let client = server.client().await.expect("client");
    let yaml: String = sources_api::crds::all()
        .iter()
        .map(|(_, crd)| sources_api::crds::render(crd).expect("render") + "---\n")
        .collect();
    server.install_crds(&client, &yaml).await.expect("CRDs");
    let ns = server.create_namespace(&client, "scale").await.expect("ns");
    create::<ServiceAccount>(
        &Api::namespaced(client.clone(), &ns),
        json!({"metadata": {"name": "default"}}),
    )
    .await;
    create::<Secret>(
        &Api::namespaced(client.clone(), &ns),
        json!({"metadata": {"name": "creds"},
        "stringData": {"username": "u", "password": "p"}}),
    )
    .await;
    create::<Service>(
        &Api::namespaced(client.clone(), &ns),
        json!({"metadata": {"name": "display"},
        "spec": {"ports": [{"port": 80}]}}),
    )
    .await;

    let port = test_support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sources-controller"))
        .env("KUBECONFIG", server.kubeconfig_path())
        .env("VSPHERE_ADAPTER", "registry.test/vsphere-adapter:dev")
        .env(
            "HORIZON_SOURCE_RA_IMAGE",
            "registry.test/horizon-adapter:dev",
        )
        .env("SYSTEM_NAMESPACE", &ns)
        .env("METRICS_PORT", port.to_string())
        // Every replica serves the webhooks, and exits if it cannot.
        .env("WEBHOOK_PORT", test_support::free_port().to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run sources-controller");
    let pid = child.id();
    // Idle: leader, watches established, nothing to do.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = rss_kib(pid, "VmRSS:");

    let api: Api<VSphereSource> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    for i in 0..count {
        create(&api, json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": format!("s{i}")},
            "spec": {"sink": {"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}},
                     "address": "https://vc.local", "secretRef": {"name": "creds"}}
        }))
        .await;
    }
    let created = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        let done = list
            .items
            .iter()
            .filter(|s| {
                s.status.as_ref().is_some_and(|st| {
                    st.observed_generation == Some(1)
                        && st.conditions.as_ref().is_some_and(|c| {
                            c.iter()
                                .any(|c| c.type_ == "SinkProvided" && c.status == "True")
                        })
                })
            })
            .count();
        if done == count {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done}/{count} reconciled in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reconciled = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let loaded = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    println!("sources-controller footprint ({count} VSphereSources, real kube-apiserver)");
    println!("  RSS idle:                      {}", mib(idle));
    println!("  RSS with {count} sources reconciled: {}", mib(loaded));
    println!("  peak RSS (VmHWM):              {}", mib(peak));
    println!("  created {count} sources in      {created:?}");
    println!("  all reconciled after           {reconciled:?}");
    println!(
        "  target <= 30 MiB with 100 sources: {}",
        if loaded <= 30 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
}
