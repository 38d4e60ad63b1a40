//! The REST API's JSON.

use serde::{Deserialize, Serialize};

/// One audit event (`AuditEventSummary`). Serialises like the Go adapter's struct: fields in
/// its order, empty ones left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditEvent {
    /// Application pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_pool_name: Option<String>,
    /// Desktop pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_pool_name: Option<String>,
    /// Event id (not ordered by time).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: i64,
    /// Machine DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_dns_name: Option<String>,
    /// Machine id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Module, e.g. `Vlsi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// `INFO`, `WARNING`, `ERROR`, `AUDIT_SUCCESS`, `AUDIT_FAIL`, `UNKNOWN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub time: i64,
    /// Event type, e.g. `VLSI_USERLOGGEDIN`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// User SID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A record of an audit-events page that did not fit [`AuditEvent`] (a field of another type
/// than the API documents, say).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Undecodable {
    /// Its `id`, when readable.
    pub id: Option<i64>,
    /// Its `time` (Unix milliseconds), when it was salvaged.
    pub time: Option<i64>,
    /// Why it did not decode.
    pub error: String,
    /// The record as Horizon sent it, cut at [`Undecodable::RECORD_LIMIT`] bytes.
    pub record: String,
    /// Whether it was salvaged: its `id` and `time` were readable, so it is among the page's
    /// events with every field that could be read, the others as their JSON text.
    pub salvaged: bool,
}

impl Undecodable {
    /// How much of a record [`Undecodable::record`] keeps, bytes.
    pub const RECORD_LIMIT: usize = 2048;
}

/// What can be read of a record that does not fit [`AuditEvent`]: text fields that are not
/// strings become their JSON text, numbers in strings are read. `None` without an object, an
/// `id` or a `time`: such a record has no place in the order of events.
pub(crate) fn salvage(record: &serde_json::Value) -> Option<AuditEvent> {
    use serde_json::Value;
    let obj = record.as_object()?;
    let text = |k: &str| match obj.get(k)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let int = |k: &str| {
        let v = obj.get(k)?;
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    Some(AuditEvent {
        application_pool_name: text("application_pool_name"),
        desktop_pool_name: text("desktop_pool_name"),
        id: int("id")?,
        machine_dns_name: text("machine_dns_name"),
        machine_id: text("machine_id"),
        message: text("message"),
        module: text("module"),
        severity: text("severity"),
        time: int("time")?,
        kind: text("type"),
        user_id: text("user_id"),
    })
}

/// The `Between` filter, in the Go adapter's field order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BetweenFilter {
    /// Always `Between`.
    #[serde(rename = "type")]
    pub kind: BetweenTag,
    /// From, Unix milliseconds (inclusive).
    pub from_value: i64,
    /// Always `time`.
    pub name: TimeTag,
    /// To, Unix milliseconds (inclusive).
    pub to_value: i64,
}

/// The literal `"Between"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BetweenTag {
    /// `Between`.
    Between,
}

/// The literal `"time"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeTag {
    /// `time`.
    #[serde(rename = "time")]
    Time,
}

impl BetweenFilter {
    /// `from <= time <= to`, milliseconds.
    pub fn time(from_ms: i64, to_ms: i64) -> Self {
        Self {
            kind: BetweenTag::Between,
            from_value: from_ms,
            name: TimeTag::Time,
            to_value: to_ms,
        }
    }

    /// The JSON for the `filter` query parameter.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The login answer (and refresh, which has no refresh token).
#[derive(Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Bearer token.
    pub access_token: String,
    /// Refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_upstream() {
        let e = AuditEvent {
            id: 98562,
            machine_dns_name: Some("Horizon-01.corp.local".into()),
            message: Some("User corp\\administrator has logged in to View Administrator".into()),
            module: Some("Vlsi".into()),
            severity: Some("AUDIT_SUCCESS".into()),
            time: 1627369939490,
            kind: Some("VLSI_USERLOGGEDIN".into()),
            user_id: Some("S-1-5-21-4442515-1634369418-872054540-500".into()),
            ..AuditEvent::default()
        };
        assert_eq!(
            serde_json::to_string(&e).expect("json"),
            r#"{"id":98562,"machine_dns_name":"Horizon-01.corp.local","message":"User corp\\administrator has logged in to View Administrator","module":"Vlsi","severity":"AUDIT_SUCCESS","time":1627369939490,"type":"VLSI_USERLOGGEDIN","user_id":"S-1-5-21-4442515-1634369418-872054540-500"}"#
        );
        assert_eq!(
            BetweenFilter::time(1627369939733, 1627456339000).to_json(),
            r#"{"type":"Between","fromValue":1627369939733,"name":"time","toValue":1627456339000}"#
        );
        assert_eq!(format!("{:?}", Tokens::default()), "Tokens(<redacted>)");
    }
}
