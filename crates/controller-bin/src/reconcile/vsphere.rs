//! The VSphereSource reconciler.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::DeleteParams;
use kube::runtime::controller::Action;
use sources_api::conditions::ConditionStatus;
use sources_api::duck::CloudEventAttributes;
use sources_api::v1alpha1::{VSphereBinding, VSphereSource};

use super::standby;
use super::status::{
    StatusDraft, deployment_availability, kept_deployment_availability, write_status,
};
use super::steps::{
    Child, Parent, apply_adapter_rbac, ensure_checkpoint_configmap, ensure_service_account,
    first_not_owned, identity, mark_sink_identity, observed, resolve_destinations,
};
use super::trust;
use super::{
    ADAPTER_READY, AUTH_READY, Context, ReconcileError, kerr, key_of, oidc, vsphere_conditions,
};
use crate::resources::{self, VSphereChildren};

/// Reconciles one VSphereSource.
pub async fn reconcile_vsphere(
    src: Arc<VSphereSource>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    // A namespace holding its share of the reconcile slots waits its turn.
    let ns = src.metadata.namespace.as_deref().unwrap_or_default();
    let Some(_slot) = ctx.pacing.enter(ns) else {
        return Ok(Action::requeue(ctx.pacing.deferral()));
    };
    observed(&*src, &ctx, reconcile_vsphere_inner(&src, &ctx)).await
}

/// The credentials Secret of a VSphereSource: present, with `username` and
/// `password`; else a reason and message.
async fn check_vsphere_secret(
    ctx: &Context,
    ns: &str,
    secret_name: &str,
) -> Result<Result<(), (&'static str, String)>, ReconcileError> {
    let secret = super::steps::fetch::<Secret>(ctx, ns, secret_name).await?;
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
    if let Some(warning) = crate::admission::cleartext_warning(&src.spec.address) {
        ctx.warn(src, "InsecureAddress", warning).await;
    }
    let names = VSphereChildren::of(&name);
    let labels = resources::vsphere_labels(&name);
    let parent = Parent {
        ns: &ns,
        owner: &owner,
        labels: &labels,
    };
    let oidc_sa = oidc::oidc_account::<VSphereSource>(ctx, &name).await;
    let mut p = StatusDraft::new(
        oidc::condition_set(vsphere_conditions(), oidc_sa.is_some()),
        src.status.as_ref(),
        src.metadata.generation,
    );
    let sa = src.spec.service_account(&name);

    // 1. Credentials: the Secret must exist with username and password.
    let auth = check_vsphere_secret(ctx, &ns, &src.spec.secret_ref.name).await?;

    // 2. The vCenter settings go into the adapter Deployment (step 7); the
    //    per-source VSphereBinding of the Go controller and earlier releases
    //    is retired.
    retire_source_binding(ctx, &ns, &names.binding, &owner.uid).await?;
    match &auth {
        Ok(()) => p.mark(AUTH_READY, ConditionStatus::True, "", ""),
        Err((reason, message)) => {
            p.mark(AUTH_READY, ConditionStatus::False, reason, message);
            ctx.warn(src, reason, message.clone()).await;
        }
    }

    // 3. Children of these names someone else made are left alone.
    let dedicated = src
        .spec
        .service_account_name
        .as_deref()
        .is_none_or(str::is_empty);
    let mut children = vec![
        Child::ConfigMap(&names.configmap),
        Child::Role(&names.role),
        Child::RoleBinding(&names.rolebinding),
        Child::Deployment(&names.deployment),
    ];
    if dedicated {
        children.push(Child::ServiceAccount(&sa));
    }
    if let Some(oidc_sa) = &oidc_sa {
        children.push(Child::ServiceAccount(oidc_sa));
    }
    let (foreign, mut seen) = first_not_owned(ctx, &parent, &children).await?;

    let sa_exists = if foreign.is_none() {
        // 4. The checkpoint ConfigMap, and the adapter's note when the sink
        //    refuses its identity.
        let notes =
            ensure_checkpoint_configmap(ctx, &ns, &names.configmap, &owner, seen.configmap.take())
                .await?;
        mark_sink_identity(&mut p, notes.sink_refusal.as_deref());
        if notes.last_replay.is_some() {
            p.status.last_replay = notes.last_replay;
        }

        // 5. The ServiceAccount: the dedicated one, or the named one, which
        //    must exist (never created, as upstream).
        let sa_exists = ensure_service_account(
            ctx,
            src,
            &parent,
            src.spec.service_account_name.as_deref(),
            &sa,
            false,
            &seen,
        )
        .await?;

        // 6. The Role for the checkpoint ConfigMap and its RoleBinding.
        apply_adapter_rbac(
            ctx,
            &parent,
            &names.role,
            &names.rolebinding,
            &names.configmap,
            &sa,
            oidc_sa.as_deref(),
            &mut seen,
        )
        .await?;
        standby::apply_standby_rbac(ctx, &parent, &name, &sa, src.spec.replicas).await?;

        // 6b. The OIDC identity, when authentication-oidc is enabled;
        //     the one it had, when it was turned off.
        oidc::sync_identity(ctx, src, &parent, oidc_sa.as_deref(), src.status.as_ref()).await?;
        sa_exists
    } else {
        false
    };

    // 7. The sink and the dead-letter sink.
    let mut destinations = resolve_destinations(
        ctx,
        src,
        &ns,
        &src.spec.sink,
        src.spec.delivery.as_ref(),
        &mut p,
    )
    .await;
    oidc::record(
        &mut p,
        oidc_sa.as_deref(),
        foreign.as_ref(),
        ("VSphereSource", &name),
        destinations.as_mut(),
    );

    // 8. The adapter Deployment, once it can run.
    if let Some(n) = &foreign {
        let message = n.message("VSphereSource", &name);
        p.mark(ADAPTER_READY, ConditionStatus::False, &n.reason(), &message);
        ctx.warn(src, &n.reason(), message).await;
    } else if !sa_exists {
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
        let mut desired = resources::vsphere_deployment(
            src,
            &ns,
            &owner,
            &d.sink,
            &d.delivery,
            &ctx.settings,
            &config,
        );
        if let Some(t) = trust::propagate(ctx, src, &parent, &names.trust_bundles).await? {
            t.apply_to(&mut desired);
        }
        let live = seen.version::<Deployment>(&names.deployment);
        let applied = match ctx.apply_seen(&ns, &desired, live).await? {
            Some(a) => Some(a),
            // As this reconcile read it: unchanged since the last apply.
            None => seen.deployment.take().flatten(),
        };
        let (st, reason, message) = deployment_availability(applied.as_ref(), &names.deployment);
        p.mark_watched(ADAPTER_READY, st, &reason, &message);
    } else {
        let (st, reason, message) =
            kept_deployment_availability(ctx, &ns, &names.deployment).await?;
        p.mark(ADAPTER_READY, st, &reason, &message);
    }

    p.status.ce_attributes = Some(vsphere_ce_attributes(src));
    let action = p.requeue(
        &ctx.pacing,
        &key_of(src),
        Duration::from_secs(ctx.settings.resync_seconds),
    );
    // An unchanged status is not written again: the write would change
    // nothing, and costs the API server a server-side apply.
    let status = p.finish();
    if src.status.as_ref() != Some(&status) {
        write_status(ctx, src, "VSphereSource", &status).await?;
    }
    Ok(action)
}

