//! A small, fast CloudEvents sink for `benches/adapter-measure.sh`: answers every POST with 202
//! at once, counts the events, and records per event the receive time minus its `ce-time`
//! (milliseconds, same machine clock).
//!
//! ```text
//! cargo run --release -p adapter-bin --example bench-sink -- [--listen 127.0.0.1:0] \
//!     [--latency-ms 5] [--fail-rate 0.3]
//! ```
//!
//! `--latency-ms` holds every answer that long (a broker in a cluster answers in a few
//! milliseconds); `--fail-rate` answers that share of requests 503 at random (retried by the
//! adapter; only accepted events are counted, refusals are in `refused`).
//!
//! It prints `bench-sink listening on http://ADDR/` once bound. `GET /count` answers the number
//! of events received (plain text, cheap to poll); `GET /stats` answers JSON:
//! `count`, `distinct_ids`, `min_id` and `max_id` (numeric ids), `other_ids` (non-numeric ids),
//! `first_unix_ns` and `last_unix_ns` (receive times), and `latency_ms` with `n`, `p50`, `p90`,
//! `p99` and `max` over the events that carried a parseable `ce-time`. `POST /reset` forgets
//! everything. On SIGTERM or Ctrl-C it prints the stats to stdout and exits.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use jiff::Timestamp;

#[derive(Default)]
struct Recorded {
    count: u64,
    refused: u64,
    numeric_ids: Vec<u64>,
    other_ids: Vec<String>,
    /// Receive time minus `ce-time`, microseconds.
    latencies_us: Vec<i64>,
    first_unix_ns: Option<i128>,
    last_unix_ns: Option<i128>,
}

/// How the sink answers.
#[derive(Debug, Clone, Copy, Default)]
struct Behaviour {
    latency: std::time::Duration,
    fail_rate: f64,
}

type Shared = Arc<Mutex<Recorded>>;

async fn receive(rec: Shared, behaviour: Behaviour, headers: HeaderMap) -> StatusCode {
    if !behaviour.latency.is_zero() {
        tokio::time::sleep(behaviour.latency).await;
    }
    if behaviour.fail_rate > 0.0 && fastrand::f64() < behaviour.fail_rate {
        rec.lock().unwrap_or_else(|e| e.into_inner()).refused += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now = Timestamp::now();
    let latency = headers
        .get("ce-time")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Timestamp>().ok())
        .map(|t| (now.as_nanosecond() - t.as_nanosecond()) / 1000);
    let id = headers.get("ce-id").and_then(|v| v.to_str().ok());
    let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
    r.count += 1;
    match id.map(|i| (i, i.parse::<u64>())) {
        Some((_, Ok(n))) => r.numeric_ids.push(n),
        Some((i, Err(_))) => r.other_ids.push(i.to_owned()),
        None => r.other_ids.push(String::new()),
    }
    if let Some(l) = latency {
        r.latencies_us.push(l as i64);
    }
    let t = now.as_nanosecond();
    r.first_unix_ns.get_or_insert(t);
    r.last_unix_ns = Some(t);
    StatusCode::ACCEPTED
}

fn stats_json(rec: &Shared) -> String {
    let (count, refused, mut ids, mut other, mut lat, first, last) = {
        let r = rec.lock().unwrap_or_else(|e| e.into_inner());
        (
            r.count,
            r.refused,
            r.numeric_ids.clone(),
            r.other_ids.clone(),
            r.latencies_us.clone(),
            r.first_unix_ns,
            r.last_unix_ns,
        )
    };
    ids.sort_unstable();
    ids.dedup();
    other.sort_unstable();
    other.dedup();
    lat.sort_unstable();
    let pct = |p: f64| -> serde_json::Value {
        if lat.is_empty() {
            return serde_json::Value::Null;
        }
        // Nearest rank.
        let rank = ((p / 100.0) * lat.len() as f64).ceil().max(1.0) as usize;
        serde_json::json!(lat[rank.min(lat.len()) - 1] as f64 / 1000.0)
    };
    serde_json::json!({
        "count": count,
        "refused": refused,
        "distinct_ids": ids.len() + other.len(),
        "min_id": ids.first(),
        "max_id": ids.last(),
        "other_ids": other.len(),
        "first_unix_ns": first.map(|t| t as u64),
        "last_unix_ns": last.map(|t| t as u64),
        "latency_ms": {
            "n": lat.len(),
            "p50": pct(50.0),
            "p90": pct(90.0),
            "p99": pct(99.0),
            "max": lat.last().map(|l| *l as f64 / 1000.0),
        },
    })
    .to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut behaviour = Behaviour::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match (arg.as_str(), value) {
            ("--listen", v) if v.parse::<SocketAddr>().is_ok() => {
                listen = v.parse().unwrap_or(listen);
            }
            ("--latency-ms", v) if v.parse::<u64>().is_ok() => {
                behaviour.latency = std::time::Duration::from_millis(v.parse().unwrap_or(0));
            }
            ("--fail-rate", v) if v.parse::<f64>().is_ok_and(|f| (0.0..1.0).contains(&f)) => {
                behaviour.fail_rate = v.parse().unwrap_or(0.0);
            }
            _ => {
                eprintln!("usage: bench-sink [--listen ADDR] [--latency-ms MS] [--fail-rate 0..1]");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let rec: Shared = Arc::default();
    let app = Router::new()
        .route(
            "/stats",
            get(|State(r): State<Shared>| async move { stats_json(&r) }),
        )
        .route(
            "/count",
            get(|State(r): State<Shared>| async move {
                r.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .count
                    .to_string()
            }),
        )
        .route(
            "/reset",
            post(|State(r): State<Shared>| async move {
                *r.lock().unwrap_or_else(|e| e.into_inner()) = Recorded::default();
                "reset\n"
            }),
        )
        .fallback(post(
            move |State(r): State<Shared>, headers: HeaderMap, _body: Bytes| {
                receive(r, behaviour, headers)
            },
        ))
        .with_state(rec.clone())
        // Takes events of any size (benches/adapter-large-answer.sh sends one of 30 MiB).
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-sink: cannot listen on {listen}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(listen);
    println!("bench-sink listening on http://{addr}/");
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        eprintln!("bench-sink: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!("{}", stats_json(&rec));
    std::process::ExitCode::SUCCESS
}
