//! Where checkpoints are kept.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::Checkpoint;
use crate::CheckpointError;

/// Why a checkpoint could not be loaded, saved or deleted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing the backing storage failed.
    #[error("checkpoint store {location}: {action} failed: {source}")]
    Io {
        /// Where (a path, a ConfigMap `namespace/name`).
        location: String,
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The stored checkpoint is not valid JSON of the expected shape.
    #[error("checkpoint store {location}: {source}")]
    Invalid {
        /// Where.
        location: String,
        /// Why.
        #[source]
        source: CheckpointError,
    },
}

/// Load, save and delete one checkpoint.
///
/// Stores keep raw JSON ([`load_json`](Self::load_json), [`save_json`](Self::save_json)), so
/// any adapter's checkpoint model fits; [`load`](Self::load) and [`save`](Self::save) read and
/// write the vSphere [`Checkpoint`] on top of them (the Horizon adapter uses
/// [`HorizonCheckpoint`](crate::HorizonCheckpoint) the same way).
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The stored checkpoint JSON, `None` when there is none.
    async fn load_json(&self) -> Result<Option<String>, StoreError>;
    /// Replace the stored checkpoint JSON.
    async fn save_json(&self, json: &str) -> Result<(), StoreError>;
    /// The stored vSphere checkpoint, `None` when there is none.
    async fn load(&self) -> Result<Option<Checkpoint>, StoreError> {
        match self.load_json().await? {
            None => Ok(None),
            Some(json) => {
                Checkpoint::from_json(&json)
                    .map(Some)
                    .map_err(|source| StoreError::Invalid {
                        location: self.location(),
                        source,
                    })
            }
        }
    }
    /// Replace the stored vSphere checkpoint.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.save_json(&checkpoint.to_json()).await
    }
    /// Remove the stored checkpoint.
    async fn delete(&self) -> Result<(), StoreError>;
    /// Note beside the checkpoint that the sink refuses the adapter's identity (`Some`: a short
    /// JSON description), or that it accepts it again (`None`). Only the ConfigMap store keeps
    /// it (for the controller, see [`SINK_REFUSAL_KEY`](crate::SINK_REFUSAL_KEY)); the others
    /// have nobody to tell.
    async fn note_sink_refusal(&self, refusal: Option<&str>) -> Result<(), StoreError> {
        let _ = refusal;
        Ok(())
    }
    /// Where the checkpoint lives, for logs and errors.
    fn location(&self) -> String;
}

/// A checkpoint in memory: for tests and for embedding without persistence.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Option<String>>,
}

impl MemoryStore {
    /// A store holding `checkpoint`.
    pub fn with(checkpoint: Checkpoint) -> Self {
        Self {
            inner: Mutex::new(Some(checkpoint.to_json())),
        }
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    async fn load_json(&self) -> Result<Option<String>, StoreError> {
        Ok(self.inner.lock().map(|c| c.clone()).unwrap_or(None))
    }

    async fn save_json(&self, json: &str) -> Result<(), StoreError> {
        if let Ok(mut c) = self.inner.lock() {
            *c = Some(json.to_owned());
        }
        Ok(())
    }

    async fn delete(&self) -> Result<(), StoreError> {
        if let Ok(mut c) = self.inner.lock() {
            *c = None;
        }
        Ok(())
    }

    fn location(&self) -> String {
        "memory".into()
    }
}

/// A checkpoint in a file, written atomically: a temporary file in the same directory, fsync,
/// rename over the old file, fsync of the directory. A crash leaves the old or the new
/// checkpoint, never a torn one.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path` (its directory must exist or be creatable).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str, e: std::io::Error) -> StoreError {
        StoreError::Io {
            location: self.location(),
            action,
            source: Box::new(e),
        }
    }

    fn write_atomic(&self, bytes: &[u8]) -> Result<(), StoreError> {
        use std::io::Write;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| self.io("create directory", e))?;
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkpoint".into());
        let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(&dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| self.io("write", e))
    }
}

#[async_trait]
impl CheckpointStore for FileStore {
    async fn load_json(&self) -> Result<Option<String>, StoreError> {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(path))
            .await
            .map_err(|e| StoreError::Io {
                location: self.location(),
                action: "read",
                source: Box::new(e),
            })?;
        match read {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("read", e)),
        }
    }

    async fn save_json(&self, json: &str) -> Result<(), StoreError> {
        let store = self.clone();
        let json = json.to_owned();
        tokio::task::spawn_blocking(move || store.write_atomic(json.as_bytes()))
            .await
            .map_err(|e| StoreError::Io {
                location: self.location(),
                action: "write",
                source: Box::new(e),
            })?
    }

    async fn delete(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("delete", e)),
        }
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(key: i64) -> Checkpoint {
        Checkpoint::new(
            "https://vc/sdk",
            key,
            "VmPoweredOnEvent",
            "2026-11-27T02:47:56.1Z".parse().expect("t"),
        )
    }

    #[tokio::test]
    async fn file_store_round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("sub/checkpoint.json"));
        assert!(store.load().await.expect("load").is_none());
        store.save(&cp(1)).await.expect("save");
        store.save(&cp(2)).await.expect("save again");
        let loaded = store.load().await.expect("load").expect("a checkpoint");
        assert_eq!(loaded.last_event_key, Some(2));
        assert_eq!(
            loaded.last_event_key_timestamp,
            cp(2).last_event_key_timestamp
        );
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["checkpoint.json"]);
        store.delete().await.expect("delete");
        assert!(store.load().await.expect("load").is_none());
        store.delete().await.expect("deleting nothing is fine");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cp.json");
        std::fs::write(&path, "{not json").expect("write");
        let e = FileStore::new(&path).load().await.expect_err("corrupt");
        let msg = e.to_string();
        assert!(
            msg.contains("cp.json") && msg.contains("invalid checkpoint JSON"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn an_unwritable_location_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, "x").expect("write");
        // A path below a regular file cannot be created.
        let e = FileStore::new(file.join("cp.json"))
            .save(&cp(1))
            .await
            .expect_err("not a dir");
        assert!(e.to_string().contains("create directory failed"), "{e}");
    }

    #[tokio::test]
    async fn memory_store() {
        let store = MemoryStore::default();
        assert!(store.load().await.expect("load").is_none());
        store.save(&cp(3)).await.expect("save");
        assert_eq!(
            store
                .load()
                .await
                .expect("load")
                .and_then(|c| c.last_event_key),
            Some(3)
        );
        store.delete().await.expect("delete");
        assert!(store.load().await.expect("load").is_none());
    }
}
