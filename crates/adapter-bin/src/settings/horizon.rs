//! The Horizon adapter's settings: [`HorizonArgs`] (the Go controller's environment for a
//! HorizonSource Deployment, and flags), validated into [`HorizonSettings`].

use std::path::PathBuf;
use std::time::Duration;

use checkpoint::CheckpointConfig;
use clap::Parser;

use super::{
    CheckpointSettings, Common, ConfigError, StoreLocation, go_duration, nonempty, parse_go_bool,
};

/// Horizon adapter settings. Each flag also reads the environment variable the Go controller
/// sets (`HORIZON_URL`, `HORIZON_INSECURE`, `HORIZON_SECRET_PATH`, `K_SINK`, `K_CE_OVERRIDES`,
/// `NAME`, `NAMESPACE`, `K_LOGGING_CONFIG`, `K_METRICS_CONFIG`).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "horizon-adapter",
    version,
    about = "Delivers every VMware Horizon audit event as a CloudEvent to a sink, with checkpoints.",
    long_about = "Delivers every VMware Horizon audit event as a CloudEvent to a sink (K_SINK), \
oldest first, retrying until the sink accepts it, and checkpoints the last delivered time and the \
ids delivered at that millisecond (ConfigMap <NAME>-configmap, or --checkpoint-file), so a restart \
neither re-sends history nor drops events sharing a timestamp. Omit --sink to print CloudEvents to \
stdout."
)]
pub struct HorizonArgs {
    /// Namespace, logging and metrics, as Knative sets them.
    #[command(flatten)]
    pub runtime: super::RuntimeArgs,

    /// Where events go.
    #[command(flatten)]
    pub delivery: super::SinkArgs,

    /// Horizon base URL, e.g. <https://horizon.example.com> (also the CloudEvent source).
    #[arg(long = "horizon-url", env = adapter_env::name::HORIZON_URL)]
    pub horizon_url: Option<String>,

    /// Skip Horizon certificate verification (true/false).
    #[arg(long = "horizon-insecure", env = adapter_env::name::HORIZON_INSECURE, default_value = "false", value_parser = parse_go_bool)]
    pub horizon_insecure: bool,

    /// PEM CA certificates trusted for the Horizon server besides the system roots (the
    /// HorizonSource's `caCerts`).
    #[arg(long = "horizon-ca-certs", env = adapter_env::name::HORIZON_CA_CERTS, hide_env_values = true)]
    pub horizon_ca_certs: Option<String>,

    /// Directory with the files `domain`, `username` and `password` (a mounted Secret); empty
    /// means /var/bindings/horizon.
    #[arg(long = "horizon-secret-path", env = adapter_env::name::HORIZON_SECRET_PATH)]
    pub horizon_secret_path: Option<PathBuf>,

    /// Domain, used with --horizon-username and --horizon-password when the secret directory is
    /// absent (standalone runs).
    #[arg(long = "horizon-domain", env = "HORIZON_DOMAIN")]
    pub horizon_domain: Option<String>,

    /// User name (standalone runs).
    #[arg(long = "horizon-username", env = "HORIZON_USERNAME")]
    pub horizon_username: Option<String>,

