//! Reading: vCenter's event history, in order, from a resume point, without gaps.
//!
//! The reader owns the event collector. It reads pages in ascending key order and hands events
//! to the delivery side through a bounded channel, so the next page is fetched while the current
//! one is delivered and memory stays bounded. When the history is drained it waits on the
//! collector's `latestPage` (`WaitForUpdatesEx`) instead of polling. A lost session (the client
//! logs in again by itself) or a vanished collector means a new collector from the last event
//! read, skipping what was already read; vCenter being unreachable means backoff, never exit.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use vsphere_client::events::{EventCollector, EventFilterSpec, LatestPageWatch, Recursion};
use vsphere_client::{Client, Event};

use crate::deliver::Backoff;
use crate::telemetry::Metrics;

/// The last event read (or the begin time before any): reading resumes here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Events created before this time were read.
    pub time: Timestamp,
    /// The key of the last event read at `time`, if known: events at `time` up to this key
    /// (in key order, wrap-aware) were read too.
    pub key: Option<i64>,
}

impl Position {
    /// Whether `event` was already read (it is at or before this position).
    pub fn covers(&self, created: Timestamp, key: i64) -> bool {
        if created < self.time {
            return true;
        }
        match self.key {
            Some(last) if created == self.time => key_at_or_before(key, last),
            _ => false,
        }
    }
}

/// vSphere event keys are `int32` and can wrap: compare them as serial numbers.
fn key_at_or_before(key: i64, last: i64) -> bool {
    let diff = (last as i32).wrapping_sub(key as i32);
    diff >= 0
}

/// Settings for [`read_events`].
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Events per `ReadNextEvents` (1..=1000).
    pub page_size: i32,
    /// Longest single `WaitForUpdatesEx` wait when idle.
    pub idle_wait: Duration,
    /// Waits between attempts while vCenter is unreachable.
    pub backoff: Backoff,
    /// Only events with these type names or `eventTypeId`s (empty: all).
    pub event_types: Vec<String>,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            page_size: 100,
            idle_wait: Duration::from_secs(60),
            backoff: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(30),
                factor: 2.0,
            },
            event_types: Vec::new(),
        }
    }
}

