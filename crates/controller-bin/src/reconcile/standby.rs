//! A source's standby adapter (`spec.replicas: 2`): its adapters campaign for the Lease named
//! after the adapter Deployment, which needs leases in the source's namespace. The controller
//! binds the adapter's ServiceAccount to the release's ClusterRole
//! [`STANDBY_CLUSTER_ROLE`] (`get`, `create`, `update` on leases) with a RoleBinding
//! `<name>-standby` in the source's namespace: it holds only `bind` on that ClusterRole, never
//! lease rights of its own. With one replica the RoleBinding is deleted.

use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::DeleteParams;

use super::steps::Parent;
use super::{Context, ReconcileError, is_not_found, kerr};

/// The release's ClusterRole a standby adapter's ServiceAccount is bound to.
pub const STANDBY_CLUSTER_ROLE: &str = "vmware-sources-adapter-standby";

/// Binds (with `replicas` 2) or unbinds the adapter's ServiceAccount `sa` to leases in the
/// namespace of the source `source`, with the RoleBinding `<source>-standby`.
pub(super) async fn apply_standby_rbac(
    ctx: &Context,
    parent: &Parent<'_>,
    source: &str,
    sa: &str,
    replicas: Option<i32>,
) -> Result<(), ReconcileError> {
    let Parent { ns, owner, labels } = *parent;
    let name = &sources_api::kmeta::child_name(source, "-standby");
    let standby = crate::resources::standby(replicas);
    let api = ctx.api::<RoleBinding>(ns);
    // Only the controller makes it: once found absent (or deleted) with one
    // replica, it is looked for again only after a resync period.
    let key = format!("RoleBinding/{ns}/{name}/{}", owner.uid);
    if !standby {
        if ctx.applied.absent_within(&key, ctx.resync()) {
            return Ok(());
        }
        let ours = api
            .get_opt(name)
            .await
            .map_err(kerr(format!("get rolebinding {name:?}")))?
            .is_some_and(|rb| {
                rb.owner_references()
                    .iter()
                    .any(|r| r.controller == Some(true) && r.uid == owner.uid)
            });
        if ours {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(kerr(format!("delete rolebinding {name:?}"))(e)),
            }
        }
        // A RoleBinding of that name someone else controls is left alone,
        // and not looked at again for a while either.
        ctx.applied.mark_absent(key, ctx.resync() * 3);
        return Ok(());
    }
    ctx.applied.forget_absent(&key);
    let rb = RoleBinding {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: STANDBY_CLUSTER_ROLE.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: sa.to_owned(),
            namespace: Some(ns.to_owned()),
            api_group: None,
        }]),
    };
    ctx.apply(ns, &rb).await?;
    Ok(())
}
