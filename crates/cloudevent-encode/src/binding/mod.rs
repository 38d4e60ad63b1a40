//! The CloudEvents HTTP binding for any event: binary and structured mode, written from the
//! CloudEvents SDK's [`Event`] (`cloudevents-sdk`, re-exported as [`crate::cloudevents`]).
//!
//! Whatever makes the event (the [vCenter encoder](crate::EventEncoder), the Horizon adapter's
//! encoder, or any program), an [`HttpBinding`] configured once writes it:
//!
//! ```
//! use cloudevent_encode::binding::{HttpBinding, TimeFormat};
//! use cloudevent_encode::cloudevents::{EventBuilder, EventBuilderV10};
//!
//! let event = EventBuilderV10::new()
//!     .id("42")
//!     .source("https://horizon.example.com")
//!     .ty("com.vmware.horizon.vlsi_userloggedin.v0")
//!     .time("2021-07-27T07:12:19.490Z")
//!     .extension("team", "ops team")
//!     .data("application/json", br#"{"id":42}"#.to_vec())
//!     .build()
//!     .unwrap();
//! let binding = HttpBinding::new()
//!     .with_time_format(TimeFormat::Millis)
//!     .with_namespace("default");
//!
//! // Binary mode: the attributes as `ce-` headers, the data as the body.
//! let (headers, body) = binding.binary(event.clone()).unwrap();
//! assert_eq!(headers["ce-time"], "2021-07-27T07:12:19.490Z");
//! assert_eq!(headers["ce-team"], "ops%20team");
//! assert_eq!(headers["kn-namespace"], "default");
//! assert_eq!(headers["content-type"], "application/json");
//! assert_eq!(body, br#"{"id":42}"#);
//!
//! // Structured mode: one JSON document (JSON data inline).
//! let mut doc = Vec::new();
//! binding.structured(&event, &mut doc);
//! assert!(doc.starts_with(br#"{"specversion":"1.0","id":"42","#));
//! assert!(doc.ends_with(br#","data":{"id":42}}"#));
//! ```
//!
//! ## Why this writer and not the SDK's
//!
//! The SDK's own writer (`http::Request::try_from(Event)` with its `http-binding` feature, and
//! its `serde` structured form) would change bytes the Go project sends:
//!
//! - **`time`**: the SDK writes chrono's `to_rfc3339()`, `2026-03-21T09:00:07.250+00:00`; the Go
//!   SDK writes `time.RFC3339Nano` in UTC, `2026-03-21T09:00:07.25Z` (up to nine digits,
//!   trailing zeros trimmed). [`TimeFormat::GoRfc3339Nano`] writes Go's form;
//!   [`TimeFormat::Millis`] three digits always (the Horizon adapter's `time`).
//! - **Attribute order**: the SDK keeps extensions in a `HashMap`, so its headers and members
//!   come in a different order in every process. This writer writes the context attributes in
//!   the Go SDK's order (`specversion`, `id`, `source`, `type`, `datacontenttype`, `dataschema`,
//!   `subject`, `time`), then the extensions named by [`HttpBinding::with_extensions_first`] in
//!   that order, then the others by name, then `data`.
//! - **Header values**: the SDK copies values into headers as they are, and fails on non-ASCII;
//!   the HTTP binding (and the Go SDK) percent-encode space, `"`, `%` and every byte outside
//!   U+0021..U+007E ([`percent_encode`]).
//! - **Structured `data`**: JSON data given as bytes (`Data::Binary` with a JSON
//!   `datacontenttype`, or none) is written inline as it is, not as `data_base64`: the vCenter
//!   payloads are JSON text exactly as Go's `encoding/json` writes it, which a
//!   `serde_json::Value` would reorder and re-escape. Text data (`Data::String`) is a JSON
//!   string; other bytes are `data_base64`.
//! - **String escaping**: [`JsonFormat::Go`] escapes as Go's `encoding/json` (`<`, `>`, `&`,
//!   U+2028 and U+2029 as `\u…`); [`JsonFormat::Sorted`] writes members sorted by name, escaped
//!   as `serde_json` does (the Horizon adapter's stdout lines).
//!
//! Kubernetes' `Kn-Namespace` header, which Knative adapters add to every request, is written
//! too when [`HttpBinding::with_namespace`] sets it.

