//! Horizon's query filters ([`Filter`]: `And`, `Or`, `Equals`, `Between`) and the audit-event
//! selection built on them ([`AuditEventFilter`]: event types, modules, severities).

use std::fmt;
use std::str::FromStr;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::{AuditEvent, BetweenFilter};

/// A Horizon REST filter expression, the JSON of the `filter` query parameter (Horizon's
/// "Pagination and Filter Guide"): `{"type":"And","filters":[…]}`,
/// `{"type":"Equals","name":"severity","value":"ERROR"}`,
/// `{"type":"Between","fromValue":1,"name":"time","toValue":2}`.
///
/// ```
/// use horizon_client::Filter;
/// let f = Filter::And(vec![
///     Filter::between("time", 1000, 2000),
///     Filter::equals("severity", "ERROR"),
/// ]);
/// assert_eq!(
///     f.to_json(),
///     r#"{"type":"And","filters":[{"type":"Between","fromValue":1000,"name":"time","toValue":2000},{"type":"Equals","name":"severity","value":"ERROR"}]}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every filter holds.
    And(Vec<Filter>),
    /// At least one filter holds.
    Or(Vec<Filter>),
    /// The field `name` equals `value`.
    Equals {
        /// The field, e.g. `type`.
        name: String,
        /// The value.
        value: serde_json::Value,
    },
    /// `from <= name <= to` (inclusive; Horizon supports it on `time`, in milliseconds).
    Between {
        /// The field, e.g. `time`.
        name: String,
        /// The lower bound.
        from: i64,
        /// The upper bound.
        to: i64,
    },
}

impl Filter {
    /// `Equals` on a string field.
    pub fn equals(name: &str, value: &str) -> Self {
        Filter::Equals {
            name: name.to_owned(),
            value: serde_json::Value::String(value.to_owned()),
        }
    }

    /// `Between` on a number field.
    pub fn between(name: &str, from: i64, to: i64) -> Self {
        Filter::Between {
            name: name.to_owned(),
            from,
            to,
        }
    }

    /// `Equals` on `name` for one value, `Or` of them for several, `None` for none.
    pub fn any_of(name: &str, values: &[String]) -> Option<Self> {
        match values {
            [] => None,
            [one] => Some(Filter::equals(name, one)),
            many => Some(Filter::Or(
                many.iter().map(|v| Filter::equals(name, v)).collect(),
            )),
        }
    }

    /// The JSON for the `filter` query parameter.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl From<BetweenFilter> for Filter {
    fn from(b: BetweenFilter) -> Self {
        Filter::between("time", b.from_value, b.to_value)
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Filter::And(filters) | Filter::Or(filters) => {
                let mut m = serializer.serialize_map(Some(2))?;
                let kind = if matches!(self, Filter::And(_)) {
                    "And"
                } else {
                    "Or"
                };
                m.serialize_entry("type", kind)?;
                m.serialize_entry("filters", filters)?;
                m.end()
            }
            Filter::Equals { name, value } => {
                let mut m = serializer.serialize_map(Some(3))?;
                m.serialize_entry("type", "Equals")?;
                m.serialize_entry("name", name)?;
                m.serialize_entry("value", value)?;
                m.end()
            }
            // The Go adapter's field order.
            Filter::Between { name, from, to } => {
                let mut m = serializer.serialize_map(Some(4))?;
                m.serialize_entry("type", "Between")?;
                m.serialize_entry("fromValue", from)?;
                m.serialize_entry("name", name)?;
                m.serialize_entry("toValue", to)?;
                m.end()
            }
        }
    }
}

/// An audit event's severity (`AuditEventSummary.severity`).
///
/// It parses from Horizon's words in any case (`error`, `AUDIT_FAIL`) and prints them in
/// Horizon's (upper) case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// `INFO`.
    Info,
    /// `WARNING`.
    Warning,
    /// `ERROR`.
    Error,
    /// `AUDIT_SUCCESS`.
    AuditSuccess,
    /// `AUDIT_FAIL`.
    AuditFail,
    /// `UNKNOWN`.
    Unknown,
}

impl Severity {
    /// Every severity, in Horizon's order.
    pub const ALL: [Severity; 6] = [
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::AuditSuccess,
        Severity::AuditFail,
        Severity::Unknown,
    ];

    /// `INFO`, `WARNING`, `ERROR`, `AUDIT_SUCCESS`, `AUDIT_FAIL` or `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::AuditSuccess => "AUDIT_SUCCESS",
            Severity::AuditFail => "AUDIT_FAIL",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity that is not one of Horizon's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Horizon severity {0:?}: use INFO, WARNING, ERROR, AUDIT_SUCCESS, AUDIT_FAIL or UNKNOWN"
)]
pub struct SeverityError(pub String);

impl FromStr for Severity {
    type Err = SeverityError;

    fn from_str(s: &str) -> Result<Self, SeverityError> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| SeverityError(s.to_owned()))
    }
}

