//! The VSphereBinding reconciler (Knative `psbinding.BaseReconciler`):
//! finalizer `vspherebindings.sources.tanzu.vmware.com` (through
//! `kube::runtime::finalizer`), subjects by name or label selector, the
//! subject namespace labelled in inclusion mode (only then), `Do` on every
//! subject, `Undo` on deletion (the finalizer stays until it succeeded),
//! and `Ready` with upstream's reasons (`SubjectUnavailable`,
//! `SubjectMissing`, `BindingFailed`) and `SubjectInvalid` for a subject
//! type no binding may have.
//!
//! A binding acts only in its own namespace, whatever its stored
//! `spec.subject.namespace` says (admission refuses another one; a binding
//! stored some other way gets `SubjectNamespaceInvalid` and binds nothing).
//! A binding a VSphereSource controls (the per-source binding of an earlier
//! release or of the Go project) is left to that source's reconciler, which
//! renders the adapter's credentials itself and deletes it: no `Do`, no
//! `Undo`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use sources_api::conditions::{ConditionSet, ConditionStatus};
use sources_api::v1alpha1::VSphereBinding;

use crate::binding::{self, BindingParams};
use crate::pacing::{Pacing, PacingPolicy};
use crate::podspecable::SubjectType;
use crate::webhook::{EXCLUDE_LABEL, INCLUDE_LABEL, SelectionMode};

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
    /// The finalizer helper failed otherwise.
    #[error("finalizer: {0}")]
    Finalizer(String),
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
    /// The binding webhook's selection mode: only in inclusion mode are
    /// subject namespaces labelled (no namespace patching otherwise).
    pub selection_mode: SelectionMode,
    /// Per-binding backoff and namespace shares.
    pub pacing: Pacing,
}

impl BindingContext {
    /// The pacing of the binding reconciler: a binding that cannot bind
    /// (its subject missing or unavailable) is looked at again after 10 s,
    /// doubling up to 2 min.
    pub fn pacing_policy() -> PacingPolicy {
        PacingPolicy {
            not_ready_first: Duration::from_secs(10),
            ..PacingPolicy::default()
        }
    }
}

fn key_of(b: &VSphereBinding) -> String {
    format!(
        "VSphereBinding/{}/{}",
        b.metadata.namespace.as_deref().unwrap_or_default(),
        b.metadata.name.as_deref().unwrap_or_default()
    )
}

/// A label selector as a query string (`a=b,c in (d),!e`).
pub fn selector_string(sel: &LabelSelector) -> String {
    sources_api::selector::to_query(sel)
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 403)
}

/// Why the subjects of a binding could not be listed.
enum SubjectError {
    /// The subject type is malformed, not PodSpecable or not served:
    /// nothing can be (or was) bound. A Ready=False reason and message.
    Unbindable {
        reason: &'static str,
        message: String,
    },
    /// An API call failed.
    Kube {
        context: String,
        source: kube::Error,
    },
}