use std::borrow::Cow;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use cloudevents::Event;
use cloudevents::event::{AttributesReader, Data, ExtensionValue, SpecVersion};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::gofmt::{self, Fraction};

pub mod overrides;

/// The CloudEvents spec version the adapters send.
pub const SPEC_VERSION: &str = "1.0";

/// The header Knative adapters add with the adapter's namespace.
pub const KN_NAMESPACE: &str = "kn-namespace";

/// The structured-mode media type.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// How events travel over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentMode {
    /// Attributes as `ce-` headers, the data as the body (what the Go adapter sends).
    #[default]
    Binary,
    /// One `application/cloudevents+json` document.
    Structured,
}

/// How `time` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// Go's `time.RFC3339Nano` in UTC, what the Go SDK sends: up to nine fractional digits,
    /// trailing zeros trimmed, none for a whole second, `Z`.
    #[default]
    GoRfc3339Nano,
    /// RFC 3339 in UTC with exactly three fractional digits (milliseconds) and `Z`.
    Millis,
}

/// How structured mode lays out and escapes its JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonFormat {
    /// The Go SDK's member order (context attributes, extensions, `data`), strings escaped as
    /// Go's `encoding/json` writes them.
    #[default]
    Go,
    /// Members sorted by name, strings escaped as `serde_json` writes them.
    Sorted,
}

/// Why an event could not be written as an HTTP request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// An attribute or extension made an invalid header (a name outside the HTTP token
    /// characters; values cannot fail after percent-encoding).
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

/// Writes CloudEvents in HTTP binary or structured mode; configure once, share freely.
#[derive(Debug, Clone, Default)]
pub struct HttpBinding {
    time: TimeFormat,
    json: JsonFormat,
    extensions_first: Vec<String>,
    /// `Kn-Namespace`, percent-encoded.
    namespace: Option<HeaderValue>,
}

