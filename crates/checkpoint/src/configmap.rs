//! The checkpoint in a Kubernetes ConfigMap, as the Go adapter keeps it: key `checkpoint` of the
//! ConfigMap named by `VSPHERE_KVSTORE_CONFIGMAP` in `NAMESPACE`, created (without an owner)
//! when missing, other keys kept, every update guarded by `resourceVersion` and retried on a
//! conflict. A sink's refusal of the adapter's identity is noted in the same ConfigMap (key
//! `sinkRefusal`, label `sources.tanzu.vmware.com/sink-refusal`) for the controller.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::debug;

use crate::{CHECKPOINT_KEY, CheckpointStore, SINK_REFUSAL_KEY, SINK_REFUSAL_LABEL, StoreError};

/// Updates are retried this often on a `resourceVersion` conflict before giving up.
const MAX_CONFLICT_RETRIES: usize = 10;

/// The wait after the `attempt`th conflict: 10 ms more each time, plus up to 10 ms of jitter
/// (from the clock's nanoseconds), so writers that collided do not collide again in step.
fn conflict_wait(attempt: usize) -> std::time::Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 10);
    std::time::Duration::from_millis(10 * (attempt as u64 + 1) + jitter)
}

/// A checkpoint under one key of a ConfigMap.
#[derive(Clone)]
pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
    key: String,
}

impl std::fmt::Debug for ConfigMapStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigMapStore({})", self.location())
    }
}

impl ConfigMapStore {
    /// The store for ConfigMap `name` in `namespace`; creates the ConfigMap (empty, no owner)
    /// when it does not exist, as the Go adapter's `Init` does.
    pub async fn open(
        client: kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Self, StoreError> {
        let store = Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: CHECKPOINT_KEY.to_owned(),
        };
        if store.get().await?.is_none() {
            store.create(|_| {}).await?;
        }
        Ok(store)
    }

    fn err(&self, action: &'static str, e: kube::Error) -> StoreError {
        StoreError::Io {
            location: self.location(),
            action,
            source: Box::new(e),
        }
    }

    async fn get(&self) -> Result<Option<ConfigMap>, StoreError> {
        self.api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.err("get", e))
    }

    async fn create(&self, change: impl Fn(&mut ConfigMap)) -> Result<(), StoreError> {
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::new()),
            ..ConfigMap::default()
        };
        change(&mut cm);
        match self.api.create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(()),
            // Created concurrently: fine, updates go through replace.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(self.err("create", e)),
        }
    }

    /// Read-modify-write of the data map with optimistic concurrency.
    async fn update(
        &self,
        change: impl Fn(&mut BTreeMap<String, String>),
    ) -> Result<(), StoreError> {
        self.update_object(|cm| change(cm.data.get_or_insert_with(BTreeMap::new)))
            .await
    }

    /// Read-modify-write of the ConfigMap with optimistic concurrency.
    async fn update_object(&self, change: impl Fn(&mut ConfigMap)) -> Result<(), StoreError> {
        for attempt in 0..MAX_CONFLICT_RETRIES {
            let Some(mut cm) = self.get().await? else {
                self.create(&change).await?;
                // A concurrent create may have won; loop to apply the change on top of it.
                if self.get().await?.is_some_and(|cm| {
                    let mut want = cm.clone();
                    change(&mut want);
                    cm == want
                }) {
                    return Ok(());
                }
                continue;
            };
            change(&mut cm);
            match self
                .api
                .replace(&self.name, &PostParams::default(), &cm)
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    debug!(attempt, configmap = %self.location(), "checkpoint update conflicted; retrying");
                    // Another writer of the ConfigMap (the adapter's own notes, a user, a
                    // tool) got there first: let it finish rather than race it again at once.
                    tokio::time::sleep(conflict_wait(attempt)).await;
                }
                Err(e) => return Err(self.err("update", e)),
            }
        }
        Err(StoreError::Io {
            location: self.location(),
            action: "update",
            source: format!("still conflicting after {MAX_CONFLICT_RETRIES} attempts").into(),
        })
    }
}

#[async_trait]
impl CheckpointStore for ConfigMapStore {
    async fn load_json(&self) -> Result<Option<String>, StoreError> {
        let Some(cm) = self.get().await? else {
            return Ok(None);
        };
        Ok(cm.data.and_then(|mut d| d.remove(&self.key)))
    }

    async fn save_json(&self, json: &str) -> Result<(), StoreError> {
        let json = json.to_owned();
        let key = self.key.clone();
        self.update(|data| {
            data.insert(key.clone(), json.clone());
        })
        .await
    }

    async fn delete(&self) -> Result<(), StoreError> {
        let key = self.key.clone();
        self.update(|data| {
            data.remove(&key);
        })
        .await
    }

    async fn load_note(&self, key: &str) -> Result<Option<String>, StoreError> {
        let Some(cm) = self.get().await? else {
            return Ok(None);
        };
        Ok(cm.data.and_then(|mut d| d.remove(key)))
    }

    async fn save_note(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.update(|data| {
            data.insert(key.clone(), value.clone());
        })
        .await
    }

    async fn note_sink_refusal(&self, refusal: Option<&str>) -> Result<(), StoreError> {
        self.update_object(|cm| {
            let data = cm.data.get_or_insert_with(BTreeMap::new);
            let labels = cm.metadata.labels.get_or_insert_with(BTreeMap::new);
            match refusal {
                Some(r) => {
                    data.insert(SINK_REFUSAL_KEY.to_owned(), r.to_owned());
                    labels.insert(SINK_REFUSAL_LABEL.to_owned(), "true".to_owned());
                }
                None => {
                    data.remove(SINK_REFUSAL_KEY);
                    labels.remove(SINK_REFUSAL_LABEL);
                }
            }
        })
        .await
    }

    fn location(&self) -> String {
        format!(
            "ConfigMap {}/{} key {}",
            self.namespace, self.name, self.key
        )
    }
}
