//! The Horizon adapter: poll → encode → deliver → checkpoint, wired together.
//!
//! [`prepare`] validates every setting (one message naming the bad one, e.g. missing
//! credentials or a bad `HORIZON_URL`). [`run`] serves metrics and health, loads the
//! checkpoint, logs in to Horizon (retrying while it is unreachable), then runs the
//! [reader](crate::source::horizon), the delivery loop (the shared [sink](crate::deliver) with
//! its retry, dead-letter and never-advance-past-unaccepted rules) and a checkpoint saver. On
//! shutdown the reader stops, the in-flight delivery gets a grace period, the checkpoint is
//! saved and the session is logged out.
//!
//! CloudEvents are upstream's: `id` = the audit event id, `source` = `HORIZON_URL`, `type` =
//! `com.vmware.horizon.<lower-case type>.v0`, JSON data with upstream's field names; `time`
//! keeps milliseconds (upstream truncates to seconds).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use checkpoint::{CheckpointConfig, CheckpointStore, FileStore, HorizonCheckpoint, StoreError};
use cloudevent_encode::{CeOverrides, percent_encode};
use horizon_client::{AuditEvent, Client, Credentials};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::checkpointing::{Progress, run_saver};
use crate::config::{self, ConfigError};
use crate::deliver::{Backoff, Outcome, Outgoing, Sink, SinkConfig};
use crate::horizon_config::{self, HorizonArgs};
use crate::source::horizon::{Cursor, ReaderConfig, initial_cursor, read_events};
use crate::telemetry::{self, Metrics};

pub use crate::vsphere::AdapterError;

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
            .access_token_lifetime(Duration::from_secs(args.token_lifetime.max(1)))
            .credentials(credentials)
            .build()
            .map_err(|e| ConfigError::new("HORIZON_URL", e.to_string()))?,
    );
    let stopped = |serve_stop: &CancellationToken| {
        serve_stop.cancel();
        Ok(())
    };
    let cursor = match stored.as_ref().and_then(Cursor::from_checkpoint) {
        Some(c) => {
            info!(time = c.time, ids = ?c.ids, "found existing checkpoint");
            if !login(&client, &metrics, &shutdown).await {
                return stopped(&serve_stop);
            }
            c
        }
        None => {
            info!("no valid checkpoint found; starting after the newest audit event");
            let mut failures = 0;
            loop {
                if !login(&client, &metrics, &shutdown).await {
                    return stopped(&serve_stop);
                }
                match initial_cursor(&client, replay).await {
                    Ok(c) => break c,
                    Err(e) => {
                        failures += 1;
                        let wait =
                            connect_backoff().delay(failures, None, crate::deliver::jitter());
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

    let (tx, rx) = mpsc::channel::<AuditEvent>(args.page_size as usize * 2);
    let stop_reading = shutdown.child_token();
    let reader = tokio::spawn(read_events(
        client.clone(),
        cursor,
        ReaderConfig {
            poll_interval,
            page_size: args.page_size,
        },
        tx,
        metrics.clone(),
        stop_reading.clone(),
    ));
    let progress = Arc::new(Progress::<Cursor>::default());
    let stop_saving = CancellationToken::new();
    let source = url.clone();
    let saver = tokio::spawn(run_saver(
        store.clone(),
        progress.clone(),
        move |cursor: &Cursor| {
            HorizonCheckpoint::new(&source, cursor.time, cursor.ids.iter().copied().collect())
                .to_json()
        },
        period,
        metrics.clone(),
        stop_saving.clone(),
    ));
    let abandon = crate::abandon_after(&shutdown, Duration::from_secs(args.shutdown_grace));
    deliver_all(
        rx, &encoder, &target, &progress, &metrics, &shutdown, &abandon,
    )
    .await;

    stop_reading.cancel();
    if tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .is_err()
    {
        warn!("the reader did not stop in time; leaving it");
    }
    stop_saving.cancel();
    let _ = saver.await;
    info!("checkpoint saved; logging out");
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), client.logout()).await {
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
        StoreError::Invalid { .. } => false,
    }
}

fn connect_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        factor: 2.0,
    }
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
                let wait = connect_backoff().delay(attempt, None, crate::deliver::jitter());
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

/// Audit events as CloudEvents.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// `source` (`HORIZON_URL`).
    pub source: String,
    /// `K_CE_OVERRIDES` extensions.
    pub overrides: CeOverrides,
    /// `Kn-Namespace`.
    pub namespace: Option<String>,
}

/// `com.vmware.horizon.<lower-case type>.v0`.
pub fn event_type(e: &AuditEvent) -> String {
    format!(
        "com.vmware.horizon.{}.v0",
        e.kind.as_deref().unwrap_or_default().to_lowercase()
    )
}

/// RFC 3339 UTC with milliseconds, e.g. `2021-07-27T07:12:19.490Z`.
pub fn event_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".into(),
    }
}

