//! OIDC sender identity end to end: the real adapter binary, with `K_AUDIENCE` and
//! `K_OIDC_SERVICE_ACCOUNT` and a kubeconfig for a ServiceAccount the controller's Role rule
//! lets request tokens for the OIDC ServiceAccount, sends a backlog to a sink that verifies each
//! bearer token with the API server (TokenReview: audience and subject) and answers 401
//! otherwise. Every event arrives; a token the sink stops taking mid-stream (as if it expired) is
//! replaced and nothing is lost; a dead-letter sink gets a token for its own audience; bad
//! settings are named.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use k8s_openapi::api::authentication::v1::{
    TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::common::{self, Adapter};

const OIDC_SA: &str = "src-oidc-sources.tanzu.vmware.com-vspheresource";
const ADAPTER_SA: &str = "src-adapter";
const AUDIENCE: &str = "eventing.knative.dev/broker/oidc/default";

/// What the verifying sink saw.
#[derive(Default)]
struct Seen {
    /// `ce-id`s accepted, with the index of the token (in `tokens`) they came with.
    accepted: Vec<(String, usize)>,
    /// Distinct tokens that passed the review, in order of first use.
    tokens: Vec<String>,
    /// Tokens the sink no longer takes (as if expired).
    expired: Vec<String>,
}

struct SinkState {
    /// The admin client the TokenReviews go through.
    client: Client,
    audience: String,
    subject: String,
    /// Stop taking the first token after this many events with it.
    expire_first_after: Option<usize>,
    seen: Mutex<Seen>,
    refused: AtomicU32,
}

/// A CloudEvents sink that takes only requests with a bearer token the API server says is
/// `subject`'s, for `audience`.
struct VerifyingSink {
    url: String,
    state: Arc<SinkState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VerifyingSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn review(client: &Client, token: &str, audience: &str) -> Option<String> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_owned()),
            audiences: Some(vec![audience.to_owned()]),
        },
        ..TokenReview::default()
    };
    let answer = Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .ok()?;
    let status = answer.status?;
    if status.authenticated != Some(true)
        || !status
            .audiences
            .unwrap_or_default()
            .iter()
            .any(|a| a == audience)
    {
        return None;
    }
    status.user?.username
}

async fn receive(
    State(state): State<Arc<SinkState>>,
    headers: HeaderMap,
    _body: axum::body::Bytes,
) -> StatusCode {
    let refuse = || {
        state.refused.fetch_add(1, Ordering::Relaxed);
        StatusCode::UNAUTHORIZED
    };
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
    else {
        return refuse();
    };
    if state.seen.lock().expect("lock").expired.contains(&token) {
        return refuse();
    }
    if review(&state.client, &token, &state.audience)
        .await
        .as_deref()
        != Some(state.subject.as_str())
    {
        return refuse();
    }
    let id = headers
        .get("ce-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut seen = state.seen.lock().expect("lock");
    if seen.expired.contains(&token) {
        return refuse();
    }
    let index = match seen.tokens.iter().position(|t| *t == token) {
        Some(i) => i,
        None => {
            seen.tokens.push(token.clone());
            seen.tokens.len() - 1
        }
    };
    seen.accepted.push((id, index));
    let with_first = seen.accepted.iter().filter(|(_, i)| *i == 0).count();
    if index == 0 && state.expire_first_after.is_some_and(|n| with_first >= n) {
        seen.expired.push(token);
    }
    StatusCode::ACCEPTED
}

impl VerifyingSink {
    async fn start(client: Client, ns: &str, expire_first_after: Option<usize>) -> Self {
        Self::for_audience(client, ns, AUDIENCE, expire_first_after).await
    }

    async fn for_audience(
        client: Client,
        ns: &str,
        audience: &str,
        expire_first_after: Option<usize>,
    ) -> Self {
        let state = Arc::new(SinkState {
            client,
            audience: audience.to_owned(),
            subject: format!("system:serviceaccount:{ns}:{OIDC_SA}"),
            expire_first_after,
            seen: Mutex::default(),
            refused: AtomicU32::new(0),
        });
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state, task }
    }

    /// Distinct `ce-id`s accepted.
    fn ids(&self) -> BTreeSet<String> {
        let seen = self.state.seen.lock().expect("lock");
        seen.accepted.iter().map(|(id, _)| id.clone()).collect()
    }

    fn tokens(&self) -> Vec<String> {
        self.state.seen.lock().expect("lock").tokens.clone()
    }
}

