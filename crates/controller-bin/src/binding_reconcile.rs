//! The VSphereBinding reconciler (Knative `psbinding.BaseReconciler`):
//! finalizer `vspherebindings.sources.tanzu.vmware.com`, subjects by name
//! or label selector, the subject namespace labelled for inclusion mode,
//! `Do` on every subject, `Undo` on deletion, and `Ready` with upstream's
//! reasons (`SubjectUnavailable`, `SubjectMissing`, `BindingFailed`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use sources_api::conditions::{ConditionSet, ConditionStatus};
use sources_api::v1alpha1::VSphereBinding;

use crate::binding::{self, BindingParams};
use crate::webhook::{EXCLUDE_LABEL, INCLUDE_LABEL};

/// The finalizer (the GroupResource string).
pub const FINALIZER: &str = "vspherebindings.sources.tanzu.vmware.com";

/// Why a reconcile failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// An API call failed.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The error.
        source: kube::Error,
    },
}

fn kerr(context: impl Into<String>) -> impl FnOnce(kube::Error) -> BindingError {
    let context = context.into();
    move |source| BindingError::Kube { context, source }
}

/// Shared state of the binding reconciler.
pub struct BindingContext {
    /// The client.
    pub client: Client,
    /// Nudges the webhook configuration manager (rules follow the bindings).
    pub wake: tokio::sync::mpsc::Sender<()>,
    /// How often bound subjects are re-checked.
    pub resync: Duration,
}

/// A label selector as a query string (`a=b,c in (d),!e`).
pub fn selector_string(sel: &LabelSelector) -> String {
    sources_api::selector::to_query(sel)
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 403)
}

/// The subjects of `b`, as dynamic objects with their Api. `Err` carries a
/// Ready=False reason and message.
async fn subjects(
    client: &Client,
    b: &VSphereBinding,
    ns: &str,
) -> Result<(Api<DynamicObject>, Vec<DynamicObject>), (String, String)> {
    let s = &b.spec.subject;
    let av = s.api_version.clone().unwrap_or_default();
    let kind = s.kind.clone().unwrap_or_default();
    let (group, version) = match av.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), av.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &kind);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| ("SubjectUnavailable".to_owned(), e.to_string()))?;
    let sns = s
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(ns);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), sns, &ar);
    if let Some(name) = s.name.as_deref().filter(|n| !n.is_empty()) {
        return match api.get_opt(name).await {
            Ok(Some(o)) => Ok((api, vec![o])),
            Ok(None) => Err((
                "SubjectMissing".to_owned(),
                format!("{}.{group} {name:?} not found", ar.plural),
            )),
            Err(e) => Err(("SubjectMissing".to_owned(), e.to_string())),
        };
    }
    let sel = s.selector.clone().unwrap_or_default();
    let lp = ListParams::default().labels(&selector_string(&sel));
    match api.list(&lp).await {
        Ok(list) => Ok((api, list.items)),
        Err(e) => Err(("SubjectUnavailable".to_owned(), e.to_string())),
    }
}

/// JSON-patches `obj` (through `api`) from its current state to `mutate`'s.
async fn patch_subject(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    mutate: impl Fn(&mut Value),
) -> Result<(), kube::Error> {
    let before = serde_json::to_value(obj).map_err(kube::Error::SerdeError)?;
    let mut after = before.clone();
    mutate(&mut after);
    let patch = binding::patch(&before, &after);
    if patch.0.is_empty() {
        return Ok(());
    }
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await
    .map(|_| ())
}

