//! CloudEvent attributes for a vCenter event, and the HTTP binding (binary and structured mode).

use std::borrow::Cow;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use vsphere_client::model::{Event, EventClass};
use vsphere_client::time::DateTime;

use crate::gofmt;
use crate::overrides::CeOverrides;

/// The CloudEvents spec version the adapter sends.
pub const SPEC_VERSION: &str = "1.0";

/// The header the Knative adapter adds with the adapter's namespace.
pub const KN_NAMESPACE: &str = "kn-namespace";

/// The structured-mode media type.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

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

/// How events travel over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentMode {
    /// Attributes as `ce-` headers, the payload as the body (what the Go adapter sends).
    #[default]
    Binary,
    /// One `application/cloudevents+json` document.
    Structured,
}

/// Why a request could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// An attribute or extension value made an invalid header (cannot happen after
    /// percent-encoding; kept for safety).
    #[error("CloudEvent attribute {name} cannot be sent as an HTTP header: {source}")]
    Header {
        /// The attribute name.
        name: String,
        /// The cause.
        #[source]
        source: http::Error,
    },
    /// The request itself (method, URI) was refused by `http`.
    #[error("building the HTTP request for event {id} to {uri}: {source}")]
    Request {
        /// The CloudEvent id.
        id: String,
        /// The sink.
        uri: String,
        /// The cause.
        #[source]
        source: http::Error,
    },
}

/// The CloudEvent attributes of one vCenter event.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes<'a> {
    /// `id`: the event key in decimal.
    pub id: String,
    /// `source`: the vCenter URL as the client normalised it.
    pub source: &'a str,
    /// `type`: `com.vmware.vsphere.<Type>.v0`.
    pub ty: String,
    /// `time`: the event's `createdTime`; the current time for an event without one (the Go
    /// SDK drops a zero time and its client's `WithTimeNow` fills in now).
    pub time: DateTime,
    /// `datacontenttype`.
    pub datacontenttype: Option<&'static str>,
    /// Extensions in sending order: `eventclass`, `vsphereapiversion`, then the ceOverrides
    /// (which replace an extension of the same name).
    pub extensions: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl Attributes<'_> {
    /// `time` as sent: UTC RFC 3339 with nanoseconds, trailing zeros trimmed.
    pub fn time_string(&self) -> String {
        let mut out = Vec::with_capacity(32);
        gofmt::rfc3339_nano(&mut out, self.time);
        String::from_utf8(out).unwrap_or_default()
    }

    /// A context attribute or extension by name, as its string form.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        Some(match name {
            "specversion" => Cow::Borrowed(SPEC_VERSION),
            "id" => Cow::Borrowed(&self.id),
            "source" => Cow::Borrowed(self.source),
            "type" => Cow::Borrowed(&self.ty),
            "time" => Cow::Owned(self.time_string()),
            "datacontenttype" => Cow::Borrowed(self.datacontenttype?),
            _ => {
                return self
                    .extensions
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| Cow::Borrowed(v.as_ref()));
            }
        })
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

