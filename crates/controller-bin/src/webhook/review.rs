//! The AdmissionReview handlers: defaulting, validation, `config-logging`
//! validation and the VSphereBinding mutation, each a function of the
//! request and the caches.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::runtime::reflector::Store;
use serde_json::Value;

use super::caches::BindingIndex;
use crate::admission::{self, Kind, Policy};
use crate::binding;
use crate::podspecable::PodSpecables;

/// What the handlers need.
#[derive(Clone)]
pub struct WebhookState {
    /// The VSphereBindings, by namespace.
    pub bindings: BindingIndex,
    /// ClusterRoles labelled `duck.knative.dev/podspecable: "true"`.
    pub podspecable_roles: Store<ClusterRole>,
    /// The name of the `config-logging` ConfigMap.
    pub config_logging_name: String,
    /// Namespaces where VSphereBindings are refused.
    pub excluded_namespaces: Vec<String>,
}

impl WebhookState {
    fn policy(&self) -> Policy {
        Policy {
            podspecables: podspecables(&self.podspecable_roles),
            excluded_namespaces: self.excluded_namespaces.clone(),
        }
    }
}

pub(super) fn podspecables(roles: &Store<ClusterRole>) -> PodSpecables {
    let state = roles.state();
    PodSpecables::from_cluster_roles(state.iter().map(|r| &**r))
}

/// The answer to the AdmissionReview `request` sent to the webhook `path`.
pub(super) fn answer(
    path: &str,
    request: &AdmissionRequest<DynamicObject>,
    state: &WebhookState,
) -> AdmissionResponse {
    match path {
        "/defaulting" => defaulting(request),
        "/resource-validation" => validation(request, &state.policy()),
        "/config-validation" => config_validation(request, &state.config_logging_name),
        "/vspherebindings" => bindings(request, &state.bindings),
        _ => AdmissionResponse::from(request).deny(format!("unknown webhook path {path}")),
    }
}

fn object_json(o: Option<&DynamicObject>) -> Option<Value> {
    o.and_then(|o| serde_json::to_value(o).ok())
}

fn with_patch(
    req: &AdmissionRequest<DynamicObject>,
    before: &Value,
    after: &Value,
) -> AdmissionResponse {
    let patch = binding::patch(before, after);
    let resp = AdmissionResponse::from(req);
    if patch.0.is_empty() {
        return resp;
    }
    match resp.with_patch(patch) {
        Ok(r) => r,
        Err(e) => AdmissionResponse::from(req).deny(e.to_string()),
    }
}

fn defaulting(req: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let Some(kind) = Kind::from_kind(&req.kind.kind) else {
        return AdmissionResponse::from(req);
    };
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return AdmissionResponse::from(req);
    }
    let Some(obj) = object_json(req.object.as_ref()) else {
        return AdmissionResponse::from(req);
    };
    match admission::default_object(kind, &obj) {
        Ok(defaulted) => with_patch(req, &obj, &defaulted),
        Err(e) => AdmissionResponse::from(req).deny(e),
    }
}

fn validation(req: &AdmissionRequest<DynamicObject>, policy: &Policy) -> AdmissionResponse {
    let Some(kind) = Kind::from_kind(&req.kind.kind) else {
        return AdmissionResponse::from(req);
    };
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return AdmissionResponse::from(req);
    }
    let Some(obj) = object_json(req.object.as_ref()) else {
        return AdmissionResponse::from(req);
    };
    let old = match req.operation {
        Operation::Update => object_json(req.old_object.as_ref()),
        _ => None,
    };
    // An object being deleted may still be updated (finalizers), but its
    // spec stays: whatever it names was checked when it was admitted.
    if let Some(old) = &old
        && (admission::is_deleting(old) || admission::is_deleting(&obj))
    {
        return match admission::validate_deleting_update(old, &obj) {
            Ok(()) => AdmissionResponse::from(req),
            Err(e) => AdmissionResponse::from(req).deny(e),
        };
    }
    // An update that leaves the spec as it is (finalizers, labels) is never
    // refused: an object stored before a rule tightened must stay
    // manageable, and deletable.
    if old
        .as_ref()
        .is_some_and(|o| o.get("spec") == obj.get("spec"))
    {
        return AdmissionResponse::from(req);
    }
    match admission::validate_with(kind, &obj, old.as_ref(), policy) {
        Ok(warnings) => {
            let mut r = AdmissionResponse::from(req);
            if !warnings.is_empty() {
                r.warnings = Some(warnings);
            }
            r
        }
        Err(e) => AdmissionResponse::from(req).deny(e),
    }
}

fn config_validation(req: &AdmissionRequest<DynamicObject>, logging: &str) -> AdmissionResponse {
    if req.kind.kind != "ConfigMap" || req.name != logging {
        return AdmissionResponse::from(req);
    }
    let data: BTreeMap<String, String> = object_json(req.object.as_ref())
        .and_then(|o| o.get("data").cloned())
        .and_then(|d| serde_json::from_value(d).ok())
        .unwrap_or_default();
    match admission::validate_config_logging(&data) {
        Ok(()) => AdmissionResponse::from(req),
        Err(e) => AdmissionResponse::from(req).deny(e),
    }
}

fn bindings(req: &AdmissionRequest<DynamicObject>, index: &BindingIndex) -> AdmissionResponse {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return AdmissionResponse::from(req);
    }
    // Subresources (status, scale) carry no pod template to change.
    if req.sub_resource.as_deref().is_some_and(|s| !s.is_empty()) {
        return AdmissionResponse::from(req);
    }
    let Some(mut obj) = object_json(req.object.as_ref()) else {
        return AdmissionResponse::from(req);
    };
    // The object may lack apiVersion/kind; the request has them.
    if let Value::Object(m) = &mut obj {
        let gvk = &req.kind;
        let api_version = if gvk.group.is_empty() {
            gvk.version.clone()
        } else {
            format!("{}/{}", gvk.group, gvk.version)
        };
        m.insert("apiVersion".into(), Value::String(api_version));
        m.insert("kind".into(), Value::String(gvk.kind.clone()));
        if let Some(ns) = &req.namespace
            && let Some(Value::Object(meta)) = m.get_mut("metadata")
        {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
    }
    // Only the bindings of the object's own namespace: a binding never
    // reaches another (and nothing is copied but a few shared entries).
    let ns = req.namespace.as_deref().unwrap_or_default();
    let here = index.in_namespace(ns);
    let mutated = binding::apply_bindings(here.iter().map(|e| &**e), &obj);
    with_patch(req, &obj, &mutated)
}
