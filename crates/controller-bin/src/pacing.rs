//! How often the reconcilers come back to an object and speak about it:
//! per-object exponential backoff with a cap (a source that keeps failing
//! is looked at less and less often, never every few seconds forever),
//! Warning Events recorded at most once per interval for the same reason
//! and message, and the reconcile slots shared between namespaces (one
//! namespace's backlog never holds every slot while another waits).
//!
//! ```
//! use std::time::Duration;
//! use sources_controller::pacing::{Pacing, PacingPolicy};
//!
//! let pacing = Pacing::new(PacingPolicy::default());
//! let first = pacing.not_ready("VSphereSource/ns/s");
//! let second = pacing.not_ready("VSphereSource/ns/s");
//! assert!(second > first);
//! pacing.ready("VSphereSource/ns/s");
//! assert!(pacing.not_ready("VSphereSource/ns/s") <= first + first / 5);
//! ```

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The pacing's settings.
#[derive(Clone, Debug)]
pub struct PacingPolicy {
    /// The first wait before looking again at an object that is not Ready
    /// (5 s); it doubles each time, up to `not_ready_cap`.
    pub not_ready_first: Duration,
    /// The longest wait for an object that is not Ready (2 min): what it
    /// waits for (a sink, a Secret) is not watched, so this is how late a
    /// fix may be noticed.
    pub not_ready_cap: Duration,
    /// The first wait after a failed reconcile (2 s), doubling each time.
    pub error_first: Duration,
    /// The longest wait after failed reconciles (5 min).
    pub error_cap: Duration,
    /// The same Warning (object, reason, message) is recorded at most once
    /// per this interval (10 min).
    pub event_interval: Duration,
    /// Reconciles of one namespace at once (4 of the 8 slots): the others
    /// stay free for other namespaces.
    pub namespace_share: usize,
}

impl Default for PacingPolicy {
    fn default() -> Self {
        Self {
            not_ready_first: Duration::from_secs(5),
            not_ready_cap: Duration::from_secs(120),
            error_first: Duration::from_secs(2),
            error_cap: Duration::from_secs(300),
            event_interval: Duration::from_secs(600),
            namespace_share: usize::from(crate::RECONCILE_CONCURRENCY / 2),
        }
    }
}

/// The pacing state of one reconciler (cheap to share).
#[derive(Debug)]
pub struct Pacing {
    policy: PacingPolicy,
    /// Consecutive reconciles that did not reach Ready, by object, and when.
    attempts: Mutex<HashMap<String, (u32, Instant)>>,
    /// The last recording of each (object, reason): when, and the
    /// message's hash.
    events: Mutex<HashMap<(String, String), (Instant, u64)>>,
    /// Reconciles in flight, by namespace.
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

/// A namespace's reconcile slot; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    ns: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.in_flight.lock()
            && let Some(n) = m.get_mut(&self.ns)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ns);
            }
        }
    }
}

/// `d` with up to a tenth more or less, so objects that failed together do
/// not come back together.
fn jitter(d: Duration) -> Duration {
    let spread = d.as_millis() as u64 / 10;
    if spread == 0 {
        return d;
    }
    let offset = fastrand::u64(0..=2 * spread);
    (d + Duration::from_millis(offset)).saturating_sub(Duration::from_millis(spread))
}

fn backoff(first: Duration, cap: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    jitter(first.saturating_mul(factor).min(cap))
}

impl Pacing {
    /// Pacing under `policy`.
    pub fn new(policy: PacingPolicy) -> Self {
        Self {
            policy,
            attempts: Mutex::default(),
            events: Mutex::default(),
            in_flight: Arc::default(),
        }
    }

    fn attempt(&self, key: &str) -> u32 {
        let now = Instant::now();
        let Ok(mut m) = self.attempts.lock() else {
            return 1;
        };
        // Forget objects not seen for long (deleted ones).
        let stale = self.policy.error_cap * 4;
        if m.len() > 1024 {
            m.retain(|_, (_, at)| now.duration_since(*at) < stale);
        }
        let entry = m.entry(key.to_owned()).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        entry.0
    }

    /// The object `key` is Ready: the next look is the periodic resync.
    pub fn ready(&self, key: &str) {
        if let Ok(mut m) = self.attempts.lock() {
            m.remove(key);
        }
    }

