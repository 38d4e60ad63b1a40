//! [`EventStream`] and its [`Position`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use jiff::Timestamp;
use tracing::{debug, info, warn};

use crate::catalogue::{self, Kind};
use crate::client::Client;
use crate::decode::{decode_events_lenient, type_index, values_to_events};
use crate::error::Error;
use crate::events::collector::{EventCollector, LatestPageWatch};
use crate::events::{Entity, EventCategories, EventSelection};
use crate::model::{DataObject, Event, Field, FieldName, MoRef, TypeRef, Value};

/// How far a stream got: the last event handed out (or the begin time before any).
///
/// Events created before `time` were read; at `time`, those with keys up to `key` (in key order,
/// wrap-aware) were read too. Save it to resume after a restart ([`EventStreamBuilder`] takes
/// it back); it maps to the Go adapter's checkpoint (`lastEventKeyTimestamp`, `lastEventKey`).
///
/// It serialises as `{"time":"2026-11-27T10:00:00Z","key":41}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The creation time of the last event read, or where reading begins.
    pub time: Timestamp,
    /// The key of the last event read at `time`, if known.
    pub key: Option<i64>,
}

impl Position {
    /// Begin at `time`, with nothing read yet.
    pub fn at(time: Timestamp) -> Self {
        Self { time, key: None }
    }

    /// Right after `event`: where to resume once it is handled (`None` for an event without
    /// `createdTime`, which vCenter always sets). With [`EventStream::into_stream`], save this
    /// per event instead of [`EventStream::position`].
    pub fn after(event: &Event) -> Option<Self> {
        Some(Self {
            time: event.created_time()?,
            key: Some(event.key()),
        })
    }

    /// Whether an event created at `created` with `key` is at or before this position (was
    /// already read). Events of the same second are told apart by key, serial-number style:
    /// vCenter's keys are `int32` and wrap.
    pub fn covers(&self, created: Timestamp, key: i64) -> bool {
        if created < self.time {
            return true;
        }
        match self.key {
            Some(last) if created == self.time => key_at_or_before(key, last),
            _ => false,
        }
    }
}

/// vCenter event keys are `int32` and can wrap: compare them as serial numbers.
pub(crate) fn key_at_or_before(key: i64, last: i64) -> bool {
    let diff = (last as i32).wrapping_sub(key as i32);
    diff >= 0
}

/// What the stream went through, for metrics and health (see [`EventStreamBuilder::observe`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Signal<'a> {
    /// vCenter answered a read: the source is healthy.
    Up,
    /// A call failed; the stream retries after `retry_in`.
    Down {
        /// What failed.
        error: &'a Error,
        /// When the stream tries again.
        retry_in: Duration,
    },
    /// The client logged in again after losing its session.
    Relogin,
    /// A new event collector was created (at start, after a lost session or a lost answer).
    CollectorCreated,
    /// An event could not be decoded strictly; it is handed out as well as it could be read.
    Undecodable {
        /// Its key.
        key: i64,
        /// Why strict decoding failed.
        error: &'a str,
    },
}

