//! vCenter events as CloudEvents, through `cloudevent-encode` (the Go adapter's attributes and
//! payloads, byte for byte).

use cloudevent_encode::EventEncoder;
use cloudevent_encode::binding::HttpBinding;
use cloudevent_encode::cloudevents;
use vsphere_client::Event;

use super::{Encode, Unencodable};

/// The vSphere adapter's encoder.
#[derive(Debug)]
pub struct VsphereEncoder {
    encoder: EventEncoder,
}

impl VsphereEncoder {
    /// Wrap a configured `cloudevent-encode` encoder.
    pub fn new(encoder: EventEncoder) -> Self {
        Self { encoder }
    }
}

impl Encode<Event> for VsphereEncoder {
    fn event(&self, event: &Event) -> Result<cloudevents::Event, Unencodable> {
        Ok(self.encoder.event(event))
    }

    fn binding(&self) -> &HttpBinding {
        self.encoder.binding()
    }
}
