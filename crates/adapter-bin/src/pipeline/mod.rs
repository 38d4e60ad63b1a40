//! The pipeline every source plugs into: read → encode → deliver → checkpoint.
//!
//! One event's way: the reader task asks the [`Source`] for the next batch and
//! [encodes](crate::encode) each event for the target; the delivery loop admits events to the
//! [window](window::Window) in read order and [delivers](crate::deliver) as many of them at once
//! as the [gate](crate::deliver::Gate) lets through (a limit that follows the sink, up to
//! `concurrency`), each retried on its own; as events settle (in any order) the window's low
//! watermark moves and the source folds every passed event into the checkpoint, which the
//! [saver](crate::checkpointing) stores every period. With `concurrency` 1 events are sent
//! strictly in order.
//!
//! Shutdown (SIGTERM): reading stops, no new delivery starts, deliveries in flight get
//! `shutdown_grace` (then are abandoned, mid-request too, and not checkpointed), the reader
//! closes the source, and then the checkpoint is saved. Nothing is ever checkpointed ahead of an event that is
//! still in flight, so a `kill -9` at any moment re-sends at most the events after the last
//! saved watermark.

mod progress;
pub mod window;

use std::sync::Arc;
use std::time::Duration;

use checkpoint::CheckpointStore;
use cloudevent_encode::binding::ContentMode;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::checkpointing::{CATCH_UP_SAVE_EVENTS, LatestCheckpoint, run_saver};
use crate::deliver::{Gate, Outcome, Pass, Target};
use crate::encode::{self, Encode, Payload};
use crate::source::Source;
use crate::telemetry::Metrics;
use progress::ProgressLines;
use window::Window;

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most deliveries at once (`DELIVERY_CONCURRENCY`; the gate adapts below it; 1 keeps
    /// strict order).
    pub concurrency: usize,
    /// How often the checkpoint is saved when it moved.
    pub checkpoint_period: Duration,
    /// How long deliveries in flight may still take after shutdown.
    pub shutdown_grace: Duration,
    /// Time between progress lines while catching up.
    pub progress_interval: Duration,
}

/// How far delivery may run ahead of the oldest event still in flight. Events settled behind
/// it cost only their checkpoint marks, so it can be wide: wide enough that an event retried
/// for many seconds does not stop the others (at thousands of events per second), and about
/// what a 10 s checkpoint period re-sends after a `kill -9` anyway.
const WINDOW_SPAN: usize = 65_536;

/// An event read and encoded, waiting for its delivery.
struct Ready<M> {
    mark: M,
    created: Option<Timestamp>,
    payload: Payload,
}

struct ReadyBatch<M> {
    events: Vec<Ready<M>>,
    caught_up: bool,
}

/// What [`run`] needs: one context instead of eight arguments.
pub struct Context<S: Source, E> {
    /// Where events come from.
    pub source: S,
    /// How they become CloudEvents.
    pub encoder: E,
    /// Where they go.
    pub target: Target,
    /// Where the checkpoint is saved.
    pub store: Arc<dyn CheckpointStore>,
    /// The stored checkpoint, where the saved checkpoint starts.
    pub resume: Option<S::Checkpoint>,
    /// `resume` is not stored yet: save it at once.
    pub resume_unsaved: bool,
    /// How the pipeline runs.
    pub settings: Settings,
    /// The adapter's metrics.
    pub metrics: Arc<Metrics>,
    /// Fires on SIGTERM.
    pub shutdown: CancellationToken,
}

