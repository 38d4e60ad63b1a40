//! `spec.adapterOverrides`: what a source's owner may change in the adapter's
//! Pod, checked so that the Deployment the controller writes is accepted and
//! the adapter keeps its contract. Nothing in the type reaches security
//! settings, volumes or host namespaces (so Pod Security "restricted" holds
//! by construction); here: label, annotation and env names, the controller's
//! own labels and variables, quantities, tolerations and the affinity's
//! operators.

use k8s_openapi::api::core::v1::{Affinity, NodeSelectorRequirement};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use sources_api::overrides::AdapterOverrides;

use super::field_errors::{FieldError, FieldErrors};
use super::subject::{is_label_key, is_label_value};
use crate::podspecable::is_dns_subdomain;

const AT: &str = "spec.adapterOverrides";

/// Labels of the adapter's Pods the controller selects them by.
const CONTROLLER_LABELS: &[&str] = &[
    crate::resources::VSPHERE_NAME_LABEL,
    "knative-eventing-source",
    "knative-eventing-source-name",
];

/// Variables the controller sets (and a prefix reserves for later ones).
const RESERVED_ENV_PREFIXES: &[&str] = &["K_", "VC_", "VSPHERE_", "HORIZON_"];
const RESERVED_ENV: &[&str] = &[
    "NAME",
    "NAMESPACE",
    "SINK_URI",
    "METRICS_PROMETHEUS_PORT",
    "METRICS_DOMAIN",
    "METRICS_ADDRESS",
    "KUBECONFIG",
];

/// A Kubernetes quantity: a decimal number with an optional SI or binary
/// suffix (`250m`, `0.5`, `64Mi`, `1G`).
fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    !number.is_empty()
        && number.bytes().filter(|b| *b == b'.').count() <= 1
        && number.bytes().any(|b| b.is_ascii_digit())
        && matches!(
            suffix,
            "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
        )
}

/// The value of quantity `s` (already [`is_quantity`]), in base units.
fn quantity_value(s: &str) -> f64 {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let n: f64 = number.parse().unwrap_or(0.0);
    let scale = match suffix {
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => 1.0,
    };
    n * scale
}

fn check_keys<'a>(
    keys: impl Iterator<Item = (&'a String, &'a String)>,
    path: &str,
    values_are_labels: bool,
    errs: &mut FieldErrors,
) {
    for (k, v) in keys {
        let at = format!("{path}[{k}]");
        if !is_label_key(k) {
            errs.push(FieldError::invalid(k, &at).details(
                "a key is a name of at most 63 of [A-Za-z0-9-_.], starting and ending with a \
                 letter or digit, optionally after a DNS prefix and '/'",
            ));
        } else if k.starts_with(crate::resources::OWN_PREFIX)
            || CONTROLLER_LABELS.contains(&k.as_str())
        {
            errs.push(
                FieldError::invalid(k, &at)
                    .details("the controller sets this key on the adapter's Pods: choose another"),
            );
        }
        if values_are_labels && !is_label_value(v) {
            errs.push(FieldError::invalid(v, &at).details(
                "a label value is at most 63 of [A-Za-z0-9-_.], starting and ending with a \
                 letter or digit",
            ));
        }
    }
}

fn check_node_requirements(reqs: &[NodeSelectorRequirement], path: &str, errs: &mut FieldErrors) {
    for (i, r) in reqs.iter().enumerate() {
        let at = format!("{path}[{i}].operator");
        match r.operator.as_str() {
            "In" | "NotIn" | "Gt" | "Lt" if r.values.as_ref().is_none_or(Vec::is_empty) => errs
                .push(
                    FieldError::missing(&format!("{path}[{i}].values"))
                        .details(format!("{} needs values", r.operator)),
                ),
            "In" | "NotIn" | "Gt" | "Lt" | "Exists" | "DoesNotExist" => {}
            other => errs.push(
                FieldError::invalid(other, &at)
                    .details("one of In, NotIn, Exists, DoesNotExist, Gt, Lt"),
            ),
        }
    }
}

