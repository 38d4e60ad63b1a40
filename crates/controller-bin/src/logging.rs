//! Logs in Knative's zap shape: one JSON object per line, `level`
//! (lower case), `ts` (ISO 8601), `logger`, `caller`, `msg`, then the
//! event's fields, flat. The levels follow Knative's `config-logging`
//! (`loglevel.controller` for the reconcilers, `loglevel.webhook` for the
//! admission webhooks and their certificates, else the `level` of
//! `zap-logger-config`, else `info`) and change live when it changes;
//! `RUST_LOG`, when set, overrides them.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sources_controller::logging::filter_directives;
//!
//! let data = BTreeMap::from([
//!     ("zap-logger-config".to_owned(), r#"{"level": "warn"}"#.to_owned()),
//!     ("loglevel.webhook".to_owned(), "debug".to_owned()),
//! ]);
//! assert_eq!(
//!     filter_directives(&data),
//!     "warn,sources_controller::webhook=debug,sources_controller::certs=debug"
//! );
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::reload;

/// The zap level name of a tracing level (zap has no trace).
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// The zap logger name for a tracing target: `webhook` for the admission
/// webhooks and certificates, `controller` for the rest, with the module.
fn logger_name(target: &str) -> String {
    let module = target
        .strip_prefix("sources_controller")
        .map(|m| m.trim_start_matches("::"));
    match module {
        Some(m) if m.starts_with("webhook") || m.starts_with("certs") => {
            format!("webhook.{}", m.replace("::", "."))
        }
        Some("") => "controller".to_owned(),
        Some(m) => format!("controller.{}", m.replace("::", ".")),
        None => target.replace("::", "."),
    }
}

/// `src/webhook.rs:42`: the file's last two path components and the line.
fn caller(file: Option<&str>, line: Option<u32>) -> String {
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

/// One zap line (without the newline).
fn zap_line(
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

/// The zap-shaped JSON event format.
#[derive(Clone, Debug, Default)]
pub struct ZapFormat {
    /// `knative.dev/pod` on every line (`POD_NAME`).
    pub pod: Option<String>,
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
                &logger_name(meta.target()),
                &caller(meta.file(), meta.line()),
                &fields.message,
                &fields.rest,
                self.pod.as_deref(),
            )
        )
    }
}

/// A fatal start-up error, as a zap `fatal` line on stderr (usable before
/// or without the subscriber).
#[track_caller]
pub fn fatal(msg: &str, error: &dyn std::fmt::Display) {
    let pod = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty());
    let at = std::panic::Location::caller();
    eprintln!(
        "{}",
        zap_line(
            "fatal",
            "controller",
            &caller(Some(at.file()), Some(at.line())),
            msg,
            &[("error".to_owned(), error.to_string().into())],
            pod.as_deref(),
        )
    );
}

/// The zap level of `component` in `config-logging`'s data, as a tracing
/// filter level: `loglevel.<component>`, else `zap-logger-config`'s
/// `level`, else `info`.
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

/// The tracing filter for `config-logging`'s data: the controller's level
/// for everything, the webhook's for the webhook and certificate modules.
pub fn filter_directives(data: &BTreeMap<String, String>) -> String {
    let controller = component_level(data, "controller");
    let webhook = component_level(data, "webhook");
    format!(
        "{controller},sources_controller::webhook={webhook},sources_controller::certs={webhook}"
    )
}

/// Changes the levels of the installed subscriber.
#[derive(Clone)]
pub struct LogLevels {
    handle: Option<reload::Handle<EnvFilter, tracing_subscriber::Registry>>,
}

impl LogLevels {
    /// Applies `config-logging`'s data (ignored when `RUST_LOG` is set).
    pub fn apply(&self, data: &BTreeMap<String, String>) {
        let Some(handle) = &self.handle else { return };
        let directives = filter_directives(data);
        let changed = handle
            .with_current(|f| f.to_string() != directives)
            .unwrap_or(true);
        if !changed {
            return;
        }
        match handle.reload(EnvFilter::new(&directives)) {
            Ok(()) => tracing::info!(levels = directives, "log levels from config-logging"),
            Err(e) => tracing::warn!(error = %e, "changing the log levels"),
        }
    }
}

/// Installs the zap-shaped JSON subscriber on stderr at `info` (or
/// `RUST_LOG`) and returns the handle that changes the levels.
pub fn init(pod: Option<String>) -> LogLevels {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let from_env = EnvFilter::try_from_env("RUST_LOG").ok();
    let fixed = from_env.is_some();
    let (filter, handle) = reload::Layer::new(
        from_env.unwrap_or_else(|| EnvFilter::new(filter_directives(&BTreeMap::new()))),
    );
    let fmt = tracing_subscriber::fmt::layer()
        .event_format(ZapFormat { pod })
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
    LogLevels {
        handle: (!fixed).then_some(handle),
    }
}

/// Follows the `config-logging` ConfigMap `name` in `namespace`, applying
/// its levels on every change. Runs until the task is dropped.
pub async fn follow_config_logging(
    client: kube::Client,
    namespace: String,
    name: String,
    levels: LogLevels,
) {
    use futures_util::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, &namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api, cfg).default_backoff().boxed();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                levels.apply(&cm.data.unwrap_or_default());
            }
            Ok(watcher::Event::Delete(_)) => levels.apply(&BTreeMap::new()),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "watching {name}"),
        }
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
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "info");
        assert_eq!(v["logger"], "controller.reconcile");
        assert_eq!(v["caller"], "src/reconcile.rs:10");
        assert_eq!(v["msg"], "reconciled \"x\"");
        assert_eq!(v["namespace"], "ns");
        assert_eq!(v["count"], 3);
        assert_eq!(v["knative.dev/pod"], "pod-1");
        assert!(
            v["ts"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok(),
            "{line}"
        );
        assert!(line.starts_with("{\"level\":\"info\",\"ts\":"), "{line}");
    }

    #[test]
    fn names_and_callers() {
        assert_eq!(
            logger_name("sources_controller::webhook"),
            "webhook.webhook"
        );
        assert_eq!(logger_name("sources_controller::certs"), "webhook.certs");
        assert_eq!(
            logger_name("sources_controller::binding_reconcile"),
            "controller.binding_reconcile"
        );
        assert_eq!(logger_name("sources_controller"), "controller");
        assert_eq!(
            logger_name("kube_runtime::controller"),
            "kube_runtime.controller"
        );
        assert_eq!(
            caller(Some("crates/controller-bin/src/leader.rs"), Some(7)),
            "src/leader.rs:7"
        );
    }

    #[test]
    fn levels_from_config_logging() {
        let mut d = BTreeMap::new();
        assert_eq!(
            filter_directives(&d),
            "info,sources_controller::webhook=info,sources_controller::certs=info"
        );
        d.insert("loglevel.controller".to_owned(), "debug".to_owned());
        d.insert("loglevel.webhook".to_owned(), "error".to_owned());
        assert_eq!(
            filter_directives(&d),
            "debug,sources_controller::webhook=error,sources_controller::certs=error"
        );
        d.insert("loglevel.webhook".to_owned(), String::new());
        d.insert(
            "zap-logger-config".to_owned(),
            "{\"level\":\"warn\"}".to_owned(),
        );
        assert_eq!(component_level(&d, "webhook"), "warn");
        assert_eq!(component_level(&d, "controller"), "debug");
    }
}
