//! Self-managed webhook certificates: a long-lived CA and a short-lived
//! serving certificate it signs, kept in a Secret, and served through a
//! [`CertResolver`] that swaps certificates without a restart.
//!
//! The webhook configurations trust the CA bundle (`caBundle`), so the
//! serving certificate can be rotated (weekly by default) without touching
//! them: every replica picks the new certificate up from the Secret, and
//! the API server keeps trusting it. The CA itself is rotated rarely (a
//! year by default), with an overlap: a new CA is first added to the
//! bundle next to the current one, and only signs once every webhook
//! configuration has carried the bundle for [`CertPolicy::ca_overlap`]; the
//! old CA leaves the bundle when it expires. So no admission request ever
//! meets a certificate its `caBundle` does not trust.
//!
//! [`plan`] is the pure state machine; the Secret layout is [`CertState`]:
//! Knative's `ca-cert.pem` (here the whole bundle), `server-cert.pem` and
//! `server-key.pem`, plus the signing CA (`ca-signing-cert.pem`,
//! `ca-signing-key.pem`) and, during an overlap, the next CA
//! (`ca-next-cert.pem`, `ca-next-key.pem`) and the time every configuration
//! carried it (annotation [`NEXT_CA_PUBLISHED_ANNOTATION`]).
//!
//! ```
//! use std::time::Duration;
//! use sources_controller::certs::{plan, CertPolicy, CertState};
//!
//! # let _ = rustls::crypto::ring::default_provider().install_default();
//! let policy = CertPolicy::new(vec!["webhook.ns.svc".into()]);
//! let now = jiff::Timestamp::now();
//! let fresh = plan(&CertState::default(), now, &policy, |_| true).unwrap();
//! assert!(fresh.serving_key().is_ok());
//! // Nothing to do a moment later.
//! assert_eq!(plan(&fresh, now, &policy, |_| true).unwrap(), fresh);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Secret key of the trusted CA bundle (the configurations' `caBundle`).
pub const CA_KEY: &str = "ca-cert.pem";
/// Secret key of the serving certificate.
pub const CERT_KEY: &str = "server-cert.pem";
/// Secret key of the serving key.
pub const KEY_KEY: &str = "server-key.pem";
/// Secret key of the CA that signs serving certificates.
pub const SIGNING_CA_CERT_KEY: &str = "ca-signing-cert.pem";
/// Secret key of the signing CA's key.
pub const SIGNING_CA_KEY_KEY: &str = "ca-signing-key.pem";
/// Secret key of the next CA (during an overlap).
pub const NEXT_CA_CERT_KEY: &str = "ca-next-cert.pem";
/// Secret key of the next CA's key.
pub const NEXT_CA_KEY_KEY: &str = "ca-next-key.pem";
/// Annotation of the Secret: when every webhook configuration first
/// carried the next CA (RFC 3339).
pub const NEXT_CA_PUBLISHED_ANNOTATION: &str = "sources.tanzu.vmware.com/next-ca-published";

/// Certificates are valid from this long before they are made (clock skew
/// between the controller and the API servers).
const BACKDATE: SignedDuration = SignedDuration::from_secs(3600);

/// Why certificates could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The PEM data is unusable.
    #[error("bad certificate data: {0}")]
    Bad(String),
}

/// A CA certificate and its key, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ca {
    /// The certificate.
    pub cert_pem: String,
    /// The key.
    pub key_pem: String,
}

/// Lifetimes of the certificates, and the names they are for.
#[derive(Clone, Debug)]
pub struct CertPolicy {
    /// The names in the serving certificate (DNS names or IP addresses; the
    /// first is the common name).
    pub names: Vec<String>,
    /// Validity of a serving certificate (7 days).
    pub validity: Duration,
    /// A serving certificate expiring sooner than this is replaced (1 day).
    pub rotate_before: Duration,
    /// Validity of a CA (365 days).
    pub ca_validity: Duration,
    /// A CA expiring sooner than this gets a successor (30 days).
    pub ca_rotate_before: Duration,
    /// How long every webhook configuration carries a new CA before it
    /// signs (1 hour).
    pub ca_overlap: Duration,
}

