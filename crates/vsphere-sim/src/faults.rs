//! Fault injection: what the next requests suffer.
//!
//! Counters ("the next N requests") and periodic rules ("every Nth request") for failing with a
//! SOAP fault (HTTP 500) or a non-SOAP 503, dropping the connection, and truncating the body;
//! a fixed added latency; an override of the session idle timeout. All settable at any time
//! from code ([`crate::Simulator::faults`]), from the command line at start, and over HTTP
//! (`POST /sim/...`, see [`crate::server`]).

use std::sync::Mutex;
use std::time::Duration;

/// How a failed request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 500 with a SOAP `SystemError` fault (transient, as a busy vCenter sends).
    SoapFault,
    /// HTTP 503 with an HTML body (a proxy or load balancer in front of vCenter).
    Unavailable,
    /// Close the connection after reading the request, without answering.
    Drop,
    /// Answer 200 with the body cut in the middle.
    Truncate,
    /// Carry out the request, then close the connection without answering: the server acted
    /// (an event collector moved its cursor) and the answer is lost.
    DropAfter,
    /// Carry out the request, then hold the answer (see [`Faults::set_stall`]) so the client
    /// times out after the server acted.
    Stall,
}

impl std::str::FromStr for Failure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "500" | "fault" | "soap-fault" => Ok(Failure::SoapFault),
            "503" | "unavailable" => Ok(Failure::Unavailable),
            "drop" => Ok(Failure::Drop),
            "truncate" => Ok(Failure::Truncate),
            "drop-after" => Ok(Failure::DropAfter),
            "stall" => Ok(Failure::Stall),
            other => Err(format!(
                "unknown failure {other:?} (500, 503, drop, drop-after, stall or truncate)"
            )),
        }
    }
}

#[derive(Debug, Default)]
struct Plan {
    /// Failures queued for the next requests, applied in order.
    next: Vec<(Failure, u32, Option<String>)>,
    /// Every Nth request fails this way.
    every: Option<(Failure, u64)>,
    latency: Duration,
    /// Events to append just before answering the next request of a method.
    generate_before: Vec<(String, usize)>,
    idle_timeout: Option<Duration>,
    /// How long a stalled answer is held.
    stall: Option<Duration>,
    /// Keys of events whose XML is written so that it does not decode (a bad `xsd:int`).
    poisoned: Vec<i64>,
    /// Keys of events written with a `fullFormattedMessage` of this many bytes.
    inflated: Vec<(i64, usize)>,
    seen: u64,
    injected: u64,
}

/// The fault plan. Cheap to query; every request consults it once.
#[derive(Debug, Default)]
pub struct Faults {
    plan: Mutex<Plan>,
}

impl Faults {
    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make the next `n` requests fail with `failure`.
    pub fn fail_next(&self, n: u32, failure: Failure) {
        if n > 0 {
            self.plan().next.push((failure, n, None));
        }
    }

    /// Make the next `n` calls of SOAP method `method` fail with `failure`.
    pub fn fail_next_method(&self, method: &str, n: u32, failure: Failure) {
        if n > 0 {
            self.plan().next.push((failure, n, Some(method.to_owned())));
        }
    }

    /// Append `n` generated events just before answering the next `method` request: events
    /// that arrive at an exact point of a client's conversation (a race made repeatable).
    pub fn generate_before(&self, method: &str, n: usize) {
        if n > 0 {
            self.plan().generate_before.push((method.to_owned(), n));
        }
    }

    /// How many events to generate before answering this `method` request (consumed).
    pub(crate) fn take_generation(&self, method: &str) -> usize {
        let mut p = self.plan();
        match p.generate_before.iter().position(|(m, _)| m == method) {
            Some(i) => p.generate_before.remove(i).1,
            None => 0,
        }
    }

    /// Make every `n`th request fail with `failure` (`n` = 0 turns it off).
    pub fn fail_every(&self, n: u64, failure: Failure) {
        self.plan().every = (n > 0).then_some((failure, n));
    }

    /// Add `latency` before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.plan().latency = latency;
    }

    /// The added latency.
    pub fn latency(&self) -> Duration {
        self.plan().latency
    }

    /// Override the session idle timeout (`None`: the configured one).
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        self.plan().idle_timeout = timeout;
    }

    pub(crate) fn idle_timeout_override(&self) -> Option<Duration> {
        self.plan().idle_timeout
    }

    /// How long a [`Failure::Stall`] holds its answer (default 60 s).
    pub fn set_stall(&self, hold: Duration) {
        self.plan().stall = Some(hold);
    }

    pub(crate) fn stall(&self) -> Duration {
        self.plan().stall.unwrap_or(Duration::from_secs(60))
    }

    /// Write event `key` so that it does not decode, every time it is read (its `chainId` is
    /// not an `xsd:int`): a poison event.
    pub fn poison_event(&self, key: i64) {
        self.plan().poisoned.push(key);
    }

    /// Write event `key` with a `fullFormattedMessage` of `bytes` bytes, every time it is read:
    /// an answer holding it alone can exceed a client's response limit.
    pub fn inflate_event(&self, key: i64, bytes: usize) {
        self.plan().inflated.push((key, bytes));
    }

    pub(crate) fn inflated(&self, key: i64) -> Option<usize> {
        let p = self.plan();
        p.inflated
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, bytes)| *bytes)
    }

    pub(crate) fn is_poisoned(&self, key: i64) -> bool {
        let p = self.plan();
        !p.poisoned.is_empty() && p.poisoned.contains(&key)
    }

    /// Forget all queued and periodic failures and the latency.
    pub fn clear(&self) {
        let mut p = self.plan();
        p.next.clear();
        p.every = None;
        p.latency = Duration::ZERO;
        p.generate_before.clear();
        p.idle_timeout = None;
        p.stall = None;
        p.poisoned.clear();
        p.inflated.clear();
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        self.plan().injected
    }

    /// The failure for this request, if any (consumes it).
    pub(crate) fn take(&self, method: &str) -> Option<Failure> {
        let mut p = self.plan();
        p.seen += 1;
        let seen = p.seen;
        let pos = p
            .next
            .iter()
            .position(|(_, _, m)| m.as_deref().is_none_or(|m| m == method));
        let failure = if let Some(i) = pos {
            let f = p.next[i].0;
            p.next[i].1 -= 1;
            if p.next[i].1 == 0 {
                p.next.remove(i);
            }
            Some(f)
        } else {
            match p.every {
                Some((f, n)) if seen.is_multiple_of(n) => Some(f),
                _ => None,
            }
        };
        if failure.is_some() {
            p.injected += 1;
        }
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_failures_are_consumed_in_order() {
        let f = Faults::default();
        f.fail_next(2, Failure::Unavailable);
        f.fail_next_method("Login", 1, Failure::Drop);
        assert_eq!(f.take("Login"), Some(Failure::Unavailable));
        assert_eq!(f.take("X"), Some(Failure::Unavailable));
        assert_eq!(f.take("X"), None);
        assert_eq!(f.take("Login"), Some(Failure::Drop));
        assert_eq!(f.take("Login"), None);
        f.generate_before("CreateFilter", 3);
        assert_eq!(f.take_generation("ReadNextEvents"), 0);
        assert_eq!(f.take_generation("CreateFilter"), 3);
        assert_eq!(f.take_generation("CreateFilter"), 0, "once");
        f.fail_every(2, Failure::Truncate);
        assert_eq!(f.take("X"), Some(Failure::Truncate));
        assert_eq!(f.take("X"), None);
        assert_eq!(f.injected(), 4);
    }
}
