//! The adapter's settings: the Go controller's environment contract, the same settings as
//! command-line flags for standalone runs, and one clear message for a bad one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// A setting was refused; the message names it and says what is expected.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    /// The environment variable (and flag) at fault.
    pub setting: &'static str,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// vSphere adapter settings. Each flag also reads the environment variable the Go controller
/// sets, so the same binary runs in a Deployment made by either controller.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vsphere-adapter",
    version,
    about = "Delivers every vCenter event as a CloudEvent to a sink, with checkpoints.",
    long_about = "Delivers every vCenter event as a CloudEvent to a sink (K_SINK), in order, \
retrying until the sink accepts it, and checkpoints its progress so a restart neither loses nor \
re-sends history. In Kubernetes it takes the environment the controller sets; standalone, use \
--checkpoint-file and omit --sink to print CloudEvents to stdout."
)]
pub struct VsphereArgs {
    /// Namespace, logging and metrics, as Knative sets them.
    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// Where events go.
    #[command(flatten)]
    pub delivery: SinkArgs,

    /// vCenter URL; `https://` and `/sdk` are added when missing.
    #[arg(long = "vc-url", env = adapter_env::name::VC_URL)]
    pub vc_url: Option<String>,

    /// Skip vCenter certificate verification (true/false).
    #[arg(long = "vc-insecure", env = adapter_env::name::VC_INSECURE, default_value = "false", value_parser = parse_go_bool)]
    pub vc_insecure: bool,

    /// Directory with the files `username` and `password` (a mounted Secret).
    #[arg(
        long = "vc-secret-path",
        env = adapter_env::name::VC_SECRET_PATH,
        default_value = adapter_env::default::VC_SECRET_PATH
    )]
    pub vc_secret_path: PathBuf,

    /// User name, used when the secret files are absent (standalone runs).
    #[arg(long = "vc-username", env = "VC_USERNAME")]
    pub vc_username: Option<String>,

    /// Password, used when the secret files are absent (standalone runs).
    #[arg(long = "vc-password", env = "VC_PASSWORD", hide_env_values = true)]
    pub vc_password: Option<String>,

    /// PEM file with CA certificates that signed vCenter's certificate (private CAs).
    #[arg(long = "vc-ca-bundle", env = "VC_CA_BUNDLE")]
    pub vc_ca_bundle: Option<PathBuf>,

    /// PEM text of CA certificates that signed vCenter's certificate (the VSphereSource's
    /// `caCerts`, injected by its binding); trusted together with --vc-ca-bundle.
    #[arg(long = "vc-ca-certs", env = adapter_env::name::VC_CA_CERTS, hide_env_values = true)]
    pub vc_ca_certs: Option<String>,

    /// Seconds allowed for one vCenter request and its answer (then the answer counts as lost
    /// and the events are read again).
    #[arg(
        long = "vc-request-timeout",
        env = "VC_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 120
    )]
    pub vc_request_timeout: u64,

    /// Payload encoding: application/xml (default) or application/json.
    #[arg(
        long = "payload-encoding",
        env = adapter_env::name::VSPHERE_PAYLOAD_ENCODING,
        default_value = adapter_env::default::PAYLOAD_ENCODING
    )]
    pub payload_encoding: String,

    /// Checkpoint settings, `{"maxAge":"5m","period":"10s"}` (Go durations).
    #[arg(
        long = "checkpoint-config",
        env = adapter_env::name::VSPHERE_CHECKPOINT_CONFIG,
        default_value = "{}"
    )]
    pub checkpoint_config: String,

    /// ConfigMap (in NAMESPACE) holding the checkpoint.
    #[arg(long = "checkpoint-configmap", env = adapter_env::name::VSPHERE_KVSTORE_CONFIGMAP)]
    pub checkpoint_configmap: Option<String>,

    /// File holding the checkpoint (standalone runs; instead of a ConfigMap).
    #[arg(long = "checkpoint-file", env = "VSPHERE_CHECKPOINT_FILE")]
    pub checkpoint_file: Option<PathBuf>,

    /// Name of the source.
    #[arg(long = "name", env = adapter_env::name::NAME, default_value = "adapter")]
    pub name: String,

    /// Only these event types (comma-separated type names or EventEx/ExtendedEvent
    /// `eventTypeId`s, as the VSphereSource's `eventTypes` lists them); all when unset.
    #[arg(long = "event-types", env = adapter_env::name::VSPHERE_EVENT_TYPES)]
    pub event_types: Option<String>,

    /// Events per ReadNextEvents call (1 to 1000).
    #[arg(long = "page-size", env = "VSPHERE_PAGE_SIZE", default_value_t = 100)]
    pub page_size: i32,
}

