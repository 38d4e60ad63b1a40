//! The vSphere adapter's settings: [`VsphereArgs`] (the Go controller's environment for a
//! VSphereSource Deployment, and flags), validated into [`VsphereSettings`].

use std::path::PathBuf;
use std::time::Duration;

use checkpoint::CheckpointConfig;
use clap::Parser;
use cloudevent_encode::PayloadEncoding;
use vsphere_client::events::{EventSelection, Users};

use super::{CheckpointSettings, Common, ConfigError, StoreLocation};

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
    pub runtime: super::RuntimeArgs,

    /// Where events go.
    #[command(flatten)]
    pub delivery: super::SinkArgs,

    /// vCenter URL; `https://` and `/sdk` are added when missing.
    #[arg(long = "vc-url", env = adapter_env::name::VC_URL)]
    pub vc_url: Option<String>,

    /// Skip vCenter certificate verification (true/false).
    #[arg(long = "vc-insecure", env = adapter_env::name::VC_INSECURE, default_value = "false", value_parser = super::parse_go_bool)]
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

    /// Largest vCenter answer read, in bytes (65536 to 1073741824). An event whose answer alone
    /// is larger is delivered as far as its first 64 KiB can be read, and counted as
    /// undecodable. Mind the adapter's memory limit: reading and decoding a page takes about
    /// three times its answer's size.
    #[arg(
        long = "vc-max-response-bytes",
        env = "VC_MAX_RESPONSE_BYTES",
        default_value_t = DEFAULT_MAX_RESPONSE_BYTES
    )]
    pub vc_max_response_bytes: usize,

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

    /// Only events of these categories, of this inventory object or of these users: the
    /// VSphereSource's `spec.filter` as JSON, e.g.
    /// `{"categories":["warning","error"],"entity":{"path":"/DC0/vm","recursion":"all"},
    /// "users":{"names":["VSPHERE.LOCAL\\alice"],"includeSystem":false}}`.
    #[arg(long = "event-filter", env = adapter_env::name::VSPHERE_EVENT_FILTER)]
    pub event_filter: Option<String>,

    /// Events per ReadNextEvents call (1 to 1000).
    #[arg(long = "page-size", env = "VSPHERE_PAGE_SIZE", default_value_t = 100)]
    pub page_size: i32,

    /// Seconds vCenter's clock may step back and lose nothing (0 to 86400): a collector created
    /// again (after a lost session or answer) begins this long before the last event read and
    /// skips by key what was read. It costs re-reading that much history then.
    #[arg(
        long = "clock-step-seconds",
        env = "VSPHERE_CLOCK_STEP_SECONDS",
        default_value_t = 60
    )]
    pub clock_step_seconds: u64,
}

/// `VC_MAX_RESPONSE_BYTES` by default: 24 MiB (also the Horizon adapter's limit). A page of 100
/// events is far below it (an event's XML is a few KiB; Horizon's page of 1,000 about 1 MiB).
/// Reading, decoding and sending one event takes about 3.3 times its answer's size
/// (benches/adapter-large-answer.sh: an event of 30 MiB peaked at 105 MiB RSS in the amd64
/// image's adapter), so the largest answer read stays well inside the adapter Deployment's
/// 128 MiB memory limit (about 85 MiB); larger ones take the poison path instead of an
/// out-of-memory kill and a crash loop.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 24 << 20;
/// The smallest `VC_MAX_RESPONSE_BYTES`: a vCenter login answer must fit.
const MIN_MAX_RESPONSE_BYTES: usize = 64 << 10;
/// The largest `VC_MAX_RESPONSE_BYTES`.
const MAX_MAX_RESPONSE_BYTES: usize = 1 << 30;

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

