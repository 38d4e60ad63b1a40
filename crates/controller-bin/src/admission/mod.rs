//! Defaulting and validation of VSphereSource, VSphereBinding and
//! HorizonSource, and validation of `config-logging`, as pure functions
//! with upstream's (Knative `apis.FieldError`) messages.
//!
//! ```
//! use sources_controller::admission::{validate, Kind};
//! use serde_json::json;
//!
//! let empty = json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {}});
//! let err = validate(Kind::VSphereSource, &empty, None).unwrap_err();
//! assert_eq!(err.to_string(), "validation failed: expected at least one, got none: spec.sink.ref, spec.sink.uri\n\
//!     invalid value: : spec.payloadEncoding\n\
//!     missing field(s): spec.address.host, spec.secretRef.name");
//! ```
//!
//! Differences from upstream (intentional): `checkpointConfig.maxAgeSeconds`
//! defaults to 300 when omitted (the manual's value; upstream stored 0);
//! HorizonSource's `serviceAccountName` is not defaulted to `default` (the
//! adapter gets a dedicated ServiceAccount); `ceOverrides.extensions` keys
//! are checked (lower-case letters and digits, not a core CloudEvents
//! attribute; a warning over 20 characters); VSphereBinding subjects are
//! well-formed PodSpecable kinds ([`crate::podspecable`]); PEM, addresses,
//! event types, ServiceAccount names and `delivery` are checked.
//!
//! One job per module: the error shapes (`field_errors.rs`), Go-like strict
//! decoding (`decode.rs`), defaulting (`defaults.rs`), validation of each
//! kind (`validate.rs`) from the field checks (`fields.rs`) and the binding
//! subject checks (`subject.rs`), and `config-logging` (`config_logging.rs`).

mod config_logging;
mod decode;
mod defaults;
mod field_errors;
mod fields;
mod filter;
mod overrides;
mod subject;
mod validate;

use serde_json::Value;

use crate::podspecable::PodSpecables;

pub use config_logging::validate_config_logging;
pub use defaults::default_object;
pub use field_errors::{FieldError, FieldErrors};
pub use fields::{
    check_pem_certificates, cleartext_warning, validate_delivery, validate_destination,
};
pub use validate::{is_deleting, validate, validate_deleting_update, validate_with};

/// The kinds the webhooks know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `VSphereSource`.
    VSphereSource,
    /// `VSphereBinding`.
    VSphereBinding,
    /// `HorizonSource`.
    HorizonSource,
}

impl Kind {
    /// The kind for a `kind` string of our group.
    pub fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "VSphereSource" => Some(Self::VSphereSource),
            "VSphereBinding" => Some(Self::VSphereBinding),
            "HorizonSource" => Some(Self::HorizonSource),
            _ => None,
        }
    }
}

/// What validation needs beyond the object: the kinds a VSphereBinding may
/// bind and the namespaces where bindings are not applied.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// The PodSpecable kinds beyond the built-in ones.
    pub podspecables: PodSpecables,
    /// Namespaces the binding webhook excludes (`kube-system`,
    /// `kube-node-lease` and the controller's own): a VSphereBinding there
    /// is refused.
    pub excluded_namespaces: Vec<String>,
}

impl Policy {
    /// The built-in PodSpecables, and the exclusions for a controller in
    /// `system_namespace`.
    pub fn for_system_namespace(system_namespace: &str) -> Self {
        Self {
            podspecables: PodSpecables::default(),
            excluded_namespaces: excluded_namespaces(system_namespace),
        }
    }
}

/// The namespaces the binding webhook never mutates in: `kube-system`,
/// `kube-node-lease` and `system_namespace`.
pub fn excluded_namespaces(system_namespace: &str) -> Vec<String> {
    let mut v = vec!["kube-system".to_owned(), "kube-node-lease".to_owned()];
    if !system_namespace.is_empty() && !v.iter().any(|n| n == system_namespace) {
        v.push(system_namespace.to_owned());
    }
    v
}

/// Why an object could not be admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// Strict decoding failed (an unknown field or a wrong type).
    #[error("cannot decode incoming new object: {0}")]
    Decode(String),
    /// Validation failed.
    #[error("validation failed: {0}")]
    Invalid(FieldErrors),
}