    /// Password (standalone runs).
    #[arg(
        long = "horizon-password",
        env = "HORIZON_PASSWORD",
        hide_env_values = true
    )]
    pub horizon_password: Option<String>,

    /// Only audit events of these types, modules or severities: the HorizonSource's
    /// `spec.filter` as JSON, e.g. `{"eventTypes":["VLSI_USERLOGGEDIN"],"modules":["Broker"],
    /// "severities":["AUDIT_FAIL"]}`.
    #[arg(long = "event-filter", env = adapter_env::name::HORIZON_EVENT_FILTER)]
    pub event_filter: Option<String>,

    /// Checkpoint settings, `{"period":"10s"}` (a Go duration; maxAge is not used).
    #[arg(
        long = "checkpoint-config",
        env = "HORIZON_CHECKPOINT_CONFIG",
        default_value = "{}"
    )]
    pub checkpoint_config: String,

    /// ConfigMap (in NAMESPACE) holding the checkpoint; default `<NAME>-configmap`.
    #[arg(long = "checkpoint-configmap", env = adapter_env::name::HORIZON_KVSTORE_CONFIGMAP)]
    pub checkpoint_configmap: Option<String>,

    /// File holding the checkpoint (standalone runs; instead of a ConfigMap).
    #[arg(long = "checkpoint-file", env = "HORIZON_CHECKPOINT_FILE")]
    pub checkpoint_file: Option<PathBuf>,

    /// Name of the source.
    #[arg(long = "name", env = adapter_env::name::NAME)]
    pub name: Option<String>,

    /// Audit events per page (1 to 1000).
    #[arg(long = "page-size", env = "HORIZON_PAGE_SIZE", default_value_t = 1000)]
    pub page_size: u32,

    /// Time between polls (a Go duration).
    #[arg(
        long = "poll-interval",
        env = "HORIZON_POLL_INTERVAL",
        default_value = "1s"
    )]
    pub poll_interval: String,

    /// On the first start (no checkpoint), also deliver the events of this long before the
    /// newest one (a Go duration; default 0s: start from now).
    #[arg(long = "replay", env = "HORIZON_REPLAY", default_value = "0s")]
    pub replay: String,

    /// Seconds allowed for one Horizon request and its answer (then it is read again).
    #[arg(
        long = "horizon-request-timeout",
        env = "HORIZON_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub request_timeout: u64,

    /// Seconds the access token lives (tokens are refreshed shortly before, and on a 401).
    #[arg(
        long = "token-lifetime",
        env = "HORIZON_TOKEN_LIFETIME_SECONDS",
        default_value_t = 1800
    )]
    pub token_lifetime: u64,
}

/// The credentials: the secret directory when it exists, else the standalone flags.
pub fn credentials(args: &HorizonArgs) -> Result<horizon_client::Credentials, ConfigError> {
    let dir = args
        .horizon_secret_path
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(horizon_client::DEFAULT_SECRET_PATH));
    let flags = (
        args.horizon_domain.as_deref(),
        args.horizon_username.as_deref(),
        args.horizon_password.as_deref(),
    );
    if !dir.exists()
        && let (Some(d), Some(u), Some(p)) = flags
    {
        return horizon_client::Credentials::new(d, u, p)
            .map_err(|e| ConfigError::new("HORIZON_SECRET_PATH", e.to_string()));
    }
    horizon_client::Credentials::from_dir(&dir).map_err(|e| {
        ConfigError::new(
            "HORIZON_SECRET_PATH",
            format!("{e} (mount a Secret with domain, username and password there)"),
        )
    })
}

/// The Horizon adapter's settings, every one checked.
#[derive(Debug)]
pub struct HorizonSettings {
    /// The flags and environment they came from.
    pub args: HorizonArgs,
    /// What both adapters share.
    pub common: Common,
    /// `HORIZON_URL`, trimmed: the server and the CloudEvent `source`.
    pub url: String,
    /// The login.
    pub credentials: horizon_client::Credentials,
    /// `HORIZON_POLL_INTERVAL`.
    pub poll_interval: Duration,
    /// `HORIZON_REPLAY`.
    pub replay: Duration,
    /// `HORIZON_EVENT_FILTER`.
    pub filter: horizon_client::AuditEventFilter,
}

