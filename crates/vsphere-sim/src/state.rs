//! Server state: sessions and the objects bound to them (event collectors, property
//! collectors, container views), event filters, and the history with its generator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use vsphere_client::MoRef;

use crate::faults::Faults;
use crate::generate::{Generator, mix, uuid_from};
use crate::history::{Entry, History, nanos};
use crate::inventory::Inventory;
use crate::soap::{Fault, Node};

/// vCenter's default limit of event collectors per session (`event.maxCollectors`).
pub const MAX_COLLECTORS: usize = 32;
/// The largest page `ReadNextEvents`, `ReadPreviousEvents` and `SetCollectorPageSize` accept.
pub const MAX_PAGE: i64 = 1000;
/// The default size of a collector's `latestPage`.
pub const DEFAULT_PAGE: usize = 10;

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub username: String,
    pub password: String,
    pub idle_timeout: Duration,
    pub max_collectors: usize,
    pub login_events: bool,
    pub tls: bool,
    pub instance_uuid: String,
    /// Generate [`crate::UNKNOWN_EVENT_TYPE`] events too.
    pub unknown_event_types: bool,
    /// The API release served ([`crate::api::server_release`]).
    pub release: vsphere_client::catalogue::Release,
}

/// A compiled `EventFilterSpec`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    /// Inventory objects selected by the entity filter, and whether events on no entity (the
    /// root folder's) are included.
    pub entity: Option<(u64, bool)>,
    pub begin: Option<i64>,
    pub end: Option<i64>,
    pub users: Option<(Vec<String>, bool)>,
    pub chain: Option<i64>,
    pub categories: Vec<String>,
    pub types: Vec<String>,
    pub type_ids: Vec<String>,
    pub disable_full_message: bool,
}

/// Per-call lookup tables for a filter (kinds and users are interned in the history).
pub(crate) struct Matcher<'a> {
    filter: &'a Filter,
    kinds: Vec<bool>,
    users: Option<Vec<bool>>,
    first_key: i64,
}

impl Filter {
    /// Parse `<filter>` of `CreateCollectorForEvents`.
    pub fn parse(node: &Node, inv: &Inventory) -> Result<Self, Fault> {
        let mut f = Filter::default();
        if let Some(entity) = node.child("entity") {
            let moref = entity
                .child("entity")
                .map(Node::moref)
                .ok_or_else(|| Fault::invalid_argument("filter.entity.entity"))?;
            let recursion = entity.text_of("recursion").unwrap_or("all");
            if !matches!(recursion, "self" | "children" | "all") {
                return Err(Fault::invalid_argument("filter.entity.recursion"));
            }
            let index = inv.find(&moref).ok_or_else(|| Fault::not_found(&moref))?;
            let mask = inv.filter_mask(index, recursion);
            f.entity = Some((mask, mask & Inventory::bit(crate::inventory::ROOT) != 0));
        }
        let time = |name: &str| -> Result<Option<i64>, Fault> {
            match node.child("time").and_then(|t| t.text_of(name)) {
                None => Ok(None),
                Some(text) => vsphere_client::time::parse_xsd_datetime(text)
                    .map(|t| Some(nanos(t)))
                    .map_err(|_| Fault::invalid_argument(&format!("filter.time.{name}"))),
            }
        };
        f.begin = time("beginTime")?;
        f.end = time("endTime")?;
        if let Some(u) = node.child("userName") {
            let list = u
                .children_named("userList")
                .map(|n| n.text.trim().to_owned())
                .collect();
            let system = u.text_of("systemUser") == Some("true");
            f.users = Some((list, system));
        }
        if let Some(c) = node.text_of("eventChainId") {
            f.chain = Some(
                c.parse()
                    .map_err(|_| Fault::invalid_argument("filter.eventChainId"))?,
            );
        }
        f.disable_full_message = node.text_of("disableFullMessage") == Some("true");
        let list = |name: &str| -> Vec<String> {
            node.children_named(name)
                .map(|n| n.text.trim().to_owned())
                .collect()
        };
        f.categories = list("category");
        f.types = list("type");
        f.type_ids = list("eventTypeId");
        Ok(f)
    }

