//! How many requests go to the sink at once: a limit that follows the sink.
//!
//! Every delivery holds a [`Pass`] from the [`Gate`] while its request is out (an event waiting
//! to be retried gives its place up meanwhile, unless order is strict). The gate's limit is
//! adaptive, AIMD on the sink's answers, after vector's adaptive request concurrency:
//!
//! - **Periods.** Answers are gathered over a period of about one round trip (at least
//!   [`MIN_PERIOD`]); at its end the limit moves once.
//! - **Back-pressure** (429, 503, a timeout or a connection error): the limit shrinks at once,
//!   once per period, by a tenth (at least by one; by half when it ends slow start, back to the
//!   last limit the sink took well), and after a `Retry-After` it does not grow again before
//!   that time. At once, because a refusal comes back quicker than an answer: waiting for the
//!   period's end would let the places it frees be refused again and again meanwhile.
//! - **Latency.** The round trips of the period are compared with the quickest the sink has
//!   been lately (the floor): a mean above twice the floor (twice 250 µs for a sink quicker
//!   than that, so scheduling noise is not taken for queueing) means our requests queue, at
//!   the sink or at our own CPU, so the limit shrinks as well. Into a sink on the same node,
//!   which answers in microseconds, the adapter's own CPU is the limit: the requests out at once
//!   stay near what it can process in twice 250 µs, each holding a connection, rather than
//!   growing to the ceiling for no gain. The floor creeps up, doubling in a
//!   minute when the sink is never that quick again, so a sink that became slower for good is
//!   learnt again.
//! - **Growth.** Otherwise, if the limit was reached in the period (deliveries waited for a
//!   place), it grows: doubling until the first shrink (slow start), then by one per period.
//! - **Ceiling.** `DELIVERY_CONCURRENCY` bounds it; 1 keeps strict order, with nothing to adapt.
//!
//! The limit starts at 1, like a new TCP connection's window; slow start reaches 64 within
//! seven periods. It is exported as `vmware_sources_adapter_delivery_concurrency_limit` and
//! shown in the progress lines.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// The shortest period the limit is decided over (sinks answering in microseconds would
/// otherwise make it jump on noise).
pub const MIN_PERIOD: Duration = Duration::from_millis(10);

/// What one attempt's answer says about the sink's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// An answer (accepted or not) within `rtt`.
    Answered {
        /// The request's round trip.
        rtt: Duration,
    },
    /// The sink pushes back: 429, 503, no answer in time, no connection; with its
    /// `Retry-After` when it sent one.
    PushBack {
        /// When to try growing again at the earliest.
        retry_after: Option<Duration>,
    },
}

/// The requests to the sink at once: a limit between 1 and the ceiling that follows the sink.
#[derive(Clone, Debug)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    places: Arc<Semaphore>,
    /// With one place, an event keeps it through its retries: strict order.
    strict: bool,
    ceiling: usize,
    control: Mutex<Control>,
}

/// The limiter's state; only touched with the lock held, never across an await.
#[derive(Debug)]
struct Control {
    limit: usize,
    /// Places to take back as they are returned (the limit shrank below what is out).
    debt: usize,
    /// Doubling rather than adding one (until the first shrink).
    slow_start: bool,
    /// The quickest mean round trip lately, in seconds.
    floor: Option<f64>,
    /// No growth before this (a `Retry-After`).
    hold_until: Option<Instant>,
    period: Period,
}

#[derive(Debug)]
struct Period {
    start: Instant,
    rtt_sum: f64,
    answers: u32,
    /// The limit already shrank in this period (for a push-back).
    shrunk: bool,
    /// A delivery found no free place in this period.
    saturated: bool,
}

impl Period {
    fn new(start: Instant) -> Self {
        Self {
            start,
            rtt_sum: 0.0,
            answers: 0,
            shrunk: false,
            saturated: false,
        }
    }
}

/// A place at the [`Gate`], held by one delivery.
#[derive(Debug)]
pub struct Pass {
    gate: Gate,
    place: Option<Place>,
}

/// One place; given back to the gate when dropped (or kept by it, when the limit shrank).
#[derive(Debug)]
struct Place {
    permit: Option<OwnedSemaphorePermit>,
    inner: Arc<Inner>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let keep = match self.inner.control.lock() {
            Ok(mut c) if c.debt > 0 => {
                c.debt -= 1;
                true
            }
            _ => false,
        };
        if keep {
            permit.forget();
        }
    }
}

