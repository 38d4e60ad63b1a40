//! The vSphere adapter against the faults real systems have, as real processes (vsphere-sim,
//! the recording sink): `ReadNextEvents` answers lost after vCenter moved its cursor
//! (truncated, dropped, timed out), a poison event, vCenter's clock stepping back, a sink that
//! answers out of order, fails at random and dies mid-stream while the adapter is killed with
//! `kill -9`, and SIGTERM while the sink hangs.

use crate::common;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::common::{Adapter, backlog, checkpoint_key, eventually, ids, metric};
use test_support::RecordingSink;
use vsphere_sim::Failure;

/// How often each key was accepted.
fn counts(sink: &RecordingSink) -> BTreeMap<i64, usize> {
    let mut out = BTreeMap::new();
    for id in ids(&sink.accepted()) {
        *out.entry(id).or_default() += 1;
    }
    out
}

async fn wait_for_keys(sink: &RecordingSink, want: &BTreeSet<i64>, timeout: Duration) -> bool {
    eventually(timeout, || {
        let got: BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
        want.is_subset(&got)
    })
    .await
}

/// Whether the adapter's `/metrics` reports deliveries in flight once `settled_before` events
/// were sent (a blocking read, for `eventually`).
fn sink_requests_hanging(adapter: &Adapter, settled_before: f64) -> bool {
    let Some(addr) = common::metrics_address(adapter) else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(&addr) else {
        return false;
    };
    use std::io::{Read, Write};
    let _ = write!(stream, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    // Once the events before are settled (not merely answered: the in-flight count includes
    // deliveries whose answer is being handled), whatever is in flight hangs at the sink.
    value("vmware_sources_adapter_events_sent_total{").is_some_and(|n| n >= settled_before)
        && value("vmware_sources_adapter_deliveries_in_flight{").is_some_and(|n| n > 0.0)
}

/// The measurement: every 7th request (any method) truncated, dropped after vCenter
/// acted, or held past the adapter's timeout. Each ends with every key delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_read_answers_lose_nothing() {
    for (failure, every, events) in [
        (Failure::Truncate, 7, 3000),
        (Failure::DropAfter, 7, 3000),
        (Failure::Stall, 5, 600),
    ] {
        let (sim, dir) = backlog(events).await;
        let want: BTreeSet<i64> = (1..=events as i64).collect();
        let sink = RecordingSink::start().await;
        let mut e = common::backlog_env(&sim, &sink.url(), &dir.path().join("cp.json"));
        if failure == Failure::Stall {
            sim.faults().set_stall(Duration::from_secs(3));
            e.push(("VC_REQUEST_TIMEOUT_SECONDS", "1".into()));
            e.push(("VSPHERE_PAGE_SIZE", "25".into()));
        }
        sim.faults().fail_every(every, failure);
        e.push(("PROGRESS_INTERVAL_SECONDS", "1".into()));
        let mut adapter = Adapter::start(&e);
        let complete = wait_for_keys(&sink, &want, Duration::from_secs(120)).await;
        let got = counts(&sink);
        let missing: Vec<i64> = want
            .iter()
            .copied()
            .filter(|k| !got.contains_key(k))
            .collect();
        assert!(
            complete && missing.is_empty(),
            "{failure:?}: {} of {events} delivered, missing {:?}…\nlog:\n{}",
            got.len(),
            &missing[..missing.len().min(20)],
            adapter.log().join("\n")
        );
        let repeated: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
        assert!(repeated.is_empty(), "{failure:?}: sent twice: {repeated:?}");
        assert!(
            sim.faults().injected() >= 3,
            "{failure:?}: the faults happened"
        );
        assert!(
            metric(&adapter, "source_restarts_total{source=\"vsphere\"}")
                .await
                .unwrap_or_default()
                >= 2.0,
            "{failure:?}: lost answers were read again with new collectors"
        );
        // Progress a person can see: lines while catching up (the stalls make it take
        // seconds), one when caught up.
        let log = adapter.log();
        let line = |text: &str| log.iter().find(|l| l.contains(text)).cloned();
        let caught_up = line("caught up; delivering new events as they come")
            .unwrap_or_else(|| panic!("{failure:?}: no caught-up line"));
        assert!(
            caught_up.contains(&format!("\"delivered\":{events}")),
            "{caught_up}"
        );
        if failure == Failure::Stall {
            let behind = line("catching up").expect("a progress line while behind");
            for field in [
                "\"delivered\"",
                "\"events_per_s\"",
                "\"lag_s\"",
                "\"checkpoint\"",
            ] {
                assert!(behind.contains(field), "{field} in {behind}");
            }
        }
        assert_eq!(adapter.terminate(Duration::from_secs(30)).await, Some(0));
    }
}

