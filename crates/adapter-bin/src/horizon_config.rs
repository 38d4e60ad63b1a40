//! The Horizon adapter's settings: the Go controller's environment contract for a HorizonSource
//! Deployment, the same settings as flags for standalone runs.

use std::path::PathBuf;

use clap::Parser;

use crate::config::{ConfigError, parse_go_bool};

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
    pub runtime: crate::config::RuntimeArgs,

    /// Where events go.
    #[command(flatten)]
    pub delivery: crate::config::SinkArgs,

    /// Horizon base URL, e.g. <https://horizon.example.com> (also the CloudEvent source).
    #[arg(long = "horizon-url", env = adapter_env::name::HORIZON_URL)]
    pub horizon_url: Option<String>,

    /// Skip Horizon certificate verification (true/false).
    #[arg(long = "horizon-insecure", env = adapter_env::name::HORIZON_INSECURE, default_value = "false", value_parser = parse_go_bool)]
    pub horizon_insecure: bool,

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