/// Read events from `start` on and send them to `out` until `cancel` fires or `out` closes.
pub async fn read_events(
    client: Client,
    start: Position,
    config: ReaderConfig,
    out: mpsc::Sender<Event>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let root = client.service_content().root_folder.clone();
    let mut position = start;
    let mut collector: Option<EventCollector> = None;
    let mut watch: Option<LatestPageWatch> = None;
    let mut failures = 0u32;
    let mut relogins_seen = client.relogins();
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let relogins = client.relogins();
        if relogins > relogins_seen {
            metrics.relogins.add(relogins - relogins_seen);
            relogins_seen = relogins;
        }
        // A collector for the current session, beginning at the position.
        let current = match collector.take() {
            Some(c) if c.is_current() => c,
            _ => {
                watch = None;
                let filter = EventFilterSpec::new()
                    .entity(root.clone(), Recursion::All)
                    .begin_time(position.time)
                    .event_type_ids(config.event_types.iter().cloned());
                match client.create_event_collector(&filter).await {
                    Ok(c) => {
                        debug!(begin = %position.time, "created event collector");
                        c
                    }
                    Err(e) => {
                        failures += 1;
                        metrics.set_source_up(false);
                        let wait = config
                            .backoff
                            .delay(failures, None, crate::deliver::jitter());
                        warn!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot create an event collector");
                        if crate::sleep_or_cancel(wait, &cancel).await {
                            break;
                        }
                        continue;
                    }
                }
            }
        };
        let page = match current.read_next(config.page_size).await {
            Ok(page) => page,
            Err(e) => {
                let gone = !current.is_current() || e.is_object_gone();
                if gone || e.is_session_lost() {
                    info!(error = %e, "event collector lost with the session; creating a new one");
                    continue; // collector dropped: recreated from the position
                }
                failures += 1;
                metrics.set_source_up(false);
                let wait = config
                    .backoff
                    .delay(failures, None, crate::deliver::jitter());
                warn!(error = %e, retry_in_s = wait.as_secs_f64(), "reading events failed");
                collector = Some(current);
                if crate::sleep_or_cancel(wait, &cancel).await {
                    break;
                }
                continue;
            }
        };
        failures = 0;
        metrics.set_source_up(true);
        let drained = page.len() < config.page_size as usize;
        for event in page {
            let Some(created) = event.created_time() else {
                warn!(
                    key = event.key(),
                    event_type = event.type_name(),
                    "event without createdTime; delivering it"
                );
                metrics.read.inc();
                if send_or_cancel(&out, event, &cancel).await {
                    return;
                }
                continue;
            };
            let key = event.key();
            if position.covers(created, key) {
                debug!(key, "skipping an event read before");
                continue;
            }
            metrics.read.inc();
            if send_or_cancel(&out, event, &cancel).await {
                return;
            }
            position = Position {
                time: created,
                key: Some(key),
            };
        }
        if !drained {
            collector = Some(current);
            continue;
        }
        // Drained: wait for latestPage to change (or the idle timeout) before reading again.
        let w = match watch.as_mut() {
            Some(w) => w,
            None => match current.watch_latest_page().await {
                Ok(w) => {
                    // The watch's baseline is latestPage as it is now, which may already hold
                    // events that arrived after the read above: read once more before waiting
                    // for a change, or they would wait for the next event (or the idle timeout).
                    watch = Some(w);
                    collector = Some(current);
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "cannot watch the collector; polling once per second");
                    collector = Some(current);
                    if crate::sleep_or_cancel(Duration::from_secs(1), &cancel).await {
                        break;
                    }
                    continue;
                }
            },
        };
        tokio::select! {
            r = w.wait(config.idle_wait) => {
                if let Err(e) = r {
                    debug!(error = %e, "latestPage wait failed; watching anew");
                    watch = None;
                }
            }
            _ = cancel.cancelled() => break,
        }
        collector = Some(current);
    }
    // Best-effort cleanup; a hanging vCenter must not hold up shutdown (the objects die with
    // the session anyway).
    let cleanup = Duration::from_secs(3);
    if let Some(w) = watch {
        let _ = tokio::time::timeout(cleanup, w.close()).await;
    }
    if let Some(c) = collector {
        let _ = tokio::time::timeout(cleanup, c.destroy()).await;
    }
}

/// Send; `true` when cancelled or the receiver is gone.
async fn send_or_cancel(
    out: &mpsc::Sender<Event>,
    event: Event,
    cancel: &CancellationToken,
) -> bool {
    tokio::select! {
        r = out.send(event) => r.is_err(),
        _ = cancel.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    #[test]
    fn position_covers_earlier_events_and_the_boundary() {
        let p = Position {
            time: t("2026-11-27T10:00:00Z"),
            key: Some(41),
        };
        assert!(p.covers(t("2026-11-27T09:59:59Z"), 99));
        assert!(p.covers(t("2026-11-27T10:00:00Z"), 41));
        assert!(p.covers(t("2026-11-27T10:00:00Z"), 40));
        assert!(!p.covers(t("2026-11-27T10:00:00Z"), 42));
        assert!(!p.covers(t("2026-11-27T10:00:01Z"), 1));
        let no_key = Position { key: None, ..p };
        assert!(
            !no_key.covers(t("2026-11-27T10:00:00Z"), 41),
            "a timestamp-only checkpoint replays its second"
        );
    }

    #[test]
    fn keys_wrap_around_int32() {
        assert!(key_at_or_before(i32::MAX as i64, i32::MIN as i64));
        assert!(!key_at_or_before(i32::MIN as i64, i32::MAX as i64));
        assert!(key_at_or_before(5, 5));
        assert!(!key_at_or_before(6, 5));
    }
}
