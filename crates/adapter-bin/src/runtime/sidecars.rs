//! What runs beside an adapter's pipeline: the `/metrics`, `/healthz` and `/readyz` server and
//! giving memory back after bursts. [`Sidecars::start`] starts both; dropping the [`Sidecars`]
//! stops both, on every way out of the adapter.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::telemetry::{self, Metrics};

/// The running sidecars and the metrics they serve; they stop when this is dropped.
#[derive(Debug)]
pub struct Sidecars {
    metrics: Arc<Metrics>,
    address: SocketAddr,
    stop: CancellationToken,
}

impl Sidecars {
    /// The metrics of a `source` kind (`vsphere`, `horizon`), served on `addr`, and the memory
    /// releaser watching them.
    pub async fn start(source: &'static str, addr: SocketAddr) -> std::io::Result<Self> {
        let metrics = Arc::new(Metrics::new(source));
        let stop = CancellationToken::new();
        let address = telemetry::serve(addr, metrics.clone(), stop.clone()).await?;
        tokio::spawn(super::memory::release_when_quiet(
            metrics.clone(),
            stop.clone(),
        ));
        tracing::info!(address = %address, "serving /metrics, /healthz and /readyz");
        Ok(Self {
            metrics,
            address,
            stop,
        })
    }

    /// The metrics the server renders.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The address the server listens on (the port chosen when `addr` had port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Sidecars {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_sidecars_stops_the_server() {
        let sidecars = Sidecars::start("test", ([127, 0, 0, 1], 0).into())
            .await
            .expect("start");
        let address = sidecars.address();
        let get = || reqwest::get(format!("http://{address}/healthz"));
        assert_eq!(get().await.expect("serving").status(), 200);
        drop(sidecars);
        let stopped = async {
            while get().await.is_ok() {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), stopped)
            .await
            .expect("the server still answers 10 s after the sidecars were dropped");
    }
}