fn check_label_selector(s: Option<&LabelSelector>, path: &str, errs: &mut FieldErrors) {
    for (i, e) in s
        .and_then(|s| s.match_expressions.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !matches!(
            e.operator.as_str(),
            "In" | "NotIn" | "Exists" | "DoesNotExist"
        ) {
            errs.push(
                FieldError::invalid(
                    &e.operator,
                    &format!("{path}.matchExpressions[{i}].operator"),
                )
                .details("one of In, NotIn, Exists, DoesNotExist"),
            );
        }
    }
}

fn check_affinity(a: &Affinity, errs: &mut FieldErrors) {
    let at = format!("{AT}.affinity");
    if let Some(n) = &a.node_affinity {
        let req = "requiredDuringSchedulingIgnoredDuringExecution";
        if let Some(r) = &n.required_during_scheduling_ignored_during_execution {
            for (i, t) in r.node_selector_terms.iter().enumerate() {
                let term = format!("{at}.nodeAffinity.{req}.nodeSelectorTerms[{i}]");
                check_node_requirements(
                    t.match_expressions.as_deref().unwrap_or_default(),
                    &format!("{term}.matchExpressions"),
                    errs,
                );
            }
        }
        let pref = "preferredDuringSchedulingIgnoredDuringExecution";
        for (i, t) in n
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let term = format!("{at}.nodeAffinity.{pref}[{i}]");
            if !(1..=100).contains(&t.weight) {
                errs.push(
                    FieldError::invalid(t.weight, &format!("{term}.weight"))
                        .details("a weight is 1 to 100"),
                );
            }
            check_node_requirements(
                t.preference
                    .match_expressions
                    .as_deref()
                    .unwrap_or_default(),
                &format!("{term}.preference.matchExpressions"),
                errs,
            );
        }
    }
    let pod_terms = [
        (
            "podAffinity",
            a.pod_affinity.as_ref().map(|p| {
                (
                    p.required_during_scheduling_ignored_during_execution
                        .as_deref(),
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_deref(),
                )
            }),
        ),
        (
            "podAntiAffinity",
            a.pod_anti_affinity.as_ref().map(|p| {
                (
                    p.required_during_scheduling_ignored_during_execution
                        .as_deref(),
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_deref(),
                )
            }),
        ),
    ];
    for (name, terms) in pod_terms {
        let Some((required, preferred)) = terms else {
            continue;
        };
        let required = required
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    format!("{at}.{name}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"),
                    t,
                )
            });
        let preferred: Vec<_> = preferred
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let p = format!("{at}.{name}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
                if !(1..=100).contains(&w.weight) {
                    errs.push(
                        FieldError::invalid(w.weight, &format!("{p}.weight"))
                            .details("a weight is 1 to 100"),
                    );
                }
                (format!("{p}.podAffinityTerm"), &w.pod_affinity_term)
            })
            .collect();
        for (path, term) in required.chain(preferred) {
            if term.topology_key.is_empty() {
                errs.push(FieldError::missing(&format!("{path}.topologyKey")).details(
                    "a pod (anti-)affinity term needs a topologyKey, e.g. kubernetes.io/hostname",
                ));
            }
            check_label_selector(
                term.label_selector.as_ref(),
                &format!("{path}.labelSelector"),
                errs,
            );
        }
    }
}