impl Encoder {
    /// Binary-mode HTTP headers and body.
    pub fn outgoing(&self, e: &AuditEvent) -> Result<Outgoing, http::Error> {
        let id = e.id.to_string();
        let kind = event_type(e);
        let mut headers = HeaderMap::new();
        let mut put = |name: &str, value: &str| -> Result<(), http::Error> {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(http::Error::from)?;
            let value = HeaderValue::from_str(&percent_encode(value)).map_err(http::Error::from)?;
            headers.insert(name, value);
            Ok(())
        };
        put("ce-specversion", "1.0")?;
        put("ce-id", &id)?;
        put("ce-source", &self.source)?;
        put("ce-type", &kind)?;
        put("ce-time", &event_time(e.time))?;
        for (k, v) in self.overrides.iter() {
            put(&format!("ce-{k}"), v)?;
        }
        if let Some(ns) = &self.namespace {
            put("kn-namespace", ns)?;
        }
        put("content-type", "application/json")?;
        Ok(Outgoing {
            id,
            event_type: kind,
            headers,
            body: Bytes::from(serde_json::to_vec(e).unwrap_or_default()),
        })
    }

    /// The structured-mode JSON (for stdout).
    pub fn structured(&self, e: &AuditEvent) -> serde_json::Value {
        let mut v = serde_json::json!({
            "specversion": "1.0",
            "id": e.id.to_string(),
            "source": self.source,
            "type": event_type(e),
            "time": event_time(e.time),
            "datacontenttype": "application/json",
            "data": e,
        });
        for (k, val) in self.overrides.iter() {
            v[k] = serde_json::Value::String(val.to_owned());
        }
        v
    }
}

enum Target {
    Http(Sink),
    Stdout,
}

async fn deliver_all(
    mut rx: mpsc::Receiver<AuditEvent>,
    encoder: &Encoder,
    target: &Target,
    progress: &Progress<Cursor>,
    metrics: &Metrics,
    shutdown: &CancellationToken,
    abandon: &CancellationToken,
) {
    loop {
        let event = tokio::select! {
            e = rx.recv() => match e { Some(e) => e, None => break },
            _ = shutdown.cancelled() => break,
        };
        let outcome = match target {
            Target::Stdout => {
                let mut line = encoder.structured(&event).to_string();
                line.push('\n');
                let mut out = std::io::stdout().lock();
                match out.write_all(line.as_bytes()).and_then(|_| out.flush()) {
                    Ok(()) => {
                        metrics.sent.inc();
                        Outcome::Delivered { attempts: 1 }
                    }
                    Err(e) => {
                        error!(error = %e, "cannot write to stdout");
                        Outcome::Cancelled
                    }
                }
            }
            Target::Http(sink) => match encoder.outgoing(&event) {
                Ok(outgoing) => sink.deliver(&outgoing, abandon).await,
                Err(e) => {
                    error!(id = event.id, error = %e, "cannot encode the event; skipping it");
                    metrics.failed.inc();
                    Outcome::Rejected { status: 0 }
                }
            },
        };
        if !outcome.is_settled() {
            break;
        }
        progress.update(|c| c.get_or_insert_with(Cursor::default).advance(&event));
        if let Ok(lag) = Duration::try_from(
            jiff::Timestamp::now()
                - jiff::Timestamp::from_millisecond(event.time).unwrap_or_default(),
        ) {
            metrics.set_lag(lag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_like_upstream_but_keeps_milliseconds() {
        let e: AuditEvent = serde_json::from_str(r#"{"id":98562,"machine_dns_name":"Horizon-01.corp.local","message":"User corp\\administrator has logged in to View Administrator","module":"Vlsi","severity":"AUDIT_SUCCESS","time":1627369939490,"type":"VLSI_USERLOGGEDIN","user_id":"S-1-5-21-4442515-1634369418-872054540-500"}"#).expect("event");
        let mut overrides = CeOverrides::none();
        overrides.insert("team", "a b").expect("ext");
        let enc = Encoder {
            source: "https://horizon.example".into(),
            overrides,
            namespace: Some("ns".into()),
        };
        let o = enc.outgoing(&e).expect("encode");
        let h = |n: &str| {
            o.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(h("ce-id"), "98562");
        assert_eq!(h("ce-type"), "com.vmware.horizon.vlsi_userloggedin.v0");
        assert_eq!(h("ce-time"), "2021-07-27T07:12:19.490Z");
        assert_eq!(h("ce-source"), "https://horizon.example");
        assert_eq!(h("ce-team"), "a%20b");
        assert_eq!(h("kn-namespace"), "ns");
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(
            String::from_utf8_lossy(&o.body),
            r#"{"id":98562,"machine_dns_name":"Horizon-01.corp.local","message":"User corp\\administrator has logged in to View Administrator","module":"Vlsi","severity":"AUDIT_SUCCESS","time":1627369939490,"type":"VLSI_USERLOGGEDIN","user_id":"S-1-5-21-4442515-1634369418-872054540-500"}"#
        );
        assert_eq!(enc.structured(&e)["team"], "a b");
    }
}
