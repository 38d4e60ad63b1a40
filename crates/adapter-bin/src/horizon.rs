//! The Horizon adapter: its settings, the login and the resume point, then the
//! [pipeline](crate::pipeline) with the [Horizon source](crate::source::horizon) and the
//! [Horizon encoder](crate::encode::horizon).
//!
//! [`prepare`] validates every setting (one message naming the bad one, e.g. missing
//! credentials or a bad `HORIZON_URL`). [`run`] serves metrics and health, loads the
//! checkpoint, logs in to Horizon (retrying while it is unreachable), runs the pipeline until
//! shutdown, and logs out.

use std::sync::Arc;
use std::time::Duration;

use checkpoint::{CheckpointConfig, CheckpointStore, FileStore, HorizonCheckpoint, StoreError};
use cloudevent_encode::CeOverrides;
use horizon_client::{Client, Credentials, Cursor};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::{Backoff, jitter};
use crate::config::{self, ConfigError};
use crate::deliver::{Sink, SinkConfig, Target};
use crate::encode::horizon::Encoder;
use crate::horizon_config::{self, HorizonArgs};
use crate::source::horizon::{HorizonProgress, HorizonSource, HorizonSourceConfig};
use crate::telemetry::{self, Metrics};

pub use crate::error::AdapterError;

/// Everything checked and ready to run.
pub struct Prepared {
    args: HorizonArgs,
    url: String,
    overrides: CeOverrides,
    period: Duration,
    poll_interval: Duration,
    replay: Duration,
    target: TargetConfig,
    credentials: Credentials,
    metrics_addr: std::net::SocketAddr,
    configmap: Option<(String, String)>,
}

enum TargetConfig {
    Http(Box<SinkConfig>),
    Stdout,
}

fn go_duration(setting: &'static str, value: &str) -> Result<Duration, ConfigError> {
    checkpoint::parse_go_duration(value).ok_or_else(|| {
        ConfigError::new(
            setting,
            format!("{value:?} is not a Go duration, e.g. 1s, 500ms, 5m"),
        )
    })
}

