//! The cluster: the kubeconfig (`KUBECONFIG`, as the Go plugin reads it), the namespace, a
//! client, and the API errors it turns into [`Error`]s.

use std::path::{Path, PathBuf};

use kube::api::{Api, ApiResource, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, api_message, is_not_found};

/// The kubeconfig files to read: `$KUBECONFIG` (one path or a list), else `~/.kube/config`
/// when it exists; `None` means "try the in-cluster service account".
fn kubeconfig() -> Result<Option<Kubeconfig>, Error> {
    let env = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty());
    if let Some(value) = env {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if let [one] = paths.as_slice()
            && !one.exists()
        {
            // The Go plugin's texts (pkg/clients.go).
            return Err(Error::Config(format!(
                "config file '{}' can not be found",
                one.display()
            )));
        }
        let mut merged: Option<Kubeconfig> = None;
        for path in paths.iter().filter(|p| p.exists()) {
            let kc = read(path)?;
            merged = Some(match merged {
                None => kc,
                Some(m) => m
                    .merge(kc)
                    .map_err(|e| Error::Config(format!("KUBECONFIG: {e}")))?,
            });
        }
        return match merged {
            Some(kc) => Ok(Some(kc)),
            None => Err(Error::Config(format!(
                "can not find config file. '{}' looks like a path. Please use the env var KUBECONFIG if you want to check for multiple configuration files",
                value.to_string_lossy()
            ))),
        };
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match home.map(|h| h.join(".kube").join("config")) {
        Some(p) if p.exists() => read(&p).map(Some),
        _ => Ok(None),
    }
}

fn read(path: &Path) -> Result<Kubeconfig, Error> {
    Kubeconfig::read_from(path)
        .map_err(|e| Error::Config(format!("cannot read kubeconfig {}: {e}", path.display())))
}

/// A connection to the cluster and the namespace commands act in.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    default_namespace: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("default_namespace", &self.default_namespace)
            .finish_non_exhaustive()
    }
}

/// The Kubernetes client configuration (no request is made).
pub async fn load_config() -> Result<Config, Error> {
    match kubeconfig()? {
        Some(kc) => Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::Config(format!("invalid kubeconfig: {e}"))),
        None => Config::incluster().map_err(|e| {
            Error::Config(format!(
                "no Kubernetes configuration: set KUBECONFIG or create ~/.kube/config ({e})"
            ))
        }),
    }
}

impl Cluster {
    /// Connects with the kubeconfig (no request is made yet).
    pub async fn connect() -> Result<Self, Error> {
        let config = load_config().await?;
        let default_namespace = config.default_namespace.clone();
        let client = Client::try_from(config)
            .map_err(|e| Error::Config(format!("cannot build a Kubernetes client: {e}")))?;
        Ok(Self {
            client,
            default_namespace,
        })
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `explicit` when given and not empty, else the context's namespace (`GetExplicitOrDefaultNamespace`).
    pub fn namespace(&self, explicit: Option<&str>) -> String {
        match explicit {
            Some(ns) if !ns.is_empty() => ns.to_owned(),
            _ => self.default_namespace.clone(),
        }
    }

    /// Objects of `resource` in `namespace` (all namespaces when `None`).
    pub fn dynamic(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Turns an API error about `resource` into an [`Error`]: a 404 from a server that does not
    /// serve the resource at all becomes [`Error::NotInstalled`]; anything else keeps the API
    /// server's message after `context`.
    pub async fn api_error(
        &self,
        resource: &ApiResource,
        context: impl Into<String>,
        e: kube::Error,
    ) -> Error {
        if is_not_found(&e) && !self.serves(resource).await {
            return Error::NotInstalled {
                resource: format!("{}.{}", resource.plural, resource.group),
            };
        }
        Error::Api {
            context: context.into(),
            message: api_message(&e),
        }
    }

    /// Whether the API server serves `resource` (its group version lists it).
    async fn serves(&self, resource: &ApiResource) -> bool {
        if resource.group.is_empty() {
            return true;
        }
        match self
            .client
            .list_api_group_resources(&resource.api_version)
            .await
        {
            Ok(list) => list.resources.iter().any(|r| r.name == resource.plural),
            // Anything but a 404 is no proof that it is missing.
            Err(e) => !is_not_found(&e),
        }
    }
}

/// The namespace for an object printed by `--dry-run`: the explicit one, else the kubeconfig
/// context's when a kubeconfig loads, else none (the object then takes the namespace it is
/// applied to).
pub async fn dry_run_namespace(explicit: Option<&str>) -> Option<String> {
    if let Some(ns) = explicit.filter(|n| !n.is_empty()) {
        return Some(ns.to_owned());
    }
    load_config().await.ok().map(|c| c.default_namespace)
}