/// The vSphere adapter's settings, every one checked.
#[derive(Debug)]
pub struct VsphereSettings {
    /// The flags and environment they came from.
    pub args: VsphereArgs,
    /// What both adapters share.
    pub common: Common,
    /// `VC_URL`.
    pub vc_url: String,
    /// How vCenter's certificate is checked.
    pub tls: VcenterTls,
    /// The login.
    pub credentials: vsphere_client::Credentials,
    /// `VSPHERE_PAYLOAD_ENCODING`.
    pub encoding: PayloadEncoding,
    /// `VSPHERE_CHECKPOINT_CONFIG`: where to resume after a restart.
    pub checkpoint_config: CheckpointConfig,
    /// What is read: `VSPHERE_EVENT_TYPES` and `VSPHERE_EVENT_FILTER`.
    pub selection: EventSelection,
}

/// How the adapter checks vCenter's certificate.
#[derive(Debug)]
pub struct VcenterTls {
    /// `VC_INSECURE`: no check.
    pub insecure: bool,
    /// CA certificates to trust (`VC_CA_BUNDLE`, `VC_CA_CERTS`).
    pub ca: Option<VcenterCa>,
    /// Per request (`VC_REQUEST_TIMEOUT_SECONDS`).
    pub request_timeout: Duration,
    /// Largest answer read (`VC_MAX_RESPONSE_BYTES`).
    pub max_response_bytes: usize,
}

/// CA certificates to trust for vCenter, and the settings they came from.
#[derive(Debug)]
pub struct VcenterCa {
    /// PEM.
    pub pem: Vec<u8>,
    /// The settings, for messages.
    pub settings: &'static str,
}

impl VsphereSettings {
    /// Validate every setting (one message naming the first bad one).
    pub fn from_args(args: VsphereArgs) -> Result<Self, ConfigError> {
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
        args.delivery.overrides()?;
        let checkpoint_config = CheckpointConfig::from_json(&args.checkpoint_config)
            .map_err(|e| ConfigError::new("VSPHERE_CHECKPOINT_CONFIG", e.to_string()))?;
        if !(1..=1000).contains(&args.page_size) {
            return Err(ConfigError::new(
                "VSPHERE_PAGE_SIZE",
                format!("{} is not between 1 and 1000", args.page_size),
            ));
        }
        if args.clock_step_seconds > 86_400 {
            return Err(ConfigError::new(
                "VSPHERE_CLOCK_STEP_SECONDS",
                format!(
                    "{} is more than a day (86400); a collector created again would re-read that much history",
                    args.clock_step_seconds
                ),
            ));
        }
        if !(MIN_MAX_RESPONSE_BYTES..=MAX_MAX_RESPONSE_BYTES).contains(&args.vc_max_response_bytes)
        {
            return Err(ConfigError::new(
                "VC_MAX_RESPONSE_BYTES",
                format!(
                    "{} is not between {MIN_MAX_RESPONSE_BYTES} and {MAX_MAX_RESPONSE_BYTES} bytes",
                    args.vc_max_response_bytes
                ),
            ));
        }
        let sink = args.delivery.sink_config()?;
        let location = store_location(&args)?;
        let ca = vcenter_ca(&args)?;
        let credentials = credentials(&args)?;
        let metrics_address = super::metrics_address_from_env(&args.runtime)?;
        let common = Common::new(
            &args.runtime,
            &args.delivery,
            sink,
            CheckpointSettings {
                location,
                period: checkpoint_config.period,
                max_age: Some(checkpoint_config.max_age),
            },
            metrics_address,
        )?;
        Ok(Self {
            tls: VcenterTls {
                insecure: args.vc_insecure,
                ca,
                request_timeout: Duration::from_secs(args.vc_request_timeout.max(1)),
                max_response_bytes: args.vc_max_response_bytes,
            },
            selection: selection(
                event_types(args.event_types.as_deref()),
                args.event_filter.as_deref(),
            )?,
            args,
            common,
            vc_url,
            credentials,
            encoding,
            checkpoint_config,
        })
    }