impl CertPolicy {
    /// The defaults for `names`.
    pub fn new(names: Vec<String>) -> Self {
        Self {
            names,
            validity: Duration::from_secs(7 * 86400),
            rotate_before: Duration::from_secs(86400),
            ca_validity: Duration::from_secs(365 * 86400),
            ca_rotate_before: Duration::from_secs(30 * 86400),
            ca_overlap: Duration::from_secs(3600),
        }
    }
}

/// What the certificate Secret holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertState {
    /// The trusted CAs, PEM, one after the other (`ca-cert.pem`).
    pub bundle: String,
    /// The CA signing serving certificates.
    pub signing: Option<Ca>,
    /// A CA in the bundle that will sign next.
    pub next: Option<Ca>,
    /// When every configuration first carried `next`.
    pub next_published: Option<Timestamp>,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving key.
    pub key_pem: String,
}

fn signed(d: Duration) -> Result<SignedDuration, CertError> {
    SignedDuration::try_from(d).map_err(|e| CertError::Bad(format!("duration: {e}")))
}

fn to_odt(t: Timestamp) -> Result<time::OffsetDateTime, CertError> {
    time::OffsetDateTime::from_unix_timestamp(t.as_second())
        .map_err(|e| CertError::Bad(format!("validity: {e}")))
}

fn der_of(pem: &str) -> Result<CertificateDer<'static>, CertError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| CertError::Bad(e.to_string()))
}

/// The certificates of a PEM bundle, PEM each (what does not parse as a
/// certificate is dropped).
pub fn split_bundle(bundle: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = bundle;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let pem = format!("{}\n", &rest[start..start + len + END.len()]);
        if der_of(&pem).is_ok() {
            out.push(pem);
        }
        rest = &rest[start + len + END.len()..];
    }
    out
}

/// A certificate's expiry (seconds since the epoch).
fn not_after(pem: &str) -> Result<i64, CertError> {
    let der = der_of(pem)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| CertError::Bad(e.to_string()))?;
    Ok(cert.validity().not_after.timestamp())
}

