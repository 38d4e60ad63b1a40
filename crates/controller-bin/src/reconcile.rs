//! The VSphereSource and HorizonSource reconcilers.
//!
//! Both share the sink step ([`resolve_destinations`]: the sink and the
//! dead-letter sink, their conditions and status fields) and the adapter's
//! RBAC ([`apply_adapter_rbac`]: a Role limited to the checkpoint
//! ConfigMap, bound to the adapter's ServiceAccount). Every child is a typed
//! k8s-openapi value written with server-side apply.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use sources_api::conditions::{ConditionSet, ConditionStatus};
use sources_api::duck::{CloudEventAttributes, Condition, DeliverySpec, Destination, SourceStatus};
use sources_api::v1alpha1::{API_VERSION, HorizonSource, VSphereSource};
use tokio::sync::RwLock;

use crate::config::{AdapterConfig, Settings};
use crate::metrics::Metrics;
use crate::resources::{self, HorizonChildren, ResolvedSink, VSphereChildren};
use crate::sink;

/// The field manager of every object the controller writes.
pub const MANAGER: &str = "sources-controller";

/// Both sources: the sink resolved.
pub const SINK_PROVIDED: &str = "SinkProvided";
/// Both sources: `spec.delivery.deadLetterSink` resolved, or none
/// configured (then a refused event is retried until it is accepted).
pub const DEAD_LETTER_SINK_RESOLVED: &str = "DeadLetterSinkResolved";
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

