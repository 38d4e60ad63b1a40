#![doc = include_str!("../README.md")]
//!
//! ## The environment
//!
//! The same code runs against any vCenter without a rebuild: everything comes from the
//! environment the VSphereBinding gives the workload (the Go `pkg/vsphere` contract):
//!
//! | variable | meaning |
//! |---|---|
//! | `VC_URL` | vCenter URL, **required** (`https://` and `/sdk` added when missing) |
//! | `VC_INSECURE` | skip TLS verification; Go `strconv.ParseBool`, default `false` |
//! | `VC_SECRET_PATH` | directory with the files `username` and `password`, default `/var/bindings/vsphere` |
//! | `VC_USERNAME`, `VC_PASSWORD` | used when the secret files are missing (the binding injects both) |
//! | `VC_CA_CERTS` | optional, set by the binding from its `spec.caCerts`: the PEM text of CA certificates to trust (private CAs) |
//! | `VC_CA_BUNDLE` | optional, not set by the binding: a PEM file of CA certificates to trust (both are trusted when both are set) |
//!
//! Secret values are used as given, not trimmed (as upstream); when vCenter refuses a login and a
//! value ends in a newline, the error says so. Errors name the missing or invalid variable or file
//! and the fix; passwords and session ids never appear in errors, logs or `Debug` output.
//!
//! Both clients keep their session alive (every 5 minutes) and log in again once when a call
//! finds the session gone. For tests and embedders, [`BindingConfig::from_lookup`] reads the
//! contract through a closure instead of the process environment; [`connect_soap`] and
//! [`connect_rest`] take the result.

#![forbid(unsafe_code)]

mod config;
mod error;
mod rest;
mod tagging;

pub use config::{
    BindingConfig, CredentialSource, DEFAULT_SECRET_PATH, ENV_CA_BUNDLE, ENV_CA_CERTS,
    ENV_INSECURE, ENV_PASSWORD, ENV_SECRET_PATH, ENV_URL, ENV_USERNAME,
};
pub use error::Error;
pub use rest::{Flavor, RestClient, RestClientBuilder, RestError, SESSION_HEADER};
pub use tagging::{Category, CategorySpec, ObjectId, Tag, TagSpec};
/// The `vsphere-client` crate, whose [`vsphere_client::Client`] [`new_soap_client`] returns.
pub use vsphere_client;

use error::tls_hint;
use tracing::info;

/// A logged-in SOAP client from the process environment (Go's `NewSOAPClient`).
pub async fn new_soap_client() -> Result<vsphere_client::Client, Error> {
    connect_soap(&BindingConfig::from_env()?).await
}

/// A logged-in REST client from the process environment (Go's `NewRESTClient`).
pub async fn new_rest_client() -> Result<RestClient, Error> {
    connect_rest(&BindingConfig::from_env()?).await
}

/// A SOAP client builder from a config (add settings before `connect`).
pub fn soap_builder(config: &BindingConfig) -> Result<vsphere_client::ClientBuilder, Error> {
    let mut builder = vsphere_client::Client::builder(&config.url)
        .insecure(config.insecure)
        .credentials(config.credentials.clone());
    if let Some(pem) = config.ca_bundle_pem()? {
        builder = builder.ca_bundle_pem(pem);
    }
    Ok(builder)
}

/// A REST client builder from a config (add settings before `connect`).
pub fn rest_builder(config: &BindingConfig) -> Result<RestClientBuilder, Error> {
    let mut builder = RestClient::builder(&config.url)
        .insecure(config.insecure)
        .credentials(config.credentials.clone());
    if let Some(pem) = config.ca_bundle_pem()? {
        builder = builder.ca_bundle_pem(pem);
    }
    Ok(builder)
}

/// Connect and log in with SOAP.
pub async fn connect_soap(config: &BindingConfig) -> Result<vsphere_client::Client, Error> {
    let client = soap_builder(config)?
        .connect()
        .await
        .map_err(|e| soap_error(config, e))?;
    info!(endpoint = %client.endpoint(), user = %config.credentials.username, "connected to vCenter (SOAP)");
    Ok(client)
}

/// Connect and log in with REST.
pub async fn connect_rest(config: &BindingConfig) -> Result<RestClient, Error> {
    let client = rest_builder(config)?
        .connect()
        .await
        .map_err(|e| rest_error(config, e))?;
    info!(base = %client.base_url(), flavor = ?client.flavor(), "connected to vCenter (REST)");
    Ok(client)
}

fn soap_error(config: &BindingConfig, e: vsphere_client::Error) -> Error {
    use vsphere_client::Error as E;
    match e {
        E::Connect { .. } | E::Timeout { .. } => {
            let detail = e.to_string();
            Error::Unreachable {
                url: config.url.clone(),
                tls_hint: tls_hint(&detail),
                detail,
            }
        }
        E::BadCredentials { .. } => Error::LoginRefused {
            detail: e.to_string(),
            username_source: config.username_source.to_string(),
            password_source: config.password_source.to_string(),
        },
        E::Url(source) => Error::InvalidUrl { source },
        E::Config { ref reason } if reason.contains("CA bundle") => ca_error(config, reason),
        other => Error::Soap(other),
    }
}

/// A CA bundle the client refused: the file's fault when `VC_CA_BUNDLE` is set (the text of
/// `VC_CA_CERTS` was checked when the configuration was read).
fn ca_error(config: &BindingConfig, reason: &str) -> Error {
    match &config.ca_bundle {
        Some(path) => Error::CaBundle {
            path: path.clone(),
            reason: reason.to_owned(),
        },
        None => Error::CaCerts {
            reason: reason.to_owned(),
        },
    }
}

fn rest_error(config: &BindingConfig, e: RestError) -> Error {
    match e {
        RestError::Connect { .. } | RestError::Timeout { .. } => {
            let detail = e.to_string();
            Error::Unreachable {
                url: config.url.clone(),
                tls_hint: tls_hint(&detail),
                detail,
            }
        }
        RestError::BadCredentials { .. } => Error::LoginRefused {
            detail: e.to_string(),
            username_source: config.username_source.to_string(),
            password_source: config.password_source.to_string(),
        },
        RestError::Url(source) => Error::InvalidUrl { source },
        RestError::Config { ref reason } if reason.contains("CA bundle") => {
            ca_error(config, reason)
        }
        other => Error::Rest(other),
    }
}
