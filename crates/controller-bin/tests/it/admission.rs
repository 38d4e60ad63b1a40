//! Admission that holds up:
//!
//! - the webhook server's limits: an oversized AdmissionReview is refused,
//!   a slow client (slowloris) and a client that never handshakes are
//!   dropped, connections beyond the cap wait for a free slot;
//! - two `sources-controller` processes against a real kube-apiserver, with
//!   admission answered by the follower, its log levels following
//!   `config-logging` live, the leader's lease taken over on shutdown, and a
//!   replica exiting when its webhook server cannot run;
//! - serving-certificate and CA rotations under continuous admission with
//!   zero failures, a hostile VSphereBinding stored meanwhile.
//!
//! The webhook configurations are cluster-wide, so the API server sections
//! are one test function.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector;
use kube_harness::KubeApiServer;
use serde_json::{Value, json};
use sources_controller::certs::{self, CertPolicy, CertResolver, CertState};
use sources_controller::webhook::{self, ServerLimits, WebhookSettings, WebhookState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

// ---------------------------------------------------------------------------
// The webhook server's limits, on its own (no API server).

fn client_tls(ca_pem: &str) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()).flatten() {
        roots.add(c).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_connect(
    addr: SocketAddr,
    ca_pem: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    client_tls(ca_pem).connect(name, tcp).await
}

/// Reads until the server closes the connection; what it sent. Panics if
/// the server keeps it open for a minute.
async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

fn review(object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "7a3c", "operation": "CREATE", "userInfo": {}, "name": "s", "namespace": "ns",
            "kind": {"group": "sources.tanzu.vmware.com", "version": "v1alpha1", "kind": "VSphereSource"},
            "resource": {"group": "sources.tanzu.vmware.com", "version": "v1alpha1", "resource": "vspheresources"},
            "object": object,
        }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_server_limits() {
    test_support::install_crypto_provider();
    let policy = CertPolicy::new(vec!["127.0.0.1".into()]);
    let state = certs::plan(
        &CertState::default(),
        jiff::Timestamp::now(),
        &policy,
        |_| true,
    )
    .unwrap();
    let ca = state.bundle.clone();
    let resolver = Arc::new(CertResolver::default());
    resolver.set(state.serving_key().unwrap());
    let (roles, _w2) = reflector::store();
    let wstate = WebhookState {
        bindings: Default::default(),
        podspecable_roles: roles,
        config_logging_name: "config-logging".into(),
        excluded_namespaces: Vec::new(),
    };
    let limits = ServerLimits {
        max_body_bytes: 3 * 1024 * 1024,
        handshake_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(20),
        max_connections: 1,
        drain: Duration::ZERO,
    };
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(webhook::serve(
        "127.0.0.1:0".parse().unwrap(),
        limits,
        resolver,
        wstate,
        Some(bound_tx),
        async {
            let _ = stopped.await;
        },
    ));
    let addr = bound_rx.await.unwrap();

    // A review of ordinary size is answered.
    let body = review(json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource", "metadata": {"name": "s", "namespace": "ns"}, "spec": {}}));
    let mut s = tls_connect(addr, &ca).await.unwrap();
    s.write_all(
        format!(
            "POST /resource-validation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(&body).await.unwrap();
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"allowed\":false"), "{answer}");
    assert!(answer.contains("spec.sink.ref"), "{answer}");

    // An http:// address is admitted with a warning (the password would
    // cross the network unencrypted).
    let body = review(json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1",
        "kind": "VSphereSource", "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"sink": {"uri": "http://sink.example"}, "address": "http://vc.lab",
                 "payloadEncoding": "application/xml",
                 "secretRef": {"name": "creds"}}}));
    let mut s = tls_connect(addr, &ca).await.unwrap();
    s.write_all(
        format!(
            "POST /resource-validation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(&body).await.unwrap();
    let answer = read_until_closed(&mut s).await;
    assert!(answer.contains("\"allowed\":true"), "{answer}");
    assert!(
        answer.contains("\"warnings\":[\"spec.address \\\"http://vc.lab\\\" is plain HTTP"),
        "{answer}"
    );

    // Oversized, declared: refused before the body is read.
    let mut s = tls_connect(addr, &ca).await.unwrap();
    s.write_all(
        b"POST /resource-validation HTTP/1.1\r\nHost: x\r\nContent-Length: 3145729\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Oversized, streamed (chunked, no length): refused at the limit.
    let mut s = tls_connect(addr, &ca).await.unwrap();
    s.write_all(
        b"POST /resource-validation HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent <= 3 * 1024 * 1024 {
        let n = chunk.len().min(3 * 1024 * 1024 + 1 - sent);
        s.write_all(format!("{n:x}\r\n").as_bytes()).await.unwrap();
        s.write_all(&chunk[..n]).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
        sent += n;
    }
    let answer = read_until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Slowloris: headers trickling in are cut off, unanswered.
    let mut s = tls_connect(addr, &ca).await.unwrap();
    s.write_all(b"POST /resource-validation HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (mut r, mut w) = tokio::io::split(s);
    let trickle = tokio::spawn(async move {
        for _ in 0..600 {
            if w.write_all(b"X").await.is_err() || w.flush().await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let answer = read_until_closed(&mut r).await;
    assert_eq!(answer, "", "no answer to an unfinished request");
    trickle.abort();

    // A connection that never starts TLS is dropped.
    let mut raw = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_until_closed(&mut raw).await, "");

    // The connection cap (1 here): a second client is served only once the
    // first one's slot is free (here: when the header timeout drops it).
    let order = Arc::new(AtomicUsize::new(0));
    let mut first = tls_connect(addr, &ca).await.unwrap();
    first.write_all(b"POST /x HTTP/1.1\r\n").await.unwrap();
    let second = {
        let (order, ca) = (order.clone(), ca.clone());
        tokio::spawn(async move {
            let s = tls_connect(addr, &ca).await;
            (s.is_ok(), order.fetch_add(1, Ordering::SeqCst))
        })
    };
    read_until_closed(&mut first).await;
    let first_closed_at = order.fetch_add(1, Ordering::SeqCst);
    let (second_ok, second_done_at) = second.await.unwrap();
    assert!(second_ok, "the second client is served");
    assert!(
        second_done_at > first_closed_at,
        "the second handshake completed only after the first connection closed"
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------
// Replicas, rotation and hostile bindings against a real API server.

/// A `sources-controller` process, killed when dropped.
struct Replica {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    metrics_port: u16,
    webhook_port: u16,
}

impl Replica {
    fn start(name: &str, server: &KubeApiServer, sys: &str, ns: &str, webhook_port: u16) -> Self {
        let metrics_port = test_support::free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sources-controller"))
            .env_remove("RUST_LOG")
            .env("KUBECONFIG", server.kubeconfig_path())
            .env("VSPHERE_ADAPTER", "registry.test/vsphere-adapter:dev")
            .env(
                "HORIZON_SOURCE_RA_IMAGE",
                "registry.test/horizon-adapter:dev",
            )
            .env("SYSTEM_NAMESPACE", sys)
            .env("WATCH_NAMESPACE", ns)
            .env("POD_NAME", name)
            .env("METRICS_PORT", metrics_port.to_string())
            .env("WEBHOOK_PORT", webhook_port.to_string())
            .env("WEBHOOK_EXTRA_SANS", "127.0.0.1")
            .env("LEASE_DURATION_SECONDS", "6")
            .env("LEASE_RENEW_SECONDS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sources-controller");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            name: name.to_owned(),
            child,
            lines,
            metrics_port,
            webhook_port,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait()
    }

    /// Waits (up to a minute) for the process to exit.
    fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{} did not exit; log:\n{}",
            self.name,
            self.lines().join("\n")
        );
    }

    async fn ready(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.metrics_port)).await else {
            return false;
        };
        if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .is_err()
        {
            return false;
        }
        read_until_closed(&mut s).await.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vsphere_source(name: &str) -> Value {
    json!({"apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereSource",
        "metadata": {"name": name},
        "spec": {"sink": {"uri": "http://sink.example"}, "address": "https://vc.local",
                 "secretRef": {"name": "creds"}}})
}

async fn lease_holder(client: &Client, sys: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), sys)
        .get_opt("sources-controller")
        .await
        .unwrap()?
        .spec?
        .holder_identity
}

/// Whether a log line is a zap-shaped JSON object.
fn zap_shaped(line: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    ["level", "ts", "logger", "caller", "msg"]
        .iter()
        .all(|k| v.get(*k).is_some_and(Value::is_string))
        && ["debug", "info", "warn", "error", "fatal"].contains(&v["level"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_rotation_and_hostile_bindings() {
    let cluster = AdmissionCluster::take("adm").await;
    let (server, client, sys) = (cluster.server, cluster.client.clone(), cluster.sys.clone());
    let ns = cluster.namespace("adm").await;

    // --- Two replicas; the API server calls only the follower.
    let a = Replica::start("replica-a", server, &sys, &ns, test_support::free_port());
    let b = Replica::start("replica-b", server, &sys, &ns, test_support::free_port());
    let leader_name = eventually("a leader", || lease_holder(&client, &sys)).await;
    let (mut leader, mut follower) = if leader_name == a.name {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(leader.name, leader_name);
    let base = format!("https://127.0.0.1:{}", follower.webhook_port);
    apply_configurations(server, &client, &base).await;
    let ca = wait_ca_current(&client, &sys, "vsphere-webhook-certs").await;
    for r in [&leader, &follower] {
        eventually(&format!("{} ready", r.name), || async {
            r.ready().await.then_some(())
        })
        .await;
    }
    assert!(
        tls_handshake(([127, 0, 0, 1], follower.webhook_port).into(), &ca).await,
        "the follower serves the leader's certificate"
    );
    let no_debug_before = follower
        .lines()
        .iter()
        .all(|l| !l.contains("\"level\":\"debug\""));
    assert!(no_debug_before, "info by default");
    let mut empty = vsphere_source("empty");
    empty["spec"]["sink"] = json!({});
    let msg = validation_denial(&client, &ns, &empty).await;
    assert!(
        msg.contains("expected at least one, got none: spec.sink.ref, spec.sink.uri"),
        "{msg}"
    );
    let created = create_raw(&client, &ns, vsphere_source("defaulted"))
        .await
        .unwrap();
    assert_eq!(
        created["spec"]["checkpointConfig"]["maxAgeSeconds"], 300,
        "defaulted by the follower"
    );

    // --- Log levels follow config-logging live.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &sys);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "config-logging"},
        "data": {"loglevel.controller": "debug", "loglevel.webhook": "debug"}}))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    eventually("debug admission lines from the follower", || async {
        let _ = create_with(&client, &ns, vsphere_source("probe"), &dry_run()).await;
        follower
            .lines()
            .iter()
            .any(|l| {
                l.contains("\"level\":\"debug\"")
                    && l.contains("\"logger\":\"webhook.webhook\"")
                    && l.contains("\"msg\":\"admission\"")
            })
            .then_some(())
    })
    .await;
    for r in [&leader, &follower] {
        let lines = r.lines();
        assert!(!lines.is_empty());
        for l in &lines {
            assert!(zap_shaped(l), "{}: not zap-shaped: {l}", r.name);
        }
        assert!(
            lines
                .iter()
                .all(|l| l.contains(&format!("\"knative.dev/pod\":\"{}\"", r.name))),
            "{}",
            r.name
        );
    }

    // --- A replica whose webhook server cannot run exits.
    let mut broken = Replica::start("replica-c", server, &sys, &ns, follower.webhook_port);
    let status = broken.wait();
    assert!(!status.success(), "{status}");
    let lines = broken.lines();
    assert!(
        lines
            .iter()
            .any(|l| zap_shaped(l) && l.contains("the webhook server failed; exiting")),
        "{lines:?}"
    );

    // --- The leader shuts down: it exits cleanly and the follower leads.
    let status = leader.terminate();
    assert!(status.success(), "{status}: {}", leader.lines().join("\n"));
    let follower_name = follower.name.clone();
    eventually("the follower leads", || async {
        (lease_holder(&client, &sys).await.as_deref() == Some(follower_name.as_str())).then_some(())
    })
    .await;
    create_raw(&client, &ns, vsphere_source("after-failover"))
        .await
        .expect("admitted after the leader left");
    let status = follower.terminate();
    assert!(status.success(), "{status}");
    drop(broken);

    // --- Rotations under continuous admission, with short lifetimes: a
    // serving certificate every ~4 s, a new CA every ~15 s.
    let mut settings = WebhookSettings::new(&sys);
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.extra_names = vec!["127.0.0.1".into()];
    settings.secret_name = "rotating-certs".into();
    settings.validity = Duration::from_secs(12);
    settings.rotate_before = Duration::from_secs(8);
    settings.ca_validity = Duration::from_secs(40);
    settings.ca_rotate_before = Duration::from_secs(25);
    settings.ca_overlap = Duration::from_secs(5);
    settings.check_interval = Duration::from_secs(1);
    let (hooks, addr) = Webhooks::start(&client, settings.clone()).await;
    apply_configurations(
        server,
        &client,
        &format!("https://127.0.0.1:{}", addr.port()),
    )
    .await;
    wait_ca_current(&client, &sys, "rotating-certs").await;

    // A hostile binding stored while the validation webhook was away.
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    v.delete(webhook::VALIDATION_WEBHOOK, &DeleteParams::default())
        .await
        .unwrap();
    let hostile = binding_json(
        "hostile",
        json!({"apiVersion": "apps/*", "kind": "Deployment", "selector": {"matchLabels": {"bound": "yes"}}}),
    );
    eventually("the hostile binding stored", || async {
        create_raw(&client, &ns, hostile.clone()).await.ok()
    })
    .await;
    apply_configurations(
        server,
        &client,
        &format!("https://127.0.0.1:{}", addr.port()),
    )
    .await;
    // The re-created validation configuration has no caBundle until the
    // manager writes it, and the API server uses it a moment later.
    wait_ca_current(&client, &sys, "rotating-certs").await;
    let good = binding_json(
        "good",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "selector": {"matchLabels": {"bound": "yes"}}}),
    );
    eventually("a good binding admitted", || async {
        create_raw(&client, &ns, good.clone()).await.ok()
    })
    .await;
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "worker", "labels": {"bound": "yes"}},
        "spec": {"selector": {"matchLabels": {"app": "w"}},
                 "template": {"metadata": {"labels": {"app": "w"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap();
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let bound = |d: &Deployment| serde_json::to_string(d).unwrap().contains("VC_PASSWORD");
    eventually("the binding webhook in use", || async {
        let d = deps.create(&dry_run(), &deployment).await.ok()?;
        bound(&d).then_some(())
    })
    .await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..2 {
        let (client, ns, stop, failures, requests) = (
            client.clone(),
            ns.clone(),
            stop.clone(),
            failures.clone(),
            requests.clone(),
        );
        let deployment = deployment.clone();
        workers.push(tokio::spawn(async move {
            let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
            while !stop.load(Ordering::SeqCst) {
                let outcome = if w == 0 {
                    create_with(
                        &client,
                        &ns,
                        vsphere_source(&format!("load-{w}")),
                        &dry_run(),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
                } else {
                    match deps.create(&dry_run(), &deployment).await {
                        Ok(d) if bound(&d) => Ok(()),
                        Ok(_) => Err("admitted without the binding".to_owned()),
                        Err(e) => Err(e.to_string()),
                    }
                };
                requests.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = outcome {
                    failures.lock().unwrap().push(e);
                }
            }
        }));
    }
    // Watch the Secret until the serving certificate rotated a few times and
    // a new CA signs (after an overlap with both CAs in the bundle).
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &sys);
    let state = |s: Secret| {
        let data = s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        CertState::from_secret(&data, &Default::default())
    };
    let first = state(secrets.get("rotating-certs").await.unwrap());
    let mut serving = vec![first.cert_pem.clone()];
    let mut signing = vec![first.signing.clone().unwrap().cert_pem];
    let mut overlap_seen = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    while serving.len() < 4 || signing.len() < 2 || !overlap_seen {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotations: {} serving certificates, {} CAs, overlap {overlap_seen}",
            serving.len(),
            signing.len()
        );
        let s = state(secrets.get("rotating-certs").await.unwrap());
        if !serving.contains(&s.cert_pem) {
            serving.push(s.cert_pem.clone());
        }
        if let Some(ca) = s.signing.map(|c| c.cert_pem)
            && !signing.contains(&ca)
        {
            signing.push(ca);
        }
        overlap_seen |= certs::split_bundle(&s.bundle).len() == 2;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    let total = requests.load(Ordering::SeqCst);
    assert!(
        failures.is_empty(),
        "{} of {total} admissions failed: {failures:?}",
        failures.len()
    );
    assert!(total >= 20, "{total} admissions");
    println!(
        "{total} admissions through {} serving certificates and {} CAs, none failed",
        serving.len(),
        signing.len()
    );
    // The configurations still follow, the hostile binding aside.
    wait_ca_current(&client, &sys, "rotating-certs").await;

    hooks.stop().await;
    // Leave the shared API server without our failing webhooks.
    delete_configurations(&client).await;
}
