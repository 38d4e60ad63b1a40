//! Horizon audit events as CloudEvents, as the Go adapter makes them: `id` = the audit event
//! id, `source` = `HORIZON_URL`, `type` = `com.vmware.horizon.<lower-case type>.v0`, JSON data
//! with upstream's field names; `time` keeps milliseconds (upstream truncates to seconds).

use bytes::Bytes;
use cloudevent_encode::{CeOverrides, percent_encode};
use horizon_client::AuditEvent;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::Encode;
use crate::deliver::Outgoing;

/// Audit events as CloudEvents.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// `source` (`HORIZON_URL`).
    pub source: String,
    /// `K_CE_OVERRIDES` extensions.
    pub overrides: CeOverrides,
    /// `Kn-Namespace`.
    pub namespace: Option<String>,
}

/// `com.vmware.horizon.<lower-case type>.v0`.
pub fn event_type(e: &AuditEvent) -> String {
    format!(
        "com.vmware.horizon.{}.v0",
        e.kind.as_deref().unwrap_or_default().to_lowercase()
    )
}

/// RFC 3339 UTC with milliseconds, e.g. `2021-07-27T07:12:19.490Z`.
pub fn event_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".into(),
    }
}

impl Encoder {
    /// Binary-mode HTTP headers and body.
    pub fn outgoing(&self, e: &AuditEvent) -> Result<Outgoing, http::Error> {
        let id = e.id.to_string();
        let kind = event_type(e);
        let mut headers = HeaderMap::new();
        let mut put = |name: &str, value: &str| -> Result<(), http::Error> {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(http::Error::from)?;
            let value = HeaderValue::from_str(&percent_encode(value)).map_err(http::Error::from)?;
            headers.insert(name, value);
            Ok(())
        };
        put("ce-specversion", "1.0")?;
        put("ce-id", &id)?;
        put("ce-source", &self.source)?;
        put("ce-type", &kind)?;
        put("ce-time", &event_time(e.time))?;
        for (k, v) in self.overrides.iter() {
            put(&format!("ce-{k}"), v)?;
        }
        if let Some(ns) = &self.namespace {
            put("kn-namespace", ns)?;
        }
        put("content-type", "application/json")?;
        Ok(Outgoing {
            id,
            event_type: kind,
            headers,
            body: Bytes::from(serde_json::to_vec(e).unwrap_or_default()),
        })
    }

    /// The structured-mode JSON (for stdout).
    pub fn structured(&self, e: &AuditEvent) -> serde_json::Value {
        let mut v = serde_json::json!({
            "specversion": "1.0",
            "id": e.id.to_string(),
            "source": self.source,
            "type": event_type(e),
            "time": event_time(e.time),
            "datacontenttype": "application/json",
            "data": e,
        });
        for (k, val) in self.overrides.iter() {
            v[k] = serde_json::Value::String(val.to_owned());
        }
        v
    }
}

impl Encode<AuditEvent> for Encoder {
    fn http(&self, event: &AuditEvent) -> Result<Outgoing, String> {
        self.outgoing(event)
            .map_err(|e| format!("audit event {}: {e}", event.id))
    }

    fn line(&self, event: &AuditEvent, out: &mut Vec<u8>) {
        if serde_json::to_writer(&mut *out, &self.structured(event)).is_ok() {
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_like_upstream_but_keeps_milliseconds() {
        let e: AuditEvent = serde_json::from_str(r#"{"id":98562,"machine_dns_name":"Horizon-01.corp.local","message":"User corp\\administrator has logged in to View Administrator","module":"Vlsi","severity":"AUDIT_SUCCESS","time":1627369939490,"type":"VLSI_USERLOGGEDIN","user_id":"S-1-5-21-4442515-1634369418-872054540-500"}"#).expect("event");
        let mut overrides = CeOverrides::none();
        overrides.insert("team", "a b").expect("ext");
        let enc = Encoder {
            source: "https://horizon.example".into(),
            overrides,
            namespace: Some("ns".into()),
        };
        let o = enc.outgoing(&e).expect("encode");
        let h = |n: &str| {
            o.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(h("ce-id"), "98562");
        assert_eq!(h("ce-type"), "com.vmware.horizon.vlsi_userloggedin.v0");
        assert_eq!(h("ce-time"), "2021-07-27T07:12:19.490Z");
        assert_eq!(h("ce-source"), "https://horizon.example");
        assert_eq!(h("ce-team"), "a%20b");
        assert_eq!(h("kn-namespace"), "ns");
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(
            String::from_utf8_lossy(&o.body),
            r#"{"id":98562,"machine_dns_name":"Horizon-01.corp.local","message":"User corp\\administrator has logged in to View Administrator","module":"Vlsi","severity":"AUDIT_SUCCESS","time":1627369939490,"type":"VLSI_USERLOGGEDIN","user_id":"S-1-5-21-4442515-1634369418-872054540-500"}"#
        );
        assert_eq!(enc.structured(&e)["team"], "a b");
    }
}
