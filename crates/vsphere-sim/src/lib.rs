//! A vCenter event-API simulator: the SOAP calls an event source uses, with vCenter's
//! semantics, realistic events from the vim25 catalogue, backlogs of millions of events in
//! little memory, and fault injection on cue. It is also a tool to point your own vSphere
//! clients at: pyVmomi's `SmartConnect` and `govc` work against it (see below).
//!
//! In a test, start it in-process on a free port and point `vsphere-client` at it:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use vsphere_client::{Client, Credentials};
//! use vsphere_client::events::{EventFilterSpec, Recursion};
//! use vsphere_sim::{Failure, Simulator};
//!
//! let sim = Simulator::builder().backlog(10_000).rate(5.0).start().await?;
//! let client = Client::builder(sim.url())
//!     .credentials(Credentials::new(sim.username(), sim.password()))
//!     .connect()
//!     .await?;
//! let root = client.service_content().root_folder.clone();
//! let collector = client
//!     .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All))
//!     .await?;
//! let page = collector.read_next(1000).await?;          // the oldest 1000, ascending keys
//! sim.faults().fail_next(2, Failure::Unavailable);      // the next two calls get HTTP 503
//! sim.expire_sessions();                                // the client must log in again
//! # let _ = page; Ok(()) }
//! ```
//!
//! From a shell: `vsphere-sim --listen 127.0.0.1:8989 --backlog 100000 --rate 10 --tls`, then
//! `VC_URL=https://127.0.0.1:8989/sdk` with user `administrator@vsphere.local`, password
//! `VMware1!`. `vsphere-sim --help` lists the fault switches; a running simulator also takes
//! faults over HTTP (`POST /sim/fail?count=3&with=503`, see [`server`]).
//!
//! ## Pointing pyVmomi or govc at it
//!
//! `vsphere-sim --tls --cert-out sim.pem --backlog 100000` serves on `127.0.0.1:8989`; then
//!
//! ```text
//! # pyVmomi
//! si = SmartConnect(host="127.0.0.1", port=8989, user="administrator@vsphere.local",
//!                   pwd="VMware1!", sslContext=ssl.create_default_context(cafile="sim.pem"))
//! # govc
//! GOVC_URL=https://127.0.0.1:8989/sdk GOVC_USERNAME=administrator@vsphere.local \
//!   GOVC_PASSWORD='VMware1!' GOVC_TLS_CA_CERTS=sim.pem govc events -n 10
//! ```
//!
//! As vCenter does, it serves `GET /sdk/vimServiceVersions.xml` (its API release, 8.0.3.0, and
//! every older one down to 4.0; `SmartConnect` picks from it, and `govc -vim-version -` reads
//! it) and `/sdk/vimService.wsdl`, and answers every request in the API release the request
//! names (`SOAPAction: "urn:vim25/6.7"`): types that release lacks are sent as their nearest
//! ancestor it has, fields it lacks are left out, so a client pinned to an old release never
//! meets a type or field it cannot read ([`api`]). pyVmomi reads properties with `Fetch`, and
//! govc checks its cached session with `SessionManager.currentSession` and prints event
//! categories from `EventManager.description`: both are served.
//!
//! What it serves: `RetrieveServiceContent`, `Login`, `Logout`, `CurrentTime`,
//! `SessionIsActive`, `TerminateSession`, `CreateCollectorForEvents` (time, entity,
//! `eventTypeId`, `type`, category, user and chain filters), `ReadNextEvents`,
//! `ReadPreviousEvents`, `SetCollectorPageSize`, `RewindCollector`, `ResetCollector`,
//! `DestroyCollector`, `PostEvent`, `LogUserEvent`, `CreatePropertyCollector`, `CreateFilter`
//! and `WaitForUpdatesEx` on a collector's `latestPage`, `DestroyPropertyFilter`,
//! `DestroyPropertyCollector`, `CreateContainerView`, `DestroyView`, and
//! `RetrieveProperties(Ex)` and `Fetch` for the small [`inventory`] (names, parents, power
//! state, host) and for `ServiceInstance` (`content`, `serverClock`), `SessionManager`
//! (`currentSession`, `sessionList`, `defaultLocale`), `EventManager` (`description`,
//! `latestEvent`, `maxCollector`) and the session's collectors (`latestPage`).
//!
//! vCenter's semantics, where vcsim takes shortcuts:
//! - the history is append-only with ascending keys and is never pruned; a collector's view is
//!   the history filtered, including events that arrive after it was created;
//! - `beginTime` and `endTime` are inclusive; pages are 1 to 1000 events (`InvalidArgument`
//!   otherwise); at most 32 collectors per session (`InvalidState`);
//! - collectors, property collectors and views belong to the session that made them
//!   (`session[<key>]<id>`); another session's, or a destroyed one, is `ManagedObjectNotFound`;
//! - sessions expire after the idle timeout (30 min by default) and every call on a lost session
//!   fails with `NotAuthenticated` exactly as vCenter writes it (HTTP 500,
//!   `<NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated">` in `<detail>`);
//! - the session cookie is `vmware_soap_session`, quoted, with `Path=/; HttpOnly` (and
//!   `Secure` over TLS), set on the first contact and on `Login`;
//! - logins and logouts are recorded as `UserLoginSessionEvent`/`UserLogoutSessionEvent`.
//!
//! Events: [`EventMix::Realistic`] (the default) draws from [`TEMPLATES`]: VM power, create
//! (with a config spec and device changes), reconfigure, migrate, rename and failed power-on
//! (with a `LocalizedMethodFault`) events, host connection events, logins and logouts, alarm
//! status changes, task events, `EventEx` with arguments of every XML Schema type,
//! `ExtendedEvent` and user events. Entity arguments come from the [`inventory`].
//! [`EventMix::Compact`] makes small events only, for throughput benchmarks. With
//! [`SimulatorBuilder::unknown_event_types`] (`--unknown-event-types`) the realistic mix also
//! has [`UNKNOWN_EVENT_TYPE`], a type no vSphere release has, with fields nobody knows: to see
//! how a client takes a newer vCenter's events (pyVmomi fails on it, which is why it is off
//! by default).
//!
//! Memory: a generated event is a 24-byte entry and is rebuilt from its key on every read
//! (the same key always gives the same event); posted events are kept as their XML. A backlog
//! of 1,000,000 events holds 24 MiB of history; the binary's resident set is about 35 MiB
//! (`crates/vsphere-sim/scripts/measure-rss.sh`).

pub mod api;
pub mod error;
pub mod faults;
pub mod generate;
mod history;
pub mod inventory;
mod methods;
pub mod server;
mod soap;
mod state;
mod tls;

pub use api::SERVER_API_VERSION;
pub use error::SimError;
pub use faults::{Failure, Faults};
pub use generate::{EventMix, TEMPLATES, Template, UNKNOWN_EVENT_TYPE, event_category};
pub use server::{Simulator, SimulatorBuilder, Tls};
pub use state::{DEFAULT_PAGE, MAX_COLLECTORS, MAX_PAGE};
