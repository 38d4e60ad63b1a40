//! Event types, modules and severities: only matching events arrive, filtered by Horizon (the
//! simulator applies the same filter syntax), and by the client when Horizon refuses the filter.

use std::sync::Arc;
use std::time::Duration;

use horizon_client::{AuditEvent, AuditEventFilter, AuditEventStream, Cursor, Error, Severity};
use horizon_sim::Simulator;

use crate::client;

const T: i64 = 1_700_000_000_000;

/// Six events over three types, two modules and three severities; returns (id, type, severity).
fn seed(sim: &Simulator) -> Vec<(i64, &'static str, &'static str)> {
    let kinds = [
        ("VLSI_USERLOGGEDIN", "AUDIT_SUCCESS", "Vlsi"),
        ("BROKER_USERAUTHFAILED", "AUDIT_FAIL", "Broker"),
        ("ADMIN_DESKTOP_EDITED", "INFO", "Admin"),
        ("VLSI_USERLOGGEDIN", "AUDIT_SUCCESS", "Vlsi"),
        ("BROKER_MACHINE_PROTOCOL_UNAVAILABLE", "WARNING", "Broker"),
        ("BROKER_USERAUTHFAILED", "AUDIT_FAIL", "Broker"),
    ];
    kinds
        .iter()
        .enumerate()
        .map(|(i, (kind, severity, module))| {
            (
                sim.add_event(T + i as i64, kind, severity, module),
                *kind,
                *severity,
            )
        })
        .collect()
}

fn ids(events: &[AuditEvent]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}

fn expected(seeded: &[(i64, &str, &str)], keep: impl Fn(&str, &str) -> bool) -> Vec<i64> {
    seeded
        .iter()
        .filter(|(_, k, s)| keep(k, s))
        .map(|(id, _, _)| *id)
        .collect()
}

/// Every event in the seeded range that `selection` admits, in one call.
async fn matching(c: &horizon_client::Client, selection: &AuditEventFilter) -> Vec<AuditEvent> {
    c.events_matching(T, T + 100, 1000, selection)
        .await
        .expect("events")
}

#[tokio::test]
async fn horizon_applies_the_filter_and_only_matching_events_arrive() {
    let sim = Simulator::builder().start().await.expect("sim");
    let seeded = seed(&sim);
    let c = client(&sim);
    c.login().await.expect("login");

    let by_type = AuditEventFilter {
        event_types: vec!["vlsi_userloggedin".into()],
        ..AuditEventFilter::default()
    };
    let got = matching(&c, &by_type).await;
    assert_eq!(
        ids(&got),
        expected(&seeded, |k, _| k == "VLSI_USERLOGGEDIN")
    );
    let sent = sim.last_filter().expect("a filter");
    assert!(
        sent.contains(r#"{"type":"Equals","name":"type","value":"VLSI_USERLOGGEDIN"}"#),
        "the type filter went to Horizon, upper-cased: {sent}"
    );

    let by_module = AuditEventFilter {
        modules: vec!["Broker".into()],
        ..AuditEventFilter::default()
    };
    let got = matching(&c, &by_module).await;
    assert_eq!(
        ids(&got),
        expected(&seeded, |k, _| k.starts_with("BROKER_"))
    );

    let by_severity = AuditEventFilter {
        severities: vec![Severity::AuditFail, Severity::Warning],
        ..AuditEventFilter::default()
    };
    let got = matching(&c, &by_severity).await;
    assert_eq!(
        ids(&got),
        expected(&seeded, |_, s| s == "AUDIT_FAIL" || s == "WARNING")
    );
    assert!(
        sim.last_filter()
            .is_some_and(|f| f.contains(r#""type":"Or""#)),
        "two severities: an Or of Equals"
    );

    // All three at once: every list must match.
    let all = AuditEventFilter {
        event_types: vec!["BROKER_USERAUTHFAILED".into(), "VLSI_USERLOGGEDIN".into()],
        modules: vec!["Broker".into()],
        severities: vec![Severity::AuditFail],
    };
    let got = matching(&c, &all).await;
    assert_eq!(
        ids(&got),
        expected(&seeded, |k, _| k == "BROKER_USERAUTHFAILED")
    );
    // No selection: the plain Between filter, every event.
    let got = matching(&c, &AuditEventFilter::default()).await;
    assert_eq!(got.len(), seeded.len());
    assert!(
        sim.last_filter()
            .is_some_and(|f| f.starts_with(r#"{"type":"Between""#))
    );
}

/// Reads batches until `n` events arrived (or 20 s passed).
async fn read(stream: &mut AuditEventStream, n: usize) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        let batch = tokio::time::timeout_at(deadline, stream.next_batch())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived: {out:?}", out.len()));
        out.extend(batch.events);
    }
    out
}

#[tokio::test]
async fn the_stream_hands_out_only_matching_events_and_its_cursor_passes_the_rest() {
    let sim = Simulator::builder().start().await.expect("sim");
    let seeded = seed(&sim);
    let c = Arc::new(client(&sim));
    let selection = AuditEventFilter {
        severities: vec![Severity::AuditSuccess],
        ..AuditEventFilter::default()
    };
    let mut stream = AuditEventStream::builder(c, Cursor::at(T))
        .poll_interval(Duration::from_millis(50))
        .filter(selection)
        .build();
    let want = expected(&seeded, |_, s| s == "AUDIT_SUCCESS");
    let got = read(&mut stream, want.len()).await;
    assert_eq!(ids(&got), want);
    // A later matching event arrives; the non-matching one before it does not.
    let skipped = sim.add_event(T + 50, "ADMIN_DESKTOP_EDITED", "INFO", "Admin");
    let wanted = sim.add_event(T + 60, "VLSI_USERLOGGEDOUT", "AUDIT_SUCCESS", "Vlsi");
    let got = read(&mut stream, 1).await;
    assert_eq!(ids(&got), [wanted], "not {skipped}");
    assert!(
        sim.last_filter()
            .is_some_and(|f| f.contains(r#""name":"severity","value":"AUDIT_SUCCESS""#)),
        "Horizon was asked to filter"
    );
}

#[tokio::test]
async fn a_horizon_that_filters_by_time_only_gets_the_time_range_and_the_client_filters() {
    let sim = Simulator::builder()
        .time_filter_only(true)
        .start()
        .await
        .expect("sim");
    let seeded = seed(&sim);
    let c = Arc::new(client(&sim));
    c.login().await.expect("login");
    let selection = AuditEventFilter {
        event_types: vec!["BROKER_USERAUTHFAILED".into()],
        modules: vec!["Broker".into()],
        severities: vec![],
    };
    // A single query says what Horizon said.
    let refused = c
        .events_matching(T, T + 100, 1000, &selection)
        .await
        .expect_err("400");
    assert!(
        matches!(refused, Error::Status { status: 400, .. }),
        "{refused}"
    );
    // The stream falls back to the time range and filters itself.
    let mut stream = AuditEventStream::builder(c, Cursor::at(T))
        .poll_interval(Duration::from_millis(50))
        .filter(selection)
        .build();
    let want = expected(&seeded, |k, _| k == "BROKER_USERAUTHFAILED");
    let got = read(&mut stream, want.len()).await;
    assert_eq!(ids(&got), want);
    let sent = sim.last_filter().expect("a filter");
    assert!(sent.starts_with(r#"{"type":"Between""#), "{sent}");
    assert_eq!(stream.cursor().time, T + 5, "the cursor passed every event");
}