/// The result of defaulting: the defaulted object.
pub type Defaulted = Value;
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(spec: Value) -> Value {
        json!({"metadata": {"name": "x", "namespace": "ns"}, "spec": spec})
    }

    fn vss() -> Value {
        json!({"sink": {"uri": "http://x.y"}, "address": "https://vc.local", "secretRef": {"name": "creds"}, "payloadEncoding": "application/xml"})
    }

    #[test]
    fn empty_vsphere_source_message() {
        let e = validate(Kind::VSphereSource, &obj(json!({})), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: expected at least one, got none: spec.sink.ref, spec.sink.uri\n\
             invalid value: : spec.payloadEncoding\n\
             missing field(s): spec.address.host, spec.secretRef.name"
        );
    }

    #[test]
    fn vsphere_source_defaults() {
        let d = default_object(Kind::VSphereSource, &obj(vss())).unwrap();
        assert_eq!(
            d["spec"]["checkpointConfig"],
            json!({"maxAgeSeconds": 300, "periodSeconds": 10})
        );
        assert_eq!(d["spec"]["payloadEncoding"], "application/xml");
        let mut s = vss();
        s["payloadEncoding"] = json!("Application/JSON");
        s["checkpointConfig"] = json!({"maxAgeSeconds": 0, "periodSeconds": 0});
        s["sink"] = json!({"ref": {"apiVersion": "v1", "kind": "Service", "name": "svc"}});
        let d = default_object(Kind::VSphereSource, &obj(s)).unwrap();
        assert_eq!(
            d["spec"]["checkpointConfig"],
            json!({"maxAgeSeconds": 0, "periodSeconds": 10})
        );
        assert_eq!(d["spec"]["payloadEncoding"], "application/json");
        assert_eq!(d["spec"]["sink"]["ref"]["namespace"], "ns");
        assert!(validate(Kind::VSphereSource, &d, None).unwrap().is_empty());
    }

    #[test]
    fn strict_decoding() {
        let mut s = vss();
        s["bogus"] = json!(1);
        let e = validate(Kind::VSphereSource, &obj(s.clone()), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot decode incoming new object: json: unknown field \"bogus\""
        );
        assert!(default_object(Kind::VSphereSource, &obj(s)).is_err());
        let mut s = vss();
        s["sink"]["urii"] = json!("x");
        assert!(validate(Kind::VSphereSource, &obj(s), None).is_err());
        let mut s = vss();
        s["skipTLSVerify"] = json!(false);
        assert!(validate(Kind::VSphereSource, &obj(s), None).is_ok());
    }

    #[test]
    fn checkpoint_and_encoding() {
        let mut s = vss();
        s["checkpointConfig"] = json!({"maxAgeSeconds": -1, "periodSeconds": -2});
        s["payloadEncoding"] = json!("text/plain");
        let e = validate(Kind::VSphereSource, &obj(s), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: invalid value: -1: spec.checkpointConfig.maxAgeSeconds\n\
             invalid value: -2: spec.checkpointConfig.periodSeconds\n\
             invalid value: text/plain: spec.payloadEncoding"
        );
    }

    #[test]
    fn sink_messages() {
        let mut s = vss();
        s["sink"] = json!({"uri": "/relative"});
        assert_eq!(
            validate(Kind::VSphereSource, &obj(s), None)
                .unwrap_err()
                .to_string(),
            "validation failed: invalid value: Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent: spec.sink.uri"
        );
        let mut s = vss();
        s["sink"] = json!({"uri": "http://a", "ref": {"apiVersion": "v1", "kind": "Service", "name": "svc", "namespace": "other"}});
        let msg = validate(Kind::VSphereSource, &obj(s), None)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(
                "Absolute URI is not allowed when Ref or [apiVersion, kind, name] is present"
            ),
            "{msg}"
        );
        assert!(msg.contains("mismatched namespaces"), "{msg}");
    }

    #[test]
    fn ce_overrides() {
        let mut s = vss();
        s["ceOverrides"] = json!({"extensions": {"Bad": "x", "type": "y", "averyveryverylongextensionname": "z", "ok1": "v"}});
        let msg = validate(Kind::VSphereSource, &obj(s), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("invalid key name \"Bad\": spec.ceOverrides.extensions\nkeys are expected to be alphanumeric"), "{msg}");
        assert!(msg.contains("invalid key name \"type\""), "{msg}");
        let mut s = vss();
        s["ceOverrides"] = json!({"extensions": {"averyveryverylongextensionname": "z"}});
        let w = validate(Kind::VSphereSource, &obj(s), None).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("SHOULD NOT be longer than 20"));
    }

    #[test]
    fn binding_validation_and_defaults() {
        let b = json!({"subject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                       "address": "https://vc", "secretRef": {"name": "c"}});
        let d = default_object(Kind::VSphereBinding, &obj(b)).unwrap();
        assert_eq!(d["spec"]["subject"]["namespace"], "ns");
        assert!(validate(Kind::VSphereBinding, &d, None).is_ok());
        let e = validate(
            Kind::VSphereBinding,
            &obj(json!({"subject": {}, "address": "", "secretRef": {"name": ""}})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: expected exactly one, got neither: spec.subject.name, spec.subject.selector\n\
             missing field(s): spec.address.host, spec.secretRef.name, spec.subject.apiVersion, spec.subject.kind, spec.subject.namespace"
        );
        let e = validate(
            Kind::VSphereBinding,
            &obj(json!({"subject": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "other", "name": "a", "selector": {}},
                        "address": "https://vc", "secretRef": {"name": "c"}})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: expected exactly one, got both: spec.subject.name, spec.subject.selector\n\
             invalid value: other: spec.subject.namespace"
        );
    }

    fn binding(subject: Value) -> Value {
        obj(json!({"subject": subject, "address": "https://vc", "secretRef": {"name": "c"}}))
    }

    #[test]
    fn hostile_binding_subjects() {
        let policy = Policy::for_system_namespace("vmware-sources");
        let msg = |subject: Value| {
            validate_with(Kind::VSphereBinding, &binding(subject), None, &policy)
                .unwrap_err()
                .to_string()
        };
        let m = msg(
            json!({"apiVersion": "apps/*", "kind": "Deployment", "namespace": "ns", "name": "d"}),
        );
        assert_eq!(
            m,
            "validation failed: invalid value: apps/*: spec.subject.apiVersion\n\
             apiVersion \"apps/*\" must be <group>/<version> or <version> (lower-case DNS names, no wildcards), e.g. apps/v1"
        );
        let m = msg(json!({"apiVersion": "*", "kind": "*", "namespace": "ns", "name": "d"}));
        assert!(m.contains("spec.subject.apiVersion"), "{m}");
        let m = msg(json!({"apiVersion": "apps/v1", "kind": "*", "namespace": "ns", "name": "d"}));
        assert!(m.contains("invalid value: *: spec.subject.kind"), "{m}");
        let m = msg(json!({"apiVersion": "v1", "kind": "Pod", "namespace": "ns", "name": "d"}));
        assert!(
            m.contains("Pod (core group) is not a PodSpecable kind"),
            "{m}"
        );
        let m =
            msg(json!({"apiVersion": "v1", "kind": "Secret", "namespace": "ns", "selector": {}}));
        assert!(m.contains("not a PodSpecable kind"), "{m}");
        let m = msg(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ns",
            "selector": {"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]}}),
        );
        assert!(
            m.contains("spec.subject.selector.matchExpressions[0].operator"),
            "{m}"
        );
        let m = msg(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ns",
            "selector": {"matchLabels": {"a": "x,b=y"}}}),
        );
        assert!(m.contains("spec.subject.selector.matchLabels"), "{m}");
        // A kind a cluster admin listed is allowed.
        let role: k8s_openapi::api::rbac::v1::ClusterRole = serde_json::from_value(json!({
            "metadata": {"name": "w", "labels": {"duck.knative.dev/podspecable": "true"}},
            "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}]}))
        .unwrap();
        let mut listed = policy.clone();
        listed.podspecables = PodSpecables::from_cluster_roles([&role]);
        let w = binding(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "namespace": "ns", "name": "w"}),
        );
        assert!(validate_with(Kind::VSphereBinding, &w, None, &policy).is_err());
        assert!(validate_with(Kind::VSphereBinding, &w, None, &listed).is_ok());
        // Not in the excluded namespaces.
        let mut in_kube_system =
            binding(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}));
        in_kube_system["metadata"]["namespace"] = json!("kube-system");
        in_kube_system["spec"]["subject"]["namespace"] = json!("kube-system");
        let m = validate_with(Kind::VSphereBinding, &in_kube_system, None, &policy)
            .unwrap_err()
            .to_string();
        assert!(m.contains("invalid value: kube-system: metadata.namespace\nVSphereBindings are not applied in kube-system, kube-node-lease, vmware-sources"), "{m}");
    }

    fn test_cert() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["ca.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem()
    }

    #[test]
    fn pem_address_event_types_service_account() {
        let good = test_cert();
        let mut s = vss();
        s["caCerts"] = json!(format!("{good}{good}"));
        s["sink"]["CACerts"] = json!(good);
        s["eventTypes"] = json!([
            "VmPoweredOnEvent",
            "com.vmware.vc.HA.ClusterFailoverActionCompletedEvent",
            "esx.problem.vmfs.heartbeat.timedout"
        ]);
        s["serviceAccountName"] = json!("events.adapter-1");
        assert!(
            validate(Kind::VSphereSource, &obj(s), None)
                .unwrap()
                .is_empty()
        );

        let mut s = vss();
        s["caCerts"] =
            json!("-----BEGIN CERTIFICATE-----\nMIIBprivate\n-----END CERTIFICATE-----\n");
        s["sink"]["CACerts"] = json!("just text");
        s["address"] = json!("ftp://vc.local");
        s["eventTypes"] = json!(["VmPoweredOnEvent,VmPoweredOffEvent", ""]);
        s["serviceAccountName"] = json!("Not_A_Name");
        let m = validate(Kind::VSphereSource, &obj(s), None)
            .unwrap_err()
            .to_string();
        for want in [
            "invalid value: not PEM certificates: spec.caCerts\n",
            "invalid value: not PEM certificates: spec.sink.CACerts\nno -----BEGIN CERTIFICATE----- section",
            "invalid value: ftp://vc.local: spec.address\nthe address must be an https://",
            "invalid value: \"VmPoweredOnEvent,VmPoweredOffEvent\": spec.eventTypes[0]",
            "invalid value: \"\": spec.eventTypes[1]",
            "invalid value: Not_A_Name: spec.serviceAccountName",
        ] {
            assert!(m.contains(want), "{want:?} in {m}");
        }
        // A private key is never accepted as CA certificates.
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let mut s = vss();
        s["caCerts"] = json!(key);
        let m = validate(Kind::VSphereSource, &obj(s), None)
            .unwrap_err()
            .to_string();
        assert!(m.contains("only CERTIFICATE sections belong here"), "{m}");
        assert!(
            !m.contains("PRIVATE KEY-----\n"),
            "the key is not echoed: {m}"
        );
        // Bindings check caCerts too.
        let mut b = binding(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ns", "name": "d"}),
        );
        b["spec"]["caCerts"] = json!("nope");
        assert!(
            validate(Kind::VSphereBinding, &b, None)
                .unwrap_err()
                .to_string()
                .contains("spec.caCerts")
        );
    }

    #[test]
    fn delivery() {
        let mut s = vss();
        s["delivery"] = json!({"deadLetterSink": {"uri": "http://dls.example"}, "retry": 3,
            "backoffPolicy": "linear", "backoffDelay": "PT0.2S", "timeout": "PT30S"});
        assert!(validate(Kind::VSphereSource, &obj(s), None).is_ok());
        let mut s = vss();
        s["delivery"] = json!({"deadLetterSink": {"uri": "/relative"}, "retry": -1,
            "backoffDelay": "200ms", "timeout": "PT0S"});
        let m = validate(Kind::VSphereSource, &obj(s), None)
            .unwrap_err()
            .to_string();
        for want in [
            "Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent: spec.delivery.deadLetterSink.uri",
            "invalid value: -1: spec.delivery.retry",
            "invalid value: 200ms: spec.delivery.backoffDelay\n\"200ms\" is not an ISO-8601 duration",
            "invalid value: PT0S: spec.delivery.timeout\na timeout must be above zero",
        ] {
            assert!(m.contains(want), "{want:?} in {m}");
        }
        let mut s = vss();
        s["delivery"] = json!({"backoffPolicy": "random"});
        assert!(validate(Kind::VSphereSource, &obj(s), None).is_err());
        let mut h = json!({"sink": {"uri": "http://x"}, "address": "https://h", "secretRef": {"name": "c"},
            "serviceAccountName": "default", "delivery": {"deadLetterSink": {}}});
        let m = validate(Kind::HorizonSource, &obj(h.clone()), None)
            .unwrap_err()
            .to_string();
        assert!(m.contains("expected at least one, got none: spec.delivery.deadLetterSink.ref, spec.delivery.deadLetterSink.uri"), "{m}");
        h["delivery"] = json!({"timeout": "P1M"});
        let m = validate(Kind::HorizonSource, &obj(h), None)
            .unwrap_err()
            .to_string();
        assert!(m.contains("years and months have no fixed length"), "{m}");
    }

    #[test]
    fn cleartext_addresses_are_admitted_with_a_warning() {
        for kind in [Kind::VSphereSource, Kind::HorizonSource] {
            let mut s = vss();
            if kind == Kind::HorizonSource {
                s.as_object_mut().unwrap().remove("payloadEncoding");
            }
            s["address"] = json!("http://vc.lab");
            let w = validate(kind, &obj(s.clone()), None).unwrap();
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(w[0].contains("plain HTTP"), "{w:?}");
            s["address"] = json!("https://vc.lab");
            assert!(validate(kind, &obj(s), None).unwrap().is_empty());
        }
        let b = binding(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "ns", "name": "d"}),
        );
        let mut http = b.clone();
        http["spec"]["address"] = json!("http://vc.lab");
        assert_eq!(
            validate(Kind::VSphereBinding, &http, None).unwrap().len(),
            1
        );
        assert!(validate(Kind::VSphereBinding, &b, None).unwrap().is_empty());
    }

    #[test]
    fn a_deleting_object_keeps_its_spec() {
        let old = json!({"metadata": {"name": "b", "namespace": "ns",
                "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["mine"]},
            "spec": {"subject": {"namespace": "ns", "name": "d"}}});
        assert!(is_deleting(&old));
        let mut finalizers_gone = old.clone();
        finalizers_gone["metadata"]["finalizers"] = json!([]);
        assert!(validate_deleting_update(&old, &finalizers_gone).is_ok());
        let mut retargeted = old.clone();
        retargeted["spec"]["subject"]["namespace"] = json!("victim");
        let e = validate_deleting_update(&old, &retargeted).unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: the object is being deleted: its spec cannot change: spec\n\
             metadata.deletionTimestamp is set; only metadata (finalizers, labels, annotations) \
             may change until the object is gone"
        );
        assert!(!is_deleting(&obj(json!({}))));
    }

    #[test]
    fn horizon_immutable_and_required() {
        let h = json!({"sink": {"uri": "http://x"}, "address": "https://h", "secretRef": {"name": "c"}});
        let d = default_object(Kind::HorizonSource, &obj(h)).unwrap();
        assert!(
            d["spec"].get("serviceAccountName").is_none(),
            "no default: a dedicated ServiceAccount"
        );
        assert!(validate(Kind::HorizonSource, &d, None).is_ok());
        assert!(validate(Kind::HorizonSource, &d, Some(&d)).is_ok());
        let mut n = d.clone();
        n["spec"]["serviceAccountName"] = json!("other");
        let e = validate(Kind::HorizonSource, &n, Some(&d)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: Immutable fields changed (-old +new): spec\n\
             {v1alpha1.HorizonSourceSpec}.ServiceAccountName:\n\t-: null\n\t+: \"other\""
        );
        let e = validate(
            Kind::HorizonSource,
            &obj(json!({"sink": {"uri": "http://x"}, "address": "", "secretRef": {"name": ""}})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: missing field(s): spec.address.host, spec.secretRef.name"
        );
    }
}
