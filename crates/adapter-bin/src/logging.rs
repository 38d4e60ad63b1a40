//! JSON logs at the level Knative's `config-logging` sets (`K_LOGGING_CONFIG`).

use tracing_subscriber::EnvFilter;

/// The level for `component` from Knative's logging config: `loglevel.<component>` wins, else
/// the `level` of `zap-logger-config`, else `info`. `RUST_LOG` overrides both.
pub fn level_from_knative(logging_config: &str, component: &str) -> &'static str {
    let Ok(cfg) = serde_json::from_str::<serde_json::Value>(logging_config) else {
        return "info";
    };
    let specific = cfg
        .get(format!("loglevel.{component}"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let zap = cfg
        .get("zap-logger-config")
        .and_then(serde_json::Value::as_str)
        .and_then(|z| serde_json::from_str::<serde_json::Value>(z).ok())
        .and_then(|z| z.get("level").and_then(|l| l.as_str().map(str::to_owned)));
    match specific.or(zap).as_deref().map(str::trim) {
        Some("debug") => "debug",
        Some("warn") => "warn",
        Some("error" | "dpanic" | "panic" | "fatal") => "error",
        _ => "info",
    }
}

/// Install the JSON log subscriber (to stderr; stdout may carry CloudEvents).
pub fn init(logging_config: &str, component: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(level_from_knative(logging_config, component)));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
}
