//! The adapters' settings, validated before anything connects anywhere: the Go controller's
//! environment contract (`adapter-env`), the same settings as command-line flags for standalone
//! runs, and one clear message naming a bad one ([`ConfigError`]).
//!
//! Here what both adapters take ([`RuntimeArgs`], [`SinkArgs`], and what they validate into,
//! [`Common`]); [`parse`] the parsers of single values; [`vsphere`] and [`horizon`] each
//! adapter's own settings.

pub mod horizon;
pub mod parse;
pub mod vsphere;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cloudevent_encode::CeOverrides;

use crate::deliver::{SinkConfig, TrustBundle};
pub use parse::{go_duration, metrics_address, nonempty, parse_go_bool, sink_timeout, sink_url};

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

/// What the settings of every adapter have.
pub trait SourceArgs {
    /// Namespace, logging and metrics.
    fn runtime(&self) -> &RuntimeArgs;
}

impl SourceArgs for vsphere::VsphereArgs {
    fn runtime(&self) -> &RuntimeArgs {
        &self.runtime
    }
}

impl SourceArgs for horizon::HorizonArgs {
    fn runtime(&self) -> &RuntimeArgs {
        &self.runtime
    }
}

/// What every adapter needs besides its source, validated.
#[derive(Debug, Clone)]
pub struct Common {
    /// Where events go; `None` prints them to stdout.
    pub sink: Option<SinkConfig>,
    /// Where the checkpoint is kept and how often it is saved.
    pub checkpoint: CheckpointSettings,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_address: SocketAddr,
    /// How the pipeline runs.
    pub pipeline: crate::pipeline::Settings,
    /// `K_CE_OVERRIDES`.
    pub overrides: CeOverrides,
    /// `NAMESPACE` when set: the `Kn-Namespace` header.
    pub namespace: Option<String>,
    /// `REPLAY_REQUEST`: a replay asked for on the source.
    pub replay: Option<ReplayRequest>,
    /// `ADAPTER_LEASE`: run as one of an active adapter and a standby.
    pub lease: Option<LeaseSettings>,
    /// `K_OBSERVABILITY_CONFIG` / `K_TRACING_CONFIG`: spans and `traceparent` (off by default).
    pub tracing: crate::telemetry::tracing_export::TracingSettings,
}

/// The Lease an active adapter holds and its standby waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The Lease's namespace (`NAMESPACE`).
    pub namespace: String,
    /// Its name (`ADAPTER_LEASE`).
    pub name: String,
    /// This adapter's identity (`ADAPTER_IDENTITY`).
    pub identity: String,
    /// Seconds it lasts unrenewed.
    pub duration_seconds: i32,
}

/// A replay asked for on the source (`REPLAY_REQUEST`): from `from` on, once per `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// The request's id (`replay-id`).
    pub id: String,
    /// Where to start reading again.
    pub from: jiff::Timestamp,
}

impl ReplayRequest {
    /// `REPLAY_REQUEST`'s JSON, `None` when unset or empty.
    fn parse(json: Option<&str>) -> Result<Option<Self>, ConfigError> {
        let setting = adapter_env::name::REPLAY_REQUEST;
        let Some(json) = json.map(str::trim).filter(|j| !j.is_empty()) else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| ConfigError::new(setting, format!("not JSON: {e}")))?;
        let id = v["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError::new(setting, "no \"id\""))?;
        let from = v["from"]
            .as_str()
            .ok_or_else(|| ConfigError::new(setting, "no \"from\" time"))?
            .parse::<jiff::Timestamp>()
            .map_err(|e| {
                ConfigError::new(setting, format!("\"from\" is not an RFC 3339 time: {e}"))
            })?;
        Ok(Some(Self {
            id: id.to_owned(),
            from,
        }))
    }
}

/// Where the checkpoint is kept, how often it is saved, and how old it may be to resume from.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// The store.
    pub location: StoreLocation,
    /// How often it is saved when it moved.
    pub period: Duration,
    /// How old a checkpoint may be to resume from (vSphere's `maxAge`).
    pub max_age: Option<Duration>,
}

/// Where the checkpoint is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A file (standalone runs).
    File(PathBuf),
    /// A ConfigMap.
    ConfigMap {
        /// Its namespace (`NAMESPACE`).
        namespace: String,
        /// Its name.
        name: String,
        /// Without access to it, keep the checkpoint in memory (as the Go Horizon adapter,
        /// whose controller grants none), instead of stopping.
        memory_if_forbidden: bool,
    },
}

