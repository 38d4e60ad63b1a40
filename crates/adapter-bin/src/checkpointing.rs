//! Checkpointing: the in-memory checkpoint the [pipeline](crate::pipeline) moves with its
//! watermark, and the task that saves it every period when it changed, as soon as the pipeline
//! has caught up after a burst ([`CATCH_UP_SAVE_EVENTS`] events or more settled since the last
//! such save), and once more at shutdown. Each source brings its checkpoint type and its JSON.
//!
//! While events are held back (read and not yet settled: a sink refusing them), the unchanged
//! checkpoint is saved every period too, with a new saved time: `maxAge` bounds replay after
//! the adapter was *away*, and a restart must not mistake a held-back backlog for an old
//! checkpoint and skip it.
//!
//! The save after a burst bounds what a crash re-sends: without it, a `kill -9` in the period
//! after a burst of 1,500 events re-sent all of them. A steady trickle is still saved only
//! every period, so a ConfigMap store is not written once per event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use checkpoint::CheckpointStore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::telemetry::Metrics;

/// The newest checkpoint: the last settled position, which the pipeline moves with its
/// watermark and the saver stores.
#[derive(Debug)]
pub struct LatestCheckpoint<T> {
    inner: Mutex<Versioned<T>>,
    /// The pipeline caught up after a burst: save now.
    save_now: Notify,
    /// Events are read and not yet settled: save every period even when unchanged.
    held_back: AtomicBool,
}

/// Events settled since the last catch-up save that make the pipeline's catching up worth a
/// save before the period ends.
pub const CATCH_UP_SAVE_EVENTS: u64 = 100;

#[derive(Debug)]
struct Versioned<T> {
    position: Option<T>,
    /// Bumped on every change; the saver compares it with what it saved.
    version: u64,
}

impl<T: Clone> LatestCheckpoint<T> {
    /// Starting at `stored` (the checkpoint loaded at start), counted as saved.
    pub fn new(stored: Option<T>) -> Self {
        Self {
            inner: Mutex::new(Versioned {
                position: stored,
                version: 0,
            }),
            save_now: Notify::new(),
            held_back: AtomicBool::new(false),
        }
    }

    /// Whether events are read and not yet settled.
    pub fn set_held_back(&self, held_back: bool) {
        self.held_back.store(held_back, Ordering::Relaxed);
    }

    /// Ask the saver to save now (the pipeline caught up after a burst).
    pub fn request_save(&self) {
        self.save_now.notify_one();
    }

    /// Record that everything up to `position` is settled.
    pub fn advance(&self, position: T) {
        self.set(Some(position));
    }

    /// Replace the position.
    pub fn set(&self, position: Option<T>) {
        if let Ok(mut s) = self.inner.lock() {
            s.position = position;
            s.version += 1;
        }
    }

    /// The current position and its version.
    pub fn snapshot(&self) -> (Option<T>, u64) {
        self.inner
            .lock()
            .map(|s| (s.position.clone(), s.version))
            .unwrap_or((None, 0))
    }
}

/// Save `latest` (as `to_json` writes it) every `period` and on [`LatestCheckpoint::request_save`]
/// when it changed, until `stop` fires; then save once more. Save failures are logged and
/// retried at the next period (never fatal).
pub async fn run_saver<T: Clone>(
    store: Arc<dyn CheckpointStore>,
    latest: Arc<LatestCheckpoint<T>>,
    to_json: impl Fn(&T) -> String,
    describe: impl Fn(&T) -> String,
    period: Duration,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut saved_version = 0u64;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = latest.save_now.notified() => debug!("the pipeline caught up after a burst: saving the checkpoint"),
            _ = stop.cancelled() => break,
        }
        saved_version = save_if_changed(
            store.as_ref(),
            &latest,
            (&to_json, &describe),
            saved_version,
            &metrics,
        )
        .await;
    }
    save_if_changed(
        store.as_ref(),
        &latest,
        (&to_json, &describe),
        saved_version,
        &metrics,
    )
    .await;
}

/// Save when the checkpoint moved since `saved_version`; returns the version now saved.
pub async fn save_if_changed<T: Clone>(
    store: &dyn CheckpointStore,
    latest: &LatestCheckpoint<T>,
    (to_json, describe): (&impl Fn(&T) -> String, &impl Fn(&T) -> String),
    saved_version: u64,
    metrics: &Metrics,
) -> u64 {
    let (Some(position), version) = latest.snapshot() else {
        return saved_version;
    };
    if version == saved_version && !latest.held_back.load(Ordering::Relaxed) {
        debug!("skipping checkpoint: no new events since the last one");
        return saved_version;
    }
    match store.save_json(&to_json(&position)).await {
        Ok(()) => {
            metrics.checkpoint_saved();
            debug!(location = %store.location(), checkpoint = %describe(&position), "checkpoint saved");
            version
        }
        Err(e) => {
            warn!(error = %e, "saving the checkpoint failed; retrying at the next period");
            saved_version
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saves_only_changes_and_once_more_at_stop() {
        let store: Arc<dyn CheckpointStore> = Arc::new(checkpoint::MemoryStore::default());
        let latest = Arc::new(LatestCheckpoint::<u32>::new(Some(0)));
        let metrics = Arc::new(Metrics::new("test"));
        let stop = CancellationToken::new();
        let saver = tokio::spawn(run_saver(
            store.clone(),
            latest.clone(),
            |n: &u32| format!("{{\"n\":{n}}}"),
            |n: &u32| n.to_string(),
            Duration::from_millis(20),
            metrics.clone(),
            stop.clone(),
        ));
        latest.advance(1);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            store.load_json().await.expect("load").as_deref(),
            Some(r#"{"n":1}"#)
        );
        let saves = metrics.checkpoints_saved.get();
        assert_eq!(saves, 1, "an unchanged checkpoint is not saved again");
        latest.set(Some(2));
        stop.cancel();
        saver.await.expect("saver");
        assert_eq!(
            store.load_json().await.expect("load").as_deref(),
            Some(r#"{"n":2}"#)
        );
    }
}