impl Gate {
    /// At most `ceiling` requests at once (at least 1); with 1, events are sent strictly in
    /// order. Starts at one and adapts.
    pub fn new(ceiling: usize) -> Self {
        Self::starting_at(ceiling, 1)
    }

    /// A gate whose limit starts at `start` (tests, and a fixed limit: `start == ceiling`).
    pub fn starting_at(ceiling: usize, start: usize) -> Self {
        let ceiling = ceiling.max(1);
        let limit = start.clamp(1, ceiling);
        Self {
            inner: Arc::new(Inner {
                places: Arc::new(Semaphore::new(limit)),
                strict: ceiling == 1,
                ceiling,
                control: Mutex::new(Control {
                    limit,
                    debt: 0,
                    slow_start: true,
                    floor: None,
                    hold_until: None,
                    period: Period::new(Instant::now()),
                }),
            }),
        }
    }

    /// The limit now.
    pub fn limit(&self) -> usize {
        self.inner.control.lock().map_or(1, |c| c.limit)
    }

    /// A place now, if one is free.
    pub fn try_enter(&self) -> Option<Pass> {
        let permit = self.inner.places.clone().try_acquire_owned().ok()?;
        self.note_if_full();
        Some(self.pass(Some(permit)))
    }

    /// Wait for a place (first come, first served).
    pub async fn enter(&self) -> Pass {
        let permit = match self.inner.places.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                self.note_full();
                self.inner.places.clone().acquire_owned().await.ok()
            }
        };
        self.note_if_full();
        self.pass(permit)
    }

    fn pass(&self, permit: Option<OwnedSemaphorePermit>) -> Pass {
        Pass {
            gate: self.clone(),
            place: Some(Place {
                permit,
                inner: self.inner.clone(),
            }),
        }
    }

    /// Every place is taken: the limit is what holds deliveries back now.
    fn note_if_full(&self) {
        if self.inner.places.available_permits() == 0 {
            self.note_full();
        }
    }

    fn note_full(&self) {
        if let Ok(mut c) = self.inner.control.lock() {
            c.period.saturated = true;
        }
    }

    /// Take one answer into account; at the end of a period, move the limit.
    pub fn observe(&self, signal: Signal) {
        self.observe_at(signal, Instant::now());
    }

    fn observe_at(&self, signal: Signal, now: Instant) {
        if self.inner.ceiling == 1 {
            return;
        }
        let Ok(mut c) = self.inner.control.lock() else {
            return;
        };
        match signal {
            Signal::Answered { rtt } => {
                c.period.rtt_sum += rtt.as_secs_f64();
                c.period.answers += 1;
            }
            Signal::PushBack { retry_after } => {
                if let Some(ra) = retry_after {
                    let until = now + ra.min(Duration::from_secs(300));
                    c.hold_until = Some(c.hold_until.map_or(until, |h| h.max(until)));
                }
                if !c.period.shrunk {
                    c.period.shrunk = true;
                    let next = shrink(&mut c);
                    if next != c.limit {
                        self.set_limit(&mut c, next);
                    }
                }
            }
        }
        let mean = (c.period.answers > 0).then(|| c.period.rtt_sum / f64::from(c.period.answers));
        let length = Duration::from_secs_f64(mean.unwrap_or(0.0)).max(MIN_PERIOD);
        if now.duration_since(c.period.start) < length {
            return;
        }
        let elapsed = now.duration_since(c.period.start);
        let next = decide(&mut c, mean, elapsed, now, self.inner.ceiling);
        c.period = Period::new(now);
        if next != c.limit {
            self.set_limit(&mut c, next);
        }
    }

    /// Move the limit to `next`: new places are added at once; removed ones are taken back
    /// now if free, else as deliveries return them.
    fn set_limit(&self, c: &mut Control, next: usize) {
        if next > c.limit {
            let mut add = next - c.limit;
            let repaid = add.min(c.debt);
            c.debt -= repaid;
            add -= repaid;
            if add > 0 {
                self.inner.places.add_permits(add);
            }
        } else {
            let mut remove = c.limit - next;
            while remove > 0 {
                match self.inner.places.clone().try_acquire_owned() {
                    Ok(p) => {
                        p.forget();
                        remove -= 1;
                    }
                    Err(_) => break,
                }
            }
            c.debt += remove;
        }
        c.limit = next;
    }
}

/// How long the floor takes to double when the sink is never that quick again.
const FLOOR_DOUBLING: Duration = Duration::from_secs(60);

