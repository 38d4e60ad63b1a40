//! The vSphere adapter: its settings, the connection to vCenter and the resume point, then the
//! [pipeline](crate::pipeline) with the [vCenter source](crate::source::vsphere) and the
//! [vSphere encoder](crate::encode::vsphere).
//!
//! [`prepare`] validates every setting first (one message naming the bad one); [`run`] connects
//! to vCenter (retrying while it is unreachable), resumes from the checkpoint by vCenter's
//! clock, runs the pipeline until shutdown, and logs out.

use std::sync::Arc;
use std::time::Duration;

use checkpoint::{CheckpointConfig, CheckpointStore, FileStore};
use cloudevent_encode::{CeOverrides, EventEncoder, PayloadEncoding};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use vsphere_client::Client;
use vsphere_client::events::Position;

use crate::backoff::{Backoff, jitter};
use crate::config::{self, ConfigError, VsphereArgs};
use crate::deliver::{Sink, SinkConfig, Target};
use crate::encode::vsphere::VsphereEncoder;
use crate::source::vsphere::{VsphereSource, VsphereSourceConfig};
use crate::telemetry::{self, Metrics};

pub use crate::error::AdapterError;

/// Everything checked and ready to run.
pub struct Prepared {
    args: VsphereArgs,
    encoding: PayloadEncoding,
    overrides: CeOverrides,
    checkpoint_config: CheckpointConfig,
    target: TargetConfig,
    credentials: vsphere_client::Credentials,
    vc_url: String,
    vc_ca: Option<VcenterCa>,
    metrics_addr: std::net::SocketAddr,
}

enum TargetConfig {
    Http(Box<SinkConfig>),
    Stdout,
}

/// Validate every setting, before anything connects anywhere.
pub fn prepare(args: VsphereArgs) -> Result<Prepared, ConfigError> {
    let vc_url = args
        .vc_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "VC_URL",
                "not set; the vCenter URL, e.g. https://vcenter.example.com/sdk",
            )
        })?;
    vsphere_client::Endpoint::parse(&vc_url)
        .map_err(|e| ConfigError::new("VC_URL", e.to_string()))?;
    let encoding = PayloadEncoding::parse(&args.payload_encoding)
        .map_err(|e| ConfigError::new("VSPHERE_PAYLOAD_ENCODING", e.to_string()))?;
    let overrides = args.delivery.overrides()?;
    let checkpoint_config = CheckpointConfig::from_json(&args.checkpoint_config)
        .map_err(|e| ConfigError::new("VSPHERE_CHECKPOINT_CONFIG", e.to_string()))?;
    if !(1..=1000).contains(&args.page_size) {
        return Err(ConfigError::new(
            "VSPHERE_PAGE_SIZE",
            format!("{} is not between 1 and 1000", args.page_size),
        ));
    }
    let target = match args.delivery.sink_config()? {
        None => TargetConfig::Stdout,
        Some(cfg) => TargetConfig::Http(Box::new(cfg)),
    };
    if args.checkpoint_file.is_none() {
        if args
            .checkpoint_configmap
            .as_deref()
            .is_none_or(str::is_empty)
        {
            return Err(ConfigError::new(
                "VSPHERE_KVSTORE_CONFIGMAP",
                "not set; name the checkpoint ConfigMap, or use --checkpoint-file for a standalone run",
            ));
        }
        if args.runtime.namespace.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::new(
                "NAMESPACE",
                "not set; the namespace of the checkpoint ConfigMap",
            ));
        }
    }
    let vc_ca = vcenter_ca(&args)?;
    let credentials = config::credentials(&args)?;
    let env_port = std::env::var(adapter_env::name::METRICS_PROMETHEUS_PORT).ok();
    let metrics_addr = config::metrics_address(
        args.runtime.metrics_address,
        &args.runtime.metrics_config,
        env_port.as_deref(),
    )?;
    Ok(Prepared {
        args,
        encoding,
        overrides,
        checkpoint_config,
        target,
        credentials,
        vc_url,
        vc_ca,
        metrics_addr,
    })
}

