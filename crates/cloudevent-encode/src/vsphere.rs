//! vCenter events as CloudEvents: the Go adapter's attributes and payload in a
//! [`cloudevents::Event`], written by the [HTTP binding](crate::binding).

use chrono::{DateTime, Utc};
use cloudevents::event::{AttributesWriter, Data};
use vsphere_client::model::{Event, EventClass};

use crate::binding::overrides::CeOverrides;
use crate::binding::{ContentMode, HttpBinding, RequestError};
use crate::gofmt;

/// `VSPHERE_PAYLOAD_ENCODING`: how the event data is encoded, and the `datacontenttype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadEncoding {
    /// `application/xml` (the default).
    ApplicationXml,
    /// `text/xml`: the XML payload.
    TextXml,
    /// `application/json`.
    ApplicationJson,
    /// `text/json`: the JSON payload.
    TextJson,
    /// `""`: the JSON payload with no `datacontenttype` (what the Go SDK's default codec does).
    Unset,
}

/// A `VSPHERE_PAYLOAD_ENCODING` the Go adapter cannot encode events with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "VSPHERE_PAYLOAD_ENCODING {value:?} is not supported: use application/xml, text/xml, application/json or text/json (exact, case-sensitive){hint}"
)]
pub struct EncodingError {
    /// The value given.
    pub value: String,
    hint: &'static str,
}

impl PayloadEncoding {
    /// Parse `VSPHERE_PAYLOAD_ENCODING` exactly as the Go adapter's codec lookup matches it.
    ///
    /// `text/plain` is refused: the Go adapter accepts it at start-up and then fails to encode
    /// every event (`set data on event`).
    pub fn parse(value: &str) -> Result<Self, EncodingError> {
        Ok(match value {
            "application/xml" => Self::ApplicationXml,
            "text/xml" => Self::TextXml,
            "application/json" => Self::ApplicationJson,
            "text/json" => Self::TextJson,
            "" => Self::Unset,
            other => {
                return Err(EncodingError {
                    value: other.to_owned(),
                    hint: if other == "text/plain" {
                        "; the Go adapter accepts text/plain but fails to encode every event with it"
                    } else {
                        ""
                    },
                });
            }
        })
    }

    /// The `datacontenttype` (and binary-mode `Content-Type`), `None` for [`PayloadEncoding::Unset`].
    pub fn content_type(self) -> Option<&'static str> {
        match self {
            Self::ApplicationXml => Some("application/xml"),
            Self::TextXml => Some("text/xml"),
            Self::ApplicationJson => Some("application/json"),
            Self::TextJson => Some("text/json"),
            Self::Unset => None,
        }
    }

    /// Whether the payload is XML (else JSON).
    pub fn is_xml(self) -> bool {
        matches!(self, Self::ApplicationXml | Self::TextXml)
    }
}

impl std::str::FromStr for PayloadEncoding {
    type Err = EncodingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The name the CloudEvent `type` is built from: the `eventTypeId` for `EventEx` and
/// `ExtendedEvent` (empty when absent, as in Go), else the type name.
pub fn event_type_name(event: &Event) -> &str {
    match event.class() {
        EventClass::Event => event.type_name(),
        EventClass::EventEx | EventClass::ExtendedEvent => {
            event.object().get_str("eventTypeId").unwrap_or_default()
        }
    }
}

/// Turns vCenter events into CloudEvents: a [`cloudevents::Event`] with the Go adapter's
/// attributes and payload, and its HTTP request.
///
/// The attributes: `id` the event key in decimal, `source` the vCenter URL, `type`
/// `com.vmware.vsphere.<Type>.v0`, `time` the event's `createdTime` (the current time for an
/// event without one: the Go SDK drops a zero time and its client's `WithTimeNow` fills in
/// now), `datacontenttype` from [`PayloadEncoding`], extensions `eventclass` and
/// `vsphereapiversion`, then the ceOverrides (which replace an extension of the same name); no
/// `subject`. The data: the XML payload as text (`Data::String`), the JSON payload as the bytes
/// Go's `encoding/json` writes (`Data::Binary`, which the [binding](crate::binding) writes
/// inline in structured mode).
///
/// One per adapter; cheap to share.
#[derive(Debug, Clone)]
pub struct EventEncoder {
    source: String,
    api_version: String,
    encoding: PayloadEncoding,
    overrides: CeOverrides,
    namespace: Option<String>,
    mode: ContentMode,
    go_only: bool,
    /// `eventclass` is one of the ceOverrides (which win over the event's class).
    eventclass_overridden: bool,
    /// The attributes every event shares (`source`, `datacontenttype`, the extensions), which
    /// each event's CloudEvent starts from.
    template: cloudevents::Event,
    binding: HttpBinding,
}

impl EventEncoder {
    /// An encoder for events of the vCenter at `source` (e.g. `https://vc.example.com/sdk`)
    /// speaking API `api_version` (`ServiceContent.about.apiVersion`).
    pub fn new(
        source: impl Into<String>,
        api_version: impl Into<String>,
        encoding: PayloadEncoding,
    ) -> Self {
        Self {
            source: source.into(),
            api_version: api_version.into(),
            encoding,
            overrides: CeOverrides::none(),
            namespace: None,
            mode: ContentMode::Binary,
            go_only: false,
            eventclass_overridden: false,
            template: cloudevents::Event::default(),
            binding: HttpBinding::new(),
        }
        .rebuilt()
    }