/// The floor a quicker sink is judged by (below it, round trips are mostly our scheduling).
///
/// Measured (`benches/adapter-measure.sh`, 20,000 events into an instant local sink, glibc
/// release build, two runs each): at 1 ms the limit grew until ~50 requests were out at once
/// and the catch-up peaked at 15.8-16.6 MiB; at 250 µs, 13.0-13.2 MiB, at 22,422-23,256
/// instead of 24,814-26,846 events/s (100 µs: 17,050 events/s, too tight). A sink 5 ms away
/// is unaffected (its floor is its own): 16,878-17,969 events/s.
const LEAST_FLOOR: Duration = Duration::from_micros(250);

/// The limit after a period of length `elapsed` whose answers had mean round trip `mean`
/// (none: only push-back).
fn decide(
    c: &mut Control,
    mean: Option<f64>,
    elapsed: Duration,
    now: Instant,
    ceiling: usize,
) -> usize {
    let limit = c.limit;
    if let Some(m) = mean {
        let creep = 1.0 + elapsed.as_secs_f64() / FLOOR_DOUBLING.as_secs_f64();
        c.floor = Some(c.floor.map_or(m, |f| (f * creep).min(m)));
    }
    let queueing = match (mean, c.floor) {
        (Some(m), Some(f)) => m > 2.0 * f.max(LEAST_FLOOR.as_secs_f64()),
        _ => false,
    };
    if c.period.shrunk {
        // Pushed back in this period: shrunk already.
        return limit;
    }
    if queueing {
        return shrink(c);
    }
    let held = c.hold_until.is_some_and(|h| now < h);
    if c.period.saturated && !held && c.period.answers > 0 {
        let grown = if c.slow_start {
            limit.saturating_mul(2)
        } else {
            limit + 1
        };
        return grown.min(ceiling);
    }
    limit
}

/// The limit after the sink pushed back or queued: a tenth less (at least one less), or half
/// when that ends slow start (back to the last limit the sink took well); never below 1.
fn shrink(c: &mut Control) -> usize {
    let limit = c.limit;
    if std::mem::replace(&mut c.slow_start, false) {
        return (limit / 2).max(1);
    }
    (limit - (limit / 10).max(1)).max(1)
}