impl Common {
    /// The settings both adapters share, from what each validated.
    pub fn new(
        runtime: &RuntimeArgs,
        delivery: &SinkArgs,
        mut sink: Option<SinkConfig>,
        checkpoint: CheckpointSettings,
        metrics_address: SocketAddr,
    ) -> Result<Self, ConfigError> {
        let oidc = delivery.oidc(runtime.namespace.as_deref())?;
        if let Some(sink) = sink.as_mut() {
            sink.oidc = oidc;
        }
        Ok(Self {
            sink,
            pipeline: delivery.pipeline(checkpoint.period),
            checkpoint,
            metrics_address,
            overrides: delivery.overrides()?,
            namespace: runtime.namespace.clone().filter(|n| !n.is_empty()),
            replay: ReplayRequest::parse(runtime.replay_request.as_deref())?,
            lease: lease_settings(runtime)?,
            tracing: runtime.tracing()?,
        })
    }
}

fn lease_settings(runtime: &RuntimeArgs) -> Result<Option<LeaseSettings>, ConfigError> {
    let Some(name) = runtime.lease.as_deref().filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let namespace = runtime
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                adapter_env::name::ADAPTER_LEASE,
                "needs NAMESPACE, where the Lease lives",
            )
        })?;
    if !(3..=3600).contains(&runtime.lease_duration) {
        return Err(ConfigError::new(
            "ADAPTER_LEASE_DURATION_SECONDS",
            format!("{} is not between 3 and 3600", runtime.lease_duration),
        ));
    }
    let identity = runtime
        .lease_identity
        .clone()
        .filter(|i| !i.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("adapter-{}", std::process::id()));
    Ok(Some(LeaseSettings {
        namespace,
        name: name.to_owned(),
        identity,
        duration_seconds: i32::try_from(runtime.lease_duration).unwrap_or(15),
    }))
}

/// The metrics address from the flags and the environment (`METRICS_PROMETHEUS_PORT`).
pub fn metrics_address_from_env(runtime: &RuntimeArgs) -> Result<SocketAddr, ConfigError> {
    let env_port = std::env::var(adapter_env::name::METRICS_PROMETHEUS_PORT).ok();
    metrics_address(
        runtime.metrics_address,
        &runtime.metrics_config,
        env_port.as_deref(),
    )
}

/// The Knative runtime settings both adapters take: namespace, logging and metrics.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RuntimeArgs {
    /// Namespace of the source (the `Kn-Namespace` header and the ConfigMap's namespace).
    #[arg(long = "namespace", env = adapter_env::name::NAMESPACE)]
    pub namespace: Option<String>,

    /// Read again from a time, once per request id: `{"id":"r-1","from":"2026-12-07T10:00:00Z"}`
    /// (the controller sets it from the source's replay annotations).
    #[arg(long = "replay-request", env = adapter_env::name::REPLAY_REQUEST)]
    pub replay_request: Option<String>,

    /// Campaign for this Lease (in NAMESPACE) and read only while holding it: one active
    /// adapter and a standby (the controller sets it for `spec.replicas: 2`).
    #[arg(long = "lease", env = adapter_env::name::ADAPTER_LEASE)]
    pub lease: Option<String>,

    /// This adapter's identity on the Lease (default: the host name).
    #[arg(long = "lease-identity", env = adapter_env::name::ADAPTER_IDENTITY)]
    pub lease_identity: Option<String>,

    /// Seconds the Lease lasts unrenewed before the standby takes over (renewed every third).
    #[arg(
        long = "lease-duration",
        env = "ADAPTER_LEASE_DURATION_SECONDS",
        default_value_t = 10
    )]
    pub lease_duration: u32,

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

    /// Knative observability configuration (JSON of config-observability; its `Tracing`
    /// section turns on spans exported over OTLP HTTP/protobuf and a `traceparent` on every
    /// event sent).
    #[arg(long = "observability-config", env = adapter_env::name::K_OBSERVABILITY_CONFIG)]
    pub observability_config: Option<String>,

    /// The Go adapters' tracing configuration (JSON; only `"backend":"none"` is served, a
    /// Zipkin backend is logged and left off). Read when --observability-config has no
    /// tracing section.
    #[arg(long = "tracing-config", env = adapter_env::name::K_TRACING_CONFIG)]
    pub tracing_config: Option<String>,
}

impl RuntimeArgs {
    /// The tracing settings (`K_OBSERVABILITY_CONFIG`, `K_TRACING_CONFIG`).
    pub fn tracing(
        &self,
    ) -> Result<crate::telemetry::tracing_export::TracingSettings, ConfigError> {
        crate::telemetry::tracing_export::TracingSettings::from_env(
            self.observability_config.as_deref(),
            self.tracing_config.as_deref(),
        )
        .map_err(|e| ConfigError::new(e.setting, e.reason))
    }

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

