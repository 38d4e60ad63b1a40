//! OIDC sender identity, as Knative's own sources have it (`authentication-oidc`).
//!
//! With `authentication-oidc: enabled` in Knative's `config-features` ConfigMap (read from the
//! controller's system namespace, beside `config-logging`), each source gets a ServiceAccount of
//! its own, [`service_account_name`] (Knative's `GetOIDCServiceAccountNameForResource`), owned by
//! the source. Its name goes to `status.auth.serviceAccountName` and to the adapter as
//! `K_OIDC_SERVICE_ACCOUNT`; the sink's audience to `status.sinkAudience` and `K_AUDIENCE`; the
//! dead-letter sink's to `K_DEAD_LETTER_SINK_AUDIENCE`. The adapter's own ServiceAccount may
//! request tokens for that ServiceAccount only ([`token_rule`], in the per-source Role), and sends
//! `Authorization: Bearer <token>` to each sink that has an audience.
//!
//! Disabled (the default, also without the ConfigMap), nothing of this is made; turning it off
//! deletes the ServiceAccount a source got while it was on (as Knative does), and takes the
//! status fields, the condition, the Role rule and the environment away.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sources_api::kmeta::child_name;

/// Knative's feature-flag ConfigMap, in the system namespace.
pub const CONFIG_FEATURES: &str = "config-features";
/// The flag of `config-features` that turns OIDC sender identity on (`enabled`) or off.
pub const AUTHENTICATION_OIDC: &str = "authentication-oidc";
/// The condition a source reports while the flag is on (Knative's sources' name).
pub const OIDC_IDENTITY_CREATED: &str = "OIDCIdentityCreated";

/// Whether `config-features` data (`None`: no ConfigMap) enables `authentication-oidc`: its value
/// is `enabled` (in any case, as Knative's flags compare); anything else, or nothing, is disabled.
pub fn enabled(features: Option<&BTreeMap<String, String>>) -> bool {
    features
        .and_then(|f| f.get(AUTHENTICATION_OIDC))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("enabled"))
}

/// The OIDC ServiceAccount of the source `name` of kind `kind`:
/// `kmeta.ChildName(name, "-oidc-<group>-<kind>")`, lower-cased, as Knative names it, e.g.
/// `my-source-oidc-sources.tanzu.vmware.com-vspheresource`.
pub fn service_account_name(name: &str, kind: &str) -> String {
    child_name(
        name,
        &format!("-oidc-{}-{}", sources_api::v1alpha1::GROUP, kind),
    )
    .to_lowercase()
}

/// The label Knative puts on OIDC ServiceAccounts (`oidc: enabled`).
pub const OIDC_LABEL: (&str, &str) = ("oidc", "enabled");

/// The OIDC ServiceAccount `sa` of the source `source` of kind `kind`: owned by it and labelled
/// as its other children (so the controller sees it change) and with Knative's `oidc: enabled`,
/// with Knative's description.
pub fn service_account(
    sa: &str,
    ns: &str,
    owner: &OwnerReference,
    labels: &BTreeMap<String, String>,
    kind: &str,
    source: &str,
) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(sa.to_owned()),
            namespace: Some(ns.to_owned()),
            labels: Some({
                let mut l = labels.clone();
                l.insert(OIDC_LABEL.0.to_owned(), OIDC_LABEL.1.to_owned());
                l
            }),
            annotations: Some(BTreeMap::from([(
                "description".to_owned(),
                format!("Service Account for OIDC Authentication for {kind} \"{source}\""),
            )])),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    }
}

/// The Role rule that lets the adapter request tokens (TokenRequest) for the OIDC ServiceAccount
/// `sa`, and for no other.
pub fn token_rule(sa: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["serviceaccounts/token".into()]),
        resource_names: Some(vec![sa.to_owned()]),
        verbs: vec!["create".into()],
        non_resource_urls: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_enabled_only_when_it_says_so() {
        let with = |v: &str| BTreeMap::from([(AUTHENTICATION_OIDC.to_owned(), v.to_owned())]);
        assert!(enabled(Some(&with("enabled"))));
        assert!(enabled(Some(&with("Enabled"))));
        assert!(!enabled(Some(&with("disabled"))));
        assert!(!enabled(Some(&with("allowed"))));
        assert!(!enabled(Some(&BTreeMap::new())));
        assert!(!enabled(None));
    }

    #[test]
    fn the_service_account_is_named_as_knative_names_it() {
        assert_eq!(
            service_account_name("My-Source", "VSphereSource"),
            "my-source-oidc-sources.tanzu.vmware.com-vspheresource"
        );
        assert_eq!(
            service_account_name("h", "HorizonSource"),
            "h-oidc-sources.tanzu.vmware.com-horizonsource"
        );
        // Long names are shortened with a hash, as kmeta.ChildName does, to at most 63.
        let long = service_account_name(&"x".repeat(60), "VSphereSource");
        assert!(long.len() <= 63, "{long}");
        assert!(long.starts_with("xxxx"), "{long}");
    }

    #[test]
    fn the_token_rule_names_only_the_oidc_account() {
        assert_eq!(
            serde_json::to_value(token_rule("s-oidc")).unwrap(),
            serde_json::json!({"apiGroups": [""], "resources": ["serviceaccounts/token"],
                               "resourceNames": ["s-oidc"], "verbs": ["create"]})
        );
    }
}
