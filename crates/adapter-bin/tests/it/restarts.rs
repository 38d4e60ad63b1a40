//! Restarts never skip a held-back backlog (issue 24 item 6), measured as the issue did:
//! vsphere-sim making 5 events/s, `maxAge` 15 s, period 1 s, one SIGTERM and restart 30 s in
//! (what the controller does to every adapter after a `config-logging` edit or an upgrade).
//! Before: a new source whose sink refused its first 40 s lost every event made before the
//! restart (no checkpoint, so the second run began at its own "now"), and a 60 s outage after a
//! first checkpoint lost the events older than `maxAge` (the checkpoint looked old).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::Adapter;
use crate::sinks::{Reply, ScriptedSink, Seen, refuse_for};

async fn sim() -> vsphere_sim::Simulator {
    test_support::install_crypto_provider();
    vsphere_sim::Simulator::builder()
        .rate(5.0)
        .login_events(false)
        .start()
        .await
        .expect("simulator")
}

fn env(
    sim: &vsphere_sim::Simulator,
    sink: &ScriptedSink,
    dir: &tempfile::TempDir,
) -> Vec<(&'static str, String)> {
    vec![
        ("VC_URL", sim.url().to_owned()),
        ("VC_USERNAME", sim.username().to_owned()),
        ("VC_PASSWORD", sim.password().to_owned()),
        ("VC_SECRET_PATH", "/nonexistent".into()),
        ("K_SINK", sink.url()),
        (
            "VSPHERE_CHECKPOINT_FILE",
            dir.path().join("cp.json").display().to_string(),
        ),
        (
            "VSPHERE_CHECKPOINT_CONFIG",
            r#"{"maxAge":"15s","period":"1s"}"#.into(),
        ),
    ]
}

/// With `sink`, starts the adapter, restarts it (SIGTERM) `restart_after` after it began
/// reading, and asserts that every event made before the restart arrives within `timeout`;
/// `what` names the case in the printed figure.
async fn every_event_before_a_restart_arrives(
    sink: ScriptedSink,
    restart_after: Duration,
    timeout: Duration,
    what: &str,
) {
    let sim = sim().await;
    let dir = tempfile::tempdir().expect("dir");
    let env = env(&sim, &sink, &dir);
    let mut adapter = Adapter::start(&env);
    adapter
        .wait_log("setting begin of event stream", Duration::from_secs(30))
        .await;
    let first = sim.next_key();
    tokio::time::sleep(restart_after).await;
    let before_restart = sim.next_key();
    restart(&mut adapter, &env).await;
    let missing = missing(&sink, first, before_restart, timeout).await;
    println!(
        "{what}: {} of {} events made before the restart delivered",
        (before_restart - first) as usize - missing.len(),
        before_restart - first
    );
    assert!(
        missing.is_empty(),
        "missing {missing:?}\nlog:\n{}",
        adapter.log().join("\n")
    );
}

/// Waits until `sink` accepted every key in `from..to`; returns the missing ones.
async fn missing(sink: &ScriptedSink, from: i64, to: i64, timeout: Duration) -> Vec<i64> {
    let want: BTreeSet<i64> = (from..to).collect();
    let got = sink.wait_ids(&want, timeout).await;
    let ids: BTreeSet<i64> = got.iter().filter_map(Seen::id).collect();
    want.difference(&ids).copied().collect()
}

/// SIGTERM `adapter` and start it again with `env`.
async fn restart(adapter: &mut Adapter, env: &[(&'static str, String)]) {
    assert_eq!(
        adapter.terminate(Duration::from_secs(30)).await,
        Some(0),
        "a clean stop"
    );
    *adapter = Adapter::start(env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_source_whose_sink_refuses_its_first_40_s_loses_nothing_to_a_restart() {
    every_event_before_a_restart_arrives(
        ScriptedSink::start(refuse_for(503, Duration::from_secs(40))).await,
        Duration::from_secs(30),
        Duration::from_secs(120),
        "a new source, its sink refusing the first 40 s, a restart at 30 s",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_s_outage_after_a_first_checkpoint_loses_nothing_to_a_restart() {
    // Accepting for 10 s, then 503 for 60 s; the restart comes 30 s into the outage.
    let sink = ScriptedSink::start(|seen: &Seen| {
        if seen.at >= Duration::from_secs(10) && seen.at < Duration::from_secs(70) {
            Reply::Status(503)
        } else {
            Reply::Status(202)
        }
    })
    .await;
    every_event_before_a_restart_arrives(
        sink,
        Duration::from_secs(40),
        Duration::from_secs(150),
        "a 60 s outage after a first checkpoint, a restart 30 s into it (maxAge 15 s)",
    )
    .await;
}