impl Prepared {
    /// What the adapter will use, as JSON (`--check-settings`; no credentials).
    pub fn summary(&self) -> Result<serde_json::Value, ConfigError> {
        let a = &self.args;
        Ok(serde_json::json!({
            "vcenter": self.vc_url,
            "insecure": a.vc_insecure,
            "caCerts": self.vc_ca.as_ref().map(|c| c.settings),
            "username": self.credentials.username,
            "namespace": a.runtime.namespace,
            "name": a.name,
            "checkpoint": match (&a.checkpoint_file, &a.checkpoint_configmap) {
                (Some(f), _) => serde_json::json!({"file": f}),
                (None, cm) => serde_json::json!({"configMap": cm, "namespace": a.runtime.namespace}),
            },
            "maxAgeSeconds": self.checkpoint_config.max_age.as_secs(),
            "periodSeconds": self.checkpoint_config.period.as_secs_f64(),
            "payloadEncoding": a.payload_encoding,
            "eventTypes": event_types(a.event_types.as_deref()),
            "pageSize": a.page_size,
            "metricsAddress": self.metrics_addr.to_string(),
            "delivery": a.delivery.summary()?,
        }))
    }
}

/// CA certificates to trust for vCenter, and the settings they came from.
struct VcenterCa {
    pem: Vec<u8>,
    settings: &'static str,
}