async fn write_ready(
    api: &Api<VSphereBinding>,
    b: &VSphereBinding,
    status: ConditionStatus,
    reason: &str,
    message: &str,
) -> Result<(), BindingError> {
    let set = ConditionSet::living(&[]);
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut conditions = b
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    set.initialize(&mut conditions, &now);
    set.mark(&mut conditions, "Ready", status, reason, message, &now);
    let mut st = json!({"conditions": conditions});
    if status == ConditionStatus::True {
        st["observedGeneration"] = json!(b.metadata.generation);
    }
    let current = b
        .status
        .as_ref()
        .map(|s| serde_json::to_value(s).unwrap_or_default());
    if current.as_ref().is_some_and(|c| {
        c.get("conditions") == st.get("conditions")
            && (st.get("observedGeneration").is_none()
                || c.get("observedGeneration") == st.get("observedGeneration"))
    }) {
        return Ok(());
    }
    api.patch_status(
        &b.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": st})),
    )
    .await
    .map_err(kerr("update vspherebinding status"))?;
    Ok(())
}

/// Labels `ns` `bindings.knative.dev/include: "true"` unless it has the
/// include or the exclude label.
async fn label_namespace(client: &Client, ns: &str) -> Result<(), BindingError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let Some(n) = api.get_opt(ns).await.map_err(kerr("get namespace"))? else {
        return Ok(());
    };
    let labels = n.labels();
    if labels.contains_key(INCLUDE_LABEL) || labels.contains_key(EXCLUDE_LABEL) {
        return Ok(());
    }
    api.patch(
        ns,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {INCLUDE_LABEL: "true"}}})),
    )
    .await
    .map_err(kerr("label namespace"))?;
    Ok(())
}

/// Reconciles one VSphereBinding.
pub async fn reconcile_binding(
    b: Arc<VSphereBinding>,
    ctx: Arc<BindingContext>,
) -> Result<Action, BindingError> {
    let ns = b.namespace().unwrap_or_default();
    let name = b.name_any();
    let api: Api<VSphereBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let _ = ctx.wake.try_send(());
    let finalizers = b.finalizers().to_vec();
    if b.metadata.deletion_timestamp.is_some() {
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::await_change());
        }
        if let Ok((sapi, objs)) = subjects(&ctx.client, &b, &ns).await {
            for o in &objs {
                match patch_subject(&sapi, o, binding::undo_binding).await {
                    Ok(()) => {}
                    Err(e) if is_gone(&e) => {}
                    Err(e) => return Err(kerr(format!("undo binding on {}", o.name_any()))(e)),
                }
            }
        }
        let rest: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": rest, "resourceVersion": b.resource_version()}}),
            ),
        )
        .await
        .map_err(kerr("remove finalizer"))?;
        tracing::info!(namespace = ns, name, "vspherebinding unbound");
        return Ok(Action::await_change());
    }
    if !finalizers.iter().any(|f| f == FINALIZER) {
        let mut all = finalizers.clone();
        all.push(FINALIZER.to_owned());
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": all, "resourceVersion": b.resource_version()}}),
            ),
        )
        .await
        .map_err(kerr("add finalizer"))?;
        // The change brings the binding back.
        return Ok(Action::await_change());
    }
    let subject_ns = b
        .spec
        .subject
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| ns.clone());
    label_namespace(&ctx.client, &subject_ns).await?;
    let (sapi, objs) = match subjects(&ctx.client, &b, &ns).await {
        Ok(s) => s,
        Err((reason, message)) => {
            write_ready(&api, &b, ConditionStatus::False, &reason, &message).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    };
    let params = BindingParams::from(&*b);
    for o in &objs {
        if let Err(e) = patch_subject(&sapi, o, |v| binding::do_binding(&params, v)).await {
            let msg = format!("Failed to bind {:?}: {e}", o.name_any());
            write_ready(&api, &b, ConditionStatus::False, "BindingFailed", &msg).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    }
    write_ready(&api, &b, ConditionStatus::True, "", "").await?;
    Ok(Action::requeue(ctx.resync))
}

/// Retries a failed reconcile after 2 s.
pub fn binding_error_policy(
    _b: Arc<VSphereBinding>,
    err: &BindingError,
    _ctx: Arc<BindingContext>,
) -> Action {
    tracing::warn!(error = %err, "vspherebinding reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_strings() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "x"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "has", "operator": "Exists"},
                {"key": "not", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert_eq!(
            selector_string(&sel),
            "app=x,tier in (a,b),env notin (dev),has,!not"
        );
    }
}