/// Run `cx.source` through the pipeline into `cx.target` until `cx.shutdown` fires, resuming
/// from `cx.resume` (the stored checkpoint). Returns once the source is closed and then the
/// checkpoint saved.
pub async fn run<S, E>(cx: Context<S, E>)
where
    S: Source,
    E: Encode<S::Event>,
{
    let Context {
        source,
        encoder,
        target,
        store,
        resume,
        resume_unsaved,
        settings,
        metrics,
        shutdown,
    } = cx;
    let concurrency = settings.concurrency.max(1);
    let (tx, mut rx) = mpsc::channel::<ReadyBatch<S::Mark>>(2);
    let stop_reading = CancellationToken::new();
    let reader = tokio::spawn(read_and_encode(
        source,
        encoder,
        target.mode(),
        target.traced(),
        tx,
        metrics.clone(),
        stop_reading.clone(),
    ));

    // The saved checkpoint starts at the stored one: a restart that delivers nothing
    // saves nothing, and one that delivers continues from it.
    let latest = Arc::new(LatestCheckpoint::new(resume.clone()));
    if resume_unsaved && resume.is_some() {
        // Where this first run begins: stored before anything is read, so a restart that
        // comes before the first delivery begins here too and skips nothing.
        latest.set(resume.clone());
        latest.request_save();
    }
    let stop_saving = CancellationToken::new();
    let saver = tokio::spawn(run_saver(
        store,
        latest.clone(),
        S::checkpoint_json,
        S::describe,
        settings.checkpoint_period,
        metrics.clone(),
        stop_saving.clone(),
    ));

    let abandon = crate::runtime::abandon_after(&shutdown, settings.shutdown_grace);
    let mut checkpoint = resume;
    let mut window = Window::new(if concurrency == 1 { 1 } else { WINDOW_SPAN });
    let gate = Gate::new(concurrency);
    let mut waiting: std::collections::VecDeque<Ready<S::Mark>> = Default::default();
    let mut inflight = FuturesUnordered::new();
    let mut progress_lines = ProgressLines::new(settings.progress_interval);
    let mut ticker = tokio::time::interval(settings.progress_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    let mut reading_ended = false;
    // Events settled since the last catch-up save request.
    let mut settled_since_save = 0u64;
    loop {
        metrics.set_in_flight(inflight.len());
        metrics.set_concurrency_limit(gate.limit());
        // Events read and not yet settled: the saver keeps the checkpoint's saved time fresh
        // meanwhile, so a restart knows the adapter was not away (see checkpointing).
        latest.set_held_back(!(window.is_empty() && waiting.is_empty()));
        if inflight.is_empty() && (stopping || (reading_ended && waiting.is_empty())) {
            break;
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                stop_reading.cancel();
                if !inflight.is_empty() {
                    debug!(in_flight = inflight.len(), "waiting for deliveries in flight");
                }
            }
            // Admit the next event once the gate has a place for its first request.
            pass = gate.enter(), if !stopping && window.has_room() && !waiting.is_empty() => {
                if let Some(ready) = waiting.pop_front() {
                    let seq = window.push(ready.mark);
                    inflight.push(deliver_one(
                        &target,
                        seq,
                        ready.payload,
                        pass,
                        ready.created,
                        &metrics,
                        &abandon,
                    ));
                }
            }
            Some((seq, outcome, created)) = inflight.next(), if !inflight.is_empty() => {
                if !outcome.is_settled() && !stopping {
                    // Not shutdown: the target itself failed for good (stdout closed).
                    warn!("the target cannot take events any more; stopping");
                    stopping = true;
                    stop_reading.cancel();
                }
                if outcome.is_settled() {
                    let mut moved = false;
                    window.settle(seq, |mark| {
                        S::settle(&mut checkpoint, mark);
                        moved = true;
                    });
                    if moved {
                        latest.set(checkpoint.clone());
                    }
                    progress_lines.settled(created, &metrics);
                    settled_since_save += 1;
                }
                if window.is_empty() && waiting.is_empty() {
                    progress_lines.maybe_caught_up(checkpoint.as_ref().map(S::describe));
                    if settled_since_save >= CATCH_UP_SAVE_EVENTS {
                        settled_since_save = 0;
                        latest.request_save();
                    }
                }
            }
            batch = rx.recv(), if !stopping && !reading_ended && waiting.is_empty() => {
                match batch {
                    Some(batch) => {
                        progress_lines.batch(batch.caught_up);
                        waiting.extend(batch.events);
                    }
                    None => reading_ended = true,
                }
            }
            _ = ticker.tick() => {
                progress_lines.tick(window.len() + waiting.len(), gate.limit(), checkpoint.as_ref().map(S::describe));
            }
        }
    }
    metrics.set_in_flight(0);

    stop_reading.cancel();
    let reader_budget = Duration::from_secs(adapter_env::default::SHUTDOWN_SOURCE_SECONDS + 1);
    if tokio::time::timeout(reader_budget, reader).await.is_err() {
        warn!("the reader did not stop in time; leaving it");
    }
    stop_saving.cancel();
    let save_budget = Duration::from_secs(adapter_env::default::SHUTDOWN_SAVE_SECONDS);
    if tokio::time::timeout(save_budget, saver).await.is_err() {
        warn!("the final checkpoint save did not finish in time");
    }
}

/// The reader task: read a batch, encode it for the target (`mode`; `traced`: keep the read
/// time), hand it over; until `stop`, then close the source.
async fn read_and_encode<S, E>(
    mut source: S,
    encoder: E,
    mode: ContentMode,
    traced: bool,
    tx: mpsc::Sender<ReadyBatch<S::Mark>>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) where
    S: Source,
    E: Encode<S::Event>,
{
    loop {
        let batch = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            b = source.next_batch() => b,
        };
        metrics.read.add(batch.events.len() as u64);
        // With tracing on, each event's span begins when its batch was read.
        let read_at = traced.then(std::time::SystemTime::now);
        let events = batch
            .events
            .iter()
            .map(|e| Ready {
                mark: source.mark(e),
                created: S::created(e),
                payload: encode::outgoing(&encoder, e, mode).map(|mut o| {
                    o.read_at = read_at;
                    o
                }),
            })
            .collect();
        let ready = ReadyBatch {
            events,
            caught_up: batch.caught_up,
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            sent = tx.send(ready) => if sent.is_err() { break },
        }
    }
    source.close().await;
}

/// One delivery: its sequence number, how it ended, and the event's creation time.
async fn deliver_one(
    target: &Target,
    seq: u64,
    payload: Payload,
    pass: Pass,
    created: Option<Timestamp>,
    metrics: &Metrics,
    abandon: &CancellationToken,
) -> (u64, Outcome, Option<Timestamp>) {
    let outcome = target.deliver(payload, pass, metrics, abandon).await;
    (seq, outcome, created)
}