impl HorizonSettings {
    /// Validate every setting (one message naming the first bad one, e.g. missing credentials
    /// or a bad `HORIZON_URL`).
    pub fn from_args(args: HorizonArgs) -> Result<Self, ConfigError> {
        let url = args
            .horizon_url
            .clone()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    "HORIZON_URL",
                    "not set; the Horizon server URL, e.g. https://horizon.example.com",
                )
            })?;
        horizon_client::Client::builder(&url)
            .map_err(|e| ConfigError::new("HORIZON_URL", e.to_string()))?;
        if let Some(pem) = args
            .horizon_ca_certs
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            horizon_client::check_ca_bundle(pem.as_bytes()).map_err(|e| {
                ConfigError::new(adapter_env::name::HORIZON_CA_CERTS, e.to_string())
            })?;
        }
        args.delivery.overrides()?;
        let period = CheckpointConfig::from_json(&args.checkpoint_config)
            .map_err(|e| ConfigError::new("HORIZON_CHECKPOINT_CONFIG", e.to_string()))?
            .period;
        if !(1..=horizon_client::MAX_PAGE_SIZE).contains(&args.page_size) {
            return Err(ConfigError::new(
                "HORIZON_PAGE_SIZE",
                format!(
                    "{} is not between 1 and {}",
                    args.page_size,
                    horizon_client::MAX_PAGE_SIZE
                ),
            ));
        }
        let poll_interval = go_duration("HORIZON_POLL_INTERVAL", &args.poll_interval)?;
        if poll_interval.is_zero() {
            return Err(ConfigError::new(
                "HORIZON_POLL_INTERVAL",
                "must be more than 0, e.g. 1s",
            ));
        }
        let replay = go_duration("HORIZON_REPLAY", &args.replay)?;
        let filter = match args.event_filter.as_deref().map(str::trim) {
            None | Some("") => horizon_client::AuditEventFilter::default(),
            Some(json) => serde_json::from_str(json).map_err(|e| {
                ConfigError::new(
                    adapter_env::name::HORIZON_EVENT_FILTER,
                    format!("not a HorizonSource filter: {e}"),
                )
            })?,
        };
        let sink = args.delivery.sink_config()?;
        let location = store_location(&args)?;
        let credentials = credentials(&args)?;
        let metrics_address = super::metrics_address_from_env(&args.runtime)?;
        let common = Common::new(
            &args.runtime,
            &args.delivery,
            sink,
            CheckpointSettings {
                location,
                period,
                max_age: None,
            },
            metrics_address,
        )?;
        Ok(Self {
            args,
            common,
            url,
            credentials,
            poll_interval,
            replay,
            filter,
        })
    }

    /// What the adapter will use, as JSON (`--check-settings`; no credentials).
    pub fn summary(&self) -> Result<serde_json::Value, ConfigError> {
        let a = &self.args;
        Ok(serde_json::json!({
            "horizon": self.url,
            "insecure": a.horizon_insecure,
            "caCerts": a.horizon_ca_certs.as_deref().is_some_and(|c| !c.trim().is_empty()),
            "domain": self.credentials.domain(),
            "username": self.credentials.username(),
            "namespace": a.runtime.namespace,
            "name": a.name,
            "checkpoint": match &self.common.checkpoint.location {
                StoreLocation::File(f) => serde_json::json!({"file": f}),
                StoreLocation::ConfigMap { namespace, name, .. } => {
                    serde_json::json!({"configMap": name, "namespace": namespace})
                }
            },
            "periodSeconds": self.common.checkpoint.period.as_secs_f64(),
            "pollIntervalMs": self.poll_interval.as_millis() as u64,
            "filter": self.filter,
            "pageSize": a.page_size,
            "metricsAddress": self.common.metrics_address.to_string(),
            "delivery": a.delivery.summary()?,
            "tracing": self.common.tracing.summary(),
        }))
    }
}

/// The checkpoint file, else the ConfigMap `HORIZON_KVSTORE_CONFIGMAP` (default
/// `<NAME>-configmap`) in `NAMESPACE`.
fn store_location(args: &HorizonArgs) -> Result<StoreLocation, ConfigError> {
    if let Some(path) = &args.checkpoint_file {
        return Ok(StoreLocation::File(path.clone()));
    }
    let namespace = nonempty(&args.runtime.namespace).ok_or_else(|| {
        ConfigError::new(
            "NAMESPACE",
            "not set; the namespace of the checkpoint ConfigMap (or use --checkpoint-file)",
        )
    })?;
    let name = match nonempty(&args.checkpoint_configmap) {
        Some(n) => n,
        None => format!(
            "{}-configmap",
            nonempty(&args.name).ok_or_else(|| ConfigError::new(
                "NAME",
                "not set; the source name, which names the checkpoint ConfigMap <NAME>-configmap (or use --checkpoint-file)",
            ))?
        ),
    };
    // The Go controller grants a HorizonSource's service account no ConfigMap access: run as
    // upstream does (no checkpoint across restarts), loudly.
    Ok(StoreLocation::ConfigMap {
        namespace,
        name,
        memory_if_forbidden: true,
    })
}
