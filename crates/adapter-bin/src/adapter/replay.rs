//! Replay on request (`REPLAY_REQUEST`, from the source's `replay-id` and `replay-from`
//! annotations): at start, a request whose id the store has not recorded moves the checkpoint
//! back to its time and is recorded (note `lastReplay`: id, from, when), in that order, so a
//! crash in between replays again rather than not at all, and a restart after it resumes from the
//! checkpoint as usual. The window is not cut by `maxAge` (it is explicit); what vCenter or
//! Horizon no longer keeps is gone.

use checkpoint::{CheckpointStore, LAST_REPLAY_KEY};
use tracing::info;

use crate::error::AdapterError;
use crate::settings::ReplayRequest;

/// The request, when the store has not recorded it yet.
pub(super) async fn pending<'a>(
    store: &dyn CheckpointStore,
    request: Option<&'a ReplayRequest>,
) -> Result<Option<&'a ReplayRequest>, AdapterError> {
    let Some(r) = request else {
        return Ok(None);
    };
    let last = store.load_note(LAST_REPLAY_KEY).await?;
    let done = last
        .as_deref()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|l| l["id"] == r.id.as_str());
    if done {
        info!(id = %r.id, "replay request already done; resuming from the checkpoint");
        return Ok(None);
    }
    Ok(Some(r))
}

/// Records `r` as done (after the checkpoint was moved to its time).
pub(super) async fn record(
    store: &dyn CheckpointStore,
    r: &ReplayRequest,
) -> Result<(), AdapterError> {
    let note = serde_json::json!({
        "id": r.id,
        "from": r.from.to_string(),
        "at": jiff::Timestamp::now().to_string(),
    });
    store.save_note(LAST_REPLAY_KEY, &note.to_string()).await?;
    info!(id = %r.id, from = %r.from, "replaying from the requested time");
    Ok(())
}