type Observer = Arc<dyn Fn(&Signal<'_>) + Send + Sync>;

/// Settings of an [`EventStream`]; start with [`EventStream::builder`].
#[must_use]
pub struct EventStreamBuilder {
    client: Client,
    start: Position,
    page_size: i32,
    idle_wait: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    selection: EventSelection,
    observer: Option<Observer>,
    clock_step: Duration,
}

impl EventStreamBuilder {
    /// Events per `ReadNextEvents` (1 to 1000; default 100).
    pub fn page_size(mut self, n: i32) -> Self {
        self.page_size = n.clamp(1, 1000);
        self
    }

    /// The longest single `WaitForUpdatesEx` wait when idle (default 60 s).
    pub fn idle_wait(mut self, wait: Duration) -> Self {
        self.idle_wait = wait;
        self
    }

    /// How far back vCenter's clock may step and lose nothing (default 60 s). A collector
    /// created after events were read (a lost session or answer) begins this long before the
    /// last event read and skips, by key, what was read: an event created after the clock
    /// stepped back is stamped before that event, and a collector beginning at it would never
    /// see it. (A collector that lives on sees such events anyway.) The cost: re-reading up to
    /// this much history whenever a collector is created again. Steps beyond it lose the events
    /// stamped before the collector's beginning.
    pub fn clock_step_allowance(mut self, allowance: Duration) -> Self {
        self.clock_step = allowance;
        self
    }

    /// The first and the longest wait between attempts while vCenter fails (default 1 s, 30 s).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// Only events with these type names or `eventTypeId`s (default: all); sets
    /// [`EventSelection::event_types`].
    pub fn event_types(mut self, types: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.selection.event_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Only events of this entity and (by default) everything under it (default: the root
    /// folder); sets [`EventSelection::entity`].
    pub fn entity(mut self, entity: MoRef) -> Self {
        self.selection.entity = Some(Entity::MoRef(entity));
        self
    }

    /// Which events to read: entity (a reference or an inventory path, resolved each time a
    /// collector is created) and recursion, categories, users, types. Replaces what
    /// [`EventStreamBuilder::event_types`] and [`EventStreamBuilder::entity`] set.
    ///
    /// An inventory path that does not resolve is retried with backoff and reported as
    /// [`Signal::Down`] with [`Error::InventoryPathNotFound`].
    pub fn select(mut self, selection: EventSelection) -> Self {
        self.selection = selection;
        self
    }

    /// Call `observer` on every [`Signal`] (for metrics; it must not block).
    pub fn observe(mut self, observer: impl Fn(&Signal<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The stream. Nothing is sent to vCenter until the first [`EventStream::next_page`].
    pub fn build(self) -> EventStream {
        let relogins_seen = self.client.relogins();
        EventStream {
            page_limit: self.page_size,
            client: self.client,
            start: self.start,
            position: self.start,
            page_size: self.page_size,
            idle_wait: self.idle_wait,
            clock_step: self.clock_step,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
            selection: self.selection,
            categories: None,
            observer: self.observer,
            collector: None,
            watch: None,
            read_any: false,
            dedupe: true,
            read_in_flight: false,
            failures: 0,
            decode_failures: 0,
            single_failures: 0,
            isolated_successes: 0,
            relogins_seen,
        }
    }
}

/// One read's worth of new events.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Page {
    /// New events, oldest first (never empty from [`EventStream::next_page`]).
    pub events: Vec<Event>,
    /// Whether the read reached the end of the history (the caller is caught up).
    pub caught_up: bool,
}

/// vCenter's event history from a start position, in order, without gaps,
/// surviving everything a long-running reader meets.
///
/// What it handles so the caller does not have to:
/// - **Lost answers.** vCenter moves a collector's cursor when it answers `ReadNextEvents`; when
///   the answer does not arrive whole (timeout, reset connection, truncated or undecodable body,
///   a future dropped mid-read) the page may be gone from that collector. Every such error
///   replaces the collector with a new one from the last event handed out, and the events read
///   again are skipped (de-duplication at the boundary).
/// - **Sessions.** The client logs in again by itself when the session expires; the collector
///   went with the old session and is created anew from the position.
/// - **Poison events.** A page that fails to decode every time is read again in smaller pages
///   until the one event at fault is isolated; that event is then decoded leniently (values that
///   do not parse are kept as text, as fields of unknown types are) or, failing that, salvaged
///   (`key`, `createdTime`, its type and the raw XML in a `rawXml` field). It is handed out like
///   any other event and reported as [`Signal::Undecodable`]: never a stall, never a silent loss.
/// - **Waiting.** When the history is drained it waits on the collector's `latestPage`
///   (`WaitForUpdatesEx`) instead of polling, so new events arrive within a round trip.
/// - **Outages.** Errors are retried with exponential backoff and jitter; the stream never ends.
///
/// ```no_run
/// # async fn run(client: vsphere_client::Client) -> Result<(), vsphere_client::Error> {
/// use vsphere_client::events::{EventStream, Position};
///
/// let since = client.current_time().await? - vsphere_client::jiff::SignedDuration::from_mins(10);
/// let mut stream = EventStream::builder(client, Position::at(since)).page_size(500).build();
/// loop {
///     let page = stream.next_page().await;
///     for event in &page.events {
///         println!("{} {}", event.key(), event.kind_name());
///     }
///     // Save it (it serialises with serde): a restart resumes from here.
///     let position = stream.position();
///     # let _ = position;
/// }
/// # }
/// ```
pub struct EventStream {
    client: Client,
    start: Position,
    position: Position,
    page_size: i32,
    idle_wait: Duration,
    /// See [`EventStreamBuilder::clock_step_allowance`].
    clock_step: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    selection: EventSelection,
    /// Event type → category, read once when the selection has categories.
    categories: Option<EventCategories>,
    observer: Option<Observer>,
    collector: Option<EventCollector>,
    watch: Option<LatestPageWatch>,
    /// Whether this stream handed out an event yet (its position's key is then its own).
    read_any: bool,
    /// Skip events read before, until the first new one (right after a collector is created).
    dedupe: bool,
    /// A read was sent and its answer not yet handled: if the caller dropped the future, the
    /// answer is lost and the collector must go.
    read_in_flight: bool,
    /// Consecutive failed calls (for backoff).
    failures: u32,
    /// Reads whose answer arrived but did not decode (or was too large) since the stream last
    /// handed out an event.
    decode_failures: u32,
    /// Of those, reads of a single event (when they reach [`POISON_ATTEMPTS`], the event is
    /// poison, not the transport).
    single_failures: u32,
    /// Good reads since the page was made smaller to isolate a bad event.
    isolated_successes: u32,
    page_limit: i32,
    relogins_seen: u64,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("position", &self.position)
            .field("page_size", &self.page_size)
            .field("page_limit", &self.page_limit)
            .finish_non_exhaustive()
    }
}

/// Failed decodes of a one-event page before the event counts as undecodable.
const POISON_ATTEMPTS: u32 = 3;
/// Good reads with a reduced page size before the full size comes back.
const RESTORE_AFTER: u32 = 8;

impl EventStream {
    /// A stream of `client`'s events from `start` on.
    pub fn builder(client: Client, start: Position) -> EventStreamBuilder {
        EventStreamBuilder {
            client,
            start,
            page_size: 100,
            idle_wait: Duration::from_secs(60),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            selection: EventSelection::default(),
            observer: None,
            clock_step: Duration::from_secs(60),
        }
    }

    /// The last event handed out (or the start): where a new stream would resume.
    pub fn position(&self) -> Position {
        self.position
    }

    /// Where the stream started.
    pub fn start(&self) -> Position {
        self.start
    }

    /// The client the stream reads through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The next new events, waiting until there are some. Errors are retried inside (with
    /// backoff, reported through [`EventStreamBuilder::observe`] and `tracing`); it never fails.
    ///
    /// Cancel-safe: dropping the future (a `select!` or a timeout) loses nothing; an answer that
    /// was in flight is treated as lost and read again from the position.
    pub async fn next_page(&mut self) -> Page {
        loop {
            self.note_relogins();
            if self.read_in_flight {
                debug!("a read was abandoned mid-answer; reading again from the position");
                self.read_in_flight = false;
                self.drop_collector().await;
            }
            let Some(collector) = self.current_collector().await else {
                continue;
            };
            let limit = self.page_limit;
            self.read_in_flight = true;
            let answer = collector.read_next_raw(limit).await;
            self.read_in_flight = false;
            let events = match answer {
                Ok(body) => match values_from(&body) {
                    Ok(events) => events,
                    Err(error) => match self.undecodable(limit, &body, error).await {
                        Some(events) => events,
                        None => continue,
                    },
                },
                Err(Error::ResponseTooLarge {
                    head, limit: cap, ..
                }) if limit == 1 => match self.too_large(head.as_bytes(), cap).await {
                    Some(events) => events,
                    None => continue,
                },
                Err(error) => {
                    self.read_failed(error).await;
                    continue;
                }
            };
            self.failures = 0;
            self.signal(&Signal::Up);
            let caught_up = events.len() < limit as usize;
            let events = self.take_new(events);
            if !events.is_empty() {
                // Progress: the event at fault (if any) is behind us. Re-reads of events handed
                // out before do not count, or an event right after them would never be isolated.
                self.decode_failures = 0;
                self.single_failures = 0;
                if self.page_limit < self.page_size {
                    self.isolated_successes += 1;
                    if self.isolated_successes >= RESTORE_AFTER {
                        self.page_limit = self.page_size;
                        self.isolated_successes = 0;
                    }
                }
                return Page { events, caught_up };
            }
            if !caught_up {
                continue;
            }
            self.wait_for_more(&collector).await;
        }
    }

    /// Turn the stream into a [`Stream`] of events, for `StreamExt` combinators. To checkpoint,
    /// save [`Position::after`] of each event handled.
    pub fn into_stream(self) -> impl Stream<Item = Event> + Send {
        futures_util::stream::unfold(
            (self, std::collections::VecDeque::new()),
            |(mut stream, mut queue)| async move {
                loop {
                    if let Some(event) = queue.pop_front() {
                        return Some((event, (stream, queue)));
                    }
                    queue.extend(stream.next_page().await.events);
                }
            },
        )
    }

    /// Destroy the collector and the watch on vCenter (best effort, bounded in time); the
    /// client stays logged in.
    pub async fn close(mut self) {
        let cleanup = Duration::from_secs(3);
        if let Some(w) = self.watch.take() {
            let _ = tokio::time::timeout(cleanup, w.close()).await;
        }
        if let Some(c) = self.collector.take() {
            let _ = tokio::time::timeout(cleanup, c.destroy()).await;
        }
    }

    fn signal(&self, signal: &Signal<'_>) {
        if let Some(observer) = &self.observer {
            observer(signal);
        }
    }

    fn note_relogins(&mut self) {
        let relogins = self.client.relogins();
        while self.relogins_seen < relogins {
            self.relogins_seen += 1;
            self.signal(&Signal::Relogin);
        }
    }

    /// The collector for the current session, created from the position when needed. `None`
    /// after a failure (already waited for; the caller loops).
    async fn current_collector(&mut self) -> Option<EventCollector> {
        if let Some(c) = &self.collector {
            if c.is_current() {
                return Some(c.clone());
            }
            info!("the vCenter session was replaced; creating a new event collector");
            self.collector = None;
            self.watch = None;
        }
        let root = match &self.selection.entity {
            None => self.client.service_content().root_folder.clone(),
            Some(entity) => match self.client.resolve_entity(entity).await {
                Ok(m) => m,
                Err(error) => {
                    self.wait_after(&error, "cannot find the entity whose events are selected")
                        .await;
                    return None;
                }
            },
        };
        if !self.selection.categories.is_empty() && self.categories.is_none() {
            match self.client.event_categories().await {
                Ok(table) => self.categories = Some(table),
                Err(error) if error.is_transient() => {
                    self.wait_after(&error, "cannot read vCenter's event categories")
                        .await;
                    return None;
                }
                Err(error) => {
                    warn!(error = %error, "cannot read vCenter's event categories; only EventEx severities are checked again here (vCenter's collector filters all)");
                    self.categories = Some(EventCategories::default());
                }
            }
        }
        // Once events were read, their keys tell what was read: the collector may begin earlier
        // (see `clock_step_allowance`) and skip them. Before (a start from a checkpoint), it
        // begins at the position.
        let begin = match self.position.key {
            Some(_) if self.read_any => jiff::SignedDuration::try_from(self.clock_step)
                .ok()
                .and_then(|step| self.position.time.checked_sub(step).ok())
                .unwrap_or(self.position.time),
            _ => self.position.time,
        };
        let filter = self.selection.filter_spec(root).begin_time(begin);
        match self.client.create_event_collector(&filter).await {
            Ok(c) => {
                debug!(begin = %self.position.time, collector = %c.moref().value, "created event collector");
                self.signal(&Signal::CollectorCreated);
                self.dedupe = true;
                self.collector = Some(c.clone());
                Some(c)
            }
            Err(error) => {
                if error
                    .fault()
                    .is_some_and(|f| f.fault_type.as_deref() == Some("InvalidState"))
                {
                    // Too many collectors on this session (leaked by lost answers whose
                    // collectors could not be destroyed): a new session frees them.
                    warn!(error = %error, "vCenter refuses more event collectors; logging in again");
                    let _ = self.client.logout().await;
                }
                self.wait_after(&error, "cannot create an event collector")
                    .await;
                None
            }
        }
    }

    /// A read failed before its answer was whole: the collector may have moved past a page we
    /// never saw, so it goes, and the next read starts from the position with a new one.
    async fn read_failed(&mut self, error: Error) {
        let gone = error.is_object_gone() || error.is_session_lost();
        if matches!(error, Error::ResponseTooLarge { .. }) {
            self.decode_failures += 1;
            self.shrink_page();
        }
        self.drop_collector().await;
        if gone {
            info!(error = %error, "event collector lost with the session; creating a new one");
            return;
        }
        self.wait_after(
            &error,
            "reading events failed; reading again from the last event with a new collector",
        )
        .await;
    }

    /// One event's answer exceeds the response limit. Read again a few times (the transport
    /// may be at fault), then take the poison path: vCenter has moved the collector past the
    /// event, so the collector stays, and the event is handed out as far as its answer's first
    /// bytes can be read (key, time, type, the start of its XML). `None`: read again.
    async fn too_large(&mut self, head: &[u8], cap: usize) -> Option<Vec<Event>> {
        self.single_failures += 1;
        let error = format!("its answer exceeds the {cap}-byte response limit");
        if self.single_failures < POISON_ATTEMPTS {
            warn!(
                attempt = self.single_failures,
                "an event's answer exceeds the {cap}-byte response limit; reading it again"
            );
            self.drop_collector().await;
            self.wait_briefly().await;
            return None;
        }
        let Some(event) = salvage(head) else {
            // Without its key the event has no place in the order: keep trying (with backoff),
            // as for any read that fails.
            self.single_failures = 0;
            self.read_failed(Error::Config {
                reason: format!("an event's answer exceeds the {cap}-byte response limit and its start holds no event key; raise the limit"),
            })
            .await;
            return None;
        };
        self.decode_failures = 0;
        self.single_failures = 0;
        self.page_limit = self.page_size;
        self.isolated_successes = 0;
        warn!(key = event.key(), event_type = event.type_name(), error = %error,
            "an event is too large to read; delivering what is readable of it");
        self.signal(&Signal::Undecodable {
            key: event.key(),
            error: &error,
        });
        Some(vec![event])
    }

    /// The answer arrived whole but does not decode. Read again in smaller pages until one
    /// event is isolated; hand that event out as well as it can be read. `None`: read again.
    async fn undecodable(&mut self, limit: i32, body: &[u8], error: String) -> Option<Vec<Event>> {
        self.decode_failures += 1;
        if limit > 1 {
            warn!(error = %error, page_size = limit, "a page of events does not decode; reading it again from the last event");
            if self.decode_failures >= 2 {
                self.shrink_page();
            }
            self.drop_collector().await;
            self.wait_briefly().await;
            return None;
        }
        self.single_failures += 1;
        if self.single_failures < POISON_ATTEMPTS {
            warn!(error = %error, attempt = self.single_failures, "an event does not decode; reading it again");
            self.drop_collector().await;
            self.wait_briefly().await;
            return None;
        }
        // The same single event failed every time: it is the event, not the transport. The
        // collector has moved past it, so it stays, and reading goes on after the event.
        self.decode_failures = 0;
        self.single_failures = 0;
        self.page_limit = self.page_size;
        self.isolated_successes = 0;
        let events = match decode_events_lenient(body) {
            Ok(events) => events,
            Err(lenient) => {
                debug!(error = %lenient, "lenient decoding failed too; salvaging the raw event");
                salvage(body).into_iter().collect()
            }
        };
        for e in &events {
            warn!(key = e.key(), event_type = e.type_name(), error = %error,
                "an event does not decode; delivering what is readable of it");
            self.signal(&Signal::Undecodable {
                key: e.key(),
                error: &error,
            });
        }
        if events.is_empty() {
            warn!(error = %error, "an event does not decode and nothing of it is readable; skipping it");
        }
        Some(events)
    }

    fn shrink_page(&mut self) {
        let smaller = (self.page_limit / 2).max(1);
        if smaller < self.page_limit {
            debug!(
                page_size = smaller,
                "reading smaller pages to isolate the event at fault"
            );
        }
        self.page_limit = smaller;
        self.isolated_successes = 0;
    }

    /// Keep only events not handed out before, and move the position to the last one.
    fn take_new(&mut self, events: Vec<Event>) -> Vec<Event> {
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let key = event.key();
            let Some(created) = event.created_time() else {
                // Nothing to place it by: hand it out (vCenter always sets createdTime).
                self.dedupe = false;
                if self.admits(&event) {
                    out.push(event);
                }
                continue;
            };
            if self.dedupe {
                if self.already_read(created, key) {
                    debug!(key, "skipping an event read before");
                    continue;
                }
                // Inside a live collector everything is new, even an event whose clock went
                // backwards: de-duplication only applies right after a collector is created.
                self.dedupe = false;
            }
            self.position = Position {
                time: created,
                key: Some(key),
            };
            self.read_any = true;
            if !self.admits(&event) {
                // Read and passed over: the position moves on, nothing is handed out.
                debug!(
                    key,
                    event_type = event.kind_name(),
                    "event outside the selection"
                );
                continue;
            }
            out.push(event);
        }
        out
    }

    /// Whether `event` passes the selection's categories and users (checked again here; see
    /// [`EventSelection`]).
    fn admits(&self, event: &Event) -> bool {
        let empty = EventCategories::default();
        self.selection
            .admits(event, self.categories.as_ref().unwrap_or(&empty))
    }

    /// Whether a re-read event was handed out before. In-process the key says it exactly (keys
    /// grow in collector order); from a saved position, time and key as the checkpoint rule.
    fn already_read(&self, created: Timestamp, key: i64) -> bool {
        match self.position.key {
            Some(last) if self.read_any => key_at_or_before(key, last),
            _ => self.position.covers(created, key),
        }
    }

    async fn wait_for_more(&mut self, collector: &EventCollector) {
        let Some(watch) = self.watch.as_mut() else {
            match collector.watch_latest_page().await {
                // The watch's baseline is latestPage as it is now, which may already hold events
                // that arrived after the read: the caller reads once more before waiting.
                Ok(w) => self.watch = Some(w),
                Err(e) => {
                    warn!(error = %e, "cannot watch the collector; polling once per second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            return;
        };
        if let Err(e) = watch.wait(self.idle_wait).await {
            debug!(error = %e, "latestPage wait failed; watching anew");
            self.watch = None;
        }
    }

    /// Forget the collector (and its watch), destroying it on vCenter if that is quick.
    async fn drop_collector(&mut self) {
        self.watch = None;
        if let Some(c) = self.collector.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.destroy()).await;
        }
    }

    async fn wait_after(&mut self, error: &Error, what: &str) {
        self.failures += 1;
        let wait = backoff(
            self.failures,
            self.backoff_initial,
            self.backoff_max,
            fastrand::f64(),
        );
        if error.is_bad_credentials() {
            warn!(error = %error, retry_in_s = wait.as_secs_f64(), "vCenter refused the credentials");
        } else {
            warn!(error = %error, retry_in_s = wait.as_secs_f64(), "{what}");
        }
        self.signal(&Signal::Down {
            error,
            retry_in: wait,
        });
        tokio::time::sleep(wait).await;
    }

    async fn wait_briefly(&mut self) {
        let wait = Duration::from_millis(50) * self.decode_failures.min(20);
        tokio::time::sleep(wait).await;
    }
}

/// Exponential backoff with jitter in `[cap/2, cap]`.
fn backoff(attempt: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = 2f64.powi(attempt.saturating_sub(1).min(32) as i32);
    let cap = (initial.as_secs_f64() * exp).min(max.as_secs_f64());
    Duration::from_secs_f64(cap * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
}

/// Strict decoding of a `ReadNextEvents` answer; the error as text.
fn values_from(body: &[u8]) -> Result<Vec<Event>, String> {
    match crate::decode::decode_body(body, Some(Kind::Data(type_index("Event")))) {
        Ok(crate::decode::Body::Return(values)) => {
            values_to_events(values).map_err(|e| e.to_string())
        }
        Ok(crate::decode::Body::Fault(f)) => Err(format!("expected events, got a fault: {f}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The last resort for an event whose XML is not even well-formed: its key, creation time and
/// type as far as they can be found in the text, and the raw XML.
fn salvage(body: &[u8]) -> Option<Event> {
    let text = String::from_utf8_lossy(body);
    let start = text.find("<returnval")?;
    let end = text[start..]
        .find("</returnval>")
        .map(|i| start + i + "</returnval>".len())
        .unwrap_or(text.len());
    let raw = &text[start..end];
    let between = |open: &str, close: &str| -> Option<&str> {
        let i = raw.find(open)? + open.len();
        let j = raw[i..].find(close)? + i;
        Some(raw[i..j].trim())
    };
    let key: i64 = between("<key>", "</key>")?.parse().ok()?;
    let type_name = between("type=\"", "\"")
        .map(|t| t.rsplit(':').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| "Event".to_owned());
    let mut fields = vec![Field {
        name: FieldName::Unknown("key".into()),
        value: Value::Int(key as i32),
    }];
    if let Some(t) = between("<createdTime>", "</createdTime>")
        .and_then(|t| crate::time::parse_xsd_datetime(t).ok())
    {
        fields.push(Field {
            name: FieldName::Unknown("createdTime".into()),
            value: Value::DateTime(t),
        });
    }
    fields.push(Field {
        name: FieldName::Unknown("rawXml".into()),
        value: Value::String(raw.to_owned()),
    });
    let object = DataObject {
        ty: TypeRef::Unknown {
            assumed: Some(catalogue::type_at(type_index("Event"))),
        },
        type_name: type_name.into(),
        fields,
    };
    Event::from_object(object).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    #[test]
    fn position_covers_earlier_events_and_the_boundary() {
        let p = Position {
            time: t("2026-11-27T10:00:00Z"),
            key: Some(41),
        };
        assert!(p.covers(t("2026-11-27T09:59:59Z"), 99));
        assert!(p.covers(t("2026-11-27T10:00:00Z"), 41));
        assert!(p.covers(t("2026-11-27T10:00:00Z"), 40));
        assert!(!p.covers(t("2026-11-27T10:00:00Z"), 42));
        assert!(!p.covers(t("2026-11-27T10:00:01Z"), 1));
        let no_key = Position { key: None, ..p };
        assert!(
            !no_key.covers(t("2026-11-27T10:00:00Z"), 41),
            "a timestamp-only checkpoint replays its second"
        );
    }

    #[test]
    fn keys_wrap_around_int32() {
        assert!(key_at_or_before(i32::MAX as i64, i32::MIN as i64));
        assert!(!key_at_or_before(i32::MIN as i64, i32::MAX as i64));
        assert!(key_at_or_before(5, 5));
        assert!(!key_at_or_before(6, 5));
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(backoff(1, i, m, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, i, m, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(3, i, m, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(40, i, m, 1.0), Duration::from_secs(30));
    }

    #[test]
    fn salvage_finds_key_time_type_and_keeps_the_raw_xml() {
        let body = br#"<soapenv:Envelope><soapenv:Body><ReadNextEventsResponse><returnval xsi:type="VmPoweredOnEvent"><key>77</key><chainId>77</chainId><createdTime>2026-11-27T10:00:00.5Z</createdTime><broken attr=></returnval></ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>"#;
        let e = salvage(body).expect("salvaged");
        assert_eq!(e.key(), 77);
        assert_eq!(e.type_name(), "VmPoweredOnEvent");
        assert_eq!(e.created_time(), Some(t("2026-11-27T10:00:00.5Z")));
        let raw = e.object().get_str("rawXml").expect("raw");
        assert!(
            raw.starts_with("<returnval") && raw.ends_with("</returnval>"),
            "{raw}"
        );
        assert!(salvage(b"<returnval><nokey/></returnval>").is_none());
    }
}
