//! [`AuditEventStream`] and its [`Cursor`].

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};

use crate::{
    AuditEvent, AuditEventFilter, BetweenFilter, Client, Error, Filter, MAX_PAGE_SIZE, Undecodable,
};

/// At most this many pages are read of one millisecond that holds more than a page: 100 pages
/// of 1,000 are 100,000 events stamped with the same millisecond, far beyond any Horizon, and
/// the memory they take stays bounded (a server repeating its pages ends the read sooner).
pub const MAX_MILLISECOND_PAGES: u32 = 100;

/// How many records that have no place in the order of events (no readable `id` or `time`)
/// the stream remembers having reported, so that each is reported once, not at every poll.
const REPORTED_LIMIT: usize = 4096;

/// Upper bound of an open query: now + 24 h, as upstream (a buffer against clock skew).
const TO_BUFFER_MS: i64 = 24 * 3600 * 1000;

/// How far reading got: every event before `time`, and those at `time` whose id is in `ids`.
///
/// This is what the adapter checkpoints (`lastEventTime`, `lastEventIds`).
///
/// It serialises as `{"time":1627369939490,"ids":[98558,98562]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// Unix milliseconds.
    pub time: i64,
    /// Ids already handled at `time`.
    pub ids: BTreeSet<i64>,
}

impl Cursor {
    /// Every event at or after `time` is still to come.
    pub fn at(time: i64) -> Self {
        Self {
            time,
            ids: BTreeSet::new(),
        }
    }

    /// Whether `e` comes after the cursor (not yet handled).
    pub fn is_new(&self, e: &AuditEvent) -> bool {
        e.time > self.time || (e.time == self.time && !self.ids.contains(&e.id))
    }

    /// Move past `e` (events must come in time order).
    pub fn advance(&mut self, e: &AuditEvent) {
        self.advance_to(e.time, e.id);
    }

    /// Move past the event `id` at `time`.
    pub fn advance_to(&mut self, time: i64, id: i64) {
        if time > self.time {
            self.time = time;
            self.ids.clear();
        }
        if time == self.time {
            self.ids.insert(id);
        }
    }

    /// Where a first start (no saved cursor) begins: after the newest event Horizon holds (by
    /// Horizon's clock, so host clock skew cannot drop events), or `replay` before it.
    pub async fn after_newest(client: &Client, replay: Duration) -> Result<Self, Error> {
        let page = client.audit_events_page(None, 1, MAX_PAGE_SIZE).await?;
        let Some(newest) = page.events.iter().map(|e| e.time).max() else {
            return Ok(Self::default());
        };
        if !replay.is_zero() {
            let back = i64::try_from(replay.as_millis()).unwrap_or(i64::MAX);
            return Ok(Self::at(newest.saturating_sub(back)));
        }
        Ok(Self {
            time: newest,
            ids: page
                .events
                .iter()
                .filter(|e| e.time == newest)
                .map(|e| e.id)
                .collect(),
        })
    }
}

/// Unix milliseconds now (this host's clock; only used for the query's upper bound).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What the stream went through, for metrics and health (see
/// [`AuditEventStreamBuilder::observe`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Signal<'a> {
    /// Horizon answered a read.
    Up,
    /// A read failed; the stream retries after `retry_in`.
    Down {
        /// What failed.
        error: &'a Error,
        /// When the stream tries again.
        retry_in: Duration,
    },
    /// A record did not fit the API's model. Salvaged (`record.salvaged`): it is handed out
    /// with what could be read; else (no readable `id` or `time`) it is left out, reported once.
    Undecodable {
        /// The record and why it did not decode.
        record: &'a Undecodable,
    },
}

