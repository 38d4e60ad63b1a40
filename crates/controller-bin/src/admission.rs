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

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Value, json};
use sources_api::duck::{DeliverySpec, Destination};
use sources_api::v1alpha1::{HorizonSourceSpec, VSphereBindingSpec, VSphereSourceSpec};

use crate::podspecable::{self, PodSpecables, SubjectType};

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

/// One Knative `apis.FieldError`: a message, the paths it applies to and
/// optional details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The message, e.g. `missing field(s)`.
    pub message: String,
    /// The field paths, e.g. `spec.address.host`.
    pub paths: Vec<String>,
    /// Details, printed on the next line.
    pub details: String,
}

impl FieldError {
    fn new(message: impl Into<String>, paths: &[&str]) -> Self {
        Self {
            message: message.into(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            details: String::new(),
        }
    }

    fn missing(path: &str) -> Self {
        Self::new("missing field(s)", &[path])
    }

    fn invalid(value: impl fmt::Display, path: &str) -> Self {
        Self::new(format!("invalid value: {value}"), &[path])
    }

    fn details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }
}

/// A set of field errors, rendered as Knative does: errors with the same
/// message and details merged (paths sorted), sorted by message, one per
/// line.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// No errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut merged: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for e in &self.0 {
            let paths = merged
                .entry((e.message.clone(), e.details.clone()))
                .or_default();
            for p in &e.paths {
                if !paths.contains(p) {
                    paths.push(p.clone());
                }
            }
        }
        let mut lines = Vec::new();
        for ((message, details), mut paths) in merged {
            paths.sort();
            let mut line = if paths.is_empty() {
                message
            } else {
                format!("{message}: {}", paths.join(", "))
            };
            if !details.is_empty() {
                line.push('\n');
                line.push_str(&details);
            }
            lines.push(line);
        }
        f.write_str(&lines.join("\n"))
    }
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

/// Decodes `obj`'s `spec` strictly into `T`: unknown fields are an error
/// (`json: unknown field "x"`), as Knative's `DisallowUnknownFields`.
///
/// As Go, a missing field is its zero value: `zero` (an object) is merged
/// under the input before decoding.
fn decode_strict<T>(obj: &Value, zero: &Value) -> Result<T, AdmissionError>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let spec = obj
        .get("spec")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let mut filled = spec.clone();
    fill_zero(&mut filled, zero);
    let typed: T =
        serde_json::from_value(filled).map_err(|e| AdmissionError::Decode(format!("json: {e}")))?;
    let round = serde_json::to_value(&typed).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    if let Some(field) = unknown_field(&spec, &round) {
        return Err(AdmissionError::Decode(format!(
            "json: unknown field \"{field}\""
        )));
    }
    Ok(typed)
}

/// Adds the keys of `zero` missing from `v`, recursively.
fn fill_zero(v: &mut Value, zero: &Value) {
    if let (Value::Object(m), Value::Object(z)) = (v, zero) {
        for (k, zv) in z {
            match m.get_mut(k) {
                Some(Value::Null) | None => {
                    m.insert(k.clone(), zv.clone());
                }
                Some(existing) => fill_zero(existing, zv),
            }
        }
    }
}

/// Zero values of the required fields of `kind`'s spec (`validation` adds
/// the ones defaulting fills in, as `payloadEncoding`).
fn zero_spec(kind: Kind, validation: bool) -> Value {
    let auth = json!({"address": "", "secretRef": {"name": ""}});
    let mut z = match kind {
        Kind::VSphereSource | Kind::HorizonSource => json!({"sink": {}}),
        Kind::VSphereBinding => json!({"subject": {}}),
    };
    fill_zero(&mut z, &auth);
    if kind == Kind::VSphereSource && validation {
        fill_zero(&mut z, &json!({"payloadEncoding": ""}));
    }
    z
}