/// The Knative runtime settings both adapters take: namespace, logging and metrics.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RuntimeArgs {
    /// Namespace of the source (the `Kn-Namespace` header and the ConfigMap's namespace).
    #[arg(long = "namespace", env = adapter_env::name::NAMESPACE)]
    pub namespace: Option<String>,

    /// Knative logging configuration (JSON of the config-logging ConfigMap).
    #[arg(
        long = "logging-config",
        env = adapter_env::name::K_LOGGING_CONFIG,
        default_value = "{}"
    )]
    pub logging_config: String,

    /// Knative metrics configuration (JSON; `PrometheusPort` is honoured).
    #[arg(
        long = "metrics-config",
        env = adapter_env::name::K_METRICS_CONFIG,
        default_value = "{}"
    )]
    pub metrics_config: String,

    /// Address for /metrics, /healthz and /readyz (default 0.0.0.0:9090, or the port from
    /// K_METRICS_CONFIG / METRICS_PROMETHEUS_PORT).
    #[arg(long = "metrics-address", env = "METRICS_ADDRESS")]
    pub metrics_address: Option<SocketAddr>,
}

impl RuntimeArgs {
    /// For a local run (`--simulate`): serve telemetry on a free loopback port unless an address
    /// or `METRICS_PROMETHEUS_PORT` was given.
    pub fn metrics_on_loopback_unless_set(&mut self) {
        if self.metrics_address.is_none()
            && std::env::var_os(adapter_env::name::METRICS_PROMETHEUS_PORT).is_none()
        {
            self.metrics_address = Some(([127, 0, 0, 1], 0).into());
        }
    }
}

/// Where CloudEvents go, shared by both adapters: the sink, the dead-letter sink, timeouts,
/// trust and `ceOverrides`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SinkArgs {
    /// Sink URL; without it, CloudEvents are printed to stdout as JSON lines.
    #[arg(long = "sink", env = adapter_env::name::K_SINK)]
    pub sink: Option<String>,

    /// Dead-letter sink URL for events the sink refuses for good (400 and other 4xx).
    #[arg(long = "dead-letter-sink", env = adapter_env::name::K_DEAD_LETTER_SINK)]
    pub dead_letter_sink: Option<String>,

    /// Seconds to wait for the sink per attempt (default 30).
    #[arg(long = "sink-timeout", env = adapter_env::name::K_SINK_TIMEOUT)]
    pub sink_timeout: Option<String>,

    /// PEM CA certificates trusted for an https sink.
    #[arg(long = "ca-certs", env = adapter_env::name::K_CA_CERTS, hide_env_values = true)]
    pub ca_certs: Option<String>,

    /// CloudEvent overrides, `{"extensions":{"name":"value"}}`.
    #[arg(long = "ce-overrides", env = adapter_env::name::K_CE_OVERRIDES)]
    pub ce_overrides: Option<String>,

    /// Retries after the first attempt before an event goes to the dead-letter sink
    /// (`spec.delivery.retry`); without a dead-letter sink retries never stop.
    #[arg(long = "delivery-retry", env = adapter_env::name::K_DELIVERY_RETRY)]
    pub retry: Option<String>,

    /// How waits between attempts grow: exponential (default) or linear
    /// (`spec.delivery.backoffPolicy`).
    #[arg(long = "delivery-backoff-policy", env = adapter_env::name::K_DELIVERY_BACKOFF_POLICY)]
    pub backoff_policy: Option<String>,

    /// The first wait between attempts, an ISO-8601 duration such as PT0.2S (default 100 ms;
    /// `spec.delivery.backoffDelay`).
    #[arg(long = "delivery-backoff-delay", env = adapter_env::name::K_DELIVERY_BACKOFF_DELAY)]
    pub backoff_delay: Option<String>,

    /// The timeout of each request to the sink, an ISO-8601 duration such as PT10S
    /// (`spec.delivery.timeout`; wins over K_SINK_TIMEOUT).
    #[arg(long = "delivery-timeout", env = adapter_env::name::K_DELIVERY_TIMEOUT)]
    pub delivery_timeout: Option<String>,

    /// Events delivered at once, each retried on its own; 1 sends strictly in order.
    #[arg(
        long = "delivery-concurrency",
        env = adapter_env::name::DELIVERY_CONCURRENCY,
        default_value_t = adapter_env::default::DELIVERY_CONCURRENCY
    )]
    pub concurrency: usize,

    /// Seconds deliveries in flight at SIGTERM may still take before they are abandoned (and
    /// not checkpointed).
    #[arg(
        long = "shutdown-grace",
        env = adapter_env::name::SHUTDOWN_GRACE_SECONDS,
        default_value_t = adapter_env::default::SHUTDOWN_GRACE_SECONDS
    )]
    pub shutdown_grace: u64,

    /// Seconds between the progress lines written while catching up.
    #[arg(
        long = "progress-interval",
        env = "PROGRESS_INTERVAL_SECONDS",
        default_value_t = 10
    )]
    pub progress_interval: u64,
}

