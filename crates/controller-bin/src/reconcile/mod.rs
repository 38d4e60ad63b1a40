//! The VSphereSource and HorizonSource reconcilers.
//!
//! Both share the sink step (`resolve_destinations`: the sink and the
//! dead-letter sink, their conditions and status fields) and the adapter's
//! RBAC (`apply_adapter_rbac`: a Role limited to the checkpoint
//! ConfigMap, bound to the adapter's ServiceAccount). Every child is a typed
//! k8s-openapi value written with server-side apply.
//!
//! One job per module: the steps both reconcilers take (`steps.rs`), the
//! status they write (`status.rs`), the trust bundles the adapters mount
//! (`trust.rs`), then VSphereSource (`vsphere.rs`) and HorizonSource
//! (`horizon.rs`).

mod horizon;
mod oidc;
mod standby;
mod status;
mod steps;
mod trust;
mod vsphere;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use sources_api::conditions::ConditionSet;
use tokio::sync::RwLock;

use crate::config::{AdapterConfig, Settings};
use crate::metrics::Metrics;
use crate::pacing::Pacing;

pub use horizon::reconcile_horizon;
pub use steps::Destinations;
pub use vsphere::reconcile_vsphere;

/// The field manager of every object the controller writes.
pub const MANAGER: &str = "sources-controller";

/// Both sources: the sink resolved.
pub const SINK_PROVIDED: &str = "SinkProvided";
/// Both sources: `spec.delivery.deadLetterSink` resolved, or none
/// configured (then a refused event is retried until it is accepted).
pub const DEAD_LETTER_SINK_RESOLVED: &str = "DeadLetterSinkResolved";
/// Both sources, once a sink refused the adapter's identity (401 or 403):
/// whether it accepts it now. Not part of `Ready`.
pub const SINK_IDENTITY_ACCEPTED: &str = "SinkIdentityAccepted";
/// VSphereSource: credentials and binding.
pub const AUTH_READY: &str = "AuthReady";
/// VSphereSource: the adapter Deployment is available.
pub const ADAPTER_READY: &str = "AdapterReady";
/// HorizonSource: the adapter Deployment is available.
pub const DEPLOYED: &str = "Deployed";

/// The condition set of VSphereSource.
pub fn vsphere_conditions() -> ConditionSet {
    ConditionSet::living(&[
        SINK_PROVIDED,
        DEAD_LETTER_SINK_RESOLVED,
        AUTH_READY,
        ADAPTER_READY,
    ])
}

/// The condition set of HorizonSource.
pub fn horizon_conditions() -> ConditionSet {
    ConditionSet::living(&[SINK_PROVIDED, DEAD_LETTER_SINK_RESOLVED, DEPLOYED])
}

/// A reconcile failure (the key is requeued with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// An API call failed.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The object lacks a name, namespace or uid.
    #[error("object without {0}")]
    Incomplete(&'static str),
}

pub(super) fn kerr(context: impl Into<String>) -> impl FnOnce(kube::Error) -> ReconcileError {
    let context = context.into();
    move |source| ReconcileError::Kube { context, source }
}

/// Shared state of the reconcilers.
pub struct Context {
    /// The client.
    pub client: Client,
    /// Settings.
    pub settings: Settings,
    /// The adapter configuration from the system namespace's ConfigMaps.
    pub adapter_config: RwLock<AdapterConfig>,
    /// Kubernetes Events.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Per-object backoff, Event rate, namespace shares.
    pub pacing: Pacing,
    /// What the controller last applied to each child, and the version the
    /// API server stored ([`Context::apply_seen`]).
    pub(crate) applied: AppliedVersions,
}

/// For each child the controller applied (`Kind/namespace/name`): a hash of
/// what it applied and the resourceVersion the API server returned, and
/// when. A child still at that version, to which the same would be applied,
/// is as the controller left it: the apply would change nothing.
/// Also the children a reconcile found absent and that only the controller
/// would make (a source's retired VSphereBinding, its standby RoleBinding with
/// one replica, its empty trust-bundle copy), and when: for a resync period the
/// next reconciles do not look again.
#[derive(Debug, Default)]
pub(crate) struct AppliedVersions(
    std::sync::Mutex<HashMap<String, (u64, String, Instant)>>,
    std::sync::Mutex<HashMap<String, Instant>>,
);

impl AppliedVersions {
    /// Entries kept before the ones not used for long are dropped (deleted
    /// children).
    const PRUNE_ABOVE: usize = 16 * 1024;

