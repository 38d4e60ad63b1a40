//! Which kinds a VSphereBinding may bind, and the syntax of a subject's
//! `apiVersion` and `kind`.
//!
//! A subject is bound through the binding webhook's rules, one per subject
//! kind in use, so a subject must name one group, one version and one kind,
//! each well formed (a `*` would make the generated rule invalid, and the
//! API server would refuse the whole webhook configuration). The kinds are
//! the built-in PodSpecables (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//! Job), Knative's Service and Configuration, and what a cluster admin lists
//! in a ClusterRole labelled `duck.knative.dev/podspecable: "true"` (Knative's
//! convention: such roles aggregate into the binding controllers' roles).
//!
//! ```
//! use sources_controller::podspecable::{PodSpecables, SubjectType};
//!
//! let t = SubjectType::parse("apps/v1", "Deployment").unwrap();
//! assert_eq!((t.group.as_str(), t.version.as_str(), t.resource().as_str()), ("apps", "v1", "deployments"));
//! assert!(PodSpecables::default().allows(&t));
//! assert!(SubjectType::parse("apps/*", "Deployment").is_err());
//! assert!(!PodSpecables::default().allows(&SubjectType::parse("v1", "Pod").unwrap()));
//! ```

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::ClusterRole;

/// The label of ClusterRoles that list PodSpecable kinds (Knative's).
pub const PODSPECABLE_LABEL: &str = "duck.knative.dev/podspecable";

/// The built-in PodSpecable kinds: (group, kind, resource).
pub const BUILTIN: &[(&str, &str, &str)] = &[
    ("apps", "Deployment", "deployments"),
    ("apps", "StatefulSet", "statefulsets"),
    ("apps", "DaemonSet", "daemonsets"),
    ("apps", "ReplicaSet", "replicasets"),
    ("batch", "Job", "jobs"),
    ("serving.knative.dev", "Service", "services"),
    ("serving.knative.dev", "Configuration", "configurations"),
];

/// A subject's group, version and kind, each checked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SubjectType {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
}

/// What is wrong with a subject's type; the message says what to write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubjectTypeError {
    /// `apiVersion` is not `<group>/<version>` or `<version>`.
    #[error(
        "apiVersion {0:?} must be <group>/<version> or <version> (lower-case DNS names, no wildcards), e.g. apps/v1"
    )]
    ApiVersion(String),
    /// `kind` is not a kind name.
    #[error("kind {0:?} must be a kind name (letters and digits, no wildcards), e.g. Deployment")]
    Kind(String),
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (a ServiceAccount name, an API group).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A DNS-1123 label (a namespace name).
pub fn is_dns1123_label(s: &str) -> bool {
    is_dns_label(s)
}

fn is_version(s: &str) -> bool {
    is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn is_kind(s: &str) -> bool {
    let mut c = s.chars();
    s.len() <= 63
        && c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|c| c.is_ascii_alphanumeric())
}

impl SubjectType {
    /// Parses and checks `apiVersion` and `kind`.
    pub fn parse(api_version: &str, kind: &str) -> Result<Self, SubjectTypeError> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let group_ok = group.is_empty() && !api_version.contains('/') || is_dns_subdomain(group);
        if !group_ok || !is_version(version) {
            return Err(SubjectTypeError::ApiVersion(api_version.to_owned()));
        }
        if !is_kind(kind) {
            return Err(SubjectTypeError::Kind(kind.to_owned()));
        }
        Ok(Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        })
    }

    /// The resource (plural) name: the built-in's, else Kubernetes' guess
    /// from the kind (as Knative's `pluralize`).
    pub fn resource(&self) -> String {
        BUILTIN
            .iter()
            .find(|(g, k, _)| *g == self.group && *k == self.kind)
            .map(|(_, _, r)| (*r).to_owned())
            .unwrap_or_else(|| pluralize(&self.kind))
    }
}

/// Kubernetes' plural guess for a kind: `Policy` → `policies`, `Ingress` →
/// `ingresses`, `Deployment` → `deployments`.
pub fn pluralize(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// The PodSpecable kinds beyond the built-in ones: (group, resource) pairs
/// from ClusterRoles labelled `duck.knative.dev/podspecable: "true"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSpecables {
    listed: BTreeSet<(String, String)>,
}