    pub fn matcher<'a>(&'a self, history: &History) -> Matcher<'a> {
        let typed = !self.types.is_empty() || !self.type_ids.is_empty();
        let kinds = history
            .kinds
            .iter()
            .map(|k| {
                let type_ok = !typed
                    || self
                        .type_ids
                        .iter()
                        .any(|id| **id == *k.kind_name || **id == *k.type_name)
                    || self.types.iter().any(|t| {
                        **t == *k.type_name
                            || vsphere_client::catalogue::lookup(&k.type_name)
                                .is_some_and(|ty| ty.is_a(t))
                    });
                let category_ok = self.categories.is_empty()
                    || self.categories.iter().any(|c| **c == *k.category);
                type_ok && category_ok
            })
            .collect();
        let users = self.users.as_ref().map(|(list, system)| {
            history
                .users
                .iter()
                .map(|u| {
                    if u.is_empty() {
                        *system
                    } else {
                        list.iter().any(|l| **l == **u)
                    }
                })
                .collect()
        });
        Matcher {
            filter: self,
            kinds,
            users,
            first_key: history.first_key,
        }
    }

    /// The first history index the filter's time range can include.
    pub fn start_index(&self, history: &History) -> usize {
        match self.begin {
            Some(b) => history.entries.partition_point(|e| e.created < b),
            None => 0,
        }
    }
}

impl Matcher<'_> {
    pub fn matches(&self, index: usize, e: &Entry) -> bool {
        let f = self.filter;
        if f.begin.is_some_and(|b| e.created < b) || f.end.is_some_and(|t| e.created > t) {
            return false;
        }
        if let Some((mask, root)) = f.entity
            && !(e.entities & mask != 0 || (e.entities == 0 && root))
        {
            return false;
        }
        if !self
            .kinds
            .get(usize::from(e.kind))
            .copied()
            .unwrap_or(false)
        {
            return false;
        }
        if let Some(users) = &self.users
            && !users.get(usize::from(e.user)).copied().unwrap_or(false)
        {
            return false;
        }
        if let Some(chain) = f.chain
            && self.first_key + index as i64 != chain
        {
            return false;
        }
        true
    }
}

/// An `EventHistoryCollector`.
#[derive(Debug, Clone)]
pub(crate) struct Collector {
    pub filter: Filter,
    /// The history index forward reads start scanning at.
    pub pos: usize,
    pub page_size: usize,
}

/// A `PropertyFilter` on a collector's `latestPage` (the one thing this simulator watches).
#[derive(Debug, Clone)]
pub(crate) struct PropertyFilter {
    pub obj: MoRef,
    pub paths: Vec<String>,
    /// The key of the newest event in `latestPage` last reported, and the page size then.
    pub reported: Option<(i64, usize)>,
}

/// A `PropertyCollector` (the session's view of the root one, or one it created).
#[derive(Debug, Clone, Default)]
pub(crate) struct PropertyCollector {
    pub filters: HashMap<String, PropertyFilter>,
    pub version: u64,
}

/// A `ContainerView`.
#[derive(Debug, Clone)]
pub(crate) struct ContainerView {
    pub container: usize,
    pub types: Vec<String>,
    pub recursive: bool,
}

/// A session, by cookie.
#[derive(Debug)]
pub(crate) struct Session {
    pub key: String,
    pub user: Option<String>,
    pub login_time: Timestamp,
    pub last_active: Instant,
    pub call_count: i64,
    pub user_agent: String,
    pub collectors: HashMap<String, Collector>,
    pub property_collectors: HashMap<String, PropertyCollector>,
    pub views: HashMap<String, ContainerView>,
}

impl Session {
    /// A reference to a new object bound to this session: `session[<key>]<uuid>`.
    pub fn new_ref(&self, kind: &str, counter: u64) -> MoRef {
        MoRef::new(
            kind,
            format!("session[{}]{}", self.key, uuid_from(mix(counter) ^ 0xC011)),
        )
    }
}

/// Everything a request handler touches.
pub(crate) struct Shared {
    pub settings: Settings,
    pub inventory: Arc<Inventory>,
    pub generator: Generator,
    history: RwLock<History>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Bumped on every append, for `WaitForUpdatesEx`.
    pub changes: tokio::sync::watch::Sender<u64>,
    pub faults: Faults,
    counter: AtomicU64,
    pub requests: AtomicU64,
}

