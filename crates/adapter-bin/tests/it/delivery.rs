//! Delivery guarantees, against the vCenter simulator and real HTTP sinks, with the adapter
//! running as a real process: retries until the sink accepts, the dead-letter sink, lost
//! sessions, unknown event types, SIGTERM and `kill -9`.

use crate::common;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::common::{Adapter, checkpoint_key, eventually, ids};
use test_support::RecordingSink;
use vsphere_sim::Simulator;

async fn sim() -> Simulator {
    test_support::install_crypto_provider();
    Simulator::builder().start().await.expect("simulator")
}

fn env(sim: &Simulator, sink: &str, checkpoint: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("VC_URL", sim.url().to_owned()),
        ("VC_USERNAME", sim.username().to_owned()),
        ("VC_PASSWORD", sim.password().to_owned()),
        ("VC_SECRET_PATH", "/nonexistent".into()),
        ("K_SINK", sink.to_owned()),
        ("NAMESPACE", "ns".into()),
        ("VSPHERE_CHECKPOINT_FILE", checkpoint.display().to_string()),
        (
            "VSPHERE_CHECKPOINT_CONFIG",
            r#"{"maxAge":"1h","period":"200ms"}"#.into(),
        ),
        ("VSPHERE_PAYLOAD_ENCODING", "application/json".into()),
    ]
}

