//! Checks of single fields: addresses, PEM, ServiceAccount names, event
//! types, `delivery`, destinations and `ceOverrides`.

use sources_api::duck::{DeliverySpec, Destination};

use super::field_errors::{FieldError, FieldErrors};
use crate::podspecable;

/// `spec.address` and `spec.secretRef.name`. A plain `http://` address is
/// accepted (upstream accepted it, and a lab vCenter may have no TLS), with
/// a warning: the adapter would send the password in clear text.
pub(super) fn validate_auth(
    address: &str,
    secret: &str,
    errs: &mut FieldErrors,
    warnings: &mut Vec<String>,
) {
    if let Some(w) = cleartext_warning(address) {
        warnings.push(w);
    }
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

/// The warning for an `http://` address: the password would cross the
/// network unencrypted. `None` for any other address.
pub fn cleartext_warning(address: &str) -> Option<String> {
    let u = url::Url::parse(address).ok()?;
    (u.scheme() == "http").then(|| {
        format!(
            "spec.address {address:?} is plain HTTP: the username and password are sent \
             unencrypted to it; use https:// (with spec.caCerts for a private CA)"
        )
    })
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
pub(super) fn validate_pem(text: Option<&str>, path: &str, errs: &mut FieldErrors) {
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

pub(super) fn validate_service_account(name: Option<&str>, errs: &mut FieldErrors) {
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

pub(super) fn validate_event_types(types: Option<&[String]>, errs: &mut FieldErrors) {
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

pub(super) fn validate_ce_overrides(
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