    /// Whether `key` was last applied as `hash` and stored as `version`.
    fn unchanged(&self, key: &str, hash: u64, version: &str) -> bool {
        let Ok(mut m) = self.0.lock() else {
            return false;
        };
        match m.get_mut(key) {
            Some((h, v, at)) if *h == hash && v == version => {
                *at = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// Whether `key` (`Kind/namespace/name/owner uid`) was found absent less
    /// than `within` ago.
    pub(super) fn absent_within(&self, key: &str, within: Duration) -> bool {
        self.1
            .lock()
            .is_ok_and(|m| m.get(key).is_some_and(|at| at.elapsed() < within))
    }

    /// `key` was found absent (or deleted) just now.
    pub(super) fn mark_absent(&self, key: String, stale_after: Duration) {
        if let Ok(mut m) = self.1.lock() {
            if m.len() > Self::PRUNE_ABOVE {
                m.retain(|_, at| at.elapsed() < stale_after);
            }
            m.insert(key, Instant::now());
        }
    }

    /// `key` may exist now (the controller made it).
    pub(super) fn forget_absent(&self, key: &str) {
        if let Ok(mut m) = self.1.lock() {
            m.remove(key);
        }
    }

    fn record(&self, key: String, hash: u64, version: Option<String>, stale_after: Duration) {
        let Ok(mut m) = self.0.lock() else {
            return;
        };
        if m.len() > Self::PRUNE_ABOVE {
            m.retain(|_, (_, _, at)| at.elapsed() < stale_after);
        }
        match version {
            Some(v) => {
                m.insert(key, (hash, v, Instant::now()));
            }
            None => {
                m.remove(&key);
            }
        }
    }
}

/// The pacing key of `obj`: `Kind/namespace/name`.
pub(super) fn key_of<K>(obj: &K) -> String
where
    K: Resource<DynamicType = ()>,
{
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

pub(super) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(super) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Context {
    pub(super) async fn warn<K>(&self, obj: &K, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        self.publish(obj, EventType::Warning, reason, note).await;
    }

    pub(super) async fn publish<K>(&self, obj: &K, type_: EventType, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        if !self.pacing.should_record(&key_of(obj), reason, &note) {
            return;
        }
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not record an event");
        }
    }

    pub(super) fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Server-side applies the typed child `obj` (forced: the controller
    /// owns these fields) and returns what the API server stored.
    pub(super) async fn apply<K>(&self, ns: &str, obj: &K) -> Result<K, ReconcileError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let name = obj.name_any();
        self.api::<K>(ns)
            .patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(obj),
            )
            .await
            .map_err(kerr(format!(
                "apply {} {name:?}",
                K::kind(&()).to_lowercase()
            )))
    }
}

impl Context {
    /// The resync period: how long a child found absent is not looked for
    /// again ([`AppliedVersions::absent_within`]).
    pub(super) fn resync(&self) -> Duration {
        Duration::from_secs(self.settings.resync_seconds)
    }

    /// Like [`Context::apply`], but skipped (`None`) when the child, as this
    /// reconcile read it (`live`: its resourceVersion), is at the version the
    /// controller's last apply of the same object left: nobody changed it
    /// since, and the apply would change nothing. Spares a reconcile that
    /// finds everything in place (most of them: every child's and the
    /// source's own change brings one) the API server's server-side applies.
    pub(super) async fn apply_seen<K>(
        &self,
        ns: &str,
        obj: &K,
        live: Option<&str>,
    ) -> Result<Option<K>, ReconcileError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let key = format!("{}/{ns}/{}", K::kind(&()), obj.name_any());
        let mut hasher = DefaultHasher::new();
        match serde_json::to_vec(obj) {
            Ok(bytes) => hasher.write(&bytes),
            // Not serialisable: the apply says why.
            Err(_) => return self.apply(ns, obj).await.map(Some),
        }
        let hash = hasher.finish();
        if let Some(v) = live
            && self.applied.unchanged(&key, hash, v)
        {
            return Ok(None);
        }
        let applied = self.apply(ns, obj).await;
        let version = applied
            .as_ref()
            .ok()
            .and_then(|a| a.meta().resource_version.clone());
        let stale_after = Duration::from_secs(self.settings.resync_seconds.saturating_mul(3));
        self.applied.record(key, hash, version, stale_after);
        applied.map(Some)
    }
}

/// Error policy: log and requeue after the object's backoff (2 s,
/// doubling, at most 5 min).
pub fn error_policy<K>(obj: Arc<K>, err: &ReconcileError, ctx: Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    let wait = ctx.pacing.failed(&key_of(&*obj));
    tracing::warn!(error = %err, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

/// True when `e` is a 404.
pub fn not_found(e: &kube::Error) -> bool {
    is_not_found(e)
}
