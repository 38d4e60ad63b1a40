//! The VSphereBinding mutation of PodSpecable objects (upstream's `Do` and
//! `Undo`), as pure functions on JSON, and the JSONPatch that applies it.
//!
//! ```
//! use sources_controller::binding::{do_binding, BindingParams};
//! use serde_json::json;
//!
//! let params = BindingParams {
//!     address: "https://vc.local".into(),
//!     skip_tls_verify: false,
//!     secret: "creds".into(),
//!     ca_certs: None,
//! };
//! let mut deploy = json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}});
//! do_binding(&params, &mut deploy);
//! assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"], "VC_URL");
//! ```

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};
use sources_api::v1alpha1::VSphereBinding;

/// The volume carrying the credentials Secret.
pub const VOLUME_NAME: &str = "vsphere-binding";
/// Where the volume is mounted in every container.
pub const MOUNT_PATH: &str = "/var/bindings/vsphere";
/// The environment variables the binding owns (all removed by `Undo`):
/// upstream's four and `VC_CA_CERTS` (new, from `spec.caCerts`).
pub const ENV_NAMES: &[&str] = &[
    "VC_URL",
    "VC_INSECURE",
    "VC_USERNAME",
    "VC_PASSWORD",
    "VC_CA_CERTS",
];

/// What a binding injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingParams {
    /// `spec.address` (`VC_URL`).
    pub address: String,
    /// `spec.skipTLSVerify` (`VC_INSECURE`).
    pub skip_tls_verify: bool,
    /// `spec.secretRef.name`.
    pub secret: String,
    /// `spec.caCerts` (`VC_CA_CERTS`): PEM CA certificates to trust for
    /// vCenter; not injected when empty.
    pub ca_certs: Option<String>,
}

impl From<&VSphereBinding> for BindingParams {
    fn from(b: &VSphereBinding) -> Self {
        Self {
            address: b.spec.address.clone(),
            skip_tls_verify: b.spec.skip_tls_verify,
            secret: b.spec.secret_ref.name.clone(),
            ca_certs: b.spec.ca_certs.clone().filter(|c| !c.trim().is_empty()),
        }
    }
}

fn pod_spec(obj: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    obj.pointer_mut("/spec/template/spec")?.as_object_mut()
}

fn containers(ps: &mut serde_json::Map<String, Value>) -> Vec<&mut serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    // initContainers first, as upstream; both lists get the same treatment.
    for (k, v) in ps.iter_mut() {
        if (k == "initContainers" || k == "containers")
            && let Some(list) = v.as_array_mut()
        {
            out.extend(list.iter_mut().filter_map(Value::as_object_mut));
        }
    }
    out
}

fn remove_first_named(list: &mut Vec<Value>, name: &str) {
    if let Some(i) = list.iter().position(|v| v["name"] == name) {
        list.remove(i);
    }
}

/// Upstream's `Undo`: removes the first `vsphere-binding` volume, the first
/// `vsphere-binding` mount of every container and init container, and
/// every `VC_URL`, `VC_INSECURE`, `VC_USERNAME` and `VC_PASSWORD` env entry
/// (and `VC_CA_CERTS`, which only this binding sets).
pub fn undo_binding(obj: &mut Value) {
    let Some(ps) = pod_spec(obj) else { return };
    if let Some(vols) = ps.get_mut("volumes").and_then(Value::as_array_mut) {
        remove_first_named(vols, VOLUME_NAME);
    }
    for c in containers(ps) {
        if let Some(mounts) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
            remove_first_named(mounts, VOLUME_NAME);
        }
        if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
            env.retain(|e| !e["name"].as_str().is_some_and(|n| ENV_NAMES.contains(&n)));
        }
    }
}