/// Deletes the VSphereBinding `name` when the source `uid` controls it (the
/// Go controller's and earlier releases' per-source binding). The binding
/// reconciler leaves a source's binding alone (no `Undo`), so the adapter's
/// settings, rendered by this controller, stay. A binding of that name the
/// source does not control is someone else's: untouched.
async fn retire_source_binding(
    ctx: &Context,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<(), ReconcileError> {
    // Only the Go controller and earlier releases made it: once gone, it is
    // looked for again only after a resync period.
    let key = format!("VSphereBinding/{ns}/{name}/{uid}");
    if ctx.applied.absent_within(&key, ctx.resync()) {
        return Ok(());
    }
    let gone = || ctx.applied.mark_absent(key.clone(), ctx.resync() * 3);
    let api = ctx.api::<VSphereBinding>(ns);
    let Some(b) = api
        .get_opt(name)
        .await
        .map_err(kerr(format!("get vspherebinding {name:?}")))?
    else {
        gone();
        return Ok(());
    };
    let controlled = b
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid);
    if !controlled || b.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!(
                namespace = ns,
                name,
                "deleted the source's own VSphereBinding: its adapter's vCenter settings are \
                 rendered by the controller"
            );
            gone();
            Ok(())
        }
        Err(e) if super::is_not_found(&e) => {
            gone();
            Ok(())
        }
        Err(e) => Err(kerr(format!("delete vspherebinding {name:?}"))(e)),
    }
}

/// The `source` attribute the adapter sends for vCenter `address`: the address as govmomi's
/// `soap.ParseURL` normalises it (`https://` when there is no scheme, `/sdk` when there is no
/// path, no user info), as the adapter's client does.
pub(crate) fn vcenter_ce_source(address: &str) -> String {
    let address = address.trim();
    let with_scheme = if address.contains("://") {
        address.to_owned()
    } else {
        format!("https://{address}")
    };
    match url::Url::parse(&with_scheme) {
        Ok(mut url) => {
            if url.path().is_empty() || url.path() == "/" {
                url.set_path("/sdk");
            }
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        // Admission refuses such an address; keep what was given.
        Err(_) => with_scheme,
    }
}

/// `status.ceAttributes`: the filtered types, or the common ones.
fn vsphere_ce_attributes(src: &VSphereSource) -> Vec<CloudEventAttributes> {
    let source = vcenter_ce_source(&src.spec.address);
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

#[cfg(test)]
mod tests {
    use super::vcenter_ce_source;

    #[test]
    fn the_ce_source_is_the_address_as_the_adapter_normalises_it() {
        for (address, source) in [
            ("https://vc.local", "https://vc.local/sdk"),
            ("https://vc.local/", "https://vc.local/sdk"),
            ("https://vc.local/sdk", "https://vc.local/sdk"),
            ("vc.local", "https://vc.local/sdk"),
            (
                "https://vc.local:8443/custom",
                "https://vc.local:8443/custom",
            ),
            ("https://user:pw@vc.local/sdk", "https://vc.local/sdk"),
        ] {
            assert_eq!(vcenter_ce_source(address), source, "{address}");
        }
    }
}