/// Waits until the sink holds events 1..=`events`, and returns the one keyed `odd` after
/// checking it kept its own CloudEvent type (salvaged, not a generic `Event`).
async fn every_event_and_the_odd_one(
    sink: &RecordingSink,
    adapter: &Adapter,
    events: i64,
    odd: i64,
) -> test_support::Received {
    let want: BTreeSet<i64> = (1..=events).collect();
    assert!(
        wait_for_keys(sink, &want, Duration::from_secs(60)).await,
        "log:\n{}",
        adapter.log().join("\n")
    );
    let event = sink
        .accepted()
        .into_iter()
        .find(|r| r.header("ce-id") == Some(odd.to_string().as_str()))
        .expect("the odd event");
    let kind = event.header("ce-type").unwrap_or_default();
    assert!(
        kind.starts_with("com.vmware.vsphere.")
            && kind.ends_with(".v0")
            && !kind.contains(".Event."),
        "its own type: {kind}"
    );
    event
}

/// An event that never decodes is isolated (smaller pages), delivered as far as it reads, and
/// counted; the events after it flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_isolated_delivered_and_counted() {
    let (sim, dir) = backlog(500).await;
    sim.faults().poison_event(250);
    let sink = RecordingSink::start().await;
    let adapter = Adapter::start(&common::backlog_env(
        &sim,
        &sink.url(),
        &dir.path().join("cp.json"),
    ));
    let poison = every_event_and_the_odd_one(&sink, &adapter, 500, 250).await;
    let body = poison.text();
    assert!(
        body.contains("poison"),
        "the unreadable value is kept as text: {body}"
    );
    assert!(counts(&sink).values().all(|n| *n == 1), "each event once");
    assert!(
        eventually(Duration::from_secs(10), || {
            adapter
                .log()
                .iter()
                .any(|l| l.contains("delivering what is readable of it"))
        })
        .await
    );
    assert_eq!(
        metric(&adapter, "events_undecodable_total{source=\"vsphere\"}").await,
        Some(1.0)
    );
}

/// An event whose answer alone exceeds the response limit is read again a few times, then
/// delivered as far as its answer's start reads (key, time, type, the start of its XML) and
/// counted; the events after it flow, and nothing is retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_larger_than_the_response_limit_is_delivered_as_far_as_it_reads() {
    let (sim, dir) = backlog(300).await;
    // 2 MiB of message against a 1 MiB limit; a page of 100 ordinary events is about 150 KiB.
    sim.faults().inflate_event(150, 2 << 20);
    let sink = RecordingSink::start().await;
    let mut env = common::backlog_env(&sim, &sink.url(), &dir.path().join("cp.json"));
    env.push(("VC_MAX_RESPONSE_BYTES", (1 << 20).to_string()));
    let adapter = Adapter::start(&env);
    let big = every_event_and_the_odd_one(&sink, &adapter, 300, 150).await;
    assert!(big.header("ce-time").is_some(), "its time");
    let body = big.text();
    assert!(
        body.contains("rawXml") && body.len() < 200 << 10,
        "the start of its XML, not all of it: {} bytes",
        body.len()
    );
    assert!(counts(&sink).values().all(|n| *n == 1), "each event once");
    assert_eq!(
        metric(&adapter, "events_undecodable_total{source=\"vsphere\"}").await,
        Some(1.0)
    );
    assert!(
        adapter
            .log()
            .iter()
            .any(|l| l.contains("an event is too large to read; delivering what is readable of it")),
        "a warning names it"
    );
}

/// Waits up to 30 s until the sink holds keys 1..=`last`; fails naming the missing ones.
async fn keys_arrive(sink: &RecordingSink, adapter: &Adapter, last: i64, context: &str) {
    let want: BTreeSet<i64> = (1..=last).collect();
    let complete = wait_for_keys(sink, &want, Duration::from_secs(30)).await;
    let got: BTreeSet<i64> = counts(sink).keys().copied().collect();
    assert!(
        complete,
        "missing {:?} ({context})\nlog:\n{}",
        want.difference(&got).collect::<Vec<_>>(),
        adapter.log().join("\n")
    );
}

