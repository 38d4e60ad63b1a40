//! Replay on request (`REPLAY_REQUEST`, set by the controller from the source's replay
//! annotations): the adapter moves its checkpoint back once per request id and sends the window
//! again; a restart with the same request resumes from the checkpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::{self, Adapter, backlog};
use test_support::RecordingSink;

const EVENTS: usize = 50;

/// How often each event id arrived.
fn counts(sink: &RecordingSink) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for r in sink.accepted() {
        if let Some(id) = r.header("ce-id").and_then(|v| v.parse().ok()) {
            *m.entry(id).or_default() += 1;
        }
    }
    m
}

async fn until(what: &str, adapter: &Adapter, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}; log:\n{}",
            adapter.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_request_sends_the_window_again_once() {
    let (sim, dir) = backlog(EVENTS).await;
    let sink = RecordingSink::start().await;
    let cp = dir.path().join("cp.json");
    let env = common::backlog_env(&sim, &sink.url(), &cp);
    let all_n = |n: usize| {
        let c = counts(&sink);
        c.len() == EVENTS && c.values().all(|v| *v >= n)
    };

    let mut first = Adapter::start(&env);
    until("the backlog once", &first, || all_n(1)).await;
    assert_eq!(first.terminate(Duration::from_secs(20)).await, Some(0));

    let from = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(100);
    let request = serde_json::json!({"id": "r-1", "from": from.to_string()}).to_string();
    let mut with_request = env.clone();
    with_request.push(("REPLAY_REQUEST", request));
    let mut second = Adapter::start(&with_request);
    until("the backlog again", &second, || all_n(2)).await;
    assert!(
        second
            .log()
            .iter()
            .any(|l| l.contains("replaying from the requested time") && l.contains("r-1")),
        "{}",
        second.log().join("\n")
    );
    assert_eq!(second.terminate(Duration::from_secs(20)).await, Some(0));
    let note = std::fs::read_to_string(dir.path().join("cp.json.lastReplay")).expect("the note");
    let note: serde_json::Value = serde_json::from_str(&note).expect("JSON");
    assert_eq!(note["id"], "r-1");
    assert_eq!(note["from"], from.to_string());

    // The same request again (the Deployment restarted): done already, nothing is re-sent.
    let mut third = Adapter::start(&with_request);
    third
        .wait_log("replay request already done", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(third.terminate(Duration::from_secs(20)).await, Some(0));
    let c = counts(&sink);
    assert!(
        c.values().all(|v| *v == 2),
        "each event exactly twice: {c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_horizon_replay_request_sends_the_window_again_once() {
    use crate::horizon_common;
    test_support::install_crypto_provider();
    let sim = horizon_sim::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let sink = RecordingSink::start().await;
    let secret = horizon_common::secret_dir(&sim);
    let dir = tempfile::tempdir().expect("dir");
    let env = horizon_common::env(
        &sim,
        secret.path(),
        &sink.url(),
        &dir.path().join("cp.json"),
    );
    let mut first = horizon_common::start(&env);
    first
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let from = jiff::Timestamp::now();
    let ids = sim.add_events_now(20, 2);
    until("the events once", &first, || {
        counts(&sink).len() == ids.len()
    })
    .await;
    assert_eq!(first.terminate(Duration::from_secs(20)).await, Some(0));

    let mut with_request = env.clone();
    with_request.push((
        "REPLAY_REQUEST",
        serde_json::json!({"id": "r-2", "from": from.to_string()}).to_string(),
    ));
    let mut second = horizon_common::start(&with_request);
    until("the events again", &second, || {
        let c = counts(&sink);
        ids.iter().all(|id| c.get(id) == Some(&2))
    })
    .await;
    assert_eq!(second.terminate(Duration::from_secs(20)).await, Some(0));
    let mut third = horizon_common::start(&with_request);
    third
        .wait_log("replay request already done", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(third.terminate(Duration::from_secs(20)).await, Some(0));
    let c = counts(&sink);
    assert!(
        ids.iter().all(|id| c.get(id) == Some(&2)),
        "each twice: {c:?}"
    );
}