    /// PEM CA certificates trusted for an https dead-letter sink.
    #[arg(
        long = "dead-letter-sink-ca-certs",
        env = adapter_env::name::K_DEAD_LETTER_SINK_CA_CERTS,
        hide_env_values = true
    )]
    pub dead_letter_ca_certs: Option<String>,

    /// A directory of trust bundles: every file in it holding PEM certificates is trusted for
    /// https sinks beside K_CA_CERTS (the controller mounts the cluster's and the namespace's
    /// Knative trust bundles there). A missing directory means none.
    #[arg(
        long = "trust-bundles-dir",
        env = adapter_env::name::K_TRUST_BUNDLES_DIR,
        default_value = adapter_env::default::TRUST_BUNDLES_DIR
    )]
    pub trust_bundles_dir: std::path::PathBuf,

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

    /// The sink's OIDC audience: with K_OIDC_SERVICE_ACCOUNT, requests to the sink carry
    /// `Authorization: Bearer <token>` for it (Knative's authentication-oidc).
    #[arg(long = "audience", env = adapter_env::name::K_AUDIENCE)]
    pub audience: Option<String>,

    /// The ServiceAccount (in NAMESPACE) whose tokens, from the TokenRequest API, identify the
    /// source to its sinks.
    #[arg(long = "oidc-service-account", env = adapter_env::name::K_OIDC_SERVICE_ACCOUNT)]
    pub oidc_service_account: Option<String>,

    /// The dead-letter sink's OIDC audience: requests to it carry a token for it.
    #[arg(
        long = "dead-letter-sink-audience",
        env = adapter_env::name::K_DEAD_LETTER_SINK_AUDIENCE
    )]
    pub dead_letter_sink_audience: Option<String>,

    /// The lifetime asked for each OIDC token, in seconds (Knative's 3600; the API server
    /// refuses less than 600 and may shorten it). For tests.
    #[arg(
        long = "oidc-token-expiration-seconds",
        env = "K_OIDC_TOKEN_EXPIRATION_SECONDS",
        default_value_t = 3600,
        hide = true
    )]
    pub oidc_token_expiration_seconds: u64,

    /// Most events delivered at once, each retried on its own (the limit adapts to the sink
    /// below this ceiling); 1 sends strictly in order.
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

/// The largest trust-bundle file read (a ConfigMap holds at most 1 MiB).
const MAX_TRUST_BUNDLE_BYTES: u64 = 4 << 20;

/// The trust bundles in `dir`, by file name (sorted): every regular file whose name does not
/// start with a dot (the kubelet's `..data` links do). A missing directory holds none.
fn trust_bundles(dir: &std::path::Path) -> Result<Vec<TrustBundle>, ConfigError> {
    let setting = adapter_env::name::K_TRUST_BUNDLES_DIR;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ConfigError::new(
                setting,
                format!("cannot read the directory {}: {e}", dir.display()),
            ));
        }
    };
    let mut bundles = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            ConfigError::new(setting, format!("cannot list {}: {e}", dir.display()))
        })?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // Follows the kubelet's symbolic links into its `..data` directory.
        let Some(size) = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.is_file() && !file.starts_with('.'))
            .map(|m| m.len())
        else {
            continue;
        };
        let unreadable = |e: &dyn std::fmt::Display| {
            ConfigError::new(setting, format!("cannot read {}: {e}", path.display()))
        };
        if size > MAX_TRUST_BUNDLE_BYTES {
            return Err(ConfigError::new(
                setting,
                format!(
                    "{} holds {size} bytes, more than a trust bundle's {MAX_TRUST_BUNDLE_BYTES}",
                    path.display()
                ),
            ));
        }
        let pem = std::fs::read_to_string(&path).map_err(|e| unreadable(&e))?;
        if let Err(e) = reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
            return Err(ConfigError::new(
                setting,
                format!(
                    "{}: {} (fix or remove the ConfigMap labelled \
                     networking.knative.dev/trust-bundle=true it comes from)",
                    path.display(),
                    crate::deliver::error_chain(&e)
                ),
            ));
        }
        bundles.push(TrustBundle { file, pem });
    }
    bundles.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(bundles)
}

impl SinkArgs {
    /// The sink settings, `None` for stdout (no `K_SINK`).
    pub fn sink_config(&self) -> Result<Option<SinkConfig>, ConfigError> {
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
        Ok(Some(SinkConfig {
            url: sink_url(name::K_SINK, &sink)?,
            dead_letter: match nonempty(&self.dead_letter_sink) {
                Some(d) => Some(sink_url(name::K_DEAD_LETTER_SINK, &d)?),
                None => None,
            },
            timeout,
            ca_certs: nonempty(&self.ca_certs),
            dead_letter_ca_certs: nonempty(&self.dead_letter_ca_certs),
            trust_bundles: trust_bundles(&self.trust_bundles_dir)?,
            backoff,
            backoff_per_event,
            retry,
            oidc: None,
        }))
    }

