//! Throughput of our per-page pipeline, as `benches/encode-vs-go.sh` runs it: decode a
//! `ReadNextEvents` page (vsphere-client), then encode every event's payload (JSON, then XML)
//! into a reused buffer, with the adapters' allocator (mimalloc). Single thread. Prints `ours json <N> events/s` and `ours xml <N> events/s`.
//!
//! ```text
//! cargo run --release -p cloudevent-encode --example encode-bench -- [--seconds 3] PAGE.xml
//! ```

use std::process::ExitCode;

/// The adapters' allocator (`adapter::runtime::memory::Allocator`), so this measures their pipeline.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let mut seconds = 3.0f64;
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => match args.next().and_then(|s| s.parse().ok()) {
                Some(s) => seconds = s,
                None => {
                    eprintln!("encode-bench: --seconds needs a number");
                    return ExitCode::FAILURE;
                }
            },
            other => file = Some(other.to_owned()),
        }
    }
    let Some(file) = file else {
        eprintln!("usage: encode-bench [--seconds N] PAGE.xml");
        return ExitCode::FAILURE;
    };
    let page = match std::fs::read(&file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("encode-bench: reading {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let per_page = match vsphere_client::decode::decode_events(&page) {
        Ok(events) => events.len(),
        Err(e) => {
            eprintln!("encode-bench: decoding {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buf = Vec::with_capacity(1 << 16);
    if std::env::var_os("ENCODE_BENCH_PARTS").is_some() {
        parts(&page, seconds);
    }
    for (name, xml) in [("json", false), ("xml", true)] {
        let mut run = || {
            let events = vsphere_client::decode::decode_events(&page).unwrap_or_default();
            let mut bytes = 0usize;
            for event in &events {
                buf.clear();
                if xml {
                    cloudevent_encode::encode_xml(event.object(), &mut buf);
                } else {
                    cloudevent_encode::encode_json(event.object(), &mut buf);
                }
                bytes += buf.len();
            }
            std::hint::black_box(bytes);
        };
        for _ in 0..3 {
            run();
        }
        let start = Instant::now();
        let mut pages = 0usize;
        while start.elapsed() < Duration::from_secs_f64(seconds) {
            run();
            pages += 1;
        }
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "ours {name} {:.0} events/s ({pages} pages of {per_page} events in {elapsed:.2}s)",
            (pages * per_page) as f64 / elapsed
        );
    }
    ExitCode::SUCCESS
}

/// Decode alone and encode alone (`ENCODE_BENCH_PARTS=1`), to see where the time goes.
fn parts(page: &[u8], seconds: f64) {
    let measure = |name: &str, f: &mut dyn FnMut() -> usize| {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < Duration::from_secs_f64(seconds) {
            n += f();
        }
        println!(
            "parts {name} {:.0} events/s",
            n as f64 / start.elapsed().as_secs_f64()
        );
    };
    measure("decode", &mut || {
        vsphere_client::decode::decode_events(page)
            .map(|e| e.len())
            .unwrap_or_default()
    });
    let events = vsphere_client::decode::decode_events(page).unwrap_or_default();
    let mut buf = Vec::with_capacity(1 << 16);
    measure("encode-json", &mut || {
        for e in &events {
            buf.clear();
            cloudevent_encode::encode_json(e.object(), &mut buf);
        }
        events.len()
    });
    measure("encode-xml", &mut || {
        for e in &events {
            buf.clear();
            cloudevent_encode::encode_xml(e.object(), &mut buf);
        }
        events.len()
    });
}
