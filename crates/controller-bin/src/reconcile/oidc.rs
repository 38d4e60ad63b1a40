//! The OIDC identity step both reconcilers take when `authentication-oidc` is enabled (see
//! [`crate::oidc`]): the source's own ServiceAccount, `OIDCIdentityCreated`,
//! `status.auth.serviceAccountName`, `status.sinkAudience`, and the identity the adapter sends
//! with. Disabled, the step clears what an earlier enabled reconcile wrote (the status fields,
//! the condition; the Role rule and the environment are applied without it) and deletes the
//! ServiceAccount the last status names, when the source controls it (as Knative's
//! `DeleteOIDCServiceAccountIfExists`; looked up only then, so a cluster that never enabled the
//! flag pays no extra API call).

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Resource;
use kube::api::DeleteParams;
use sources_api::conditions::{ConditionSet, ConditionStatus};
use sources_api::duck::AuthStatus;

use super::status::StatusDraft;
use super::steps::{Destinations, NotOwned, Parent};
use super::{Context, ReconcileError, is_not_found, kerr};
use crate::oidc::{self, OIDC_IDENTITY_CREATED};

/// The OIDC ServiceAccount of the source `name` of kind `K` when `authentication-oidc` is
/// enabled, else `None`.
pub(super) async fn oidc_account<K>(ctx: &Context, name: &str) -> Option<String>
where
    K: Resource<DynamicType = ()>,
{
    ctx.adapter_config
        .read()
        .await
        .oidc_enabled()
        .then(|| oidc::service_account_name(name, &K::kind(&())))
}

/// `set`, with `OIDCIdentityCreated` among the conditions `Ready` depends on when enabled.
pub(super) fn condition_set(set: ConditionSet, enabled: bool) -> ConditionSet {
    if !enabled {
        return set;
    }
    let mut dependents = set.dependents().to_vec();
    dependents.push(OIDC_IDENTITY_CREATED);
    ConditionSet::living(&dependents)
}

/// Applies the OIDC ServiceAccount `sa` of the source `src` (owned by it).
pub(super) async fn ensure_identity<K>(
    ctx: &Context,
    src: &K,
    parent: &Parent<'_>,
    sa: &str,
) -> Result<(), ReconcileError>
where
    K: Resource<DynamicType = ()>,
{
    let name = src.meta().name.as_deref().unwrap_or_default();
    let account = oidc::service_account(
        sa,
        parent.ns,
        parent.owner,
        parent.labels,
        &K::kind(&()),
        name,
    );
    ctx.apply(parent.ns, &account).await?;
    Ok(())
}

/// With `authentication-oidc` disabled: deletes the OIDC ServiceAccount `previous` (the one the
/// last status names) when it is the source's own (controlled by `owner_uid`); one someone else
/// controls is left alone.
pub(super) async fn retire_identity(
    ctx: &Context,
    ns: &str,
    previous: &str,
    owner_uid: &str,
) -> Result<(), ReconcileError> {
    let api = ctx.api::<ServiceAccount>(ns);
    let Some(sa) = api
        .get_opt(previous)
        .await
        .map_err(kerr(format!("get serviceaccount {previous:?}")))?
    else {
        return Ok(());
    };
    let ours = sa
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == owner_uid);
    if !ours {
        return Ok(());
    }
    match api.delete(previous, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!(
                namespace = ns,
                serviceaccount = previous,
                "authentication-oidc is disabled: deleted the source's OIDC ServiceAccount"
            );
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(kerr(format!("delete serviceaccount {previous:?}"))(e)),
    }
}

/// The OIDC ServiceAccount the source's last status names, if any.
/// The identity step of a reconcile: the OIDC ServiceAccount `sa` ensured when
/// authentication-oidc is enabled; otherwise the one the source's last status names, retired.
pub(super) async fn sync_identity<K>(
    ctx: &Context,
    src: &K,
    parent: &Parent<'_>,
    sa: Option<&str>,
    status: Option<&sources_api::duck::SourceStatus>,
) -> Result<(), ReconcileError>
where
    K: Resource<DynamicType = ()>,
{
    match sa {
        Some(sa) => ensure_identity(ctx, src, parent, sa).await,
        None => match previous_account(status) {
            Some(previous) => retire_identity(ctx, parent.ns, previous, &parent.owner.uid).await,
            None => Ok(()),
        },
    }
}

pub(super) fn previous_account(status: Option<&sources_api::duck::SourceStatus>) -> Option<&str> {
    status?
        .auth
        .as_ref()?
        .service_account_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

/// What a reconcile did about the identity, written into the status and the adapter's
/// environment: `sa` is the OIDC ServiceAccount (`None`: disabled), `foreign` the child someone
/// else owns (then nothing was applied), `destinations` where the adapter sends (when both
/// resolved).
pub(super) fn record(
    p: &mut StatusDraft,
    sa: Option<&str>,
    foreign: Option<&NotOwned>,
    source: (&str, &str),
    destinations: Option<&mut Destinations>,
) {
    let Some(sa) = sa else {
        p.forget(OIDC_IDENTITY_CREATED);
        p.status.auth = None;
        p.status.sink_audience = None;
        return;
    };
    p.status.auth = Some(AuthStatus {
        service_account_name: Some(sa.to_owned()),
        service_account_names: None,
    });
    match foreign {
        Some(n) if n.kind == "ServiceAccount" && n.name == sa => {
            let (kind, name) = source;
            p.mark(
                OIDC_IDENTITY_CREATED,
                ConditionStatus::False,
                &n.reason(),
                &n.message(kind, name),
            );
        }
        Some(n) => p.mark(
            OIDC_IDENTITY_CREATED,
            ConditionStatus::Unknown,
            "OIDCIdentityPending",
            &format!(
                "The OIDC ServiceAccount {sa:?} is created once the source's other children \
                 are its own ({} {:?} is not).",
                n.kind, n.name
            ),
        ),
        None => p.mark(OIDC_IDENTITY_CREATED, ConditionStatus::True, "", ""),
    }
    if let Some(d) = destinations {
        p.status.sink_audience = d.sink.audience.clone();
        d.delivery.identity = Some(adapter_env::Identity {
            service_account: sa.to_owned(),
            audience: d.sink.audience.clone(),
            dead_letter_sink_audience: d.dead_letter_audience.clone(),
        });
    }
}