    /// The OIDC identity to send with, `None` without an audience. `namespace` is the OIDC
    /// ServiceAccount's (`NAMESPACE`). An audience without `K_OIDC_SERVICE_ACCOUNT` (or
    /// `NAMESPACE`) is refused: the adapter would send without the identity the sink expects.
    pub fn oidc(
        &self,
        namespace: Option<&str>,
    ) -> Result<Option<crate::deliver::identity::OidcSettings>, ConfigError> {
        use adapter_env::name;
        let audience = nonempty(&self.audience);
        let dead_letter_audience = nonempty(&self.dead_letter_sink_audience);
        let first = match (&audience, &dead_letter_audience) {
            (Some(_), _) => name::K_AUDIENCE,
            (None, Some(_)) => name::K_DEAD_LETTER_SINK_AUDIENCE,
            (None, None) => return Ok(None),
        };
        let service_account = nonempty(&self.oidc_service_account).ok_or_else(|| {
            ConfigError::new(
                name::K_OIDC_SERVICE_ACCOUNT,
                format!(
                    "not set, but {first} is: set it to the ServiceAccount whose tokens                      identify the source (the controller sets both when config-features has                      authentication-oidc: enabled), or unset {first}"
                ),
            )
        })?;
        let namespace = namespace
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    name::NAMESPACE,
                    format!(
                        "not set, but K_OIDC_SERVICE_ACCOUNT is: set it to the namespace of                          ServiceAccount {service_account:?}"
                    ),
                )
            })?;
        if !(600..=86_400 * 366).contains(&self.oidc_token_expiration_seconds) {
            return Err(ConfigError::new(
                "K_OIDC_TOKEN_EXPIRATION_SECONDS",
                format!(
                    "{} is not between 600 (the API server's minimum) and a year",
                    self.oidc_token_expiration_seconds
                ),
            ));
        }
        Ok(Some(crate::deliver::identity::OidcSettings {
            namespace: namespace.to_owned(),
            service_account,
            audience,
            dead_letter_audience,
            expiration: Duration::from_secs(self.oidc_token_expiration_seconds),
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
            "deadLetterSinkCaCerts": sink.as_ref().is_some_and(|s| s.dead_letter_ca_certs.is_some()),
            "trustBundles": sink.as_ref().map(|s| s.trust_bundles.iter().map(|b| b.file.clone()).collect::<Vec<_>>()),
            "oidcServiceAccount": nonempty(&self.oidc_service_account),
            "audience": nonempty(&self.audience),
            "deadLetterSinkAudience": nonempty(&self.dead_letter_sink_audience),
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn oidc_settings_need_the_service_account_and_its_namespace() {
        let mut args = SinkArgs {
            sink: Some("http://sink".into()),
            oidc_token_expiration_seconds: 3600,
            ..SinkArgs::default()
        };
        assert_eq!(args.oidc(Some("ns")).expect("none"), None);
        // The service account alone: no audience, no header (as Knative's adapters).
        args.oidc_service_account = Some("s-oidc".into());
        assert_eq!(args.oidc(Some("ns")).expect("none"), None);
        args.audience = Some("broker-aud".into());
        let o = args.oidc(Some("ns")).expect("valid").expect("identity");
        assert_eq!(o.namespace, "ns");
        assert_eq!(o.service_account, "s-oidc");
        assert_eq!(o.audiences(), ["broker-aud"]);
        assert_eq!(o.expiration, Duration::from_secs(3600));
        let e = args.oidc(None).expect_err("namespace");
        assert_eq!(e.setting, "NAMESPACE", "{e}");
        args.oidc_service_account = None;
        let e = args.oidc(Some("ns")).expect_err("service account");
        assert_eq!(e.setting, "K_OIDC_SERVICE_ACCOUNT", "{e}");
        assert!(e.to_string().contains("K_AUDIENCE"), "{e}");
        args.audience = None;
        args.dead_letter_sink_audience = Some("dls-aud".into());
        let e = args.oidc(Some("ns")).expect_err("service account");
        assert!(e.to_string().contains("K_DEAD_LETTER_SINK_AUDIENCE"), "{e}");
        args.oidc_service_account = Some("s-oidc".into());
        args.oidc_token_expiration_seconds = 10;
        let e = args.oidc(Some("ns")).expect_err("too short");
        assert_eq!(e.setting, "K_OIDC_TOKEN_EXPIRATION_SECONDS", "{e}");
    }
}
