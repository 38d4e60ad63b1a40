//! The steps both reconcilers take: destinations, the adapter's
//! ServiceAccount, its checkpoint ConfigMap and RBAC, and the bookkeeping
//! around one reconcile.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, GetParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use sources_api::conditions::ConditionStatus;
use sources_api::duck::{DeliverySpec, Destination};

use super::status::StatusDraft;
use super::{
    Context, DEAD_LETTER_SINK_RESOLVED, ReconcileError, SINK_IDENTITY_ACCEPTED, SINK_PROVIDED,
    is_not_found, kerr,
};
use crate::resources::{self, ResolvedSink};
use crate::sink;

/// Where a source's adapter sends: the sink and the delivery settings with
/// the dead-letter sink resolved.
pub struct Destinations {
    /// The sink.
    pub sink: ResolvedSink,
    /// `spec.delivery` for the adapter.
    pub delivery: adapter_env::Delivery,
    /// The dead-letter sink's OIDC audience, when it has one.
    pub dead_letter_audience: Option<String>,
}

/// The sink step both reconcilers share: resolves `sink` and
/// `delivery.deadLetterSink`, marks `SinkProvided` and
/// `DeadLetterSinkResolved`, fills `sinkUri`, `sinkCACerts` and
/// `deadLetterSinkUri`, and records a Warning for each failure. `None` when
/// either failed: the adapter Deployment is then left as it is (the last
/// good one keeps running; none is made without the dead-letter sink it
/// was asked to use).
pub(super) async fn resolve_destinations<K>(
    ctx: &Context,
    obj: &K,
    ns: &str,
    sink_dest: &Destination,
    delivery: Option<&DeliverySpec>,
    p: &mut StatusDraft,
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
                Some(Some(d))
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
    let dead_letter = dead_letter?;
    Some(Destinations {
        delivery: resources::delivery_env(delivery, dead_letter.as_ref()),
        dead_letter_audience: dead_letter.and_then(|d| d.audience),
        sink: sink?,
    })
}

/// The source whose children a step writes: its namespace, the controller
/// owner reference each child carries and the labels the controller
/// watches its children by.
pub(super) struct Parent<'a> {
    /// The source's namespace, where every child lives.
    pub(super) ns: &'a str,
    /// The controller owner reference to the source.
    pub(super) owner: &'a OwnerReference,
    /// The labels of the source's children.
    pub(super) labels: &'a BTreeMap<String, String>,
}

/// A child of a source that someone else controls: the controller leaves it
/// untouched, deploys no adapter and says so (`<Kind>NotOwned`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotOwned {
    /// The child's kind.
    pub(super) kind: &'static str,
    /// Its name.
    pub(super) name: String,
    /// Its controller (`Kind "name"`), when it has one.
    pub(super) controller: Option<String>,
}

impl NotOwned {
    /// The condition reason.
    pub(super) fn reason(&self) -> String {
        format!("{}NotOwned", self.kind)
    }

    /// The condition message for the source `source` of kind `source_kind`.
    pub(super) fn message(&self, source_kind: &str, source: &str) -> String {
        let by = match &self.controller {
            Some(c) => format!("it is controlled by {c}"),
            None => "it has no controller".to_owned(),
        };
        format!(
            "{} {:?} exists and is not {source_kind} {source:?}'s ({by}): the controller leaves \
             it untouched and deploys no adapter; delete or rename it, or give the source another \
             name",
            self.kind, self.name
        )
    }
}

