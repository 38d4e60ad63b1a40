//! Self-managed webhook certificates: a CA and a serving certificate made
//! with rcgen, kept in a Secret (`ca-cert.pem`, `server-cert.pem`,
//! `server-key.pem`, as Knative's certificates controller), and served
//! through a [`CertResolver`] that swaps certificates without a restart.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Secret key of the CA certificate.
pub const CA_KEY: &str = "ca-cert.pem";
/// Secret key of the serving certificate.
pub const CERT_KEY: &str = "server-cert.pem";
/// Secret key of the serving key.
pub const KEY_KEY: &str = "server-key.pem";

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

/// PEM CA, certificate and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertBundle {
    /// The CA certificate (the webhook configurations' `caBundle`).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving key.
    pub key_pem: String,
}

/// Makes a fresh CA and a serving certificate for `names` (DNS names or IP
/// addresses; the first is the common name), valid for `validity`.
pub fn generate(names: &[String], validity: Duration) -> Result<CertBundle, CertError> {
    let now = jiff::Timestamp::now();
    let not_before = now - jiff::SignedDuration::from_secs(3600);
    let not_after = now
        + jiff::SignedDuration::try_from(validity)
            .map_err(|e| CertError::Bad(format!("validity: {e}")))?;
    let to_odt = |t: jiff::Timestamp| {
        time::OffsetDateTime::from_unix_timestamp(t.as_second())
            .map_err(|e| CertError::Bad(format!("validity: {e}")))
    };
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sources-controller webhook CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = to_odt(not_before)?;
    ca_params.not_after = to_odt(not_after)?;
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut params = CertificateParams::new(names.to_vec())?;
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = to_odt(not_before)?;
    params.not_after = to_odt(not_after)?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    Ok(CertBundle {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The serving certificate's expiry (seconds since the epoch) and its
/// subject alternative names.
pub fn inspect(cert_pem: &str) -> Result<(i64, Vec<String>), CertError> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| CertError::Bad(e.to_string()))?;
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

    #[test]
    fn generate_inspect_and_load() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let names = vec!["svc.ns.svc".to_owned(), "127.0.0.1".to_owned()];
        let b = generate(&names, Duration::from_secs(7 * 86400)).unwrap();
        let (not_after, sans) = inspect(&b.cert_pem).unwrap();
        let now = jiff::Timestamp::now().as_second();
        assert!(
            (not_after - (now + 7 * 86400)).abs() <= 5,
            "{not_after} {now}"
        );
        assert_eq!(sans, names);
        certified_key(&b.cert_pem, &b.key_pem).unwrap();
        let other = generate(&names, Duration::from_secs(86400)).unwrap();
        assert!(certified_key(&b.cert_pem, &other.key_pem).is_err());
        assert!(inspect("garbage").is_err());
    }
}
