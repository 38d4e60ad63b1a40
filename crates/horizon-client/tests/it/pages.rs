//! Reading pages: order, ties, the inclusive `Between` filter, the size limit.

use horizon_client::{BetweenFilter, Client, Credentials, Error};
use horizon_sim::Simulator;

use crate::client;

#[tokio::test]
async fn reads_every_page_oldest_first_with_ties() {
    let sim = Simulator::builder().start().await.expect("sim");
    let t = 1_700_000_000_000;
    let mut ids = sim.add_events_at(t, 5); // five in one millisecond
    for i in 1..=2400 {
        ids.extend(sim.add_events_at(t + i, 1));
    }
    let c = client(&sim);
    c.login().await.expect("login");
    let page = c
        .audit_events_page(Some(&BetweenFilter::time(t, t + 10_000)), 1, 1000)
        .await
        .expect("page");
    assert!(page.has_more);
    assert_eq!(page.events[0].time, t + 2400, "newest first");
    let events = c.events_between(t, t + 10_000, 1000).await.expect("events");
    assert_eq!(events.len(), ids.len());
    assert!(
        events
            .windows(2)
            .all(|w| (w[0].time, w[0].id) < (w[1].time, w[1].id))
    );
    let mut want = ids.clone();
    want.sort_unstable();
    let mut got: Vec<i64> = events.iter().map(|e| e.id).collect();
    got.sort_unstable();
    assert_eq!(got, want);
    // Ids are not ordered by time.
    assert!(events.windows(2).any(|w| w[0].id > w[1].id));
    // The Between filter is inclusive at both ends.
    let edge = c.events_between(t, t, 10).await.expect("edge");
    assert_eq!(edge.len(), 5);
    assert!(matches!(
        c.audit_events_page(None, 1, 1001).await,
        Err(Error::PageSize(1001))
    ));
}

/// An answer larger than the limit fails clearly instead of filling memory, and the next page
/// is read as usual; without the limit the same (valid, whitespace-padded) answer decodes.
#[tokio::test]
async fn an_oversized_answer_fails_at_the_limit() {
    use horizon_sim::PageFault;
    let sim = Simulator::builder().start().await.expect("sim");
    let t = 1_700_000_000_000;
    sim.add_events_at(t, 3);
    let limited = Client::builder(&sim.url())
        .expect("url")
        .credentials(Credentials::new(sim.domain(), sim.username(), sim.password()).expect("creds"))
        .max_response_bytes(256 << 10)
        .build()
        .expect("client");
    limited.login().await.expect("login");
    let filter = BetweenFilter::time(t, t);

    sim.break_pages(&[PageFault::Oversized(4 << 20)]);
    let e = limited
        .audit_events_page(Some(&filter), 1, 10)
        .await
        .expect_err("4 MiB against a 256 KiB limit");
    assert!(
        matches!(e, Error::ResponseTooLarge { limit: 262_144, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("262144-byte limit"), "{e}");
    let page = limited
        .audit_events_page(Some(&filter), 1, 10)
        .await
        .expect("the next answer");
    assert_eq!(page.events.len(), 3);

    let c = client(&sim);
    c.login().await.expect("login");
    sim.break_pages(&[PageFault::Oversized(4 << 20)]);
    let page = c
        .audit_events_page(Some(&filter), 1, 10)
        .await
        .expect("4 MiB is under the default limit");
    assert_eq!(page.events.len(), 3);
}
