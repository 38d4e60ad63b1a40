//! Controller measurements against a real kube-apiserver, the
//! `sources-controller` binary (bench profile) run as a child process.
//! Prints figures; asserts nothing. One mode per run:
//!
//! - `sources` (the default): `SCALE_SOURCES` VSphereSources (100) in one
//!   namespace. Prints the RSS idle; the time until all are Ready (their
//!   `Ready` condition True for their generation), from the first creation
//!   and from the last; the controller's CPU seconds and the API requests
//!   per source (every client's, by verb and resource, from the API server's
//!   `apiserver_request_total`) until then; VmRSS and VmHWM with all Ready;
//!   the controller's CPU seconds, reconciles and API requests over a quiet
//!   window (`SCALE_QUIET_SECONDS`, 30) when nothing changes; then a
//!   resync of every source (a `config-logging` change the adapters take,
//!   which rewrites every adapter Deployment) and, created one second into
//!   it, how long a new healthy source takes to become Ready in another
//!   namespace and in the busy one. Goal (issue 23): 1,000 sources all
//!   Ready within 60 s, peak RSS at most 64 MiB. A run that does not get
//!   there within `SCALE_DEADLINE_SECONDS` (300) prints how many were Ready
//!   and exits non-zero. The test cluster runs no kube-controller-manager:
//!   the bench stands in for its Deployment controller and marks each
//!   adapter Deployment `Available` for its generation (no Pod runs);
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
//! another build of the binary (an earlier version, to compare). The
//! controller runs under a wrapper that kills it when the bench ends, however
//! it ends (returns, fails, panics, is interrupted or killed).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
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

/// Runs `$0 "$@"` (stdout to /dev/null, stderr inherited), prints its pid,
/// and kills it when stdin (a pipe the bench holds) reaches end of file: when
/// the bench drops its [`Process`], and also when the bench dies without
/// running destructors (killed, aborted). As kube-harness runs the API
/// server and etcd. (Asynchronous lists get /dev/null as stdin, hence the
/// copy of stdin on fd 3.)
const WRAPPER: &str = r#"exec 3<&0
"$0" "$@" </dev/null >/dev/null &
child=$!
echo "$child"
( read -r _ignored <&3; kill -KILL "$child" 2>/dev/null ) 3<&3 </dev/null >/dev/null 2>&1 &
watcher=$!
exec 3<&- >/dev/null
wait "$child" 2>/dev/null
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// The controller under [`WRAPPER`], killed when dropped: when the bench
/// returns, fails, panics (the bench profile unwinds) or is interrupted
/// (`main` drops the mode's future); and, through the wrapper, when the bench
/// process dies.
struct Process {
    wrapper: Child,
    stdin: Option<std::process::ChildStdin>,
    pid: u32,
}

impl Process {
    fn spawn(mut cmd: Command) -> Self {
        use std::io::BufRead;
        let mut wrapper = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run sources-controller");
        let stdin = wrapper.stdin.take();
        let mut line = String::new();
        if let Some(out) = wrapper.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let pid = line.trim().parse().unwrap_or_else(|_| {
            let _ = wrapper.kill();
            panic!("the wrapper printed no pid: {line:?}")
        });
        Self {
            wrapper,
            stdin,
            pid,
        }
    }

    fn id(&self) -> u32 {
        self.pid
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // End of file on the wrapper's stdin: it kills the controller.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.wrapper.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status();
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
    }
}

/// A `sources-controller` process with `sys` as its namespace; its metrics
/// and webhook ports.
fn controller(server: &KubeApiServer, sys: &str) -> (Process, u16, u16) {
    let binary = std::env::var_os("SOURCES_CONTROLLER_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_sources-controller").into());
    let (metrics, webhook) = (test_support::free_port(), test_support::free_port());
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(WRAPPER)
        .arg(binary)
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
        .env("RUST_LOG", "warn");
    (Process::spawn(cmd), metrics, webhook)
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

