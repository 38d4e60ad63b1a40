//! The VSphereSource and HorizonSource reconcilers.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use sources_api::conditions::{ConditionSet, ConditionStatus};
use sources_api::duck::{CloudEventAttributes, Condition, SourceStatus};
use sources_api::v1alpha1::{API_VERSION, HorizonSource, VSphereBinding, VSphereSource};
use tokio::sync::RwLock;

use crate::config::{AdapterConfig, Settings};
use crate::metrics::Metrics;
use crate::resources::{self, ResolvedSink, VSphereChildren};
use crate::sink::{self, SinkError};

/// The field manager of every object the controller writes.
pub const MANAGER: &str = "sources-controller";

/// VSphereSource conditions.
pub const SINK_PROVIDED: &str = "SinkProvided";
/// VSphereSource: credentials and binding.
pub const AUTH_READY: &str = "AuthReady";
/// VSphereSource: the adapter Deployment is available.
pub const ADAPTER_READY: &str = "AdapterReady";
/// HorizonSource: the adapter Deployment is available.
pub const DEPLOYED: &str = "Deployed";

/// The condition set of VSphereSource.
pub fn vsphere_conditions() -> ConditionSet {
    ConditionSet::living(&[SINK_PROVIDED, AUTH_READY, ADAPTER_READY])
}

/// The condition set of HorizonSource.
pub fn horizon_conditions() -> ConditionSet {
    ConditionSet::living(&[SINK_PROVIDED, DEPLOYED])
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

    async fn apply(
        &self,
        ar: &kube::api::ApiResource,
        ns: &str,
        doc: &Value,
    ) -> Result<DynamicObject, kube::Error> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, ar);
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(doc),
        )
        .await
    }
}