/// Whether `cert_pem` is signed by the CA `ca_pem`.
pub fn issued_by(cert_pem: &str, ca_pem: &str) -> bool {
    let (Ok(cert), Ok(ca)) = (der_of(cert_pem), der_of(ca_pem)) else {
        return false;
    };
    let (Ok((_, cert)), Ok((_, ca))) = (
        x509_parser::parse_x509_certificate(&cert),
        x509_parser::parse_x509_certificate(&ca),
    ) else {
        return false;
    };
    cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

fn new_ca(now: Timestamp, policy: &CertPolicy) -> Result<Ca, CertError> {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    // A distinct name per CA, so chains never mix an old and a new CA.
    params.distinguished_name.push(
        DnType::CommonName,
        format!("sources-controller webhook CA {}", now.as_second()),
    );
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = to_odt(now - BACKDATE)?;
    params.not_after = to_odt(now + signed(policy.ca_validity)?)?;
    let key = KeyPair::generate()?;
    let ca = CertifiedIssuer::self_signed(params, key)?;
    Ok(Ca {
        cert_pem: ca.pem(),
        key_pem: ca.key().serialize_pem(),
    })
}

fn issue(now: Timestamp, ca: &Ca, policy: &CertPolicy) -> Result<(String, String), CertError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let mut params = CertificateParams::new(policy.names.clone())?;
    if let Some(first) = policy.names.first() {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = to_odt(now - BACKDATE)?;
    // Never beyond the CA.
    let end = (now + signed(policy.validity)?)
        .as_second()
        .min(not_after(&ca.cert_pem)?);
    params.not_after = time::OffsetDateTime::from_unix_timestamp(end)
        .map_err(|e| CertError::Bad(format!("validity: {e}")))?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Whether `ca` is a usable CA at `now` (parses, key matches, not expired).
fn ca_usable(ca: &Ca, now: Timestamp) -> bool {
    let Ok(end) = not_after(&ca.cert_pem) else {
        return false;
    };
    let key_ok = KeyPair::from_pem(&ca.key_pem)
        .ok()
        .and_then(|k| Issuer::from_ca_cert_pem(&ca.cert_pem, k).ok())
        .is_some();
    key_ok && end > now.as_second()
}

fn expires_within(pem: &str, now: Timestamp, margin: Duration) -> bool {
    let margin = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
    not_after(pem).map_or(true, |end| end.saturating_sub(margin) <= now.as_second())
}

impl CertState {
    /// Reads the Secret's data and annotations.
    pub fn from_secret(
        data: &BTreeMap<String, Vec<u8>>,
        annotations: &BTreeMap<String, String>,
    ) -> Self {
        let get = |k: &str| {
            data.get(k)
                .and_then(|b| String::from_utf8(b.clone()).ok())
                .unwrap_or_default()
        };
        let ca = |c: &str, k: &str| {
            let (cert_pem, key_pem) = (get(c), get(k));
            (!cert_pem.is_empty() && !key_pem.is_empty()).then_some(Ca { cert_pem, key_pem })
        };
        Self {
            bundle: get(CA_KEY),
            signing: ca(SIGNING_CA_CERT_KEY, SIGNING_CA_KEY_KEY),
            next: ca(NEXT_CA_CERT_KEY, NEXT_CA_KEY_KEY),
            next_published: annotations
                .get(NEXT_CA_PUBLISHED_ANNOTATION)
                .and_then(|t| t.parse().ok()),
            cert_pem: get(CERT_KEY),
            key_pem: get(KEY_KEY),
        }
    }

    /// The Secret's data.
    pub fn to_data(&self) -> BTreeMap<String, Vec<u8>> {
        let mut d = BTreeMap::from([
            (CA_KEY.to_owned(), self.bundle.clone().into_bytes()),
            (CERT_KEY.to_owned(), self.cert_pem.clone().into_bytes()),
            (KEY_KEY.to_owned(), self.key_pem.clone().into_bytes()),
        ]);
        for (ca, c, k) in [
            (&self.signing, SIGNING_CA_CERT_KEY, SIGNING_CA_KEY_KEY),
            (&self.next, NEXT_CA_CERT_KEY, NEXT_CA_KEY_KEY),
        ] {
            if let Some(ca) = ca {
                d.insert(c.to_owned(), ca.cert_pem.clone().into_bytes());
                d.insert(k.to_owned(), ca.key_pem.clone().into_bytes());
            }
        }
        d
    }

    /// The serving certificate as a rustls key.
    pub fn serving_key(&self) -> Result<CertifiedKey, CertError> {
        certified_key(&self.cert_pem, &self.key_pem)
    }

    /// Whether the serving certificate may be served at `now`: it loads,
    /// covers every name, does not expire within `rotate_before`, and a CA of
    /// the bundle signed it.
    pub fn serving_usable(&self, now: Timestamp, policy: &CertPolicy) -> bool {
        let Ok((end, names)) = inspect(&self.cert_pem) else {
            return false;
        };
        let margin = i64::try_from(policy.rotate_before.as_secs()).unwrap_or(i64::MAX);
        end.saturating_sub(margin) > now.as_second()
            && policy.names.iter().all(|n| names.contains(n))
            && certified_key(&self.cert_pem, &self.key_pem).is_ok()
            && split_bundle(&self.bundle)
                .iter()
                .any(|ca| issued_by(&self.cert_pem, ca))
    }
}

fn bundle_contains(bundle: &str, ca_pem: &str) -> bool {
    let Ok(want) = der_of(ca_pem) else {
        return false;
    };
    CertificateDer::pem_slice_iter(bundle.as_bytes())
        .filter_map(Result::ok)
        .any(|c| c == want)
}

fn add_to_bundle(bundle: &mut String, ca_pem: &str) {
    if !bundle_contains(bundle, ca_pem) {
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(ca_pem);
    }
}

/// The next state of the certificate Secret at `now`. `carried(ca_pem)`
/// says whether every webhook configuration's `caBundle` holds that CA.
/// Returns `state` itself when nothing is due.
pub fn plan(
    state: &CertState,
    now: Timestamp,
    policy: &CertPolicy,
    carried: impl Fn(&str) -> bool,
) -> Result<CertState, CertError> {
    let mut s = state.clone();
    // Expired or broken CAs are of no use; an expired CA leaves the bundle.
    s.signing = s.signing.filter(|ca| ca_usable(ca, now));
    s.next = s.next.filter(|ca| ca_usable(ca, now));
    if s.next.is_none() {
        s.next_published = None;
    }
    s.bundle = split_bundle(&s.bundle)
        .into_iter()
        .filter(|c| not_after(c).is_ok_and(|end| end > now.as_second()))
        .collect();
    for ca in s.signing.iter().chain(s.next.iter()) {
        add_to_bundle(&mut s.bundle, &ca.cert_pem);
    }

    if s.signing.is_none() && s.next.is_none() {
        if s.serving_usable(now, policy) {
            // A serving certificate of an older CA (without a stored CA
            // key, e.g. from an earlier release): keep it while a new CA
            // goes through the overlap.
            let next = new_ca(now, policy)?;
            add_to_bundle(&mut s.bundle, &next.cert_pem);
            s.next = Some(next);
        } else {
            // Nothing is trusted or served yet: start over.
            let ca = new_ca(now, policy)?;
            s.bundle = ca.cert_pem.clone();
            s.signing = Some(ca);
        }
    }
    if let Some(signing) = &s.signing
        && s.next.is_none()
        && expires_within(&signing.cert_pem, now, policy.ca_rotate_before)
    {
        let next = new_ca(now, policy)?;
        add_to_bundle(&mut s.bundle, &next.cert_pem);
        s.next = Some(next);
        s.next_published = None;
    }
    if let Some(next) = &s.next {
        if s.next_published.is_none() && carried(&next.cert_pem) {
            s.next_published = Some(now);
        }
        let overlap_done = s
            .next_published
            .is_some_and(|p| p + signed(policy.ca_overlap).unwrap_or(SignedDuration::MAX) <= now);
        // Without a signing CA and nothing servable, waiting helps nobody.
        let stuck = s.signing.is_none() && !s.serving_usable(now, policy);
        if overlap_done || stuck {
            s.signing = s.next.take();
            s.next_published = None;
        }
    }
    if let Some(signing) = &s.signing
        && (!s.serving_usable(now, policy) || !issued_by(&s.cert_pem, &signing.cert_pem))
    {
        let (cert, key) = issue(now, signing, policy)?;
        s.cert_pem = cert;
        s.key_pem = key;
    }
    Ok(s)
}

/// A certificate's expiry (seconds since the epoch) and its subject
/// alternative names.
pub fn inspect(cert_pem: &str) -> Result<(i64, Vec<String>), CertError> {
    let der = der_of(cert_pem)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| CertError::Bad(e.to_string()))?;
    let not_after = cert.validity().not_after.timestamp();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    let s = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        16 => <[u8; 16]>::try_from(*ip)
                            .map(|a| std::net::IpAddr::from(a).to_string())
                            .ok(),
                        _ => None,
                    };
                    names.extend(s);
                }
                _ => {}
            }
        }
    }
    Ok((not_after, names))
}

