//! Horizon audit events as CloudEvents, as the Go adapter makes them: `id` = the audit event
//! id, `source` = `HORIZON_URL`, `type` = `com.vmware.horizon.<lower-case type>.v0`, JSON data
//! with upstream's field names; `time` keeps milliseconds (upstream truncates to seconds).
//!
//! Written by `cloudevent-encode`'s binding with `time` in milliseconds (`…T07:12:19.490Z`)
//! and, on stdout, the JSON members sorted by name: the bytes this adapter has always sent.

use chrono::{DateTime, Utc};
use cloudevent_encode::CeOverrides;
use cloudevent_encode::binding::{HttpBinding, JsonFormat, TimeFormat};
use cloudevent_encode::cloudevents::{self, AttributesWriter as _, Data};
use horizon_client::AuditEvent;

use super::{Encode, Unencodable};

/// Audit events as CloudEvents.
#[derive(Debug, Clone)]
pub struct HorizonEncoder {
    /// `source`, `datacontenttype` and the `K_CE_OVERRIDES` extensions, which every event
    /// starts from.
    template: cloudevents::Event,
    binding: HttpBinding,
}

impl HorizonEncoder {
    /// Events of the Horizon server at `source` (`HORIZON_URL`), with `K_CE_OVERRIDES` and
    /// `Kn-Namespace`.
    pub fn new(source: &str, overrides: &CeOverrides, namespace: Option<&str>) -> Self {
        let mut template = cloudevents::Event::default();
        // Each event sets its id, type and time: empty ones clone without allocating.
        template.set_id(String::new());
        template.set_type(String::new());
        template.set_time(None::<DateTime<Utc>>);
        template.set_source(source);
        template.set_datacontenttype(Some("application/json"));
        for (name, value) in overrides.iter() {
            template.set_extension(name, value);
        }
        let mut binding = HttpBinding::new()
            .with_time_format(TimeFormat::Millis)
            .with_json_format(JsonFormat::Sorted);
        if let Some(ns) = namespace {
            binding = binding.with_namespace(ns);
        }
        Self { template, binding }
    }
}

/// `com.vmware.horizon.<lower-case type>.v0`.
pub fn event_type(e: &AuditEvent) -> String {
    format!(
        "com.vmware.horizon.{}.v0",
        e.kind.as_deref().unwrap_or_default().to_lowercase()
    )
}

/// The time of `ms` Unix milliseconds; the epoch for a time outside years -9999 to 9999.
pub fn event_time(ms: i64) -> DateTime<Utc> {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .and_then(|t| DateTime::from_timestamp_millis(t.as_millisecond()))
        .unwrap_or_default()
}

impl Encode<AuditEvent> for HorizonEncoder {
    fn event(&self, e: &AuditEvent) -> Result<cloudevents::Event, Unencodable> {
        let data = serde_json::to_vec(e)
            .map_err(|err| Unencodable(format!("audit event {}: {err}", e.id)))?;
        let mut event = self.template.clone();
        event.set_id(e.id.to_string());
        event.set_type(event_type(e));
        event.set_time(Some(event_time(e.time)));
        event.set_data_unchecked(Data::Binary(data));
        Ok(event)
    }

    fn binding(&self) -> &HttpBinding {
        &self.binding
    }
}

#[cfg(test)]
mod tests {
    use cloudevent_encode::binding::ContentMode;

    use super::*;

    #[test]
    fn maps_like_upstream_but_keeps_milliseconds() {
        let e: AuditEvent = serde_json::from_str(r#"{"id":98562,"machine_dns_name":"Horizon-01.corp.local","message":"User corp\\administrator has logged in to View Administrator","module":"Vlsi","severity":"AUDIT_SUCCESS","time":1627369939490,"type":"VLSI_USERLOGGEDIN","user_id":"S-1-5-21-4442515-1634369418-872054540-500"}"#).expect("event");
        let mut overrides = CeOverrides::none();
        overrides.insert("team", "a b").expect("ext");
        let enc = HorizonEncoder::new("https://horizon.example", &overrides, Some("ns"));
        let o = super::super::outgoing(&enc, &e, ContentMode::Binary).expect("encode");
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
        let line = super::super::outgoing(&enc, &e, ContentMode::Structured).expect("line");
        let doc: serde_json::Value = serde_json::from_slice(&line.body).expect("JSON line");
        assert_eq!(doc["team"], "a b");
    }
}
