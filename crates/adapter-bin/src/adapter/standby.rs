//! An active adapter and a standby (`spec.replicas: 2`): both campaign for the source's Lease
//! (`ADAPTER_LEASE`); only the holder reads and delivers. The standby is ready and idle until
//! the Lease is free or unrenewed for its duration, then takes over from the checkpoint. The
//! holder renews every third of the duration and stops (shutting the pipeline down, so the
//! container restarts as a standby) when it cannot renew within two thirds: by the time the
//! standby sees the Lease unchanged for a whole duration, the old holder has stopped sending.

use std::sync::Arc;
use std::time::Duration;

use lease::LeaderElector;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::error::AdapterError;
use crate::settings::LeaseSettings;
use crate::telemetry::Metrics;

/// Holding the Lease: renewed in the background until dropped via [`Held::release`].
pub struct Held {
    elector: Arc<LeaderElector>,
    renewing: JoinHandle<()>,
}

/// Waits, as a ready standby, until this adapter holds the Lease; `None` when `shutdown` came
/// first. Then renews it in the background and cancels `shutdown` if it is lost.
pub async fn acquire(
    settings: &LeaseSettings,
    metrics: &Arc<Metrics>,
    shutdown: &CancellationToken,
) -> Result<Option<Held>, AdapterError> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| AdapterError::Kubernetes(e.to_string()))?;
    let elector = Arc::new(LeaderElector::new(
        client,
        &settings.namespace,
        &settings.name,
        &settings.identity,
        settings.duration_seconds,
    ));
    let duration = Duration::from_secs(u64::try_from(settings.duration_seconds).unwrap_or(15));
    metrics.set_standby(true);
    info!(lease = %settings.name, identity = %settings.identity, "standing by for the lease");
    let acquired = tokio::select! {
        () = elector.acquire(Duration::from_secs(1)) => true,
        () = shutdown.cancelled() => false,
    };
    metrics.set_standby(false);
    if !acquired {
        return Ok(None);
    }
    info!(lease = %settings.name, identity = %settings.identity, "holding the lease: reading and delivering");
    let renewing = tokio::spawn({
        let (elector, shutdown) = (elector.clone(), shutdown.clone());
        async move {
            let lost = elector.keep(duration / 3).await;
            error!(error = %lost, "stopping: another adapter may take over from the checkpoint");
            shutdown.cancel();
        }
    });
    Ok(Some(Held { elector, renewing }))
}

impl Held {
    /// Stops renewing and gives the Lease up, so the standby takes over at once.
    pub async fn release(self) {
        self.renewing.abort();
        self.elector.release(Duration::from_secs(3)).await;
    }
}