impl Shared {
    /// The user the session with this cookie is logged in as (empty when none).
    pub(crate) fn session_user(&self, cookie: &str) -> String {
        self.sessions()
            .get(cookie)
            .and_then(|s| s.user.clone())
            .unwrap_or_default()
    }

    pub fn new(
        settings: Settings,
        inventory: Arc<Inventory>,
        seed: u64,
        first_key: i64,
        mix: crate::generate::EventMix,
    ) -> Self {
        let generator = Generator::with_mix(inventory.clone(), seed, mix)
            .unknown_event_types(settings.unknown_event_types);
        let (changes, _) = tokio::sync::watch::channel(0);
        Self {
            settings,
            inventory,
            generator,
            history: RwLock::new(History::new(first_key)),
            sessions: Mutex::new(HashMap::new()),
            changes,
            faults: Faults::default(),
            counter: AtomicU64::new(seed),
            requests: AtomicU64::new(0),
        }
    }

    pub fn history(&self) -> RwLockReadGuard<'_, History> {
        self.history.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn history_mut(&self) -> RwLockWriteGuard<'_, History> {
        self.history.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh unique number (ids).
    pub fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh UUID-looking id.
    pub fn new_uuid(&self) -> String {
        let nanos = Timestamp::now().as_nanosecond() as u64;
        uuid_from(self.next_id() ^ nanos.rotate_left(17))
    }

    /// Wake `WaitForUpdatesEx` callers after an append.
    pub fn notify(&self) {
        let len = self.history().entries.len() as u64;
        self.changes.send_replace(len);
    }

    /// Append `n` generated events created at `now` (spaced by a microsecond).
    pub fn generate(&self, n: usize, now: Timestamp) -> Option<(i64, i64)> {
        if n == 0 {
            return None;
        }
        let t = nanos(now);
        let range = {
            let mut h = self.history_mut();
            let first = h.push_generated(&self.generator, t - n as i64 * 1000);
            let mut last = first;
            for i in 1..n {
                last = h.push_generated(&self.generator, t - (n - i) as i64 * 1000);
            }
            (first, last)
        };
        self.notify();
        Some(range)
    }

    /// Append `n` generated events created at `at` (a microsecond apart), even if that is
    /// before the newest event: vCenter's clock stepped back.
    pub fn generate_at(&self, n: usize, at: Timestamp) -> Option<(i64, i64)> {
        if n == 0 {
            return None;
        }
        let t = nanos(at);
        let range = {
            let mut h = self.history_mut();
            let first = h.push_generated_unclamped(&self.generator, t);
            let mut last = first;
            for i in 1..n {
                last = h.push_generated_unclamped(&self.generator, t + i as i64 * 1000);
            }
            (first, last)
        };
        self.notify();
        Some(range)
    }

    /// Append a backlog of `n` events spread over the `span` before `now`.
    pub fn backlog(&self, n: usize, now: Timestamp, span: Duration) {
        if n == 0 {
            return;
        }
        let end = nanos(now);
        let span = i64::try_from(span.as_nanos()).unwrap_or(i64::MAX / 2);
        let step = (span / n as i64).max(1);
        {
            let mut h = self.history_mut();
            let start = end - step * n as i64;
            for i in 0..n {
                h.push_generated(&self.generator, start + step * i as i64);
            }
        }
        self.notify();
    }

    /// Sessions whose idle time is over: remove them. Returns how many.
    pub fn reap_idle(&self) -> usize {
        let timeout = self.idle_timeout();
        let mut sessions = self.sessions();
        let before = sessions.len();
        sessions.retain(|_, s| s.last_active.elapsed() <= timeout);
        before - sessions.len()
    }

    pub fn idle_timeout(&self) -> Duration {
        self.faults
            .idle_timeout_override()
            .unwrap_or(self.settings.idle_timeout)
    }

    /// End sessions: all (`None`) or the one with this key. Returns how many ended.
    pub fn end_sessions(&self, key: Option<&str>) -> usize {
        let mut sessions = self.sessions();
        let before = sessions.len();
        sessions.retain(|_, s| key.is_some_and(|k| s.key != k));
        before - sessions.len()
    }

    /// The keys of the logged-in sessions.
    pub fn session_keys(&self) -> Vec<String> {
        self.sessions()
            .values()
            .filter(|s| s.user.is_some())
            .map(|s| s.key.clone())
            .collect()
    }
}
