//! Errors: each names the variable or file at fault and how to fix it. None contains a
//! password, a session id or a cookie.

use std::path::PathBuf;

use crate::rest::RestError;

/// Why a client could not be made from the binding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `VC_URL` is not set.
    #[error(
        "VC_URL is not set: bind this workload with a VSphereBinding (it injects VC_URL), \
         or set VC_URL to the vCenter URL, e.g. https://vcenter.example.com"
    )]
    MissingUrl,
    /// `VC_URL` cannot be parsed.
    #[error("VC_URL is invalid: {source}; fix spec.address of the VSphereBinding or VC_URL")]
    InvalidUrl {
        /// Why.
        #[source]
        source: vsphere_client::UrlError,
    },
    /// `VC_INSECURE` is not a Go boolean.
    #[error(
        "VC_INSECURE={value:?} is not a boolean: use true or false (also 1, t, T, TRUE, True, \
         0, f, F, FALSE, False)"
    )]
    InvalidInsecure {
        /// The value given (not a secret).
        value: String,
    },
    /// A secret file is missing and its environment fallback is not set.
    #[error(
        "no vCenter credentials: {path} does not exist and {env} is not set; bind this workload \
         with a VSphereBinding whose secretRef names a Secret with the keys username and \
         password (mounted at VC_SECRET_PATH, default /var/bindings/vsphere), or set \
         VC_SECRET_PATH to the directory holding those files, or set VC_USERNAME and VC_PASSWORD"
    )]
    MissingCredential {
        /// The file looked for.
        path: PathBuf,
        /// The variable looked for.
        env: &'static str,
    },
    /// A secret file exists but cannot be read.
    #[error(
        "cannot read the secret file {path}: {reason}; check the mounted Secret and VC_SECRET_PATH"
    )]
    ReadSecret {
        /// The file.
        path: PathBuf,
        /// Why (never the content).
        reason: String,
    },
    /// `VC_CA_BUNDLE` names a file that cannot be read or is not PEM.
    #[error(
        "VC_CA_BUNDLE={path}: {reason}; set VC_CA_BUNDLE to a readable PEM file with the CA \
         certificates that signed vCenter's certificate"
    )]
    CaBundle {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `VC_CA_CERTS` is not PEM CA certificates.
    #[error(
        "VC_CA_CERTS: {reason}; set spec.caCerts of the VSphereBinding (or VC_CA_CERTS) to the \
         PEM text of the CA certificates that signed vCenter's certificate"
    )]
    CaCerts {
        /// Why.
        reason: String,
    },
    /// vCenter cannot be reached (DNS, TCP, TLS, timeout).
    #[error(
        "{detail}; check VC_URL ({url}) and that vCenter is reachable from this workload{tls_hint}"
    )]
    Unreachable {
        /// `VC_URL` as given.
        url: String,
        /// The client's message.
        detail: String,
        /// A hint for certificate problems.
        tls_hint: &'static str,
    },
    /// vCenter refused the credentials.
    #[error(
        "{detail}; the credentials came from {username_source} and {password_source}: fix the \
         Secret the VSphereBinding's secretRef names"
    )]
    LoginRefused {
        /// The client's message (names the user, adds the trailing-newline hint).
        detail: String,
        /// Where the user name came from.
        username_source: String,
        /// Where the password came from.
        password_source: String,
    },
    /// Another SOAP client error (also any error of a call on the connected client, via `?`).
    #[error(transparent)]
    Soap(#[from] vsphere_client::Error),
    /// Another REST client error (also any error of a call on the connected client, via `?`).
    #[error(transparent)]
    Rest(#[from] RestError),
}

pub(crate) const TLS_HINT: &str = "; if vCenter's certificate is signed by a private CA, set \
    spec.caCerts of the VSphereBinding (VC_CA_CERTS) to that CA's PEM, or VC_CA_BUNDLE to a PEM \
    file with it (or, for tests only, VC_INSECURE=true)";

pub(crate) fn tls_hint(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    if d.contains("certificate") || d.contains("unknownissuer") || d.contains("tls") {
        TLS_HINT
    } else {
        ""
    }
}
