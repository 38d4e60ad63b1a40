//! The binding's environment contract, read into a [`BindingConfig`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use vsphere_client::{Credentials, Endpoint};

use crate::error::Error;

/// `VC_URL`: the vCenter URL (required).
pub const ENV_URL: &str = "VC_URL";
/// `VC_INSECURE`: skip TLS verification (Go `strconv.ParseBool`, default false).
pub const ENV_INSECURE: &str = "VC_INSECURE";
/// `VC_SECRET_PATH`: the directory holding the files `username` and `password`.
pub const ENV_SECRET_PATH: &str = "VC_SECRET_PATH";
/// `VC_USERNAME`: the user name when the secret files are missing (the binding injects it).
pub const ENV_USERNAME: &str = "VC_USERNAME";
/// `VC_PASSWORD`: the password when the secret files are missing (the binding injects it).
pub const ENV_PASSWORD: &str = "VC_PASSWORD";
/// `VC_CA_BUNDLE`: a PEM file of CA certificates to trust for vCenter (optional; not set by
/// the binding: add it yourself, e.g. from a mounted ConfigMap).
pub const ENV_CA_BUNDLE: &str = "VC_CA_BUNDLE";
/// `VC_CA_CERTS`: the PEM text of CA certificates to trust for vCenter (optional; the binding
/// injects it from its `spec.caCerts`). Trusted together with `VC_CA_BUNDLE` when both are set.
pub const ENV_CA_CERTS: &str = "VC_CA_CERTS";
/// Where the VSphereBinding mounts its secret.
pub const DEFAULT_SECRET_PATH: &str = "/var/bindings/vsphere";

/// Where the credentials came from (for error messages; never the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A secret file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::File(p) => write!(f, "file {}", p.display()),
            CredentialSource::Env(v) => write!(f, "${v}"),
        }
    }
}

/// Everything a bound workload needs to connect, read from the binding's contract.
///
/// `Debug` shows the user name and where the credentials came from, never the password.
#[derive(Clone)]
pub struct BindingConfig {
    /// `VC_URL` as given.
    pub url: String,
    /// `VC_INSECURE`.
    pub insecure: bool,
    /// `VC_SECRET_PATH` (or the default).
    pub secret_path: PathBuf,
    /// `VC_CA_BUNDLE`, if set.
    pub ca_bundle: Option<PathBuf>,
    /// `VC_CA_CERTS`, if set (checked to hold at least one PEM certificate).
    pub ca_certs: Option<String>,
    /// The credentials, used as given (not trimmed, as upstream).
    pub credentials: Credentials,
    /// Where the user name came from.
    pub username_source: CredentialSource,
    /// Where the password came from.
    pub password_source: CredentialSource,
}

impl fmt::Debug for BindingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindingConfig")
            .field("url", &self.url)
            .field("insecure", &self.insecure)
            .field("secret_path", &self.secret_path)
            .field("ca_bundle", &self.ca_bundle)
            .field("ca_certs", &self.ca_certs.as_ref().map(|_| "<PEM>"))
            .field("credentials", &self.credentials)
            .field("username_source", &self.username_source)
            .field("password_source", &self.password_source)
            .finish()
    }
}

impl BindingConfig {
    /// Read the contract from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the contract through `lookup` (an environment variable name to its value), so
    /// tests and embedders need not touch the process environment. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let url = get(ENV_URL).ok_or(Error::MissingUrl)?;
        Endpoint::parse(&url).map_err(|source| Error::InvalidUrl { source })?;
        let insecure = match get(ENV_INSECURE) {
            None => false,
            Some(v) => parse_go_bool(&v).ok_or(Error::InvalidInsecure { value: v })?,
        };
        let secret_path = get(ENV_SECRET_PATH)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SECRET_PATH));
        let ca_bundle = get(ENV_CA_BUNDLE).map(PathBuf::from);
        if let Some(path) = &ca_bundle
            && !path.is_file()
        {
            return Err(Error::CaBundle {
                path: path.clone(),
                reason: "no such file".into(),
            });
        }
        let ca_certs = get(ENV_CA_CERTS).filter(|v| !v.trim().is_empty());
        if let Some(pem) = &ca_certs {
            check_pem_certificates(pem)?;
        }
        let (username, username_source) =
            read_credential(&secret_path, "username", ENV_USERNAME, &get)?;
        let (password, password_source) =
            read_credential(&secret_path, "password", ENV_PASSWORD, &get)?;
        Ok(Self {
            url,
            insecure,
            secret_path,
            ca_bundle,
            ca_certs,
            credentials: Credentials::new(username, password),
            username_source,
            password_source,
        })
    }

    /// The PEM bytes of the CA certificates to trust for vCenter, if any are configured: the
    /// file `VC_CA_BUNDLE`, then the text `VC_CA_CERTS`.
    pub fn ca_bundle_pem(&self) -> Result<Option<Vec<u8>>, Error> {
        let mut pem = match &self.ca_bundle {
            None => Vec::new(),
            Some(path) => std::fs::read(path).map_err(|e| Error::CaBundle {
                path: path.clone(),
                reason: e.to_string(),
            })?,
        };
        if let Some(text) = &self.ca_certs {
            vsphere_client::transport::append_pem(&mut pem, text.as_bytes());
        }
        Ok((self.ca_bundle.is_some() || self.ca_certs.is_some()).then_some(pem))
    }

    /// Whether the user name or password ends in a newline (sent as part of it).
    pub fn has_trailing_newline(&self) -> bool {
        self.credentials.username.ends_with(['\n', '\r'])
            || self.credentials.password.expose().ends_with(['\n', '\r'])
    }
}