/// A namespace with the OIDC ServiceAccount, the adapter's ServiceAccount allowed (by the
/// controller's own rule) to request its tokens, and a kubeconfig with the adapter's identity.
async fn cluster(prefix: &str) -> (Client, String, tempfile::TempDir) {
    let server = kube_harness::KubeApiServer::shared();
    let client = server.client().await.expect("client");
    let ns = server
        .create_namespace(&client, prefix)
        .await
        .expect("namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    for name in [OIDC_SA, ADAPTER_SA] {
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        sas.create(&PostParams::default(), &sa)
            .await
            .expect("service account");
    }
    let role = Role {
        metadata: ObjectMeta {
            name: Some("src-checkpoint".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![sources_controller::oidc::token_rule(OIDC_SA)]),
    };
    Api::<Role>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("src-rolebinding".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "src-checkpoint".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: ADAPTER_SA.into(),
            namespace: Some(ns.clone()),
            api_group: None,
        }]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("rolebinding");
    // The adapter's own identity, as its Pod would have it.
    let own = sas
        .create_token_request(
            ADAPTER_SA,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(3600),
                    bound_object_ref: None,
                },
                ..TokenRequest::default()
            },
        )
        .await
        .expect("the adapter's token")
        .status
        .expect("status")
        .token;
    let dir = tempfile::tempdir().expect("dir");
    server
        .write_kubeconfig_for_token(&own, &dir.path().join("kubeconfig"))
        .expect("kubeconfig");
    (client, ns, dir)
}

fn oidc_env(
    sim: &vsphere_sim::Simulator,
    sink: &VerifyingSink,
    checkpoint: &std::path::Path,
    ns: &str,
    kubeconfig: &std::path::Path,
) -> Vec<(&'static str, String)> {
    let mut env = common::backlog_env(sim, &sink.url, checkpoint);
    env.extend([
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("NAMESPACE", ns.to_owned()),
        ("K_AUDIENCE", AUDIENCE.to_owned()),
        ("K_OIDC_SERVICE_ACCOUNT", OIDC_SA.to_owned()),
    ]);
    env
}

/// The sink really checks: no token, a token for another audience, or another account's token
/// are refused.
async fn the_sink_refuses_what_it_should(client: &Client, ns: &str, sink: &VerifyingSink) {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let token_of = |sa: &'static str, audience: &'static str| {
        let sas = sas.clone();
        async move {
            sas.create_token_request(
                sa,
                &PostParams::default(),
                &TokenRequest {
                    spec: TokenRequestSpec {
                        audiences: vec![audience.to_owned()],
                        expiration_seconds: Some(600),
                        bound_object_ref: None,
                    },
                    ..TokenRequest::default()
                },
            )
            .await
            .expect("token")
            .status
            .expect("status")
            .token
        }
    };
    let http = reqwest::Client::new();
    let post = |auth: Option<String>| {
        let mut req = http.post(&sink.url).body("{}");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move { req.send().await.expect("POST").status().as_u16() }
    };
    assert_eq!(post(None).await, 401, "no token");
    let other_audience = token_of(OIDC_SA, "someone-else").await;
    assert_eq!(
        post(Some(format!("Bearer {other_audience}"))).await,
        401,
        "another audience"
    );
    let other_account = token_of(ADAPTER_SA, AUDIENCE).await;
    assert_eq!(
        post(Some(format!("Bearer {other_account}"))).await,
        401,
        "another account"
    );
    let right = token_of(OIDC_SA, AUDIENCE).await;
    assert_eq!(
        post(Some(format!("Bearer {right}"))).await,
        202,
        "the right one"
    );
    // Not counted as an adapter's event below.
    let mut seen = sink.state.seen.lock().expect("lock");
    seen.accepted.clear();
    seen.tokens.clear();
    sink.state.refused.store(0, Ordering::Relaxed);
}

