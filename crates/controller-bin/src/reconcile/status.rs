//! The status a reconcile writes: conditions as they are marked
//! ([`StatusDraft`]), the adapter Deployment's availability, the patch.

use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde_json::json;
use sources_api::conditions::{ConditionSet, ConditionStatus};
use sources_api::duck::{Condition, SourceStatus};
use sources_api::v1alpha1::API_VERSION;

use super::{Context, MANAGER, ReconcileError, kerr, now};
use crate::pacing::Pacing;

/// Maps a Deployment's `Available` condition to (status, reason, message).
pub(super) fn deployment_availability(
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

pub(super) async fn write_status<K>(
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

pub(super) fn previous_conditions(status: Option<&SourceStatus>) -> Vec<Condition> {
    status
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

/// A source's conditions and status while it is reconciled.
pub(super) struct StatusDraft {
    set: ConditionSet,
    conditions: Vec<Condition>,
    pub(super) status: SourceStatus,
    time: String,
    /// Conditions marked from an object the controller watches (the adapter
    /// Deployment it just applied): their change triggers a reconcile.
    watched: Vec<&'static str>,
}

impl StatusDraft {
    pub(super) fn new(
        set: ConditionSet,
        status: Option<&SourceStatus>,
        generation: Option<i64>,
    ) -> Self {
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
            watched: Vec::new(),
        }
    }

    /// Like [`StatusDraft::mark`], for a condition that follows an object the
    /// controller watches (the availability of the adapter Deployment it
    /// owns): while only such conditions keep the object from Ready, the
    /// object's change brings the next reconcile, not a backoff poll.
    pub(super) fn mark_watched(
        &mut self,
        type_: &'static str,
        status: ConditionStatus,
        reason: &str,
        message: &str,
    ) {
        self.mark(type_, status, reason, message);
        if !self.watched.contains(&type_) {
            self.watched.push(type_);
        }
    }

    /// Whether every dependent that is not True follows a watched object.
    fn waits_only_on_watched(&self) -> bool {
        self.set.dependents().iter().all(|d| {
            self.watched.contains(d)
                || self
                    .set
                    .get(&self.conditions, d)
                    .is_some_and(|c| c.status == "True")
        })
    }

    pub(super) fn mark(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: &str,
    ) {
        self.set.mark(
            &mut self.conditions,
            type_,
            status,
            reason,
            message,
            &self.time,
        );
    }

    /// Drops the condition `type_` (one the set no longer has, e.g. `OIDCIdentityCreated` once
    /// `authentication-oidc` is disabled).
    pub(super) fn forget(&mut self, type_: &str) {
        self.conditions.retain(|c| c.type_ != type_);
    }

    /// Whether the condition `type_` is there.
    pub(super) fn has(&self, type_: &str) -> bool {
        self.conditions.iter().any(|c| c.type_ == type_)
    }

    pub(super) fn ready(&self) -> bool {
        self.set.is_ready(&self.conditions)
    }

    /// When to look at the object `key` again: the periodic resync (spread
    /// by up to a tenth either way, so objects made together do not resync
    /// together) once Ready, or when it waits only on watched objects (the
    /// adapter Deployment becoming available: its change triggers the
    /// reconcile); otherwise after its backoff (5 s, doubling, at most 2 min:
    /// what it waits for, a sink or a Secret, is not watched).
    pub(super) fn requeue(&self, pacing: &Pacing, key: &str, resync: Duration) -> Action {
        if self.ready() || self.waits_only_on_watched() {
            pacing.ready(key);
            Action::requeue(pacing.resync(resync))
        } else {
            Action::requeue(pacing.not_ready(key))
        }
    }

    /// The status to write.
    pub(super) fn finish(mut self) -> SourceStatus {
        self.status.conditions = Some(self.conditions);
        self.status
    }
}

/// The adapter Deployment's availability when the controller leaves it as
/// it is (the sink or dead-letter sink did not resolve).
pub(super) async fn kept_deployment_availability(
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
