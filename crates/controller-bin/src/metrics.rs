//! Prometheus metrics of the controller, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// (kind, result) to (count, seconds).
type ReconcileCounters = BTreeMap<(String, &'static str), (u64, f64)>;

/// Counters and gauges of the controller.
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: Mutex<ReconcileCounters>,
    leader: AtomicBool,
    ready: AtomicBool,
}

impl Metrics {
    /// Records one reconcile of `kind`.
    pub fn observe_reconcile(&self, kind: &str, ok: bool, took: Duration) {
        let result = if ok { "success" } else { "error" };
        if let Ok(mut map) = self.reconciles.lock() {
            let entry = map.entry((kind.to_owned(), result)).or_default();
            entry.0 += 1;
            entry.1 += took.as_secs_f64();
        }
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Whether this replica leads.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// Sets readiness (`/readyz`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Readiness.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Reconciles counted so far for `kind`, successes and errors.
    pub fn reconcile_count(&self, kind: &str) -> u64 {
        self.reconciles
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|((k, _), _)| k == kind)
                    .map(|(_, (n, _))| *n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP sources_controller_reconcile_total Reconciles by kind and result.\n");
        out.push_str("# TYPE sources_controller_reconcile_total counter\n");
        let map = self
            .reconciles
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        for ((kind, result), (n, _)) in &map {
            let _ = writeln!(
                out,
                "sources_controller_reconcile_total{{kind=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP sources_controller_reconcile_seconds_total Time spent reconciling.\n");
        out.push_str("# TYPE sources_controller_reconcile_seconds_total counter\n");
        for ((kind, result), (_, secs)) in &map {
            let _ = writeln!(
                out,
                "sources_controller_reconcile_seconds_total{{kind=\"{kind}\",result=\"{result}\"}} {secs}"
            );
        }
        out.push_str("# HELP sources_controller_leader 1 when this replica holds the lease.\n");
        out.push_str("# TYPE sources_controller_leader gauge\n");
        let _ = writeln!(
            out,
            "sources_controller_leader {}",
            u8::from(self.is_leader())
        );
        out
    }
}