    /// The template and the binding, after a setting changed.
    fn rebuilt(mut self) -> Self {
        let mut t = cloudevents::Event::default();
        // Each event sets its id, type and time: empty ones clone without allocating.
        t.set_id(String::new());
        t.set_type(String::new());
        t.set_time(None::<DateTime<Utc>>);
        t.set_source(self.source.as_str());
        t.set_datacontenttype(self.encoding.content_type());
        t.set_extension("vsphereapiversion", self.api_version.as_str());
        for (name, value) in self.overrides.iter() {
            t.set_extension(name, value);
        }
        self.template = t;
        self.eventclass_overridden = self.overrides.iter().any(|(name, _)| name == "eventclass");
        let mut binding =
            HttpBinding::new().with_extensions_first(["eventclass", "vsphereapiversion"]);
        if let Some(ns) = &self.namespace {
            binding = binding.with_namespace(ns.as_str());
        }
        self.binding = binding;
        self
    }

    /// Leave out what govmomi 0.24 does not know (fields of newer APIs, unknown elements and
    /// types), so payloads are exactly the Go adapter's even for newer vCenters. Off by default:
    /// then those are written too, after the fields Go knows.
    pub fn with_go_fields_only(mut self, go_only: bool) -> Self {
        self.go_only = go_only;
        self
    }

    /// An encoder whose `source` is the endpoint as the client normalised it (govmomi's
    /// `soap.ParseURL`: `https://` added, `/sdk` when no path, no user info), which is what the
    /// Go adapter sends (`vClient.URL().String()`).
    pub fn for_endpoint(
        endpoint: &vsphere_client::Endpoint,
        api_version: impl Into<String>,
        encoding: PayloadEncoding,
    ) -> Self {
        Self::new(endpoint.as_str(), api_version, encoding)
    }

    /// Apply `ceOverrides` extensions to every event.
    pub fn with_overrides(mut self, overrides: CeOverrides) -> Self {
        self.overrides = overrides;
        self.rebuilt()
    }

    /// Send `Kn-Namespace: <namespace>` (the adapter's `NAMESPACE`).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self.rebuilt()
    }

    /// Binary (default) or structured mode.
    pub fn with_mode(mut self, mode: ContentMode) -> Self {
        self.mode = mode;
        self
    }

    /// The payload encoding.
    pub fn encoding(&self) -> PayloadEncoding {
        self.encoding
    }

    /// How this encoder's CloudEvents are written: Go's time format and JSON, `eventclass` and
    /// `vsphereapiversion` before the other extensions, `Kn-Namespace` when set.
    pub fn binding(&self) -> &HttpBinding {
        &self.binding
    }

    /// `event` as a CloudEvent, its payload in a new buffer.
    pub fn event(&self, event: &Event) -> cloudevents::Event {
        self.event_in(event, Vec::with_capacity(4096))
    }

    /// `event` as a CloudEvent, its payload written into `buffer` (cleared first), which
    /// becomes the data: reuse the body of the last request to save allocations.
    pub fn event_in(&self, event: &Event, mut buffer: Vec<u8>) -> cloudevents::Event {
        buffer.clear();
        self.encode_data(event, &mut buffer);
        let data = if self.encoding.is_xml() {
            // The XML writer writes UTF-8; a lossy copy only if that ever failed.
            match String::from_utf8(buffer) {
                Ok(text) => Data::String(text),
                Err(e) => Data::String(String::from_utf8_lossy(e.as_bytes()).into_owned()),
            }
        } else {
            Data::Binary(buffer)
        };
        let mut ce = self.template.clone();
        ce.set_id(id(event));
        ce.set_type(event_type(event));
        ce.set_time(Some(created_time(event)));
        if !self.eventclass_overridden {
            ce.set_extension("eventclass", event.class().as_str());
        }
        ce.set_data_unchecked(data);
        ce
    }

