//! A throw-away CA and server certificate, as PEM files.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

/// `<pid>-<counter>-<nanoseconds>`: unique within and across test processes.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A throw-away certificate authority and one server certificate it signed,
/// written as PEM files into a temporary directory that lives as long as this
/// value.
///
/// The CA's common name is `vmware-sources test CA <unique suffix>` (unique, so
/// that a client trusting one `TestPki`'s CA reports another's certificate as
/// `UnknownIssuer` rather than `BadSignature`); the server certificate has the
/// given names as subject alternative names (DNS names, or IP addresses when
/// they parse as one) and the first as common name. Keys are ECDSA P-256.
pub struct TestPki {
    dir: TempDir,
    names: Vec<String>,
    ca_pem: String,
    ca_der: Vec<u8>,
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pem: String,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki")
            .field("dir", &self.dir.path())
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl TestPki {
    const CA_FILE: &str = "ca.pem";
    const CERT_FILE: &str = "server.pem";
    const KEY_FILE: &str = "server-key.pem";

    /// Makes a CA and a server certificate for `names`, e.g.
    /// `&["localhost", "127.0.0.1"]`; use a name that the client will not
    /// connect to (`&["vcenter.invalid"]`) to test a name mismatch.
    ///
    /// # Panics
    ///
    /// When `names` is empty or holds a name that is not a valid DNS name or
    /// IP address, or when the files cannot be written.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_owned()).collect();
        assert!(!names.is_empty(), "TestPki needs at least one name");

        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("vmware-sources test CA {}", unique_suffix()),
        );
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");

        let mut params = CertificateParams::new(names.clone())
            .unwrap_or_else(|e| panic!("TestPki: invalid names {names:?}: {e}"));
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("generate the server key");
        let cert = params.signed_by(&key, &ca).expect("sign the server cert");

        let pki = Self {
            dir: tempfile::Builder::new()
                .prefix("vmware-sources-pki-")
                .tempdir()
                .expect("create a temporary directory"),
            names,
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
        };
        for (file, pem) in [
            (Self::CA_FILE, &pki.ca_pem),
            (Self::CERT_FILE, &pki.cert_pem),
            (Self::KEY_FILE, &pki.key_pem),
        ] {
            let path = pki.dir.path().join(file);
            fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        pki
    }

    /// A CA and a certificate for `localhost` and `127.0.0.1`.
    pub fn localhost() -> Self {
        Self::new(&["localhost", "127.0.0.1"])
    }

    /// The names the server certificate is valid for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the CA certificate (PEM), for a CA bundle setting.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join(Self::CA_FILE)
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate (DER).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Path of the server certificate (PEM, the leaf only).
    pub fn cert_pem_path(&self) -> PathBuf {
        self.dir.path().join(Self::CERT_FILE)
    }

    /// The server certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The server certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Path of the server's private key (PKCS#8 PEM).
    pub fn key_pem_path(&self) -> PathBuf {
        self.dir.path().join(Self::KEY_FILE)
    }

    /// The server's private key (PKCS#8 PEM).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_writes_pem_files() {
        let pki = TestPki::localhost();
        assert!(
            fs::read_to_string(pki.ca_pem_path())
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        assert!(
            fs::read_to_string(pki.cert_pem_path())
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        assert!(
            fs::read_to_string(pki.key_pem_path())
                .unwrap()
                .contains("PRIVATE KEY")
        );
        assert_eq!(pki.ca_pem(), fs::read_to_string(pki.ca_pem_path()).unwrap());
        let dir = pki.dir().to_path_buf();
        drop(pki);
        assert!(!dir.exists(), "the directory goes away with the TestPki");
    }
}