impl SinkArgs {
    /// The sink settings, `None` for stdout (no `K_SINK`).
    pub fn sink_config(&self) -> Result<Option<crate::deliver::SinkConfig>, ConfigError> {
        use adapter_env::name;
        let iso = |setting: &'static str, value: &Option<String>| match nonempty(value) {
            None => Ok(None),
            Some(v) => adapter_env::parse_iso8601_duration(&v)
                .map(Some)
                .map_err(|e| ConfigError::new(setting, e)),
        };
        let mut timeout = sink_timeout(self.sink_timeout.as_deref())?;
        if let Some(t) = iso(name::K_DELIVERY_TIMEOUT, &self.delivery_timeout)? {
            if t.is_zero() {
                return Err(ConfigError::new(
                    name::K_DELIVERY_TIMEOUT,
                    "must be more than 0, e.g. PT10S",
                ));
            }
            timeout = t;
        }
        let mut backoff = crate::backoff::Backoff::default();
        let backoff_per_event =
            nonempty(&self.backoff_policy).is_some() || nonempty(&self.backoff_delay).is_some();
        if let Some(p) = nonempty(&self.backoff_policy) {
            backoff.policy = crate::backoff::BackoffPolicy::parse(&p).ok_or_else(|| {
                ConfigError::new(
                    name::K_DELIVERY_BACKOFF_POLICY,
                    format!("{p:?} is neither exponential nor linear"),
                )
            })?;
        }
        if let Some(d) = iso(name::K_DELIVERY_BACKOFF_DELAY, &self.backoff_delay)? {
            backoff.initial = d;
            backoff.max = backoff.max.max(d);
        }
        let retry = match nonempty(&self.retry) {
            None => None,
            Some(r) => Some(r.parse::<u32>().map_err(|_| {
                ConfigError::new(
                    name::K_DELIVERY_RETRY,
                    format!("{r:?} is not a number of retries (0 or more)"),
                )
            })?),
        };
        if !(1..=1024).contains(&self.concurrency) {
            return Err(ConfigError::new(
                name::DELIVERY_CONCURRENCY,
                format!("{} is not between 1 and 1024", self.concurrency),
            ));
        }
        let Some(sink) = nonempty(&self.sink) else {
            return Ok(None);
        };
        Ok(Some(crate::deliver::SinkConfig {
            url: sink_url(name::K_SINK, &sink)?,
            dead_letter: match nonempty(&self.dead_letter_sink) {
                Some(d) => Some(sink_url(name::K_DEAD_LETTER_SINK, &d)?),
                None => None,
            },
            timeout,
            ca_certs: nonempty(&self.ca_certs),
            backoff,
            backoff_per_event,
            retry,
        }))
    }

    /// What these settings amount to, as JSON for `--check-settings` (no secrets: the CA
    /// certificates are only counted).
    pub fn summary(&self) -> Result<serde_json::Value, ConfigError> {
        let sink = self.sink_config()?;
        let overrides = self.overrides()?;
        Ok(serde_json::json!({
            "sink": sink.as_ref().map(|s| s.url.to_string()),
            "deadLetterSink": sink.as_ref().and_then(|s| s.dead_letter.as_ref()).map(|u| u.to_string()),
            "timeoutMs": sink.as_ref().map(|s| s.timeout.as_millis() as u64),
            "retry": sink.as_ref().and_then(|s| s.retry),
            "backoffPolicy": sink.as_ref().map(|s| match s.backoff.policy {
                crate::backoff::BackoffPolicy::Exponential => "exponential",
                crate::backoff::BackoffPolicy::Linear => "linear",
            }),
            "backoffDelayMs": sink.as_ref().map(|s| s.backoff.initial.as_millis() as u64),
            "sinkCaCerts": sink.as_ref().is_some_and(|s| s.ca_certs.is_some()),
            "concurrency": self.concurrency,
            "shutdownGraceSeconds": self.shutdown_grace,
            "ceOverrides": overrides.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v))).collect::<serde_json::Map<_, _>>(),
        }))
    }

    /// The pipeline settings these delivery settings make, with the checkpoint period.
    pub fn pipeline(&self, checkpoint_period: Duration) -> crate::pipeline::Settings {
        crate::pipeline::Settings {
            concurrency: self.concurrency,
            checkpoint_period,
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            progress_interval: Duration::from_secs(self.progress_interval.max(1)),
        }
    }

    /// `K_CE_OVERRIDES`, validated.
    pub fn overrides(&self) -> Result<cloudevent_encode::CeOverrides, ConfigError> {
        match nonempty(&self.ce_overrides) {
            None => Ok(cloudevent_encode::CeOverrides::none()),
            Some(json) => cloudevent_encode::CeOverrides::from_json(&json)
                .map_err(|e| ConfigError::new("K_CE_OVERRIDES", e.to_string())),
        }
    }
}

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