/// The first key in `input` that decoding dropped: present in `input`,
/// absent from the re-encoded `round`, and not an empty value (`null`,
/// `false`, `""`, which encoding may omit).
fn unknown_field(input: &Value, round: &Value) -> Option<String> {
    match (input, round) {
        (Value::Object(i), Value::Object(r)) => {
            for (k, v) in i {
                match r.get(k) {
                    Some(rv) => {
                        if let Some(f) = unknown_field(v, rv) {
                            return Some(f);
                        }
                    }
                    None => {
                        let empty =
                            matches!(v, Value::Null | Value::Bool(false)) || v.as_str() == Some("");
                        if !empty {
                            return Some(k.clone());
                        }
                    }
                }
            }
            None
        }
        (Value::Array(i), Value::Array(r)) => {
            i.iter().zip(r).find_map(|(a, b)| unknown_field(a, b))
        }
        _ => None,
    }
}

fn namespace_of(obj: &Value) -> &str {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn with_spec(obj: &Value, spec: impl serde::Serialize) -> Result<Value, AdmissionError> {
    let mut out = obj.clone();
    let spec = serde_json::to_value(spec).map_err(|e| AdmissionError::Decode(e.to_string()))?;
    if let Value::Object(m) = &mut out {
        m.insert("spec".to_owned(), spec);
    }
    Ok(out)
}

fn default_sink(sink: &mut Destination, ns: &str) {
    if let Some(r) = &mut sink.reference
        && r.namespace.as_deref().unwrap_or("").is_empty()
        && !ns.is_empty()
    {
        r.namespace = Some(ns.to_owned());
    }
}

/// Applies upstream's defaults (and `maxAgeSeconds` 300 when omitted) to
/// an object of `kind`, decoding it strictly. Returns the defaulted object.
pub fn default_object(kind: Kind, obj: &Value) -> Result<Defaulted, AdmissionError> {
    let ns = namespace_of(obj);
    match kind {
        Kind::VSphereSource => {
            let mut spec: VSphereSourceSpec = decode_strict(obj, &zero_spec(kind, false))?;
            default_sink(&mut spec.sink, ns);
            if spec.checkpoint_config.period_seconds == 0 {
                spec.checkpoint_config.period_seconds = 10;
            }
            spec.payload_encoding = if spec.payload_encoding.is_empty() {
                "application/xml".to_owned()
            } else {
                spec.payload_encoding.to_lowercase()
            };
            with_spec(obj, spec)
        }
        Kind::VSphereBinding => {
            let mut spec: VSphereBindingSpec = decode_strict(obj, &zero_spec(kind, false))?;
            if spec.subject.namespace.as_deref().unwrap_or("").is_empty() && !ns.is_empty() {
                spec.subject.namespace = Some(ns.to_owned());
            }
            with_spec(obj, spec)
        }
        Kind::HorizonSource => {
            // No serviceAccountName default (upstream wrote `default`): the
            // controller gives the adapter a dedicated ServiceAccount.
            let mut spec: HorizonSourceSpec = decode_strict(obj, &zero_spec(kind, false))?;
            default_sink(&mut spec.sink, ns);
            with_spec(obj, spec)
        }
    }
}

/// Validates an object of `kind` (decoded strictly) with the built-in
/// PodSpecable kinds and no namespace exclusions; `old` is the previous
/// object on update. Returns the warnings on success.
pub fn validate(
    kind: Kind,
    obj: &Value,
    old: Option<&Value>,
) -> Result<Vec<String>, AdmissionError> {
    validate_with(kind, obj, old, &Policy::default())
}

/// Validates an object of `kind` (decoded strictly) under `policy`; `old` is
/// the previous object on update. Returns the warnings on success.
pub fn validate_with(
    kind: Kind,
    obj: &Value,
    old: Option<&Value>,
    policy: &Policy,
) -> Result<Vec<String>, AdmissionError> {
    let ns = namespace_of(obj);
    let mut errs = FieldErrors::default();
    let mut warnings = Vec::new();
    match kind {
        Kind::VSphereSource => {
            let spec: VSphereSourceSpec = decode_strict(obj, &zero_spec(kind, true))?;
            validate_destination(&spec.sink, ns, "spec.sink", &mut errs);
            validate_ce_overrides(spec.ce_overrides.as_ref(), &mut errs, &mut warnings);
            validate_auth(&spec.address, &spec.secret_ref.name, &mut errs);
            validate_pem(spec.ca_certs.as_deref(), "spec.caCerts", &mut errs);
            validate_service_account(spec.service_account_name.as_deref(), &mut errs);
            validate_event_types(spec.event_types.as_deref(), &mut errs);
            validate_delivery(spec.delivery.as_ref(), ns, &mut errs);
            let cp = &spec.checkpoint_config;
            if cp.period_seconds < 0 {
                errs.push(FieldError::invalid(
                    cp.period_seconds,
                    "spec.checkpointConfig.periodSeconds",
                ));
            }
            if cp.max_age_seconds < 0 {
                errs.push(FieldError::invalid(
                    cp.max_age_seconds,
                    "spec.checkpointConfig.maxAgeSeconds",
                ));
            }
            let enc = spec.payload_encoding.to_lowercase();
            if enc != "application/json" && enc != "application/xml" {
                errs.push(FieldError::invalid(
                    &spec.payload_encoding,
                    "spec.payloadEncoding",
                ));
            }
        }
        Kind::VSphereBinding => {
            let spec: VSphereBindingSpec = decode_strict(obj, &zero_spec(kind, true))?;
            validate_subject(&spec, ns, policy, &mut errs);
            validate_auth(&spec.address, &spec.secret_ref.name, &mut errs);
            validate_pem(spec.ca_certs.as_deref(), "spec.caCerts", &mut errs);
            if policy.excluded_namespaces.iter().any(|n| n == ns) {
                errs.push(
                    FieldError::invalid(ns, "metadata.namespace").details(format!(
                        "VSphereBindings are not applied in {}: the binding webhook excludes \
                         these namespaces; create the binding (and its subject) in an \
                         application namespace",
                        policy.excluded_namespaces.join(", ")
                    )),
                );
            }
        }
        Kind::HorizonSource => {
            let spec: HorizonSourceSpec = decode_strict(obj, &zero_spec(kind, true))?;
            if let Some(old) = old {
                let old_spec = old.get("spec").cloned().unwrap_or(Value::Null);
                let new_spec = obj.get("spec").cloned().unwrap_or(Value::Null);
                let mut old_spec = old_spec;
                fill_zero(&mut old_spec, &zero_spec(kind, true));
                let old_typed: Option<HorizonSourceSpec> = serde_json::from_value(old_spec).ok();
                match old_typed {
                    None => errs.push(FieldError::new("Failed to diff HorizonSource", &[])),
                    Some(old_typed) if old_typed != spec => {
                        let old_v = serde_json::to_value(&old_typed).unwrap_or(Value::Null);
                        let new_v = serde_json::to_value(&spec).unwrap_or(new_spec);
                        let mut lines = Vec::new();
                        diff_lines("{v1alpha1.HorizonSourceSpec}", &old_v, &new_v, &mut lines);
                        errs.push(
                            FieldError::new("Immutable fields changed (-old +new)", &["spec"])
                                .details(lines.join("\n")),
                        );
                        return Err(AdmissionError::Invalid(errs));
                    }
                    Some(_) => {}
                }
            }
            validate_destination(&spec.sink, ns, "spec.sink", &mut errs);
            validate_ce_overrides(spec.ce_overrides.as_ref(), &mut errs, &mut warnings);
            validate_auth(&spec.address, &spec.secret_ref.name, &mut errs);
            validate_delivery(spec.delivery.as_ref(), ns, &mut errs);
            validate_service_account(spec.service_account_name.as_deref(), &mut errs);
        }
    }
    errs.into_result().map_err(AdmissionError::Invalid)?;
    Ok(warnings)
}

/// Go field name (`serviceAccountName` → `ServiceAccountName`).
fn go_name(key: &str) -> String {
    let mut c = key.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A kmp-like diff: one `path:\n\t-: old\n\t+: new` per changed leaf.
fn diff_lines(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    if let (Value::Object(o), Value::Object(n)) = (old, new) {
        let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for k in keys {
            let null = Value::Null;
            diff_lines(
                &format!("{path}.{}", go_name(k)),
                o.get(k).unwrap_or(&null),
                n.get(k).unwrap_or(&null),
                out,
            );
        }
    } else if old != new {
        out.push(format!("{path}:\n\t-: {old}\n\t+: {new}"));
    }
}

fn validate_auth(address: &str, secret: &str, errs: &mut FieldErrors) {
    let parsed = url::Url::parse(address).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if host.is_empty() {
        errs.push(FieldError::missing("spec.address.host"));
    } else if let Some(u) = parsed
        && u.scheme() != "https"
        && u.scheme() != "http"
    {
        errs.push(FieldError::invalid(address, "spec.address").details(
            "the address must be an https:// (or http://) URL, e.g. https://vcenter.example.com",
        ));
    }
    if secret.is_empty() {
        errs.push(FieldError::missing("spec.secretRef.name"));
    }
}

/// Whether `text` is PEM holding only certificates, at least one, each a
/// well-formed X.509 certificate.
pub fn check_pem_certificates(text: &str) -> Result<usize, String> {
    use rustls_pki_types::pem::{PemObject, SectionKind};
    let mut count = 0;
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(text.as_bytes()) {
        let (kind, der) = item.map_err(|e| format!("not PEM: {e}"))?;
        if kind != SectionKind::Certificate {
            return Err(format!(
                "a {kind:?} section: only CERTIFICATE sections belong here (never a key)"
            ));
        }
        x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("certificate {}: {e}", count + 1))?;
        count += 1;
    }
    if count == 0 {
        return Err("no -----BEGIN CERTIFICATE----- section".to_owned());
    }
    Ok(count)
}

/// `caCerts` and `CACerts` fields: PEM certificates when set.
fn validate_pem(text: Option<&str>, path: &str, errs: &mut FieldErrors) {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return;
    };
    if let Err(why) = check_pem_certificates(text) {
        errs.push(
            FieldError::new("invalid value: not PEM certificates", &[path])
                .details(format!("{why}; paste the CA certificates in PEM form")),
        );
    }
}

