//! Memory: the allocator both adapters use, and giving freed memory back after a burst.
//!
//! The adapters allocate many small objects per page of events (decoding builds a tree per
//! event). mimalloc serves that about a third faster than glibc's malloc; see
//! `benches/encode-vs-go.sh`, whose pipeline uses the same allocator. Built without transparent
//! huge pages (the `no_thp` feature), so an idle adapter is not charged 2 MiB pages it barely
//! touches. Freed pages go back to the system lazily; [`release_when_quiet`] forces that once a
//! burst (a catch-up, say) is over, so the idle footprint does not keep the burst's peak, and
//! [`release_unused_code`] gives back the program's own pages that stay resident without use
//! (after start-up, and at those same moments).
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

/// Give back the pages of the adapter's own program file (code, constants) that are resident
/// but not in use: those start-up ran (argument parsing, settings, logins, TLS set-up) and
/// code that ran only during the burst. The kernel drops them from the process
/// (`madvise(MADV_PAGEOUT)`, Linux 5.4+; clean file pages, nothing is written); code that runs
/// again is read back from the page cache or the file. Only read-only mappings of the
/// executable are touched; where the kernel does not know the advice, nothing happens.
pub fn release_unused_code() {
    #[cfg(target_os = "linux")]
    code::page_out();
}

#[cfg(target_os = "linux")]
mod code {
    /// `MADV_PAGEOUT` (linux/mman.h), not in every libc crate's musl definitions.
    const MADV_PAGEOUT: libc::c_int = 21;

    pub(super) fn page_out() {
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
            return;
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        let exe = exe.to_string_lossy();
        let mut bytes = 0usize;
        for line in maps.lines() {
            let Some((start, end, perms, path)) = parse(line) else {
                continue;
            };
            if path != exe || perms.contains('w') {
                continue;
            }
            // SAFETY: the range is one of this process's mappings, as /proc/self/maps lists
            // it; MADV_PAGEOUT on a read-only file mapping only drops resident pages, whose
            // contents the next access reads back from the file unchanged.
            let rc =
                unsafe { libc::madvise(start as *mut libc::c_void, end - start, MADV_PAGEOUT) };
            if rc == 0 {
                bytes += end - start;
            }
        }
        tracing::debug!(
            bytes,
            "advised the kernel to page out the program's unused pages"
        );
    }

    /// A /proc/self/maps line: start, end, permissions, path.
    fn parse(line: &str) -> Option<(usize, usize, &str, &str)> {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let path = fields.nth(3)?;
        Some((
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
            perms,
            path,
        ))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_maps_line_is_read() {
            let line = "55d0c0a00000-55d0c0b2a000 r-xp 00200000 08:01 1234   /usr/local/bin/vsphere-adapter";
            assert_eq!(
                super::parse(line),
                Some((
                    0x55d0c0a00000,
                    0x55d0c0b2a000,
                    "r-xp",
                    "/usr/local/bin/vsphere-adapter"
                ))
            );
            assert_eq!(
                super::parse("7ffd1000-7ffd2000 rw-p 00000000 00:00 0"),
                None
            );
        }

        fn resident_file_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            status
                .lines()
                .find_map(|l| l.strip_prefix("RssFile:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("RssFile")
        }

        #[test]
        fn paging_out_lowers_the_programs_resident_pages() {
            let before = resident_file_kib();
            super::page_out();
            let after = resident_file_kib();
            assert!(
                after + 256 < before,
                "RssFile {before} KiB before, {after} KiB after"
            );
        }
    }
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
            release_unused_code();
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
