//! Logs in Knative's zap shape (`knative-logging`), at the level Knative's `config-logging` sets
//! for the adapter (`K_LOGGING_CONFIG`: `loglevel.<component>`, else the zap level, else
//! `info`; `RUST_LOG` overrides both). To stderr: stdout may carry CloudEvents.

use tracing_subscriber::EnvFilter;

/// The level for `component` from Knative's logging config (`K_LOGGING_CONFIG`'s JSON).
pub fn level_from_knative(logging_config: &str, component: &str) -> &'static str {
    knative_logging::component_level(
        &knative_logging::config_from_json(logging_config),
        component,
    )
}

/// Install the zap-shaped subscriber for the adapter `component` (e.g.
/// `vsphere-source-adapter`, the logger name of every line, with the module after it).
pub fn init(logging_config: &str, component: &'static str) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(level_from_knative(logging_config, component)));
    let pod = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty());
    let format =
        knative_logging::ZapFormat::new(move |target| logger_name(component, target)).pod(pod);
    let _ = tracing_subscriber::fmt()
        .event_format(format)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `vsphere-source-adapter.pipeline` for `adapter::pipeline`; other crates by their path.
fn logger_name(component: &str, target: &str) -> String {
    match target.strip_prefix("adapter") {
        Some("") => component.to_owned(),
        Some(rest) if rest.starts_with("::") => {
            format!("{component}.{}", rest[2..].replace("::", "."))
        }
        _ => format!("{component}.{}", target.replace("::", ".")),
    }
}

/// A fatal start-up error, as a zap line on stderr.
#[track_caller]
pub fn fatal(component: &str, msg: &str, error: &dyn std::fmt::Display) {
    knative_logging::fatal(component, msg, error);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knative_levels() {
        let cfg = r#"{"zap-logger-config":"{\"level\": \"debug\", \"encoding\": \"json\"}"}"#;
        assert_eq!(level_from_knative(cfg, "vsphere-source-adapter"), "debug");
        let cfg = r#"{"zap-logger-config":"{\"level\": \"debug\"}","loglevel.vsphere-source-adapter":"error"}"#;
        assert_eq!(level_from_knative(cfg, "vsphere-source-adapter"), "error");
        assert_eq!(level_from_knative("{}", "x"), "info");
        assert_eq!(level_from_knative("garbage", "x"), "info");
    }

    #[test]
    fn logger_names() {
        let c = "vsphere-source-adapter";
        assert_eq!(
            logger_name(c, "adapter::pipeline::report"),
            "vsphere-source-adapter.pipeline.report"
        );
        assert_eq!(logger_name(c, "adapter"), "vsphere-source-adapter");
        assert_eq!(
            logger_name(c, "vsphere_client::events::stream"),
            "vsphere-source-adapter.vsphere_client.events.stream"
        );
    }
}
