//! A small, fast CloudEvents sink for `benches/adapter-measure.sh`: answers every POST with 202
//! at once, counts the events, and records per event the receive time minus its `ce-time`
//! (milliseconds, same machine clock).
//!
//! ```text
//! cargo run --release -p adapter-bin --example bench-sink -- [--listen 127.0.0.1:0] \
//!     [--latency-ms 5] [--latency-under-load-ms 50 --load-requests 64] \
//!     [--fail-rate 0.3] [--fail-status 429] [--capacity 8]
//! ```
//!
//! `--latency-ms` holds every answer that long (a broker in a cluster answers in a few
//! milliseconds); with `--latency-under-load-ms` the hold rises linearly with the requests in
//! progress, from `--latency-ms` for one to that for `--load-requests` (default 64) and more (a
//! broker that queues what it cannot serve at once); `--fail-rate` answers that share of
//! requests `--fail-status` (default 503) at random, and `--capacity` answers it at once to any
//! request that comes while that many are in progress (a broker at its capacity). Refusals are
//! retried by the adapter; only accepted events are counted, refusals are in `refused`.
//!
//! It prints `bench-sink listening on http://ADDR/` once bound. `GET /count` answers the number
//! of events received (plain text, cheap to poll); `GET /stats` answers JSON:
//! `count`, `distinct_ids`, `min_id` and `max_id` (numeric ids), `other_ids` (non-numeric ids),
//! `first_unix_ns` and `last_unix_ns` (receive times), and `latency_ms` with `n`, `p50`, `p90`,
//! `p99` and `max` over the events that carried a parseable `ce-time`, `service_ms` (`p50`,
//! `p99`: how long the sink held each request) and `in_progress` (`p50`, `max`: requests in
//! progress when each arrived, itself included). `POST /reset` forgets
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
    /// How long each request was held, microseconds.
    service_us: Vec<i64>,
    /// Requests in progress as each arrived (itself included).
    in_progress: Vec<i64>,
}

/// How the sink answers.
#[derive(Debug, Clone, Copy)]
struct Behaviour {
    latency: std::time::Duration,
    /// The hold with `load_requests` or more requests in progress.
    latency_under_load: Option<std::time::Duration>,
    load_requests: u32,
    fail_rate: f64,
    fail_status: StatusCode,
    /// Requests in progress beyond which a request is refused at once.
    capacity: Option<u32>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            latency: std::time::Duration::ZERO,
            latency_under_load: None,
            load_requests: 64,
            fail_rate: 0.0,
            fail_status: StatusCode::SERVICE_UNAVAILABLE,
            capacity: None,
        }
    }
}

impl Behaviour {
    /// How long to hold a request that arrived with `n` in progress (itself included).
    fn hold(&self, n: u32) -> std::time::Duration {
        let Some(top) = self.latency_under_load else {
            return self.latency;
        };
        let span = self.load_requests.saturating_sub(1).max(1);
        let share = f64::from(n.saturating_sub(1).min(span)) / f64::from(span);
        let base = self.latency.as_secs_f64();
        std::time::Duration::from_secs_f64(base + (top.as_secs_f64() - base) * share)
    }
}

type Shared = Arc<Mutex<Recorded>>;

static IN_PROGRESS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Counts a request in progress while alive.
struct InProgress;

impl InProgress {
    fn enter() -> (Self, u32) {
        let n = IN_PROGRESS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        (Self, n)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        IN_PROGRESS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn receive(rec: Shared, behaviour: Behaviour, headers: HeaderMap) -> StatusCode {
    let (_guard, n) = InProgress::enter();
    if behaviour.capacity.is_some_and(|c| n > c) {
        rec.lock().unwrap_or_else(|e| e.into_inner()).refused += 1;
        return behaviour.fail_status;
    }
    let hold = behaviour.hold(n);
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    {
        let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
        r.in_progress.push(i64::from(n));
        r.service_us.push(hold.as_micros() as i64);
    }
    if behaviour.fail_rate > 0.0 && fastrand::f64() < behaviour.fail_rate {
        rec.lock().unwrap_or_else(|e| e.into_inner()).refused += 1;
        return behaviour.fail_status;
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
    let (count, refused, mut ids, mut other, mut lat, first, last, mut service, mut load) = {
        let r = rec.lock().unwrap_or_else(|e| e.into_inner());
        (
            r.count,
            r.refused,
            r.numeric_ids.clone(),
            r.other_ids.clone(),
            r.latencies_us.clone(),
            r.first_unix_ns,
            r.last_unix_ns,
            r.service_us.clone(),
            r.in_progress.clone(),
        )
    };
    service.sort_unstable();
    load.sort_unstable();
    ids.sort_unstable();
    ids.dedup();
    other.sort_unstable();
    other.dedup();
    lat.sort_unstable();
    // Nearest rank; `scale` divides the value.
    let rank_of = |v: &[i64], p: f64, scale: f64| -> serde_json::Value {
        if v.is_empty() {
            return serde_json::Value::Null;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        serde_json::json!(v[rank.min(v.len()) - 1] as f64 / scale)
    };
    let pct = |p: f64| rank_of(&lat, p, 1000.0);
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
        "service_ms": {
            "p50": rank_of(&service, 50.0, 1000.0),
            "p99": rank_of(&service, 99.0, 1000.0),
        },
        "in_progress": {
            "p50": rank_of(&load, 50.0, 1.0),
            "max": load.last(),
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
            ("--latency-under-load-ms", v) if v.parse::<u64>().is_ok() => {
                behaviour.latency_under_load =
                    Some(std::time::Duration::from_millis(v.parse().unwrap_or(0)));
            }
            ("--load-requests", v) if v.parse::<u32>().is_ok_and(|n| n >= 2) => {
                behaviour.load_requests = v.parse().unwrap_or(64);
            }
            ("--fail-rate", v) if v.parse::<f64>().is_ok_and(|f| (0.0..1.0).contains(&f)) => {
                behaviour.fail_rate = v.parse().unwrap_or(0.0);
            }
            ("--capacity", v) if v.parse::<u32>().is_ok_and(|n| n >= 1) => {
                behaviour.capacity = v.parse().ok();
            }
            ("--fail-status", v)
                if v.parse::<u16>()
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .is_some() =>
            {
                behaviour.fail_status = v
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            }
            _ => {
                eprintln!(
                    "usage: bench-sink [--listen ADDR] [--latency-ms MS] \
                     [--latency-under-load-ms MS] [--load-requests N] [--fail-rate 0..1] \
                     [--fail-status STATUS] [--capacity N]"
                );
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
