//! Memory: the allocator both adapters use, and giving freed memory back after a burst.
//!
//! The adapters allocate many small objects per page of events (decoding builds a tree per
//! event). mimalloc serves that about a third faster than glibc's malloc; see
//! `benches/encode-vs-go.sh`, whose pipeline uses the same allocator. Built without transparent
//! huge pages (the `no_thp` feature), so an idle adapter is not charged 2 MiB pages it barely
//! touches. Freed pages go back to the system lazily; [`release_when_quiet`] forces that once a
//! burst (a catch-up, say) is over, so the idle footprint does not keep the burst's peak.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: adapter::runtime::memory::Allocator = adapter::runtime::memory::Allocator;
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::telemetry::Metrics;

/// The global allocator of the adapter binaries (and their benchmarks).
pub use mimalloc::MiMalloc as Allocator;

/// How often activity is sampled; a burst is over after one quiet interval.
const QUIET: Duration = Duration::from_secs(2);

/// Return the allocator's free memory to the system now.
pub fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; it only walks the allocator's own structures.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Quiet intervals after a burst at which free memory is released: at once, and after the
/// sink's idle connections were closed (their buffers freed; `crate::deliver`'s pool closes
/// a connection 30 to 60 s after its last use), which no activity would otherwise follow.
const RELEASE_AFTER: [u32; 3] = [1, 17, 32];

/// Every `QUIET` interval, if events moved before and not since: release free memory one
/// interval after the burst, and twice more while it stays quiet (`RELEASE_AFTER`); nothing
/// is done while idle or busy. Runs until `cancel` fires.
pub async fn release_when_quiet(metrics: Arc<Metrics>, cancel: CancellationToken) {
    let activity = || metrics.read.get() + metrics.sent.get() + metrics.failed.get();
    let mut bursts = BurstEnd::new(activity());
    while !super::sleep_or_cancel(QUIET, &cancel).await {
        if bursts.release_due(activity()) {
            release_free_memory();
            tracing::debug!("released free memory after a burst");
        }
    }
}

/// Tells, from an activity counter sampled at intervals, when to release memory after a burst
/// of activity: the counter moved, then stood still for the intervals in `RELEASE_AFTER`.
struct BurstEnd {
    last: u64,
    /// Quiet intervals since the last burst (`None`: no burst yet).
    quiet: Option<u32>,
}

impl BurstEnd {
    fn new(count: u64) -> Self {
        Self {
            last: count,
            quiet: None,
        }
    }

    /// Take the next sample; `true` when memory is to be released now.
    fn release_due(&mut self, count: u64) -> bool {
        let moved = count != self.last;
        self.last = count;
        if moved {
            self.quiet = Some(0);
            return false;
        }
        let Some(q) = self.quiet.as_mut() else {
            return false;
        };
        *q = q.saturating_add(1);
        RELEASE_AFTER.contains(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_memory_is_safe_at_any_time() {
        let v: Vec<Vec<u8>> = (0..1000).map(|i| vec![0u8; 100 + i]).collect();
        drop(v);
        release_free_memory();
        release_free_memory();
    }

    #[test]
    fn memory_is_released_when_a_burst_ends_and_twice_more_while_quiet() {
        let mut b = BurstEnd::new(0);
        let samples = [0, 0, 5, 9, 9, 9, 12, 12, 20, 30, 40, 40];
        let due: Vec<bool> = samples.iter().map(|&c| b.release_due(c)).collect();
        assert_eq!(
            due,
            [
                false, false, false, false, true, false, false, true, false, false, false, true
            ]
        );
        // Quiet from here: released again after 17 and 32 quiet intervals, then never.
        let later: Vec<usize> = (2..=60).filter(|_| b.release_due(40)).collect();
        assert_eq!(later, [17, 32]);
    }
}