/// Validate every setting, before anything connects anywhere.
pub fn prepare(args: HorizonArgs) -> Result<Prepared, ConfigError> {
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
    Client::builder(&url).map_err(|e| ConfigError::new("HORIZON_URL", e.to_string()))?;
    let overrides = args.delivery.overrides()?;
    let period = CheckpointConfig::from_json(&args.checkpoint_config)
        .map_err(|e| ConfigError::new("HORIZON_CHECKPOINT_CONFIG", e.to_string()))?
        .period;
    if !(1..=horizon_client::MAX_PAGE_SIZE).contains(&args.page_size) {
        return Err(ConfigError::new(
            "HORIZON_PAGE_SIZE",
            format!("{} is not between 1 and 1000", args.page_size),
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
    let nonempty = config::nonempty;
    let target = match args.delivery.sink_config()? {
        None => TargetConfig::Stdout,
        Some(cfg) => TargetConfig::Http(Box::new(cfg)),
    };
    let configmap = if args.checkpoint_file.is_none() {
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
        Some((namespace, name))
    } else {
        None
    };
    let credentials = horizon_config::credentials(&args)?;
    let env_port = std::env::var(adapter_env::name::METRICS_PROMETHEUS_PORT).ok();
    let metrics_addr = config::metrics_address(
        args.runtime.metrics_address,
        &args.runtime.metrics_config,
        env_port.as_deref(),
    )?;
    Ok(Prepared {
        args,
        url,
        overrides,
        period,
        poll_interval,
        replay,
        target,
        credentials,
        metrics_addr,
        configmap,
    })
}

impl Prepared {
    /// What the adapter will use, as JSON (`--check-settings`; no credentials).
    pub fn summary(&self) -> Result<serde_json::Value, ConfigError> {
        let a = &self.args;
        Ok(serde_json::json!({
            "horizon": self.url,
            "insecure": a.horizon_insecure,
            "domain": self.credentials.domain(),
            "username": self.credentials.username(),
            "namespace": a.runtime.namespace,
            "name": a.name,
            "checkpoint": match (&a.checkpoint_file, &self.configmap) {
                (Some(f), _) => serde_json::json!({"file": f}),
                (None, Some((ns, name))) => serde_json::json!({"configMap": name, "namespace": ns}),
                (None, None) => serde_json::Value::Null,
            },
            "periodSeconds": self.period.as_secs_f64(),
            "pollIntervalMs": self.poll_interval.as_millis() as u64,
            "pageSize": a.page_size,
            "metricsAddress": self.metrics_addr.to_string(),
            "delivery": a.delivery.summary()?,
        }))
    }
}

/// Run until `shutdown` fires. Returns an error only for problems retrying cannot fix.
pub async fn run(prepared: Prepared, shutdown: CancellationToken) -> Result<(), AdapterError> {
    let Prepared {
        args,
        url,
        overrides,
        period,
        poll_interval,
        replay,
        target,
        credentials,
        metrics_addr,
        configmap,
    } = prepared;
    let (metrics, serve_stop) = telemetry::start("horizon", metrics_addr, &shutdown).await?;

    let store: Arc<dyn CheckpointStore> = match (&args.checkpoint_file, &configmap) {
        (Some(path), _) => Arc::new(FileStore::new(path)),
        (None, Some((namespace, name))) => {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| AdapterError::Kubernetes(e.to_string()))?;
            match checkpoint::ConfigMapStore::open(client, namespace, name).await {
                Ok(store) => Arc::new(store),
                // The Go controller grants a HorizonSource's service account no ConfigMap
                // access: run as upstream does (no checkpoint across restarts), loudly.
                Err(e) if is_forbidden(&e) => {
                    error!(error = %e, "no access to the checkpoint ConfigMap; keeping the checkpoint in memory only (grant get, create and update on configmaps to the service account)");
                    Arc::new(checkpoint::MemoryStore::default())
                }
                Err(e) => return Err(e.into()),
            }
        }
        (None, None) => {
            return Err(ConfigError::new("HORIZON_KVSTORE_CONFIGMAP", "not set").into());
        }
    };
    info!(location = %store.location(), period_s = period.as_secs_f64(), "configuring checkpointing");
    let stored = match store.load_json().await? {
        None => None,
        Some(json) => {
            Some(
                HorizonCheckpoint::from_json(&json).map_err(|source| StoreError::Invalid {
                    location: store.location(),
                    source,
                })?,
            )
        }
    };

    let client = Arc::new(
        Client::builder(&url)
            .map_err(|e| ConfigError::new("HORIZON_URL", e.to_string()))?
            .insecure(args.horizon_insecure)
            .timeout(Duration::from_secs(args.request_timeout.max(1)))
            .access_token_lifetime(Duration::from_secs(args.token_lifetime.max(1)))
            .credentials(credentials)
            .build()
            .map_err(|e| ConfigError::new("HORIZON_URL", e.to_string()))?,
    );
    let stopped = |serve_stop: &CancellationToken| {
        serve_stop.cancel();
        Ok(())
    };
    let resume = stored
        .as_ref()
        .and_then(|cp| HorizonProgress::from_checkpoint(&url, cp));
    let cursor = match &resume {
        Some(p) => {
            info!(time = p.cursor.time, ids = ?p.cursor.ids, "found existing checkpoint");
            if !login(&client, &metrics, &shutdown).await {
                return stopped(&serve_stop);
            }
            p.cursor.clone()
        }
        None => {
            info!("no valid checkpoint found; starting after the newest audit event");
            let mut failures = 0;
            loop {
                if !login(&client, &metrics, &shutdown).await {
                    return stopped(&serve_stop);
                }
                match Cursor::after_newest(&client, replay).await {
                    Ok(c) => break c,
                    Err(e) => {
                        failures += 1;
                        let wait = connect_backoff().delay(failures, None, jitter());
                        warn!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot read Horizon audit events; retrying");
                        if crate::sleep_or_cancel(wait, &shutdown).await {
                            return stopped(&serve_stop);
                        }
                    }
                }
            }
        }
    };
    info!(time = cursor.time, "setting begin of event stream");

    let target = match target {
        TargetConfig::Stdout => Target::Stdout,
        TargetConfig::Http(cfg) => Target::Http(
            Sink::new(*cfg, metrics.clone())
                .map_err(|e| ConfigError::new("K_CA_CERTS", e.to_string()))?,
        ),
    };
    let encoder = Encoder {
        source: url.clone(),
        overrides,
        namespace: args.runtime.namespace.clone().filter(|n| !n.is_empty()),
    };
    let source = HorizonSource::new(
        client.clone(),
        &url,
        cursor,
        HorizonSourceConfig {
            poll_interval,
            page_size: args.page_size,
        },
        metrics.clone(),
    );
    crate::pipeline::run(
        source,
        encoder,
        target,
        store,
        resume,
        args.delivery.pipeline(period),
        metrics,
        shutdown,
    )
    .await;
    info!("checkpoint saved; logging out");
    let logout = Duration::from_secs(adapter_env::default::SHUTDOWN_SOURCE_SECONDS);
    if let Ok(Err(e)) = tokio::time::timeout(logout, client.logout()).await {
        debug!(error = %e, "logout");
    }
    serve_stop.cancel();
    Ok(())
}

fn is_forbidden(e: &StoreError) -> bool {
    match e {
        StoreError::Io { source, .. } => source
            .downcast_ref::<kube::Error>()
            .is_some_and(|k| matches!(k, kube::Error::Api(s) if s.code == 403)),
        _ => false,
    }
}

fn connect_backoff() -> Backoff {
    Backoff::reconnect(Duration::from_secs(60))
}

/// Log in, retrying until it works; `false` when shutdown came first.
async fn login(client: &Client, metrics: &Metrics, shutdown: &CancellationToken) -> bool {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match client.login().await {
            Ok(()) => {
                metrics.set_source_up(true);
                info!(horizon = %client.base_url(), "connected to Horizon");
                return true;
            }
            Err(e) => {
                metrics.set_source_up(false);
                let wait = connect_backoff().delay(attempt, None, jitter());
                if e.is_bad_credentials() {
                    error!(error = %e, retry_in_s = wait.as_secs_f64(), "Horizon refused the credentials");
                } else {
                    warn!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot connect to Horizon");
                }
                if crate::sleep_or_cancel(wait, shutdown).await {
                    return false;
                }
            }
        }
    }
}