type Observer = Arc<dyn Fn(&Signal<'_>) + Send + Sync>;

/// Settings of an [`AuditEventStream`]; start with [`AuditEventStream::builder`].
#[must_use]
pub struct AuditEventStreamBuilder {
    client: Arc<Client>,
    start: Cursor,
    page_size: u32,
    poll_interval: Duration,
    backoff: (Duration, Duration),
    observer: Option<Observer>,
    selection: AuditEventFilter,
}

impl AuditEventStreamBuilder {
    /// Events per page (1 to 1000; default 1000).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The wait between polls once caught up (default 1 s, as upstream).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// The first and the longest wait between attempts while Horizon fails (default 1 s, 30 s).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max.max(initial));
        self
    }

    /// Call `observer` on every [`Signal`] (for metrics; it must not block).
    pub fn observe(mut self, observer: impl Fn(&Signal<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Only the events `selection` admits (default: all). Horizon filters them; events it
    /// returns anyway are passed over (the cursor moves past them). When Horizon refuses the
    /// combined filter (HTTP 400), the stream logs it once and asks for the time range alone,
    /// filtering here.
    pub fn filter(mut self, selection: AuditEventFilter) -> Self {
        self.selection = selection;
        self
    }

    /// The stream. Nothing is sent until the first [`AuditEventStream::next_batch`].
    pub fn build(self) -> AuditEventStream {
        AuditEventStream {
            client: self.client,
            cursor: self.start,
            page_size: self.page_size,
            poll_interval: self.poll_interval,
            backoff: self.backoff,
            observer: self.observer,
            server_side: !self.selection.is_empty(),
            selection: self.selection,
            window: None,
            exhausted_ms: None,
            floor: i64::MIN,
            newest_seen: None,
            failures: 0,
            reported: HashSet::new(),
        }
    }
}

/// New audit events, oldest first.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Batch {
    /// The events, by (time, id) (never empty from [`AuditEventStream::next_batch`]).
    pub events: Vec<AuditEvent>,
    /// Whether the read reached the newest event (the caller is caught up).
    pub caught_up: bool,
}

/// Horizon's audit events from a [`Cursor`] on, oldest first, each once,
/// page by page with bounded memory.
///
/// Horizon answers newest first and its pages shift while events arrive, so reading a large
/// backlog in pages and then sorting would hold all of it in memory. The stream reads a time
/// window instead: when `[from, to]` holds more than one page, it halves the window until one
/// page holds it all, hands those events out sorted by (time, id), and moves on; the window
/// grows again while pages come back small. Only a single millisecond holding more than a page
/// of events is read in several pages (all of that millisecond, de-duplicated by id).
///
/// Reads are `GET`s: a lost or broken answer (timeout, reset, truncated JSON) is simply read
/// again, with exponential backoff and jitter; the stream never ends.
///
/// ```no_run
/// # async fn run(client: std::sync::Arc<horizon_client::Client>) -> Result<(), horizon_client::Error> {
/// use horizon_client::{AuditEventStream, Cursor};
///
/// client.login().await?;
/// let start = Cursor::after_newest(&client, std::time::Duration::ZERO).await?;
/// let mut stream = AuditEventStream::builder(client, start).build();
/// loop {
///     let batch = stream.next_batch().await;
///     for e in &batch.events {
///         println!("{} {} {}", e.id, e.time, e.kind.as_deref().unwrap_or(""));
///     }
///     // stream.cursor() is where a restart resumes
/// }
/// # }
/// ```
pub struct AuditEventStream {
    client: Arc<Client>,
    cursor: Cursor,
    page_size: u32,
    poll_interval: Duration,
    backoff: (Duration, Duration),
    observer: Option<Observer>,
    selection: AuditEventFilter,
    /// Whether Horizon is asked to apply `selection` (until it refuses to).
    server_side: bool,
    /// The width (ms) of the next closed window; `None`: read up to now + 24 h.
    window: Option<i64>,
    /// A millisecond read whole in several pages: windows begin after it.
    exhausted_ms: Option<i64>,
    /// Windows begin at or after this time (empty windows before a known event are skipped).
    floor: i64,
    /// The newest event time seen in any answer (also of windows that held too much).
    newest_seen: Option<i64>,
    failures: u32,
    /// Hashes of the records without a place in the order that were reported (bounded).
    reported: HashSet<u64>,
}

impl std::fmt::Debug for AuditEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditEventStream")
            .field("cursor", &self.cursor)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl AuditEventStream {
    /// A stream of `client`'s audit events after `start`.
    pub fn builder(client: Arc<Client>, start: Cursor) -> AuditEventStreamBuilder {
        AuditEventStreamBuilder {
            client,
            start,
            page_size: MAX_PAGE_SIZE,
            poll_interval: Duration::from_secs(1),
            backoff: (Duration::from_secs(1), Duration::from_secs(30)),
            observer: None,
            selection: AuditEventFilter::default(),
        }
    }

    /// Everything handed out so far: where a restart resumes.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// The client the stream reads through.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// The next new events, waiting (polling) until there are some. Errors are retried inside;
    /// it never fails. Cancel-safe: nothing moves until a batch is returned.
    pub async fn next_batch(&mut self) -> Batch {
        loop {
            let open_to = now_ms().saturating_add(TO_BUFFER_MS);
            let from = match self.exhausted_ms {
                Some(ms) if ms == self.cursor.time => ms.saturating_add(1),
                _ => self.cursor.time,
            }
            .max(self.floor);
            let to = match self.window {
                Some(w) => from.saturating_add(w).min(open_to),
                None => open_to,
            };
            let open = to == open_to;
            let filter = self.query(from, to);
            let page = match self
                .client
                .audit_events_query(Some(&filter), 1, self.page_size)
                .await
            {
                Ok(p) => p,
                Err(Error::Status {
                    status: 400, body, ..
                }) if self.server_side => {
                    warn!(
                        answer = %body,
                        "Horizon refused the filter on event types, modules and severities; \
                         reading the time range alone and filtering here"
                    );
                    self.server_side = false;
                    continue;
                }
                Err(e) => {
                    self.wait_after(&e).await;
                    continue;
                }
            };
            self.failures = 0;
            self.signal(&Signal::Up);
            let complete = !page.has_more && page.records() < self.page_size as usize;
            let (events, undecodable) = if complete {
                (page.events, page.undecodable)
            } else if to > from {
                // More than a page in the window: halve it and read again. The page holds the
                // window's newest events: real events, so Horizon's clock is past them.
                if let Some(newest) = page.events.iter().map(|e| e.time).max() {
                    self.newest_seen = self.newest_seen.max(Some(newest));
                }
                let half = (to - from) / 2;
                debug!(
                    from,
                    to,
                    half_ms = half,
                    "window holds more than a page; halving it"
                );
                self.window = Some(half);
                continue;
            } else {
                // One millisecond with more than a page of events: read all of it.
                match self.whole_millisecond(&filter).await {
                    Ok(read) => {
                        self.exhausted_ms = Some(from);
                        read
                    }
                    Err(e) => {
                        self.wait_after(&e).await;
                        continue;
                    }
                }
            };
            let mut new: Vec<AuditEvent> = events
                .into_iter()
                .filter(|e| e.time >= from && e.time <= to && self.cursor.is_new(e))
                .collect();
            new.sort_by_key(|e| (e.time, e.id));
            new.dedup_by_key(|e| (e.time, e.id));
            for e in &new {
                self.cursor.advance(e);
            }
            self.report(&undecodable, |u| {
                u.salvaged
                    && new
                        .iter()
                        .any(|e| Some(e.id) == u.id && Some(e.time) == u.time)
            });
            // Passed over, not handed out: the cursor has moved past them.
            new.retain(|e| self.selection.admits(e));
            // Small answers: try a wider window next time (back to open once it reaches now).
            if let Some(w) = self.window {
                let wider = w.saturating_mul(2).max(1);
                self.window = (from.saturating_add(wider) < open_to).then_some(wider);
            }
            if !new.is_empty() {
                return Batch {
                    events: new,
                    caught_up: open,
                };
            }
            if open {
                tokio::time::sleep(self.poll_interval).await;
            } else if self.newest_seen.is_some_and(|n| to < n) {
                // An empty window before an event Horizon already holds: nothing can arrive in
                // it any more (barring late inserts, which no time-based reader sees), so the
                // search goes on after it.
                self.floor = to.saturating_add(1);
            }
        }
    }

    /// The query for `[from, to]`: the time range, and the selection while Horizon takes it.
    fn query(&self, from: i64, to: i64) -> Filter {
        let time = BetweenFilter::time(from, to);
        if self.server_side {
            self.selection.query(time)
        } else {
            time.into()
        }
    }

    /// Reports the records of a window that did not decode: salvaged ones when `handed_out`
    /// says they are among the events handed out now (so once, as the cursor then moves past
    /// them), the others once per stream.
    fn report(&mut self, undecodable: &[Undecodable], handed_out: impl Fn(&Undecodable) -> bool) {
        for u in undecodable {
            let report = if u.salvaged {
                handed_out(u)
            } else {
                if self.reported.len() >= REPORTED_LIMIT {
                    self.reported.clear();
                }
                let mut h = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(&u.record, &mut h);
                self.reported.insert(std::hash::Hasher::finish(&h))
            };
            if !report {
                continue;
            }
            if u.salvaged {
                warn!(id = ?u.id, time = ?u.time, error = %u.error, record = %u.record,
                    "a Horizon audit event does not fit the API's model; delivering what is readable of it");
            } else {
                warn!(error = %u.error, record = %u.record,
                    "a Horizon audit record has no readable id or time; leaving it out");
            }
            self.signal(&Signal::Undecodable { record: u });
        }
    }

    /// Every event of the one-millisecond `filter`, over as many pages as it takes, up to
    /// [`MAX_MILLISECOND_PAGES`]; a page that brings nothing new (a server repeating itself)
    /// ends it too.
    async fn whole_millisecond(
        &self,
        filter: &Filter,
    ) -> Result<(Vec<AuditEvent>, Vec<Undecodable>), Error> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut undecodable = Vec::new();
        for page in 1..=MAX_MILLISECOND_PAGES {
            let p = self
                .client
                .audit_events_query(Some(filter), page, self.page_size)
                .await?;
            let n = p.records();
            let before = out.len();
            for e in p.events {
                if seen.insert(e.id) {
                    out.push(e);
                }
            }
            let more = p.has_more || n >= self.page_size as usize;
            undecodable.extend(p.undecodable);
            if !more || n == 0 {
                return Ok((out, undecodable));
            }
            if out.len() == before {
                warn!(
                    page,
                    "Horizon repeats the same events page after page for one millisecond; taking what was read"
                );
                return Ok((out, undecodable));
            }
        }
        warn!(
            pages = MAX_MILLISECOND_PAGES,
            events = out.len(),
            "one millisecond holds more Horizon events than the stream reads; the rest of it is skipped"
        );
        Ok((out, undecodable))
    }

    fn signal(&self, signal: &Signal<'_>) {
        if let Some(observer) = &self.observer {
            observer(signal);
        }
    }

    async fn wait_after(&mut self, error: &Error) {
        self.failures += 1;
        let (initial, max) = self.backoff;
        let exp = 2f64.powi(self.failures.saturating_sub(1).min(32) as i32);
        let cap = (initial.as_secs_f64() * exp).min(max.as_secs_f64());
        let wait = Duration::from_secs_f64(cap * (0.5 + 0.5 * fastrand::f64()));
        if error.is_bad_credentials() {
            warn!(error = %error, retry_in_s = wait.as_secs_f64(), "Horizon refused the credentials");
        } else {
            warn!(error = %error, retry_in_s = wait.as_secs_f64(), "cannot read Horizon audit events; retrying");
        }
        self.signal(&Signal::Down {
            error,
            retry_in: wait,
        });
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time: i64, id: i64) -> AuditEvent {
        AuditEvent {
            id,
            time,
            ..AuditEvent::default()
        }
    }

    #[test]
    fn cursor_skips_handled_ids_at_its_millisecond_only() {
        let mut c = Cursor::default();
        c.advance(&ev(10, 5));
        c.advance(&ev(10, 3));
        assert!(!c.is_new(&ev(10, 5)) && !c.is_new(&ev(9, 100)));
        assert!(c.is_new(&ev(10, 4)) && c.is_new(&ev(11, 5)));
        c.advance(&ev(11, 1));
        assert_eq!(c.ids.iter().copied().collect::<Vec<_>>(), [1]);
        // An older event (out of order) does not move the cursor back nor add its id.
        c.advance(&ev(10, 9));
        assert_eq!((c.time, c.ids.len()), (11, 1));
    }
}
