//! How long to wait before trying again: exponential (or linear) growth, a cap, full jitter,
//! and a server's `Retry-After`. Used for sink deliveries (with `spec.delivery`'s policy) and
//! for reconnecting to vCenter and Horizon.

use std::time::Duration;

/// How the wait grows with the attempt number (`spec.delivery.backoffPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackoffPolicy {
    /// `delay * 2^(n-1)` (Knative's `exponential`, the default).
    #[default]
    Exponential,
    /// `delay * n` (Knative's `linear`).
    Linear,
}

impl BackoffPolicy {
    /// `exponential` or `linear`, as Knative spells them.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "exponential" => Some(Self::Exponential),
            "linear" => Some(Self::Linear),
            _ => None,
        }
    }
}

/// Waits between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first wait (`spec.delivery.backoffDelay`).
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How it grows.
    pub policy: BackoffPolicy,
}

impl Default for Backoff {
    /// Sink deliveries: 100 ms doubling up to 30 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            policy: BackoffPolicy::Exponential,
        }
    }
}

impl Backoff {
    /// Reconnecting to a source (vCenter, Horizon): 1 s doubling up to `max`.
    pub fn reconnect(max: Duration) -> Self {
        Self {
            initial: Duration::from_secs(1),
            max,
            policy: BackoffPolicy::Exponential,
        }
    }

    /// The wait after attempt `attempt` failed (counting from 1), jittered uniformly in
    /// `[cap/2, cap]` where cap grows by the policy up to `max`; a server's `Retry-After` wins
    /// when longer (bounded by five minutes).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let n = attempt.max(1);
        let factor = match self.policy {
            BackoffPolicy::Exponential => 2f64.powi((n - 1).min(64) as i32),
            BackoffPolicy::Linear => f64::from(n),
        };
        let cap = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        let wait = Duration::from_secs_f64(cap * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)));
        match retry_after {
            Some(ra) if ra > wait => ra.min(Duration::from_secs(300)),
            _ => wait,
        }
    }
}

/// A number in `[0, 1)` for jitter.
pub fn jitter() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_grows_caps_and_honours_retry_after() {
        let b = Backoff::default();
        assert_eq!(b.delay(1, None, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(2, None, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(4, None, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(1, None, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(40, None, 1.0), Duration::from_secs(30));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3)), 1.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.delay(40, Some(Duration::from_secs(1)), 1.0),
            Duration::from_secs(30)
        );
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3600)), 1.0),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn linear_grows_by_the_delay() {
        let b = Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(1),
            policy: BackoffPolicy::Linear,
        };
        assert_eq!(b.delay(1, None, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, None, 1.0), Duration::from_millis(600));
        assert_eq!(b.delay(9, None, 1.0), Duration::from_secs(1));
        assert_eq!(BackoffPolicy::parse("Linear"), Some(BackoffPolicy::Linear));
        assert_eq!(BackoffPolicy::parse("fibonacci"), None);
    }
}
