//! The caches admission reads, one per process: the VSphereBindings as
//! [`BindingEntry`]s by namespace ([`BindingIndex`]), and the ClusterRoles
//! that list PodSpecable kinds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Client;
use kube::api::Api;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use sources_api::v1alpha1::VSphereBinding;

use crate::binding::BindingEntry;
use crate::podspecable::PODSPECABLE_LABEL;

/// namespace → name → entry.
type ByNamespace = HashMap<String, BTreeMap<String, Arc<BindingEntry>>>;

/// The VSphereBindings admission reads: what the binding webhook needs of
/// each ([`BindingEntry`], never the whole object), by namespace, so a
/// review looks at the bindings of its own namespace only and copies none.
/// Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct BindingIndex {
    entries: Arc<RwLock<ByNamespace>>,
    /// The list being read (between the watch's `Init` and `InitDone`).
    relisting: Arc<RwLock<Option<ByNamespace>>>,
    ready: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for BindingIndex {
    fn default() -> Self {
        Self {
            entries: Arc::default(),
            relisting: Arc::default(),
            ready: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

fn insert(map: &mut ByNamespace, b: &VSphereBinding) {
    let entry = BindingEntry::from(b);
    map.entry(entry.namespace.clone())
        .or_default()
        .insert(entry.name.clone(), Arc::new(entry));
}

fn remove(map: &mut ByNamespace, b: &VSphereBinding) {
    let ns = b.metadata.namespace.as_deref().unwrap_or_default();
    if let Some(names) = map.get_mut(ns) {
        names.remove(b.metadata.name.as_deref().unwrap_or_default());
        if names.is_empty() {
            map.remove(ns);
        }
    }
}

impl BindingIndex {
    /// The bindings of namespace `ns`.
    pub fn in_namespace(&self, ns: &str) -> Vec<Arc<BindingEntry>> {
        self.entries
            .read()
            .map(|m| m.get(ns).map(|n| n.values().cloned().collect()))
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Every binding, by namespace then name.
    pub fn all(&self) -> Vec<Arc<BindingEntry>> {
        let Ok(map) = self.entries.read() else {
            return Vec::new();
        };
        let mut namespaces: Vec<_> = map.iter().collect();
        namespaces.sort_by(|a, b| a.0.cmp(b.0));
        namespaces
            .into_iter()
            .flat_map(|(_, names)| names.values().cloned())
            .collect()
    }

    /// Whether the first list has been read.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Adds or replaces `b`.
    pub fn apply(&self, b: &VSphereBinding) {
        if let Ok(mut map) = self.entries.write() {
            insert(&mut map, b);
        }
    }

    /// Removes `b`.
    pub fn delete(&self, b: &VSphereBinding) {
        if let Ok(mut map) = self.entries.write() {
            remove(&mut map, b);
        }
    }

    /// Follows one event of a watch of every VSphereBinding.
    pub fn follow(&self, event: watcher::Event<VSphereBinding>) {
        match event {
            watcher::Event::Apply(b) => self.apply(&b),
            watcher::Event::Delete(b) => self.delete(&b),
            watcher::Event::Init => {
                if let Ok(mut relisting) = self.relisting.write() {
                    *relisting = Some(ByNamespace::new());
                }
            }
            watcher::Event::InitApply(b) => {
                if let Ok(mut relisting) = self.relisting.write()
                    && let Some(map) = relisting.as_mut()
                {
                    insert(map, &b);
                }
            }
            watcher::Event::InitDone => {
                let listed = self
                    .relisting
                    .write()
                    .ok()
                    .and_then(|mut r| r.take())
                    .unwrap_or_default();
                if let Ok(mut map) = self.entries.write() {
                    *map = listed;
                }
                self.ready.send_replace(true);
            }
        }
    }

    async fn wait_until_ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|ready| *ready).await;
    }
}

/// The caches the webhooks read: the VSphereBindings ([`BindingIndex`]) and
/// the ClusterRoles that list PodSpecable kinds (a reflector). One per
/// process, shared by the replica's server
/// ([`run_webhooks`](super::run_webhooks)) and, on the leader, the manager
/// ([`manage_webhooks`](super::manage_webhooks)); the watches stop when it is
/// dropped.
pub struct WebhookCaches {
    pub(super) bindings: BindingIndex,
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

fn follow_bindings(
    api: Api<VSphereBinding>,
    index: BindingIndex,
    changed: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default())
            .backoff(crate::backoff::watch_backoff())
            .boxed();
        while let Some(ev) = events.next().await {
            match ev {
                Ok(ev) => {
                    let done = matches!(
                        ev,
                        watcher::Event::Apply(_)
                            | watcher::Event::Delete(_)
                            | watcher::Event::InitDone
                    );
                    index.follow(ev);
                    if done {
                        changed.notify_one();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watching vspherebindings"),
            }
        }
    })
}

fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
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
    let (reader, writer) = reflector::store::<K>();
    let task = tokio::spawn(async move {
        let mut events = reflector(writer, watcher(api, config))
            .backoff(crate::backoff::watch_backoff())
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
    /// Starts the watches and waits (up to 30 s) until they have listed
    /// once; past that it returns anyway (the watches keep trying, the
    /// server answers meanwhile).
    pub async fn start(client: &Client) -> Arc<Self> {
        let changed = Arc::new(tokio::sync::Notify::new());
        let bindings = BindingIndex::default();
        let t1 = follow_bindings(
            Api::<VSphereBinding>::all(client.clone()),
            bindings.clone(),
            changed.clone(),
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
            ("vspherebindings", bindings_ready.is_ok()),
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
}