    /// The object `key` is not Ready (yet): when to look again.
    pub fn not_ready(&self, key: &str) -> Duration {
        let n = self.attempt(key);
        backoff(self.policy.not_ready_first, self.policy.not_ready_cap, n)
    }

    /// A reconcile of `key` failed: when to try again.
    pub fn failed(&self, key: &str) -> Duration {
        let n = self.attempt(key);
        backoff(self.policy.error_first, self.policy.error_cap, n)
    }

    /// Whether to record the Warning `reason` with `note` about `key` now:
    /// not when the same was recorded less than the event interval ago.
    pub fn should_record(&self, key: &str, reason: &str, note: &str) -> bool {
        let now = Instant::now();
        let mut hasher = DefaultHasher::new();
        note.hash(&mut hasher);
        let hash = hasher.finish();
        let Ok(mut m) = self.events.lock() else {
            return true;
        };
        if m.len() > 4096 {
            let interval = self.policy.event_interval;
            m.retain(|_, (at, _)| now.duration_since(*at) < interval);
        }
        match m.get(&(key.to_owned(), reason.to_owned())) {
            Some((at, h)) if *h == hash && now.duration_since(*at) < self.policy.event_interval => {
                false
            }
            _ => {
                m.insert((key.to_owned(), reason.to_owned()), (now, hash));
                true
            }
        }
    }

    /// A reconcile slot for namespace `ns`, or `None` when the namespace
    /// already holds its share (then defer for [`Pacing::deferral`]).
    pub fn enter(&self, ns: &str) -> Option<Slot> {
        let mut m = self.in_flight.lock().ok()?;
        let n = m.entry(ns.to_owned()).or_default();
        if *n >= self.policy.namespace_share.max(1) {
            return None;
        }
        *n += 1;
        Some(Slot {
            in_flight: self.in_flight.clone(),
            ns: ns.to_owned(),
        })
    }

    /// The periodic resync `every`, with up to a tenth more or less: objects
    /// created or changed together (a thousand sources applied at once, a
    /// configuration change) do not all come back in the same second.
    pub fn resync(&self, every: Duration) -> Duration {
        jitter(every)
    }

    /// How long a reconcile deferred by [`Pacing::enter`] waits (about a
    /// second).
    pub fn deferral(&self) -> Duration {
        jitter(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_when_ready() {
        let p = Pacing::new(PacingPolicy::default());
        let waits: Vec<Duration> = (0..10).map(|_| p.not_ready("k")).collect();
        for (w, want) in waits
            .iter()
            .zip([5u64, 10, 20, 40, 80, 120, 120, 120, 120, 120])
        {
            let want = Duration::from_secs(want);
            assert!(
                *w >= want - want / 10 && *w <= want + want / 10,
                "{w:?} for {want:?}"
            );
        }
        p.ready("k");
        assert!(p.failed("k") <= Duration::from_millis(2200));
        assert!(p.failed("other") <= Duration::from_millis(2200));
        for _ in 0..20 {
            p.failed("k");
        }
        assert!(p.failed("k") <= Duration::from_secs(330));
    }

    #[test]
    fn the_same_warning_once_per_interval() {
        let p = Pacing::new(PacingPolicy::default());
        assert!(p.should_record("k", "SinkNotFound", "no sink"));
        assert!(!p.should_record("k", "SinkNotFound", "no sink"));
        assert!(p.should_record("k", "SinkNotFound", "another sink"));
        assert!(p.should_record("k", "SecretMissing", "no secret"));
        assert!(p.should_record("other", "SinkNotFound", "no sink"));
    }

    #[test]
    fn a_namespace_holds_at_most_its_share() {
        let p = Pacing::new(PacingPolicy {
            namespace_share: 2,
            ..PacingPolicy::default()
        });
        let a1 = p.enter("a");
        let a2 = p.enter("a");
        assert!(a1.is_some() && a2.is_some());
        assert!(p.enter("a").is_none(), "a's share is taken");
        assert!(p.enter("b").is_some(), "b is not held up by a");
        drop(a1);
        assert!(p.enter("a").is_some());
    }
}
