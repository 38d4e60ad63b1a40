//! Opening the checkpoint store the settings name.

use std::sync::Arc;

use checkpoint::{CheckpointStore, FileStore, StoreError};
use tracing::error;

use crate::error::AdapterError;
use crate::settings::StoreLocation;

/// The store at `location`. A ConfigMap store whose ConfigMap the adapter may not read falls
/// back to memory when the location allows it (loudly), else stops start-up.
pub async fn open(location: &StoreLocation) -> Result<Arc<dyn CheckpointStore>, AdapterError> {
    let (namespace, name, memory_if_forbidden) = match location {
        StoreLocation::File(path) => return Ok(Arc::new(FileStore::new(path))),
        StoreLocation::ConfigMap {
            namespace,
            name,
            memory_if_forbidden,
        } => (namespace, name, *memory_if_forbidden),
    };
    let client = kube::Client::try_default()
        .await
        .map_err(|e| AdapterError::Kubernetes(e.to_string()))?;
    match checkpoint::ConfigMapStore::open(client, namespace, name).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) if memory_if_forbidden && is_forbidden(&e) => {
            error!(error = %e, "no access to the checkpoint ConfigMap; keeping the checkpoint in memory only (grant get, create and update on configmaps to the service account)");
            Ok(Arc::new(checkpoint::MemoryStore::default()))
        }
        Err(e) => Err(e.into()),
    }
}

fn is_forbidden(e: &StoreError) -> bool {
    match e {
        StoreError::Io { source, .. } => source
            .downcast_ref::<kube::Error>()
            .is_some_and(|k| matches!(k, kube::Error::Api(s) if s.code == 403)),
        _ => false,
    }
}