/// A background task, aborted when dropped (also when the bench fails).
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// CPU seconds (user and system) `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime: fields 14 and 15 of stat(5), 12 and 13 after the command.
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `apiserver_request_total` from the API server's `/metrics`, by verb and
/// resource (every client's requests: the controller's and the bench's).
async fn api_requests(client: &Client) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(req) = axum::http::Request::get("/metrics").body(Vec::new()) else {
        return out;
    };
    let Ok(text) = client.request_text(req).await else {
        return out;
    };
    let label = |l: &str, k: &str| -> String {
        l.split_once(&format!("{k}=\""))
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(v, _)| v.to_owned())
            .unwrap_or_default()
    };
    for l in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some(n) = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let sub = label(l, "subresource");
        let key = format!(
            "{} {}{}",
            label(l, "verb"),
            label(l, "resource"),
            if sub.is_empty() {
                String::new()
            } else {
                format!("/{sub}")
            }
        );
        *out.entry(key).or_default() += n as u64;
    }
    out
}

/// What changed between two [`api_requests`], largest first: the total and
/// the `top` largest, per `per` (e.g. per source).
fn request_delta(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
    per: usize,
    top: usize,
) -> String {
    let mut d: Vec<(u64, &String)> = after
        .iter()
        .map(|(k, v)| (v.saturating_sub(before.get(k).copied().unwrap_or(0)), k))
        .filter(|(n, _)| *n > 0)
        .collect();
    d.sort_by(|a, b| b.cmp(a));
    let total: u64 = d.iter().map(|(n, _)| n).sum();
    let per = per.max(1) as f64;
    let list: Vec<String> = d
        .iter()
        .take(top)
        .map(|(n, k)| format!("{k} {:.1}", *n as f64 / per))
        .collect();
    format!(
        "{total} ({:.1} each: {})",
        total as f64 / per,
        list.join(", ")
    )
}