fn kerr(context: impl Into<String>) -> impl FnOnce(kube::Error) -> ReconcileError {
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
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Context {
    async fn warn<K>(&self, obj: &K, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        self.publish(obj, EventType::Warning, reason, note).await;
    }

    async fn publish<K>(&self, obj: &K, type_: EventType, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
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

    fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Server-side applies the typed child `obj` (forced: the controller
    /// owns these fields) and returns what the API server stored.
    async fn apply<K>(&self, ns: &str, obj: &K) -> Result<K, ReconcileError>
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

/// Maps a Deployment's `Available` condition to (status, reason, message).
fn deployment_availability(
    dep: Option<&Deployment>,
    name: &str,
) -> (ConditionStatus, String, String) {
    let cond = dep
        .and_then(|d| d.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Available"));
    match cond {
        Some(c) if c.status == "True" => (ConditionStatus::True, String::new(), String::new()),
        Some(c) => (
            ConditionStatus::parse(&c.status),
            c.reason
                .clone()
                .unwrap_or_else(|| "DeploymentUnavailable".into()),
            c.message
                .clone()
                .unwrap_or_else(|| format!("The Deployment '{name}' is unavailable.")),
        ),
        None => (
            ConditionStatus::Unknown,
            "DeploymentUnavailable".into(),
            format!("The adapter Deployment '{name}' has not reported availability yet."),
        ),
    }
}

async fn write_status<K>(
    ctx: &Context,
    obj: &K,
    kind: &str,
    status: &SourceStatus,
) -> Result<(), ReconcileError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let ns = obj
        .namespace()
        .ok_or(ReconcileError::Incomplete("namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let doc = json!({"apiVersion": API_VERSION, "kind": kind, "status": status});
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(doc),
    )
    .await
    .map_err(kerr(format!(
        "update the status of {kind} {}",
        obj.name_any()
    )))?;
    Ok(())
}

fn previous_conditions(status: Option<&SourceStatus>) -> Vec<Condition> {
    status
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

/// Requeue period of a source that is not Ready (sinks, Secrets and
/// ServiceAccounts it waits for are not watched).
const NOT_READY_REQUEUE: Duration = Duration::from_secs(5);

/// A source's conditions and status while it is reconciled.
struct Progress {
    set: ConditionSet,
    conditions: Vec<Condition>,
    status: SourceStatus,
    time: String,
}

impl Progress {
    fn new(set: ConditionSet, status: Option<&SourceStatus>, generation: Option<i64>) -> Self {
        let time = now();
        let mut conditions = previous_conditions(status);
        set.initialize(&mut conditions, &time);
        Self {
            set,
            conditions,
            status: SourceStatus {
                observed_generation: generation,
                ..status.cloned().unwrap_or_default()
            },
            time,
        }
    }

    fn mark(&mut self, type_: &str, status: ConditionStatus, reason: &str, message: &str) {
        self.set.mark(
            &mut self.conditions,
            type_,
            status,
            reason,
            message,
            &self.time,
        );
    }

    fn ready(&self) -> bool {
        self.set.is_ready(&self.conditions)
    }

    fn requeue(&self, resync: Duration) -> Action {
        if self.ready() {
            Action::requeue(resync)
        } else {
            Action::requeue(NOT_READY_REQUEUE)
        }
    }

    /// The status to write.
    fn finish(mut self) -> SourceStatus {
        self.status.conditions = Some(self.conditions);
        self.status
    }
}

/// Where a source's adapter sends: the sink and the delivery settings with
/// the dead-letter sink resolved.
pub struct Destinations {
    /// The sink.
    pub sink: ResolvedSink,
    /// `spec.delivery` for the adapter.
    pub delivery: adapter_env::Delivery,
}

/// The sink step both reconcilers share: resolves `sink` and
/// `delivery.deadLetterSink`, marks `SinkProvided` and
/// `DeadLetterSinkResolved`, fills `sinkUri`, `sinkCACerts` and
/// `deadLetterSinkUri`, and records a Warning for each failure. `None` when
/// either failed: the adapter Deployment is then left as it is (the last
/// good one keeps running; none is made without the dead-letter sink it
/// was asked to use).
async fn resolve_destinations<K>(
    ctx: &Context,
    obj: &K,
    ns: &str,
    sink_dest: &Destination,
    delivery: Option<&DeliverySpec>,
    p: &mut Progress,
) -> Option<Destinations>
where
    K: Resource<DynamicType = ()>,
{
    let sink = match sink::resolve(&ctx.client, ns, sink_dest).await {
        Ok(s) => {
            p.mark(SINK_PROVIDED, ConditionStatus::True, "", "");
            p.status.sink_uri = Some(s.uri.clone());
            p.status.sink_ca_certs = s.ca_certs.clone();
            Some(s)
        }
        Err(e) => {
            let reason = e.reason();
            p.mark(
                SINK_PROVIDED,
                ConditionStatus::False,
                reason,
                &e.to_string(),
            );
            ctx.warn(obj, reason, e.to_string()).await;
            p.status.sink_uri = None;
            None
        }
    };
    let dead_letter = match delivery.and_then(|d| d.dead_letter_sink.as_ref()) {
        None => {
            p.mark(
                DEAD_LETTER_SINK_RESOLVED,
                ConditionStatus::True,
                "DeadLetterSinkNotConfigured",
                "No dead-letter sink: an event the sink fails to take (5xx, 404, 409, 429, no \
                 answer) is retried until it is accepted, never dropped; one it refuses for good \
                 (400 and other 4xx) is logged and counted in \
                 vmware_sources_adapter_events_failed_total.",
            );
            p.status.dead_letter_sink_uri = None;
            Some(None)
        }
        Some(dest) => match sink::resolve(&ctx.client, ns, dest).await {
            Ok(d) => {
                p.mark(DEAD_LETTER_SINK_RESOLVED, ConditionStatus::True, "", "");
                p.status.dead_letter_sink_uri = Some(d.uri.clone());
                Some(Some(d.uri))
            }
            Err(e) => {
                let reason = e.reason().replacen("Sink", "DeadLetterSink", 1);
                let message = format!(
                    "spec.delivery.deadLetterSink: {e}; the adapter keeps its last \
                     settings until it resolves"
                );
                p.mark(
                    DEAD_LETTER_SINK_RESOLVED,
                    ConditionStatus::False,
                    &reason,
                    &message,
                );
                ctx.warn(obj, &reason, message).await;
                // The running adapter still uses the last resolved URI.
                None
            }
        },
    };
    Some(Destinations {
        delivery: resources::delivery_env(delivery, dead_letter?.as_deref()),
        sink: sink?,
    })
}

/// The adapter's ServiceAccount: the dedicated `<name>-adapter` (applied,
/// owned) when the source names none; otherwise the named one, created
/// (owned) only when `create_missing` (HorizonSource, as upstream). Returns
/// whether it exists.
#[allow(clippy::too_many_arguments)]
async fn ensure_service_account<K>(
    ctx: &Context,
    src: &K,
    ns: &str,
    given: Option<&str>,
    sa: &str,
    create_missing: bool,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
) -> Result<bool, ReconcileError>
where
    K: Resource<DynamicType = ()>,
{
    let dedicated = given.is_none_or(str::is_empty);
    let account = resources::adapter_service_account(sa, ns, owner, labels);
    if dedicated {
        ctx.apply(ns, &account).await?;
        return Ok(true);
    }
    let exists = ctx
        .api::<ServiceAccount>(ns)
        .get_opt(sa)
        .await
        .map_err(kerr(format!("get serviceaccount {sa:?}")))?
        .is_some();
    if exists || !create_missing {
        return Ok(exists);
    }
    match ctx.apply(ns, &account).await {
        Ok(_) => {
            ctx.publish(
                src,
                EventType::Normal,
                "ServiceAccountCreated",
                format!("created service account: \"{ns}/{sa}\""),
            )
            .await;
            Ok(true)
        }
        Err(e) => {
            ctx.warn(
                src,
                "ServiceAccountFailed",
                format!("creating service account {sa:?}: {e}"),
            )
            .await;
            Err(e)
        }
    }
}

/// The checkpoint ConfigMap: created when missing, never updated (an existing
/// one keeps its owners and data, also one the adapter created itself).
async fn ensure_checkpoint_configmap(
    ctx: &Context,
    ns: &str,
    name: &str,
    owner: &OwnerReference,
) -> Result<(), ReconcileError> {
    let cms = ctx.api::<ConfigMap>(ns);
    if cms
        .get_opt(name)
        .await
        .map_err(kerr(format!("get configmap {name:?}")))?
        .is_some()
    {
        return Ok(());
    }
    let cm = resources::checkpoint_configmap(name, ns, owner);
    match cms.create(&PostParams::default(), &cm).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(kerr(format!("create configmap {name:?}"))(e)),
    }
}

/// The adapter's RBAC: the Role `role` that may read and write only the
/// checkpoint ConfigMap `configmap`, bound to the ServiceAccount `sa` by
/// `rolebinding`. A RoleBinding to another role (an earlier release bound
/// a ClusterRole; `roleRef` cannot change) is replaced.
#[allow(clippy::too_many_arguments)]
async fn apply_adapter_rbac(
    ctx: &Context,
    ns: &str,
    role: &str,
    rolebinding: &str,
    configmap: &str,
    sa: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
) -> Result<(), ReconcileError> {
    ctx.apply(
        ns,
        &resources::checkpoint_role(role, ns, configmap, owner, labels),
    )
    .await?;
    let rb = resources::adapter_rolebinding(rolebinding, ns, sa, role, owner, labels);
    let rbs = ctx.api::<RoleBinding>(ns);
    if let Some(existing) = rbs
        .get_opt(rolebinding)
        .await
        .map_err(kerr(format!("get rolebinding {rolebinding:?}")))?
        && existing.role_ref != rb.role_ref
    {
        tracing::info!(
            namespace = ns,
            rolebinding,
            "replacing the RoleBinding to another role"
        );
        match rbs.delete(rolebinding, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(kerr(format!("delete rolebinding {rolebinding:?}"))(e)),
        }
    }
    ctx.apply(ns, &rb).await?;
    Ok(())
}

/// The adapter Deployment's availability when the controller leaves it as
/// it is (the sink or dead-letter sink did not resolve).
async fn kept_deployment_availability(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<(ConditionStatus, String, String), ReconcileError> {
    match ctx
        .api::<Deployment>(ns)
        .get_opt(name)
        .await
        .map_err(kerr(format!("get deployment {name:?}")))?
    {
        Some(d) => Ok(deployment_availability(Some(&d), name)),
        None => Ok((
            ConditionStatus::Unknown,
            "DestinationsNotResolved".into(),
            "The adapter is deployed once the sink and the dead-letter sink resolve.".into(),
        )),
    }
}

/// Reconciles one VSphereSource.
pub async fn reconcile_vsphere(
    src: Arc<VSphereSource>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    observed(&*src, &ctx, reconcile_vsphere_inner(&src, &ctx)).await
}

/// Runs one reconcile of `src`: counted in the metrics, a failure recorded
/// as an `InternalError` Event.
async fn observed<K>(
    src: &K,
    ctx: &Context,
    reconcile: impl std::future::Future<Output = Result<Action, ReconcileError>>,
) -> Result<Action, ReconcileError>
where
    K: Resource<DynamicType = ()>,
{
    let started = std::time::Instant::now();
    let result = reconcile.await;
    ctx.metrics
        .observe_reconcile(&K::kind(&()), result.is_ok(), started.elapsed());
    if let Err(e) = &result {
        ctx.warn(src, "InternalError", e.to_string()).await;
    }
    result
}

/// A source's namespace, name, and the controller owner reference to it.
fn identity<K>(src: &K) -> Result<(String, String, OwnerReference), ReconcileError>
where
    K: Resource<DynamicType = ()>,
{
    let ns = src
        .namespace()
        .ok_or(ReconcileError::Incomplete("namespace"))?;
    let name = src.name_any();
    let uid = src.uid().ok_or(ReconcileError::Incomplete("uid"))?;
    let owner = resources::owner_ref(&K::kind(&()), &name, &uid);
    Ok((ns, name, owner))
}

/// The credentials Secret of a VSphereSource: present, with `username` and
/// `password`; else a reason and message.
async fn check_vsphere_secret(
    ctx: &Context,
    ns: &str,
    secret_name: &str,
) -> Result<Result<(), (&'static str, String)>, ReconcileError> {
    let secret = ctx
        .api::<Secret>(ns)
        .get_opt(secret_name)
        .await
        .map_err(kerr(format!("get secret {secret_name:?}")))?;
    Ok(match secret {
        None => Err((
            "SecretMissing",
            format!(
                "Secret {secret_name:?} not found in namespace {ns:?}: create it with the \
                 vCenter credentials (keys username and password)"
            ),
        )),
        Some(s) => {
            let data = s.data.unwrap_or_default();
            let string_data = s.string_data.unwrap_or_default();
            let missing: Vec<&str> = ["username", "password"]
                .into_iter()
                .filter(|k| !data.contains_key(*k) && !string_data.contains_key(*k))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err((
                    "SecretInvalid",
                    format!(
                        "Secret {secret_name:?} lacks the key(s) {}: it must hold the vCenter \
                         username and password",
                        missing.join(", ")
                    ),
                ))
            }
        }
    })
}

async fn reconcile_vsphere_inner(
    src: &VSphereSource,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let (ns, name, owner) = identity(src)?;
    let names = VSphereChildren::of(&name);
    let labels = resources::vsphere_labels(&name);
    let mut p = Progress::new(
        vsphere_conditions(),
        src.status.as_ref(),
        src.metadata.generation,
    );
    let sa = src.spec.service_account(&name);

    // 1. Credentials: the Secret must exist with username and password.
    let auth = check_vsphere_secret(ctx, &ns, &src.spec.secret_ref.name).await?;

    // 2. The VSphereBinding.
    ctx.apply(&ns, &resources::vsphere_binding(src, &ns, &owner))
        .await?;
    match &auth {
        Ok(()) => p.mark(AUTH_READY, ConditionStatus::True, "", ""),
        Err((reason, message)) => {
            p.mark(AUTH_READY, ConditionStatus::False, reason, message);
            ctx.warn(src, reason, message.clone()).await;
        }
    }

    // 3. The checkpoint ConfigMap.
    ensure_checkpoint_configmap(ctx, &ns, &names.configmap, &owner).await?;

    // 4. The ServiceAccount: the dedicated one, or the named one, which must
    //    exist (never created, as upstream).
    let sa_exists = ensure_service_account(
        ctx,
        src,
        &ns,
        src.spec.service_account_name.as_deref(),
        &sa,
        false,
        &owner,
        &labels,
    )
    .await?;

    // 5. The Role for the checkpoint ConfigMap and its RoleBinding.
    apply_adapter_rbac(
        ctx,
        &ns,
        &names.role,
        &names.rolebinding,
        &names.configmap,
        &sa,
        &owner,
        &labels,
    )
    .await?;

    // 6. The sink and the dead-letter sink.
    let destinations = resolve_destinations(
        ctx,
        src,
        &ns,
        &src.spec.sink,
        src.spec.delivery.as_ref(),
        &mut p,
    )
    .await;

    // 7. The adapter Deployment, once it can run.
    if !sa_exists {
        let message = format!(
            "ServiceAccount {sa:?} not found in namespace {ns:?}: create it, or leave \
             spec.serviceAccountName empty for a dedicated one"
        );
        p.mark(
            ADAPTER_READY,
            ConditionStatus::False,
            "ServiceAccountMissing",
            &message,
        );
        ctx.warn(src, "ServiceAccountMissing", message).await;
    } else if let Some(d) = &destinations {
        let config = ctx.adapter_config.read().await.clone();
        let desired = resources::vsphere_deployment(
            src,
            &ns,
            &owner,
            &d.sink,
            &d.delivery,
            &ctx.settings,
            &config,
        );
        let applied = ctx.apply(&ns, &desired).await?;
        let (st, reason, message) = deployment_availability(Some(&applied), &names.deployment);
        p.mark(ADAPTER_READY, st, &reason, &message);
    } else {
        let (st, reason, message) =
            kept_deployment_availability(ctx, &ns, &names.deployment).await?;
        p.mark(ADAPTER_READY, st, &reason, &message);
    }

    p.status.ce_attributes = Some(vsphere_ce_attributes(src));
    let action = p.requeue(Duration::from_secs(ctx.settings.resync_seconds));
    write_status(ctx, src, "VSphereSource", &p.finish()).await?;
    Ok(action)
}

/// `status.ceAttributes`: the filtered types, or the common ones.
fn vsphere_ce_attributes(src: &VSphereSource) -> Vec<CloudEventAttributes> {
    let source = format!("{}/sdk", src.spec.address.trim_end_matches('/'));
    let types: Vec<String> = match src.spec.event_types.as_ref().filter(|t| !t.is_empty()) {
        Some(t) => t.clone(),
        None => sources_api::crds::VSPHERE_EVENT_TYPES
            .iter()
            .map(|(t, _)| (*t).to_owned())
            .collect(),
    };
    types
        .into_iter()
        .map(|t| CloudEventAttributes {
            type_: format!("com.vmware.vsphere.{t}.v0"),
            source: source.clone(),
        })
        .collect()
}

/// Reconciles one HorizonSource.
pub async fn reconcile_horizon(
    src: Arc<HorizonSource>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    observed(&*src, &ctx, reconcile_horizon_inner(&src, &ctx)).await
}

async fn reconcile_horizon_inner(
    src: &HorizonSource,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let (ns, name, owner) = identity(src)?;
    let labels = resources::horizon_labels(&name);
    let mut p = Progress::new(
        horizon_conditions(),
        src.status.as_ref(),
        src.metadata.generation,
    );
    let children = HorizonChildren::of(&name);
    let deployment_name = children.deployment.clone();

    // 1. The sink and the dead-letter sink.
    let destinations = resolve_destinations(
        ctx,
        src,
        &ns,
        &src.spec.sink,
        src.spec.delivery.as_ref(),
        &mut p,
    )
    .await;

    // 2. The Secret.
    let secret_name = &src.spec.secret_ref.name;
    let secret_missing = ctx
        .api::<Secret>(&ns)
        .get_opt(secret_name)
        .await
        .map_err(kerr(format!("get secret {secret_name:?}")))?
        .is_none();

    // 3. The ServiceAccount, created when missing (the dedicated one when
    //    none is named).
    let sa = src.spec.service_account(&name);
    ensure_service_account(
        ctx,
        src,
        &ns,
        src.spec.service_account_name.as_deref(),
        &sa,
        true,
        &owner,
        &labels,
    )
    .await?;

    // 4. The checkpoint ConfigMap and the Role and RoleBinding that let the
    //    adapter write it (new: without them the adapter keeps its
    //    checkpoint in memory only, and a restart replays or skips events).
    ensure_checkpoint_configmap(ctx, &ns, &children.configmap, &owner).await?;
    apply_adapter_rbac(
        ctx,
        &ns,
        &children.role,
        &children.rolebinding,
        &children.configmap,
        &sa,
        &owner,
        &labels,
    )
    .await?;

    // 5. The adapter Deployment.
    if secret_missing {
        let message = format!(
            "Secret {secret_name:?} not found in namespace {ns:?}: create it with the keys \
             domain, username and password"
        );
        p.mark(DEPLOYED, ConditionStatus::False, "SecretMissing", &message);
        ctx.warn(src, "SecretMissing", message).await;
    } else if let Some(d) = &destinations {
        let config = ctx.adapter_config.read().await.clone();
        let desired = resources::horizon_deployment(
            src,
            &ns,
            &owner,
            &d.sink,
            &d.delivery,
            &ctx.settings,
            &config,
        );
        // Refuse to take over a Deployment someone else controls.
        if let Some(existing) = ctx
            .api::<Deployment>(&ns)
            .get_opt(&deployment_name)
            .await
            .map_err(kerr(format!("get deployment {deployment_name:?}")))?
        {
            let controlled = existing
                .owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.uid == owner.uid);
            if !controlled {
                let message = format!(
                    "deployment {deployment_name:?} is not owned by HorizonSource {name:?}"
                );
                p.mark(
                    DEPLOYED,
                    ConditionStatus::False,
                    "DeploymentNotOwned",
                    &message,
                );
                ctx.warn(src, "DeploymentFailed", message).await;
                write_status(ctx, src, "HorizonSource", &p.finish()).await?;
                return Ok(Action::requeue(NOT_READY_REQUEUE));
            }
        }
        let applied = match ctx.apply(&ns, &desired).await {
            Ok(a) => a,
            Err(e) => {
                ctx.warn(
                    src,
                    "DeploymentFailed",
                    format!("applying deployment {deployment_name:?}: {e}"),
                )
                .await;
                return Err(e);
            }
        };
        let (st, reason, message) = deployment_availability(Some(&applied), &deployment_name);
        let (reason, message) = if st == ConditionStatus::True {
            (reason, message)
        } else {
            (
                "DeploymentUnavailable".to_owned(),
                format!("The Deployment '{deployment_name}' is unavailable. {message}")
                    .trim_end()
                    .to_owned(),
            )
        };
        p.mark(DEPLOYED, st, &reason, &message);
    } else {
        let (st, reason, message) =
            kept_deployment_availability(ctx, &ns, &deployment_name).await?;
        p.mark(DEPLOYED, st, &reason, &message);
    }
    let action = p.requeue(Duration::from_secs(ctx.settings.resync_seconds));
    write_status(ctx, src, "HorizonSource", &p.finish()).await?;
    Ok(action)
}

/// Error policy: log and requeue with a short delay.
pub fn error_policy<K>(_obj: Arc<K>, err: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// True when `e` is a 404.
pub fn not_found(e: &kube::Error) -> bool {
    is_not_found(e)
}
