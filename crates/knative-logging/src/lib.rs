//! Logs in Knative's zap shape for `tracing`, and the levels of Knative's `config-logging`.
//!
//! Every binary of vmware-sources logs as Knative components do: one JSON object per line with
//! `level` (lower case), `ts` (ISO 8601), `logger`, `caller`, `msg`, then the event's fields,
//! flat (and `knative.dev/pod` when known). Levels come from `config-logging`:
//! `loglevel.<component>` wins, else the `level` of `zap-logger-config`, else `info`.
//!
//! ```
//! use std::collections::BTreeMap;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let data = BTreeMap::from([("loglevel.vsphere-source-adapter".to_owned(), "debug".to_owned())]);
//! assert_eq!(knative_logging::component_level(&data, "vsphere-source-adapter"), "debug");
//!
//! let format = knative_logging::ZapFormat::new(|target| target.replace("::", "."));
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().event_format(format).with_writer(std::io::stderr));
//! # let _ = subscriber;
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The zap level name of a tracing level (zap has no trace).
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// `src/webhook.rs:42`: the file's last two path components and the line.
pub fn caller(file: Option<&str>, line: Option<u32>) -> String {
    let file = file.unwrap_or("?");
    let mut parts: Vec<&str> = file.rsplit(['/', '\\']).take(2).collect();
    parts.reverse();
    format!("{}:{}", parts.join("/"), line.unwrap_or(0))
}

fn now_iso8601() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An event's message and its other fields, in order.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(String, serde_json::Value)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.rest
                .push((field.name().to_owned(), serde_json::Value::String(text)));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.rest.push((field.name().to_owned(), value.into()));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_str(field, &value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.rest.push((field.name().to_owned(), value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.rest.push((field.name().to_owned(), value.into()));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.rest.push((field.name().to_owned(), value.into()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.rest.push((field.name().to_owned(), value.into()));
    }
}

fn json(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// One log line in zap's shape (without the newline).
pub fn zap_line(
    level: &str,
    logger: &str,
    caller: &str,
    msg: &str,
    fields: &[(String, serde_json::Value)],
    pod: Option<&str>,
) -> String {
    let mut out = format!(
        "{{\"level\":{},\"ts\":{},\"logger\":{},\"caller\":{},\"msg\":{}",
        json(level),
        json(&now_iso8601()),
        json(logger),
        json(caller),
        json(msg)
    );
    for (k, v) in fields {
        let _ = write!(out, ",{}:{v}", json(k));
    }
    if let Some(pod) = pod {
        let _ = write!(out, ",\"knative.dev/pod\":{}", json(pod));
    }
    out.push('}');
    out
}

type LoggerName = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A `tracing_subscriber` event format writing zap-shaped JSON lines.
#[derive(Clone)]
pub struct ZapFormat {
    logger: LoggerName,
    pod: Option<String>,
}

impl std::fmt::Debug for ZapFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapFormat")
            .field("pod", &self.pod)
            .finish_non_exhaustive()
    }
}

impl ZapFormat {
    /// `logger` turns an event's tracing target (its module path) into the zap logger name.
    pub fn new(logger: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Self {
            logger: Arc::new(logger),
            pod: None,
        }
    }

    /// Add `knative.dev/pod` to every line.
    pub fn pod(mut self, pod: Option<String>) -> Self {
        self.pod = pod;
        self
    }
}

impl<S, N> FormatEvent<S, N> for ZapFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(
            writer,
            "{}",
            zap_line(
                level_name(meta.level()),
                &(self.logger)(meta.target()),
                &caller(meta.file(), meta.line()),
                &fields.message,
                &fields.rest,
                self.pod.as_deref(),
            )
        )
    }
}

/// Write a fatal start-up error as a zap line on stderr (before or without a subscriber).
#[track_caller]
pub fn fatal(logger: &str, msg: &str, error: &dyn std::fmt::Display) {
    let pod = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty());
    let at = std::panic::Location::caller();
    eprintln!(
        "{}",
        zap_line(
            "fatal",
            logger,
            &caller(Some(at.file()), Some(at.line())),
            msg,
            &[("error".to_owned(), error.to_string().into())],
            pod.as_deref(),
        )
    );
}

/// The level `config-logging` gives `component`: `loglevel.<component>` wins, else the `level`
/// of `zap-logger-config`, else `info` (zap's `dpanic`, `panic` and `fatal` mean `error`).
pub fn component_level(data: &BTreeMap<String, String>, component: &str) -> &'static str {
    let specific = data
        .get(&format!("loglevel.{component}"))
        .filter(|l| !l.trim().is_empty())
        .cloned();
    let zap = data
        .get("zap-logger-config")
        .and_then(|z| serde_json::from_str::<serde_json::Value>(z).ok())
        .and_then(|z| z.get("level").and_then(|l| l.as_str().map(str::to_owned)));
    match specific.or(zap).map(|l| l.trim().to_lowercase()).as_deref() {
        Some("debug") => "debug",
        Some("warn") => "warn",
        Some("error" | "dpanic" | "panic" | "fatal") => "error",
        _ => "info",
    }
}

/// `config-logging`'s data from the JSON the adapters get in `K_LOGGING_CONFIG` (string values
/// only; anything else, or no JSON at all, is no setting).
pub fn config_from_json(json: &str) -> BTreeMap<String, String> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shape() {
        let line = zap_line(
            "info",
            "controller.reconcile",
            "src/reconcile.rs:10",
            "reconciled \"x\"",
            &[
                ("namespace".to_owned(), "ns".into()),
                ("count".to_owned(), 3.into()),
            ],
            Some("pod-1"),
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["level"], "info");
        assert_eq!(v["logger"], "controller.reconcile");
        assert_eq!(v["caller"], "src/reconcile.rs:10");
        assert_eq!(v["msg"], "reconciled \"x\"");
        assert_eq!(v["namespace"], "ns");
        assert_eq!(v["count"], 3);
        assert_eq!(v["knative.dev/pod"], "pod-1");
        assert!(
            v["ts"]
                .as_str()
                .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
            "{line}"
        );
        assert!(line.starts_with("{\"level\":\"info\",\"ts\":"), "{line}");
    }

    #[test]
    fn callers() {
        assert_eq!(
            caller(Some("crates/controller-bin/src/leader.rs"), Some(7)),
            "src/leader.rs:7"
        );
        assert_eq!(caller(None, None), "?:0");
    }

    #[test]
    fn levels_from_config_logging() {
        let mut d = BTreeMap::new();
        assert_eq!(component_level(&d, "x"), "info");
        d.insert("loglevel.x".to_owned(), String::new());
        d.insert(
            "zap-logger-config".to_owned(),
            "{\"level\":\"warn\"}".to_owned(),
        );
        assert_eq!(component_level(&d, "x"), "warn");
        d.insert("loglevel.x".to_owned(), "DEBUG".to_owned());
        assert_eq!(component_level(&d, "x"), "debug");
        d.insert("loglevel.x".to_owned(), "dpanic".to_owned());
        assert_eq!(component_level(&d, "x"), "error");
        let cfg = config_from_json(
            r#"{"zap-logger-config":"{\"level\": \"debug\"}","loglevel.a":"error","n":1}"#,
        );
        assert_eq!(component_level(&cfg, "a"), "error");
        assert_eq!(component_level(&cfg, "b"), "debug");
        assert!(config_from_json("garbage").is_empty());
    }
}
