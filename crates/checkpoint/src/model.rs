//! The checkpoint JSON, compatible with the Go adapter's.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an adapter stopped: the last event the sink accepted.
///
/// Field names and order are the Go adapter's; times are RFC 3339 with nanoseconds. Only
/// `lastEventKeyTimestamp` is needed to resume; the other fields are informational (and used to
/// skip the boundary event on replay when present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Checkpoint {
    /// The CloudEvent `source` (the vCenter SDK URL).
    #[serde(rename = "vCenter", default, skip_serializing_if = "Option::is_none")]
    pub vcenter: Option<String>,
    /// The key of the last delivered event (`int32` in vSphere).
    #[serde(
        rename = "lastEventKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_event_key: Option<i64>,
    /// Its type name (or `eventTypeId` for EventEx/ExtendedEvent).
    #[serde(
        rename = "lastEventType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_event_type: Option<String>,
    /// Its `createdTime` (vCenter's clock).
    #[serde(rename = "lastEventKeyTimestamp", with = "rfc3339_opt", default)]
    pub last_event_key_timestamp: Option<Timestamp>,
    /// When the checkpoint was made (the adapter's clock; informational).
    #[serde(
        rename = "createdTimestamp",
        with = "rfc3339_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub created_timestamp: Option<Timestamp>,
}

/// Why a stored checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid checkpoint JSON: {source} (expected e.g. {{\"lastEventKeyTimestamp\":\"2021-02-15T19:20:35.598999Z\"}})"
)]
pub struct CheckpointError {
    #[source]
    source: serde_json::Error,
}

impl CheckpointError {
    pub(crate) fn from_serde(source: serde_json::Error) -> Self {
        Self { source }
    }
}

impl Checkpoint {
    /// A checkpoint after delivering event `key` of `event_type` created at `created`.
    pub fn new(source: &str, key: i64, event_type: &str, created: Timestamp) -> Self {
        Self {
            vcenter: Some(source.to_owned()),
            last_event_key: Some(key),
            last_event_type: Some(event_type.to_owned()),
            last_event_key_timestamp: Some(created),
            created_timestamp: Some(Timestamp::now()),
        }
    }

    /// Parse the JSON stored under the `checkpoint` key. An empty string or `{}` is a
    /// checkpoint without a timestamp (no replay), as in the Go adapter.
    pub fn from_json(json: &str) -> Result<Self, CheckpointError> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(json).map_err(|source| CheckpointError { source })
    }

    /// The JSON to store, in the Go adapter's field order.
    pub fn to_json(&self) -> String {
        // Plain strings, integers and timestamps: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

mod rfc3339_opt {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            // Go's time.Time marshals as RFC 3339 with nanoseconds, trailing zeros trimmed.
            Some(t) => s.serialize_str(&t.to_string()),
            None => s.serialize_str("0001-01-01T00:00:00Z"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s.as_deref() {
            None | Some("") | Some("0001-01-01T00:00:00Z") => Ok(None),
            Some(s) => s
                .parse::<Timestamp>()
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_go_adapters_checkpoint() {
        let go = r#"{"vCenter":"https://10.161.153.226/sdk","lastEventKey":17208,"lastEventType":"UserLogoutSessionEvent","lastEventKeyTimestamp":"2021-02-15T19:20:35.598999Z","createdTimestamp":"2021-02-15T19:20:36.3326551Z"}"#;
        let cp = Checkpoint::from_json(go).expect("parse");
        assert_eq!(cp.last_event_key, Some(17208));
        assert_eq!(cp.vcenter.as_deref(), Some("https://10.161.153.226/sdk"));
        assert_eq!(
            cp.last_event_key_timestamp.map(|t| t.to_string()),
            Some("2021-02-15T19:20:35.598999Z".into())
        );
        // Written back byte for byte.
        assert_eq!(cp.to_json(), go);
    }

    #[test]
    fn a_partial_checkpoint_is_valid() {
        let cp = Checkpoint::from_json(r#"{"lastEventKeyTimestamp":"2026-11-27T02:47:56Z"}"#)
            .expect("parse");
        assert!(cp.last_event_key.is_none());
        assert!(cp.last_event_key_timestamp.is_some());
        assert!(
            Checkpoint::from_json("")
                .expect("empty")
                .last_event_key_timestamp
                .is_none()
        );
        assert!(
            Checkpoint::from_json("{}")
                .expect("{}")
                .last_event_key_timestamp
                .is_none()
        );
        // Go's zero time means "no checkpoint".
        let zero = Checkpoint::from_json(r#"{"lastEventKeyTimestamp":"0001-01-01T00:00:00Z"}"#)
            .expect("zero");
        assert!(zero.last_event_key_timestamp.is_none());
    }

    #[test]
    fn bad_json_names_the_problem() {
        let e = Checkpoint::from_json(r#"{"lastEventKeyTimestamp":"yesterday"}"#)
            .expect_err("bad time");
        assert!(e.to_string().starts_with("invalid checkpoint JSON"), "{e}");
        assert!(Checkpoint::from_json("not json").is_err());
    }

    #[test]
    fn nanoseconds_survive_and_trailing_zeros_are_trimmed() {
        let t: Timestamp = "2026-11-27T02:47:56.344661450Z".parse().expect("time");
        let mut cp = Checkpoint::new("https://vc/sdk", 1, "X", t);
        cp.created_timestamp = None;
        assert_eq!(
            cp.to_json(),
            r#"{"vCenter":"https://vc/sdk","lastEventKey":1,"lastEventType":"X","lastEventKeyTimestamp":"2026-11-27T02:47:56.34466145Z"}"#
        );
        assert_eq!(
            Checkpoint::from_json(&cp.to_json()).expect("round trip"),
            cp
        );
    }
}