fn ar<K: Resource<DynamicType = ()>>() -> kube::api::ApiResource {
    kube::api::ApiResource::erase::<K>(&())
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
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
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

/// Resolves `spec.delivery.deadLetterSink`, if any. Failures are reported,
/// not fatal: the adapter runs without a dead-letter sink.
async fn resolve_dead_letter(
    ctx: &Context,
    ns: &str,
    delivery: Option<&sources_api::duck::DeliverySpec>,
) -> Result<Option<String>, SinkError> {
    match delivery.and_then(|d| d.dead_letter_sink.as_ref()) {
        Some(dest) => Ok(Some(sink::resolve(&ctx.client, ns, dest).await?.uri)),
        None => Ok(None),
    }
}

/// Requeue period of a source that is not Ready (sinks, Secrets and
/// ServiceAccounts it waits for are not watched).
const NOT_READY_REQUEUE: Duration = Duration::from_secs(5);

/// Reconciles one VSphereSource.
pub async fn reconcile_vsphere(
    src: Arc<VSphereSource>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let started = std::time::Instant::now();
    let result = reconcile_vsphere_inner(&src, &ctx).await;
    ctx.metrics
        .observe_reconcile("VSphereSource", result.is_ok(), started.elapsed());
    if let Err(e) = &result {
        ctx.warn(src.as_ref(), "InternalError", e.to_string()).await;
    }
    result
}

async fn reconcile_vsphere_inner(
    src: &VSphereSource,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let ns = src
        .namespace()
        .ok_or(ReconcileError::Incomplete("namespace"))?;
    let name = src.name_any();
    let uid = src.uid().ok_or(ReconcileError::Incomplete("uid"))?;
    let owner = resources::owner_ref("VSphereSource", &name, &uid);
    let names = VSphereChildren::of(&name);
    let set = vsphere_conditions();
    let t = now();
    let mut conditions = previous_conditions(src.status.as_ref());
    set.initialize(&mut conditions, &t);
    let mut status = SourceStatus {
        observed_generation: src.metadata.generation,
        ..src.status.clone().unwrap_or_default()
    };
    let sa = src.spec.service_account().to_owned();

    // 1. Credentials: the Secret must exist with username and password.
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let secret_name = &src.spec.secret_ref.name;
    let secret = secrets
        .get_opt(secret_name)
        .await
        .map_err(kerr(format!("get secret {secret_name:?}")))?;
    let auth = match secret {
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
    };

    // 2. The VSphereBinding.
    let binding = resources::vsphere_binding(src, &ns, &owner);
    ctx.apply(&ar::<VSphereBinding>(), &ns, &binding)
        .await
        .map_err(kerr(format!(
            "failed to apply vspherebinding {:?}",
            names.binding
        )))?;
    match &auth {
        Ok(()) => set.mark(
            &mut conditions,
            AUTH_READY,
            ConditionStatus::True,
            "",
            "",
            &t,
        ),
        Err((reason, message)) => {
            set.mark(
                &mut conditions,
                AUTH_READY,
                ConditionStatus::False,
                reason,
                message,
                &t,
            );
            ctx.warn(src, reason, message.clone()).await;
        }
    }

    // 3. The checkpoint ConfigMap.
    ensure_checkpoint_configmap(ctx, &ns, &names.configmap, &owner).await?;

    // 4. The ServiceAccount must exist (never created, as upstream).
    let sas: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    let sa_exists = sas
        .get_opt(&sa)
        .await
        .map_err(kerr(format!("get serviceaccount {sa:?}")))?
        .is_some();

    // 5. The RoleBinding for the checkpoint ConfigMap.
    apply_checkpoint_rolebinding(
        ctx,
        &ns,
        &names.rolebinding,
        &sa,
        &owner,
        &resources::vsphere_labels(&name),
    )
    .await?;

    // 6. The sink.
    let sink = match sink::resolve(&ctx.client, &ns, &src.spec.sink).await {
        Ok(s) => {
            set.mark(
                &mut conditions,
                SINK_PROVIDED,
                ConditionStatus::True,
                "",
                "",
                &t,
            );
            status.sink_uri = Some(s.uri.clone());
            status.sink_ca_certs = s.ca_certs.clone();
            Some(s)
        }
        Err(e) => {
            let reason = e.reason();
            set.mark(
                &mut conditions,
                SINK_PROVIDED,
                ConditionStatus::False,
                reason,
                &e.to_string(),
                &t,
            );
            ctx.warn(src, reason, e.to_string()).await;
            status.sink_uri = None;
            None
        }
    };
    let dead_letter = match resolve_dead_letter(ctx, &ns, src.spec.delivery.as_ref()).await {
        Ok(d) => d,
        Err(e) => {
            ctx.warn(src, "DeadLetterSinkNotResolved", e.to_string())
                .await;
            None
        }
    };
    status.dead_letter_sink_uri = dead_letter.clone();

    // 7. The adapter Deployment, once it can run.
    if !sa_exists {
        let message = format!(
            "ServiceAccount {sa:?} not found in namespace {ns:?}: create it, or set \
             spec.serviceAccountName to an existing one"
        );
        set.mark(
            &mut conditions,
            ADAPTER_READY,
            ConditionStatus::False,
            "ServiceAccountMissing",
            &message,
            &t,
        );
        ctx.warn(src, "ServiceAccountMissing", message).await;
    } else if let Some(sink) = &sink {
        let config = ctx.adapter_config.read().await.clone();
        let delivery = resources::delivery_env(src.spec.delivery.as_ref(), dead_letter.as_deref());
        let doc = resources::vsphere_deployment(
            src,
            &ns,
            &owner,
            sink,
            &delivery,
            &ctx.settings,
            &config,
        );
        let applied = ctx
            .apply(&ar::<Deployment>(), &ns, &doc)
            .await
            .map_err(kerr(format!("apply deployment {:?}", names.deployment)))?;
        let dep: Option<Deployment> = serde_json::to_value(applied)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok());
        let (st, reason, message) = deployment_availability(dep.as_ref(), &names.deployment);
        set.mark(&mut conditions, ADAPTER_READY, st, &reason, &message, &t);
    } else {
        set.mark(
            &mut conditions,
            ADAPTER_READY,
            ConditionStatus::Unknown,
            "SinkNotResolved",
            "The adapter is deployed once the sink resolves.",
            &t,
        );
    }

    status.ce_attributes = Some(vsphere_ce_attributes(src));
    let ready = set.is_ready(&conditions);
    status.conditions = Some(conditions);
    write_status(ctx, src, "VSphereSource", &status).await?;
    Ok(if ready {
        Action::requeue(Duration::from_secs(ctx.settings.resync_seconds))
    } else {
        Action::requeue(NOT_READY_REQUEUE)
    })
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
    let started = std::time::Instant::now();
    let result = reconcile_horizon_inner(&src, &ctx).await;
    ctx.metrics
        .observe_reconcile("HorizonSource", result.is_ok(), started.elapsed());
    if let Err(e) = &result {
        ctx.warn(src.as_ref(), "InternalError", e.to_string()).await;
    }
    result
}