    /// What the adapter will use, as JSON (`--check-settings`; no credentials).
    pub fn summary(&self) -> Result<serde_json::Value, ConfigError> {
        let a = &self.args;
        Ok(serde_json::json!({
            "vcenter": self.vc_url,
            "insecure": a.vc_insecure,
            "caCerts": self.tls.ca.as_ref().map(|c| c.settings),
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
            "eventTypes": self.selection.event_types,
            "filter": {
                "categories": self.selection.categories.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "entity": self.selection.entity.as_ref().map(ToString::to_string),
                "recursion": self.selection.recursion.to_string(),
                "users": self.selection.users.as_ref().map(|u| serde_json::json!({"names": u.names, "includeSystem": u.include_system})),
            },
            "pageSize": a.page_size,
            "maxResponseBytes": a.vc_max_response_bytes,
            "clockStepSeconds": a.clock_step_seconds,
            "metricsAddress": self.common.metrics_address.to_string(),
            "delivery": a.delivery.summary()?,
            "tracing": self.common.tracing.summary(),
        }))
    }
}

/// The checkpoint file, else the ConfigMap `VSPHERE_KVSTORE_CONFIGMAP` in `NAMESPACE`.
fn store_location(args: &VsphereArgs) -> Result<StoreLocation, ConfigError> {
    if let Some(path) = &args.checkpoint_file {
        return Ok(StoreLocation::File(path.clone()));
    }
    let name = args
        .checkpoint_configmap
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "VSPHERE_KVSTORE_CONFIGMAP",
                "not set; name the checkpoint ConfigMap, or use --checkpoint-file for a standalone run",
            )
        })?;
    let namespace = args
        .runtime
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "NAMESPACE",
                "not set; the namespace of the checkpoint ConfigMap",
            )
        })?;
    Ok(StoreLocation::ConfigMap {
        namespace,
        name,
        memory_if_forbidden: false,
    })
}

/// `VSPHERE_EVENT_FILTER` as the controller renders it (the VSphereSource's `spec.filter`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FilterJson {
    #[serde(default)]
    categories: Vec<String>,
    entity: Option<EntityJson>,
    users: Option<UsersJson>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityJson {
    path: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<RefJson>,
    recursion: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RefJson {
    #[serde(rename = "type")]
    type_: String,
    value: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UsersJson {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    include_system: bool,
}

/// What the adapter reads: `types` and the filter `json` (`VSPHERE_EVENT_FILTER`).
fn selection(types: Vec<String>, json: Option<&str>) -> Result<EventSelection, ConfigError> {
    let setting = adapter_env::name::VSPHERE_EVENT_FILTER;
    let mut selection = EventSelection {
        event_types: types,
        ..EventSelection::default()
    };
    let Some(json) = json.map(str::trim).filter(|j| !j.is_empty()) else {
        return Ok(selection);
    };
    let f: FilterJson = serde_json::from_str(json)
        .map_err(|e| ConfigError::new(setting, format!("not a VSphereSource filter: {e}")))?;
    let bad =
        |e: vsphere_client::events::FilterValueError| ConfigError::new(setting, e.to_string());
    for c in &f.categories {
        selection.categories.push(c.parse().map_err(bad)?);
    }
    if let Some(e) = f.entity {
        selection.entity = Some(match (e.path, e.reference) {
            (Some(p), None) => p.parse().map_err(bad)?,
            (None, Some(r)) => format!("{}:{}", r.type_, r.value).parse().map_err(bad)?,
            _ => {
                return Err(ConfigError::new(
                    setting,
                    "entity needs exactly one of path and ref",
                ));
            }
        });
        if let Some(r) = e.recursion {
            selection.recursion = r.parse().map_err(bad)?;
        }
    }
    if let Some(u) = f.users {
        if u.names.is_empty() && !u.include_system {
            return Err(ConfigError::new(
                setting,
                "users selects no event: add names, or includeSystem: true",
            ));
        }
        selection.users = Some(Users {
            names: u.names,
            include_system: u.include_system,
        });
    }
    Ok(selection)
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
