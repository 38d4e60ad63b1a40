//! Answers of the sinks users run that must lose nothing, with the adapters as real processes:
//! an ingress redirecting to `/events/` (308), a broker refusing an identity it does not have
//! yet (401) or an EventPolicy being applied (403) for a while, and a `408` (Knative's own
//! retry table retries it). A backlog of 300 events, a file checkpoint and no dead-letter sink:
//! every event must arrive, and the checkpoint must reach the last one.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::common::{self, Adapter, backlog, checkpoint_key, metric};
use crate::horizon_common;
use crate::sinks::{Reply, ScriptedSink, Seen, refuse_for};

const EVENTS: usize = 300;

/// A rule redirecting (308) anything but `/events/` there, as an ingress adding a slash.
fn redirect_to_events(port: Arc<OnceLock<u16>>) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| {
        if seen.path == "/events/" {
            Reply::Status(202)
        } else {
            let port = port.get().copied().unwrap_or_default();
            Reply::Redirect(308, format!("http://127.0.0.1:{port}/events/"))
        }
    }
}

/// The vSphere adapter with a backlog of 300 into `sink`: every key arrives, the checkpoint
/// reaches the last one, nothing is counted as dropped. Returns the adapter for more checks.
async fn vsphere_backlog_arrives(sink: &ScriptedSink, timeout: Duration) -> Adapter {
    vsphere_backlog_arrives_at(sink.url(), sink, Vec::new(), timeout).await
}