/// An attribute, extension or the data, before it is written.
enum Value<'a> {
    Text(Cow<'a, str>),
    Extension(&'a ExtensionValue),
    /// The event's data (`data` or `data_base64`).
    Data,
}

impl HttpBinding {
    /// Go's time format and JSON, extensions by name, no `Kn-Namespace`.
    pub fn new() -> Self {
        Self::default()
    }

    /// How `time` is written.
    pub fn with_time_format(mut self, time: TimeFormat) -> Self {
        self.time = time;
        self
    }

    /// How structured mode writes its document.
    pub fn with_json_format(mut self, json: JsonFormat) -> Self {
        self.json = json;
        self
    }

    /// Write these extensions first, in this order (when the event has them); the others
    /// follow by name.
    pub fn with_extensions_first<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extensions_first = names.into_iter().map(Into::into).collect();
        self
    }

    /// Send `Kn-Namespace: <namespace>` with every request (the adapter's `NAMESPACE`).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace: String = namespace.into();
        // Percent-encoded, any text is a valid header value.
        self.namespace = HeaderValue::try_from(percent_encode(&namespace).as_ref()).ok();
        self
    }

    /// `time` as this binding writes it.
    pub fn time_string(&self, time: &DateTime<Utc>) -> String {
        let mut out = Vec::with_capacity(32);
        self.write_time(&mut out, time);
        String::from_utf8(out).unwrap_or_default()
    }

    fn write_time(&self, out: &mut Vec<u8>, time: &DateTime<Utc>) {
        let fraction = match self.time {
            TimeFormat::GoRfc3339Nano => Fraction::GoTrimmed,
            TimeFormat::Millis => Fraction::Millis,
        };
        gofmt::rfc3339(
            out,
            time.timestamp(),
            i64::from(time.timestamp_subsec_nanos()),
            fraction,
        );
    }

    /// The context attributes in writing order, then the extensions.
    fn attributes<'a>(&'a self, event: &'a Event) -> Vec<(&'a str, Value<'a>)> {
        let text = |s: &'a str| Value::Text(Cow::Borrowed(s));
        let mut out: Vec<(&'a str, Value<'a>)> = Vec::with_capacity(16);
        out.push(("specversion", text(spec_version(&event.specversion()))));
        out.push(("id", text(event.id())));
        out.push(("source", text(event.source().as_str())));
        out.push(("type", text(event.ty())));
        if let Some(ct) = event.datacontenttype() {
            out.push(("datacontenttype", text(ct)));
        }
        if let Some(schema) = event.dataschema() {
            out.push(("dataschema", text(schema.as_str())));
        }
        if let Some(subject) = event.subject() {
            out.push(("subject", text(subject)));
        }
        if let Some(time) = event.time() {
            out.push(("time", Value::Text(Cow::Owned(self.time_string(time)))));
        }
        for name in &self.extensions_first {
            if let Some(value) = event.extension(name) {
                out.push((name.as_str(), Value::Extension(value)));
            }
        }
        let first = out.len();
        out.extend(
            event
                .iter_extensions()
                .filter(|(name, _)| !self.extensions_first.iter().any(|f| f == name))
                .map(|(name, value)| (name, Value::Extension(value))),
        );
        out[first..].sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Binary-mode headers of `event`: `ce-` attributes and extensions (percent-encoded),
    /// `Kn-Namespace`, and `Content-Type` = `datacontenttype`.
    pub fn headers(&self, event: &Event) -> Result<HeaderMap, RequestError> {
        let mut headers = HeaderMap::with_capacity(12);
        for (name, value) in self.attributes(event) {
            if name == "datacontenttype" {
                continue;
            }
            let text: Cow<'_, str> = match &value {
                Value::Text(t) => Cow::Borrowed(t.as_ref()),
                Value::Extension(ExtensionValue::String(s)) => Cow::Borrowed(s.as_str()),
                Value::Extension(other) => Cow::Owned(other.to_string()),
                Value::Data => continue,
            };
            let header_err = |source: http::Error| RequestError::Header {
                name: name.to_owned(),
                source,
            };
            let header_name = match (&value, core_header(name)) {
                (Value::Text(_), Some(core)) => core,
                _ => {
                    HeaderName::try_from(format!("ce-{name}")).map_err(|e| header_err(e.into()))?
                }
            };
            let header_value = HeaderValue::try_from(percent_encode(&text).as_ref())
                .map_err(|e| header_err(e.into()))?;
            headers.insert(header_name, header_value);
        }
        if let Some(value) = self.namespace_header() {
            headers.insert(KN_NAMESPACE, value);
        }
        if let Some(ct) = event.datacontenttype() {
            let value = HeaderValue::try_from(ct).map_err(|e| RequestError::Header {
                name: "datacontenttype".to_owned(),
                source: e.into(),
            })?;
            headers.insert(CONTENT_TYPE, value);
        }
        Ok(headers)
    }

    /// Binary mode: the [headers](Self::headers) and the data as the body (moved out of
    /// `event`, not copied).
    pub fn binary(&self, mut event: Event) -> Result<(HeaderMap, Vec<u8>), RequestError> {
        let headers = self.headers(&event)?;
        let body = match event.take_data().2 {
            None => Vec::new(),
            Some(Data::Binary(bytes)) => bytes,
            Some(Data::String(text)) => text.into_bytes(),
            Some(Data::Json(value)) => serde_json::to_vec(&value).unwrap_or_default(),
        };
        tracing::trace!(bytes = body.len(), "encoded CloudEvent (binary mode)");
        Ok((headers, body))
    }

    /// The headers of a structured-mode request: `Content-Type:
    /// application/cloudevents+json`, and `Kn-Namespace` when set.
    pub fn structured_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(2);
        if let Some(value) = self.namespace_header() {
            headers.insert(KN_NAMESPACE, value);
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(STRUCTURED_CONTENT_TYPE),
        );
        headers
    }

    fn namespace_header(&self) -> Option<HeaderValue> {
        self.namespace.clone()
    }

    /// Structured mode: `event` as one JSON document, appended to `out`.
    pub fn structured(&self, event: &Event, out: &mut Vec<u8>) {
        let mut members = self.attributes(event);
        if let Some(data) = event.data() {
            let name = match data {
                Data::Binary(_) if !event.datacontenttype().is_none_or(is_json) => "data_base64",
                _ => "data",
            };
            members.push((name, Value::Data));
        }
        if self.json == JsonFormat::Sorted {
            members.sort_by(|a, b| a.0.cmp(b.0));
        }
        out.push(b'{');
        for (i, (name, value)) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.write_string(out, name);
            out.push(b':');
            match value {
                Value::Text(t) => self.write_string(out, t),
                Value::Extension(ExtensionValue::String(s)) => self.write_string(out, s),
                Value::Extension(ExtensionValue::Boolean(b)) => {
                    out.extend_from_slice(if *b { b"true" } else { b"false" })
                }
                Value::Extension(ExtensionValue::Integer(n)) => gofmt::int(out, *n),
                Value::Data => self.write_data(event, out),
            }
        }
        out.push(b'}');
    }

    /// The value of `data` (or `data_base64`).
    fn write_data(&self, event: &Event, out: &mut Vec<u8>) {
        match event.data() {
            None => out.extend_from_slice(b"null"),
            Some(Data::Json(value)) => {
                let _ = serde_json::to_writer(&mut *out, value);
            }
            Some(Data::String(text)) => self.write_string(out, text),
            // JSON text given as bytes: inline, as it is.
            Some(Data::Binary(bytes)) if event.datacontenttype().is_none_or(is_json) => {
                out.extend_from_slice(bytes);
            }
            Some(Data::Binary(bytes)) => {
                out.push(b'"');
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(bytes)
                        .as_bytes(),
                );
                out.push(b'"');
            }
        }
    }

    fn write_string(&self, out: &mut Vec<u8>, s: &str) {
        match self.json {
            JsonFormat::Go => gofmt::json_string(out, s),
            JsonFormat::Sorted => {
                let _ = serde_json::to_writer(&mut *out, s);
            }
        }
    }

    /// An HTTP request for `event` to `sink` in `mode`. In structured mode `body` is a buffer to
    /// reuse (cleared first); in binary mode the event's data becomes the body.
    pub fn request(
        &self,
        event: Event,
        mode: ContentMode,
        sink: &http::Uri,
        mut body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, RequestError> {
        let id = event.id().to_owned();
        let (headers, body) = match mode {
            ContentMode::Binary => self.binary(event)?,
            ContentMode::Structured => {
                body.clear();
                self.structured(&event, &mut body);
                (self.structured_headers(), body)
            }
        };
        let mut req = http::Request::post(sink.clone())
            .body(body)
            .map_err(|source| RequestError::Request {
                id,
                uri: sink.to_string(),
                source,
            })?;
        *req.headers_mut() = headers;
        Ok(req)
    }
}

/// The header of a context attribute, without building its name.
fn core_header(name: &str) -> Option<HeaderName> {
    Some(HeaderName::from_static(match name {
        "specversion" => "ce-specversion",
        "id" => "ce-id",
        "source" => "ce-source",
        "type" => "ce-type",
        "dataschema" => "ce-dataschema",
        "subject" => "ce-subject",
        "time" => "ce-time",
        _ => return None,
    }))
}

fn spec_version(v: &SpecVersion) -> &'static str {
    match v {
        SpecVersion::V03 => "0.3",
        SpecVersion::V10 => SPEC_VERSION,
    }
}

/// Whether a `datacontenttype` is JSON (`application/json`, `text/json`, `…+json`).
fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.starts_with("application/json")
        || media.starts_with("text/json")
        || media.ends_with("+json")
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
}
