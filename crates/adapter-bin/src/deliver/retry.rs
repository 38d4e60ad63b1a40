//! When to retry a delivery.
//!
//! Knative's data-plane rules, and what a sink in a modern cluster answers for a while:
//!
//! | answer | verdict |
//! |---|---|
//! | 2xx | accepted |
//! | 307, 308 | followed (same method, body and headers; http→https allowed, https→http never; at most [`MAX_REDIRECTS`] hops); 308 is remembered for the next events |
//! | 404, 408, 409, 429, 5xx, no answer within the request timeout, transport errors | retried (Knative's retry table) |
//! | 401, 403 | retried: a broker with `authentication-oidc` before the source has a token, or an EventPolicy being applied; counted as identity refusals |
//! | 400, 413, 415, 422, any other 4xx, any other 3xx | final: dead-lettered when there is a dead-letter sink, else dropped and counted |
//!
//! How long to wait is [`crate::backoff`]'s, honouring `Retry-After`. Without a dead-letter sink
//! a retried event is never given up on; with one it goes there after `spec.delivery.retry`.

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
    /// The sink answered 307 or 308: send the same request to its `Location`.
    Redirect,
}

/// Redirects followed for one attempt.
pub const MAX_REDIRECTS: usize = 4;

/// Whether `status` says the sink does not (yet) accept the adapter's identity.
pub fn is_identity_refusal(status: u16) -> bool {
    matches!(status, 401 | 403)
}

/// Where a redirect from `from` to `location` goes, or why it is not followed.
pub fn redirect_target(from: &url::Url, location: Option<&str>) -> Result<url::Url, String> {
    let location = location.ok_or("the sink redirects without a Location header")?;
    let to = from
        .join(location)
        .map_err(|e| format!("the sink redirects to an invalid Location {location:?}: {e}"))?;
    match (from.scheme(), to.scheme()) {
        ("https", "http") => Err(format!(
            "the sink redirects from https to http ({to}); not followed, the event would travel unencrypted"
        )),
        (_, "http" | "https") => Ok(to),
        (_, other) => Err(format!(
            "the sink redirects to a {other}: URL ({to}); not followed"
        )),
    }
}

/// Classify an HTTP status.
pub fn classify_status(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted,
        307 | 308 => Verdict::Redirect,
        401 | 403 | 404 | 408 | 409 | 429 => Verdict::Retry,
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
        for s in [401, 403, 404, 408, 409, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), Verdict::Retry, "{s}");
        }
        for s in [307, 308] {
            assert_eq!(classify_status(s), Verdict::Redirect, "{s}");
        }
        for s in [300, 301, 302, 303, 304, 400, 405, 410, 413, 415, 422] {
            assert_eq!(classify_status(s), Verdict::Final, "{s}");
        }
        assert!(is_identity_refusal(401) && is_identity_refusal(403) && !is_identity_refusal(404));
    }

    #[test]
    fn redirects_never_downgrade_to_http() {
        let https: url::Url = "https://broker.example/ns/default".parse().expect("url");
        let http: url::Url = "http://broker.example/ns/default".parse().expect("url");
        assert_eq!(
            redirect_target(&http, Some("https://broker.example/ns/default/")).map(String::from),
            Ok("https://broker.example/ns/default/".to_owned())
        );
        assert_eq!(
            redirect_target(&https, Some("/events/")).map(String::from),
            Ok("https://broker.example/events/".to_owned())
        );
        let down = redirect_target(&https, Some("http://broker.example/")).expect_err("downgrade");
        assert!(down.contains("https to http"), "{down}");
        assert!(redirect_target(&https, None).is_err());
        assert!(redirect_target(&https, Some("ftp://x/")).is_err());
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