/// As [`vsphere_backlog_arrives`], with `K_SINK` set to `k_sink` (which leads to `sink`) and
/// more environment.
async fn vsphere_backlog_arrives_at(
    k_sink: String,
    sink: &ScriptedSink,
    more_env: Vec<(&'static str, String)>,
    timeout: Duration,
) -> Adapter {
    let (sim, dir) = backlog(EVENTS).await;
    let cp = dir.path().join("cp.json");
    let mut env = common::backlog_env(&sim, &k_sink, &cp);
    env.extend(more_env);
    let adapter = Adapter::start(&env);
    let want: BTreeSet<i64> = (1..=EVENTS as i64).collect();
    let got = sink.wait_ids(&want, timeout).await;
    let ids: BTreeSet<i64> = got.iter().filter_map(Seen::id).collect();
    let missing: Vec<i64> = want.difference(&ids).copied().collect();
    assert!(
        missing.is_empty(),
        "{} of {EVENTS} delivered; missing {missing:?}\nlog:\n{}",
        want.len() - missing.len(),
        adapter.log().join("\n")
    );
    assert!(
        common::eventually(Duration::from_secs(10), || checkpoint_key(&cp)
            == Some(EVENTS as i64))
        .await,
        "the checkpoint did not reach the last event: {:?}",
        checkpoint_key(&cp)
    );
    assert_eq!(
        metric(&adapter, "events_failed_total{source=\"vsphere\"}").await,
        Some(0.0),
        "nothing dropped"
    );
    drop(sim);
    adapter
}

/// The Horizon adapter: 300 audit events made after it started, into `sink`.
async fn horizon_events_arrive(sink: &ScriptedSink, timeout: Duration) -> Adapter {
    test_support::install_crypto_provider();
    let sim = horizon_sim::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    let secret = horizon_common::secret_dir(&sim);
    let env = horizon_common::env(
        &sim,
        secret.path(),
        &sink.url(),
        &dir.path().join("cp.json"),
    );
    let adapter = horizon_common::start(&env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let want: BTreeSet<i64> = sim.add_events_now(EVENTS, 3).into_iter().collect();
    let got = sink.wait_ids(&want, timeout).await;
    let ids: BTreeSet<i64> = got.iter().filter_map(Seen::id).collect();
    let missing: Vec<i64> = want.difference(&ids).copied().collect();
    assert!(
        missing.is_empty(),
        "{} of {EVENTS} delivered; missing {missing:?}\nlog:\n{}",
        want.len() - missing.len(),
        adapter.log().join("\n")
    );
    assert_eq!(
        metric(&adapter, "events_failed_total{source=\"horizon\"}").await,
        Some(0.0),
        "nothing dropped"
    );
    adapter
}

/// How many log lines contain `text`.
fn log_lines(adapter: &Adapter, text: &str) -> usize {
    adapter.log().iter().filter(|l| l.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_308_to_events_slash_is_followed_with_the_same_body_and_logged_once() {
    let port = Arc::new(OnceLock::new());
    let sink = ScriptedSink::start(redirect_to_events(port.clone())).await;
    port.set(sink.port()).expect("port");
    let adapter = vsphere_backlog_arrives(&sink, Duration::from_secs(60)).await;
    let events: Vec<Seen> = sink.accepted();
    assert!(events.iter().all(|s| s.path == "/events/"));
    // The same request, body and CloudEvent headers, at the new location.
    let redirected: Vec<Seen> = sink
        .seen()
        .into_iter()
        .filter(|s| s.status == 308)
        .collect();
    let first = &redirected[0];
    let followed = events
        .iter()
        .find(|s| s.id() == first.id())
        .expect("the redirected event arrived");
    assert_eq!(followed.body, first.body);
    assert_eq!(followed.header("ce-type"), first.header("ce-type"));
    assert_eq!(
        followed.header("content-type"),
        first.header("content-type")
    );
    // A permanent redirect is remembered: not every event is redirected again.
    assert!(
        redirected.len() < EVENTS,
        "{} of {EVENTS} events were sent to the old location",
        redirected.len()
    );
    assert_eq!(
        log_lines(&adapter, "the sink redirects"),
        1,
        "one line per new location:\n{}",
        adapter.log().join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_for_15_s_loses_nothing_and_is_reported_as_an_identity_refusal() {
    let sink = ScriptedSink::start(refuse_for(401, Duration::from_secs(15))).await;
    let adapter = vsphere_backlog_arrives(&sink, Duration::from_secs(120)).await;
    assert!(
        metric(
            &adapter,
            "sink_identity_refusals_total{source=\"vsphere\",status=\"401\"}"
        )
        .await
        .is_some_and(|n| n >= 1.0),
        "the refusals are counted"
    );
    assert_eq!(
        metric(&adapter, "sink_identity_refused{source=\"vsphere\"}").await,
        Some(0.0),
        "no longer refused once the sink accepts"
    );
    assert!(log_lines(&adapter, "the sink refuses the adapter's identity") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_for_15_s_loses_nothing() {
    let sink = ScriptedSink::start(refuse_for(403, Duration::from_secs(15))).await;
    let adapter = vsphere_backlog_arrives(&sink, Duration::from_secs(120)).await;
    assert!(
        metric(
            &adapter,
            "sink_identity_refusals_total{source=\"vsphere\",status=\"403\"}"
        )
        .await
        .is_some_and(|n| n >= 1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_408_for_10_s_loses_nothing() {
    let sink = ScriptedSink::start(refuse_for(408, Duration::from_secs(10))).await;
    let adapter = vsphere_backlog_arrives_at(
        sink.url(),
        &sink,
        vec![("NAMESPACE", "ns".into()), ("NAME", "vc-01".into())],
        Duration::from_secs(120),
    )
    .await;
    // The Go adapter's metric names, for the dashboards of a migration (issue 21 item 6).
    let (_, text) = common::get(&adapter, "/metrics").await;
    let sum = |prefix: &str, code: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with(prefix)
                    && l.contains("name=\"vc-01\",namespace_name=\"ns\",resource_group=\"vspheresources.sources.tanzu.vmware.com\"")
                    && l.contains(&format!("response_code=\"{code}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(
        sum("vspheresource_event_count{", "202"),
        EVENTS as f64,
        "{text}"
    );
    assert!(
        sum("vspheresource_retry_event_count{", "408") >= 1.0,
        "{text}"
    );
}

/// A broker at its capacity: it takes 20 ms per event and answers 429 to a request that comes
/// while 4 are in progress (as a queue-proxy with a container concurrency would). The adapter's
/// limit follows it: every event arrives, and the sink refuses fewer requests than there are
/// events. (With a fixed 64 at once most of every wave is refused: the previous adapter drew
/// thousands of 429s here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_at_its_capacity_is_sent_about_what_it_can_take() {
    const CAPACITY: usize = 4;
    let sink = ScriptedSink::start(|seen: &Seen| {
        if seen.in_progress > CAPACITY {
            Reply::Status(429)
        } else {
            Reply::After(Duration::from_millis(20), 202)
        }
    })
    .await;
    let adapter = vsphere_backlog_arrives(&sink, Duration::from_secs(120)).await;
    let seen = sink.seen();
    let refused = seen.iter().filter(|s| s.status == 429).count();
    let accepted = seen.iter().filter(|s| s.status == 202).count();
    eprintln!("a sink at capacity {CAPACITY}: {refused} requests refused, {accepted} accepted");
    assert!(
        refused < EVENTS / 2,
        "{refused} requests refused for {accepted} accepted: the adapter did not back off\nlog:\n{}",
        adapter.log().join("\n")
    );
    assert_eq!(
        metric(&adapter, "delivery_concurrency_limit{source=\"vsphere\"}")
            .await
            .map(|l| l <= (2 * CAPACITY) as f64),
        Some(true),
        "the limit stays near the sink's capacity"
    );
}

/// The same four answers to the Horizon adapter, one after the other into one sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn horizon_loses_nothing_to_redirects_auth_refusals_or_408() {
    for status in [401, 403, 408] {
        let span = Duration::from_secs(if status == 408 { 10 } else { 15 });
        let sink = ScriptedSink::start(refuse_for(status, span)).await;
        horizon_events_arrive(&sink, Duration::from_secs(120)).await;
    }
    let port = Arc::new(OnceLock::new());
    let sink = ScriptedSink::start(redirect_to_events(port.clone())).await;
    port.set(sink.port()).expect("port");
    let adapter = horizon_events_arrive(&sink, Duration::from_secs(60)).await;
    assert_eq!(log_lines(&adapter, "the sink redirects"), 1);
}

/// http→https is followed (an ingress sending everyone to TLS; the sink's CA in `K_CA_CERTS`),
/// https→http never: with a dead-letter sink every event goes there, none in cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_https_is_followed_and_https_to_http_never() {
    let pki = test_support::TestPki::localhost();
    let tls =
        ScriptedSink::start_tls(pki.cert_pem(), pki.key_pem(), |_: &Seen| Reply::Status(202)).await;
    let to_tls = tls.url_for_host("localhost");
    let upgrade = ScriptedSink::start(move |_: &Seen| Reply::Redirect(308, to_tls.clone())).await;
    let adapter = vsphere_backlog_arrives_at(
        upgrade.url(),
        &tls,
        vec![("K_CA_CERTS", pki.ca_pem().to_owned())],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(log_lines(&adapter, "the sink redirects"), 1);
    drop(adapter);

    let cleartext = ScriptedSink::start(|_: &Seen| Reply::Status(202)).await;
    let to_cleartext = cleartext.url();
    let downgrade = ScriptedSink::start_tls(pki.cert_pem(), pki.key_pem(), move |_: &Seen| {
        Reply::Redirect(308, to_cleartext.clone())
    })
    .await;
    let dls = ScriptedSink::start(|_: &Seen| Reply::Status(202)).await;
    let (sim, dir) = backlog(EVENTS).await;
    let mut env = common::backlog_env(
        &sim,
        &downgrade.url_for_host("localhost"),
        &dir.path().join("cp.json"),
    );
    env.push(("K_CA_CERTS", pki.ca_pem().to_owned()));
    env.push(("K_DEAD_LETTER_SINK", dls.url()));
    let adapter = Adapter::start(&env);
    let want: BTreeSet<i64> = (1..=EVENTS as i64).collect();
    let got = dls.wait_ids(&want, Duration::from_secs(60)).await;
    let ids: BTreeSet<i64> = got.iter().filter_map(Seen::id).collect();
    assert_eq!(
        ids,
        want,
        "every event dead-lettered\nlog:\n{}",
        adapter.log().join("\n")
    );
    assert!(
        cleartext.seen().is_empty(),
        "{} requests in cleartext",
        cleartext.seen().len()
    );
    assert!(
        got.iter()
            .all(|s| s.header("ce-knativeerrorcode") == Some("308")),
        "the dead-lettered events say why"
    );
    assert!(log_lines(&adapter, "sent to the dead-letter sink") >= 1);
}

/// An https dead-letter sink whose CA is only in `K_DEAD_LETTER_SINK_CA_CERTS` (the resolved
/// dead-letter sink's `CACerts`, which the controller renders): the events the sink refuses for
/// good reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_sinks_own_ca_is_trusted() {
    let pki = test_support::TestPki::localhost();
    let dls =
        ScriptedSink::start_tls(pki.cert_pem(), pki.key_pem(), |_: &Seen| Reply::Status(202)).await;
    let refusing = ScriptedSink::start(|_: &Seen| Reply::Status(400)).await;
    let adapter = vsphere_backlog_arrives_at(
        refusing.url(),
        &dls,
        vec![
            ("K_DEAD_LETTER_SINK", dls.url_for_host("localhost")),
            ("K_DEAD_LETTER_SINK_CA_CERTS", pki.ca_pem().to_owned()),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert!(log_lines(&adapter, "sent to the dead-letter sink") >= 1);
}

/// A TLS sink whose CA is only in a trust bundle (a file in `K_TRUST_BUNDLES_DIR`, laid out as
/// the kubelet mounts the controller's copy, beside a key that holds no certificate): without
/// the bundle nothing is delivered (and nothing dropped); with it the whole backlog arrives.
#[tokio::test]
async fn a_sink_whose_ca_is_only_in_a_trust_bundle_is_trusted() {
    let pki = test_support::TestPki::localhost();
    let sink =
        ScriptedSink::start_tls(pki.cert_pem(), pki.key_pem(), |_: &Seen| Reply::Status(202)).await;
    let k_sink = sink.url_for_host("localhost");

    // Without the bundle: the sink's certificate is not trusted.
    let empty = tempfile::tempdir().expect("dir");
    {
        let (sim, dir) = backlog(EVENTS).await;
        let mut env = common::backlog_env(&sim, &k_sink, &dir.path().join("cp.json"));
        env.push(("K_TRUST_BUNDLES_DIR", empty.path().display().to_string()));
        let adapter = Adapter::start(&env);
        assert!(
            common::eventually(Duration::from_secs(30), || log_lines(
                &adapter,
                "UnknownIssuer"
            ) >= 1)
            .await,
            "no certificate error logged:\n{}",
            adapter.log().join("\n")
        );
        assert!(
            sink.seen().is_empty(),
            "delivered without trusting the sink"
        );
        assert_eq!(
            metric(&adapter, "events_failed_total{source=\"vsphere\"}").await,
            Some(0.0),
            "nothing dropped while the sink is not trusted"
        );
    }

    // With it: everything arrives.
    let bundles = tempfile::tempdir().expect("dir");
    let data = bundles.path().join("..2026_12_07_data");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::write(data.join("sys.cluster-ca.ca.crt"), pki.ca_pem()).expect("bundle");
    std::fs::write(data.join("team.notes.README"), "not a certificate\n").expect("notes");
    for f in ["sys.cluster-ca.ca.crt", "team.notes.README"] {
        std::os::unix::fs::symlink(data.join(f), bundles.path().join(f)).expect("link");
    }
    let adapter = vsphere_backlog_arrives_at(
        k_sink,
        &sink,
        vec![("K_TRUST_BUNDLES_DIR", bundles.path().display().to_string())],
        Duration::from_secs(60),
    )
    .await;
    assert!(log_lines(&adapter, "a trust bundle without a certificate") >= 1);
}
