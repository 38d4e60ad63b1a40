//! `xsd:dateTime` parsing and formatting.
//!
//! vCenter writes microseconds with `Z`, govmomi's simulator up to nine fractional digits, and
//! XML Schema allows no offset (meaning UTC here) and more than nine digits (truncated).

use jiff::Timestamp;
use jiff::civil;

/// A point in time, UTC, with nanosecond precision.
pub type DateTime = Timestamp;

/// Why an `xsd:dateTime` could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid xsd:dateTime {value:?}: {reason}")]
pub struct DateTimeError {
    value: String,
    reason: String,
}

/// Parse an `xsd:dateTime`: RFC 3339 with an optional offset (none means UTC) and any number of
/// fractional digits (beyond nanoseconds truncated).
pub fn parse_xsd_datetime(text: &str) -> Result<DateTime, DateTimeError> {
    let text = text.trim();
    let err = |reason: String| DateTimeError {
        value: text.chars().take(64).collect(),
        reason,
    };
    // Every valid xsd:dateTime is ASCII; checking first keeps the byte slicing below on char
    // boundaries.
    if !text.is_ascii() {
        return Err(err("non-ASCII characters".into()));
    }
    // Split off the offset: `Z`, `+hh:mm` or `-hh:mm` after the time part.
    let time_start = text
        .find('T')
        .ok_or_else(|| err("no 'T' separator".into()))?;
    let (body, offset) = match text[time_start..].find(['Z', 'z', '+', '-']) {
        Some(i) => text.split_at(time_start + i),
        None => (text, ""),
    };
    // Truncate the fraction to nine digits.
    let body: std::borrow::Cow<'_, str> = match body.find('.') {
        Some(dot) if body.len() - dot - 1 > 9 => body[..dot + 10].into(),
        _ => body.into(),
    };
    let civil: civil::DateTime = body.parse().map_err(|e| err(format!("{e}")))?;
    let offset = match offset {
        "" | "Z" | "z" => jiff::tz::Offset::UTC,
        o => {
            let sign: i32 = if o.starts_with('-') { -1 } else { 1 };
            let (h, m) = o[1..]
                .split_once(':')
                .ok_or_else(|| err(format!("offset {o:?} is not ±hh:mm")))?;
            let h: i32 = h.parse().map_err(|_| err(format!("offset {o:?}")))?;
            let m: i32 = m.parse().map_err(|_| err(format!("offset {o:?}")))?;
            if h > 14 || m > 59 {
                return Err(err(format!("offset {o:?} out of range")));
            }
            jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60))
                .map_err(|e| err(format!("{e}")))?
        }
    };
    offset.to_timestamp(civil).map_err(|e| err(format!("{e}")))
}

/// Format as RFC 3339 in UTC with the fraction Go's `time.RFC3339Nano` writes: up to nine
/// digits, trailing zeros trimmed, none when whole seconds (`2026-11-27T02:47:56.34807577Z`).
pub fn format_rfc3339_nano(t: DateTime) -> String {
    let mut out = String::with_capacity(32);
    write_rfc3339_nano(&mut out, t);
    out
}

/// [`format_rfc3339_nano`] into a buffer.
pub fn write_rfc3339_nano(out: &mut String, t: DateTime) {
    use std::fmt::Write;
    let dt = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = dt.subsec_nanosecond();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spellings_vcenter_and_vcsim_use() {
        let cases = [
            ("2026-03-21T08:40:39.553822Z", "2026-03-21T08:40:39.553822Z"),
            (
                "2026-11-27T02:55:53.66589625Z",
                "2026-11-27T02:55:53.66589625Z",
            ),
            (
                "2026-11-27T02:55:53.123456789+02:00",
                "2026-11-27T00:55:53.123456789Z",
            ),
            ("2026-03-21T08:40:39", "2026-03-21T08:40:39Z"),
            (
                "2026-03-21T08:40:39.1234567891Z",
                "2026-03-21T08:40:39.123456789Z",
            ),
            ("2026-03-21T08:40:39.100-05:30", "2026-03-21T14:10:39.1Z"),
            (" 2026-03-21T08:40:39.000Z\n", "2026-03-21T08:40:39Z"),
        ];
        for (input, want) in cases {
            let t = parse_xsd_datetime(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(format_rfc3339_nano(t), want, "{input}");
        }
    }

    #[test]
    fn rejects_garbage_with_the_value_in_the_message() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00+5",
        ] {
            let e = parse_xsd_datetime(bad).expect_err(bad);
            assert!(e.to_string().contains("invalid xsd:dateTime"), "{e}");
        }
    }
}