/// Upstream's `Do`: `Undo`, then the volume, and in every init container and
/// container the mount and the four env entries, in upstream's order, then
/// `VC_CA_CERTS` when the binding has `caCerts`.
pub fn do_binding(params: &BindingParams, obj: &mut Value) {
    undo_binding(obj);
    let Some(ps) = pod_spec(obj) else { return };
    let vols = ps.entry("volumes").or_insert_with(|| json!([]));
    if !vols.is_array() {
        *vols = json!([]);
    }
    if let Some(v) = vols.as_array_mut() {
        v.push(json!({"name": VOLUME_NAME, "secret": {"secretName": params.secret}}));
    }
    let secret_key = |key: &str| json!({"secretKeyRef": {"name": params.secret, "key": key}});
    for c in containers(ps) {
        let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
        if let Some(m) = mounts.as_array_mut() {
            m.push(json!({"name": VOLUME_NAME, "readOnly": true, "mountPath": MOUNT_PATH}));
        }
        let env = c.entry("env").or_insert_with(|| json!([]));
        if let Some(e) = env.as_array_mut() {
            e.push(json!({"name": "VC_URL", "value": params.address}));
            e.push(json!({"name": "VC_INSECURE", "value": params.skip_tls_verify.to_string()}));
            e.push(json!({"name": "VC_USERNAME", "valueFrom": secret_key("username")}));
            e.push(json!({"name": "VC_PASSWORD", "valueFrom": secret_key("password")}));
            if let Some(ca) = &params.ca_certs {
                e.push(json!({"name": "VC_CA_CERTS", "value": ca}));
            }
        }
    }
}

/// The JSONPatch turning `before` into `after`.
pub fn patch(before: &Value, after: &Value) -> json_patch::Patch {
    json_patch::diff(before, after)
}

