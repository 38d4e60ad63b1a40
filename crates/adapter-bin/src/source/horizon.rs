//! Horizon audit events as a pipeline [`Source`]: `horizon_client`'s [`AuditEventStream`]
//! (time windows of at most a page, bounded memory, broken answers read again), its signals as
//! metrics, and the checkpoint: the last delivered millisecond and the ids delivered at it.

use std::sync::Arc;
use std::time::Duration;

use checkpoint::HorizonCheckpoint;
use horizon_client::{AuditEvent, AuditEventFilter, AuditEventStream, Client, Cursor, Signal};
use jiff::Timestamp;

use super::{Batch, Source};
use crate::telemetry::Metrics;

/// Settings of the Horizon source.
#[derive(Debug, Clone)]
pub struct HorizonSourceConfig {
    /// Between polls once caught up.
    pub poll_interval: Duration,
    /// Events per page (1..=1000).
    pub page_size: u32,
    /// Only these types, modules, severities (default: all).
    pub filter: AuditEventFilter,
}

/// Horizon audit events after a cursor.
pub struct HorizonSource {
    stream: AuditEventStream,
    url: Arc<str>,
}

/// What the checkpoint needs of a settled audit event.
#[derive(Debug)]
pub struct HorizonMark {
    url: Arc<str>,
    time: i64,
    id: i64,
}

impl HorizonSource {
    /// Read `client`'s audit events after `start`, reporting into `metrics`; `url` is the
    /// CloudEvent source the checkpoint records.
    pub fn new(
        client: Arc<Client>,
        url: &str,
        start: Cursor,
        config: HorizonSourceConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let stream = AuditEventStream::builder(client, start)
            .page_size(config.page_size)
            .poll_interval(config.poll_interval)
            .filter(config.filter)
            .observe(move |signal| match signal {
                Signal::Up => metrics.set_source_up(true),
                Signal::Down { error, .. } => {
                    metrics.set_source_up(false);
                    if error.is_bad_credentials() {
                        metrics.relogins.inc();
                    }
                }
                Signal::Undecodable { .. } => metrics.undecodable.inc(),
                _ => {}
            })
            .build();
        Self {
            stream,
            url: url.into(),
        }
    }
}

/// How far delivery got: the cursor, and the Horizon URL the checkpoint records.
#[derive(Debug, Clone)]
pub struct HorizonPosition {
    /// The CloudEvent source (`HORIZON_URL`).
    pub url: Arc<str>,
    /// Every event before `time`, and those at `time` with these ids.
    pub cursor: Cursor,
}

impl HorizonPosition {
    /// The position a stored checkpoint records, if it has a time.
    pub fn from_checkpoint(url: &str, cp: &HorizonCheckpoint) -> Option<Self> {
        cp.last_event_time.map(|time| Self {
            url: url.into(),
            cursor: Cursor {
                time,
                ids: cp.last_event_ids.iter().copied().collect(),
            },
        })
    }
}

impl Source for HorizonSource {
    type Event = AuditEvent;
    type Mark = HorizonMark;
    type Checkpoint = HorizonPosition;

    async fn next_batch(&mut self) -> Batch<AuditEvent> {
        let batch = self.stream.next_batch().await;
        Batch {
            events: batch.events,
            caught_up: batch.caught_up,
        }
    }

    fn mark(&self, event: &AuditEvent) -> HorizonMark {
        HorizonMark {
            url: self.url.clone(),
            time: event.time,
            id: event.id,
        }
    }

    fn created(event: &AuditEvent) -> Option<Timestamp> {
        Timestamp::from_millisecond(event.time).ok()
    }

    fn settle(position: &mut Option<HorizonPosition>, mark: HorizonMark) {
        let p = position.get_or_insert_with(|| HorizonPosition {
            url: mark.url.clone(),
            cursor: Cursor::at(mark.time),
        });
        p.cursor.advance_to(mark.time, mark.id);
    }

    fn checkpoint_json(position: &HorizonPosition) -> String {
        HorizonCheckpoint::new(
            &position.url,
            position.cursor.time,
            position.cursor.ids.iter().copied().collect(),
        )
        .to_json()
    }

    fn describe(position: &HorizonPosition) -> String {
        format!(
            "{} ids at {}",
            position.cursor.ids.len(),
            Timestamp::from_millisecond(position.cursor.time)
                .map(|t| t.to_string())
                .unwrap_or_default()
        )
    }

    async fn close(self) {}
}