fn validate_service_account(name: Option<&str>, errs: &mut FieldErrors) {
    if let Some(n) = name.filter(|n| !n.is_empty())
        && !podspecable::is_dns_subdomain(n)
    {
        errs.push(FieldError::invalid(n, "spec.serviceAccountName").details(
            "a ServiceAccount name is a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'",
        ));
    }
}

/// vSphere event type names (`VmPoweredOnEvent`) or EventEx / ExtendedEvent
/// type ids (`com.vmware.vc.HA.ClusterFailoverActionCompletedEvent`,
/// `esx.problem.vmfs.heartbeat.timedout`).
fn is_event_type_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn validate_event_types(types: Option<&[String]>, errs: &mut FieldErrors) {
    for (i, t) in types.unwrap_or_default().iter().enumerate() {
        if !is_event_type_name(t) {
            errs.push(
                FieldError::invalid(format!("{t:?}"), &format!("spec.eventTypes[{i}]")).details(
                    "an entry is one vSphere event type name (VmPoweredOnEvent) or EventEx type id \
                     (com.vmware.vc.HA.ClusterFailoverActionCompletedEvent): letters, digits, '.', '_', '-'",
                ),
            );
        }
    }
}

/// `spec.delivery`: the dead-letter sink as a sink, `retry` not negative,
/// `backoffDelay` and `timeout` ISO-8601 durations (a timeout above zero).
pub fn validate_delivery(d: Option<&DeliverySpec>, ns: &str, errs: &mut FieldErrors) {
    let Some(d) = d else { return };
    if let Some(dls) = &d.dead_letter_sink {
        validate_destination(dls, ns, "spec.delivery.deadLetterSink", errs);
    }
    if let Some(r) = d.retry
        && r < 0
    {
        errs.push(
            FieldError::invalid(r, "spec.delivery.retry").details("retry is a count, 0 or more"),
        );
    }
    if let Some(delay) = d.backoff_delay.as_deref()
        && let Err(why) = adapter_env::parse_iso8601_duration(delay)
    {
        errs.push(FieldError::invalid(delay, "spec.delivery.backoffDelay").details(why));
    }
    if let Some(t) = d.timeout.as_deref() {
        match adapter_env::parse_iso8601_duration(t) {
            Err(why) => errs.push(FieldError::invalid(t, "spec.delivery.timeout").details(why)),
            Ok(z) if z.is_zero() => errs.push(
                FieldError::invalid(t, "spec.delivery.timeout")
                    .details("a timeout must be above zero, e.g. PT30S"),
            ),
            Ok(_) => {}
        }
    }
}

