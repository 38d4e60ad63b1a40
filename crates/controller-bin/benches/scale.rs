//! Controller measurements against a real kube-apiserver, the
//! `sources-controller` binary (bench profile) run as a child process.
//! Prints figures; asserts nothing. One mode per run:
//!
//! - `sources` (the default): RSS idle and with 100 VSphereSources
//!   reconciled, and the time to reconcile them (target: at most 30 MiB
//!   with 100 sources; `SCALE_SOURCES=n` changes the count);
//! - `admission`: 50 VSphereBindings of the largest size the CRD allows in
//!   one namespace; the controller's RSS and the latency of admitting a
//!   Deployment there (the binding webhook applies a binding) and elsewhere
//!   (it is not called);
//! - `fairness`: 500 VSphereSources that never become Ready in one
//!   namespace; how long a healthy source in another namespace waits to be
//!   reconciled, and how many reconciles the failing ones cost.
//!
//! `cargo bench -p controller-bin --bench scale -- admission`;
//! `benches/controller-*.sh` run them. `SOURCES_CONTROLLER_BIN` runs
//! another build of the binary (an earlier version, to compare).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube_harness::KubeApiServer;
use serde_json::{Value, json};
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

async fn create<K>(api: &Api<K>, v: Value)
where
    K: Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create");
}

/// The API server with our CRDs, an admin client and a fresh namespace.
async fn cluster(prefix: &str) -> (KubeApiServer, Client, String) {
    let server = KubeApiServer::start().expect("API server");
    let client = server.client().await.expect("client");
    let yaml: String = sources_api::crds::all()
        .iter()
        .map(|(_, crd)| sources_api::crds::render(crd).expect("render") + "---\n")
        .collect();
    server.install_crds(&client, &yaml).await.expect("CRDs");
    let ns = server.create_namespace(&client, prefix).await.expect("ns");
    (server, client, ns)
}

