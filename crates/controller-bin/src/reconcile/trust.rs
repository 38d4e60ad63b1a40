//! Trust bundles, as Knative propagates them: the ConfigMaps labelled
//! `networking.knative.dev/trust-bundle: "true"` in the system namespace
//! (trusted by every adapter) and in a source's namespace (trusted by that
//! namespace's adapters) are copied into the source's own ConfigMap
//! `<name>-trust-bundles`, which the adapter mounts at
//! `/knative-custom-certs` and trusts for https sinks.
//!
//! A Pod mounts only ConfigMaps of its own namespace, hence the copy; a
//! tenant's bundles reach only the sources of their namespace. The copy is
//! owned by the source; when no bundle remains it is emptied and no longer
//! mounted (a removed CA stops being trusted).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams};
use kube::{Resource, ResourceExt};

use super::steps::Parent;
use super::{Context, ReconcileError, kerr};
use crate::resources;

/// The most bytes of trust bundles one source's copy holds (a ConfigMap holds
/// at most 1 MiB, keys and metadata included).
pub const MAX_TRUST_BUNDLE_BYTES: usize = 768 * 1024;

/// The trust bundles mounted into one adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TrustMount {
    /// The source's copy.
    configmap: String,
    /// The digest of its data.
    digest: String,
}

impl TrustMount {
    /// Mounts the copy into the adapter `deployment`.
    pub(super) fn apply_to(&self, deployment: &mut Deployment) {
        resources::mount_trust_bundles(deployment, &self.configmap, &self.digest);
    }
}

/// The label selector of trust bundles.
fn selector() -> String {
    format!("{}=true", resources::TRUST_BUNDLE_LABEL)
}

/// The data of the labelled ConfigMaps in `ns`, keyed `<ns>.<configmap>.<key>`
/// (binary keys are skipped: a PEM bundle is text).
async fn bundles_in(
    ctx: &Context,
    ns: &str,
    into: &mut BTreeMap<String, String>,
) -> Result<(), ReconcileError> {
    // Served from the API server's watch cache.
    let params = ListParams::default().labels(&selector()).match_any();
    let list = ctx
        .api::<ConfigMap>(ns)
        .list(&params)
        .await
        .map_err(kerr(format!("list trust bundles in namespace {ns:?}")))?;
    for cm in list.items {
        let name = cm.name_any();
        for (key, value) in cm.data.unwrap_or_default() {
            into.insert(format!("{ns}.{name}.{key}"), value);
        }
    }
    Ok(())
}

/// Brings the source's copy of the trust bundles up to date and says what to
/// mount: `None` when there is no bundle (or the copy's name is taken by an
/// object the source does not control, or the bundles are too large: each
/// said in a Warning, the adapter then trusts only its CA settings).
pub(super) async fn propagate<K>(
    ctx: &Context,
    src: &K,
    parent: &Parent<'_>,
    name: &str,
) -> Result<Option<TrustMount>, ReconcileError>
where
    K: Resource<DynamicType = ()>,
{
    let ns = parent.ns;
    let mut data = BTreeMap::new();
    bundles_in(ctx, &ctx.settings.system_namespace, &mut data).await?;
    if ns != ctx.settings.system_namespace {
        bundles_in(ctx, ns, &mut data).await?;
    }
    let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_TRUST_BUNDLE_BYTES {
        ctx.warn(
            src,
            "TrustBundlesTooLarge",
            format!(
                "the ConfigMaps labelled {}=true in namespaces {:?} and {ns:?} hold {size} bytes, \
                 more than the {MAX_TRUST_BUNDLE_BYTES} one adapter's copy holds: the adapter \
                 trusts none of them; remove bundles it does not need",
                resources::TRUST_BUNDLE_LABEL,
                ctx.settings.system_namespace
            ),
        )
        .await;
        data.clear();
    }

    // Without bundles, a copy found absent is not looked for again for a
    // resync period: only this step makes it, when there are bundles.
    let absent_key = format!("ConfigMap/{ns}/{name}/{}", parent.owner.uid);
    if data.is_empty() && ctx.applied.absent_within(&absent_key, ctx.resync()) {
        return Ok(None);
    }
    let cms = ctx.api::<ConfigMap>(ns);
    let existing = cms
        .get_opt(name)
        .await
        .map_err(kerr(format!("get configmap {name:?}")))?;
    if existing.is_none() && data.is_empty() {
        ctx.applied.mark_absent(absent_key, ctx.resync() * 3);
        return Ok(None);
    }
    ctx.applied.forget_absent(&absent_key);
    if let Some(cm) = &existing {
        let ours = cm
            .owner_references()
            .iter()
            .any(|r| r.controller == Some(true) && r.uid == parent.owner.uid);
        if !ours {
            if !data.is_empty() {
                ctx.warn(
                    src,
                    "ConfigMapNotOwned",
                    format!(
                        "ConfigMap {name:?} exists and is not this source's: the trust bundles \
                         are not mounted into its adapter; delete or rename that ConfigMap"
                    ),
                )
                .await;
            }
            return Ok(None);
        }
    }
    let mount = (!data.is_empty()).then(|| TrustMount {
        configmap: name.to_owned(),
        digest: resources::trust_bundles_digest(&data),
    });
    let unchanged = match &existing {
        None => data.is_empty(),
        Some(cm) => cm.data.as_ref().map_or(data.is_empty(), |d| *d == data),
    };
    if unchanged {
        return Ok(mount);
    }
    let mut desired =
        resources::trust_bundles_configmap(name, ns, parent.owner, parent.labels, data);
    match existing {
        None => {
            cms.create(&PostParams::default(), &desired)
                .await
                .map_err(kerr(format!("create configmap {name:?}")))?;
        }
        Some(cm) => {
            // Replace with the version read: a concurrent change fails and
            // the reconcile is retried.
            desired.metadata.resource_version = cm.metadata.resource_version;
            cms.replace(name, &PostParams::default(), &desired)
                .await
                .map_err(kerr(format!("update configmap {name:?}")))?;
        }
    }
    Ok(mount)
}