/// Whether `labels` match a Kubernetes label selector (`matchLabels` and
/// `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`). An
/// empty selector matches everything.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if let Some(ml) = &sel.match_labels
        && ml.iter().any(|(k, v)| labels.get(k) != Some(v))
    {
        return false;
    }
    for e in sel.match_expressions.iter().flatten() {
        let val = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        let ok = match e.operator.as_str() {
            "In" => val.is_some_and(|v| values.contains(v)),
            "NotIn" => val.is_none_or(|v| !values.contains(v)),
            "Exists" => val.is_some(),
            "DoesNotExist" => val.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// What the binding webhook needs of one VSphereBinding: the caches hold
/// this, never the object (its metadata, status and managed fields can be
/// large and admission does not read them).
#[derive(Clone, Debug, PartialEq)]
pub struct BindingEntry {
    /// The binding's namespace: the only one it binds in.
    pub namespace: String,
    /// The binding's name.
    pub name: String,
    /// `spec.subject.apiVersion`.
    pub api_version: String,
    /// `spec.subject.kind`.
    pub kind: String,
    /// `spec.subject.name`, when the subject is named.
    pub subject_name: Option<String>,
    /// `spec.subject.selector`, when the subjects are selected by labels.
    pub selector: Option<LabelSelector>,
    /// `spec.subject.namespace` names another namespace (stored without
    /// admission): the binding selects nothing.
    pub foreign_subject: bool,
    /// What `Do` injects.
    pub params: BindingParams,
    /// The binding is being deleted: `Undo` instead of `Do`.
    pub deleting: bool,
    /// A VSphereSource controls the binding (the per-source binding of an
    /// earlier release or of the Go project): the controller renders that
    /// adapter's credentials itself, so the binding changes nothing.
    pub source_owned: bool,
}

impl From<&VSphereBinding> for BindingEntry {
    fn from(b: &VSphereBinding) -> Self {
        let s = &b.spec.subject;
        let namespace = b.metadata.namespace.clone().unwrap_or_default();
        Self {
            foreign_subject: subject_namespace_mismatch(b).is_some(),
            api_version: s.api_version.clone().unwrap_or_default(),
            kind: s.kind.clone().unwrap_or_default(),
            subject_name: s.name.clone().filter(|n| !n.is_empty()),
            selector: s.selector.clone(),
            params: BindingParams::from(b),
            deleting: b.metadata.deletion_timestamp.is_some(),
            source_owned: is_source_owned(b),
            name: b.metadata.name.clone().unwrap_or_default(),
            namespace,
        }
    }
}

/// `spec.subject.namespace` when it names another namespace than the
/// binding's: admission refuses that, but an object stored some other way
/// (while the validation webhook was away, or by an earlier release) may
/// say it. Such a binding binds nothing anywhere.
pub fn subject_namespace_mismatch(b: &VSphereBinding) -> Option<&str> {
    let own = b.metadata.namespace.as_deref().unwrap_or("");
    b.spec
        .subject
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty() && *n != own)
}

/// Whether a VSphereSource controls `b` (its per-source binding).
pub fn is_source_owned(b: &VSphereBinding) -> bool {
    b.metadata.owner_references.iter().flatten().any(|o| {
        o.controller == Some(true)
            && o.kind == "VSphereSource"
            && o.api_version == sources_api::v1alpha1::API_VERSION
    })
}

impl BindingEntry {
    /// Whether the binding can select anything (neither a foreign subject
    /// nor a source's own binding).
    pub fn in_effect(&self) -> bool {
        !self.foreign_subject && !self.source_owned
    }

    /// Whether the binding selects the object `obj` (by apiVersion, kind,
    /// and name or label selector, in the binding's own namespace only).
    pub fn selects(&self, obj: &Value) -> bool {
        let field = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
        if !self.in_effect()
            || self.api_version != field("/apiVersion")
            || self.kind != field("/kind")
            || self.namespace != field("/metadata/namespace")
        {
            return false;
        }
        if let Some(name) = &self.subject_name {
            return name == field("/metadata/name");
        }
        match &self.selector {
            Some(sel) => {
                let labels: BTreeMap<String, String> = obj
                    .pointer("/metadata/labels")
                    .and_then(|l| serde_json::from_value(l.clone()).ok())
                    .unwrap_or_default();
                selector_matches(sel, &labels)
            }
            None => false,
        }
    }
}

/// Whether `binding` selects the object `obj` ([`BindingEntry::selects`]).
pub fn binding_selects(binding: &VSphereBinding, obj: &Value) -> bool {
    BindingEntry::from(binding).selects(obj)
}

/// Applies every binding that selects `obj`: `Undo` for one being deleted,
/// `Do` otherwise. Returns the mutated object.
pub fn apply_bindings<'a>(
    bindings: impl IntoIterator<Item = &'a BindingEntry>,
    obj: &Value,
) -> Value {
    let mut out = obj.clone();
    for b in bindings.into_iter().filter(|b| b.selects(obj)) {
        if b.deleting {
            undo_binding(&mut out);
        } else {
            do_binding(&b.params, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> BindingParams {
        BindingParams {
            address: "https://vc.local".into(),
            skip_tls_verify: true,
            secret: "creds".into(),
            ca_certs: None,
        }
    }

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "d", "namespace": "ns", "labels": {"app": "x"}},
               "spec": {"template": {"spec": {
                   "initContainers": [{"name": "init", "env": [{"name": "A", "value": "1"}]}],
                   "containers": [{"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/d"}]},
                                  {"name": "side"}],
                   "volumes": [{"name": "data", "emptyDir": {}}]}}}})
    }

    #[test]
    fn do_adds_volume_mount_env_everywhere() {
        let mut d = deployment();
        do_binding(&params(), &mut d);
        let ps = &d["spec"]["template"]["spec"];
        assert_eq!(
            ps["volumes"][1],
            json!({"name": "vsphere-binding", "secret": {"secretName": "creds"}})
        );
        for c in ps["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(ps["containers"].as_array().unwrap())
        {
            let mounts = c["volumeMounts"].as_array().unwrap();
            assert_eq!(
                mounts.last().unwrap(),
                &json!({"name": "vsphere-binding", "readOnly": true, "mountPath": "/var/bindings/vsphere"})
            );
            let env = c["env"].as_array().unwrap();
            let tail = &env[env.len() - 4..];
            assert_eq!(
                tail[0],
                json!({"name": "VC_URL", "value": "https://vc.local"})
            );
            assert_eq!(tail[1], json!({"name": "VC_INSECURE", "value": "true"}));
            assert_eq!(
                tail[2],
                json!({"name": "VC_USERNAME", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "username"}}})
            );
            assert_eq!(
                tail[3],
                json!({"name": "VC_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}})
            );
        }
        assert_eq!(ps["initContainers"][0]["env"][0]["name"], "A");
    }

    #[test]
    fn do_is_idempotent_and_undo_restores() {
        let orig = deployment();
        let mut d = orig.clone();
        do_binding(&params(), &mut d);
        let once = d.clone();
        do_binding(&params(), &mut d);
        assert_eq!(d, once);
        assert!(patch(&once, &d).0.is_empty());
        undo_binding(&mut d);
        // Only what Do added is gone; mounts and env lists stay (empty).
        let ps = &d["spec"]["template"]["spec"];
        assert_eq!(ps["volumes"], orig["spec"]["template"]["spec"]["volumes"]);
        assert_eq!(
            ps["containers"][0]["volumeMounts"],
            json!([{"name": "data", "mountPath": "/d"}])
        );
        assert_eq!(ps["containers"][1]["volumeMounts"], json!([]));
        assert_eq!(
            ps["initContainers"][0]["env"],
            json!([{"name": "A", "value": "1"}])
        );
    }

    #[test]
    fn ca_certs_are_injected_after_upstreams_four_and_undone() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let with_ca = BindingParams {
            ca_certs: Some(pem.into()),
            ..params()
        };
        let mut d = deployment();
        do_binding(&with_ca, &mut d);
        for c in ["initContainers", "containers"] {
            let env = d["spec"]["template"]["spec"][c][0]["env"]
                .as_array()
                .unwrap()
                .clone();
            assert_eq!(env[env.len() - 2]["name"], "VC_PASSWORD");
            assert_eq!(
                env[env.len() - 1],
                json!({"name": "VC_CA_CERTS", "value": pem})
            );
        }
        // Dropping caCerts from the binding removes the entry on the next Do.
        do_binding(&params(), &mut d);
        assert!(!d.to_string().contains("VC_CA_CERTS"), "{d}");
        do_binding(&with_ca, &mut d);
        undo_binding(&mut d);
        assert!(!d.to_string().contains("VC_CA_CERTS"), "{d}");
        // A blank spec.caCerts injects nothing.
        let mut b = binding(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}));
        b.spec.ca_certs = Some("  \n".into());
        assert_eq!(BindingParams::from(&b).ca_certs, None);
    }

    #[test]
    fn undo_removes_user_vc_env() {
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][1]["env"] =
            json!([{"name": "VC_URL", "value": "mine"}, {"name": "B", "value": "2"}]);
        undo_binding(&mut d);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["env"],
            json!([{"name": "B", "value": "2"}])
        );
    }

    #[test]
    fn patch_applies() {
        let orig = deployment();
        let mut want = orig.clone();
        do_binding(&params(), &mut want);
        let p = patch(&orig, &want);
        let mut got = orig.clone();
        json_patch::patch(&mut got, &p).unwrap();
        assert_eq!(got, want);
    }

    fn binding(subject: Value) -> VSphereBinding {
        serde_json::from_value(json!({
            "apiVersion": "sources.tanzu.vmware.com/v1alpha1", "kind": "VSphereBinding",
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"subject": subject, "address": "https://vc.local", "secretRef": {"name": "creds"}}
        }))
        .unwrap()
    }

    #[test]
    fn only_the_bindings_own_namespace() {
        let d = deployment();
        let mut victim = deployment();
        victim["metadata"]["namespace"] = json!("victim");
        let here = binding(json!({"apiVersion": "apps/v1", "kind": "Deployment", "selector": {}}));
        assert!(binding_selects(&here, &d));
        assert!(!binding_selects(&here, &victim), "never another namespace");
        // A stored subject naming another namespace selects nothing at all.
        let retargeted = binding(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "namespace": "victim", "selector": {}}));
        assert_eq!(subject_namespace_mismatch(&retargeted), Some("victim"));
        assert!(!binding_selects(&retargeted, &victim));
        assert!(!binding_selects(&retargeted, &d));
        // A source's own binding changes nothing (the controller renders
        // the adapter's credentials).
        let mut owned = here.clone();
        owned.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "sources.tanzu.vmware.com/v1alpha1".into(),
                kind: "VSphereSource".into(),
                name: "s".into(),
                uid: "u".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        ]);
        assert!(is_source_owned(&owned));
        assert!(!binding_selects(&owned, &d));
    }

    #[test]
    fn selection() {
        let d = deployment();
        let by_name = binding(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}));
        assert!(binding_selects(&by_name, &d));
        let other = binding(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "e"}));
        assert!(!binding_selects(&other, &d));
        let kind = binding(json!({"apiVersion": "batch/v1", "kind": "Job", "name": "d"}));
        assert!(!binding_selects(&kind, &d));
        let sel = binding(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "selector": {"matchLabels": {"app": "x"}}}),
        );
        assert!(binding_selects(&sel, &d));
        let expr = binding(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "selector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}}));
        assert!(!binding_selects(&expr, &d));
        let entries = [BindingEntry::from(&by_name), BindingEntry::from(&other)];
        let out = apply_bindings(&entries, &d);
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"][1]["name"],
            "vsphere-binding"
        );
        let mut deleting = by_name;
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert_eq!(
            apply_bindings([&BindingEntry::from(&deleting)], &out)["spec"]["template"]["spec"]["volumes"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}
