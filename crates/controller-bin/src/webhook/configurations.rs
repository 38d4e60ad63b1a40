//! The webhook configurations the leader writes: `caBundle` in each, and the
//! binding webhook's rules and selectors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::Client;
use kube::api::{Api, PostParams};

use super::{
    BINDING_WEBHOOK, CONFIG_WEBHOOK, DEFAULTING_WEBHOOK, EXCLUDE_LABEL, INCLUDE_LABEL,
    NAMESPACE_NAME_LABEL, SelectionMode, VALIDATION_WEBHOOK, WebhookSettings,
};
use crate::binding::BindingEntry;
use crate::podspecable::{PodSpecables, SubjectType};

/// The webhook configurations that could not be written, with why.
#[derive(Debug, Default)]
pub struct ConfigurationErrors(pub Vec<(String, kube::Error)>);

impl std::fmt::Display for ConfigurationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(name, e)| format!("{name}: {e}"))
            .collect();
        write!(f, "updating webhook configurations: {}", parts.join("; "))
    }
}

/// The binding webhook's rules: one per subject group and resource in use
/// (`CREATE`, `UPDATE`, `<plural>/*`, every version in use). Subjects that
/// are malformed or not PodSpecable make no rule (admission refuses them;
/// one stored some other way must never make the configuration invalid).
pub fn binding_rules(
    bindings: &[Arc<BindingEntry>],
    podspecables: &PodSpecables,
) -> Vec<RuleWithOperations> {
    let mut kinds: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for b in bindings.iter().filter(|b| b.in_effect()) {
        let (av, kind) = (b.api_version.as_str(), b.kind.as_str());
        if av.is_empty() || kind.is_empty() {
            continue;
        }
        match SubjectType::parse(av, kind) {
            Ok(t) if podspecables.allows(&t) => {
                kinds
                    .entry((t.group.clone(), t.resource()))
                    .or_default()
                    .insert(t.version);
            }
            Ok(_) | Err(_) => tracing::warn!(
                namespace = b.namespace,
                name = b.name,
                api_version = av,
                kind,
                "a VSphereBinding's subject is not a PodSpecable kind; no webhook rule for it"
            ),
        }
    }
    kinds
        .into_iter()
        .map(|((group, resource), versions)| RuleWithOperations {
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            api_groups: Some(vec![group]),
            api_versions: Some(versions.into_iter().collect()),
            resources: Some(vec![format!("{resource}/*")]),
            scope: None,
        })
        .collect()
}

fn mode_requirement(mode: SelectionMode) -> LabelSelectorRequirement {
    let (key, op) = match mode {
        SelectionMode::Exclusion => (EXCLUDE_LABEL, "NotIn"),
        SelectionMode::Inclusion => (INCLUDE_LABEL, "In"),
    };
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator: op.to_owned(),
        values: Some(vec!["true".to_owned()]),
    }
}

/// The object selector of the binding webhook.
pub fn binding_selector(mode: SelectionMode) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![mode_requirement(mode)]),
        match_labels: None,
    }
}

/// The namespaces that hold a binding in effect: the only ones the binding
/// webhook is called for.
pub fn bound_namespaces(bindings: &[Arc<BindingEntry>]) -> BTreeSet<String> {
    bindings
        .iter()
        .filter(|b| b.in_effect())
        .map(|b| b.namespace.clone())
        .collect()
}

/// The namespace selector of the binding webhook: the mode's label, never
/// the `excluded` namespaces, and only the namespaces in `bound` (those
/// that hold a VSphereBinding): a Deployment written anywhere else never
/// waits on the webhook. With none, it selects no namespace.
pub fn binding_namespace_selector(
    mode: SelectionMode,
    excluded: &[String],
    bound: &BTreeSet<String>,
) -> LabelSelector {
    let name = |operator: &str, values: Option<Vec<String>>| LabelSelectorRequirement {
        key: NAMESPACE_NAME_LABEL.to_owned(),
        operator: operator.to_owned(),
        values,
    };
    let only = if bound.is_empty() {
        // Every namespace carries the label: this matches none.
        name("DoesNotExist", None)
    } else {
        name("In", Some(bound.iter().cloned().collect()))
    };
    LabelSelector {
        match_expressions: Some(vec![
            mode_requirement(mode),
            name("NotIn", Some(excluded.to_vec())),
            only,
        ]),
        match_labels: None,
    }
}

/// What the binding webhook's configuration should say besides `caBundle`.
#[derive(Clone, Debug)]
pub struct BindingWebhookSpec {
    /// The rules ([`binding_rules`]).
    pub rules: Vec<RuleWithOperations>,
    /// The namespace selector ([`binding_namespace_selector`]).
    pub namespace_selector: LabelSelector,
    /// The object selector ([`binding_selector`]).
    pub object_selector: LabelSelector,
}

impl BindingWebhookSpec {
    /// The spec for `bindings` under `settings`.
    pub fn new(
        bindings: &[Arc<BindingEntry>],
        podspecables: &PodSpecables,
        settings: &WebhookSettings,
    ) -> Self {
        Self {
            rules: binding_rules(bindings, podspecables),
            namespace_selector: binding_namespace_selector(
                settings.selection_mode,
                &settings.excluded_namespaces(),
                &bound_namespaces(bindings),
            ),
            object_selector: binding_selector(settings.selection_mode),
        }
    }
}