/// The default ServiceAccount, a credentials Secret and a Service `display`
/// in `ns`.
async fn basics(client: &Client, ns: &str) {
    create::<ServiceAccount>(
        &Api::namespaced(client.clone(), ns),
        json!({"metadata": {"name": "default"}}),
    )
    .await;
    create::<Secret>(
        &Api::namespaced(client.clone(), ns),
        json!({"metadata": {"name": "creds"},
        "stringData": {"username": "u", "password": "p"}}),
    )
    .await;
    create::<Service>(
        &Api::namespaced(client.clone(), ns),
        json!({"metadata": {"name": "display"},
        "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
}

/// A child process, killed when dropped (also when the bench panics).
struct Process(Child);

impl Process {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `sources-controller` process with `sys` as its namespace; its metrics
/// and webhook ports.
fn controller(server: &KubeApiServer, sys: &str) -> (Process, u16, u16) {
    let binary = std::env::var_os("SOURCES_CONTROLLER_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sources-controller").into());
    let (metrics, webhook) = (test_support::free_port(), test_support::free_port());
    let child = Command::new(binary)
        .env("KUBECONFIG", server.kubeconfig_path())
        .env("VSPHERE_ADAPTER", "registry.test/vsphere-adapter:dev")
        .env(
            "HORIZON_SOURCE_RA_IMAGE",
            "registry.test/horizon-adapter:dev",
        )
        .env("SYSTEM_NAMESPACE", sys)
        .env("METRICS_PORT", metrics.to_string())
        // Every replica serves the webhooks, and exits if it cannot.
        .env("WEBHOOK_PORT", webhook.to_string())
        .env("WEBHOOK_EXTRA_SANS", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run sources-controller");
    (Process(child), metrics, webhook)
}

/// `sources_controller_reconcile_total` of `kind`, from `/metrics`.
async fn reconciles(metrics_port: u16, kind: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port)).await else {
        return 0;
    };
    let _ = s
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out.lines()
        .filter(|l| {
            l.starts_with("sources_controller_reconcile_total")
                && l.contains(&format!("kind=\"{kind}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn summary(mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "median {:?}, p95 {:?}, max {:?}",
        percentile(&d, 50),
        percentile(&d, 95),
        d.last().copied().unwrap_or_default()
    )
}

async fn sources_mode() {
    let count: usize = std::env::var("SCALE_SOURCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let (server, client, ns) = cluster("scale").await;
    basics(&client, &ns).await;
    let (child, _, _) = controller(&server, &ns);
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
    drop(child);
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

/// The webhook configurations of `config/`, pointed at `base`, applied.
async fn apply_configurations(server: &KubeApiServer, client: &Client, base: &str) {
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../config/500-vsphere-webhook-configuration.yaml"),
    )
    .expect("configurations");
    let mut docs = kube_harness::yaml_documents(&yaml).expect("YAML");
    for d in &mut docs {
        for w in d["webhooks"].as_array_mut().expect("webhooks") {
            let path = w["clientConfig"]["service"]["path"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            w["clientConfig"] = json!({"url": format!("{base}{path}")});
            w["timeoutSeconds"] = json!(10);
        }
    }
    server
        .apply_documents(client, &docs, "default", false)
        .await
        .expect("apply the configurations");
}

/// Waits until every webhook configuration carries a CA bundle.
async fn wait_ca(client: &Client) {
    let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut all = true;
        for c in m.list(&ListParams::default()).await.expect("list").items {
            all &= c
                .webhooks
                .iter()
                .flatten()
                .all(|w| w.client_config.ca_bundle.is_some());
        }
        for c in v.list(&ListParams::default()).await.expect("list").items {
            all &= c
                .webhooks
                .iter()
                .flatten()
                .all(|w| w.client_config.ca_bundle.is_some());
        }
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "no caBundle within 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// 64 KiB of real PEM certificates (the CRD's limit for `caCerts`).
fn largest_ca_bundle() -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["ca.bench".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate")
        .pem();
    let mut bundle = String::new();
    while bundle.len() + cert.len() <= 64 * 1024 {
        bundle.push_str(&cert);
    }
    bundle
}

/// A label key prefix of 203 characters (three 63-character DNS labels).
fn long_prefix(c: char) -> String {
    let label: String = std::iter::repeat_n(c, 63).collect();
    [label.as_str(); 3].join(".")
}

/// The 32 labels binding `i` selects (`bench: <i>` and 31 long ones).
fn selector_labels(i: usize) -> serde_json::Map<String, Value> {
    let mut labels = serde_json::Map::new();
    labels.insert("bench".into(), json!(i.to_string()));
    for j in 1..32 {
        labels.insert(
            format!("{}.example.com/label-{j}", long_prefix('k')),
            json!("v".repeat(63)),
        );
    }
    labels
}

/// A VSphereBinding of the largest size the CRD allows: 64 KiB of CA
/// certificates, a 2 KiB address, 32 labels and 16 expressions of 64 values
/// in its selector (the labels `bench-<i>` and the probe's `app` select
/// Deployments labelled `bench=<i>`).
fn largest_binding(i: usize, ca: &str) -> Value {
    let labels = selector_labels(i);
    let expressions: Vec<Value> = (0..16)
        .map(|j| {
            json!({"key": format!("{}.example.com/expr-{j}", long_prefix('e')),
                   "operator": "NotIn",
                   "values": (0..64).map(|k| format!("{k:0>63}")).collect::<Vec<_>>()})
        })
        .collect();
    json!({
        "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereBinding",
        "metadata": {"name": format!("large-{i}")},
        "spec": {
            "subject": {"apiVersion": "apps/v1", "kind": "Deployment",
                        "selector": {"matchLabels": labels, "matchExpressions": expressions}},
            "address": format!("https://vc.example.com/{}", "a".repeat(2000)),
            "secretRef": {"name": "creds"},
            "caCerts": ca,
        }
    })
}

fn deployment(name: &str, labels: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .expect("Deployment")
}

/// The latencies of `n` dry-run creates of `d` in `ns`.
async fn admissions(client: &Client, ns: &str, d: &Deployment, n: usize) -> Vec<Duration> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        api.create(&params, d).await.expect("admitted");
        out.push(started.elapsed());
    }
    out
}

async fn admission_mode() {
    const BINDINGS: usize = 50;
    let (server, client, sys) = cluster("admission-system").await;
    let ns = server.create_namespace(&client, "bound").await.expect("ns");
    let other = server.create_namespace(&client, "other").await.expect("ns");
    let (child, _, webhook) = controller(&server, &sys);
    let pid = child.id();
    apply_configurations(&server, &client, &format!("https://127.0.0.1:{webhook}")).await;
    wait_ca(&client).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = rss_kib(pid, "VmRSS:");

    let ca = largest_ca_bundle();
    let bindings = kube_harness::sources_group_api(&client, &ns, "VSphereBinding");
    let mut created = Vec::new();
    let mut size = 0;
    for i in 0..BINDINGS {
        let b = largest_binding(i, &ca);
        size = serde_json::to_vec(&b).map(|v| v.len()).unwrap_or_default();
        let obj: DynamicObject = serde_json::from_value(b).expect("binding");
        let started = Instant::now();
        bindings
            .create(&PostParams::default(), &obj)
            .await
            .expect("a binding of the largest size admitted");
        created.push(started.elapsed());
    }
    // The webhook configuration names the namespace and Deployments.
    let probe = deployment("probe", Value::Object(selector_labels(0)));
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let d = api.create(&params, &probe).await.expect("admitted");
        if serde_json::to_string(&d)
            .unwrap_or_default()
            .contains("VC_CA_CERTS")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the binding webhook never bound");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bound = admissions(&client, &ns, &probe, 50).await;
    let elsewhere = admissions(&client, &other, &probe, 50).await;
    let loaded = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    drop(child);
    println!(
        "sources-controller with {BINDINGS} VSphereBindings of the largest allowed size \
         ({} KiB each as JSON), real kube-apiserver",
        size / 1024
    );
    println!("  RSS before the bindings:       {}", mib(idle));
    println!("  RSS with the bindings cached:  {}", mib(loaded));
    println!("  peak RSS (VmHWM):              {}", mib(peak));
    println!(
        "  creating a binding (defaulting and validation webhooks): {}",
        summary(created)
    );
    println!(
        "  a Deployment in their namespace (binding webhook, dry run): {}",
        summary(bound)
    );
    println!(
        "  a Deployment in another namespace (no webhook call, dry run): {}",
        summary(elsewhere)
    );
}

async fn fairness_mode() {
    const FAILING: usize = 500;
    let (server, client, failing) = cluster("failing").await;
    let healthy = server
        .create_namespace(&client, "healthy")
        .await
        .expect("ns");
    for ns in [&failing, &healthy] {
        basics(&client, ns).await;
    }
    let (child, metrics, _) = controller(&server, &failing);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sources = |ns: &str| -> Api<VSphereSource> { Api::namespaced(client.clone(), ns) };
    let source = |name: String, sink: Value| {
        json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
            "metadata": {"name": name},
            "spec": {"sink": sink, "address": "https://vc.local", "secretRef": {"name": "creds"}}})
    };
    let started = Instant::now();
    for i in 0..FAILING {
        create(
            &sources(&failing),
            source(
                format!("f{i}"),
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "absent"}}),
            ),
        )
        .await;
    }
    let created = started.elapsed();
    // Healthy sources in another namespace, one at a time: during the burst
    // of first reconciles, then while the failing ones back off.
    let mut burst = Vec::new();
    let mut steady = Vec::new();
    for i in 0..20 {
        let name = format!("h{i}");
        let t = Instant::now();
        create(
            &sources(&healthy),
            source(name.clone(), json!({"uri": "http://sink.example"})),
        )
        .await;
        loop {
            let s = sources(&healthy).get(&name).await.expect("get");
            let done = s.status.as_ref().is_some_and(|st| {
                st.conditions.as_ref().is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "SinkProvided" && c.status == "True")
                })
            });
            if done {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(300),
                "{name} never reconciled"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if i < 10 {
            burst.push(t.elapsed());
        } else {
            steady.push(t.elapsed());
        }
        if i == 9 {
            // Past the first minute of the failing ones.
            tokio::time::sleep(Duration::from_secs(60).saturating_sub(started.elapsed())).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let at = reconciles(metrics, "VSphereSource").await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(120)).await;
    let later = reconciles(metrics, "VSphereSource").await;
    let rate = later.saturating_sub(at) as f64 / t0.elapsed().as_secs_f64();
    drop(child);
    println!(
        "sources-controller with {FAILING} VSphereSources that never become Ready (created in \
         {created:?}), real kube-apiserver"
    );
    println!("  a healthy source in another namespace, reconciled after:");
    println!(
        "    during the failing ones' first minute: {}",
        summary(burst)
    );
    println!(
        "    after it:                              {}",
        summary(steady)
    );
    println!(
        "  reconciles of the failing ones, from {:?} to {:?} after their creation: {rate:.1}/s",
        at_elapsed(started, t0),
        started.elapsed()
    );
}

fn at_elapsed(started: Instant, t: Instant) -> Duration {
    t.duration_since(started)
}

#[tokio::main]
async fn main() {
    let mode = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "sources".to_owned());
    match mode.as_str() {
        "sources" => sources_mode().await,
        "admission" => admission_mode().await,
        "fairness" => fairness_mode().await,
        other => eprintln!("unknown mode {other}: sources, admission or fairness"),
    }
}
