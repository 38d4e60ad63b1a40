//! When to retry a delivery.
//!
//! Knative's data-plane rules: 404, 409, 429, 5xx and transport errors (including a sink
//! that does not answer within the request timeout) are retried; any other 4xx, and 3xx, are
//! final. How long to wait is [`crate::backoff`]'s, honouring `Retry-After`.

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

/// Parse `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
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
