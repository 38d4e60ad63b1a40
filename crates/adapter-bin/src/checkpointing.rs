//! Checkpointing: the in-memory progress the delivery side advances, and the task that saves
//! it every period when it changed (and once more at shutdown).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use checkpoint::{Checkpoint, CheckpointStore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::telemetry::Metrics;

/// The last settled event, shared between delivery and the saver.
#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<ProgressState>,
}

#[derive(Debug, Default)]
struct ProgressState {
    checkpoint: Option<Checkpoint>,
    /// Bumped on every advance; the saver compares it with what it saved.
    version: u64,
}

impl Progress {
    /// Record that everything up to `checkpoint`'s event is settled.
    pub fn advance(&self, checkpoint: Checkpoint) {
        if let Ok(mut s) = self.inner.lock() {
            s.checkpoint = Some(checkpoint);
            s.version += 1;
        }
    }

    /// The current checkpoint and its version.
    pub fn snapshot(&self) -> (Option<Checkpoint>, u64) {
        self.inner
            .lock()
            .map(|s| (s.checkpoint.clone(), s.version))
            .unwrap_or((None, 0))
    }
}

/// Save `progress` every `period` when it changed, until `stop` fires; then save once more.
/// Save failures are logged and retried at the next period (never fatal).
pub async fn run_saver(
    store: Arc<dyn CheckpointStore>,
    progress: Arc<Progress>,
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
            _ = stop.cancelled() => break,
        }
        saved_version = save_if_changed(store.as_ref(), &progress, saved_version, &metrics).await;
    }
    save_if_changed(store.as_ref(), &progress, saved_version, &metrics).await;
}

/// Save when the progress moved since `saved_version`; returns the version now saved.
pub async fn save_if_changed(
    store: &dyn CheckpointStore,
    progress: &Progress,
    saved_version: u64,
    metrics: &Metrics,
) -> u64 {
    let (checkpoint, version) = progress.snapshot();
    let Some(checkpoint) = checkpoint else {
        return saved_version;
    };
    if version == saved_version {
        debug!("skipping checkpoint: no new events since the last one");
        return saved_version;
    }
    match store.save(&checkpoint).await {
        Ok(()) => {
            metrics.checkpoint_saved();
            debug!(key = ?checkpoint.last_event_key, location = %store.location(), "checkpoint saved");
            version
        }
        Err(e) => {
            warn!(error = %e, "saving the checkpoint failed; retrying at the next period");
            saved_version
        }
    }
}
