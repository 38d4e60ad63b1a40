//! When to retry a delivery, and how long to wait.
//!
//! Knative's data-plane rules: 404, 409, 429, 5xx and transport errors (including a sink
//! that does not answer within `K_SINK_TIMEOUT`) are retried; any other 4xx, and 3xx, are final.
//! Waits grow exponentially with full jitter and honour `Retry-After`.

use std::time::Duration;

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the sink has the event.
    Accepted,
    /// Try again after a wait.
    Retry,
    /// The sink refused the event for good.
    Final,
}

/// Classify an HTTP status.
pub fn classify_status(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted,
        404 | 409 | 429 => Verdict::Retry,
        500..=599 => Verdict::Retry,
        _ => Verdict::Final,
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Growth per attempt.
    pub factor: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            factor: 2.0,
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt + 1` (attempt counts from 1), jittered uniformly in
    /// `[cap/2, cap]` where cap grows exponentially; a server's `Retry-After` wins when longer
    /// (bounded by five minutes).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = self.factor.powi(attempt.saturating_sub(1).min(64) as i32);
        let cap = self.initial.as_secs_f64() * exp;
        let cap = cap.min(self.max.as_secs_f64());
        let jitter = jitter.clamp(0.0, 1.0);
        let wait = Duration::from_secs_f64(cap * (0.5 + 0.5 * jitter));
        match retry_after {
            Some(ra) if ra > wait => ra.min(Duration::from_secs(300)),
            _ => wait,
        }
    }
}

/// Parse `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A number in `[0, 1)` for jitter: xorshift per thread, seeded from the clock and the thread.
pub fn jitter() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15);
            let id = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::thread::current().id().hash(&mut h);
                h.finish()
            };
            (t ^ id) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knative_status_table() {
        for s in [200, 201, 202, 204] {
            assert_eq!(classify_status(s), Verdict::Accepted, "{s}");
        }
        for s in [404, 409, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), Verdict::Retry, "{s}");
        }
        for s in [301, 400, 401, 403, 405, 408, 413, 415, 422] {
            assert_eq!(classify_status(s), Verdict::Final, "{s}");
        }
    }

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
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
    fn retry_after_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