/// vCenter's clock steps back: events created "before" the last one (but after the
/// collector's begin time) are new inside a live collector and are delivered, and reading goes
/// on after a lost session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_step_backwards_loses_nothing() {
    // The collector begins 90 minutes back (the checkpoint), so a step of ten minutes stays
    // inside its time range.
    let (sim, dir) = backlog(10).await;
    let sink = RecordingSink::start().await;
    let adapter = Adapter::start(&common::backlog_env(
        &sim,
        &sink.url(),
        &dir.path().join("cp.json"),
    ));
    let (a, b) = sim.generate(20).expect("events");
    assert!(wait_for_keys(&sink, &(1..=b).collect(), Duration::from_secs(30)).await);
    let now = jiff::Timestamp::now();
    let (c, _) = sim
        .generate_at(20, now - jiff::SignedDuration::from_mins(10))
        .expect("events");
    let (_, d) = sim.generate(20).expect("events");
    keys_arrive(&sink, &adapter, d, &format!("stepped back from {c}")).await;
    assert!(a > 10);
    // A lost session after the step: a new collector from the last event read.
    sim.expire_sessions();
    let (_, e) = sim.generate(10).expect("events");
    keys_arrive(&sink, &adapter, e, "after the lost session").await;
    assert!(counts(&sink).values().all(|n| *n == 1), "each event once");
}

/// The dangerous order: a new collector (a lost session), then vCenter's clock steps back, and
/// events are stamped before the position the collector began at. The collector begins
/// `VSPHERE_CLOCK_STEP_SECONDS` (60 by default) before the last event read, and skips by key
/// what it had read, so a step within that is delivered, each event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_step_back_after_a_new_collector_loses_nothing() {
    let (sim, dir) = backlog(10).await;
    let sink = RecordingSink::start().await;
    let adapter = Adapter::start(&common::backlog_env(
        &sim,
        &sink.url(),
        &dir.path().join("cp.json"),
    ));
    let (_, a) = sim.generate(5).expect("events");
    assert!(wait_for_keys(&sink, &(1..=a).collect(), Duration::from_secs(30)).await);
    // A lost session: the next read logs in again and creates a collector from the position.
    sim.expire_sessions();
    let (_, b) = sim.generate(5).expect("events");
    assert!(wait_for_keys(&sink, &(1..=b).collect(), Duration::from_secs(30)).await);
    assert!(
        metric(&adapter, "source_restarts_total{source=\"vsphere\"}")
            .await
            .unwrap_or_default()
            >= 2.0,
        "a second collector"
    );
    // The clock steps back 30 s: new events are stamped before every event read so far in
    // this collector's time.
    let (_, c) = sim
        .generate_at(
            10,
            jiff::Timestamp::now() - jiff::SignedDuration::from_secs(30),
        )
        .expect("events");
    let (_, d) = sim.generate(5).expect("events");
    keys_arrive(&sink, &adapter, d, &format!("stamped back: up to {c}")).await;
    assert!(counts(&sink).values().all(|n| *n == 1), "each event once");
}