async fn update_mutating(
    api: &Api<MutatingWebhookConfiguration>,
    name: &str,
    ca: &ByteString,
    binding: Option<&BindingWebhookSpec>,
) -> Result<(), kube::Error> {
    let Some(cfg) = api.get_opt(name).await? else {
        return Ok(());
    };
    // 1. caBundle alone, so nothing else can keep it from landing.
    let mut with_ca = cfg.clone();
    for w in with_ca.webhooks.iter_mut().flatten() {
        w.client_config.ca_bundle = Some(ca.clone());
    }
    let current = if with_ca != cfg {
        let stored = api.replace(name, &PostParams::default(), &with_ca).await?;
        tracing::info!(configuration = name, "updated caBundle");
        stored
    } else {
        cfg
    };
    // 2. The binding webhook's rules and selectors.
    let Some(spec) = binding else {
        return Ok(());
    };
    let mut new = current.clone();
    for w in new.webhooks.iter_mut().flatten() {
        w.rules = Some(spec.rules.clone());
        w.namespace_selector = Some(spec.namespace_selector.clone());
        w.object_selector = Some(spec.object_selector.clone());
        w.match_policy = Some("Equivalent".into());
        w.reinvocation_policy = Some("IfNeeded".into());
    }
    if new != current {
        api.replace(name, &PostParams::default(), &new).await?;
        tracing::info!(configuration = name, "updated the binding rules");
    }
    Ok(())
}

async fn update_validating(
    api: &Api<ValidatingWebhookConfiguration>,
    name: &str,
    ca: &ByteString,
) -> Result<(), kube::Error> {
    let Some(cfg) = api.get_opt(name).await? else {
        return Ok(());
    };
    let mut new = cfg.clone();
    for w in new.webhooks.iter_mut().flatten() {
        w.client_config.ca_bundle = Some(ca.clone());
    }
    if new != cfg {
        api.replace(name, &PostParams::default(), &new).await?;
        tracing::info!(configuration = name, "updated caBundle");
    }
    Ok(())
}

/// Writes `ca_bundle` into each of our webhook configurations that exist,
/// and `binding`'s rules and selectors into the binding webhook. Each
/// configuration is written on its own, `caBundle` first: one failure
/// (reported at the end) never keeps the others, or the `caBundle`, from
/// being written.
pub async fn update_configurations(
    client: &Client,
    ca_bundle: &str,
    binding: &BindingWebhookSpec,
) -> Result<(), ConfigurationErrors> {
    let ca = ByteString(ca_bundle.as_bytes().to_vec());
    let mut errors = ConfigurationErrors::default();
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    for (name, spec) in [(DEFAULTING_WEBHOOK, None), (BINDING_WEBHOOK, Some(binding))] {
        if let Err(e) = update_mutating(&mutating, name, &ca, spec).await {
            errors.0.push((name.to_owned(), e));
        }
    }
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for name in [VALIDATION_WEBHOOK, CONFIG_WEBHOOK] {
        if let Err(e) = update_validating(&validating, name, &ca).await {
            errors.0.push((name.to_owned(), e));
        }
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sources_api::v1alpha1::VSphereBinding;

    fn b(av: &str, kind: &str) -> Arc<BindingEntry> {
        in_ns("ns", av, kind)
    }

    fn in_ns(ns: &str, av: &str, kind: &str) -> Arc<BindingEntry> {
        let b: VSphereBinding = serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": ns},
            "spec": {"subject": {"apiVersion": av, "kind": kind, "name": "x"},
                     "address": "https://vc", "secretRef": {"name": "c"}}
        }))
        .unwrap();
        Arc::new(BindingEntry::from(&b))
    }

    #[test]
    fn rules_and_selectors() {
        let rules = binding_rules(
            &[
                b("apps/v1", "Deployment"),
                b("batch/v1", "Job"),
                b("apps/v1", "Deployment"),
                b("serving.knative.dev/v1", "Service"),
            ],
            &PodSpecables::default(),
        );
        let rendered = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            rendered,
            json!([
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments/*"]},
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs/*"]},
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["serving.knative.dev"], "apiVersions": ["v1"], "resources": ["services/*"]},
            ])
        );
        assert_eq!(
            serde_json::to_value(binding_selector(SelectionMode::Inclusion)).unwrap(),
            json!({"matchExpressions": [{"key": "bindings.knative.dev/include", "operator": "In", "values": ["true"]}]})
        );
        let s = WebhookSettings::new("vmware-sources");
        let bindings = [
            in_ns("team-b", "apps/v1", "Deployment"),
            in_ns("team-a", "batch/v1", "Job"),
            in_ns("team-b", "apps/v1", "Deployment"),
        ];
        assert_eq!(
            serde_json::to_value(
                BindingWebhookSpec::new(&bindings, &PodSpecables::default(), &s).namespace_selector
            )
            .unwrap(),
            json!({"matchExpressions": [
                {"key": "bindings.knative.dev/exclude", "operator": "NotIn", "values": ["true"]},
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                 "values": ["kube-system", "kube-node-lease", "vmware-sources"]},
                {"key": "kubernetes.io/metadata.name", "operator": "In",
                 "values": ["team-a", "team-b"]}]})
        );
        // No binding: no namespace.
        assert_eq!(
            serde_json::to_value(
                BindingWebhookSpec::new(&[], &PodSpecables::default(), &s).namespace_selector
            )
            .unwrap()["matchExpressions"][2],
            json!({"key": "kubernetes.io/metadata.name", "operator": "DoesNotExist"})
        );
    }

    #[test]
    fn hostile_subjects_make_no_rule() {
        // Stored without admission (the validation webhook was absent): a
        // wildcard next to a real version must never give `[v1, *]`.
        let rules = binding_rules(
            &[
                b("apps/v1", "Deployment"),
                b("apps/*", "Deployment"),
                b("*", "*"),
                b("apps/v1", "*"),
                b("v1", "Pod"),
                b("v1", "Secret"),
            ],
            &PodSpecables::default(),
        );
        assert_eq!(
            serde_json::to_value(&rules).unwrap(),
            json!([{"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments/*"]}])
        );
    }
}
