//! Records that do not fit the model, and a millisecond that holds more than a page: neither
//! stalls the stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use horizon_client::{AuditEventStream, Client, Credentials, Cursor, Signal};
use horizon_sim::Simulator;

use crate::client;
use crate::redirects::server;

/// The `(id, salvaged)` of every Undecodable signal, in order.
type Reports = Arc<Mutex<Vec<(Option<i64>, bool)>>>;

/// A stream of `client` from `start`, and what it reports of records that do not fit.
fn stream(client: Client, start: Cursor) -> (AuditEventStream, Reports) {
    let signals = Arc::new(Mutex::new(Vec::new()));
    let seen = signals.clone();
    let stream = AuditEventStream::builder(Arc::new(client), start)
        .page_size(10)
        .poll_interval(Duration::from_millis(50))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .observe(move |s| {
            if let Signal::Undecodable { record } = s {
                seen.lock()
                    .expect("lock")
                    .push((record.id, record.salvaged));
            }
        })
        .build();
    (stream, signals)
}

#[tokio::test]
async fn a_record_that_does_not_fit_is_delivered_as_read_and_reported_once() {
    let sim = Simulator::builder().start().await.expect("sim");
    let ids = sim.add_events_at(1_000, 3);
    let later = sim.add_events_at(2_000, 2);
    sim.corrupt_event(ids[1]);
    let (mut stream, signals) = stream(client(&sim), Cursor::at(0));

    let mut got = Vec::new();
    while got.len() < 5 {
        let batch = tokio::time::timeout(Duration::from_secs(10), stream.next_batch())
            .await
            .expect("the stream hands out the events, the odd one too");
        got.extend(batch.events);
    }
    let mut want: Vec<i64> = ids.iter().chain(&later).copied().collect();
    want.sort_unstable();
    let mut ids_got: Vec<i64> = got.iter().map(|e| e.id).collect();
    ids_got.sort_unstable();
    assert_eq!(ids_got, want, "every event once");
    let odd = got.iter().find(|e| e.id == ids[1]).expect("the odd event");
    let message = odd.message.as_deref().expect("its message, as JSON text");
    assert!(
        message.starts_with('{') && message.contains("\"localized\":true"),
        "{message}"
    );
    assert_eq!(odd.time, 1_000);
    assert!(
        odd.kind.is_some() && odd.severity.is_some(),
        "the other fields read: {odd:?}"
    );
    // A few more polls of the same range: no second report.
    let more = tokio::time::timeout(Duration::from_millis(500), stream.next_batch()).await;
    assert!(more.is_err(), "nothing new: {more:?}");
    assert_eq!(*signals.lock().expect("lock"), vec![(Some(ids[1]), true)]);
}

#[tokio::test]
async fn a_server_repeating_one_crowded_millisecond_ends_the_read() {
    // Horizon's pages for one millisecond that holds more than a page, from a server that
    // ignores `page`: always the same full page, always "more records". Reading page after
    // page never ended before.
    const T: i64 = 1_700_000_000_000;
    let page: String = format!(
        "[{}]",
        (0..10)
            .map(|i| format!(
                r#"{{"id":{},"time":{T},"type":"VLSI_USERLOGGEDIN"}}"#,
                500 + i
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (base, seen) = server(move |path| {
        if path.starts_with("/rest/login") {
            (
                "200 OK",
                String::new(),
                r#"{"access_token":"a","refresh_token":"r"}"#.to_owned(),
            )
        } else {
            (
                "200 OK",
                "HAS_MORE_RECORDS: true\r\n".to_owned(),
                page.clone(),
            )
        }
    })
    .await;
    let c = Client::builder(&base)
        .expect("url")
        .credentials(Credentials::new("d", "u", "p").expect("credentials"))
        .build()
        .expect("client");
    let (mut stream, _) = stream(c, Cursor::at(T));
    let batch = tokio::time::timeout(Duration::from_secs(20), stream.next_batch())
        .await
        .expect("the read of the crowded millisecond ends");
    let mut ids: Vec<i64> = batch.events.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (500..510).collect::<Vec<_>>());
    // The windows halve down to the millisecond; of it, page 1 and the repeated page 2 are read.
    let pages: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|s| {
            let q = s.path.split_once('?')?.1;
            q.split('&')
                .find(|kv| kv.starts_with("page="))
                .map(str::to_owned)
        })
        .filter(|p| p != "page=1")
        .collect();
    assert_eq!(pages, ["page=2"]);
}
