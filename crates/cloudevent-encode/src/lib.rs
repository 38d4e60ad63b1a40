#![doc = include_str!("../README.md")]
//!
//! ## What is here
//!
//! - [`encode_xml`] / [`encode_json`]: Go's `encoding/xml.Marshal` and `encoding/json.Marshal` of
//!   the govmomi struct, from the decoded model and the type catalogue, written straight into a
//!   byte buffer. Fields govmomi 0.24 knows come out exactly as Go writes them; fields of newer
//!   APIs come after the known fields of their struct, only when vCenter sent them; types and
//!   elements the catalogue does not know are still written (names as received, JSON keys
//!   capitalised).
//! - [`EventEncoder`]: the CloudEvent attributes (`id`, `source`, `type`, `time`,
//!   `datacontenttype`, extensions `eventclass` and `vsphereapiversion`, no `subject`) and the
//!   HTTP binding, binary mode (as the Go adapter sends) or structured mode.
//! - [`CeOverrides`], `K_CE_OVERRIDES` validated at start-up.
//! - [`PayloadEncoding`], the `VSPHERE_PAYLOAD_ENCODING` setting.
//!
//! The goldens in `tests/golden/` are written by `tools/golden-go` (govmomi at the Go project's
//! pinned version); `tests/golden/regenerate.sh` rewrites them.

mod cloudevent;
mod gofmt;
mod json;
mod overrides;
mod plan;
mod walk;
mod xml;

pub use cloudevent::{
    Attributes, ContentMode, EncodingError, EventEncoder, KN_NAMESPACE, PayloadEncoding,
    RequestError, SPEC_VERSION, STRUCTURED_CONTENT_TYPE, encode_line, event_type_name,
    percent_encode,
};
pub use json::{encode_json, encode_json_go_only};
pub use overrides::{CORE_ATTRIBUTES, CeOverrides, OverridesError, RECOMMENDED_MAX_NAME_LEN};
pub use xml::{encode_xml, encode_xml_go_only};

/// The `vsphere-client` crate, whose [`vsphere_client::Event`]s this crate encodes.
pub use vsphere_client;