fn assert_no_token_in(log: &[String], tokens: &[String]) {
    for line in log {
        for t in tokens {
            assert!(!line.contains(t.as_str()), "a token in the log: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_with_a_token_the_sink_verifies() {
    let (client, ns, dir) = cluster("oidc-e2e").await;
    let sink = VerifyingSink::start(client.clone(), &ns, None).await;
    the_sink_refuses_what_it_should(&client, &ns, &sink).await;
    let n = 200;
    let (sim, cp_dir) = common::backlog(n).await;
    let env = oidc_env(
        &sim,
        &sink,
        &cp_dir.path().join("cp.json"),
        &ns,
        &dir.path().join("kubeconfig"),
    );
    let mut adapter = Adapter::start(&env);
    let all = common::eventually(Duration::from_secs(120), || sink.ids().len() >= n).await;
    let log = adapter.log();
    assert!(
        all,
        "{} of {n} events arrived; refused {}; log:\n{}",
        sink.ids().len(),
        sink.state.refused.load(Ordering::Relaxed),
        log.join("\n")
    );
    assert_eq!(sink.ids().len(), n);
    assert_eq!(sink.tokens().len(), 1, "one token serves the whole backlog");
    assert_no_token_in(&log, &sink.tokens());
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_refused_mid_stream_is_replaced_and_nothing_is_lost() {
    let (client, ns, dir) = cluster("oidc-expiry").await;
    // After 40 events the sink takes the first token no more (401), as if it had expired.
    let sink = VerifyingSink::start(client.clone(), &ns, Some(40)).await;
    let n = 200;
    let (sim, cp_dir) = common::backlog(n).await;
    let env = oidc_env(
        &sim,
        &sink,
        &cp_dir.path().join("cp.json"),
        &ns,
        &dir.path().join("kubeconfig"),
    );
    let mut adapter = Adapter::start(&env);
    let all = common::eventually(Duration::from_secs(120), || sink.ids().len() >= n).await;
    let log = adapter.log();
    assert!(
        all,
        "{} of {n} events arrived; log:\n{}",
        sink.ids().len(),
        log.join("\n")
    );
    assert_eq!(sink.ids().len(), n, "every event, none lost");
    let tokens = sink.tokens();
    assert!(tokens.len() >= 2, "more than one token: {}", tokens.len());
    // The requests refused with the stale token led to one new token, not one each.
    assert!(tokens.len() <= 3, "{} tokens", tokens.len());
    assert!(sink.state.refused.load(Ordering::Relaxed) >= 1);
    let per_token: HashMap<usize, usize> =
        sink.state.seen.lock().expect("lock").accepted.iter().fold(
            HashMap::new(),
            |mut m, (_, i)| {
                *m.entry(*i).or_default() += 1;
                m
            },
        );
    assert!(
        per_token.get(&1).copied().unwrap_or_default() >= 1,
        "{per_token:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("the sink refused the OIDC token (401)")),
        "{}",
        log.join("\n")
    );
    assert_no_token_in(&log, &tokens);
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
}

/// A dead-letter sink with an audience gets a token for its own audience (the sink, without
/// one, gets no token at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_sink_gets_a_token_for_its_audience() {
    let (client, ns, dir) = cluster("oidc-dls").await;
    let dls_audience = "dead-letters.example";
    let dls = VerifyingSink::for_audience(client.clone(), &ns, dls_audience, None).await;
    let sink = test_support::RecordingSink::start().await;
    sink.respond_default(Some(400));
    let n = 50;
    let (sim, cp_dir) = common::backlog(n).await;
    let mut env = common::backlog_env(&sim, &sink.url(), &cp_dir.path().join("cp.json"));
    env.extend([
        (
            "KUBECONFIG",
            dir.path().join("kubeconfig").display().to_string(),
        ),
        ("NAMESPACE", ns.clone()),
        ("K_DEAD_LETTER_SINK", dls.url.clone()),
        ("K_DEAD_LETTER_SINK_AUDIENCE", dls_audience.to_owned()),
        ("K_OIDC_SERVICE_ACCOUNT", OIDC_SA.to_owned()),
    ]);
    let mut adapter = Adapter::start(&env);
    let all = common::eventually(Duration::from_secs(120), || dls.ids().len() >= n).await;
    let log = adapter.log();
    assert!(
        all,
        "{} of {n} events dead-lettered; refused {}; log:\n{}",
        dls.ids().len(),
        dls.state.refused.load(Ordering::Relaxed),
        log.join("\n")
    );
    assert_eq!(dls.ids().len(), n);
    assert_eq!(dls.tokens().len(), 1);
    let received = sink.received();
    assert!(
        received.len() >= n,
        "{} requests to the sink",
        received.len()
    );
    assert!(
        received.iter().all(|r| r.header("authorization").is_none()),
        "the sink has no audience: no token goes to it"
    );
    assert_no_token_in(&log, &dls.tokens());
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test]
async fn an_audience_without_its_identity_is_a_settings_error_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    let base = vec![
        ("VC_URL", "https://127.0.0.1:1/sdk".to_owned()),
        ("VC_USERNAME", "user".to_owned()),
        ("VC_PASSWORD", "pass".to_owned()),
        ("VC_SECRET_PATH", "/nonexistent".to_owned()),
        ("K_SINK", "http://127.0.0.1:1/".to_owned()),
        (
            "VSPHERE_CHECKPOINT_FILE",
            dir.path().join("cp.json").display().to_string(),
        ),
    ];
    for (extra, needle) in [
        (
            vec![("K_AUDIENCE", "aud")],
            "invalid setting K_OIDC_SERVICE_ACCOUNT: not set, but K_AUDIENCE is",
        ),
        (
            vec![("K_DEAD_LETTER_SINK_AUDIENCE", "aud")],
            "invalid setting K_OIDC_SERVICE_ACCOUNT: not set, but K_DEAD_LETTER_SINK_AUDIENCE is",
        ),
        (
            vec![("K_AUDIENCE", "aud"), ("K_OIDC_SERVICE_ACCOUNT", "sa")],
            "invalid setting NAMESPACE",
        ),
    ] {
        let mut env = base.clone();
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let mut adapter = Adapter::start(&env);
        let code = adapter.wait_exit(Duration::from_secs(20)).await;
        let log = adapter.log().join("\n");
        assert_eq!(code, Some(2), "{extra:?}: {log}");
        assert!(log.contains(needle), "{needle:?} not in:\n{log}");
    }
}
