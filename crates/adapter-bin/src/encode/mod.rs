//! Encoding: an event as a CloudEvent for the target, binary-mode HTTP for a sink or a
//! structured JSON line for stdout. Each source has its encoder: [`vsphere`] (payloads
//! byte-identical to the Go adapter's, through `cloudevent-encode`) and [`horizon`].

pub mod horizon;
pub mod vsphere;

use crate::deliver::{Outgoing, Payload, Target};

/// Turns one source's events into CloudEvents.
pub trait Encode<E>: Send + Sync + 'static {
    /// Binary-mode HTTP headers and body; the error says why the event cannot be sent.
    fn http(&self, event: &E) -> Result<Outgoing, String>;

    /// A structured-mode CloudEvent as one JSON line (with its newline), appended to `out`.
    fn line(&self, event: &E, out: &mut Vec<u8>);
}

/// `event` encoded for `target`.
pub fn payload<E>(encoder: &impl Encode<E>, event: &E, target: &Target) -> Payload {
    if target.is_stdout() {
        let mut line = Vec::with_capacity(1024);
        encoder.line(event, &mut line);
        Payload::Line(line)
    } else {
        match encoder.http(event) {
            Ok(outgoing) => Payload::Http(outgoing),
            Err(why) => Payload::Unencodable(why),
        }
    }
}
