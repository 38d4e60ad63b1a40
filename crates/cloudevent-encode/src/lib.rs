//! vCenter events as CloudEvents, with payloads byte-identical to the Go adapter's
//! (vmware-tanzu/sources-for-knative).
//!
//! ```
//! use cloudevent_encode::{CeOverrides, EventEncoder, PayloadEncoding};
//! use vsphere_client::decode::decode_events;
//!
//! let page = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
//!   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
//!   <ReadNextEventsResponse xmlns="urn:vim25"><returnval xsi:type="VmPoweredOffEvent">
//!   <key>28</key><chainId>28</chainId><createdTime>2026-11-27T02:47:56.344661454Z</createdTime>
//!   <userName>user</userName><vm><name>VM0</name><vm type="VirtualMachine">vm-57</vm></vm>
//!   <fullFormattedMessage>VM0 is powered off</fullFormattedMessage><template>false</template>
//!   </returnval></ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#;
//! let events = decode_events(page.as_bytes()).unwrap();
//!
//! // Once per adapter: K_CE_OVERRIDES, VSPHERE_PAYLOAD_ENCODING, the vCenter URL and API version.
//! let overrides = CeOverrides::from_json(r#"{"extensions":{"team":"ops"}}"#).unwrap();
//! let encoder = EventEncoder::new("https://vc.example.com/sdk", "8.0.3.0",
//!                                 PayloadEncoding::parse("application/json").unwrap())
//!     .with_overrides(overrides)
//!     .with_namespace("default");
//!
//! // Per event: a request for the sink, the body buffer reused across events.
//! let sink: http::Uri = "http://broker-ingress.knative-eventing.svc/default/default".parse().unwrap();
//! let req = encoder.request(&events[0], &sink, Vec::with_capacity(4096)).unwrap();
//! assert_eq!(req.headers()["ce-type"], "com.vmware.vsphere.VmPoweredOffEvent.v0");
//! assert_eq!(req.headers()["ce-id"], "28");
//! assert_eq!(req.headers()["ce-eventclass"], "event");
//! assert_eq!(req.headers()["ce-team"], "ops");
//! assert_eq!(req.headers()["content-type"], "application/json");
//! assert!(req.body().starts_with(br#"{"Key":28,"ChainId":28,"CreatedTime":"2026-11-27T02:47:56.344661454Z""#));
//!
//! // Or just a payload, into a reusable buffer:
//! let mut buf = Vec::new();
//! cloudevent_encode::encode_xml(events[0].object(), &mut buf);
//! assert!(buf.starts_with(b"<VmPoweredOffEvent><key>28</key>"));
//! ```
//!
//! The `http::Request<Vec<u8>>` converts into a reqwest 0.13 request with
//! `reqwest::Request::try_from(req)`.
//!
//! What is in here:
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
