//! Reading Horizon audit events: poll with the `Between` filter from the last read
//! millisecond, every page, oldest first, skipping the ids already read at that millisecond.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use checkpoint::HorizonCheckpoint;
use horizon_client::{AuditEvent, Client, MAX_PAGE_SIZE};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::deliver::{Backoff, jitter};
use crate::telemetry::Metrics;

/// Upper bound of every query: now + 24 h, as upstream (a buffer against clock skew).
const TO_BUFFER_MS: i64 = 24 * 3600 * 1000;

/// How far reading got: every event before `time` and those at `time` with an id in `ids`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Unix milliseconds.
    pub time: i64,
    /// Ids already handled at `time`.
    pub ids: BTreeSet<i64>,
}

impl Cursor {
    /// Whether `e` comes after the cursor (not yet handled).
    pub fn is_new(&self, e: &AuditEvent) -> bool {
        e.time > self.time || (e.time == self.time && !self.ids.contains(&e.id))
    }

    /// Move past `e` (events must come in (time, id) order).
    pub fn advance(&mut self, e: &AuditEvent) {
        if e.time > self.time {
            self.time = e.time;
            self.ids.clear();
        }
        self.ids.insert(e.id);
    }

    /// From a stored checkpoint.
    pub fn from_checkpoint(cp: &HorizonCheckpoint) -> Option<Self> {
        cp.last_event_time.map(|time| Self {
            time,
            ids: cp.last_event_ids.iter().copied().collect(),
        })
    }
}

/// Reader settings.
#[derive(Debug, Clone)]
pub struct ReaderConfig {
    /// Between polls.
    pub poll_interval: Duration,
    /// Events per page.
    pub page_size: u32,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            page_size: MAX_PAGE_SIZE,
        }
    }
}

/// Unix milliseconds now (this host's clock; only used for the query's upper bound).
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Where a first start (no checkpoint) begins: after the newest event Horizon holds (by
/// Horizon's clock, so host clock skew cannot drop events), or `replay` before it.
pub async fn initial_cursor(
    client: &Client,
    replay: Duration,
) -> Result<Cursor, horizon_client::Error> {
    let page = client.audit_events_page(None, 1, MAX_PAGE_SIZE).await?;
    let Some(newest) = page.events.iter().map(|e| e.time).max() else {
        return Ok(Cursor::default());
    };
    if !replay.is_zero() {
        let back = i64::try_from(replay.as_millis()).unwrap_or(i64::MAX);
        return Ok(Cursor {
            time: newest.saturating_sub(back),
            ids: BTreeSet::new(),
        });
    }
    Ok(Cursor {
        time: newest,
        ids: page
            .events
            .iter()
            .filter(|e| e.time == newest)
            .map(|e| e.id)
            .collect(),
    })
}

/// Poll until `stop` fires (or the receiver is gone), sending every new event in order.
/// Errors (Horizon down, 409, refused login) are logged and retried with backoff; nothing
/// moves the cursor but an event handed to `tx`.
pub async fn read_events(
    client: Arc<Client>,
    mut cursor: Cursor,
    config: ReaderConfig,
    tx: mpsc::Sender<AuditEvent>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        factor: 2.0,
    };
    let mut failures = 0u32;
    loop {
        let wait = match client
            .events_between(cursor.time, now_ms() + TO_BUFFER_MS, config.page_size)
            .await
        {
            Ok(events) => {
                metrics.set_source_up(true);
                failures = 0;
                let mut sent = 0usize;
                for e in events {
                    if !cursor.is_new(&e) {
                        continue;
                    }
                    cursor.advance(&e);
                    metrics.read.inc();
                    sent += 1;
                    tokio::select! {
                        r = tx.send(e) => if r.is_err() { return },
                        _ = stop.cancelled() => return,
                    }
                }
                if sent > 0 {
                    debug!(events = sent, time = cursor.time, "read audit events");
                }
                config.poll_interval
            }
            Err(e) => {
                metrics.set_source_up(false);
                failures += 1;
                let wait = backoff.delay(failures, None, jitter());
                if e.is_bad_credentials() {
                    metrics.relogins.inc();
                    warn!(error = %e, retry_in_s = wait.as_secs_f64(), "Horizon refused the credentials");
                } else {
                    warn!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot read Horizon audit events; retrying");
                }
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => {
                info!("reader stopped");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time: i64, id: i64) -> AuditEvent {
        AuditEvent {
            id,
            time,
            ..AuditEvent::default()
        }
    }

    #[test]
    fn cursor_skips_handled_ids_at_its_millisecond_only() {
        let mut c = Cursor::default();
        c.advance(&ev(10, 5));
        c.advance(&ev(10, 3));
        assert!(!c.is_new(&ev(10, 5)) && !c.is_new(&ev(9, 100)));
        assert!(c.is_new(&ev(10, 4)) && c.is_new(&ev(11, 5)));
        c.advance(&ev(11, 1));
        assert_eq!(c.ids.iter().copied().collect::<Vec<_>>(), [1]);
        let cp = HorizonCheckpoint::new("s", 11, vec![1]);
        assert_eq!(Cursor::from_checkpoint(&cp), Some(c));
    }
}
