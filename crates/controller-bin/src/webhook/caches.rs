//! The caches admission reads, one per process.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Client;
use kube::api::Api;
use kube::runtime::reflector::Store;
use sources_api::v1alpha1::VSphereBinding;

use crate::podspecable::PODSPECABLE_LABEL;

/// The caches the webhooks read: the VSphereBindings and the ClusterRoles
/// that list PodSpecable kinds, each kept by a reflector. One per process,
/// shared by the replica's server ([`run_webhooks`](super::run_webhooks)) and, on the leader, the
/// manager ([`manage_webhooks`](super::manage_webhooks)); the reflectors stop when it is dropped.
pub struct WebhookCaches {
    pub(super) bindings: Store<VSphereBinding>,
    pub(super) roles: Store<ClusterRole>,
    pub(super) changed: Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for WebhookCaches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn reflect<K>(
    api: Api<K>,
    config: kube::runtime::watcher::Config,
    changed: Arc<tokio::sync::Notify>,
    what: &'static str,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use futures_util::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (reader, writer) = reflector::store::<K>();
    let task = tokio::spawn(async move {
        let mut events = reflector(writer, watcher(api, config))
            .default_backoff()
            .touched_objects()
            .boxed();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(_) => changed.notify_one(),
                Err(e) => tracing::warn!(error = %e, "watching {what}"),
            }
        }
    });
    (reader, task)
}

impl WebhookCaches {
    /// Starts the reflectors and waits (up to 30 s) until they have listed
    /// once; past that it returns anyway (the watches keep trying, the
    /// server answers meanwhile).
    pub async fn start(client: &Client) -> Arc<Self> {
        use kube::runtime::watcher;
        let changed = Arc::new(tokio::sync::Notify::new());
        let (bindings, t1) = reflect(
            Api::<VSphereBinding>::all(client.clone()),
            watcher::Config::default(),
            changed.clone(),
            "vspherebindings",
        );
        let (roles, t2) = reflect(
            Api::<ClusterRole>::all(client.clone()),
            watcher::Config::default().labels(&format!("{PODSPECABLE_LABEL}=true")),
            changed.clone(),
            "podspecable clusterroles",
        );
        let fill = Duration::from_secs(30);
        let bindings_ready = tokio::time::timeout(fill, bindings.wait_until_ready()).await;
        let roles_ready = tokio::time::timeout(fill, roles.wait_until_ready()).await;
        for (what, ready) in [
            ("vspherebindings", matches!(bindings_ready, Ok(Ok(())))),
            (
                "podspecable clusterroles",
                matches!(roles_ready, Ok(Ok(()))),
            ),
        ] {
            if !ready {
                tracing::warn!("the {what} cache did not fill within {fill:?}; serving anyway");
            }
        }
        Arc::new(Self {
            bindings,
            roles,
            changed,
            tasks: vec![t1, t2],
        })
    }

    pub(super) fn bindings(&self) -> Vec<VSphereBinding> {
        self.bindings
            .state()
            .iter()
            .map(|b| (**b).clone())
            .collect()
    }
}
