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

use knative_logging::{ZapFormat, component_level};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::reload;

/// A fatal start-up error as a zap line on stderr.
#[track_caller]
pub fn fatal(msg: &str, error: &dyn std::fmt::Display) {
    knative_logging::fatal("controller", msg, error);
}

/// The zap logger name for a tracing target: `webhook` for the admission
/// webhooks and certificates, `controller` for the rest, with the crate's
/// top-level module (its submodules log under the same name, so a name
/// does not change when a module is split).
fn logger_name(target: &str) -> String {
    let module = target
        .strip_prefix("sources_controller")
        .map(|m| m.trim_start_matches("::"))
        .map(|m| m.split("::").next().unwrap_or_default());
    match module {
        Some(m) if m.starts_with("webhook") || m.starts_with("certs") => {
            format!("webhook.{}", m.replace("::", "."))
        }
        Some("") => "controller".to_owned(),
        Some(m) => format!("controller.{}", m.replace("::", ".")),
        None => target.replace("::", "."),
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
        .event_format(ZapFormat::new(logger_name).pod(pod))
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
    let mut events = watcher(api, cfg)
        .backoff(crate::backoff::watch_backoff())
        .boxed();
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
    fn names_and_callers() {
        assert_eq!(
            logger_name("sources_controller::webhook"),
            "webhook.webhook"
        );
        assert_eq!(
            logger_name("sources_controller::webhook::server"),
            "webhook.webhook"
        );
        assert_eq!(logger_name("sources_controller::certs"), "webhook.certs");
        assert_eq!(
            logger_name("sources_controller::reconcile::vsphere"),
            "controller.reconcile"
        );
        assert_eq!(
            logger_name("sources_controller::binding_reconcile"),
            "controller.binding_reconcile"
        );
        assert_eq!(logger_name("sources_controller"), "controller");
        assert_eq!(
            logger_name("kube_runtime::controller"),
            "kube_runtime.controller"
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