/// Checks `spec.adapterOverrides` (see the module docs).
pub(super) fn validate_adapter_overrides(o: Option<&AdapterOverrides>, errs: &mut FieldErrors) {
    let Some(o) = o else {
        return;
    };
    check_keys(
        o.labels.iter().flatten(),
        &format!("{AT}.labels"),
        true,
        errs,
    );
    check_keys(
        o.annotations.iter().flatten(),
        &format!("{AT}.annotations"),
        false,
        errs,
    );
    check_keys(
        o.node_selector.iter().flatten(),
        &format!("{AT}.nodeSelector"),
        true,
        errs,
    );
    let mut seen = std::collections::BTreeSet::new();
    for (i, e) in o.env.iter().flatten().enumerate() {
        let at = format!("{AT}.env[{i}].name");
        let valid = !e.name.is_empty()
            && e.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !e.name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            errs.push(FieldError::invalid(&e.name, &at).details(
                "a variable name is letters, digits, '_', '-' and '.', not starting with a digit",
            ));
        } else if RESERVED_ENV.contains(&e.name.as_str())
            || RESERVED_ENV_PREFIXES.iter().any(|p| e.name.starts_with(p))
        {
            errs.push(FieldError::invalid(&e.name, &at).details(format!(
                "the controller sets this variable (names {} and those starting with {} are \
                 reserved); set the matching field of the source instead",
                RESERVED_ENV.join(", "),
                RESERVED_ENV_PREFIXES.join(", ")
            )));
        } else if !seen.insert(e.name.as_str()) {
            errs.push(FieldError::new("duplicate variable", &[&at]).details(e.name.clone()));
        }
    }
    if let Some(r) = &o.resources {
        for (kind, map) in [("requests", &r.requests), ("limits", &r.limits)] {
            for (name, q) in map.iter().flatten() {
                let at = format!("{AT}.resources.{kind}[{name}]");
                if !matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage") {
                    errs.push(
                        FieldError::invalid(name, &at)
                            .details("one of cpu, memory, ephemeral-storage"),
                    );
                } else if !is_quantity(q) {
                    errs.push(
                        FieldError::invalid(q, &at)
                            .details("a quantity such as 100m, 0.5, 64Mi or 1Gi"),
                    );
                }
            }
        }
    }
    if let Some(r) = &o.resources {
        // A limit below its request is refused by the API server when the
        // Deployment is written; say so here, with the field.
        let requests = r.requests.clone().unwrap_or_default();
        for (name, limit) in r.limits.iter().flatten() {
            if let Some(request) = requests.get(name)
                && is_quantity(limit)
                && is_quantity(request)
                && quantity_value(limit) < quantity_value(request)
            {
                errs.push(
                    FieldError::invalid(limit, &format!("{AT}.resources.limits[{name}]"))
                        .details(format!("the limit is below the request ({request})")),
                );
            }
        }
    }
    for (i, t) in o.tolerations.iter().flatten().enumerate() {
        let at = format!("{AT}.tolerations[{i}]");
        let op = t.operator.as_deref().unwrap_or("Equal");
        match op {
            "Equal" => {}
            "Exists" if t.value.as_deref().is_some_and(|v| !v.is_empty()) => errs.push(
                FieldError::invalid(
                    t.value.as_deref().unwrap_or_default(),
                    &format!("{at}.value"),
                )
                .details("a toleration with operator Exists has no value"),
            ),
            "Exists" => {}
            other => errs.push(
                FieldError::invalid(other, &format!("{at}.operator")).details("Exists or Equal"),
            ),
        }
        if op == "Equal" && t.key.as_deref().is_none_or(str::is_empty) {
            errs.push(
                FieldError::missing(&format!("{at}.key"))
                    .details("operator Equal needs a key (or use Exists to tolerate every taint)"),
            );
        }
        let effect = t.effect.as_deref().unwrap_or_default();
        if !matches!(effect, "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(
                FieldError::invalid(effect, &format!("{at}.effect"))
                    .details("NoSchedule, PreferNoSchedule or NoExecute (empty: all)"),
            );
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(
                FieldError::invalid(effect, &format!("{at}.tolerationSeconds"))
                    .details("tolerationSeconds applies only to effect NoExecute"),
            );
        }
    }
    if let Some(a) = &o.affinity {
        check_affinity(a, errs);
    }
    if let Some(p) = &o.priority_class_name
        && !is_dns_subdomain(p)
    {
        errs.push(
            FieldError::invalid(p, &format!("{AT}.priorityClassName"))
                .details("the name of a PriorityClass (a DNS subdomain)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(v: serde_json::Value) -> String {
        let o: AdapterOverrides = serde_json::from_value(v).unwrap();
        let mut errs = FieldErrors::default();
        validate_adapter_overrides(Some(&o), &mut errs);
        errs.to_string()
    }

    #[test]
    fn good_overrides_pass() {
        assert_eq!(
            errors(serde_json::json!({
                "labels": {"team": "infra", "example.com/tier": "1"},
                "annotations": {"example.com/note": "anything at all"},
                "env": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
                        {"name": "NO_PROXY", "value": ".svc,.cluster.local"}],
                "resources": {"requests": {"cpu": "50m", "memory": "48Mi"},
                              "limits": {"memory": "256Mi"}},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "events",
                                 "effect": "NoSchedule"},
                                {"operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": 60}],
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                    [{"weight": 50, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                      "labelSelector": {"matchLabels": {"app": "x"}}}}]}},
                "priorityClassName": "event-sources"
            })),
            ""
        );
    }

    #[test]
    fn each_bad_field_is_named_with_the_fix() {
        for (v, path, fix) in [
            (
                serde_json::json!({"env": [{"name": "K_SINK", "value": "x"}]}),
                "spec.adapterOverrides.env[0].name",
                "the controller sets this variable",
            ),
            (
                serde_json::json!({"env": [{"name": "A", "value": "1"}, {"name": "A"}]}),
                "spec.adapterOverrides.env[1].name",
                "duplicate variable",
            ),
            (
                serde_json::json!({"env": [{"name": "1X"}]}),
                "spec.adapterOverrides.env[0].name",
                "not starting with a digit",
            ),
            (
                serde_json::json!({"labels": {"knative-eventing-source-name": "x"}}),
                "spec.adapterOverrides.labels[knative-eventing-source-name]",
                "the controller sets this key",
            ),
            (
                serde_json::json!({"annotations": {"sources.tanzu.vmware.com/trust-bundles-digest": "x"}}),
                "spec.adapterOverrides.annotations[sources.tanzu.vmware.com/trust-bundles-digest]",
                "the controller sets this key",
            ),
            (
                serde_json::json!({"labels": {"team": "not a value"}}),
                "spec.adapterOverrides.labels[team]",
                "a label value is",
            ),
            (
                serde_json::json!({"resources": {"limits": {"memory": "lots"}}}),
                "spec.adapterOverrides.resources.limits[memory]",
                "a quantity such as",
            ),
            (
                serde_json::json!({"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}}),
                "spec.adapterOverrides.resources.limits[memory]",
                "the limit is below the request",
            ),
            (
                serde_json::json!({"resources": {"limits": {"nvidia.com/gpu": "1"}}}),
                "spec.adapterOverrides.resources.limits[nvidia.com/gpu]",
                "one of cpu, memory",
            ),
            (
                serde_json::json!({"tolerations": [{"operator": "Exists", "value": "x"}]}),
                "spec.adapterOverrides.tolerations[0].value",
                "operator Exists has no value",
            ),
            (
                serde_json::json!({"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}),
                "spec.adapterOverrides.tolerations[0].tolerationSeconds",
                "only to effect NoExecute",
            ),
            (
                serde_json::json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Near"}]}]}}}}),
                "nodeSelectorTerms[0].matchExpressions[0].operator",
                "one of In, NotIn",
            ),
            (
                serde_json::json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                [{"topologyKey": ""}]}}}),
                "podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
                "needs a topologyKey",
            ),
            (
                serde_json::json!({"priorityClassName": "Not_A_Name"}),
                "spec.adapterOverrides.priorityClassName",
                "a DNS subdomain",
            ),
        ] {
            let e = errors(v.clone());
            assert!(e.contains(path) && e.contains(fix), "{v}: {e}");
        }
    }
}
