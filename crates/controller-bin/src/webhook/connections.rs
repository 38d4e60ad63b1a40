//! The connections of the webhook server: what each is doing (its phase),
//! since when, the deadline of that phase, and which one gives way when
//! the server is at its connection cap.
//!
//! A client's connection is always in one phase: the TLS handshake, idle
//! between requests (keep-alive), reading a request's head, reading its
//! body, or being answered. Each phase but the last has its own deadline,
//! so a client that stalls anywhere is cut off, and one that keeps a
//! connection alive without using it only keeps it for the idle timeout.
//! At the cap a new connection is always accepted: the connection that has
//! waited longest in a phase other than being answered gives way.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a connection is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The TLS handshake.
    Handshake,
    /// Between requests (keep-alive).
    Idle,
    /// Reading a request's head (its first byte has arrived).
    Head,
    /// Reading a request's body.
    Body,
    /// Answering a complete request: the server's own work, never cut.
    Answering,
}

/// Why a connection was closed by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Closed {
    /// Its phase lasted longer than the phase's deadline.
    TimedOut(Phase),
    /// It gave way to a new connection at the cap.
    Evicted,
}

/// The phase deadlines.
#[derive(Clone, Copy, Debug)]
pub(super) struct Deadlines {
    pub(super) handshake: Duration,
    pub(super) idle: Duration,
    pub(super) head: Duration,
    pub(super) body: Duration,
}

impl Deadlines {
    fn of(&self, phase: Phase) -> Option<Duration> {
        match phase {
            Phase::Handshake => Some(self.handshake),
            Phase::Idle => Some(self.idle),
            Phase::Head => Some(self.head),
            Phase::Body => Some(self.body),
            Phase::Answering => None,
        }
    }
}

/// One connection's phase, shared by its I/O, its request handler and the
/// table.
#[derive(Debug)]
pub(super) struct Tracker {
    state: Mutex<(Phase, Instant)>,
    changed: Notify,
    evict: Notify,
}

impl Tracker {
    fn new() -> Self {
        Self {
            state: Mutex::new((Phase::Handshake, Instant::now())),
            changed: Notify::new(),
            evict: Notify::new(),
        }
    }

    /// The phase and since when.
    pub(super) fn get(&self) -> (Phase, Instant) {
        self.state
            .lock()
            .map(|s| *s)
            .unwrap_or((Phase::Answering, Instant::now()))
    }

    /// Enters `phase` now.
    pub(super) fn set(&self, phase: Phase) {
        if let Ok(mut s) = self.state.lock() {
            *s = (phase, Instant::now());
        }
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts reading a request head.
    fn received(&self) {
        let started = self
            .state
            .lock()
            .map(|mut s| {
                let idle = s.0 == Phase::Idle;
                if idle {
                    *s = (Phase::Head, Instant::now());
                }
                idle
            })
            .unwrap_or(false);
        if started {
            self.changed.notify_one();
        }
    }

    /// Returns when the connection must close: its phase outlived its
    /// deadline, or it was evicted. Never returns while it is being
    /// answered (unless evicted, which the table never does then).
    pub(super) async fn closed(&self, deadlines: Deadlines) -> Closed {
        loop {
            let (phase, since) = self.get();
            let expire = async {
                match deadlines.of(phase) {
                    Some(d) => tokio::time::sleep_until(since + d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = expire => {
                    if self.get() == (phase, since) {
                        return Closed::TimedOut(phase);
                    }
                }
                () = self.changed.notified() => {}
                () = self.evict.notified() => return Closed::Evicted,
            }
        }
    }
}

/// The server's open connections.
#[derive(Debug, Default)]
pub(super) struct Table {
    open: Mutex<HashMap<u64, Arc<Tracker>>>,
    next: AtomicU64,
    evicted: AtomicU64,
}

/// A connection's place in the [`Table`]; leaves it when dropped.
pub(super) struct Entry {
    table: Arc<Table>,
    id: u64,
    /// The connection's phase.
    pub(super) tracker: Arc<Tracker>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            open.remove(&self.id);
        }
    }
}

impl Table {
    /// Adds a connection (in its handshake). When more than `cap` are open,
    /// the one that has waited longest in a phase other than being
    /// answered is told to close (and leaves the table at once).
    pub(super) fn admit(self: &Arc<Self>, cap: usize) -> Entry {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let tracker = Arc::new(Tracker::new());
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, tracker.clone());
            while open.len() > cap.max(1) {
                let oldest = open
                    .iter()
                    .filter(|(other, _)| **other != id)
                    .map(|(other, t)| (*other, t.get(), t))
                    .filter(|(_, (phase, _), _)| *phase != Phase::Answering)
                    .min_by_key(|(_, (_, since), _)| *since)
                    .map(|(other, _, t)| (other, t.clone()));
                let Some((other, t)) = oldest else { break };
                open.remove(&other);
                t.evict.notify_one();
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        Entry {
            table: self.clone(),
            id,
            tracker,
        }
    }

    /// Connections open.
    pub(super) fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Connections evicted so far.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

/// A connection's I/O, telling its tracker when bytes arrive.
pub(super) struct Tracked<T> {
    inner: T,
    tracker: Arc<Tracker>,
}

impl<T> Tracked<T> {
    pub(super) fn new(inner: T, tracker: Arc<Tracker>) -> Self {
        Self { inner, tracker }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.tracker.received();
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_waiting_gives_way() {
        let table = Arc::new(Table::default());
        let first = table.admit(2);
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = table.admit(2);
        second.tracker.set(Phase::Answering);
        tokio::time::advance(Duration::from_secs(1)).await;
        let third = table.admit(2);
        let deadlines = Deadlines {
            handshake: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            head: Duration::from_secs(60),
            body: Duration::from_secs(60),
        };
        assert_eq!(first.tracker.closed(deadlines).await, Closed::Evicted);
        assert_eq!(table.len(), 2);
        assert_eq!(table.evicted(), 1);
        // One being answered never gives way; the newcomer does not either.
        let fourth = table.admit(2);
        assert_eq!(third.tracker.closed(deadlines).await, Closed::Evicted);
        drop((second, fourth));
        assert_eq!(table.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_deadline() {
        let table = Arc::new(Table::default());
        let c = table.admit(8);
        let deadlines = Deadlines {
            handshake: Duration::from_secs(1),
            idle: Duration::from_secs(100),
            head: Duration::from_secs(2),
            body: Duration::from_secs(3),
        };
        let started = Instant::now();
        assert_eq!(
            c.tracker.closed(deadlines).await,
            Closed::TimedOut(Phase::Handshake)
        );
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        c.tracker.set(Phase::Idle);
        c.tracker.received();
        assert_eq!(c.tracker.get().0, Phase::Head);
        let started = Instant::now();
        assert_eq!(
            c.tracker.closed(deadlines).await,
            Closed::TimedOut(Phase::Head)
        );
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        c.tracker.set(Phase::Answering);
        let answering =
            tokio::time::timeout(Duration::from_secs(1000), c.tracker.closed(deadlines)).await;
        assert!(answering.is_err(), "being answered has no deadline");
    }
}
