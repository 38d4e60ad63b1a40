//! Progress a person can see: while the adapter is behind, one line every interval (10 s by
//! default) with what was delivered, the rate, the lag and the checkpoint; one line when it has
//! caught up.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use tracing::info;

use crate::telemetry::Metrics;

/// What the progress lines need to remember.
#[derive(Debug)]
pub struct ProgressLines {
    every: Duration,
    delivered: u64,
    at_last_line: (u64, Instant),
    /// The newest creation time among settled events.
    newest: Option<Timestamp>,
    /// The last batch read reached the source's newest event.
    source_caught_up: bool,
    /// "caught up" was said since the last batch that was not.
    said_caught_up: bool,
}

impl ProgressLines {
    /// Nothing delivered yet; a line every `every` while behind.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            delivered: 0,
            at_last_line: (0, Instant::now()),
            newest: None,
            source_caught_up: false,
            said_caught_up: false,
        }
    }

    /// A batch was read.
    pub fn batch(&mut self, caught_up: bool) {
        self.source_caught_up = caught_up;
        if !caught_up {
            self.said_caught_up = false;
        }
    }

    /// An event settled (delivered, dead-lettered or refused).
    pub fn settled(&mut self, created: Option<Timestamp>, metrics: &Metrics) {
        self.delivered += 1;
        if let Some(c) = created
            && self.newest.is_none_or(|n| c > n)
        {
            self.newest = Some(c);
        }
        if let Some(lag) = self.lag() {
            metrics.set_lag(lag);
        }
    }

    fn lag(&self) -> Option<Duration> {
        self.newest
            .and_then(|n| Duration::try_from(Timestamp::now() - n).ok())
    }

    /// Nothing is waiting or in flight: say "caught up" once, if the source is.
    pub fn maybe_caught_up(&mut self, checkpoint: Option<String>) {
        if self.source_caught_up && !self.said_caught_up {
            self.said_caught_up = true;
            info!(
                delivered = self.delivered,
                lag_s = self.lag().map(|l| l.as_secs_f64()),
                checkpoint = checkpoint.as_deref(),
                "caught up; delivering new events as they come"
            );
            self.at_last_line = (self.delivered, Instant::now());
        }
    }

    /// The periodic line, while behind (`pending` events read and not yet settled).
    pub fn tick(&mut self, pending: usize, concurrency: usize, checkpoint: Option<String>) {
        let behind = !self.source_caught_up || pending > 0;
        let (before, since) = self.at_last_line;
        let elapsed = since.elapsed().as_secs_f64();
        if behind && self.delivered > 0 && elapsed >= self.every.as_secs_f64() / 2.0 {
            let rate = (self.delivered - before) as f64 / elapsed.max(0.001);
            info!(
                delivered = self.delivered,
                events_per_s = (rate * 10.0).round() / 10.0,
                lag_s = self.lag().map(|l| l.as_secs_f64().round()),
                pending,
                concurrency,
                checkpoint = checkpoint.as_deref(),
                "catching up"
            );
        }
        self.at_last_line = (self.delivered, Instant::now());
    }
}
