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
//! defaults to 300 when omitted (the manual's value; upstream stored 0), and
//! `ceOverrides.extensions` keys are checked (lower-case letters and digits,
//! not a core CloudEvents attribute; a warning over 20 characters).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Value, json};
use sources_api::duck::Destination;
use sources_api::v1alpha1::{HorizonSourceSpec, VSphereBindingSpec, VSphereSourceSpec};

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
            let mut spec: HorizonSourceSpec = decode_strict(obj, &zero_spec(kind, false))?;
            default_sink(&mut spec.sink, ns);
            if spec
                .service_account_name
                .as_deref()
                .unwrap_or("")
                .is_empty()
            {
                spec.service_account_name = Some("default".to_owned());
            }
            with_spec(obj, spec)
        }
    }
}

/// Validates an object of `kind` (decoded strictly); `old` is the previous
/// object on update. Returns the warnings on success.
pub fn validate(
    kind: Kind,
    obj: &Value,
    old: Option<&Value>,
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
            validate_subject(&spec, ns, &mut errs);
            validate_auth(&spec.address, &spec.secret_ref.name, &mut errs);
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
            if spec
                .service_account_name
                .as_deref()
                .unwrap_or("")
                .is_empty()
            {
                errs.push(FieldError::missing("spec.serviceAccountName"));
            }
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
    let host = url::Url::parse(address)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if host.is_empty() {
        errs.push(FieldError::missing("spec.address.host"));
    }
    if secret.is_empty() {
        errs.push(FieldError::missing("spec.secretRef.name"));
    }
}

/// Knative `Destination.Validate` with the parent's namespace.
pub fn validate_destination(d: &Destination, parent_ns: &str, path: &str, errs: &mut FieldErrors) {
    let uri = d.uri.as_deref().filter(|u| !u.is_empty());
    let p = |s: &str| format!("{path}.{s}");
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

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn validate_subject(spec: &VSphereBindingSpec, ns: &str, errs: &mut FieldErrors) {
    let s = &spec.subject;
    let empty = |o: &Option<String>| o.as_deref().unwrap_or("").is_empty();
    if empty(&s.api_version) {
        errs.push(FieldError::missing("spec.subject.apiVersion"));
    }
    match s.kind.as_deref().filter(|k| !k.is_empty()) {
        None => errs.push(FieldError::missing("spec.subject.kind")),
        Some(k) => {
            let mut c = k.chars();
            let ok = c
                .next()
                .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                && c.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                errs.push(FieldError::invalid(k, "spec.subject.kind"));
            }
        }
    }
    match s.namespace.as_deref().filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::missing("spec.subject.namespace")),
        Some(n) => {
            // A malformed namespace, or another namespace than the binding's.
            if !is_dns1123_label(n) || (!ns.is_empty() && n != ns) {
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
            let ok = !n.is_empty() && n.len() <= 253 && n.split('.').all(is_dns1123_label);
            if !ok {
                errs.push(FieldError::invalid(n, "spec.subject.name"));
            }
        }
        (None, Some(_)) => {}
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
            &obj(json!({"subject": {"apiVersion": "v1", "kind": "Deployment", "namespace": "other", "name": "a", "selector": {}},
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

    #[test]
    fn horizon_immutable_and_required() {
        let h = json!({"sink": {"uri": "http://x"}, "address": "https://h", "secretRef": {"name": "c"}});
        let d = default_object(Kind::HorizonSource, &obj(h)).unwrap();
        assert_eq!(d["spec"]["serviceAccountName"], "default");
        assert!(validate(Kind::HorizonSource, &d, None).is_ok());
        assert!(validate(Kind::HorizonSource, &d, Some(&d)).is_ok());
        let mut n = d.clone();
        n["spec"]["serviceAccountName"] = json!("other");
        let e = validate(Kind::HorizonSource, &n, Some(&d)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: Immutable fields changed (-old +new): spec\n\
             {v1alpha1.HorizonSourceSpec}.ServiceAccountName:\n\t-: \"default\"\n\t+: \"other\""
        );
        let e = validate(
            Kind::HorizonSource,
            &obj(json!({"sink": {"uri": "http://x"}, "address": "", "secretRef": {"name": ""}})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation failed: missing field(s): spec.address.host, spec.secretRef.name, spec.serviceAccountName"
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