/// The CA certificates to trust for vCenter: the file `VC_CA_BUNDLE`, then the text
/// `VC_CA_CERTS`; each must hold at least one PEM certificate.
fn vcenter_ca(args: &VsphereArgs) -> Result<Option<VcenterCa>, ConfigError> {
    let mut pem = Vec::new();
    let mut settings = None;
    if let Some(path) = &args.vc_ca_bundle {
        let file = std::fs::read(path).map_err(|e| {
            ConfigError::new(
                "VC_CA_BUNDLE",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        check_pem_certificates(&file).map_err(|why| {
            ConfigError::new("VC_CA_BUNDLE", format!("{}: {why}", path.display()))
        })?;
        pem = file;
        settings = Some("VC_CA_BUNDLE");
    }
    if let Some(text) = args.vc_ca_certs.as_deref().filter(|t| !t.trim().is_empty()) {
        check_pem_certificates(text.as_bytes()).map_err(|why| {
            ConfigError::new(
                "VC_CA_CERTS",
                format!(
                    "{why}; give the PEM text of the CA certificates (the VSphereSource's caCerts)"
                ),
            )
        })?;
        vsphere_client::transport::append_pem(&mut pem, text.as_bytes());
        settings = Some(match settings {
            Some(_) => "VC_CA_BUNDLE and VC_CA_CERTS",
            None => "VC_CA_CERTS",
        });
    }
    Ok(settings.map(|settings| VcenterCa { pem, settings }))
}

fn check_pem_certificates(pem: &[u8]) -> Result<(), String> {
    match vsphere_client::transport::ca_certificates(pem) {
        Ok(_) => Ok(()),
        Err(vsphere_client::Error::Config { reason }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

/// Run until `shutdown` fires. Returns an error only for problems that retrying cannot fix
/// (settings, an unreadable checkpoint).
pub async fn run(prepared: Prepared, shutdown: CancellationToken) -> Result<(), AdapterError> {
    let Prepared {
        args,
        encoding,
        overrides,
        checkpoint_config,
        target,
        credentials,
        vc_url,
        vc_ca,
        metrics_addr,
    } = prepared;
    let (metrics, serve_stop) = telemetry::start("vsphere", metrics_addr, &shutdown).await?;

    let store = open_store(&args).await?;
    info!(location = %store.location(), max_age_s = checkpoint_config.max_age.as_secs(), period_s = checkpoint_config.period.as_secs(), "configuring checkpointing");

    // An unreadable checkpoint stops start-up before anything else happens.
    let stored = store.load().await?;

    // Connect, retrying while vCenter is unreachable or refuses us.
    let tls = VcenterTls {
        insecure: args.vc_insecure,
        ca: vc_ca,
        request_timeout: Duration::from_secs(args.vc_request_timeout.max(1)),
    };
    let client = match connect(&vc_url, &tls, credentials, &metrics, &shutdown).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            serve_stop.cancel();
            return Ok(());
        }
        Err(e) => {
            serve_stop.cancel();
            return Err(e.into());
        }
    };

    let position = loop {
        match client.current_time().await {
            Ok(now) => {
                let (begin, lossy) = checkpoint_config.begin_at(now, stored.as_ref());
                match &stored {
                    Some(cp) if cp.last_event_key_timestamp.is_some() => info!(
                        last_event_key = ?cp.last_event_key, last_event_time = ?cp.last_event_key_timestamp.map(|t| t.to_string()),
                        "found existing checkpoint"
                    ),
                    _ => info!("no valid checkpoint found"),
                }
                if lossy
                    && stored
                        .as_ref()
                        .and_then(|c| c.last_event_key_timestamp)
                        .is_some()
                {
                    warn!(begin = %begin, "potential data loss: the checkpoint is older than maxAge; events before the begin time are not replayed");
                }
                let key = stored
                    .as_ref()
                    .filter(|c| c.last_event_key_timestamp == Some(begin))
                    .and_then(|c| c.last_event_key);
                info!(begin = %begin, "setting begin of event stream");
                break Position { time: begin, key };
            }
            Err(e) => {
                warn!(error = %e, "cannot read vCenter's clock; retrying");
                if crate::sleep_or_cancel(Duration::from_secs(2), &shutdown).await {
                    serve_stop.cancel();
                    let _ = client.logout().await;
                    return Ok(());
                }
            }
        }
    };

    let about = client.service_content().about.clone();
    let source_url = client.endpoint().as_str().to_owned();
    let mut encoder = EventEncoder::new(source_url, about.api_version.clone(), encoding)
        .with_overrides(overrides);
    if let Some(ns) = args.runtime.namespace.as_deref().filter(|n| !n.is_empty()) {
        encoder = encoder.with_namespace(ns);
    }
    let target = match target {
        TargetConfig::Stdout => Target::Stdout,
        TargetConfig::Http(cfg) => Target::Http(
            Sink::new(*cfg, metrics.clone())
                .map_err(|e| ConfigError::new("K_CA_CERTS", e.to_string()))?,
        ),
    };
    let source = VsphereSource::new(
        client.clone(),
        position,
        VsphereSourceConfig {
            page_size: args.page_size,
            event_types: event_types(args.event_types.as_deref()),
            ..VsphereSourceConfig::default()
        },
        metrics.clone(),
    );
    crate::pipeline::run(
        source,
        VsphereEncoder::new(encoder),
        target,
        store,
        stored,
        args.delivery.pipeline(checkpoint_config.period),
        metrics,
        shutdown,
    )
    .await;
    info!("checkpoint saved; logging out");
    let logout = Duration::from_secs(adapter_env::default::SHUTDOWN_SOURCE_SECONDS);
    let _ = tokio::time::timeout(logout, client.logout()).await;
    serve_stop.cancel();
    Ok(())
}

/// `VSPHERE_EVENT_TYPES`: comma-separated, blanks ignored.
fn event_types(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn open_store(args: &VsphereArgs) -> Result<Arc<dyn CheckpointStore>, AdapterError> {
    if let Some(path) = &args.checkpoint_file {
        return Ok(Arc::new(FileStore::new(path)));
    }
    let (Some(name), Some(namespace)) = (&args.checkpoint_configmap, &args.runtime.namespace)
    else {
        return Err(ConfigError::new("VSPHERE_KVSTORE_CONFIGMAP", "not set").into());
    };
    let client = kube::Client::try_default()
        .await
        .map_err(|e| AdapterError::Kubernetes(e.to_string()))?;
    let store = checkpoint::ConfigMapStore::open(client, namespace, name).await?;
    Ok(Arc::new(store))
}

/// How the adapter checks vCenter's certificate.
struct VcenterTls {
    insecure: bool,
    ca: Option<VcenterCa>,
    request_timeout: Duration,
}

async fn connect(
    url: &str,
    tls: &VcenterTls,
    credentials: vsphere_client::Credentials,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Result<Option<Client>, ConfigError> {
    let mut attempt = 0u32;
    let backoff = Backoff::reconnect(Duration::from_secs(60));
    loop {
        attempt += 1;
        let mut builder = Client::builder(url)
            .insecure(tls.insecure)
            .request_timeout(tls.request_timeout)
            .credentials(credentials.clone());
        if let Some(ca) = &tls.ca {
            builder = builder.ca_bundle_pem(ca.pem.clone());
        }
        match builder.connect().await {
            Ok(client) => {
                metrics.set_source_up(true);
                info!(vcenter = %client.endpoint(), api_version = %client.service_content().about.api_version, "connected to vCenter");
                return Ok(Some(client));
            }
            // Retrying cannot fix a client setting (the CA certificates).
            Err(vsphere_client::Error::Config { reason }) => {
                let setting = tls.ca.as_ref().map_or("VC_INSECURE", |ca| ca.settings);
                return Err(ConfigError::new(setting, reason));
            }
            Err(e) => {
                metrics.set_source_up(false);
                let wait = backoff.delay(attempt, None, jitter());
                if e.is_bad_credentials() {
                    error!(error = %e, retry_in_s = wait.as_secs_f64(), "vCenter refused the credentials");
                } else {
                    warn!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot connect to vCenter");
                }
                if crate::sleep_or_cancel(wait, shutdown).await {
                    return Ok(None);
                }
            }
        }
    }
}