/// Stands in for kube-controller-manager's Deployment controller (the test
/// cluster runs none): marks every adapter Deployment `Available` for its
/// generation, so the sources can become Ready. Returns the task and the
/// generation of each Deployment it marked, by `namespace/name`.
fn deployment_controller(client: &Client) -> (Task, Arc<Mutex<HashMap<String, i64>>>) {
    let marked = Arc::new(Mutex::new(HashMap::new()));
    let api: Api<Deployment> = Api::all(client.clone());
    let seen = marked.clone();
    let task = tokio::spawn(async move {
        let config =
            watcher::Config::default().labels(sources_controller::resources::VSPHERE_NAME_LABEL);
        let limit = Arc::new(tokio::sync::Semaphore::new(8));
        let mut events = watcher(api.clone(), config).boxed();
        while let Some(event) = events.next().await {
            let (Ok(watcher::Event::Apply(d)) | Ok(watcher::Event::InitApply(d))) = event else {
                continue;
            };
            let generation = d.metadata.generation.unwrap_or(0);
            let done = d.status.as_ref().is_some_and(|s| {
                s.observed_generation == Some(generation)
                    && s.conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == "Available" && c.status == "True")
            });
            let key = format!(
                "{}/{}",
                d.metadata.namespace.as_deref().unwrap_or_default(),
                d.metadata.name.as_deref().unwrap_or_default()
            );
            if done {
                if let Ok(mut m) = seen.lock() {
                    m.insert(key, generation);
                }
                continue;
            }
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            let ns = d.metadata.namespace.clone().unwrap_or_default();
            let name = d.metadata.name.clone().unwrap_or_default();
            let client = api.clone().into_client();
            tokio::spawn(async move {
                let status = json!({"status": {
                    "observedGeneration": generation, "replicas": 1, "readyReplicas": 1,
                    "availableReplicas": 1, "updatedReplicas": 1,
                    "conditions": [{"type": "Available", "status": "True",
                        "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability.",
                        "lastUpdateTime": "2026-01-01T00:00:00Z",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                let _ = Api::<Deployment>::namespaced(client, &ns)
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
                drop(permit);
            });
        }
    });
    (Task(task), marked)
}

/// Follows every VSphereSource: whether it is Ready for its generation, by
/// `namespace/name`.
fn ready_tracker(client: &Client) -> (Task, Arc<Mutex<HashMap<String, bool>>>) {
    let ready = Arc::new(Mutex::new(HashMap::new()));
    let api: Api<VSphereSource> = Api::all(client.clone());
    let seen = ready.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            let (Ok(watcher::Event::Apply(s)) | Ok(watcher::Event::InitApply(s))) = event else {
                continue;
            };
            let is_ready = s.status.as_ref().is_some_and(|st| {
                st.observed_generation.is_some()
                    && st.observed_generation == s.metadata.generation
                    && st
                        .conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            });
            let key = format!(
                "{}/{}",
                s.metadata.namespace.as_deref().unwrap_or_default(),
                s.metadata.name.as_deref().unwrap_or_default()
            );
            if let Ok(mut m) = seen.lock() {
                m.insert(key, is_ready);
            }
        }
    });
    (Task(task), ready)
}

fn count_ready(ready: &Mutex<HashMap<String, bool>>, prefix: &str) -> usize {
    ready
        .lock()
        .map(|m| {
            m.iter()
                .filter(|(k, r)| **r && k.starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

fn is_ready(ready: &Mutex<HashMap<String, bool>>, key: &str) -> bool {
    ready
        .lock()
        .map(|m| m.get(key).copied().unwrap_or(false))
        .unwrap_or(false)
}

fn vsphere_source(name: &str, sink: Value) -> Value {
    json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": name},
        "spec": {"sink": sink, "address": "https://vc.local", "secretRef": {"name": "creds"}}})
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Creates `name` in `ns` and waits until it is Ready (at most `limit`).
async fn time_to_ready(
    client: &Client,
    ready: &Mutex<HashMap<String, bool>>,
    ns: &str,
    name: &str,
    limit: Duration,
) -> Result<Duration, String> {
    let t = Instant::now();
    create(
        &Api::<VSphereSource>::namespaced(client.clone(), ns),
        vsphere_source(name, json!({"uri": "http://sink.example"})),
    )
    .await;
    let key = format!("{ns}/{name}");
    while !is_ready(ready, &key) {
        if t.elapsed() > limit {
            return Err(format!("{key} not Ready after {:?}", t.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(t.elapsed())
}

async fn sources_mode() -> Result<(), String> {
    let count: usize = std::env::var("SCALE_SOURCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let deadline = env_secs("SCALE_DEADLINE_SECONDS", 300);
    let quiet = env_secs("SCALE_QUIET_SECONDS", 30);
    let (server, client, ns) = cluster("scale").await;
    let other = server.create_namespace(&client, "other").await.expect("ns");
    for n in [&ns, &other] {
        basics(&client, n).await;
    }
    let (_deployments, marked) = deployment_controller(&client);
    let (_tracker, ready) = ready_tracker(&client);
    let (child, metrics, _) = controller(&server, &ns);
    let pid = child.id();
    // Idle: leader, watches established, nothing to do.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = rss_kib(pid, "VmRSS:");
    println!(
        "sources-controller with {count} VSphereSources in one namespace, real kube-apiserver"
    );
    println!("  RSS idle:                        {}", mib(idle));

    let api: Api<VSphereSource> = Api::namespaced(client.clone(), &ns);
    let requests0 = api_requests(&client).await;
    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();
    for i in 0..count {
        create(
            &api,
            vsphere_source(
                &format!("s{i}"),
                json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "display"}}),
            ),
        )
        .await;
    }
    let created = started.elapsed();
    println!("  created {count} sources in         {created:?}");
    let prefix = format!("{ns}/");
    let mut report = Instant::now();
    loop {
        let done = count_ready(&ready, &prefix);
        if done == count {
            break;
        }
        if started.elapsed() > deadline {
            println!(
                "  NOT all Ready: {done}/{count} Ready {:?} after the first was created \
                 (RSS {}, peak {}, controller CPU {:.1} s)",
                started.elapsed(),
                mib(rss_kib(pid, "VmRSS:")),
                mib(rss_kib(pid, "VmHWM:")),
                cpu_seconds(pid) - cpu0
            );
            return Err(format!("only {done}/{count} Ready after {deadline:?}"));
        }
        if report.elapsed() >= Duration::from_secs(10) {
            report = Instant::now();
            eprintln!("  ... {done}/{count} Ready after {:?}", started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_ready = started.elapsed();
    let fill_cpu = cpu_seconds(pid) - cpu0;
    let requests1 = api_requests(&client).await;
    println!(
        "  all {count} Ready after            {all_ready:?} from the first creation ({:?} after the last)",
        all_ready.saturating_sub(created)
    );
    println!("  controller CPU until then:       {fill_cpu:.1} s");
    println!(
        "  API requests until then (all clients): {}",
        request_delta(&requests0, &requests1, count, 8)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "  RSS with {count} Ready:            {}",
        mib(rss_kib(pid, "VmRSS:"))
    );
    println!(
        "  peak RSS (VmHWM):                {}",
        mib(rss_kib(pid, "VmHWM:"))
    );

    // Steady state: nothing changes.
    let (cpu1, rec1, req1) = (
        cpu_seconds(pid),
        reconciles(metrics, "VSphereSource").await,
        api_requests(&client).await,
    );
    tokio::time::sleep(quiet).await;
    let (cpu2, rec2, req2) = (
        cpu_seconds(pid),
        reconciles(metrics, "VSphereSource").await,
        api_requests(&client).await,
    );
    println!(
        "  quiet {quiet:?} after: controller CPU {:.2} s, {} reconciles, API requests {}",
        cpu2 - cpu1,
        rec2.saturating_sub(rec1),
        request_delta(&req1, &req2, 1, 6)
    );

    // Every source reconciled again: a logging change the adapters take
    // (config-logging's zap-logger-config), which rewrites every adapter
    // Deployment; meanwhile a new healthy source in another namespace and
    // one in the busy namespace.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    create(
        &cms,
        json!({"metadata": {"name": "config-logging"},
            "data": {"zap-logger-config": "{\"level\": \"warn\"}", "loglevel.controller": "warn"}}),
    )
    .await;
    let touched = Instant::now();
    let rec3 = reconciles(metrics, "VSphereSource").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let limit = deadline;
    let (elsewhere, same) = tokio::join!(
        time_to_ready(&client, &ready, &other, "healthy", limit),
        time_to_ready(&client, &ready, &ns, "healthy", limit)
    );
    let rewritten = |m: &Mutex<HashMap<String, i64>>| {
        m.lock()
            .map(|m| {
                m.iter()
                    .filter(|(k, g)| {
                        k.starts_with(&prefix) && !k.ends_with("/healthy-adapter") && **g >= 2
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    while rewritten(&marked) < count {
        if touched.elapsed() > deadline {
            return Err(format!(
                "only {}/{count} adapter Deployments rewritten after the logging change",
                rewritten(&marked)
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resynced = touched.elapsed();
    let rec4 = reconciles(metrics, "VSphereSource").await;
    println!(
        "  a logging change: all {count} adapter Deployments rewritten after {resynced:?} ({} reconciles)",
        rec4.saturating_sub(rec3)
    );
    println!(
        "  a new healthy source, created 1 s into it, Ready after: {} in another namespace, {} in the same one",
        elsewhere.map_or_else(|e| e, |d| format!("{d:?}")),
        same.map_or_else(|e| e, |d| format!("{d:?}")),
    );
    println!(
        "  peak RSS (VmHWM) after it:       {}",
        mib(rss_kib(pid, "VmHWM:"))
    );
    let goal = all_ready <= Duration::from_secs(60) && rss_kib(pid, "VmHWM:") <= 64 * 1024;
    println!(
        "  goal (all Ready within 60 s, peak RSS <= 64 MiB): {}",
        if goal { "met" } else { "NOT met" }
    );
    drop(child);
    Ok(())
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

/// Ctrl-C or SIGTERM.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

// Every mode owns its processes (API server, etcd, the controller) through
// guards that kill them when dropped: when the mode returns, fails, panics
// (the bench profile unwinds) or is interrupted (the mode's future is dropped).
#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mode = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "sources".to_owned());
    let run = async {
        match mode.as_str() {
            "sources" => sources_mode().await,
            "admission" => {
                admission_mode().await;
                Ok(())
            }
            "fairness" => {
                fairness_mode().await;
                Ok(())
            }
            other => Err(format!(
                "unknown mode {other}: sources, admission or fairness"
            )),
        }
    };
    tokio::select! {
        res = run => match res {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scale bench: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        () = interrupted() => {
            eprintln!("scale bench: interrupted");
            std::process::ExitCode::from(130)
        }
    }
}
