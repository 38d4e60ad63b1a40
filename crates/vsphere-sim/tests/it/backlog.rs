//! A 100,000-event backlog is read back through vsphere-client complete and in order.
//!
//! In a debug build the client's decoder costs about 70 µs per compact event, so one stream of
//! 100,000 takes about 8 s. The default test reads two halves of the history concurrently, split
//! by time as a parallel backfill would (`endTime` = the middle event's time, inclusive, then
//! `beginTime` just after it), which keeps both cores busy.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::{Client, Credentials, Event};
use vsphere_sim::{EventMix, Simulator};

/// 100,000 compact events, two streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_backlog_reads_back_complete_and_in_order() {
    read_back(100_000, EventMix::Compact, 3, 2).await;
}

/// 10,000 realistic events (every template, about 1 KiB each), one stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10k_realistic_backlog_reads_back_complete_and_in_order() {
    read_back(10_000, EventMix::Realistic, 15, 1).await;
}

/// 100,000 realistic events, one stream (about 20 s in a debug build, 3 s in release).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_realistic_backlog_reads_back_complete_and_in_order() {
    read_back(100_000, EventMix::Realistic, 15, 1).await;
}

/// Read every event the filter selects, in pages of 1000.
async fn read_all(client: Client, filter: EventFilterSpec) -> Vec<Event> {
    let collector = client
        .create_event_collector(&filter)
        .await
        .expect("collector");
    let mut out = Vec::new();
    loop {
        let page = collector.read_next(1000).await.expect("ReadNextEvents");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 1000);
        out.extend(page);
    }
    out
}

async fn read_back(backlog: usize, mix: EventMix, min_types: usize, streams: usize) {
    let started = Instant::now();
    let sim = Simulator::builder()
        .backlog(backlog)
        .event_mix(mix)
        .unknown_event_types(true)
        .login_events(false)
        .start()
        .await
        .expect("simulator");
    let filled = started.elapsed();
    assert_eq!(sim.event_count(), backlog);
    let client = Client::builder(sim.url())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect");
    let root = client.service_content().root_folder.clone();
    let all = EventFilterSpec::new().entity(root, Recursion::All);
    let reading = Instant::now();
    let mut filters = Vec::new();
    if streams == 2 {
        // The middle event (chain id = key), and its time.
        let middle_key = (backlog / 2) as i32;
        let middle = read_all(client.clone(), all.clone().event_chain_id(middle_key)).await;
        let t = middle
            .first()
            .and_then(Event::created_time)
            .expect("the middle event");
        filters.push(all.clone().end_time(t));
        filters.push(all.clone().begin_time(t + Duration::from_nanos(1)));
    } else {
        filters.push(all);
    }
    let tasks: Vec<_> = filters
        .into_iter()
        .map(|f| tokio::spawn(read_all(client.clone(), f)))
        .collect();
    let mut events = Vec::with_capacity(backlog);
    for t in tasks {
        events.extend(t.await.expect("reader"));
    }
    let read = reading.elapsed();
    let mut types = BTreeSet::new();
    let mut last_time = None;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.key(), i as i64 + 1, "keys are consecutive and ascending");
        let t = e.created_time().expect("createdTime");
        assert!(last_time.is_none_or(|l| l <= t), "times never go backwards");
        last_time = Some(t);
        types.insert(e.type_name().to_owned());
    }
    assert_eq!(events.len(), backlog, "every event read back");
    assert!(types.len() >= min_types, "a varied history: {types:?}");
    if mix == EventMix::Realistic {
        assert!(types.contains(vsphere_sim::UNKNOWN_EVENT_TYPE));
    }
    eprintln!(
        "backlog of {backlog} {mix:?} events: filled in {filled:.2?}, read back in {read:.2?} \
         ({streams} streams of 1000-event pages), history {} KiB",
        sim.history_bytes() / 1024
    );
}