/// `VC_CA_CERTS` must hold at least one PEM certificate.
fn check_pem_certificates(pem: &str) -> Result<(), Error> {
    match vsphere_client::transport::ca_certificates(pem.as_bytes()) {
        Ok(_) => Ok(()),
        Err(vsphere_client::Error::Config { reason }) => Err(Error::CaCerts { reason }),
        Err(e) => Err(Error::CaCerts {
            reason: e.to_string(),
        }),
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn read_credential(
    dir: &Path,
    file: &'static str,
    env: &'static str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, CredentialSource), Error> {
    let path = dir.join(file);
    match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            // Used as given: a trailing newline stays (the login error points it out).
            Ok(s) => Ok((s, CredentialSource::File(path))),
            Err(_) => Err(Error::ReadSecret {
                path,
                reason: "not valid UTF-8".into(),
            }),
        },
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory =>
        {
            match get(env) {
                Some(v) => Ok((v, CredentialSource::Env(env))),
                None => Err(Error::MissingCredential { path, env }),
            }
        }
        Err(e) => Err(Error::ReadSecret {
            path,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn secret_dir(user: &str, pass: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("username"), user).unwrap();
        std::fs::write(dir.path().join("password"), pass).unwrap();
        dir
    }

    #[test]
    fn go_parse_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false));
        }
        for bad in ["yes", "on", "tRUE", " true", ""] {
            assert_eq!(parse_go_bool(bad), None);
        }
    }

    #[test]
    fn reads_files_untrimmed() {
        let dir = secret_dir("admin\n", "p@ss\n");
        let path = dir.path().to_str().unwrap();
        let c = BindingConfig::from_lookup(lookup(&[
            ("VC_URL", "vc.example"),
            ("VC_INSECURE", "True"),
            ("VC_SECRET_PATH", path),
            ("VC_USERNAME", "ignored"),
        ]))
        .unwrap();
        assert!(c.insecure);
        assert_eq!(c.credentials.username, "admin\n");
        assert_eq!(c.credentials.password.expose(), "p@ss\n");
        assert!(c.has_trailing_newline());
        assert_eq!(
            c.username_source,
            CredentialSource::File(dir.path().join("username"))
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("p@ss"), "{dbg}");
    }

    #[test]
    fn defaults_and_env_fallback() {
        let c = BindingConfig::from_lookup(lookup(&[
            ("VC_URL", "https://vc.example"),
            ("VC_SECRET_PATH", "/nonexistent/bindings"),
            ("VC_USERNAME", "u"),
            ("VC_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        assert!(!c.insecure);
        assert_eq!(c.password_source, CredentialSource::Env("VC_PASSWORD"));
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = BindingConfig::from_lookup(lookup(&[
            ("VC_URL", "https://vc.example"),
            ("VC_USERNAME", "u"),
            ("VC_PASSWORD", "p"),
        ]));
        // /var/bindings/vsphere does not exist on a build machine.
        if !Path::new(DEFAULT_SECRET_PATH).exists() {
            assert_eq!(c.unwrap().secret_path, Path::new(DEFAULT_SECRET_PATH));
        }
    }

    #[test]
    fn errors_name_the_variable_and_the_fix() {
        let e = BindingConfig::from_lookup(lookup(&[])).unwrap_err();
        assert!(matches!(e, Error::MissingUrl));
        assert!(e.to_string().contains("VC_URL is not set"), "{e}");

        let e = BindingConfig::from_lookup(lookup(&[("VC_URL", "ftp://x")])).unwrap_err();
        assert!(e.to_string().contains("VC_URL"), "{e}");

        let e = BindingConfig::from_lookup(lookup(&[("VC_URL", "vc"), ("VC_INSECURE", "yes")]))
            .unwrap_err();
        assert!(e.to_string().contains("VC_INSECURE=\"yes\""), "{e}");

        let e = BindingConfig::from_lookup(lookup(&[
            ("VC_URL", "vc"),
            ("VC_SECRET_PATH", "/nonexistent/x"),
            ("VC_USERNAME", "u"),
        ]))
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/x/password"), "{msg}");
        assert!(msg.contains("VC_PASSWORD"), "{msg}");

        let e = BindingConfig::from_lookup(lookup(&[
            ("VC_URL", "vc"),
            ("VC_CA_BUNDLE", "/nonexistent/ca.pem"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("VC_CA_BUNDLE"), "{e}");
    }

    #[test]
    fn vc_ca_certs_must_be_pem_and_joins_the_bundle() {
        let dir = secret_dir("u", "p");
        let secret = dir.path().to_string_lossy().into_owned();
        for (bad, why) in [("not pem", "holds no certificate"), ("   ", "")] {
            let r = BindingConfig::from_lookup(lookup(&[
                ("VC_URL", "vc"),
                ("VC_SECRET_PATH", &secret),
                ("VC_CA_CERTS", bad),
            ]));
            if why.is_empty() {
                // Blank counts as unset.
                assert_eq!(r.unwrap().ca_bundle_pem().unwrap(), None);
            } else {
                let e = r.unwrap_err().to_string();
                assert!(e.contains("VC_CA_CERTS") && e.contains(why), "{e}");
            }
        }
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let file = dir.path().join("bundle.pem");
        std::fs::write(&file, "FILE").unwrap();
        let config = BindingConfig::from_lookup(lookup(&[
            ("VC_URL", "vc"),
            ("VC_SECRET_PATH", &secret),
            ("VC_CA_CERTS", pem),
            ("VC_CA_BUNDLE", &file.to_string_lossy()),
        ]))
        .unwrap();
        let joined = String::from_utf8(config.ca_bundle_pem().unwrap().unwrap()).unwrap();
        assert_eq!(joined, format!("FILE\n{pem}"));
        assert!(!format!("{config:?}").contains("AAAA"));
    }
}