/// A child a source's reconcile writes, by kind and name.
#[derive(Debug, Clone, Copy)]
pub(super) enum Child<'a> {
    /// A ServiceAccount the controller creates.
    ServiceAccount(&'a str),
    /// The checkpoint ConfigMap: one without a controller (the adapter's or
    /// the Go adapter's, which made it) is used as it is.
    ConfigMap(&'a str),
    /// The checkpoint Role.
    Role(&'a str),
    /// The RoleBinding of the adapter's ServiceAccount to it.
    RoleBinding(&'a str),
    /// The adapter Deployment.
    Deployment(&'a str),
}

/// The object `name` of kind `K` in `ns`, if it exists, as the API server's
/// watch cache holds it (`resourceVersion=0`: no read from etcd). It may be
/// a moment old; a change after it is a watch event that reconciles again.
pub(super) async fn fetch<K>(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<Option<K>, ReconcileError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    match ctx.api::<K>(ns).get_with(name, &GetParams::any()).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(kerr(format!(
            "get {} {name:?}",
            K::kind(&()).to_lowercase()
        ))(e)),
    }
}

/// The controller reference of `obj`: `None` when it does not exist,
/// `Some(None)` when it has no controller.
fn controller_of<K: Resource>(obj: Option<&K>) -> Option<Option<OwnerReference>> {
    obj.map(|o| {
        o.owner_references()
            .iter()
            .find(|r| r.controller == Some(true))
            .cloned()
    })
}

/// The children [`first_not_owned`] read that later steps read again: each
/// step takes it from here instead of a second GET in the same reconcile.
/// `None`: not read; `Some(None)`: absent.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// The checkpoint ConfigMap.
    pub(super) configmap: Option<Option<ConfigMap>>,
    /// The adapter's RoleBinding.
    pub(super) rolebinding: Option<Option<RoleBinding>>,
    /// The adapter Deployment.
    pub(super) deployment: Option<Option<Deployment>>,
    /// The resourceVersion of each child read, by `Kind/name`: an apply of
    /// what the controller last applied to that version is skipped
    /// ([`Context::apply_seen`]).
    versions: std::collections::HashMap<String, String>,
}

impl Seen {
    fn record<K: Resource<DynamicType = ()>>(&mut self, name: &str, obj: Option<&K>) {
        if let Some(rv) = obj.and_then(|o| o.meta().resource_version.clone()) {
            self.versions.insert(format!("{}/{name}", K::kind(&())), rv);
        }
    }

    /// The resourceVersion of the child `name` of kind `K` as read, if read.
    pub(super) fn version<K: Resource<DynamicType = ()>>(&self, name: &str) -> Option<&str> {
        self.versions
            .get(&format!("{}/{name}", K::kind(&())))
            .map(String::as_str)
    }
}

/// The first of `children` that exists and is not controlled by the source
/// `parent` (by uid), if any: the children of the same names that someone
/// else made are never taken over (a force-apply would add the source as a
/// second owner, and its deletion would garbage-collect them). Also what it
/// read that the next steps need ([`Seen`]).
pub(super) async fn first_not_owned(
    ctx: &Context,
    parent: &Parent<'_>,
    children: &[Child<'_>],
) -> Result<(Option<NotOwned>, Seen), ReconcileError> {
    let ns = parent.ns;
    let mut seen = Seen::default();
    for child in children {
        let (kind, name, found) = match *child {
            Child::ServiceAccount(n) => {
                let sa = fetch::<ServiceAccount>(ctx, ns, n).await?;
                seen.record(n, sa.as_ref());
                ("ServiceAccount", n, controller_of(sa.as_ref()))
            }
            Child::ConfigMap(n) => {
                let cm = fetch::<ConfigMap>(ctx, ns, n).await?;
                // Without a controller: the adapter's own checkpoint.
                let found = controller_of(cm.as_ref()).filter(Option::is_some);
                seen.configmap = Some(cm);
                ("ConfigMap", n, found)
            }
            Child::Role(n) => {
                let role = fetch::<Role>(ctx, ns, n).await?;
                seen.record(n, role.as_ref());
                ("Role", n, controller_of(role.as_ref()))
            }
            Child::RoleBinding(n) => {
                let rb = fetch::<RoleBinding>(ctx, ns, n).await?;
                let found = controller_of(rb.as_ref());
                seen.record(n, rb.as_ref());
                seen.rolebinding = Some(rb);
                ("RoleBinding", n, found)
            }
            Child::Deployment(n) => {
                let d = fetch::<Deployment>(ctx, ns, n).await?;
                let found = controller_of(d.as_ref());
                seen.record(n, d.as_ref());
                seen.deployment = Some(d);
                ("Deployment", n, found)
            }
        };
        match found {
            None => {}
            Some(Some(r)) if r.uid == parent.owner.uid => {}
            Some(controller) => {
                return Ok((
                    Some(NotOwned {
                        kind,
                        name: name.to_owned(),
                        controller: controller.map(|r| format!("{} {:?}", r.kind, r.name)),
                    }),
                    seen,
                ));
            }
        }
    }
    Ok((None, seen))
}

/// The adapter's ServiceAccount: the dedicated `<name>-adapter` (applied,
/// owned) when the source names none; otherwise the named one, created
/// (owned) only when `create_missing` (HorizonSource, as upstream). Returns
/// whether it exists.
pub(super) async fn ensure_service_account<K>(
    ctx: &Context,
    src: &K,
    parent: &Parent<'_>,
    given: Option<&str>,
    sa: &str,
    create_missing: bool,
    seen: &Seen,
) -> Result<bool, ReconcileError>
where
    K: Resource<DynamicType = ()>,
{
    let Parent { ns, owner, labels } = *parent;
    let dedicated = given.is_none_or(str::is_empty);
    let account = resources::adapter_service_account(sa, ns, owner, labels);
    if dedicated {
        ctx.apply_seen(ns, &account, seen.version::<ServiceAccount>(sa))
            .await?;
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
/// Returns what the adapter noted there for the controller (see
/// [`AdapterNotes`]). `seen`: the ConfigMap as this reconcile already read
/// it (`None`: read it now).
pub(super) async fn ensure_checkpoint_configmap(
    ctx: &Context,
    ns: &str,
    name: &str,
    owner: &OwnerReference,
    seen: Option<Option<ConfigMap>>,
) -> Result<AdapterNotes, ReconcileError> {
    let cms = ctx.api::<ConfigMap>(ns);
    let current = match seen {
        Some(cm) => cm,
        None => fetch::<ConfigMap>(ctx, ns, name).await?,
    };
    if let Some(cm) = current {
        let mut data = cm.data.unwrap_or_default();
        return Ok(AdapterNotes {
            sink_refusal: data.remove(checkpoint::SINK_REFUSAL_KEY),
            last_replay: data
                .remove(checkpoint::LAST_REPLAY_KEY)
                .and_then(|j| serde_json::from_str(&j).ok()),
        });
    }
    let cm = resources::checkpoint_configmap(name, ns, owner);
    match cms.create(&PostParams::default(), &cm).await {
        Ok(_) => Ok(AdapterNotes::default()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(AdapterNotes::default()),
        Err(e) => Err(kerr(format!("create configmap {name:?}"))(e)),
    }
}

/// What an adapter notes beside its checkpoint for the controller.
#[derive(Debug, Default)]
pub(super) struct AdapterNotes {
    /// The sink refuses the adapter's identity (see [`mark_sink_identity`]).
    pub(super) sink_refusal: Option<String>,
    /// The last replay it made on request (`status.lastReplay`).
    pub(super) last_replay: Option<sources_api::duck::LastReplay>,
}

/// `SinkIdentityAccepted` from the adapter's note (`refusal`, JSON with the
/// sink's `status`, the `sink` and `since` when): False while the sink
/// refuses the adapter's identity (401 or 403), True once it accepts again.
/// Absent until a sink first refused, and not part of `Ready` (the events
/// are kept and retried, and `AdapterReady`/`Deployed` say whether the
/// adapter runs).
pub(super) fn mark_sink_identity(p: &mut StatusDraft, refusal: Option<&str>) {
    let Some(note) = refusal else {
        if p.has(SINK_IDENTITY_ACCEPTED) {
            p.mark(SINK_IDENTITY_ACCEPTED, ConditionStatus::True, "", "");
        }
        return;
    };
    let v: serde_json::Value = serde_json::from_str(note).unwrap_or_default();
    let status = v["status"].as_u64().unwrap_or_default();
    let sink = v["sink"].as_str().unwrap_or("the sink");
    let since = v["since"].as_str().unwrap_or("a while");
    let (reason, why) = match status {
        403 => (
            "SinkForbidsIdentity",
            "it does not let this source's identity send (an EventPolicy that does not name it?)",
        ),
        _ => (
            "SinkRefusesIdentity",
            "it does not accept the adapter's identity (Knative's authentication-oidc on, \
             without a token for the sink's audience?)",
        ),
    };
    p.mark(
        SINK_IDENTITY_ACCEPTED,
        ConditionStatus::False,
        reason,
        &format!(
            "{sink} has answered {status} since {since}: {why}. No event is dropped: they are \
             retried until the sink accepts them (or go to the dead-letter sink after \
             spec.delivery.retry)"
        ),
    );
}

/// The adapter's RBAC: the Role `role` that may read and write only the
/// checkpoint ConfigMap `configmap` (and, with `tokens_for`, request tokens
/// for that OIDC ServiceAccount only), bound to the ServiceAccount `sa` by
/// `rolebinding`. A RoleBinding to another role (an earlier release bound
/// a ClusterRole; `roleRef` cannot change) is replaced. `seen`: the
/// RoleBinding as this reconcile already read it (`None`: read it now).
#[allow(clippy::too_many_arguments)] // Each names one child of the step; a struct would only rename them.
pub(super) async fn apply_adapter_rbac(
    ctx: &Context,
    parent: &Parent<'_>,
    role: &str,
    rolebinding: &str,
    configmap: &str,
    sa: &str,
    tokens_for: Option<&str>,
    seen: &mut Seen,
) -> Result<(), ReconcileError> {
    let Parent { ns, owner, labels } = *parent;
    let mut desired_role = resources::checkpoint_role(role, ns, configmap, owner, labels);
    if let Some(oidc_sa) = tokens_for {
        desired_role
            .rules
            .get_or_insert_with(Vec::new)
            .push(crate::oidc::token_rule(oidc_sa));
    }
    ctx.apply_seen(ns, &desired_role, seen.version::<Role>(role))
        .await?;
    let rb = resources::adapter_rolebinding(rolebinding, ns, sa, role, owner, labels);
    let rbs = ctx.api::<RoleBinding>(ns);
    let current = match seen.rolebinding.take() {
        Some(rb) => rb,
        None => fetch::<RoleBinding>(ctx, ns, rolebinding).await?,
    };
    let mut replaced = false;
    if let Some(existing) = current
        && existing.role_ref != rb.role_ref
    {
        replaced = true;
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
    let live = if replaced {
        None
    } else {
        seen.version::<RoleBinding>(rolebinding)
    };
    ctx.apply_seen(ns, &rb, live).await?;
    Ok(())
}

/// Runs one reconcile of `src`: counted in the metrics, a failure recorded
/// as an `InternalError` Event.
pub(super) async fn observed<K>(
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
pub(super) fn identity<K>(src: &K) -> Result<(String, String, OwnerReference), ReconcileError>
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
