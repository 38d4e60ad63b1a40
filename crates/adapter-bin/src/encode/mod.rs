//! Encoding: an event as a CloudEvent, then as what the target sends. Each source has its
//! encoder, which makes a [`cloudevents::Event`] and names the [`HttpBinding`] that writes it:
//! [`vsphere`] (attributes and payloads byte-identical to the Go adapter's, through
//! `cloudevent-encode`) and [`horizon`]. [`outgoing`] writes the event in binary mode (for a
//! sink) or structured mode (a JSON line, for stdout) with `cloudevent-encode`'s binding, the
//! same way for both.

pub mod horizon;
pub mod vsphere;

use bytes::Bytes;
use cloudevent_encode::binding::{ContentMode, HttpBinding};
use cloudevent_encode::cloudevents::{self, AttributesReader as _};
use http::HeaderMap;

/// Turns one source's events into CloudEvents.
pub trait Encode<E>: Send + Sync + 'static {
    /// `event` as a CloudEvent; the error says why it cannot be sent.
    fn event(&self, event: &E) -> Result<cloudevents::Event, Unencodable>;

    /// How this source's CloudEvents are written (time format, member order, `Kn-Namespace`).
    fn binding(&self) -> &HttpBinding;
}

/// A CloudEvent ready to send: HTTP headers (binary mode: `ce-*`, `content-type`; structured
/// mode: `content-type`) and the body.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The CloudEvent `id`.
    pub id: String,
    /// The CloudEvent `type`.
    pub event_type: String,
    /// HTTP headers.
    pub headers: HeaderMap,
    /// The body: the data (binary mode), or the JSON document and a newline (structured mode).
    pub body: Bytes,
    /// When the event was read; set only when tracing is on (its span begins there).
    pub read_at: Option<std::time::SystemTime>,
}

/// Why an event cannot be sent (it is counted and logged, never sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unencodable(pub String);

/// An event encoded for delivery, or why it could not be.
pub type Payload = Result<Outgoing, Unencodable>;

/// `event` encoded in `mode`: binary mode for a sink, structured mode (one JSON line) for
/// stdout.
pub fn outgoing<E>(encoder: &impl Encode<E>, event: &E, mode: ContentMode) -> Payload {
    let ce = encoder.event(event)?;
    let binding = encoder.binding();
    let id = ce.id().to_owned();
    let event_type = ce.ty().to_owned();
    match mode {
        ContentMode::Binary => {
            let (headers, body) = binding
                .binary(ce)
                .map_err(|e| Unencodable(format!("event {id}: {e}")))?;
            Ok(Outgoing {
                id,
                event_type,
                headers,
                body: Bytes::from(body),
                read_at: None,
            })
        }
        ContentMode::Structured => {
            let mut line = Vec::with_capacity(1024);
            binding.structured(&ce, &mut line);
            line.push(b'\n');
            Ok(Outgoing {
                id,
                event_type,
                headers: binding.structured_headers(),
                body: Bytes::from(line),
                read_at: None,
            })
        }
    }
}
