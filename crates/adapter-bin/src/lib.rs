//! The vmware-sources adapters as a library: the runtime behind the `vsphere-adapter` and
//! `horizon-adapter` binaries.
//!
//! One event's way through the code, by folder: [`source`] reads it (vCenter or Horizon, in
//! order, resuming after restarts, lost sessions and lost answers), [`encode`] makes it a
//! CloudEvent, [`deliver`] sends it to the sink (retries, dead-letter sink), and
//! [`checkpointing`] saves how far delivery got. [`pipeline`] runs those steps the same way for
//! both sources: concurrent deliveries, the checkpoint at the low watermark, shutdown.
//!
//! Around it: [`vsphere`] and [`horizon`] wire each adapter (settings, connection, resume
//! point); [`config`] and [`horizon_config`] are the settings (the environment contract of
//! `adapter-env`, and flags); [`backoff`] the waits between attempts; [`telemetry`] the metrics
//! and health endpoints; [`logging`] Knative's log levels; [`memory`] the allocator and returning
//! memory after a burst; [`error`] why an adapter stops.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use clap::Parser;
//! let args = adapter::config::VsphereArgs::parse_from([
//!     "vsphere-adapter", "--vc-url", "https://vc.example/sdk", "--vc-username", "u",
//!     "--vc-password", "p", "--checkpoint-file", "/tmp/cp.json", "--sink", "http://localhost:8080",
//! ]);
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! adapter::vsphere::run(adapter::vsphere::prepare(args)?, shutdown).await?;
//! # Ok(()) }
//! ```

pub mod backoff;
pub mod checkpointing;
pub mod config;
pub mod deliver;
pub mod encode;
pub mod error;
pub mod horizon;
pub mod horizon_config;
pub mod logging;
pub mod memory;
pub mod pipeline;
pub mod source;
pub mod telemetry;
pub mod vsphere;

/// Cancel `shutdown` on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub fn shutdown_on_signals(shutdown: tokio_util::sync::CancellationToken) {
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
pub async fn sleep_or_cancel(
    wait: std::time::Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> bool {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

/// A token that fires `grace` after `shutdown`: deliveries in flight at shutdown may finish
/// within the grace period, then are abandoned (and not checkpointed).
pub fn abandon_after(
    shutdown: &tokio_util::sync::CancellationToken,
    grace: std::time::Duration,
) -> tokio_util::sync::CancellationToken {
    let abandon = tokio_util::sync::CancellationToken::new();
    let fire = abandon.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
        fire.cancel();
    });
    abandon
}
