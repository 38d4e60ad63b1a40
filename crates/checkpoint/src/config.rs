//! `VSPHERE_CHECKPOINT_CONFIG` and the replay rule.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::Checkpoint;

/// How far back to replay and how often to save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// The oldest event replayed after a restart, relative to vCenter's clock. Zero disables
    /// replay.
    pub max_age: Duration,
    /// How often a changed checkpoint is saved.
    pub period: Duration,
}

/// Why a checkpoint configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not the expected JSON.
    #[error(
        "invalid VSPHERE_CHECKPOINT_CONFIG: {reason} (expected e.g. {{\"maxAge\":\"5m\",\"period\":\"10s\"}} with Go duration strings)"
    )]
    Json {
        /// What is wrong.
        reason: String,
    },
    /// A duration string that is not a Go duration, or negative.
    #[error(
        "invalid VSPHERE_CHECKPOINT_CONFIG {field}: {value:?} is not a non-negative Go duration such as \"300s\", \"5m\" or \"1h30m\""
    )]
    Duration {
        /// `maxAge` or `period`.
        field: &'static str,
        /// The value given.
        value: String,
    },
}

impl CheckpointConfig {
    /// Go's defaults: `maxAge` 5 minutes, `period` 10 seconds.
    pub const DEFAULT: CheckpointConfig = CheckpointConfig {
        max_age: Duration::from_secs(300),
        period: Duration::from_secs(10),
    };

    /// Parse `{"maxAge":"<go duration>","period":"<go duration>"}` as the Go adapter does:
    /// missing or empty strings take the defaults, numbers are refused, a zero `period` becomes
    /// 10 s, a zero `maxAge` is kept (no replay).
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(rename = "maxAge", default)]
            max_age: Option<String>,
            #[serde(default)]
            period: Option<String>,
        }
        if json.trim().is_empty() {
            return Ok(Self::DEFAULT);
        }
        let raw: Raw = serde_json::from_str(json).map_err(|e| ConfigError::Json {
            reason: e.to_string(),
        })?;
        let field = |name: &'static str, v: Option<String>, default: Duration| match v.as_deref() {
            None | Some("") => Ok(default),
            Some(s) => parse_go_duration(s).ok_or_else(|| ConfigError::Duration {
                field: name,
                value: s.to_owned(),
            }),
        };
        let max_age = field("maxAge", raw.max_age, Self::DEFAULT.max_age)?;
        let mut period = field("period", raw.period, Self::DEFAULT.period)?;
        if period.is_zero() {
            period = Self::DEFAULT.period;
        }
        Ok(Self { max_age, period })
    }

    /// Where to begin reading, by vCenter's clock `vcenter_now`: with no checkpoint, now (no
    /// replay); else the checkpoint's event time, but no earlier than `now - maxAge` (compared
    /// at whole seconds, as the Go adapter). Returns the time and whether events between the
    /// checkpoint and that time are skipped (possible data loss).
    pub fn begin_at(
        &self,
        vcenter_now: Timestamp,
        checkpoint: Option<&Checkpoint>,
    ) -> (Timestamp, bool) {
        let Some(last) = checkpoint.and_then(|c| c.last_event_key_timestamp) else {
            return (vcenter_now, false);
        };
        let max_age = SignedDuration::try_from(self.max_age).unwrap_or(SignedDuration::MAX);
        let oldest = vcenter_now.checked_sub(max_age).unwrap_or(Timestamp::MIN);
        if oldest.as_second() > last.as_second() {
            (oldest, true)
        } else {
            (last, false)
        }
    }
}