fn keys(range: Option<(i64, i64)>) -> Vec<i64> {
    let (a, b) = range.expect("generated events");
    (a..=b).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_answering_503_then_200_gets_everything_in_order_and_the_checkpoint_never_leads() {
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let cp = dir.path().join("cp.json");
    // One delivery at a time: strict order.
    let mut e = env(&sim, &sink.url(), &cp);
    e.push(("DELIVERY_CONCURRENCY", "1".into()));
    let adapter = Adapter::start(&e);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;

    sink.respond_default(Some(503));
    let want = keys(sim.generate(40));
    // While the sink refuses, the checkpoint must not pass what it accepted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        let at_cp = checkpoint_key(&cp);
        let accepted: BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
        if let Some(k) = at_cp {
            assert!(
                want.iter()
                    .filter(|w| **w <= k)
                    .all(|w| accepted.contains(w)),
                "checkpoint {k} ahead of the sink ({accepted:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.received().len() >= 2, "retried while refused");
    assert!(sink.accepted().is_empty());
    // Not ready while the sink keeps refusing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut ready = common::get(&adapter, "/readyz").await.0;
    while ready == 200 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = common::get(&adapter, "/readyz").await.0;
    }
    assert_eq!(ready, 503, "readiness is false while the sink refuses");
    sink.respond_default(None);
    let got = sink
        .wait_accepted(want.len(), Duration::from_secs(60))
        .await;
    assert_eq!(ids(&got), want, "all delivered once, in order");
    // The checkpoint catches up within a period or two.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while checkpoint_key(&cp) != want.last().copied() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(checkpoint_key(&cp), want.last().copied());
}

/// Events that arrive after the last read and before the `latestPage` watch takes its
/// baseline are in that baseline: the adapter must read them at once, not when the next event
/// (or the 60 s idle timeout) wakes the watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arriving_while_the_watch_is_set_up_are_read_at_once() {
    test_support::install_crypto_provider();
    let sim = Simulator::builder()
        .login_events(false)
        .start()
        .await
        .expect("simulator");
    // Just before the watch's filter is created, right after the adapter's drained first read.
    sim.faults().generate_before("CreateFilter", 5);
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let adapter = Adapter::start(&env(&sim, &sink.url(), &dir.path().join("cp.json")));
    // Well inside the adapter's 60 s idle wait: only an immediate read delivers in time.
    let got = sink.wait_accepted(5, Duration::from_secs(20)).await;
    assert_eq!(ids(&got).len(), 5, "{}", adapter.log().join("\n"));
    assert_eq!(sim.event_count(), 5, "nothing else was generated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_refusal_goes_to_the_dead_letter_sink_and_the_rest_flows() {
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dls = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut e = env(&sim, &sink.url(), &dir.path().join("cp.json"));
    e.push(("K_DEAD_LETTER_SINK", dls.url()));
    let adapter = Adapter::start(&e);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let next = sim.next_key();
    sink.respond_for_id(&(next + 3).to_string(), 400);
    let want = keys(sim.generate(10));
    assert_eq!(want[0], next);
    let got = sink.wait_accepted(9, Duration::from_secs(30)).await;
    let expected: Vec<i64> = want.iter().copied().filter(|k| *k != next + 3).collect();
    let mut got = ids(&got);
    got.sort_unstable();
    assert_eq!(got, expected);
    let dead = dls.wait_accepted(1, Duration::from_secs(10)).await;
    assert_eq!(ids(&dead), [next + 3]);
    assert_eq!(dead[0].header("ce-knativeerrorcode"), Some("400"));
    assert_eq!(
        dead[0].header("ce-knativeerrordest"),
        Some(sink.url().as_str())
    );
    // Refused once, not retried.
    let refused = sink.received().iter().filter(|r| r.status == 400).count();
    assert_eq!(refused, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_mid_stream_loses_nothing_and_unknown_types_are_delivered() {
    test_support::install_crypto_provider();
    let sim = Simulator::builder()
        .unknown_event_types(true)
        .start()
        .await
        .expect("simulator");
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let adapter = Adapter::start(&env(&sim, &sink.url(), &dir.path().join("cp.json")));
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let mut want = keys(sim.generate(150));
    sink.wait_accepted(20, Duration::from_secs(30)).await;
    assert!(sim.expire_sessions() >= 1);
    want.extend(keys(sim.generate(150)));
    // The re-login adds a session event to the stream: wait for the wanted keys, not a count.
    eventually(Duration::from_secs(60), || {
        let got: BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
        want.iter().all(|k| got.contains(k))
    })
    .await;
    let got = sink.accepted();
    let got_ids = ids(&got);
    let delivered: BTreeSet<i64> = got_ids.iter().copied().collect();
    let missing: Vec<i64> = want
        .iter()
        .copied()
        .filter(|k| !delivered.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?}\nlog:\n{}",
        adapter.log().join("\n")
    );
    assert_eq!(got_ids.len(), delivered.len(), "no duplicates");
    assert!(
        adapter
            .log()
            .iter()
            .any(|l| l.contains("logged in to vCenter again") || l.contains("creating a new one")),
        "the session loss was noticed:\n{}",
        adapter.log().join("\n")
    );
    let unknown = format!("com.vmware.vsphere.{}.v0", vsphere_sim::UNKNOWN_EVENT_TYPE);
    assert!(
        got.iter()
            .any(|r| r.header("ce-type") == Some(unknown.as_str())),
        "an event of a type the catalogue does not know was delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_saves_the_checkpoint_and_exits_0() {
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let cp = dir.path().join("cp.json");
    let mut e = env(&sim, &sink.url(), &cp);
    // A long period: only the shutdown save can have written the checkpoint.
    e.retain(|(k, _)| *k != "VSPHERE_CHECKPOINT_CONFIG");
    e.push(("VSPHERE_CHECKPOINT_CONFIG", r#"{"period":"1h"}"#.into()));
    let mut adapter = Adapter::start(&e);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let want = keys(sim.generate(5));
    sink.wait_accepted(5, Duration::from_secs(30)).await;
    assert_eq!(checkpoint_key(&cp), None, "not saved before the period");
    // The sink records a request before it answers; the adapter counts it after the answer.
    let sent = "vmware_sources_adapter_events_sent_total{source=\"vsphere\"} 5";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (status, metrics) = common::get(&adapter, "/metrics").await;
        assert_eq!(status, 200);
        if metrics.contains(sent) || tokio::time::Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(metrics.contains(sent), "{metrics}");
    assert!(
        metrics.contains("vmware_sources_adapter_events_read_total{source=\"vsphere\"} 5"),
        "{metrics}"
    );
    assert_eq!(common::get(&adapter, "/healthz").await.0, 200);
    assert_eq!(
        common::get(&adapter, "/readyz").await,
        (200, "ready".to_owned())
    );
    let code = adapter.terminate(Duration::from_secs(20)).await;
    assert_eq!(code, Some(0), "log:\n{}", adapter.log().join("\n"));
    assert_eq!(checkpoint_key(&cp), want.last().copied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_nothing_and_repeats_only_the_boundary() {
    let sim = Simulator::builder()
        .rate(40.0)
        .start()
        .await
        .expect("simulator");
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let cp = dir.path().join("cp.json");
    let e = env(&sim, &sink.url(), &cp);
    // Without a checkpoint the first run begins at vCenter's "now": earlier events are not owed.
    let mut first_key = i64::MAX;
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut delivered_before = 0usize;
    // Deterministic "random" kill points, different each round.
    let kill_after_ms = [900u64, 350, 1300, 600];
    for (round, wait) in kill_after_ms.iter().enumerate() {
        let checkpoint_at_start = checkpoint_key(&cp);
        let mut adapter = Adapter::start(&e);
        adapter
            .wait_log("setting begin of event stream", Duration::from_secs(30))
            .await;
        if round == 0 {
            first_key = sim.next_key();
        }
        tokio::time::sleep(Duration::from_millis(*wait)).await;
        if round == 0 {
            // Killed before its first checkpoint, a run leaves nothing to resume from and the
            // next begins at vCenter's "now" (by design): kill only after one was saved.
            assert!(
                eventually(Duration::from_secs(30), || checkpoint_key(&cp).is_some()).await,
                "no checkpoint saved; log:\n{}",
                adapter.log().join("\n")
            );
        }
        adapter.kill9();
        let all = sink.accepted();
        let this_round = ids(&all[delivered_before..]);
        delivered_before = all.len();
        for id in this_round {
            if !seen.insert(id) {
                // A repeat must be after the checkpoint this run started from: the boundary.
                let cp = checkpoint_at_start.unwrap_or(i64::MIN);
                assert!(
                    id > cp,
                    "round {round}: {id} re-sent although the checkpoint was {cp}"
                );
            }
        }
    }
    // A last run that drains everything, then stops cleanly.
    sim.set_rate(0.0);
    let last = sim.next_key() - 1;
    let mut adapter = Adapter::start(&e);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
        if (first_key..=last).all(|k| got.contains(&k)) || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
    let got: BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
    let missing: Vec<i64> = (first_key..=last).filter(|k| !got.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "missing {} events: {missing:?}",
        missing.len()
    );
    let total = sink.accepted().len();
    let unique = got.len();
    assert!(
        last - first_key > 100,
        "enough events flowed: {}",
        last - first_key
    );
    println!(
        "kill -9 test: {unique} events, {} duplicates over 4 crashes",
        total - unique
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_configured_event_types_are_delivered() {
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut e = env(&sim, &sink.url(), &dir.path().join("cp.json"));
    e.push((
        "VSPHERE_EVENT_TYPES",
        "VmPoweredOnEvent, VmPoweredOffEvent".into(),
    ));
    let adapter = Adapter::start(&e);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    sim.generate(200);
    assert!(
        eventually(Duration::from_secs(30), || !sink.accepted().is_empty()).await,
        "some power events among 200 realistic ones"
    );
    // Let the rest of the 200 pass through the filter before checking every type.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = sink.accepted();
    for r in &got {
        let t = r.header("ce-type").unwrap_or_default();
        assert!(
            t == "com.vmware.vsphere.VmPoweredOnEvent.v0"
                || t == "com.vmware.vsphere.VmPoweredOffEvent.v0",
            "{t}"
        );
    }
}

/// Without `K_SINK`, every event is one structured-mode CloudEvent on stdout (one JSON line),
/// in order, and checkpointed like a delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sink_events_are_structured_cloudevent_lines_on_stdout() {
    let sim = sim().await;
    let dir = tempfile::tempdir().expect("dir");
    let cp = dir.path().join("cp.json");
    let e: Vec<_> = env(&sim, "", &cp)
        .into_iter()
        .filter(|(k, _)| *k != "K_SINK")
        .collect();
    let mut adapter = Adapter::start(&e);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let want = keys(sim.generate(5));
    assert!(
        eventually(Duration::from_secs(30), || adapter.stdout().len()
            >= want.len())
        .await,
        "stdout: {:?}\nlog:\n{}",
        adapter.stdout(),
        adapter.log().join("\n")
    );
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
    let lines = adapter.stdout();
    let mut got = Vec::new();
    for line in &lines {
        let ce: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(ce["specversion"], "1.0", "{line}");
        assert_eq!(ce["source"], sim.url(), "{line}");
        assert_eq!(ce["datacontenttype"], "application/json", "{line}");
        let id: i64 = ce["id"].as_str().and_then(|i| i.parse().ok()).expect("id");
        assert_eq!(ce["data"]["Key"], id, "the payload inline: {line}");
        assert!(
            ce["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("com.vmware.vsphere.")),
            "{line}"
        );
        got.push(id);
    }
    assert_eq!(got, want, "every event once, in order");
    assert_eq!(checkpoint_key(&cp), want.last().copied());
}

/// `HTTP_PROXY` and `NO_PROXY` as Go's `http.ProxyFromEnvironment` reads them: a sink whose
/// name only the proxy knows gets its events through the proxy (the recording sink plays the
/// proxy: it takes the absolute-form requests), while a host in `NO_PROXY` (the vCenter here;
/// in the second run the sink too, with the proxy a closed port) is reached directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_behind_an_http_proxy_gets_its_events_through_it_and_no_proxy_goes_direct() {
    let proxy = RecordingSink::start().await;
    let (sim, dir) = common::backlog(20).await;
    let mut env = common::backlog_env(&sim, "http://sink.invalid/", &dir.path().join("cp.json"));
    env.push(("HTTP_PROXY", proxy.url()));
    env.push(("NO_PROXY", "127.0.0.1".into()));
    let adapter = Adapter::start(&env);
    let all = eventually(Duration::from_secs(30), || proxy.received().len() >= 20).await;
    assert!(
        all,
        "the proxy got {} of 20 events; log:\n{}",
        proxy.received().len(),
        adapter.log().join("\n")
    );
    let received = proxy.received();
    let mut got = ids(&received);
    got.sort_unstable();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    assert!(
        received
            .iter()
            .all(|r| r.header("host") == Some("sink.invalid")),
        "requests not meant for sink.invalid: {:?}",
        received
            .iter()
            .map(|r| r.header("host"))
            .collect::<Vec<_>>()
    );
    drop(adapter);

    let sink = RecordingSink::start().await;
    let (sim, dir) = common::backlog(20).await;
    let mut env = common::backlog_env(&sim, &sink.url(), &dir.path().join("cp.json"));
    env.push(("HTTP_PROXY", "http://127.0.0.1:9/".into()));
    env.push(("NO_PROXY", "127.0.0.1".into()));
    let adapter = Adapter::start(&env);
    let all = eventually(Duration::from_secs(30), || sink.received().len() >= 20).await;
    assert!(
        all,
        "the sink got {} of 20 events directly; log:\n{}",
        sink.received().len(),
        adapter.log().join("\n")
    );
    let mut got = ids(&sink.received());
    got.sort_unstable();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
}