/// Knative `Destination.Validate` with the parent's namespace.
pub fn validate_destination(d: &Destination, parent_ns: &str, path: &str, errs: &mut FieldErrors) {
    let uri = d.uri.as_deref().filter(|u| !u.is_empty());
    let p = |s: &str| format!("{path}.{s}");
    validate_pem(d.ca_certs.as_deref(), &p("CACerts"), errs);
    match (&d.reference, uri) {
        (None, None) => errs.push(FieldError::new(
            "expected at least one, got none",
            &[&p("ref"), &p("uri")],
        )),
        (Some(r), uri) => {
            if let Some(u) = uri
                && url::Url::parse(u).is_ok()
            {
                errs.push(FieldError::new(
                    "Absolute URI is not allowed when Ref or [apiVersion, kind, name] is present",
                    &[&p("ref"), &p("uri")],
                ));
            }
            if r.kind.is_empty() {
                errs.push(FieldError::missing(&p("ref.kind")));
            }
            if r.name.is_empty() {
                errs.push(FieldError::missing(&p("ref.name")));
            }
            if r.api_version.is_empty() && r.group.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::missing(&p("ref.apiVersion")));
            }
            if let Some(ns) = r.namespace.as_deref().filter(|n| !n.is_empty())
                && !parent_ns.is_empty()
                && ns != parent_ns
            {
                errs.push(
                    FieldError::new("mismatched namespaces", &[&p("ref.namespace")]).details(
                        format!("parent namespace: {parent_ns:?} does not match ref: {ns:?}"),
                    ),
                );
            }
        }
        (None, Some(u)) => {
            if url::Url::parse(u).is_err() {
                errs.push(FieldError::invalid(
                    "Relative URI is not allowed when Ref and [apiVersion, kind, name] is absent",
                    &p("uri"),
                ));
            }
        }
    }
}