impl CheckpointConfig {
    /// As [`CheckpointConfig::begin_at`], with `maxAge` bounding how long the adapter was
    /// *away* rather than how old the checkpoint's event is: when the checkpoint was saved
    /// (`createdTimestamp`) no longer than `maxAge` before `adapter_now`, every event after it is
    /// replayed, however old, and nothing is skipped. For an adapter that saves its checkpoint
    /// every period while events are held back (vmware-sources does): a backlog the sink
    /// refused is then never mistaken for an old checkpoint. Otherwise, and when `maxAge` is 0
    /// (replay disabled), as `begin_at`.
    pub fn begin_after_away(
        &self,
        vcenter_now: Timestamp,
        adapter_now: Timestamp,
        checkpoint: Option<&Checkpoint>,
    ) -> (Timestamp, bool) {
        if let Some(cp) = checkpoint
            && let (Some(last), Some(saved)) = (cp.last_event_key_timestamp, cp.created_timestamp)
            && !self.max_age.is_zero()
        {
            let max_age = SignedDuration::try_from(self.max_age).unwrap_or(SignedDuration::MAX);
            if adapter_now.duration_since(saved) <= max_age {
                return (last, false);
            }
        }
        self.begin_at(vcenter_now, checkpoint)
    }
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Parse a Go duration string (`"300ms"`, `"1.5h"`, `"2h45m0s"`, `"-1s"` refused, `"0"`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_nanos: u128 = 0;
    while i < bytes.len() {
        // number: digits with an optional fraction
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &s[start..i];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let unit_start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let unit: u128 = match &s[unit_start..i] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut nanos = whole.checked_mul(unit)?;
        if !frac.is_empty() {
            let digits = frac.len().min(18) as u32;
            let f: u128 = frac[..digits as usize].parse().ok()?;
            nanos = nanos.checked_add(f * unit / 10u128.pow(digits))?;
        }
        total_nanos = total_nanos.checked_add(nanos)?;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (total_nanos % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_bounds_the_time_away_not_the_age_of_a_held_back_event() {
        let c = CheckpointConfig::from_json(r#"{"maxAge":"15s"}"#).expect("config");
        let now: Timestamp = "2026-12-07T10:00:00Z".parse().expect("now");
        let event: Timestamp = "2026-12-07T09:58:00Z".parse().expect("event");
        let mut cp = Checkpoint {
            last_event_key_timestamp: Some(event),
            ..Checkpoint::default()
        };
        // Saved 5 s ago by an adapter holding events back: the 2-minute-old event is resumed.
        cp.created_timestamp = Some(now - SignedDuration::from_secs(5));
        assert_eq!(c.begin_after_away(now, now, Some(&cp)), (event, false));
        // Saved a minute ago: away longer than maxAge, as begin_at.
        cp.created_timestamp = Some(now - SignedDuration::from_secs(60));
        assert_eq!(
            c.begin_after_away(now, now, Some(&cp)),
            (now - SignedDuration::from_secs(15), true)
        );
        // No saved time (an older checkpoint): as begin_at.
        cp.created_timestamp = None;
        assert_eq!(
            c.begin_after_away(now, now, Some(&cp)),
            c.begin_at(now, Some(&cp))
        );
        // maxAge 0 disables replay whatever the saved time.
        let zero = CheckpointConfig::from_json(r#"{"maxAge":"0s"}"#).expect("zero");
        cp.created_timestamp = Some(now);
        assert_eq!(zero.begin_after_away(now, now, Some(&cp)), (now, true));
    }

    #[test]
    fn go_table() {
        let c = CheckpointConfig::from_json("{}").expect("{}");
        assert_eq!(c, CheckpointConfig::DEFAULT);
        let c = CheckpointConfig::from_json(r#"{"maxAge":"0s","period":"0s"}"#).expect("zeros");
        assert_eq!(
            (c.max_age, c.period),
            (Duration::ZERO, Duration::from_secs(10))
        );
        let c = CheckpointConfig::from_json(r#"{"maxAge":"1h","period":"10s"}"#).expect("1h");
        assert_eq!(
            (c.max_age, c.period),
            (Duration::from_secs(3600), Duration::from_secs(10))
        );
        assert_eq!(
            CheckpointConfig::from_json("").expect("empty"),
            CheckpointConfig::DEFAULT
        );
    }

    #[test]
    fn refuses_numbers_negatives_and_garbage_naming_the_field() {
        let e = CheckpointConfig::from_json(r#"{"maxAge":3600000000000}"#).expect_err("number");
        assert!(e.to_string().contains("VSPHERE_CHECKPOINT_CONFIG"), "{e}");
        let e = CheckpointConfig::from_json(r#"{"period":"-5s"}"#).expect_err("negative");
        assert!(
            e.to_string().contains("period") && e.to_string().contains("-5s"),
            "{e}"
        );
        let e = CheckpointConfig::from_json(r#"{"maxAge":"5 minutes"}"#).expect_err("words");
        assert!(e.to_string().contains("maxAge"), "{e}");
        assert!(CheckpointConfig::from_json(r#"{"maxage":"5m"}"#).is_err());
    }

    #[test]
    fn go_durations() {
        let d = |s| parse_go_duration(s);
        assert_eq!(d("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("2h45m0s"), Some(Duration::from_secs(9900)));
        assert_eq!(d("5m0s"), Some(Duration::from_secs(300)));
        assert_eq!(d("1µs"), Some(Duration::from_micros(1)));
        assert_eq!(d("1us2ns"), Some(Duration::from_nanos(1002)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d(".5s"), Some(Duration::from_millis(500)));
        for bad in ["", "5", "-1s", "1d", "s", "1..2s", "1h-5m"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn begin_follows_the_go_rules_on_vcenters_clock() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().expect("t");
        let cfg = CheckpointConfig::DEFAULT;
        assert_eq!(cfg.begin_at(now, None), (now, false));
        let recent = Checkpoint {
            last_event_key_timestamp: Some("2026-11-27T11:58:00.5Z".parse().expect("t")),
            ..Checkpoint::default()
        };
        assert_eq!(
            cfg.begin_at(now, Some(&recent)),
            (recent.last_event_key_timestamp.expect("t"), false)
        );
        let old = Checkpoint {
            last_event_key_timestamp: Some("2026-11-27T10:00:00Z".parse().expect("t")),
            ..Checkpoint::default()
        };
        let (begin, lossy) = cfg.begin_at(now, Some(&old));
        assert_eq!(
            begin,
            "2026-11-27T11:55:00Z".parse::<Timestamp>().expect("t")
        );
        assert!(lossy);
        let no_replay = CheckpointConfig {
            max_age: Duration::ZERO,
            ..cfg
        };
        assert_eq!(no_replay.begin_at(now, Some(&recent)), (now, true));
        assert_eq!(
            cfg.begin_at(now, Some(&Checkpoint::default())),
            (now, false)
        );
    }
}