/// Concurrent delivery into a sink that answers out of order, fails 30 % of requests and dies
/// mid-stream, with the adapter killed (`kill -9`) twice: every event arrives, the checkpoint
/// never names an event the sink has not taken, and a run repeats only events after the
/// checkpoint it started from, at most as many as the killed run delivered beyond it.
///
/// The sink fails with 500, a failure that is not push-back, so the delivery limit stays high
/// and many requests really are out at once when the adapter or the sink dies. (Random 503s
/// would be push-back: the limit would shrink to one or two and the test would mostly send one
/// request at a time; push-back is `sink_answers`' capacity test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_in_the_sink_and_kill_9_lose_nothing_and_repeat_only_the_boundary() {
    // Enough that no run of 3 s delivers them all (about 600 events/s get through this sink).
    let events = 5000usize;
    let (sim, dir) = backlog(events).await;
    let cp = dir.path().join("cp.json");
    let want: BTreeSet<i64> = (1..=events as i64).collect();
    let sink = RecordingSink::start().await;
    sink.set_chaos(0.3, 500, Duration::from_millis(20));
    let mut e = common::backlog_env(&sim, &sink.url(), &cp);
    e.push(("DELIVERY_CONCURRENCY", "16".into()));
    e.push(("K_DELIVERY_BACKOFF_DELAY", "PT0.02S".into()));

    // The checkpoint may only name events the sink took, along with every event before them.
    let check_checkpoint = |sink: &RecordingSink| {
        if let Some(k) = checkpoint_key(&cp) {
            let accepted: BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
            let behind: Vec<i64> = (1..=k).filter(|i| !accepted.contains(i)).take(5).collect();
            assert!(
                behind.is_empty(),
                "checkpoint {k} names undelivered events {behind:?}"
            );
        }
    };

    let mut repeats_after_start = 0usize;
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    let mut before = 0usize;
    // What the previous run delivered beyond the checkpoint it left: the most the next run may
    // send again.
    let mut owed_again: Option<usize> = None;
    let mut last_log = Vec::new();
    for round in 0..3 {
        let start_cp = checkpoint_key(&cp).unwrap_or(0);
        let mut adapter = Adapter::start(&e);
        let deadline = Instant::now() + Duration::from_secs(if round < 2 { 3 } else { 120 });
        let mut killed_sink = false;
        while Instant::now() < deadline {
            check_checkpoint(&sink);
            if round == 1 && !killed_sink && sink.accepted().len() > before + 200 {
                // The sink dies with requests in flight, and comes back.
                sink.kill();
                killed_sink = true;
                tokio::time::sleep(Duration::from_millis(700)).await;
                sink.revive().await;
            }
            // The last run ends when its own checkpoint has reached the last event (the sink
            // may hold every event already, from the runs before).
            if round == 2 && checkpoint_key(&cp) == Some(events as i64) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if round < 2 {
            assert!(
                checkpoint_key(&cp).is_some_and(|k| k > start_cp),
                "round {round}: progress was checkpointed\nlog:\n{}",
                adapter.log().join("\n")
            );
            adapter.kill9();
        }
        // Let answers to requests still in flight land before counting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let all = sink.accepted();
        let mut repeats = 0usize;
        for id in ids(&all[before..]) {
            let n = seen.entry(id).or_default();
            *n += 1;
            if *n > 1 {
                assert!(
                    id > start_cp,
                    "round {round}: {id} re-sent although the checkpoint was {start_cp}"
                );
                repeats += 1;
            }
        }
        if let Some(owed) = owed_again {
            assert!(
                repeats <= owed,
                "round {round}: {repeats} events sent again, but only {owed} were delivered beyond the checkpoint"
            );
        }
        repeats_after_start += repeats;
        before = all.len();
        check_checkpoint(&sink);
        let left = checkpoint_key(&cp).unwrap_or(0);
        owed_again = Some(seen.keys().filter(|k| **k > left).count());
        if round == 2 {
            sink.clear_chaos();
            assert_eq!(adapter.terminate(Duration::from_secs(30)).await, Some(0));
            last_log = adapter.log();
        }
    }
    let missing: Vec<_> = want
        .iter()
        .filter(|k| !seen.contains_key(k))
        .take(20)
        .collect();
    let tail = &last_log[last_log.len().saturating_sub(40)..];
    assert!(
        missing.is_empty(),
        "missing {missing:?}\nthe last run's log (its end):\n{}",
        tail.join("\n")
    );
    eprintln!("chaos: {events} events, {repeats_after_start} repeated after two kill -9");
    check_checkpoint(&sink);
    assert_eq!(checkpoint_key(&cp), Some(events as i64));
}

/// SIGTERM while the sink hangs: in-flight requests are abandoned after the grace period (not
/// after the sink timeout), the checkpoint stays behind them, and the adapter exits 0 well
/// inside the Pod's termination grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hanging_sink_ends_inside_the_grace_period() {
    let (sim, dir) = backlog(10).await;
    let cp = dir.path().join("cp.json");
    let sink = RecordingSink::start().await;
    let mut e = common::backlog_env(&sim, &sink.url(), &cp);
    e.push(("SHUTDOWN_GRACE_SECONDS", "2".into()));
    e.push(("K_SINK_TIMEOUT", "120".into()));
    // The backlog goes through, then the sink hangs with new events in flight.
    let mut adapter = Adapter::start(&e);
    assert!(wait_for_keys(&sink, &(1..=10).collect(), Duration::from_secs(30)).await);
    sink.set_delay(Some(Duration::from_secs(300)));
    sim.generate(20).expect("events");
    assert!(
        eventually(Duration::from_secs(10), || sink_requests_hanging(
            &adapter, 10.0
        ))
        .await,
        "requests in flight\nlog:\n{}",
        adapter.log().join("\n")
    );
    let started = Instant::now();
    let code = adapter.terminate(Duration::from_secs(60)).await;
    let took = started.elapsed();
    assert_eq!(code, Some(0), "log:\n{}", adapter.log().join("\n"));
    let budget = Duration::from_secs(adapter_env::termination_grace_period_seconds(2) as u64);
    assert!(took < budget, "took {took:?}, the Pod allows {budget:?}");
    assert!(
        took >= Duration::from_secs(2),
        "waited for the grace period: {took:?}"
    );
    let accepted: BTreeSet<i64> = ids(&sink.accepted()).into_iter().collect();
    let k = checkpoint_key(&cp).expect("checkpoint saved");
    assert!(
        (1..=k).all(|i| accepted.contains(&i)),
        "checkpoint {k} passed an abandoned event"
    );
}