/// The checkpoint ConfigMap: created when missing, never updated (an existing
/// one keeps its owners and data, also one the adapter created itself).
async fn ensure_checkpoint_configmap(
    ctx: &Context,
    ns: &str,
    name: &str,
    owner: &Value,
) -> Result<(), ReconcileError> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    if cms
        .get_opt(name)
        .await
        .map_err(kerr(format!("get configmap {name:?}")))?
        .is_some()
    {
        return Ok(());
    }
    let cm: ConfigMap = serde_json::from_value(resources::checkpoint_configmap(name, ns, owner))
        .map_err(|_| ReconcileError::Incomplete("configmap"))?;
    match cms.create(&PostParams::default(), &cm).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(kerr(format!("create configmap {name:?}"))(e)),
    }
}

/// The RoleBinding that lets the adapter's ServiceAccount `sa` write its
/// checkpoint ConfigMap, kept current.
async fn apply_checkpoint_rolebinding(
    ctx: &Context,
    ns: &str,
    name: &str,
    sa: &str,
    owner: &Value,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<(), ReconcileError> {
    let rb = resources::adapter_rolebinding(name, ns, sa, owner, labels);
    ctx.apply(&ar::<RoleBinding>(), ns, &rb)
        .await
        .map_err(kerr(format!("apply rolebinding {name:?}")))?;
    Ok(())
}

async fn reconcile_horizon_inner(
    src: &HorizonSource,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let ns = src
        .namespace()
        .ok_or(ReconcileError::Incomplete("namespace"))?;
    let name = src.name_any();
    let uid = src.uid().ok_or(ReconcileError::Incomplete("uid"))?;
    let owner = resources::owner_ref("HorizonSource", &name, &uid);
    let set = horizon_conditions();
    let t = now();
    let mut conditions = previous_conditions(src.status.as_ref());
    set.initialize(&mut conditions, &t);
    let mut status = SourceStatus {
        observed_generation: src.metadata.generation,
        ..src.status.clone().unwrap_or_default()
    };
    let children = resources::HorizonChildren::of(&name);
    let deployment_name = children.deployment.clone();

    // 1. The sink.
    let sink: Option<ResolvedSink> = match sink::resolve(&ctx.client, &ns, &src.spec.sink).await {
        Ok(s) => {
            set.mark(
                &mut conditions,
                SINK_PROVIDED,
                ConditionStatus::True,
                "",
                "",
                &t,
            );
            status.sink_uri = Some(s.uri.clone());
            status.sink_ca_certs = s.ca_certs.clone();
            Some(s)
        }
        Err(e) => {
            let reason = e.reason();
            set.mark(
                &mut conditions,
                SINK_PROVIDED,
                ConditionStatus::False,
                reason,
                &e.to_string(),
                &t,
            );
            ctx.warn(src, reason, e.to_string()).await;
            status.sink_uri = None;
            None
        }
    };
    let dead_letter = match resolve_dead_letter(ctx, &ns, src.spec.delivery.as_ref()).await {
        Ok(d) => d,
        Err(e) => {
            ctx.warn(src, "DeadLetterSinkNotResolved", e.to_string())
                .await;
            None
        }
    };
    status.dead_letter_sink_uri = dead_letter.clone();

    // 2. The Secret.
    let secret_name = &src.spec.secret_ref.name;
    let secret_missing = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(secret_name)
        .await
        .map_err(kerr(format!("get secret {secret_name:?}")))?
        .is_none();

    // 3. The ServiceAccount, created when missing.
    let sa = src.spec.service_account().to_owned();
    let sas: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    if sas
        .get_opt(&sa)
        .await
        .map_err(kerr(format!("get serviceaccount {sa:?}")))?
        .is_none()
    {
        let doc = resources::horizon_service_account(&sa, &name, &ns, &owner);
        match ctx.apply(&ar::<ServiceAccount>(), &ns, &doc).await {
            Ok(_) => {
                ctx.publish(
                    src,
                    EventType::Normal,
                    "ServiceAccountCreated",
                    format!("created service account: \"{ns}/{sa}\""),
                )
                .await;
            }
            Err(e) => {
                ctx.warn(
                    src,
                    "ServiceAccountFailed",
                    format!("creating service account {sa:?}: {e}"),
                )
                .await;
                return Err(kerr(format!("create serviceaccount {sa:?}"))(e));
            }
        }
    }

    // 4. The checkpoint ConfigMap and the RoleBinding that lets the adapter
    //    write it (new: without them the adapter keeps its checkpoint in
    //    memory only, and a restart replays or skips events).
    ensure_checkpoint_configmap(ctx, &ns, &children.configmap, &owner).await?;
    apply_checkpoint_rolebinding(
        ctx,
        &ns,
        &children.rolebinding,
        &sa,
        &owner,
        &resources::horizon_labels(&name),
    )
    .await?;

    // 5. The adapter Deployment.
    if secret_missing {
        let message = format!(
            "Secret {secret_name:?} not found in namespace {ns:?}: create it with the keys \
             domain, username and password"
        );
        set.mark(
            &mut conditions,
            DEPLOYED,
            ConditionStatus::False,
            "SecretMissing",
            &message,
            &t,
        );
        ctx.warn(src, "SecretMissing", message).await;
    } else if let Some(sink) = &sink {
        let config = ctx.adapter_config.read().await.clone();
        let delivery = resources::delivery_env(src.spec.delivery.as_ref(), dead_letter.as_deref());
        let doc = resources::horizon_deployment(
            src,
            &ns,
            &owner,
            sink,
            &delivery,
            &ctx.settings,
            &config,
        );
        // Refuse to take over a Deployment someone else controls.
        let deps: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        if let Some(existing) = deps
            .get_opt(&deployment_name)
            .await
            .map_err(kerr(format!("get deployment {deployment_name:?}")))?
        {
            let controlled = existing
                .owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.uid == uid);
            if !controlled {
                let message = format!(
                    "deployment {deployment_name:?} is not owned by HorizonSource {name:?}"
                );
                set.mark(
                    &mut conditions,
                    DEPLOYED,
                    ConditionStatus::False,
                    "DeploymentNotOwned",
                    &message,
                    &t,
                );
                ctx.warn(src, "DeploymentFailed", message).await;
                status.conditions = Some(conditions);
                write_status(ctx, src, "HorizonSource", &status).await?;
                return Ok(Action::requeue(NOT_READY_REQUEUE));
            }
        }
        let applied = match ctx.apply(&ar::<Deployment>(), &ns, &doc).await {
            Ok(a) => a,
            Err(e) => {
                ctx.warn(
                    src,
                    "DeploymentFailed",
                    format!("applying deployment {deployment_name:?}: {e}"),
                )
                .await;
                return Err(kerr(format!("apply deployment {deployment_name:?}"))(e));
            }
        };
        let dep: Option<Deployment> = serde_json::to_value(applied)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok());
        let (st, reason, message) = deployment_availability(dep.as_ref(), &deployment_name);
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
        set.mark(&mut conditions, DEPLOYED, st, &reason, &message, &t);
    } else {
        set.mark(
            &mut conditions,
            DEPLOYED,
            ConditionStatus::Unknown,
            "SinkNotResolved",
            "The adapter is deployed once the sink resolves.",
            &t,
        );
    }
    let ready = set.is_ready(&conditions);
    status.conditions = Some(conditions);
    write_status(ctx, src, "HorizonSource", &status).await?;
    Ok(if ready {
        Action::requeue(Duration::from_secs(ctx.settings.resync_seconds))
    } else {
        Action::requeue(NOT_READY_REQUEUE)
    })
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