/// The subjects of `b` in its own namespace `ns` (whatever
/// `spec.subject.namespace` says), as dynamic objects with their Api.
async fn subjects(
    client: &Client,
    b: &VSphereBinding,
    ns: &str,
) -> Result<(Api<DynamicObject>, Vec<DynamicObject>), SubjectError> {
    let s = &b.spec.subject;
    let av = s.api_version.clone().unwrap_or_default();
    let kind = s.kind.clone().unwrap_or_default();
    let t = SubjectType::parse(&av, &kind).map_err(|e| SubjectError::Unbindable {
        reason: "SubjectInvalid",
        message: e.to_string(),
    })?;
    let gvk = GroupVersionKind::gvk(&t.group, &t.version, &t.kind);
    let (ar, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| SubjectError::Unbindable {
            reason: "SubjectUnavailable",
            message: format!("{kind} ({av}) is not served by the API server: {e}"),
        })?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    if let Some(name) = s.name.as_deref().filter(|n| !n.is_empty()) {
        return match api.get_opt(name).await {
            Ok(Some(o)) => Ok((api, vec![o])),
            Ok(None) => Err(SubjectError::Unbindable {
                reason: "SubjectMissing",
                message: format!("{}.{} {name:?} not found", ar.plural, t.group),
            }),
            Err(source) => Err(SubjectError::Kube {
                context: format!("get {} {name:?}", ar.plural),
                source,
            }),
        };
    }
    let sel = s.selector.clone().unwrap_or_default();
    let lp = ListParams::default().labels(&selector_string(&sel));
    match api.list(&lp).await {
        Ok(list) => Ok((api, list.items)),
        Err(source) => Err(SubjectError::Kube {
            context: format!("list {}", ar.plural),
            source,
        }),
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

/// Reconciles one VSphereBinding through `kube::runtime::finalizer`: the
/// finalizer is added first; on deletion every subject is unbound (Undo)
/// before it is removed, and a failure keeps it (and retries).
pub async fn reconcile_binding(
    b: Arc<VSphereBinding>,
    ctx: Arc<BindingContext>,
) -> Result<Action, BindingError> {
    let ns = b.namespace().unwrap_or_default();
    // A namespace holding its share of the reconcile slots waits its turn.
    let Some(_slot) = ctx.pacing.enter(&ns) else {
        return Ok(Action::requeue(ctx.pacing.deferral()));
    };
    let api: Api<VSphereBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let _ = ctx.wake.try_send(());
    finalizer(&api, FINALIZER, b, |event| async {
        match event {
            FinalizerEvent::Apply(b) => bind(&b, &ctx).await,
            FinalizerEvent::Cleanup(b) => unbind(&b, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(source) => BindingError::Kube {
            context: "add finalizer".into(),
            source,
        },
        finalizer::Error::RemoveFinalizer(source) => BindingError::Kube {
            context: "remove finalizer".into(),
            source,
        },
        other => BindingError::Finalizer(other.to_string()),
    })
}

/// Undo on every subject. Nothing to undo when the subject type is
/// malformed or not served (nothing was bound), or when a subject is gone
/// (its patch is Forbidden or NotFound, as upstream); a subject list that
/// fails otherwise keeps the finalizer.
async fn unbind(b: &VSphereBinding, ctx: &BindingContext) -> Result<Action, BindingError> {
    let ns = b.namespace().unwrap_or_default();
    let name = b.name_any();
    if binding::is_source_owned(b) {
        // The adapter's credentials are the source's controller's now: an
        // Undo would take them from a running adapter.
        tracing::info!(
            namespace = ns,
            name,
            "a source's own binding; nothing to unbind"
        );
        return Ok(Action::await_change());
    }
    // Only in the binding's own namespace, whatever the subject says.
    match subjects(&ctx.client, b, &ns).await {
        Ok((sapi, objs)) => {
            for o in &objs {
                match patch_subject(&sapi, o, binding::undo_binding).await {
                    Ok(()) => {}
                    Err(e) if is_gone(&e) => {}
                    Err(e) => return Err(kerr(format!("undo binding on {}", o.name_any()))(e)),
                }
            }
        }
        Err(SubjectError::Unbindable { reason, message }) => {
            tracing::info!(namespace = ns, name, reason, message, "nothing to unbind");
        }
        Err(SubjectError::Kube { context, source }) if matches!(&source, kube::Error::Api(s) if s.code == 404) =>
        {
            tracing::info!(
                namespace = ns,
                name,
                context,
                "subjects gone; nothing to unbind"
            );
        }
        // Not listed (Forbidden, unreachable...): subjects may still carry
        // the credentials, so the finalizer stays, the status says why, and
        // the Undo is retried.
        Err(SubjectError::Kube { context, source }) => {
            let api: Api<VSphereBinding> = Api::namespaced(ctx.client.clone(), &ns);
            let message = format!(
                "cannot unbind the subjects ({context}: {source}); the finalizer stays until \
                 they are unbound"
            );
            write_ready(&api, b, ConditionStatus::False, "UnbindFailed", &message).await?;
            return Err(BindingError::Kube { context, source });
        }
    }
    tracing::info!(namespace = ns, name, "vspherebinding unbound");
    Ok(Action::await_change())
}

async fn bind(b: &VSphereBinding, ctx: &BindingContext) -> Result<Action, BindingError> {
    let ns = b.namespace().unwrap_or_default();
    let api: Api<VSphereBinding> = Api::namespaced(ctx.client.clone(), &ns);
    if binding::is_source_owned(b) {
        // A VSphereSource's own binding (an earlier release's, or the Go
        // project's): the source's controller renders that adapter's
        // credentials and deletes the binding.
        write_ready(&api, b, ConditionStatus::True, "", "").await?;
        return Ok(Action::await_change());
    }
    if let Some(other) = binding::subject_namespace_mismatch(b) {
        // Stored without admission: never act on another namespace.
        let message = format!(
            "spec.subject.namespace {other:?} is not the binding's namespace {ns:?}: a \
             VSphereBinding binds only in its own namespace, so nothing is bound; remove \
             spec.subject.namespace or set it to {ns:?}"
        );
        write_ready(
            &api,
            b,
            ConditionStatus::False,
            "SubjectNamespaceInvalid",
            &message,
        )
        .await?;
        return Ok(Action::await_change());
    }
    if ctx.selection_mode == SelectionMode::Inclusion {
        label_namespace(&ctx.client, &ns).await?;
    }
    let (sapi, objs) = match subjects(&ctx.client, b, &ns).await {
        Ok(s) => s,
        Err(SubjectError::Unbindable { reason, message }) => {
            write_ready(&api, b, ConditionStatus::False, reason, &message).await?;
            return Ok(Action::requeue(ctx.pacing.not_ready(&key_of(b))));
        }
        Err(SubjectError::Kube { context, source }) => {
            let reason = if matches!(&source, kube::Error::Api(s) if s.code == 404) {
                "SubjectMissing"
            } else {
                "SubjectUnavailable"
            };
            write_ready(
                &api,
                b,
                ConditionStatus::False,
                reason,
                &format!("{context}: {source}"),
            )
            .await?;
            return Ok(Action::requeue(ctx.pacing.not_ready(&key_of(b))));
        }
    };
    let params = BindingParams::from(b);
    for o in &objs {
        if let Err(e) = patch_subject(&sapi, o, |v| binding::do_binding(&params, v)).await {
            let msg = format!("Failed to bind {:?}: {e}", o.name_any());
            write_ready(&api, b, ConditionStatus::False, "BindingFailed", &msg).await?;
            return Ok(Action::requeue(ctx.pacing.not_ready(&key_of(b))));
        }
    }
    write_ready(&api, b, ConditionStatus::True, "", "").await?;
    ctx.pacing.ready(&key_of(b));
    Ok(Action::requeue(ctx.resync))
}

/// Retries a failed reconcile after the binding's backoff (2 s, doubling,
/// at most 5 min).
pub fn binding_error_policy(
    b: Arc<VSphereBinding>,
    err: &BindingError,
    ctx: Arc<BindingContext>,
) -> Action {
    let wait = ctx.pacing.failed(&key_of(&b));
    tracing::warn!(error = %err, retry_in = ?wait, "vspherebinding reconcile failed");
    Action::requeue(wait)
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
