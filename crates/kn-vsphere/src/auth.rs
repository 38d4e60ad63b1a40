//! `auth create|delete` (vCenter credentials, a `kubernetes.io/basic-auth` Secret) and
//! `horizon auth create|delete` (a Secret with `domain`, `username` and `password`).

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DeleteParams, ObjectMeta};

use crate::cli::{self, AuthCreate, HorizonAuthCreate};
use crate::error::Error;
use crate::flags::{self, is_set, nonempty};
use crate::kinds;
use crate::kube_ctx::Cluster;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn secret_resource() -> ApiResource {
    ApiResource::erase::<Secret>(&())
}

fn secret(namespace: Option<&str>, name: &str, type_: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: namespace.map(str::to_owned),
            ..ObjectMeta::default()
        },
        type_: Some(type_.to_owned()),
        string_data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// The Secret `auth create` makes (`newSecret`).
pub fn vsphere_secret(
    namespace: Option<&str>,
    name: &str,
    username: &str,
    password: &str,
) -> Secret {
    secret(
        namespace,
        name,
        "kubernetes.io/basic-auth",
        &[("username", username), ("password", password)],
    )
}

/// `auth create`.
pub async fn create(namespace: Option<&str>, args: &AuthCreate) -> Result<String, Error> {
    cli::required(&[
        ("username", is_set(&args.username)),
        ("name", is_set(&args.name)),
    ])
    .map_err(Error::Usage)?;
    let username = nonempty(
        &args.username,
        "'username' requires a nonempty username provided with the --username option",
    )?;
    let explicit = flags::check_password(&args.password, args.password_stdin, "--password-std-in")?;
    let name = nonempty(
        &args.name,
        "'name' requires a nonempty secret name provided with the --name option",
    )?;
    let ca_bundle = match &args.verify_ca_bundle {
        Some(path) => Some(flags::ca_certs("verify-ca-bundle", path)?),
        None => None,
    };
    let password = flags::read_password(explicit, args.password_stdin)?;
    if let Some(url) = args.verify_url.as_deref().filter(|u| !u.is_empty()) {
        verify_vcenter(url, username, &password, args.verify_insecure, ca_bundle).await?;
    }
    kinds::create(
        namespace,
        args.dry_run,
        "failed to create Secret",
        "Created vSphere credentials\n",
        |ns| Ok(vsphere_secret(ns, name, username, &password)),
    )
    .await
}

/// Logs in to vCenter with this project's client (as the Go plugin does with govmomi), and logs
/// out again. The error names vCenter's reason, never the password.
pub async fn verify_vcenter(
    url: &str,
    username: &str,
    password: &str,
    insecure: bool,
    ca_bundle: Option<String>,
) -> Result<(), Error> {
    if let Err(e) = vsphere_client::Endpoint::parse(url) {
        return Err(Error::Verify(format!("failed to parse vCenter URL: {e}")));
    }
    let mut builder = vsphere_client::Client::builder(url)
        .credentials(vsphere_client::Credentials::new(username, password))
        .insecure(insecure)
        .connect_timeout(CONNECT_TIMEOUT)
        .request_timeout(REQUEST_TIMEOUT);
    if let Some(pem) = ca_bundle {
        builder = builder.ca_bundle_pem(pem);
    }
    match builder.connect().await {
        Ok(client) => {
            tracing::debug!(url, "credentials verified with vCenter");
            // The session is not needed any more; a failed logout changes nothing.
            let _ = client.logout().await;
            Ok(())
        }
        Err(e) => Err(Error::Verify(format!(
            "failed to authenticate with vCenter: {}",
            crate::error::one_line(&e.to_string())
        ))),
    }
}

async fn delete_secret(cluster: &Cluster, namespace: &str, name: &str) -> Result<(), Error> {
    let api: Api<Secret> = Api::namespaced(cluster.client().clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(cluster
            .api_error(&secret_resource(), "failed to delete Secret", e)
            .await),
    }
}

/// `auth delete --name NAME`: prints `Deleted vSphere credentials "NAME"` (without a newline,
/// as the Go plugin).
pub async fn delete(namespace: Option<&str>, name: &Option<String>) -> Result<String, Error> {
    cli::required(&[("name", is_set(name))]).map_err(Error::Usage)?;
    let name = nonempty(
        name,
        "'name' requires a nonempty secret name provided with the --name option",
    )?;
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace(namespace);
    delete_secret(&cluster, &ns, name).await?;
    Ok(format!("Deleted vSphere credentials {name:?}"))
}

/// The Secret `horizon auth create` makes: what the Horizon adapter reads from its mount.
pub fn horizon_secret(
    namespace: Option<&str>,
    name: &str,
    domain: &str,
    username: &str,
    password: &str,
) -> Secret {
    secret(
        namespace,
        name,
        "Opaque",
        &[
            ("domain", domain),
            ("username", username),
            ("password", password),
        ],
    )
}

/// `horizon auth create`.
pub async fn horizon_create(
    namespace: Option<&str>,
    args: &HorizonAuthCreate,
) -> Result<String, Error> {
    cli::required(&[
        ("domain", is_set(&args.domain)),
        ("username", is_set(&args.username)),
        ("name", is_set(&args.name)),
    ])
    .map_err(Error::Usage)?;
    let domain = nonempty(
        &args.domain,
        "'domain' requires a nonempty domain provided with the --domain option",
    )?;
    let username = nonempty(
        &args.username,
        "'username' requires a nonempty username provided with the --username option",
    )?;
    let explicit = flags::check_password(&args.password, args.password_stdin, "--password-stdin")?;
    let name = nonempty(
        &args.name,
        "'name' requires a nonempty secret name provided with the --name option",
    )?;
    let password = flags::read_password(explicit, args.password_stdin)?;
    if let Some(url) = args.verify_url.as_deref().filter(|u| !u.is_empty()) {
        verify_horizon(url, domain, username, &password, args.verify_insecure).await?;
    }
    kinds::create(
        namespace,
        args.dry_run,
        "failed to create Secret",
        "Created Horizon credentials\n",
        |ns| Ok(horizon_secret(ns, name, domain, username, &password)),
    )
    .await
}

/// Logs in to Horizon (`POST /rest/login`) and out again.
pub async fn verify_horizon(
    url: &str,
    domain: &str,
    username: &str,
    password: &str,
    insecure: bool,
) -> Result<(), Error> {
    let fail = |e: &dyn std::fmt::Display| {
        Error::Verify(format!(
            "failed to authenticate with Horizon: {}",
            crate::error::one_line(&e.to_string())
        ))
    };
    let credentials =
        horizon_client::Credentials::new(domain, username, password).map_err(|e| fail(&e))?;
    let client = horizon_client::Client::builder(url)
        .map_err(|e| Error::Verify(format!("failed to parse Horizon URL: {e}")))?
        .credentials(credentials)
        .insecure(insecure)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| fail(&e))?;
    client.login().await.map_err(|e| fail(&e))?;
    let _ = client.logout().await;
    Ok(())
}

/// `horizon auth delete --name NAME`.
pub async fn horizon_delete(
    namespace: Option<&str>,
    name: &Option<String>,
) -> Result<String, Error> {
    cli::required(&[("name", is_set(name))]).map_err(Error::Usage)?;
    let name = nonempty(
        name,
        "'name' requires a nonempty secret name provided with the --name option",
    )?;
    let cluster = Cluster::connect().await?;
    let ns = cluster.namespace(namespace);
    delete_secret(&cluster, &ns, name).await?;
    Ok(format!("Deleted Horizon credentials {name:?}\n"))
}
