//! vCenter's event history as a pipeline [`Source`]: `vsphere_client`'s [`EventStream`] (which
//! survives lost answers, lost sessions, poison events and outages), with its signals turned
//! into metrics, and the Go adapter's checkpoint.

use std::sync::Arc;
use std::time::Duration;

use checkpoint::Checkpoint;
use jiff::Timestamp;
use vsphere_client::Event;
use vsphere_client::events::{EventSelection, EventStream, Position, Signal};

use super::{Batch, Source};
use crate::telemetry::Metrics;

/// Settings of the vCenter source.
#[derive(Debug, Clone)]
pub struct VsphereSourceConfig {
    /// Events per `ReadNextEvents` (1..=1000).
    pub page_size: i32,
    /// Longest single `WaitForUpdatesEx` wait when idle.
    pub idle_wait: Duration,
    /// Which events: types, categories, entity, users (default: all).
    pub selection: EventSelection,
    /// How far back vCenter's clock may step and lose nothing (see
    /// `EventStreamBuilder::clock_step_allowance`).
    pub clock_step: Duration,
}

impl Default for VsphereSourceConfig {
    fn default() -> Self {
        Self {
            page_size: 100,
            idle_wait: Duration::from_secs(60),
            selection: EventSelection::default(),
            clock_step: Duration::from_secs(60),
        }
    }
}

/// vCenter events from a position on.
pub struct VsphereSource {
    stream: EventStream,
    /// The CloudEvent source (the vCenter URL), which the checkpoint records.
    vcenter: Arc<str>,
}

/// What the checkpoint needs of a settled vCenter event.
#[derive(Debug)]
pub struct VsphereMark {
    vcenter: Arc<str>,
    key: i64,
    kind: Box<str>,
    created: Option<Timestamp>,
}

impl VsphereSource {
    /// Read `client`'s events from `start`, reporting into `metrics`.
    pub fn new(
        client: vsphere_client::Client,
        start: Position,
        config: VsphereSourceConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let vcenter: Arc<str> = client.endpoint().as_str().into();
        let stream = EventStream::builder(client, start)
            .page_size(config.page_size)
            .idle_wait(config.idle_wait)
            .select(config.selection)
            .clock_step_allowance(config.clock_step)
            .observe(move |signal| match signal {
                Signal::Up => metrics.set_source_up(true),
                Signal::Down { .. } => metrics.set_source_up(false),
                Signal::Relogin => metrics.relogins.inc(),
                Signal::CollectorCreated => metrics.source_restarts.inc(),
                Signal::Undecodable { .. } => metrics.undecodable.inc(),
                _ => {}
            })
            .build();
        Self { stream, vcenter }
    }
}

impl Source for VsphereSource {
    type Event = Event;
    type Mark = VsphereMark;
    type Checkpoint = Checkpoint;

    async fn next_batch(&mut self) -> Batch<Event> {
        let page = self.stream.next_page().await;
        Batch {
            events: page.events,
            caught_up: page.caught_up,
        }
    }

    fn mark(&self, event: &Event) -> Self::Mark {
        VsphereMark {
            vcenter: self.vcenter.clone(),
            key: event.key(),
            kind: event.kind_name().into(),
            created: event.created_time(),
        }
    }

    fn created(event: &Event) -> Option<Timestamp> {
        event.created_time()
    }

    fn settle(checkpoint: &mut Option<Checkpoint>, mark: VsphereMark) {
        // An event without createdTime cannot be resumed from; the checkpoint stays.
        if let Some(created) = mark.created {
            *checkpoint = Some(Checkpoint::new(
                &mark.vcenter,
                mark.key,
                &mark.kind,
                created,
            ));
        }
    }

    fn checkpoint_json(checkpoint: &Checkpoint) -> String {
        // `createdTimestamp` says when it was saved: a restart measures the time away from it.
        let mut saved = checkpoint.clone();
        saved.created_timestamp = Some(jiff::Timestamp::now());
        saved.to_json()
    }

    fn describe(checkpoint: &Checkpoint) -> String {
        format!(
            "key {} at {}",
            checkpoint.last_event_key.unwrap_or_default(),
            checkpoint
                .last_event_key_timestamp
                .map(|t| t.to_string())
                .unwrap_or_default()
        )
    }

    async fn close(self) {
        self.stream.close().await;
    }
}
