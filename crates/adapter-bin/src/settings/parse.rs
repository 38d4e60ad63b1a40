//! Parsers of single setting values, each error naming the setting.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;

/// A setting's value, `None` when unset or blank.
pub fn nonempty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" | "" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (true or false)")),
    }
}

/// `K_SINK_TIMEOUT`: integer seconds; unset means 30 s.
pub fn sink_timeout(value: Option<&str>) -> Result<Duration, ConfigError> {
    match value.map(str::trim) {
        None | Some("") => Ok(Duration::from_secs(30)),
        Some(v) => match v.parse::<u64>() {
            Ok(0) => Err(ConfigError::new(
                "K_SINK_TIMEOUT",
                "0 seconds; use a positive number of seconds",
            )),
            Ok(secs) => Ok(Duration::from_secs(secs)),
            Err(_) => Err(ConfigError::new(
                "K_SINK_TIMEOUT",
                format!("{v:?} is not a whole number of seconds"),
            )),
        },
    }
}

/// A sink URL: absolute http or https.
pub fn sink_url(setting: &'static str, value: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(value.trim())
        .map_err(|e| ConfigError::new(setting, format!("{value:?} is not a URL ({e}); expected e.g. http://broker-ingress.knative-eventing.svc.cluster.local/ns/default")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ConfigError::new(
            setting,
            format!("{value:?} is not an http or https URL"),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(setting, format!("{value:?} has no host")));
    }
    Ok(url)
}

/// The metrics address: the flag, else `METRICS_PROMETHEUS_PORT`, else `PrometheusPort` from
/// `K_METRICS_CONFIG`, else 9090.
pub fn metrics_address(
    flag: Option<SocketAddr>,
    metrics_config: &str,
    env_port: Option<&str>,
) -> Result<SocketAddr, ConfigError> {
    if let Some(a) = flag {
        return Ok(a);
    }
    let port = match env_port.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => p.parse::<u16>().map_err(|_| {
            ConfigError::new(
                "METRICS_PROMETHEUS_PORT",
                format!("{p:?} is not a port number"),
            )
        })?,
        None => {
            let v: serde_json::Value = if metrics_config.trim().is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(metrics_config)
                    .map_err(|e| ConfigError::new("K_METRICS_CONFIG", format!("not JSON: {e}")))?
            };
            v.get("PrometheusPort")
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .unwrap_or(9090)
        }
    };
    Ok(SocketAddr::from(([0, 0, 0, 0], port)))
}

/// A Go duration setting (`1s`, `500ms`, `5m`).
pub fn go_duration(setting: &'static str, value: &str) -> Result<Duration, ConfigError> {
    checkpoint::parse_go_duration(value).ok_or_else(|| {
        ConfigError::new(
            setting,
            format!("{value:?} is not a Go duration, e.g. 1s, 500ms, 5m"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans() {
        assert_eq!(parse_go_bool("true"), Ok(true));
        assert_eq!(parse_go_bool("1"), Ok(true));
        assert_eq!(parse_go_bool("False"), Ok(false));
        assert!(parse_go_bool("yes").is_err());
    }

    #[test]
    fn sink_timeout_defaults_to_30s_and_names_bad_values() {
        assert_eq!(
            sink_timeout(None).expect("default"),
            Duration::from_secs(30)
        );
        assert_eq!(sink_timeout(Some("5")).expect("5"), Duration::from_secs(5));
        let e = sink_timeout(Some("5s")).expect_err("unit");
        assert!(e.to_string().contains("K_SINK_TIMEOUT"), "{e}");
    }

    #[test]
    fn sink_urls_are_checked() {
        assert!(sink_url("K_SINK", "http://sink.default.svc.cluster.local").is_ok());
        for bad in ["", "sink", "ftp://x/", "http://"] {
            let e = sink_url("K_SINK", bad).expect_err(bad);
            assert!(e.to_string().starts_with("invalid setting K_SINK"), "{e}");
        }
    }

    #[test]
    fn metrics_port_from_flag_env_or_config() {
        let a = metrics_address(None, "{}", None).expect("default");
        assert_eq!(a.port(), 9090);
        let a = metrics_address(None, r#"{"PrometheusPort":9091}"#, None).expect("config");
        assert_eq!(a.port(), 9091);
        let a = metrics_address(None, r#"{"PrometheusPort":9091}"#, Some("9092")).expect("env");
        assert_eq!(a.port(), 9092);
        assert!(metrics_address(None, "nope", None).is_err());
    }
}