/// Which audit events to read, besides their time: any of these event types, and any of these
/// modules, and any of these severities. An empty list does not filter.
///
/// Horizon applies it: the query's `filter` is `And` of the time range and, per non-empty list,
/// an `Equals` (or an `Or` of `Equals`) on `type`, `module`, `severity`, the fields Horizon
/// filters audit events on. The client checks each event again (event types and modules without
/// regard to case), and a Horizon that refuses the combined filter (HTTP 400) is asked for the
/// time range alone, the rest applied by the client ([`crate::AuditEventStream`] does this by
/// itself).
///
/// ```
/// use horizon_client::{AuditEventFilter, Severity};
/// let only = AuditEventFilter {
///     event_types: vec!["vlsi_userloggedin".into(), "BROKER_USERLOGGEDIN".into()],
///     modules: vec![],
///     severities: vec![Severity::AuditSuccess],
/// };
/// assert!(!only.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditEventFilter {
    /// Event types, e.g. `VLSI_USERLOGGEDIN` (Horizon's are upper case; any case is accepted).
    pub event_types: Vec<String>,
    /// Modules as Horizon names them, e.g. `Broker`, `Vlsi`, `Admin`, `Agent`.
    pub modules: Vec<String>,
    /// Severities.
    pub severities: Vec<Severity>,
}

impl AuditEventFilter {
    /// Whether it selects every event.
    pub fn is_empty(&self) -> bool {
        self.event_types.is_empty() && self.modules.is_empty() && self.severities.is_empty()
    }

    /// The query filter: `time` in `time`'s range and, when there are any, the event types,
    /// modules and severities (event types upper-cased, as Horizon writes them).
    pub fn query(&self, time: BetweenFilter) -> Filter {
        let types: Vec<String> = self
            .event_types
            .iter()
            .map(|t| t.to_ascii_uppercase())
            .collect();
        let severities: Vec<String> = self
            .severities
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let parts: Vec<Filter> = [
            Filter::any_of("type", &types),
            Filter::any_of("module", &self.modules),
            Filter::any_of("severity", &severities),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            return time.into();
        }
        Filter::And(std::iter::once(time.into()).chain(parts).collect())
    }

    /// Whether `event` is selected.
    pub fn admits(&self, event: &AuditEvent) -> bool {
        let any = |wanted: &[String], got: Option<&str>| {
            wanted.is_empty()
                || got.is_some_and(|g| wanted.iter().any(|w| w.eq_ignore_ascii_case(g)))
        };
        any(&self.event_types, event.kind.as_deref())
            && any(&self.modules, event.module.as_deref())
            && (self.severities.is_empty()
                || event
                    .severity
                    .as_deref()
                    .and_then(|s| s.parse::<Severity>().ok())
                    .is_some_and(|s| self.severities.contains(&s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, module: &str, severity: &str) -> AuditEvent {
        AuditEvent {
            id: 1,
            time: 1,
            kind: Some(kind.into()),
            module: Some(module.into()),
            severity: Some(severity.into()),
            ..AuditEvent::default()
        }
    }

    #[test]
    fn the_query_is_horizons_filter_json() {
        let time = BetweenFilter::time(10, 20);
        assert_eq!(
            AuditEventFilter::default().query(time).to_json(),
            time.to_json(),
            "no selection: the Go adapter's Between filter, byte for byte"
        );
        let f = AuditEventFilter {
            event_types: vec!["vlsi_userloggedin".into(), "BROKER_USERLOGGEDIN".into()],
            modules: vec!["Vlsi".into()],
            severities: vec![Severity::AuditSuccess],
        };
        assert_eq!(
            f.query(time).to_json(),
            concat!(
                r#"{"type":"And","filters":["#,
                r#"{"type":"Between","fromValue":10,"name":"time","toValue":20},"#,
                r#"{"type":"Or","filters":[{"type":"Equals","name":"type","value":"VLSI_USERLOGGEDIN"},"#,
                r#"{"type":"Equals","name":"type","value":"BROKER_USERLOGGEDIN"}]},"#,
                r#"{"type":"Equals","name":"module","value":"Vlsi"},"#,
                r#"{"type":"Equals","name":"severity","value":"AUDIT_SUCCESS"}]}"#
            )
        );
    }

    #[test]
    fn events_are_checked_again() {
        let f = AuditEventFilter {
            event_types: vec!["vlsi_userloggedin".into()],
            modules: vec![],
            severities: vec![Severity::AuditSuccess, Severity::Error],
        };
        assert!(f.admits(&ev("VLSI_USERLOGGEDIN", "Vlsi", "AUDIT_SUCCESS")));
        assert!(!f.admits(&ev("VLSI_USERLOGGEDOUT", "Vlsi", "AUDIT_SUCCESS")));
        assert!(!f.admits(&ev("VLSI_USERLOGGEDIN", "Vlsi", "INFO")));
        assert!(!f.admits(&AuditEvent::default()));
        let modules = AuditEventFilter {
            modules: vec!["broker".into()],
            ..AuditEventFilter::default()
        };
        assert!(modules.admits(&ev("X", "Broker", "INFO")));
        assert!(!modules.admits(&ev("X", "Vlsi", "INFO")));
        assert!(AuditEventFilter::default().admits(&AuditEvent::default()));
    }

    #[test]
    fn severities_parse_in_any_case() {
        assert_eq!("audit_fail".parse::<Severity>(), Ok(Severity::AuditFail));
        assert_eq!(" ERROR ".parse::<Severity>(), Ok(Severity::Error));
        assert_eq!(
            "fatal".parse::<Severity>().unwrap_err().to_string(),
            "unknown Horizon severity \"fatal\": use INFO, WARNING, ERROR, AUDIT_SUCCESS, AUDIT_FAIL or UNKNOWN"
        );
        for s in Severity::ALL {
            assert_eq!(
                serde_json::to_string(&s).expect("json"),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
