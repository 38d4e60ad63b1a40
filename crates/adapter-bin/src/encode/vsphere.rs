//! vCenter events as CloudEvents, through `cloudevent-encode` (the Go adapter's attributes and
//! payloads, byte for byte).

use bytes::Bytes;
use cloudevent_encode::EventEncoder;
use vsphere_client::Event;

use super::Encode;
use crate::deliver::Outgoing;

/// The vSphere adapter's encoder.
#[derive(Debug)]
pub struct VsphereEncoder {
    encoder: EventEncoder,
    /// The request URI is the sink's; the encoder needs one to build a request.
    placeholder: http::Uri,
}

impl VsphereEncoder {
    /// Wrap a configured `cloudevent-encode` encoder.
    pub fn new(encoder: EventEncoder) -> Self {
        Self {
            encoder,
            placeholder: http::Uri::from_static("http://sink.invalid/"),
        }
    }
}

impl Encode<Event> for VsphereEncoder {
    fn http(&self, event: &Event) -> Result<Outgoing, String> {
        // Only header values from ceOverrides can fail here, and they were validated.
        let request = self
            .encoder
            .request(event, &self.placeholder, Vec::with_capacity(4096))
            .map_err(|e| format!("event {}: {e}", event.key()))?;
        let (parts, payload) = request.into_parts();
        Ok(Outgoing {
            id: event.key().to_string(),
            event_type: event.kind_name().to_owned(),
            headers: parts.headers,
            body: Bytes::from(payload),
        })
    }

    fn line(&self, event: &Event, out: &mut Vec<u8>) {
        let attrs = self.encoder.attributes(event);
        self.encoder.structured_body(event, &attrs, out);
        out.push(b'\n');
    }
}
