//! A backlog of 1,000,000 events fits in a few hundred MiB (it needs about 24 MiB of history).
//! Prints the process's resident set size; `scripts/measure-rss.sh` measures the binary.

use std::time::Instant;

use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::{Client, Credentials};
use vsphere_sim::Simulator;

/// `VmRSS` and `VmHWM` of this process, in KiB (Linux).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_event_backlog_stays_small() {
    let (before, _) = rss_kib();
    let started = Instant::now();
    let sim = Simulator::builder()
        .backlog(1_000_000)
        .start()
        .await
        .expect("simulator");
    let filled = started.elapsed();
    let (after_fill, _) = rss_kib();
    // Read the newest and the oldest pages through the client.
    let client = Client::builder(sim.url())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect");
    let root = client.service_content().root_folder.clone();
    let c = client
        .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All))
        .await
        .expect("collector");
    let oldest = c.read_next(1000).await.expect("oldest page");
    assert_eq!(oldest.first().map(|e| e.key()), Some(1));
    c.reset().await.expect("ResetCollector");
    let newest = c.read_previous(1000).await.expect("newest page");
    assert_eq!(
        newest.first().map(|e| e.key()),
        Some(1_000_001),
        "the backlog and our login"
    );
    let (after_read, peak) = rss_kib();
    let history_mib = sim.history_bytes() as f64 / (1 << 20) as f64;
    println!(
        "1,000,000-event backlog: filled in {filled:.2?}; history {history_mib:.1} MiB; \
         RSS {:.1} MiB before, {:.1} MiB after filling, {:.1} MiB after reading; peak {:.1} MiB",
        before as f64 / 1024.0,
        after_fill as f64 / 1024.0,
        after_read as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(history_mib < 40.0, "history {history_mib:.1} MiB");
    if peak > 0 {
        assert!(peak < 300 * 1024, "peak RSS {peak} KiB");
    }
}