/// The vCenter login: the secret files, else the username/password settings.
pub fn credentials(args: &VsphereArgs) -> Result<vsphere_client::Credentials, ConfigError> {
    let dir = &args.vc_secret_path;
    let read = |name: &str| std::fs::read_to_string(dir.join(name));
    match (read("username"), read("password")) {
        (Ok(u), Ok(p)) => Ok(vsphere_client::Credentials::new(u, p)),
        (Err(e), _) | (_, Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ConfigError::new(
                "VC_SECRET_PATH",
                format!("cannot read the credentials in {}: {e}", dir.display()),
            ))
        }
        _ => match (&args.vc_username, &args.vc_password) {
            (Some(u), Some(p)) => Ok(vsphere_client::Credentials::new(u, p)),
            _ => Err(ConfigError::new(
                "VC_SECRET_PATH",
                format!(
                    "no files username and password in {} and no VC_USERNAME/VC_PASSWORD; mount the vCenter Secret there or set --vc-username and --vc-password",
                    dir.display()
                ),
            )),
        },
    }
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
    fn delivery_settings_with_knatives_meaning() {
        let mut args = SinkArgs {
            sink: Some("http://sink".into()),
            concurrency: 32,
            ..SinkArgs::default()
        };
        let cfg = args.sink_config().expect("defaults").expect("sink");
        assert_eq!(cfg.timeout, Duration::from_secs(30));
        assert_eq!(cfg.retry, None);
        args.sink_timeout = Some("5".into());
        args.delivery_timeout = Some("PT2.5S".into());
        args.retry = Some("3".into());
        args.backoff_policy = Some("linear".into());
        args.backoff_delay = Some("PT0.2S".into());
        let cfg = args.sink_config().expect("set").expect("sink");
        assert_eq!(cfg.timeout, Duration::from_millis(2500), "timeout wins");
        assert_eq!(cfg.retry, Some(3));
        assert_eq!(cfg.backoff.policy, crate::backoff::BackoffPolicy::Linear);
        assert_eq!(cfg.backoff.initial, Duration::from_millis(200));
        for (field, value, setting) in [
            (0, "-1", "K_DELIVERY_RETRY"),
            (1, "fibonacci", "K_DELIVERY_BACKOFF_POLICY"),
            (2, "200ms", "K_DELIVERY_BACKOFF_DELAY"),
            (3, "PT0S", "K_DELIVERY_TIMEOUT"),
        ] {
            let mut bad = args.clone();
            let v = Some(value.to_owned());
            match field {
                0 => bad.retry = v,
                1 => bad.backoff_policy = v,
                2 => bad.backoff_delay = v,
                _ => bad.delivery_timeout = v,
            }
            let e = bad.sink_config().expect_err(value);
            assert!(e.to_string().contains(setting), "{e}");
        }
        args.concurrency = 0;
        let e = args.sink_config().expect_err("concurrency");
        assert!(e.to_string().contains("DELIVERY_CONCURRENCY"), "{e}");
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
