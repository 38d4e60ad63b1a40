//! The Horizon adapter's checkpoint.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::CheckpointError;

/// Where the Horizon adapter stopped: the time (Unix milliseconds, Horizon's clock) of the last
/// settled audit event and the ids of every settled event with exactly that time, so a restart
/// re-reads from that millisecond and skips only what was already sent.
///
/// ```
/// use vmware_sources_checkpoint::HorizonCheckpoint;
/// let cp = HorizonCheckpoint::new("https://horizon.example", 1627369939490, vec![98562, 98558]);
/// let back = HorizonCheckpoint::from_json(&cp.to_json()).unwrap();
/// assert_eq!(back.last_event_time, Some(1627369939490));
/// assert_eq!(back.last_event_ids, [98558, 98562]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HorizonCheckpoint {
    /// The CloudEvent `source` (`HORIZON_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<String>,
    /// Time of the last settled event, Unix milliseconds.
    #[serde(rename = "lastEventTime", default)]
    pub last_event_time: Option<i64>,
    /// Ids of the settled events at `last_event_time`, ascending.
    #[serde(rename = "lastEventIds", default)]
    pub last_event_ids: Vec<i64>,
    /// When the checkpoint was made (the adapter's clock; informational).
    #[serde(
        rename = "createdTimestamp",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub created_timestamp: Option<Timestamp>,
}

impl HorizonCheckpoint {
    /// A checkpoint after settling `ids` at `time_ms`.
    pub fn new(source: &str, time_ms: i64, mut ids: Vec<i64>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        Self {
            horizon: Some(source.to_owned()),
            last_event_time: Some(time_ms),
            last_event_ids: ids,
            created_timestamp: Some(Timestamp::now()),
        }
    }

    /// Parse stored JSON; empty input is a checkpoint without a time.
    pub fn from_json(json: &str) -> Result<Self, CheckpointError> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(json).map_err(CheckpointError::from_serde)
    }

    /// The JSON to store.
    pub fn to_json(&self) -> String {
        // Strings, integers and timestamps: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckpointStore, FileStore, MemoryStore};

    #[test]
    fn round_trips_and_sorts_ids() {
        let cp = HorizonCheckpoint::new("https://h", 5, vec![3, 1, 3]);
        assert_eq!(cp.last_event_ids, [1, 3]);
        let json = cp.to_json();
        assert!(
            json.starts_with(r#"{"horizon":"https://h","lastEventTime":5,"lastEventIds":[1,3]"#),
            "{json}"
        );
        assert_eq!(HorizonCheckpoint::from_json(&json).expect("parse"), cp);
        assert_eq!(
            HorizonCheckpoint::from_json("").expect("empty"),
            HorizonCheckpoint::default()
        );
        assert!(HorizonCheckpoint::from_json("{x").is_err());
    }

    #[tokio::test]
    async fn stores_keep_raw_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = HorizonCheckpoint::new("https://h", 7, vec![9]);
        let stores: Vec<Box<dyn CheckpointStore>> = vec![
            Box::new(MemoryStore::default()),
            Box::new(FileStore::new(dir.path().join("h.json"))),
        ];
        for store in stores {
            assert!(store.load_json().await.expect("load").is_none());
            store.save_json(&cp.to_json()).await.expect("save");
            let back = store.load_json().await.expect("load").expect("some");
            assert_eq!(HorizonCheckpoint::from_json(&back).expect("parse"), cp);
        }
    }
}
