//! Decoder throughput on a realistic 100-event `ReadNextEvents` page
//! (`tests/fixtures/bench-page-100.xml`, written by `tools/make-bench-page.py`).
//!
//! ```text
//! cargo bench -p vsphere-client --bench decode
//! ```
//!
//! Warms up, then decodes the page repeatedly for about three seconds on one thread (set
//! `DECODE_BENCH_SECS` to change that, e.g. to profile under valgrind). The last line is
//! `decode: <N> events/s per core`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use vsphere_client::decode::decode_events;

const RUN_FOR: Duration = Duration::from_secs(3);

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bench-page-100.xml"
    );
    let page = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let events = decode_events(&page)
        .unwrap_or_else(|e| panic!("{path} does not decode: {e}"))
        .len();
    assert!(events > 0, "{path} has no events");

    // `cargo test --benches` runs benches with `--bench` absent: decode once and stop.
    if !std::env::args().any(|a| a == "--bench") {
        println!("decode: {path} decodes to {events} events (run with `cargo bench` to measure)");
        return;
    }

    let run_for = std::env::var("DECODE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(RUN_FOR, Duration::from_secs_f64);
    let warm_up_for = run_for / 6;
    let warm_until = Instant::now() + warm_up_for;
    let mut warm_up: u64 = 0;
    while Instant::now() < warm_until {
        black_box(decode_events(black_box(&page)).expect("decodes"));
        warm_up += 1;
    }

    let mut iterations: u64 = 0;
    let start = Instant::now();
    let elapsed = loop {
        black_box(decode_events(black_box(&page)).expect("decodes"));
        iterations += 1;
        let elapsed = start.elapsed();
        if elapsed >= run_for {
            break elapsed;
        }
    };

    let per_page = elapsed / u32::try_from(iterations).unwrap_or(u32::MAX);
    let pages_per_sec = iterations as f64 / elapsed.as_secs_f64();
    let events_per_sec = pages_per_sec * events as f64;
    let mib_per_sec = pages_per_sec * page.len() as f64 / (1024.0 * 1024.0);
    println!("page: {path}");
    println!("page size: {} bytes, {events} events", page.len());
    println!("warm-up: {warm_up} iterations in {warm_up_for:?}");
    println!(
        "iterations: {iterations} in {:.3} s, {:.1} µs per page, {mib_per_sec:.1} MiB/s",
        elapsed.as_secs_f64(),
        per_page.as_secs_f64() * 1e6
    );
    println!(
        "decode: {} events/s per core",
        events_per_sec.round() as u64
    );
}
