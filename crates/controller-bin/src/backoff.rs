//! The backoff every watch of the controller uses when the API server
//! fails or is away: 500 ms doubling to 8 s, each wait stretched by up to a
//! quarter at random (so replicas and watches do not retry in step), and
//! back to 500 ms once a watch has gone 60 s without an error.
//!
//! kube-runtime's `default_backoff()` caps at 30 s and its jitter doubles
//! that: after an API server outage of a minute a watch could wait another
//! minute before it looked again, and the controller reconciled nothing
//! meanwhile. With this one a watch is back within about 10 s of the API
//! server, and an outage still costs a handful of requests per watch.
//!
//! ```
//! use kube::runtime::{WatchStreamExt, watcher};
//! # fn demo(api: kube::Api<k8s_openapi::api::core::v1::ConfigMap>) {
//! let events = watcher(api, watcher::Config::default())
//!     .backoff(sources_controller::backoff::watch_backoff());
//! # }
//! ```

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use kube::runtime::utils::{Backoff, ResetTimerBackoff};

/// The first wait after an error.
pub const FIRST: Duration = Duration::from_millis(500);
/// The longest wait before jitter.
pub const CAP: Duration = Duration::from_secs(8);
/// A watch this long without an error starts again from [`FIRST`].
pub const RESET_AFTER: Duration = Duration::from_secs(60);

/// The backoff for a watch (see the module docs).
pub fn watch_backoff() -> ResetTimerBackoff<Exponential> {
    ResetTimerBackoff::new(Exponential::default(), RESET_AFTER)
}

/// [`FIRST`] doubling up to [`CAP`], each wait plus up to 25 % jitter.
#[derive(Debug)]
pub struct Exponential {
    next: Duration,
    random: u64,
}

impl Default for Exponential {
    fn default() -> Self {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        Self {
            next: FIRST,
            random: h.finish() | 1,
        }
    }
}

impl Iterator for Exponential {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        // xorshift64: enough to spread retries apart.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        let base = self.next;
        self.next = (self.next * 2).min(CAP);
        let quarter = u64::try_from(base.as_millis() / 4).unwrap_or(0);
        let jitter = if quarter == 0 {
            0
        } else {
            self.random % quarter
        };
        Some(base + Duration::from_millis(jitter))
    }
}

impl Backoff for Exponential {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_at_most_a_quarter_more_and_resets() {
        let mut b = Exponential::default();
        let waits: Vec<Duration> = b.by_ref().take(8).collect();
        let bases = [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000];
        for (wait, base) in waits.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(*wait >= base && *wait <= base + base / 4, "{waits:?}");
        }
        b.reset();
        let first = b.next().unwrap_or_default();
        assert!(first >= FIRST && first <= FIRST + FIRST / 4, "{first:?}");
    }
}