impl PodSpecables {
    /// The kinds listed in `roles` (wildcards are ignored: an admin lists
    /// kinds, not everything).
    pub fn from_cluster_roles<'a>(roles: impl IntoIterator<Item = &'a ClusterRole>) -> Self {
        let mut listed = BTreeSet::new();
        for role in roles {
            let labelled = role
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(PODSPECABLE_LABEL))
                .is_some_and(|v| v == "true");
            if !labelled {
                continue;
            }
            for rule in role.rules.iter().flatten() {
                for g in rule.api_groups.iter().flatten() {
                    for r in rule.resources.iter().flatten() {
                        if g != "*" && r != "*" && !r.contains('/') {
                            listed.insert((g.clone(), r.clone()));
                        }
                    }
                }
            }
        }
        Self { listed }
    }

    /// Whether a binding may bind subjects of type `t`.
    pub fn allows(&self, t: &SubjectType) -> bool {
        BUILTIN
            .iter()
            .any(|(g, k, _)| *g == t.group && *k == t.kind)
            || self.listed.contains(&(t.group.clone(), t.resource()))
    }

    /// The listed (group, resource) pairs.
    pub fn listed(&self) -> impl Iterator<Item = &(String, String)> {
        self.listed.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_version_and_kind_syntax() {
        for ok in ["apps/v1", "v1", "serving.knative.dev/v1", "batch/v1beta1"] {
            assert!(SubjectType::parse(ok, "Deployment").is_ok(), "{ok}");
        }
        for bad in [
            "apps/*",
            "*",
            "*/v1",
            "apps/",
            "/v1",
            "",
            "Apps/v1",
            "apps/v1/x",
            "apps/V1",
            "apps/1v",
            "a..b/v1",
            "apps /v1",
        ] {
            assert_eq!(
                SubjectType::parse(bad, "Deployment"),
                Err(SubjectTypeError::ApiVersion(bad.to_owned())),
                "{bad}"
            );
        }
        for bad in ["*", "", "Deploy*", "deployments/*", "A-B", "1Kind"] {
            assert!(SubjectType::parse("apps/v1", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plurals() {
        assert_eq!(pluralize("Policy"), "policies");
        assert_eq!(pluralize("Gateway"), "gateways");
        assert_eq!(pluralize("Ingress"), "ingresses");
        assert_eq!(pluralize("Deployment"), "deployments");
        assert_eq!(
            SubjectType::parse("serving.knative.dev/v1", "Service")
                .unwrap()
                .resource(),
            "services"
        );
    }

    #[test]
    fn allowed_kinds() {
        let none = PodSpecables::default();
        let t = |av: &str, k: &str| SubjectType::parse(av, k).unwrap();
        assert!(none.allows(&t("apps/v1", "StatefulSet")));
        assert!(none.allows(&t("batch/v1", "Job")));
        assert!(none.allows(&t("serving.knative.dev/v1", "Configuration")));
        assert!(!none.allows(&t("v1", "Pod")));
        assert!(!none.allows(&t("v1", "Service")));
        assert!(!none.allows(&t("example.com/v1", "Widget")));
        let role: ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": "widgets", "labels": {PODSPECABLE_LABEL: "true"}},
            "rules": [{"apiGroups": ["example.com"], "resources": ["widgets", "widgets/status"],
                       "verbs": ["get", "list", "patch"]},
                      {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}]
        }))
        .unwrap();
        let unlabelled: ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": "gadgets"},
            "rules": [{"apiGroups": ["example.com"], "resources": ["gadgets"], "verbs": ["get"]}]
        }))
        .unwrap();
        let p = PodSpecables::from_cluster_roles([&role, &unlabelled]);
        assert!(p.allows(&t("example.com/v1", "Widget")));
        assert!(!p.allows(&t("example.com/v1", "Gadget")));
        assert!(!p.allows(&t("v1", "Pod")), "wildcards grant nothing");
        assert_eq!(p.listed().count(), 1);
    }
}
