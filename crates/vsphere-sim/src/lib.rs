//! A vCenter event-API simulator: the SOAP calls an event source uses, with vCenter's
//! semantics, realistic events from the vim25 catalogue, backlogs of millions of events in
//! little memory, and fault injection on cue.
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
//! What it serves: `RetrieveServiceContent`, `Login`, `Logout`, `CurrentTime`,
//! `SessionIsActive`, `TerminateSession`, `CreateCollectorForEvents` (time, entity,
//! `eventTypeId`, `type`, category, user and chain filters), `ReadNextEvents`,
//! `ReadPreviousEvents`, `SetCollectorPageSize`, `RewindCollector`, `ResetCollector`,
//! `DestroyCollector`, `PostEvent`, `LogUserEvent`, `CreatePropertyCollector`, `CreateFilter`
//! and `WaitForUpdatesEx` on a collector's `latestPage`, `DestroyPropertyFilter`,
//! `DestroyPropertyCollector`, `CreateContainerView`, `DestroyView` and
//! `RetrieveProperties(Ex)` for the small [`inventory`] (names, parents, power state, host).
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
//! `ExtendedEvent`, user events, and [`UNKNOWN_EVENT_TYPE`], a type the catalogue does not know.
//! Entity arguments come from the [`inventory`]. [`EventMix::Compact`] makes small events only,
//! for throughput benchmarks.
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
mod props;
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
