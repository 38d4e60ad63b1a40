//! Leader election with a `coordination.k8s.io/v1` Lease (kube-runtime has
//! none), for the controller's replicas and a source's standby adapter.
//!
//! ```no_run
//! # async fn demo(client: kube::Client) {
//! use std::time::Duration;
//! let elector = lease::LeaderElector::new(client, "team-a", "vc-adapter", "pod-1", 15);
//! elector.acquire(Duration::from_secs(2)).await; // waits as long as another holds it
//! let lost = elector.keep(Duration::from_secs(5)).await; // renews until it cannot
//! eprintln!("{lost}");
//! # }
//! ```
//!
//! It is tolerant of clock skew between replicas as client-go's: a lease
//! held by another replica counts as expired only when its record has not
//! changed for `leaseDurationSeconds` *of this replica's monotonic clock*,
//! whatever `renewTime` says. The holder renews periodically and gives up
//! (the caller stops its writers and exits) when it has not renewed within
//! the renew deadline, well inside the lease duration (client-go's 10 s of
//! 15 s): a follower takes over only after the lease stayed unchanged for a
//! whole duration on its own clock, so the old leader has stopped writing
//! by then. Every call to the API server has a timeout (a partitioned
//! leader's requests may never be answered).

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::time::Instant;

/// A lease-based elector.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration_seconds: i32,
    /// A leader that has not renewed for this long gives up.
    renew_deadline: Duration,
    /// The lease record last seen and when (local monotonic clock) it last
    /// changed.
    observed: Mutex<Option<(Observed, Instant)>>,
}

/// The parts of a lease record whose change shows its holder is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Observed {
    holder: String,
    renew_time: Option<String>,
    acquire_time: Option<String>,
    transitions: Option<i32>,
    duration_seconds: Option<i32>,
}

impl Observed {
    fn of(spec: &LeaseSpec) -> Self {
        Self {
            holder: spec.holder_identity.clone().unwrap_or_default(),
            renew_time: spec.renew_time.as_ref().map(|t| t.0.to_string()),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0.to_string()),
            transitions: spec.lease_transitions,
            duration_seconds: spec.lease_duration_seconds,
        }
    }
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica took the lease.
    #[error("lost the lease {0}: another replica holds it")]
    Lost(String),
    /// No renewal succeeded within the renew deadline.
    #[error("lost the lease {lease}: not renewed for {deadline:?} (the renew deadline)")]
    NotRenewed {
        /// The lease.
        lease: String,
        /// The renew deadline.
        deadline: Duration,
    },
}