impl Pass {
    /// The gate this pass is from.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Wait `wait` before trying again, away from the gate unless order is strict; `false`
    /// when `cancel` fired first.
    pub(crate) async fn wait_to_retry(
        &mut self,
        wait: Duration,
        cancel: &CancellationToken,
    ) -> bool {
        if !self.gate.inner.strict {
            self.place = None;
        }
        if crate::runtime::sleep_or_cancel(wait, cancel).await {
            return false;
        }
        if self.place.is_none() {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return false,
                pass = self.gate.enter() => self.place = pass.into_place(),
            }
        }
        true
    }

    fn into_place(mut self) -> Option<Place> {
        self.place.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Run `periods` periods in which the gate is saturated and every answer takes `rtt`
    /// (or is a push-back); the limits after each.
    fn run(gate: &Gate, start: Instant, periods: u32, signal: Signal) -> (Vec<usize>, Instant) {
        let mut now = start;
        let mut limits = Vec::new();
        for _ in 0..periods {
            gate.note_full();
            let step = match signal {
                Signal::Answered { rtt } => rtt.max(MIN_PERIOD),
                Signal::PushBack { .. } => MIN_PERIOD,
            };
            now += step;
            gate.observe_at(signal, now);
            limits.push(gate.limit());
        }
        (limits, now)
    }

    #[test]
    fn a_sink_that_keeps_up_is_given_the_ceiling_quickly() {
        let gate = Gate::new(64);
        let (limits, _) = run(&gate, Instant::now(), 8, Signal::Answered { rtt: 5 * MS });
        assert_eq!(limits, [2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(gate.inner.places.available_permits(), 64);
    }

    #[test]
    fn push_back_shrinks_the_limit_once_per_period_and_growth_is_then_additive() {
        let gate = Gate::starting_at(64, 64);
        let t0 = Instant::now();
        let (limits, t1) = run(&gate, t0, 3, Signal::PushBack { retry_after: None });
        assert_eq!(
            limits,
            [32, 29, 27],
            "slow start ends at half, then a tenth at a time"
        );
        let (limits, _) = run(&gate, t1, 3, Signal::Answered { rtt: 5 * MS });
        assert_eq!(limits, [28, 29, 30], "after a shrink, growth is by one");
        // Push-back down to one, never below.
        let gate = Gate::starting_at(8, 8);
        let (limits, _) = run(
            &gate,
            Instant::now(),
            6,
            Signal::PushBack { retry_after: None },
        );
        assert_eq!(limits, [4, 3, 2, 1, 1, 1]);
    }

    #[test]
    fn a_burst_of_refusals_shrinks_the_limit_once_and_at_once() {
        let gate = Gate::starting_at(64, 16);
        let t0 = Instant::now();
        gate.observe_at(Signal::Answered { rtt: MS }, t0 + MIN_PERIOD);
        // Five refusals within one period: the first halves the limit (ending slow start)
        // before the period ends; the rest change nothing.
        for i in 1..=5 {
            gate.observe_at(
                Signal::PushBack { retry_after: None },
                t0 + MIN_PERIOD + i * MS / 10,
            );
            assert_eq!(gate.limit(), 8, "after refusal {i}");
        }
    }

    #[test]
    fn rising_round_trips_shrink_the_limit() {
        let gate = Gate::starting_at(64, 32);
        let t0 = Instant::now();
        let (_, t1) = run(&gate, t0, 2, Signal::Answered { rtt: 2 * MS });
        assert_eq!(gate.limit(), 64);
        // The sink now takes 20 ms: above 2 × 2 ms, it is queueing.
        let (limits, _) = run(&gate, t1, 3, Signal::Answered { rtt: 20 * MS });
        assert_eq!(limits, [32, 29, 27]);
    }

    #[test]
    fn a_sink_answering_in_microseconds_is_judged_by_the_least_floor() {
        let gate = Gate::starting_at(64, 32);
        let t0 = Instant::now();
        let us = Duration::from_micros(1);
        let (_, t1) = run(&gate, t0, 1, Signal::Answered { rtt: 100 * us });
        assert_eq!(gate.limit(), 64);
        // 600 µs: below 1 ms, but above twice the least floor of 250 µs: our own CPU queues them.
        let (limits, t2) = run(&gate, t1, 2, Signal::Answered { rtt: 600 * us });
        assert_eq!(limits, [32, 29]);
        // 400 µs is within twice the least floor: growth again.
        let (limits, _) = run(&gate, t2, 2, Signal::Answered { rtt: 400 * us });
        assert_eq!(limits, [30, 31]);
    }

    #[test]
    fn retry_after_holds_growth_until_it_passed() {
        let gate = Gate::starting_at(64, 8);
        let t0 = Instant::now();
        let (_, t1) = run(
            &gate,
            t0,
            1,
            Signal::PushBack {
                retry_after: Some(Duration::from_secs(1)),
            },
        );
        assert_eq!(gate.limit(), 4);
        let (limits, t2) = run(&gate, t1, 5, Signal::Answered { rtt: 5 * MS });
        assert_eq!(limits, [4; 5], "held by Retry-After");
        let (limits, _) = run(
            &gate,
            t2 + Duration::from_secs(1),
            2,
            Signal::Answered { rtt: 5 * MS },
        );
        assert_eq!(limits, [5, 6]);
    }

    #[test]
    fn an_unsaturated_gate_does_not_grow() {
        let gate = Gate::starting_at(64, 4);
        let mut now = Instant::now();
        for _ in 0..5 {
            now += MIN_PERIOD;
            gate.observe_at(Signal::Answered { rtt: MS }, now);
        }
        assert_eq!(gate.limit(), 4);
    }

    #[tokio::test]
    async fn places_taken_back_while_out_are_kept_when_returned() {
        let gate = Gate::starting_at(8, 4);
        let passes: Vec<Pass> = (0..4).map(|_| gate.try_enter().expect("place")).collect();
        assert!(gate.try_enter().is_none());
        let mut c = gate.inner.control.lock().expect("lock");
        gate.set_limit(&mut c, 2);
        drop(c);
        drop(passes);
        assert_eq!(gate.inner.places.available_permits(), 2);
        let a = gate.try_enter().expect("first");
        let b = gate.try_enter().expect("second");
        assert!(gate.try_enter().is_none(), "the limit is 2");
        drop((a, b));
        let mut c = gate.inner.control.lock().expect("lock");
        gate.set_limit(&mut c, 8);
        drop(c);
        assert_eq!(gate.inner.places.available_permits(), 8);
    }

    #[test]
    fn strict_order_never_adapts() {
        let gate = Gate::new(1);
        let (limits, _) = run(&gate, Instant::now(), 4, Signal::Answered { rtt: MS });
        assert_eq!(limits, [1; 4]);
    }
}
