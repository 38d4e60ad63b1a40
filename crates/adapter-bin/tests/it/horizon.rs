//! The `horizon-adapter` binary end to end against the Horizon simulator and real HTTP sinks:
//! bursts larger than a page, ties on one millisecond, token expiry mid-stream, sink failures,
//! `kill -9` and restart, SIGTERM, start-up errors, metrics.

use crate::{common, horizon_common};
use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::eventually;
use crate::horizon_common::{checkpoint, counts, delivered, env, secret_dir};
use horizon_sim::Simulator;
use test_support::RecordingSink;

const BEGIN: &str = "setting begin of event stream";

async fn sim() -> Simulator {
    test_support::install_crypto_provider();
    Simulator::builder().start().await.expect("simulator")
}

fn ids(sim: &Simulator) -> BTreeSet<i64> {
    sim.events().iter().map(|e| e.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_a_page_with_ties_arrives_once_oldest_first_without_replaying_history()
{
    let sim = sim().await;
    let old: BTreeSet<i64> = sim.add_events_now(25, 5).into_iter().collect();
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let mut e = env(&sim, secret.path(), &sink.url(), &cp);
    e.push(("HORIZON_PAGE_SIZE", "50".into()));
    // One delivery at a time: strict order (oldest first is checked below).
    e.push(("DELIVERY_CONCURRENCY", "1".into()));
    e.push((
        "K_CE_OVERRIDES",
        r#"{"extensions":{"team":"vdi ops"}}"#.into(),
    ));
    let mut adapter = horizon_common::start(&e);
    adapter.wait_log(BEGIN, Duration::from_secs(30)).await;

    // 180 events, 6 per millisecond, in one go: more than three pages of 50.
    let burst: BTreeSet<i64> = sim.add_events_now(180, 6).into_iter().collect();
    sink.wait_accepted(180, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = delivered(&sink.accepted());
    let got_ids: BTreeSet<i64> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(got_ids, burst, "exactly the new events, none of history");
    assert!(got_ids.is_disjoint(&old));
    assert!(counts(&got).values().all(|n| *n == 1), "no duplicates");
    assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "oldest first");
    assert!(
        got.windows(2).any(|w| w[0].0 > w[1].0),
        "ids are not time-ordered"
    );

    let r = &sink.accepted()[0];
    assert_eq!(r.header("ce-source"), Some(sim.url().as_str()));
    assert_eq!(r.header("ce-specversion"), Some("1.0"));
    assert_eq!(r.header("ce-team"), Some("vdi%20ops"));
    assert!(
        r.header("ce-type")
            .unwrap_or_default()
            .starts_with("com.vmware.horizon.")
    );
    assert!(r.header("ce-type").unwrap_or_default().ends_with(".v0"));
    let time = r.header("ce-time").unwrap_or_default();
    assert_eq!(
        time.len(),
        "2021-07-27T07:12:19.490Z".len(),
        "milliseconds kept: {time}"
    );
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON data");
    assert!(body["user_id"].is_string() && body["machine_dns_name"].is_string());

    // Metrics and health.
    let addr = common::metrics_address(&adapter).expect("metrics address");
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains(r#"source="horizon""#), "{metrics}");
    let ready = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);

    // Graceful stop: the checkpoint holds the last millisecond and every id delivered at it.
    assert_eq!(
        adapter.terminate(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        adapter.log().join("\n")
    );
    let (t, at_t) = checkpoint(&cp).expect("checkpoint");
    let last = got.iter().map(|(_, t)| *t).max().unwrap_or_default();
    assert_eq!(t, last);
    let want: BTreeSet<i64> = got
        .iter()
        .filter(|(_, tt)| *tt == t)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(at_t.into_iter().collect::<BTreeSet<_>>(), want);

    // A restart re-sends nothing; events sharing the checkpoint's millisecond that appear later
    // are still delivered.
    let late = sim.add_events_at(t, 2);
    let adapter = horizon_common::start(&e);
    adapter
        .wait_log("found existing checkpoint", Duration::from_secs(30))
        .await;
    sink.wait_accepted(182, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = delivered(&sink.accepted());
    assert_eq!(all.len(), 182, "{all:?}");
    assert_eq!(
        all[180..]
            .iter()
            .map(|(id, _)| *id)
            .collect::<BTreeSet<_>>(),
        late.into_iter().collect()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_mid_stream_loses_nothing() {
    let sim = Simulator::builder()
        .access_token_lifetime(Duration::from_millis(300))
        .refresh_token_lifetime(Duration::from_secs(2))
        .start()
        .await
        .expect("simulator");
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let _adapter = horizon_common::start(&env(&sim, secret.path(), &sink.url(), &cp));
    _adapter.wait_log(BEGIN, Duration::from_secs(30)).await;
    let mut want = BTreeSet::new();
    for _ in 0..30 {
        want.extend(sim.add_events_now(4, 2));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let n = want.len();
    sink.wait_accepted(n, Duration::from_secs(30)).await;
    let got: BTreeSet<i64> = delivered(&sink.accepted())
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(got, want);
    let stats = sim.stats();
    assert!(stats.unauthorized > 0 && stats.refreshes > 0, "{stats:?}");
    assert!(
        stats.logins > 1,
        "refresh token expiry led to a full login: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_failures_are_retried_dead_lettered_and_never_skipped() {
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dls = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let mut e = env(&sim, secret.path(), &sink.url(), &cp);
    e.push(("K_DEAD_LETTER_SINK", dls.url()));
    let _adapter = horizon_common::start(&e);
    _adapter.wait_log(BEGIN, Duration::from_secs(30)).await;

    // Horizon answers 409 once: retried.
    sim.fail_next_with(&[409]);
    sink.respond_default(Some(503));
    // A first run saves where it begins before it reads.
    assert!(eventually(Duration::from_secs(10), || checkpoint(&cp).is_some()).await);
    let begun = checkpoint(&cp);
    let want = sim.add_events_now(12, 3);
    sink.respond_for_id(&want[5].to_string(), 400);
    // While the sink refuses, the checkpoint stays put (where the run began: a first run saves
    // that at once).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.accepted().is_empty());
    assert_eq!(
        checkpoint(&cp),
        begun.clone(),
        "no checkpoint past unaccepted events"
    );
    assert!(
        begun
            .as_ref()
            .is_some_and(|(_, ids)| ids.iter().all(|id| !want.contains(id))),
        "the begin position is saved, before the events: {begun:?}"
    );
    sink.respond_default(None);
    sink.wait_accepted(11, Duration::from_secs(60)).await;
    let dead = dls.wait_accepted(1, Duration::from_secs(10)).await;
    assert_eq!(dead[0].header("ce-id"), Some(want[5].to_string().as_str()));
    let mut got: BTreeSet<i64> = delivered(&sink.accepted())
        .iter()
        .map(|(id, _)| *id)
        .collect();
    got.insert(want[5]);
    assert_eq!(got, want.into_iter().collect());
    assert!(
        sink.received().iter().any(|r| r.status == 503),
        "the sink was retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_deliver_every_event_with_duplicates_only_in_the_boundary_window() {
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let e = env(&sim, secret.path(), &sink.url(), &cp);
    let mut adapter = horizon_common::start(&e);
    adapter.wait_log(BEGIN, Duration::from_secs(30)).await;

    // Events keep coming, three per millisecond, while the adapter is killed and restarted.
    let stop = tokio_util::sync::CancellationToken::new();
    let generator = {
        let stop = stop.clone();
        let sim_events = std::sync::Arc::new(sim);
        let s = sim_events.clone();
        let h = tokio::spawn(async move {
            while !stop.is_cancelled() {
                s.add_events_now(3, 3);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        });
        (h, sim_events)
    };
    let sim = generator.1.clone();
    // The first kill comes after the first checkpoint (before it, a restart has nothing to
    // resume from and begins at the newest event, by design).
    assert!(
        eventually(Duration::from_secs(30), || checkpoint(&cp).is_some()).await,
        "no checkpoint saved; log:\n{}",
        adapter.log().join("\n")
    );
    let mut windows = Vec::new();
    let seed = std::process::id() as u64;
    for round in 0..3u64 {
        // A pseudo-random point in the stream.
        let wait = 300 + (seed.wrapping_mul(31).wrapping_add(round * 97) % 700);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        adapter.kill9();
        let cp_time = checkpoint(&cp).map(|c| c.0).unwrap_or(i64::MIN);
        // A request sent just before the kill may reach the sink a little later.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let last = delivered(&sink.accepted())
            .iter()
            .map(|(_, t)| *t)
            .max()
            .unwrap_or(i64::MAX);
        windows.push((cp_time, last));
        adapter = horizon_common::start(&e);
        adapter
            .wait_log("found existing checkpoint", Duration::from_secs(30))
            .await;
    }
    stop.cancel();
    let _ = generator.0.await;
    let want = ids(&sim);
    // Every event was created after the first start (which begins at the newest event).
    assert!(
        eventually(Duration::from_secs(60), || {
            let got: BTreeSet<i64> = delivered(&sink.accepted())
                .iter()
                .map(|(id, _)| *id)
                .collect();
            want.is_subset(&got)
        })
        .await,
        "missing events"
    );
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
    let got = delivered(&sink.accepted());
    let dups = counts(&got).values().filter(|n| **n > 1).count();
    eprintln!(
        "{} events, {} deliveries, {dups} ids delivered twice or more; windows {windows:?}",
        want.len(),
        got.len()
    );
    for (id, n) in counts(&got) {
        if n > 1 {
            let t = got
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, t)| *t)
                .unwrap_or_default();
            assert!(
                windows.iter().any(|(cp, last)| *cp <= t && t <= *last),
                "duplicate {id} at {t} outside every boundary window {windows:?}"
            );
        }
    }
    assert_eq!(
        got.iter().map(|(id, _)| *id).collect::<BTreeSet<_>>(),
        want,
        "every audit event delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors_name_the_setting() {
    let sim = sim().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let base = env(&sim, secret.path(), "http://127.0.0.1:1/", &cp);
    let with = |k: &'static str, v: &str| {
        let mut e: Vec<_> = base.iter().filter(|(n, _)| *n != k).cloned().collect();
        e.push((k, v.to_owned()));
        e
    };
    let empty = tempfile::tempdir().expect("empty");
    let partial = tempfile::tempdir().expect("partial");
    std::fs::write(partial.path().join("domain"), "corp").expect("domain");
    std::fs::write(partial.path().join("username"), "administrator").expect("username");
    std::fs::write(partial.path().join("password"), "").expect("password");
    let cases = [
        (
            with("HORIZON_SECRET_PATH", &empty.path().display().to_string()),
            "HORIZON_SECRET_PATH",
        ),
        (
            with("HORIZON_SECRET_PATH", &partial.path().display().to_string()),
            "invalid credentials: domain, username and password must be set",
        ),
        (with("HORIZON_URL", "ftp://horizon.example"), "HORIZON_URL"),
        (with("HORIZON_URL", "not a url"), "HORIZON_URL"),
        (with("HORIZON_URL", ""), "HORIZON_URL"),
        (
            with("K_CE_OVERRIDES", r#"{"extensions":{"Bad":"x"}}"#),
            "K_CE_OVERRIDES",
        ),
        (with("HORIZON_PAGE_SIZE", "1001"), "HORIZON_PAGE_SIZE"),
        (
            with("HORIZON_CA_CERTS", "not a certificate"),
            "HORIZON_CA_CERTS",
        ),
        (
            base.iter()
                .filter(|(n, _)| *n != "HORIZON_CHECKPOINT_FILE" && *n != "NAMESPACE")
                .cloned()
                .collect(),
            "NAMESPACE",
        ),
    ];
    for (env, text) in cases {
        let mut a = horizon_common::start(&env);
        let code = a.wait_exit(Duration::from_secs(20)).await;
        // The stderr reader may lag the exit a little.
        eventually(Duration::from_secs(5), || a.log().join("\n").contains(text)).await;
        let log = a.log().join("\n");
        assert_eq!(code, Some(2), "{text}: {log}");
        assert!(log.contains(text), "{text}: {log}");
        assert!(!log.contains(&sim.password()), "secret in the log: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_horizon_is_retried_until_it_answers() {
    let sim = sim().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let sink = RecordingSink::start().await;
    let mut e = env(&sim, secret.path(), &sink.url(), &cp);
    e.retain(|(k, _)| *k != "HORIZON_URL");
    e.push(("HORIZON_URL", "http://127.0.0.1:9".into()));
    let mut a = horizon_common::start(&e);
    a.wait_log("cannot connect to Horizon", Duration::from_secs(20))
        .await;
    assert_eq!(a.terminate(Duration::from_secs(20)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_prints_cloudevents_to_stdout() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_horizon-adapter"))
        .args([
            "--simulate",
            "--simulate-rate",
            "50",
            "--poll-interval",
            "100ms",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().next()
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .and_then(Result::ok);
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("a CloudEvent line");
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(v["specversion"], "1.0");
    assert!(
        v["type"]
            .as_str()
            .unwrap_or_default()
            .starts_with("com.vmware.horizon.")
    );
    assert!(v["data"]["id"].is_i64(), "{line}");
}

/// Page answers that break the way networks break them (cut in half, the connection dropped
/// mid-body, held past the adapter's timeout), at several points of a backlog read in windows
/// of at most a page: every event arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_page_answers_lose_nothing() {
    use horizon_sim::PageFault;
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let mut e = env(
        &sim,
        secret.path(),
        &sink.url(),
        &dir.path().join("cp.json"),
    );
    e.push(("HORIZON_PAGE_SIZE", "40".into()));
    e.push(("HORIZON_REQUEST_TIMEOUT_SECONDS", "1".into()));
    let mut adapter = horizon_common::start(&e);
    adapter.wait_log(BEGIN, Duration::from_secs(30)).await;
    // 600 events over 60 ms, 10 per millisecond: windows must shrink to fit pages of 40.
    let want: BTreeSet<i64> = sim.add_events_now(600, 10).into_iter().collect();
    let faults = [
        PageFault::Truncate,
        PageFault::Drop,
        PageFault::Stall(Duration::from_secs(2)),
    ];
    let (mut next_at, mut broken) = (0, 0);
    let complete = eventually(Duration::from_secs(90), || {
        // Nine broken answers, one every third read: at several points of the backlog.
        let requests = sim.stats().event_requests;
        if requests >= next_at && broken < 9 {
            sim.break_pages(&[faults[broken % faults.len()]]);
            broken += 1;
            next_at = requests + 3;
        }
        let got: BTreeSet<i64> = delivered(&sink.accepted())
            .iter()
            .map(|(id, _)| *id)
            .collect();
        want.is_subset(&got)
    })
    .await;
    let got = delivered(&sink.accepted());
    let ids: BTreeSet<i64> = got.iter().map(|(id, _)| *id).collect();
    assert!(
        complete,
        "missing {:?}\nlog:\n{}",
        want.difference(&ids).take(20).collect::<Vec<_>>(),
        adapter.log().join("\n")
    );
    assert!(counts(&got).values().all(|n| *n == 1), "each event once");
    assert!(
        adapter
            .log()
            .iter()
            .any(|l| l.contains("cannot read Horizon audit events")),
        "the broken answers were seen"
    );
    assert_eq!(adapter.terminate(Duration::from_secs(20)).await, Some(0));
}

/// Issue 24 item 8: the checkpoint is saved as soon as the pipeline has caught up after a
/// burst, not only every period. With a 60 s period, a first burst of 150 events must leave a
/// checkpoint on disk without waiting for the period, and a `kill -9` a few seconds after a
/// burst of 1,500 must re-send only the boundary (events of the checkpoint's millisecond), not
/// the burst (which the previous saver re-sent whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_checkpointed_once_delivered_so_a_crash_after_it_re_sends_only_the_boundary() {
    let sim = sim().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let mut e = env(&sim, secret.path(), &sink.url(), &cp);
    for (name, value) in &mut e {
        if *name == "HORIZON_CHECKPOINT_CONFIG" {
            *value = r#"{"period":"60s"}"#.into();
        }
    }
    let mut adapter = horizon_common::start(&e);
    adapter.wait_log(BEGIN, Duration::from_secs(30)).await;

    let first: BTreeSet<i64> = sim.add_events_now(150, 3).into_iter().collect();
    // (A first run saves where it begins at once: wait for a checkpoint naming the burst. The
    // simulator stamps a burst from now on, so the next one must come after this one is read.)
    assert!(
        eventually(Duration::from_secs(30), || {
            checkpoint(&cp).is_some_and(|(_, ids)| ids.iter().any(|id| first.contains(id)))
        })
        .await,
        "no checkpoint of a burst of 150 within 30 s (period 60 s); log:\n{}",
        adapter.log().join("\n")
    );
    let burst: BTreeSet<i64> = sim.add_events_now(1500, 3).into_iter().collect();
    let all: BTreeSet<i64> = first.union(&burst).copied().collect();
    assert!(
        eventually(Duration::from_secs(60), || {
            let got: BTreeSet<i64> = delivered(&sink.accepted())
                .iter()
                .map(|(id, _)| *id)
                .collect();
            all.is_subset(&got)
        })
        .await,
        "the burst was not delivered: {} of {} accepted; log:\n{}",
        delivered(&sink.accepted()).len(),
        all.len(),
        adapter.log().join("\n")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    adapter.kill9();
    let before = sink.accepted().len();
    let adapter = horizon_common::start(&e);
    adapter
        .wait_log("found existing checkpoint", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let resent = sink.accepted().len() - before;
    println!(
        "a kill -9 3 s after a burst of 1,500 (period 60 s): {resent} events re-sent after the restart"
    );
    // Three events per millisecond: the checkpoint's millisecond is re-read.
    assert!(
        resent <= 3,
        "{resent} events re-sent after the restart; log:\n{}",
        adapter.log().join("\n")
    );
}

/// A Horizon server whose certificate only `HORIZON_CA_CERTS` (the HorizonSource's `caCerts`)
/// vouches for: the adapter logs in and delivers; without it, it never logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_horizon_server_with_its_own_ca_is_trusted_through_horizon_ca_certs() {
    test_support::install_crypto_provider();
    let sim = Simulator::builder().tls().start().await.expect("simulator");
    let ca = sim.cert_pem().expect("certificate").to_owned();
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let secret = secret_dir(&sim);
    let cp = dir.path().join("cp.json");
    let plain = env(&sim, secret.path(), &sink.url(), &cp);

    let untrusting = horizon_common::start(&plain);
    assert!(
        eventually(Duration::from_secs(20), || untrusting
            .log()
            .iter()
            .any(|l| l.contains("certificate")))
        .await,
        "a certificate error is logged:\n{}",
        untrusting.log().join("\n")
    );
    assert_eq!(sim.stats().logins, 0, "no login without the CA");
    drop(untrusting);

    let mut e = plain.clone();
    e.push(("HORIZON_CA_CERTS", ca));
    let adapter = horizon_common::start(&e);
    adapter.wait_log(BEGIN, Duration::from_secs(30)).await;
    let made: BTreeSet<i64> = sim.add_events_now(20, 2).into_iter().collect();
    let got = sink.wait_accepted(20, Duration::from_secs(30)).await;
    let ids: BTreeSet<i64> = delivered(&got).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, made, "every event over TLS");
}
