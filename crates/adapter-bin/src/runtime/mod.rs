//! The runtime around an adapter: shutdown on signals, waits that end at cancellation, and the
//! [`Sidecars`] that run beside the pipeline (the metrics and health server, giving memory back
//! after bursts) until they are dropped, and the [memory functions](string_functions) of the x86_64
//! musl images.

pub mod memory;
mod sidecars;
#[cfg(target_arch = "x86_64")]
pub mod string_functions;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use sidecars::Sidecars;

/// Cancel `shutdown` on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub fn shutdown_on_signals(shutdown: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
}

/// Sleep for `wait`; `true` when `cancel` fired first (the caller should stop).
pub async fn sleep_or_cancel(wait: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

/// A token that fires `grace` after `shutdown`: deliveries in flight at shutdown may finish
/// within the grace period, then are abandoned (and not checkpointed).
pub fn abandon_after(shutdown: &CancellationToken, grace: Duration) -> CancellationToken {
    let abandon = CancellationToken::new();
    let fire = abandon.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
        fire.cancel();
    });
    abandon
}