    /// Append the payload of `event` in the configured encoding to `out`.
    pub fn encode_data(&self, event: &Event, out: &mut Vec<u8>) {
        match (self.encoding.is_xml(), self.go_only) {
            (true, false) => crate::encode_xml(event.object(), out),
            (true, true) => crate::encode_xml_go_only(event.object(), out),
            (false, false) => crate::encode_json(event.object(), out),
            (false, true) => crate::encode_json_go_only(event.object(), out),
        }
    }

    /// The HTTP request for `event` to `sink`, in the configured mode. `body` is a buffer to
    /// reuse (cleared first); it becomes the request body.
    pub fn request(
        &self,
        event: &Event,
        sink: &http::Uri,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        match self.mode {
            ContentMode::Binary => self.binary_request(event, sink, body),
            ContentMode::Structured => self.structured_request(event, sink, body),
        }
    }

    /// Binary mode, as the Go adapter sends: `ce-` headers (percent-encoded per the HTTP
    /// binding), `Content-Type` = `datacontenttype`, `Kn-Namespace`, the payload as the body.
    pub fn binary_request(
        &self,
        event: &Event,
        sink: &http::Uri,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let ce = self.event_in(event, body);
        self.binding
            .request(ce, ContentMode::Binary, sink, Vec::new())
    }

    /// Structured mode: one `application/cloudevents+json` document with the attributes and
    /// `data` (the JSON payload inline, the XML payload as a JSON string).
    pub fn structured_request(
        &self,
        event: &Event,
        sink: &http::Uri,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let ce = self.event(event);
        self.binding
            .request(ce, ContentMode::Structured, sink, body)
    }

    /// The structured-mode JSON document of `event` into `out`.
    pub fn structured_body(&self, event: &Event, out: &mut Vec<u8>) {
        self.binding.structured(&self.event(event), out);
    }
}

/// `id`: the event key in decimal.
fn id(event: &Event) -> String {
    let mut id = Vec::with_capacity(12);
    gofmt::int(&mut id, event.key());
    String::from_utf8(id).unwrap_or_default()
}

/// `type`: `com.vmware.vsphere.<Type>.v0`.
fn event_type(event: &Event) -> String {
    format!("com.vmware.vsphere.{}.v0", event_type_name(event))
}

/// `time`: `createdTime`, else now.
fn created_time(event: &Event) -> DateTime<Utc> {
    let t = event
        .created_time()
        .unwrap_or_else(vsphere_client::time::DateTime::now);
    let (mut secs, mut nanos) = (t.as_second(), t.subsec_nanosecond());
    if nanos < 0 {
        secs -= 1;
        nanos += 1_000_000_000;
    }
    // Every jiff timestamp is within chrono's range.
    DateTime::from_timestamp(secs, nanos.unsigned_abs()).unwrap_or_default()
}

/// One line of the `encode-file` example: `{"id":…,"type":…,"datacontenttype":…,"data":"…"}`
/// and a newline, with the payload as a JSON string (Go's escaping). `payload` is scratch space.
pub fn encode_line(
    encoder: &EventEncoder,
    event: &Event,
    payload: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    payload.clear();
    encoder.encode_data(event, payload);
    out.extend_from_slice(b"{\"id\":");
    gofmt::json_string(out, &id(event));
    out.extend_from_slice(b",\"type\":");
    gofmt::json_string(out, &event_type(event));
    out.extend_from_slice(b",\"datacontenttype\":");
    match encoder.encoding.content_type() {
        Some(ct) => gofmt::json_string(out, ct),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"data\":");
    gofmt::json_string(out, &String::from_utf8_lossy(payload));
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_exactly() {
        assert_eq!(
            PayloadEncoding::parse("application/json"),
            Ok(PayloadEncoding::ApplicationJson)
        );
        assert!(PayloadEncoding::parse("Application/JSON").is_err());
        let e = PayloadEncoding::parse("text/plain")
            .unwrap_err()
            .to_string();
        assert!(e.contains("text/plain"), "{e}");
        assert_eq!(PayloadEncoding::Unset.content_type(), None);
    }
}
