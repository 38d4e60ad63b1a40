//! Reading: where events come from. Each source reads its system's events in order, resuming
//! from a checkpoint, and hands them to the [pipeline](crate::pipeline) in batches; the
//! pipeline encodes, delivers and checkpoints them the same way for every source.
//!
//! - [`vsphere`]: vCenter's event history through `vsphere_client::events::EventStream`;
//! - [`horizon`]: Horizon audit events through `horizon_client::AuditEventStream`.

pub mod horizon;
pub mod vsphere;

use std::future::Future;

use jiff::Timestamp;

/// New events, oldest first.
#[derive(Debug)]
pub struct Batch<E> {
    /// The events.
    pub events: Vec<E>,
    /// Whether the source is caught up (the read reached its newest event).
    pub caught_up: bool,
}

/// A source of events the pipeline delivers and checkpoints.
pub trait Source: Send + 'static {
    /// An event as read.
    type Event: Send + Sync + 'static;
    /// What the checkpoint needs of one event once it is settled.
    type Mark: Send + 'static;
    /// The saved progress (what the checkpoint store holds).
    type Checkpoint: Clone + Send + Sync + 'static;

    /// The next new events, waiting while there are none. Faults are retried inside (the
    /// source never ends by itself); cancel-safe, so the pipeline can stop it at any point.
    fn next_batch(&mut self) -> impl Future<Output = Batch<Self::Event>> + Send;

    /// What the checkpoint needs of `event`.
    fn mark(&self, event: &Self::Event) -> Self::Mark;

    /// When `event` was created (for the lag), if known.
    fn created(event: &Self::Event) -> Option<Timestamp>;

    /// Move `checkpoint` past a settled event; called in read order, for every event.
    fn settle(checkpoint: &mut Option<Self::Checkpoint>, mark: Self::Mark);

    /// The checkpoint as the store saves it.
    fn checkpoint_json(checkpoint: &Self::Checkpoint) -> String;

    /// The checkpoint in a few words, for logs.
    fn describe(checkpoint: &Self::Checkpoint) -> String;

    /// Release what the source holds on its server (bounded in time); it is not used again.
    fn close(self) -> impl Future<Output = ()> + Send;
}
