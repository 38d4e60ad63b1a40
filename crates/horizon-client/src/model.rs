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
