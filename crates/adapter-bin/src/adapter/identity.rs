//! Telling the controller that the sink refuses the adapter's identity: while the sink answers
//! 401 or 403, the adapter notes it beside its checkpoint (the ConfigMap store: key
//! `sinkRefusal` and a label the controller watches), and removes the note once the sink accepts
//! an event again. The controller turns the note into the source's `SinkIdentityAccepted`
//! condition. Events are kept and retried meanwhile (see [`crate::deliver`]).

use std::sync::Arc;
use std::time::Duration;

use checkpoint::CheckpointStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::telemetry::Metrics;

/// How often the sink's answers are looked at (a change is written once).
const INTERVAL: Duration = Duration::from_secs(2);

/// The note for a refusal with `status` of the sink `sink`, first seen at `since`.
fn note(status: u16, sink: &str, since: jiff::Timestamp) -> String {
    serde_json::json!({"status": status, "sink": sink, "since": since.to_string()}).to_string()
}

/// Starts noting refusals in `store` until `stop`. Nothing is written before the sink has
/// answered: a note left by an earlier run stays until this run knows better.
pub(super) fn start(
    store: Arc<dyn CheckpointStore>,
    metrics: Arc<Metrics>,
    sink: String,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // What the store holds as far as this run knows: `None` until written once.
        let mut noted: Option<Option<u16>> = None;
        let mut since = jiff::Timestamp::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(INTERVAL) => {}
            }
            let now = metrics.identity_refusal_status();
            let answered = now.is_some() || metrics.sent.get() > 0;
            if !answered || noted == Some(now) {
                continue;
            }
            if noted.flatten().is_none() && now.is_some() {
                since = jiff::Timestamp::now();
            }
            let text = now.map(|status| note(status, &sink, since));
            match store.note_sink_refusal(text.as_deref()).await {
                Ok(()) => noted = Some(now),
                Err(e) => {
                    warn!(error = %e, "cannot note the sink's refusal of the adapter's identity for the controller; retrying");
                }
            }
        }
    })
}