/// The CloudEvents context attributes an extension may not shadow.
const CORE_ATTRIBUTES: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "data",
    "data_base64",
];

fn validate_ce_overrides(
    o: Option<&sources_api::duck::CloudEventOverrides>,
    errs: &mut FieldErrors,
    warnings: &mut Vec<String>,
) {
    let Some(ext) = o.and_then(|o| o.extensions.as_ref()) else {
        return;
    };
    let path = "spec.ceOverrides.extensions";
    for key in ext.keys() {
        let err =
            |d: &str| FieldError::new(format!("invalid key name {key:?}"), &[path]).details(d);
        if key.is_empty() {
            errs.push(err("keys MUST NOT be empty"));
        } else if !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            errs.push(err("keys are expected to be alphanumeric"));
        } else if CORE_ATTRIBUTES.contains(&key.as_str()) {
            errs.push(err("keys MUST NOT be a core CloudEvents attribute"));
        } else if key.len() > 20 {
            warnings.push(
                FieldErrors(vec![err("keys SHOULD NOT be longer than 20 characters")]).to_string(),
            );
        }
    }
}

fn validate_subject(spec: &VSphereBindingSpec, ns: &str, policy: &Policy, errs: &mut FieldErrors) {
    let s = &spec.subject;
    let api_version = s.api_version.as_deref().unwrap_or("");
    let kind = s.kind.as_deref().unwrap_or("");
    if api_version.is_empty() {
        errs.push(FieldError::missing("spec.subject.apiVersion"));
    }
    if kind.is_empty() {
        errs.push(FieldError::missing("spec.subject.kind"));
    }
    if !api_version.is_empty() && !kind.is_empty() {
        match SubjectType::parse(api_version, kind) {
            Err(e @ podspecable::SubjectTypeError::ApiVersion(_)) => errs.push(
                FieldError::invalid(api_version, "spec.subject.apiVersion").details(e.to_string()),
            ),
            Err(e @ podspecable::SubjectTypeError::Kind(_)) => {
                errs.push(FieldError::invalid(kind, "spec.subject.kind").details(e.to_string()))
            }
            Ok(t) if !policy.podspecables.allows(&t) => {
                let group = if t.group.is_empty() { "core" } else { &t.group };
                errs.push(FieldError::invalid(kind, "spec.subject.kind").details(format!(
                    "{kind} ({group} group) is not a PodSpecable kind a VSphereBinding may bind: \
                     use Deployment, StatefulSet, DaemonSet, ReplicaSet (apps), Job (batch), or a \
                     Knative Service or Configuration; a cluster admin can allow another kind by \
                     listing its resource in a ClusterRole labelled {}=true",
                    podspecable::PODSPECABLE_LABEL
                )))
            }
            Ok(_) => {}
        }
    }
    match s.namespace.as_deref().filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::missing("spec.subject.namespace")),
        Some(n) => {
            // A malformed namespace, or another namespace than the binding's.
            if !podspecable::is_dns1123_label(n) || (!ns.is_empty() && n != ns) {
                errs.push(FieldError::invalid(n, "spec.subject.namespace"));
            }
        }
    }
    match (s.name.as_deref().filter(|n| !n.is_empty()), &s.selector) {
        (None, None) => errs.push(FieldError::new(
            "expected exactly one, got neither",
            &["spec.subject.name", "spec.subject.selector"],
        )),
        (Some(_), Some(_)) => errs.push(FieldError::new(
            "expected exactly one, got both",
            &["spec.subject.name", "spec.subject.selector"],
        )),
        (Some(n), None) => {
            if !podspecable::is_dns_subdomain(n) {
                errs.push(FieldError::invalid(n, "spec.subject.name"));
            }
        }
        (None, Some(sel)) => validate_selector(sel, "spec.subject.selector", errs),
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of
/// up to 63 characters (letters, digits, `-`, `_`, `.`, alphanumeric at
/// both ends).
fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(podspecable::is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A label value: empty, or up to 63 characters (letters, digits, `-`,
/// `_`, `.`, alphanumeric at both ends).
fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

fn validate_selector(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    path: &str,
    errs: &mut FieldErrors,
) {
    for (k, v) in sel.match_labels.iter().flatten() {
        if !is_label_key(k) || !is_label_value(v) {
            errs.push(FieldError::invalid(
                format!("{k}={v}"),
                &format!("{path}.matchLabels"),
            ));
        }
    }
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        if !is_label_key(&e.key) {
            errs.push(FieldError::invalid(&e.key, &format!("{p}.key")));
        }
        let values = e.values.as_deref().unwrap_or_default();
        let ok = match e.operator.as_str() {
            "In" | "NotIn" => !values.is_empty() && values.iter().all(|v| is_label_value(v)),
            "Exists" | "DoesNotExist" => values.is_empty(),
            _ => false,
        };
        if !ok {
            errs.push(
                FieldError::invalid(&e.operator, &format!("{p}.operator"))
                    .details("In and NotIn take label values, Exists and DoesNotExist take none"),
            );
        }
    }
}

/// The zap levels `loglevel.<component>` may take.
const ZAP_LEVELS: &[&str] = &["debug", "info", "warn", "error", "dpanic", "panic", "fatal"];

/// Validates the data of `config-logging` as Knative's
/// `logging.NewConfigFromMap`: `zap-logger-config` must be JSON (an object)
/// and every non-empty `loglevel.<component>` a zap level.
pub fn validate_config_logging(data: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(zap) = data.get("zap-logger-config")
        && !zap.trim().is_empty()
    {
        match serde_json::from_str::<Value>(zap) {
            Ok(Value::Object(_)) => {}
            Ok(_) => return Err("zap-logger-config: expected a JSON object".to_owned()),
            Err(e) => return Err(format!("zap-logger-config: {e}")),
        }
    }
    for (k, v) in data {
        if let Some(component) = k.strip_prefix("loglevel.")
            && !component.is_empty()
            && !v.is_empty()
            && !ZAP_LEVELS.contains(&v.to_lowercase().as_str())
        {
            return Err(format!("invalid logging level: {v}"));
        }
    }
    Ok(())
}

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

    #[test]
    fn config_logging() {
        let ok = BTreeMap::from([
            (
                "zap-logger-config".to_owned(),
                "{\"level\":\"info\"}".to_owned(),
            ),
            ("loglevel.controller".to_owned(), "debug".to_owned()),
        ]);
        assert!(validate_config_logging(&ok).is_ok());
        let bad = BTreeMap::from([("loglevel.controller".to_owned(), "loud".to_owned())]);
        assert_eq!(
            validate_config_logging(&bad).unwrap_err(),
            "invalid logging level: loud"
        );
        let bad = BTreeMap::from([("zap-logger-config".to_owned(), "{".to_owned())]);
        assert!(validate_config_logging(&bad).is_err());
    }
}