/// A rustls certified key from PEM certificate chain and key.
pub fn certified_key(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::Bad(e.to_string()))?;
    if chain.is_empty() {
        return Err(CertError::Bad("no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| CertError::Bad(e.to_string()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| CertError::Bad(e.to_string()))?;
    let ck = CertifiedKey::new(chain, signer);
    ck.keys_match().map_err(|e| CertError::Bad(e.to_string()))?;
    Ok(ck)
}

/// Serves the current certificate; [`CertResolver::set`] swaps it for new
/// connections without a restart.
#[derive(Debug, Default)]
pub struct CertResolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CertResolver {
    /// Replaces the served certificate.
    pub fn set(&self, key: CertifiedKey) {
        if let Ok(mut c) = self.current.write() {
            *c = Some(Arc::new(key));
        }
    }

    /// Whether a certificate is loaded.
    pub fn is_loaded(&self) -> bool {
        self.current.read().map(|c| c.is_some()).unwrap_or(false)
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().and_then(|c| c.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CertPolicy {
        let mut p = CertPolicy::new(vec!["svc.ns.svc".to_owned(), "127.0.0.1".to_owned()]);
        p.validity = Duration::from_secs(100);
        p.rotate_before = Duration::from_secs(30);
        p.ca_validity = Duration::from_secs(1000);
        p.ca_rotate_before = Duration::from_secs(300);
        p.ca_overlap = Duration::from_secs(20);
        p
    }

    fn at(t0: Timestamp, secs: i64) -> Timestamp {
        t0 + SignedDuration::from_secs(secs)
    }

    #[test]
    fn fresh_state_serves_a_certificate_of_its_ca() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let p = policy();
        let t0 = Timestamp::now();
        let s = plan(&CertState::default(), t0, &p, |_| true).unwrap();
        let signing = s.signing.clone().unwrap();
        assert_eq!(split_bundle(&s.bundle), vec![signing.cert_pem.clone()]);
        assert!(issued_by(&s.cert_pem, &signing.cert_pem));
        let (end, names) = inspect(&s.cert_pem).unwrap();
        assert_eq!(names, p.names);
        assert!((end - (t0.as_second() + 100)).abs() <= 1);
        s.serving_key().unwrap();
        // Round trip through the Secret.
        let back = CertState::from_secret(&s.to_data(), &BTreeMap::new());
        assert_eq!(back, s);
        assert_eq!(plan(&back, at(t0, 10), &p, |_| true).unwrap(), s);
    }

    #[test]
    fn serving_rotation_keeps_the_ca() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let p = policy();
        let t0 = Timestamp::now();
        let s = plan(&CertState::default(), t0, &p, |_| true).unwrap();
        // 71 s later less than 30 s remain: a new serving certificate, same CA.
        let r = plan(&s, at(t0, 71), &p, |_| true).unwrap();
        assert_ne!(r.cert_pem, s.cert_pem);
        assert_eq!(r.bundle, s.bundle);
        assert_eq!(r.signing, s.signing);
        assert!(issued_by(&r.cert_pem, &s.signing.unwrap().cert_pem));
    }

    #[test]
    fn ca_rotation_overlaps_before_signing() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let p = policy();
        let t0 = Timestamp::now();
        let s = plan(&CertState::default(), t0, &p, |_| true).unwrap();
        let old = s.signing.clone().unwrap();
        // 700 s in, the CA expires within 300 s: a next CA joins the bundle,
        // the serving certificate is still the old CA's.
        let s1 = plan(&s, at(t0, 700), &p, |_| false).unwrap();
        let next = s1.next.clone().expect("a next CA");
        assert_eq!(
            split_bundle(&s1.bundle),
            vec![old.cert_pem.clone(), next.cert_pem.clone()]
        );
        assert_eq!(s1.signing.as_ref(), Some(&old));
        assert!(issued_by(&s1.cert_pem, &old.cert_pem));
        assert_eq!(s1.next_published, None);
        // Not carried by the configurations yet: nothing changes.
        assert_eq!(
            plan(&s1, at(t0, 760), &p, |_| false).unwrap().next,
            Some(next.clone())
        );
        // Carried: the overlap starts...
        let s2 = plan(&s1, at(t0, 761), &p, |ca| ca == next.cert_pem).unwrap();
        assert_eq!(s2.next_published, Some(at(t0, 761)));
        assert_eq!(
            plan(&s2, at(t0, 780), &p, |_| true)
                .unwrap()
                .signing
                .as_ref(),
            Some(&old)
        );
        // ...and when it is over the next CA signs a new serving certificate.
        let s3 = plan(&s2, at(t0, 781), &p, |_| true).unwrap();
        assert_eq!(s3.signing.as_ref(), Some(&next));
        assert_eq!(s3.next, None);
        assert!(issued_by(&s3.cert_pem, &next.cert_pem));
        assert_eq!(
            split_bundle(&s3.bundle).len(),
            2,
            "the old CA stays until it expires"
        );
        // The old CA leaves the bundle when it expires.
        let s4 = plan(&s3, at(t0, 1001), &p, |_| true).unwrap();
        assert_eq!(split_bundle(&s4.bundle), vec![next.cert_pem.clone()]);
    }

    #[test]
    fn an_earlier_releases_secret_is_kept_through_an_overlap() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let p = policy();
        let t0 = Timestamp::now();
        let s = plan(&CertState::default(), t0, &p, |_| true).unwrap();
        // Only ca-cert.pem, server-cert.pem and server-key.pem.
        let old = CertState {
            bundle: s.bundle.clone(),
            cert_pem: s.cert_pem.clone(),
            key_pem: s.key_pem.clone(),
            ..CertState::default()
        };
        let s1 = plan(&old, at(t0, 1), &p, |_| false).unwrap();
        assert_eq!(s1.cert_pem, old.cert_pem, "still served");
        assert!(s1.signing.is_none() && s1.next.is_some());
        assert_eq!(split_bundle(&s1.bundle).len(), 2);
        // A broken Secret starts over.
        let broken = CertState {
            bundle: "garbage".into(),
            cert_pem: "garbage".into(),
            ..CertState::default()
        };
        let s2 = plan(&broken, t0, &p, |_| true).unwrap();
        assert!(s2.serving_usable(t0, &p));
    }
}
