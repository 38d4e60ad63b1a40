//! The HorizonSource reconciler.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use sources_api::conditions::ConditionStatus;
use sources_api::v1alpha1::HorizonSource;

use super::standby;
use super::status::{
    StatusDraft, deployment_availability, kept_deployment_availability, write_status,
};
use super::steps::{
    Child, Parent, apply_adapter_rbac, ensure_checkpoint_configmap, ensure_service_account,
    first_not_owned, identity, mark_sink_identity, observed, resolve_destinations,
};
use super::trust;
use super::{Context, DEPLOYED, ReconcileError, horizon_conditions, key_of, oidc};
use crate::resources::{self, HorizonChildren};

/// Reconciles one HorizonSource.
pub async fn reconcile_horizon(
    src: Arc<HorizonSource>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    // A namespace holding its share of the reconcile slots waits its turn.
    let ns = src.metadata.namespace.as_deref().unwrap_or_default();
    let Some(_slot) = ctx.pacing.enter(ns) else {
        return Ok(Action::requeue(ctx.pacing.deferral()));
    };
    observed(&*src, &ctx, reconcile_horizon_inner(&src, &ctx)).await
}

async fn reconcile_horizon_inner(
    src: &HorizonSource,
    ctx: &Context,
) -> Result<Action, ReconcileError> {
    let (ns, name, owner) = identity(src)?;
    if let Some(warning) = crate::admission::cleartext_warning(&src.spec.address) {
        ctx.warn(src, "InsecureAddress", warning).await;
    }
    let labels = resources::horizon_labels(&name);
    let parent = Parent {
        ns: &ns,
        owner: &owner,
        labels: &labels,
    };
    let oidc_sa = oidc::oidc_account::<HorizonSource>(ctx, &name).await;
    let mut p = StatusDraft::new(
        oidc::condition_set(horizon_conditions(), oidc_sa.is_some()),
        src.status.as_ref(),
        src.metadata.generation,
    );
    let children = HorizonChildren::of(&name);
    let deployment_name = children.deployment.clone();

    // 1. The sink and the dead-letter sink.
    let mut destinations = resolve_destinations(
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
    let secret_missing = super::steps::fetch::<Secret>(ctx, &ns, secret_name)
        .await?
        .is_none();

    // 3. Children of these names someone else made are left alone (a named
    //    ServiceAccount that exists is used as it is, as upstream).
    let sa = src.spec.service_account(&name);
    let dedicated = src
        .spec
        .service_account_name
        .as_deref()
        .is_none_or(str::is_empty);
    let mut kids = vec![
        Child::ConfigMap(&children.configmap),
        Child::Role(&children.role),
        Child::RoleBinding(&children.rolebinding),
        Child::Deployment(&deployment_name),
    ];
    if dedicated {
        kids.push(Child::ServiceAccount(&sa));
    }
    if let Some(oidc_sa) = &oidc_sa {
        kids.push(Child::ServiceAccount(oidc_sa));
    }
    let (foreign, mut seen) = first_not_owned(ctx, &parent, &kids).await?;

    if foreign.is_none() {
        // 4. The ServiceAccount, created when missing (the dedicated one
        //    when none is named).
        ensure_service_account(
            ctx,
            src,
            &parent,
            src.spec.service_account_name.as_deref(),
            &sa,
            true,
            &seen,
        )
        .await?;

        // 5. The checkpoint ConfigMap and the Role and RoleBinding that let
        //    the adapter write it (new: without them the adapter keeps its
        //    checkpoint in memory only, and a restart replays or skips
        //    events).
        let notes = ensure_checkpoint_configmap(
            ctx,
            &ns,
            &children.configmap,
            &owner,
            seen.configmap.take(),
        )
        .await?;
        mark_sink_identity(&mut p, notes.sink_refusal.as_deref());
        if notes.last_replay.is_some() {
            p.status.last_replay = notes.last_replay;
        }
        apply_adapter_rbac(
            ctx,
            &parent,
            &children.role,
            &children.rolebinding,
            &children.configmap,
            &sa,
            oidc_sa.as_deref(),
            &mut seen,
        )
        .await?;
        standby::apply_standby_rbac(ctx, &parent, &name, &sa, src.spec.replicas).await?;

        // 5b. The OIDC identity, when authentication-oidc is enabled;
        //     the one it had, when it was turned off.
        oidc::sync_identity(ctx, src, &parent, oidc_sa.as_deref(), src.status.as_ref()).await?;
    }
    oidc::record(
        &mut p,
        oidc_sa.as_deref(),
        foreign.as_ref(),
        ("HorizonSource", &name),
        destinations.as_mut(),
    );

    // 6. The adapter Deployment.
    if let Some(n) = &foreign {
        let message = n.message("HorizonSource", &name);
        p.mark(DEPLOYED, ConditionStatus::False, &n.reason(), &message);
        ctx.warn(src, &n.reason(), message).await;
    } else if secret_missing {
        let message = format!(
            "Secret {secret_name:?} not found in namespace {ns:?}: create it with the keys \
             domain, username and password"
        );
        p.mark(DEPLOYED, ConditionStatus::False, "SecretMissing", &message);
        ctx.warn(src, "SecretMissing", message).await;
    } else if let Some(d) = &destinations {
        let config = ctx.adapter_config.read().await.clone();
        let mut desired = resources::horizon_deployment(
            src,
            &ns,
            &owner,
            &d.sink,
            &d.delivery,
            &ctx.settings,
            &config,
        );
        if let Some(t) = trust::propagate(ctx, src, &parent, &children.trust_bundles).await? {
            t.apply_to(&mut desired);
        }
        let live = seen.version::<Deployment>(&deployment_name);
        let applied = match ctx.apply_seen(&ns, &desired, live).await {
            Ok(Some(a)) => Some(a),
            // As this reconcile read it: unchanged since the last apply.
            Ok(None) => seen.deployment.take().flatten(),
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
        let (st, reason, message) = deployment_availability(applied.as_ref(), &deployment_name);
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
        p.mark_watched(DEPLOYED, st, &reason, &message);
    } else {
        let (st, reason, message) =
            kept_deployment_availability(ctx, &ns, &deployment_name).await?;
        p.mark(DEPLOYED, st, &reason, &message);
    }
    p.status.ce_attributes = Some(horizon_ce_attributes(&src.spec.address));
    let action = p.requeue(
        &ctx.pacing,
        &key_of(src),
        Duration::from_secs(ctx.settings.resync_seconds),
    );
    // An unchanged status is not written again: the write would change
    // nothing, and costs the API server a server-side apply.
    let status = p.finish();
    if src.status.as_ref() != Some(&status) {
        write_status(ctx, src, "HorizonSource", &status).await?;
    }
    Ok(action)
}

/// `status.ceAttributes` of a HorizonSource: the common Horizon audit event types, with the
/// `source` the adapter sends (`HORIZON_URL`, the address as given), so Knative's EventType
/// registry lists them as it does for VSphereSource.
fn horizon_ce_attributes(address: &str) -> Vec<sources_api::duck::CloudEventAttributes> {
    sources_api::crds::HORIZON_EVENT_TYPES
        .iter()
        .map(|(t, _)| sources_api::duck::CloudEventAttributes {
            type_: format!("com.vmware.horizon.{t}.v0"),
            source: address.to_owned(),
        })
        .collect()
}
