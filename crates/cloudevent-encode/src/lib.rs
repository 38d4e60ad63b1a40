#![doc = include_str!("../README.md")]
//!
//! ## What is here
//!
//! Two jobs, each in its own place:
//!
//! - **The payloads**, govmomi-shaped: [`encode_xml`] / [`encode_json`] are Go's
//!   `encoding/xml.Marshal` and `encoding/json.Marshal` of the govmomi struct, from the decoded
//!   model and the type catalogue, written straight into a byte buffer. Fields govmomi 0.24
//!   knows come out exactly as Go writes them; fields of newer APIs come after the known fields
//!   of their struct, only when vCenter sent them; types and elements the catalogue does not
//!   know are still written (names as received, JSON keys capitalised).
//! - **The CloudEvent**: [`EventEncoder`] makes a vCenter event a [`cloudevents::Event`] (the
//!   CloudEvents SDK's type) with the Go adapter's attributes (`id`, `source`, `type`, `time`,
//!   `datacontenttype`, extensions `eventclass` and `vsphereapiversion`, no `subject`) and its
//!   payload ([`PayloadEncoding`], the `VSPHERE_PAYLOAD_ENCODING` setting). The [`binding`]
//!   writes any `cloudevents::Event` in HTTP binary or structured mode as the Go project sends
//!   it (see there for which bytes differ from the SDK's own writer, and why), with
//!   [`CeOverrides`] (`K_CE_OVERRIDES`, validated at start-up). The Horizon adapter writes its
//!   events with the same binding.
//!
//! The goldens in `tests/golden/` are written by `tools/golden-go` (govmomi at the Go project's
//! pinned version); `tests/golden/regenerate.sh` rewrites them. `CHANGELOG.md` lists the API
//! changes.

pub mod binding;
mod gofmt;
mod json;
mod plan;
mod vsphere;
mod walk;
mod xml;

pub use binding::overrides::{
    CORE_ATTRIBUTES, CeOverrides, OverridesError, RECOMMENDED_MAX_NAME_LEN,
};
pub use binding::{
    ContentMode, KN_NAMESPACE, RequestError, SPEC_VERSION, STRUCTURED_CONTENT_TYPE, percent_encode,
};
pub use json::{encode_json, encode_json_go_only};
pub use vsphere::{EncodingError, EventEncoder, PayloadEncoding, encode_line, event_type_name};
pub use xml::{encode_xml, encode_xml_go_only};

/// The CloudEvents SDK (`cloudevents-sdk`), whose [`cloudevents::Event`] this crate makes and
/// writes.
pub use cloudevents;
/// The `vsphere-client` crate, whose [`vsphere_client::Event`]s this crate encodes.
pub use vsphere_client;