/// Turns vCenter events into CloudEvents: attributes, payload, HTTP request.
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
        }
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
        self
    }

    /// Send `Kn-Namespace: <namespace>` (the adapter's `NAMESPACE`).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
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

    /// The CloudEvent attributes of `event`.
    pub fn attributes<'a>(&'a self, event: &Event) -> Attributes<'a> {
        let mut extensions: Vec<(Cow<'a, str>, Cow<'a, str>)> =
            Vec::with_capacity(2 + self.overrides.iter().count());
        extensions.push((
            Cow::Borrowed("eventclass"),
            Cow::Borrowed(event.class().as_str()),
        ));
        extensions.push((
            Cow::Borrowed("vsphereapiversion"),
            Cow::Borrowed(self.api_version.as_str()),
        ));
        for (k, v) in self.overrides.iter() {
            match extensions.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = Cow::Borrowed(v),
                None => extensions.push((Cow::Borrowed(k), Cow::Borrowed(v))),
            }
        }
        let mut id = Vec::with_capacity(12);
        gofmt::int(&mut id, event.key());
        Attributes {
            id: String::from_utf8(id).unwrap_or_default(),
            source: &self.source,
            ty: format!("com.vmware.vsphere.{}.v0", event_type_name(event)),
            time: event.created_time().unwrap_or_else(DateTime::now),
            datacontenttype: self.encoding.content_type(),
            extensions,
        }
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
        mut body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let attrs = self.attributes(event);
        body.clear();
        self.encode_data(event, &mut body);
        let mut req = self.post(&attrs, sink, body)?;
        let headers = req.headers_mut();
        let mut put = |name: &str, value: &str| -> Result<(), RequestError> {
            let header_name =
                HeaderName::try_from(format!("ce-{name}")).map_err(|e| RequestError::Header {
                    name: name.to_owned(),
                    source: e.into(),
                })?;
            let header_value =
                HeaderValue::try_from(percent_encode(value).as_ref()).map_err(|e| {
                    RequestError::Header {
                        name: name.to_owned(),
                        source: e.into(),
                    }
                })?;
            headers.insert(header_name, header_value);
            Ok(())
        };
        put("specversion", SPEC_VERSION)?;
        put("id", &attrs.id)?;
        put("source", attrs.source)?;
        put("type", &attrs.ty)?;
        put("time", &attrs.time_string())?;
        for (k, v) in &attrs.extensions {
            put(k, v)?;
        }
        if let Some(ct) = attrs.datacontenttype {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        tracing::trace!(id = %attrs.id, r#type = %attrs.ty, bytes = req.body().len(), "encoded CloudEvent (binary mode)");
        Ok(req)
    }

    /// Structured mode: one `application/cloudevents+json` document with the attributes and
    /// `data` (the JSON payload inline, the XML payload as a JSON string).
    pub fn structured_request(
        &self,
        event: &Event,
        sink: &http::Uri,
        mut body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let attrs = self.attributes(event);
        body.clear();
        self.structured_body(event, &attrs, &mut body);
        let mut req = self.post(&attrs, sink, body)?;
        req.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(STRUCTURED_CONTENT_TYPE),
        );
        tracing::trace!(id = %attrs.id, r#type = %attrs.ty, bytes = req.body().len(), "encoded CloudEvent (structured mode)");
        Ok(req)
    }

    /// The structured-mode JSON document of `event` into `out`.
    pub fn structured_body(&self, event: &Event, attrs: &Attributes<'_>, out: &mut Vec<u8>) {
        let member = |out: &mut Vec<u8>, k: &str, v: &str| {
            gofmt::json_string(out, k);
            out.push(b':');
            gofmt::json_string(out, v);
            out.push(b',');
        };
        out.push(b'{');
        member(out, "specversion", SPEC_VERSION);
        member(out, "id", &attrs.id);
        member(out, "source", attrs.source);
        member(out, "type", &attrs.ty);
        if let Some(ct) = attrs.datacontenttype {
            member(out, "datacontenttype", ct);
        }
        member(out, "time", &attrs.time_string());
        for (k, v) in &attrs.extensions {
            member(out, k, v);
        }
        out.extend_from_slice(b"\"data\":");
        if self.encoding.is_xml() {
            let mut xml = Vec::with_capacity(4096);
            self.encode_data(event, &mut xml);
            gofmt::json_string(out, &String::from_utf8_lossy(&xml));
        } else {
            self.encode_data(event, out);
        }
        out.push(b'}');
    }

    fn post(
        &self,
        attrs: &Attributes<'_>,
        sink: &http::Uri,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let mut builder = http::Request::post(sink.clone());
        if let Some(ns) = &self.namespace {
            builder = builder.header(KN_NAMESPACE, percent_encode(ns).as_ref());
        }
        builder.body(body).map_err(|source| RequestError::Request {
            id: attrs.id.clone(),
            uri: sink.to_string(),
            source,
        })
    }
}

/// One line of the `encode-file` example: `{"id":…,"type":…,"datacontenttype":…,"data":"…"}`
/// and a newline, with the payload as a JSON string (Go's escaping). `payload` is scratch space.
pub fn encode_line(
    encoder: &EventEncoder,
    event: &Event,
    payload: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    let attrs = encoder.attributes(event);
    payload.clear();
    encoder.encode_data(event, payload);
    out.extend_from_slice(b"{\"id\":");
    gofmt::json_string(out, &attrs.id);
    out.extend_from_slice(b",\"type\":");
    gofmt::json_string(out, &attrs.ty);
    out.extend_from_slice(b",\"datacontenttype\":");
    match attrs.datacontenttype {
        Some(ct) => gofmt::json_string(out, ct),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"data\":");
    gofmt::json_string(out, &String::from_utf8_lossy(payload));
    out.extend_from_slice(b"}\n");
}

/// Percent-encode a header value as the CloudEvents HTTP binding requires: space, `"`, `%` and
/// everything outside U+0021..U+007E, as `%XX` of the UTF-8 bytes (upper-case hex).
pub fn percent_encode(value: &str) -> Cow<'_, str> {
    let needs = |b: u8| b == b' ' || b == b'"' || b == b'%' || !(0x21..=0x7e).contains(&b);
    if !value.bytes().any(needs) {
        return Cow::Borrowed(value);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len() + 8);
    for b in value.bytes() {
        if needs(b) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push(char::from(b));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_follows_the_binding() {
        assert_eq!(percent_encode("https://vc/sdk"), "https://vc/sdk");
        assert_eq!(percent_encode("a b\"c%d"), "a%20b%22c%25d");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

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