impl LeaderElector {
    /// An elector for lease `name` in `namespace`, with a renew deadline of
    /// two thirds of the lease duration (10 s of 15 s, as client-go).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration_seconds: i32,
    ) -> Self {
        let duration = Duration::from_secs(u64::try_from(duration_seconds).unwrap_or(15));
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration_seconds,
            renew_deadline: duration * 2 / 3,
            observed: Mutex::new(None),
        }
    }

    /// The renew deadline: a leader that has not renewed for this long gives
    /// up. Kept below the lease duration (at most 9/10 of it).
    pub fn with_renew_deadline(mut self, deadline: Duration) -> Self {
        let duration = Duration::from_secs(u64::try_from(self.duration_seconds).unwrap_or(15));
        self.renew_deadline = deadline.min(duration * 9 / 10);
        self
    }

    /// The renew deadline in effect.
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    /// Records `record` as seen now; returns how long ago (local clock) it
    /// last changed.
    fn observe(&self, record: Observed) -> Duration {
        let now = Instant::now();
        let Ok(mut seen) = self.observed.lock() else {
            return Duration::ZERO;
        };
        match seen.as_ref() {
            Some((r, at)) if *r == record => now.duration_since(*at),
            _ => {
                *seen = Some((record, now));
                Duration::ZERO
            }
        }
    }

    /// Acquires or renews once; true when this identity holds the lease.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        // Written for the other replicas (and people); never compared with
        // another replica's clock.
        let now = jiff::Timestamp::now();
        match self.api.get_opt(&self.name).await? {
            None => {
                let lease: Lease = serde_json::from_value(json!({
                    "metadata": {"name": self.name},
                    "spec": {
                        "holderIdentity": self.identity,
                        "leaseDurationSeconds": self.duration_seconds,
                        "acquireTime": MicroTime(now),
                        "renewTime": MicroTime(now),
                        "leaseTransitions": 0,
                    }
                }))
                .map_err(kube::Error::SerdeError)?;
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(created) => {
                        if let Some(spec) = &created.spec {
                            self.observe(Observed::of(spec));
                        }
                        Ok(true)
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(Default::default);
                let record = Observed::of(spec);
                let unchanged_for = self.observe(record.clone());
                let holder = record.holder.clone();
                let duration =
                    u64::try_from(spec.lease_duration_seconds.unwrap_or(self.duration_seconds))
                        .unwrap_or(0);
                let expired = unchanged_for >= Duration::from_secs(duration);
                if holder != self.identity && !holder.is_empty() && !expired {
                    return Ok(false);
                }
                if holder != self.identity {
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.holder_identity = Some(self.identity.clone());
                spec.lease_duration_seconds = Some(self.duration_seconds);
                spec.renew_time = Some(MicroTime(now));
                // The resourceVersion guards against a concurrent taker.
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(stored) => {
                        if let Some(spec) = &stored.spec {
                            self.observe(Observed::of(spec));
                        }
                        Ok(true)
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Waits until this identity holds the lease. Each attempt has the
    /// renew deadline to complete.
    pub async fn acquire(&self, retry: Duration) {
        loop {
            match tokio::time::timeout(self.renew_deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "acquired the lease");
                    return;
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "leader election"),
                Err(_) => tracing::warn!(
                    timeout = ?self.renew_deadline,
                    "leader election: the API server did not answer in time"
                ),
            }
            tokio::time::sleep(retry).await;
        }
    }

    /// Renews every `period` (retrying failures every `period` too) until a
    /// renewal is refused, or none has succeeded for the renew deadline.
    /// The deadline counts from when the last successful renewal was sent
    /// (its `renewTime`), so a leader cut off from the API server returns
    /// before a follower can see the lease unchanged for a whole duration.
    pub async fn keep(&self, period: Duration) -> LeaderError {
        let mut renewed = Instant::now();
        loop {
            let since = renewed.elapsed();
            let Some(left) = self.renew_deadline.checked_sub(since) else {
                return self.not_renewed();
            };
            tokio::time::sleep(period.min(left)).await;
            let sent = Instant::now();
            let Some(left) = self.renew_deadline.checked_sub(renewed.elapsed()) else {
                return self.not_renewed();
            };
            match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => renewed = sent,
                Ok(Ok(false)) => return LeaderError::Lost(self.name.clone()),
                Ok(Err(e)) => tracing::warn!(error = %e, "renewing the lease"),
                Err(_) => return self.not_renewed(),
            }
        }
    }

    fn not_renewed(&self) -> LeaderError {
        LeaderError::NotRenewed {
            lease: self.name.clone(),
            deadline: self.renew_deadline,
        }
    }

    /// Gives the lease up (on shutdown), so another replica takes over at
    /// once; at most `timeout` (the lease then simply expires).
    pub async fn release(&self, timeout: Duration) {
        let release = async {
            if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await
                && let Some(spec) = lease.spec.as_mut()
                && spec.holder_identity.as_deref() == Some(self.identity.as_str())
            {
                spec.holder_identity = None;
                spec.renew_time = None;
                let _ = self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await;
            }
        };
        if tokio::time::timeout(timeout, release).await.is_err() {
            tracing::warn!(?timeout, "releasing the lease: no answer in time");
        }
    }
}
