//! Metrics, health and readiness, served at `/metrics`, `/healthz` and `/readyz`.
//!
//! The metrics are plain atomics rendered in the Prometheus text format; nothing allocates on
//! the per-event path (but for an event type's first count in [`go_names`], the Go adapter's
//! metric names served beside ours).

pub mod go_names;
pub mod tracing_export;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Add `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the delivery latency histogram.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// The adapter's metrics. Names follow `vmware_sources_adapter_*`.
#[derive(Debug)]
pub struct Metrics {
    /// The source kind label (`vsphere`, `horizon`).
    pub source: &'static str,
    /// Events read from the source.
    pub read: Counter,
    /// Events the sink accepted.
    pub sent: Counter,
    /// Attempts that will be retried.
    pub retried: Counter,
    /// Events the dead-letter sink accepted.
    pub dead_lettered: Counter,
    /// Events dropped after a final refusal.
    pub failed: Counter,
    /// Logins after a lost session.
    pub relogins: Counter,
    /// Checkpoints saved.
    pub checkpoints_saved: Counter,
    /// Events that did not decode strictly and were delivered as well as they could be read.
    pub undecodable: Counter,
    /// Times the source started reading anew (an event collector created: at start, after a
    /// lost session or a lost answer).
    pub source_restarts: Counter,
    /// Deliveries in flight.
    in_flight: AtomicI64,
    /// The delivery gate's limit now ([`crate::deliver::Gate`]).
    concurrency_limit: AtomicI64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_sum_micros: AtomicU64,
    latency_count: AtomicU64,
    /// Seconds between an event's creation and its delivery (source clock), last value, in ms.
    lag_millis: AtomicI64,
    /// Unix seconds of the last saved checkpoint (0: none yet).
    checkpoint_unix: AtomicI64,
    source_up: AtomicBool,
    sink_up: AtomicBool,
    /// A standby adapter waiting for the Lease (ready, idle).
    standby: AtomicBool,
    /// Answers 401 from the sink (its identity refused).
    identity_refusals_401: Counter,
    /// Answers 403 from the sink.
    identity_refusals_403: Counter,
    /// Whether the sink's last answer about the adapter's identity was a refusal.
    identity_refused: AtomicBool,
    /// The status of the sink's last refusal of the adapter's identity while it refuses (0:
    /// it does not).
    identity_refusal_status: AtomicU64,
    /// The Go adapter's `event_count` and `retry_event_count`.
    pub go: go_names::GoMetrics,
}

impl Metrics {
    /// Metrics for a source kind.
    pub fn new(source: &'static str) -> Self {
        Self {
            source,
            read: Counter::default(),
            sent: Counter::default(),
            retried: Counter::default(),
            dead_lettered: Counter::default(),
            failed: Counter::default(),
            relogins: Counter::default(),
            checkpoints_saved: Counter::default(),
            undecodable: Counter::default(),
            source_restarts: Counter::default(),
            in_flight: AtomicI64::new(0),
            concurrency_limit: AtomicI64::new(0),
            latency_buckets: Default::default(),
            latency_sum_micros: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            lag_millis: AtomicI64::new(0),
            checkpoint_unix: AtomicI64::new(0),
            source_up: AtomicBool::new(false),
            sink_up: AtomicBool::new(true),
            standby: AtomicBool::new(false),
            identity_refusals_401: Counter::default(),
            identity_refusals_403: Counter::default(),
            identity_refused: AtomicBool::new(false),
            identity_refusal_status: AtomicU64::new(0),
            go: go_names::GoMetrics::default(),
        }
    }

    /// The sink answered 401 or 403: count it; `true` when the sink had not been refusing
    /// (the start of a run of refusals, worth a log line).
    pub fn identity_refusal(&self, status: u16) -> bool {
        match status {
            401 => self.identity_refusals_401.inc(),
            _ => self.identity_refusals_403.inc(),
        }
        self.identity_refusal_status
            .store(u64::from(status), Ordering::Relaxed);
        !self.identity_refused.swap(true, Ordering::Relaxed)
    }

    /// The status of the sink's refusal of the adapter's identity while it refuses it.
    pub fn identity_refusal_status(&self) -> Option<u16> {
        match self.identity_refusal_status.load(Ordering::Relaxed) {
            0 => None,
            s => u16::try_from(s).ok(),
        }
    }

    /// The sink accepted an event: it no longer refuses the adapter's identity. `true` when it
    /// had been refusing.
    pub fn identity_accepted(&self) -> bool {
        self.identity_refusal_status.store(0, Ordering::Relaxed);
        self.identity_refused.swap(false, Ordering::Relaxed)
    }

    /// Record how long a delivery took (first attempt to acceptance).
    pub fn observe_delivery(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Record the lag behind the source for the event just delivered.
    pub fn set_lag(&self, lag: Duration) {
        self.lag_millis.store(
            lag.as_millis().min(i64::MAX as u128) as i64,
            Ordering::Relaxed,
        );
    }

    /// Record how many deliveries are in flight.
    pub fn set_in_flight(&self, n: usize) {
        self.in_flight
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Record the delivery gate's limit.
    pub fn set_concurrency_limit(&self, n: usize) {
        self.concurrency_limit
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Record a saved checkpoint.
    pub fn checkpoint_saved(&self) {
        self.checkpoints_saved.inc();
        self.checkpoint_unix
            .store(jiff::Timestamp::now().as_second(), Ordering::Relaxed);
    }

    /// Whether the source (vCenter, Horizon) answers.
    pub fn set_source_up(&self, up: bool) {
        self.source_up.store(up, Ordering::Relaxed);
    }

    /// Whether the sink accepts events.
    pub fn set_sink_up(&self, up: bool) {
        self.sink_up.store(up, Ordering::Relaxed);
    }

    /// Whether this adapter is a standby waiting for the Lease.
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Relaxed);
    }

    /// Ready: the source answers and the sink is not failing (or a standby, idle by design).
    pub fn is_ready(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
            || (self.source_up.load(Ordering::Relaxed) && self.sink_up.load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let src = self.source;
        let counters: [(&str, &str, &Counter); 9] = [
            (
                "events_read_total",
                "Events read from the source.",
                &self.read,
            ),
            ("events_sent_total", "Events the sink accepted.", &self.sent),
            (
                "events_retried_total",
                "Delivery attempts that were retried.",
                &self.retried,
            ),
            (
                "events_dead_lettered_total",
                "Events sent to the dead-letter sink.",
                &self.dead_lettered,
            ),
            (
                "events_failed_total",
                "Events dropped after a final refusal.",
                &self.failed,
            ),
            (
                "relogins_total",
                "Logins after the source session was lost.",
                &self.relogins,
            ),
            (
                "checkpoints_saved_total",
                "Checkpoints saved.",
                &self.checkpoints_saved,
            ),
            (
                "events_undecodable_total",
                "Events that did not decode: delivered as far as they could be read (or, a Horizon record without a readable id or time, left out and logged).",
                &self.undecodable,
            ),
            (
                "source_restarts_total",
                "Times reading started anew (new event collector: start, lost session, lost answer).",
                &self.source_restarts,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(out, "# HELP vmware_sources_adapter_{name} {help}");
            let _ = writeln!(out, "# TYPE vmware_sources_adapter_{name} counter");
            let _ = writeln!(
                out,
                "vmware_sources_adapter_{name}{{source=\"{src}\"}} {}",
                c.get()
            );
        }
        let name = "vmware_sources_adapter_sink_identity_refusals_total";
        let _ = writeln!(
            out,
            "# HELP {name} Answers 401 or 403 from the sink: it does not (yet) accept the adapter's identity; the events are retried."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (status, c) in [
            (401, &self.identity_refusals_401),
            (403, &self.identity_refusals_403),
        ] {
            let _ = writeln!(
                out,
                "{name}{{source=\"{src}\",status=\"{status}\"}} {}",
                c.get()
            );
        }
        let name = "vmware_sources_adapter_delivery_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from the first attempt to acceptance by the sink."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let n = self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{source=\"{src}\",le=\"{bound}\"}} {n}");
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{source=\"{src}\",le=\"+Inf\"}} {count}");
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{source=\"{src}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{source=\"{src}\"}} {count}");
        let gauges = [
            (
                "lag_seconds",
                "Age of the last delivered event (source clock) at delivery.",
                self.lag_millis.load(Ordering::Relaxed) as f64 / 1000.0,
            ),
            (
                "checkpoint_age_seconds",
                "Seconds since the last saved checkpoint (-1: none yet).",
                {
                    let at = self.checkpoint_unix.load(Ordering::Relaxed);
                    if at == 0 {
                        -1.0
                    } else {
                        (jiff::Timestamp::now().as_second() - at) as f64
                    }
                },
            ),
            (
                "deliveries_in_flight",
                "Events being delivered now.",
                self.in_flight.load(Ordering::Relaxed) as f64,
            ),
            (
                "delivery_concurrency_limit",
                "Requests the adapter lets go to the sink at once now: adapts to the sink's \
                 round trips and push-back, up to DELIVERY_CONCURRENCY.",
                self.concurrency_limit.load(Ordering::Relaxed) as f64,
            ),
            (
                "source_up",
                "1 when the source answers.",
                f64::from(u8::from(self.source_up.load(Ordering::Relaxed))),
            ),
            (
                "sink_up",
                "1 when the sink accepts events.",
                f64::from(u8::from(self.sink_up.load(Ordering::Relaxed))),
            ),
            (
                "standby",
                "1 while this adapter stands by for the source's Lease (spec.replicas: 2).",
                f64::from(u8::from(self.standby.load(Ordering::Relaxed))),
            ),
            (
                "sink_identity_refused",
                "1 while the sink refuses the adapter's identity (its last answer was 401 or 403).",
                f64::from(u8::from(self.identity_refused.load(Ordering::Relaxed))),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP vmware_sources_adapter_{name} {help}");
            let _ = writeln!(out, "# TYPE vmware_sources_adapter_{name} gauge");
            let _ = writeln!(out, "vmware_sources_adapter_{name}{{source=\"{src}\"}} {v}");
        }
        self.go.render(&mut out);
        out
    }
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until `cancel` fires.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let m = metrics.clone();
    let r = metrics.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let r = r.clone();
                async move {
                    if r.is_ready() {
                        (http::StatusCode::OK, "ready")
                    } else {
                        (http::StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let m = Metrics::new("vsphere");
        m.read.add(3);
        m.sent.inc();
        m.observe_delivery(Duration::from_millis(3));
        m.set_source_up(true);
        let text = m.render();
        assert!(
            text.contains("vmware_sources_adapter_events_read_total{source=\"vsphere\"} 3"),
            "{text}"
        );
        assert!(text.contains("vmware_sources_adapter_events_sent_total{source=\"vsphere\"} 1"));
        assert!(
            text.contains("delivery_latency_seconds_bucket{source=\"vsphere\",le=\"0.0025\"} 0")
        );
        assert!(
            text.contains("delivery_latency_seconds_bucket{source=\"vsphere\",le=\"0.005\"} 1")
        );
        assert!(text.contains("delivery_latency_seconds_count{source=\"vsphere\"} 1"));
        assert!(
            text.contains("vmware_sources_adapter_checkpoint_age_seconds{source=\"vsphere\"} -1")
        );
        assert!(m.is_ready());
        m.set_sink_up(false);
        assert!(!m.is_ready());
    }
}
