//! The vSphere adapter: what differs from the Horizon one. It logs in to vCenter (retrying
//! while it is unreachable), resumes from the checkpoint by vCenter's clock, reads with the
//! [vCenter source](crate::source::vsphere) and encodes with the
//! [vSphere encoder](crate::encode::vsphere); [`run`](super::run) does the rest.

use std::time::Duration;

use checkpoint::{Checkpoint, CheckpointConfig};
use cloudevent_encode::EventEncoder;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vsphere_client::Client;
use vsphere_client::events::Position;

use super::{Adapter, Attempt, Context, Started, retry_until_connected};
use crate::encode::vsphere::VsphereEncoder;
use crate::error::AdapterError;
use crate::settings::vsphere::{VcenterTls, VsphereArgs, VsphereSettings};
use crate::settings::{Common, ConfigError};
use crate::source::vsphere::{VsphereSource, VsphereSourceConfig};

/// The vSphere adapter, its settings checked.
#[derive(Debug)]
pub struct Vsphere {
    settings: VsphereSettings,
}

impl Adapter for Vsphere {
    type Args = VsphereArgs;
    type Source = VsphereSource;
    type Encoder = VsphereEncoder;
    type Session = Client;

    const KIND: &'static str = "vsphere";
    const COMPONENT: &'static str = "vsphere-source-adapter";

    fn prepare(args: VsphereArgs) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: VsphereSettings::from_args(args)?,
        })
    }

    fn common(&self) -> &Common {
        &self.settings.common
    }

    fn summary(&self) -> Result<serde_json::Value, ConfigError> {
        self.settings.summary()
    }

    async fn start(self, cx: &Context) -> Result<Option<Started<Self>>, AdapterError> {
        let s = self.settings;
        // An unreadable checkpoint stops start-up before anything else happens.
        let stored = cx.store.load().await?;
        let connect = || connect_once(&s.vc_url, &s.tls, &s.credentials);
        let Some(client) = retry_until_connected("vCenter", cx, connect).await? else {
            return Ok(None);
        };
        info!(vcenter = %client.endpoint(), api_version = %client.service_content().about.api_version, "connected to vCenter");
        let Some(position) =
            resume_position(&client, &s.checkpoint_config, stored.as_ref(), &cx.shutdown).await
        else {
            let _ = client.logout().await;
            return Ok(None);
        };

        let begin = position.time;
        let about = client.service_content().about.clone();
        let source_url = client.endpoint().as_str().to_owned();
        let mut encoder =
            EventEncoder::new(source_url.clone(), about.api_version.clone(), s.encoding)
                .with_overrides(s.common.overrides.clone());
        if let Some(ns) = &s.common.namespace {
            encoder = encoder.with_namespace(ns.as_str());
        }
        let source = VsphereSource::new(
            client.clone(),
            position,
            VsphereSourceConfig {
                page_size: s.args.page_size,
                selection: s.selection,
                clock_step: Duration::from_secs(s.args.clock_step_seconds),
                ..VsphereSourceConfig::default()
            },
            cx.metrics.clone(),
        );
        cx.metrics
            .go
            .identify(crate::telemetry::go_names::Identity {
                component: "vspheresource",
                resource_group: "vspheresources.sources.tanzu.vmware.com",
                namespace: s.common.namespace.clone().unwrap_or_default(),
                name: s.args.name.clone(),
                event_source: source_url.clone(),
            });
        // A first run records where it begins (see Started::resume_unsaved).
        let (resume, resume_unsaved) = match stored {
            Some(cp) if cp.last_event_key_timestamp.is_some() => (Some(cp), false),
            _ => (
                Some(Checkpoint {
                    vcenter: Some(source_url.clone()),
                    last_event_key: None,
                    last_event_type: None,
                    last_event_key_timestamp: Some(begin),
                    created_timestamp: Some(jiff::Timestamp::now()),
                }),
                true,
            ),
        };
        Ok(Some(Started {
            source,
            encoder: VsphereEncoder::new(encoder),
            resume,
            resume_unsaved,
            session: client,
        }))
    }

    async fn logout(client: Client) {
        let _ = client.logout().await;
    }

    #[cfg(feature = "simulate")]
    const SIMULATE_HELP: &'static str = "Run against a built-in vCenter simulator generating \
        events (no vCenter needed); prints CloudEvents to stdout unless --sink is given, and \
        keeps its checkpoint in ./vsphere-adapter-checkpoint.json unless --checkpoint-file is \
        given";
    #[cfg(feature = "simulate")]
    const SIMULATE_RATE_HELP: &'static str =
        "Events per second the simulator generates (with --simulate)";
    #[cfg(feature = "simulate")]
    type Simulator = vsphere_sim::Simulator;

    #[cfg(feature = "simulate")]
    async fn simulate(
        args: &mut VsphereArgs,
        rate: f64,
    ) -> Result<vsphere_sim::Simulator, Box<dyn std::error::Error>> {
        let sim = vsphere_sim::Simulator::builder().rate(rate).start().await?;
        args.vc_url = Some(sim.url().to_owned());
        args.vc_username = Some(sim.username().to_owned());
        args.vc_password = Some(sim.password().to_owned());
        args.vc_secret_path = std::path::PathBuf::from("/nonexistent");
        if args.checkpoint_file.is_none() && args.checkpoint_configmap.is_none() {
            args.checkpoint_file = Some("vsphere-adapter-checkpoint.json".into());
        }
        args.runtime.metrics_on_loopback_unless_set();
        eprintln!(
            "vsphere-adapter: simulating a vCenter at {} ({rate} events/s)",
            sim.url()
        );
        Ok(sim)
    }
}

/// One login to vCenter.
async fn connect_once(
    url: &str,
    tls: &VcenterTls,
    credentials: &vsphere_client::Credentials,
) -> Attempt<Client> {
    let mut builder = Client::builder(url)
        .insecure(tls.insecure)
        .request_timeout(tls.request_timeout)
        .max_response_bytes(tls.max_response_bytes)
        .credentials(credentials.clone());
    if let Some(ca) = &tls.ca {
        builder = builder.ca_bundle_pem(ca.pem.clone());
    }
    match builder.connect().await {
        Ok(client) => Attempt::Connected(client),
        // Retrying cannot fix a client setting (the CA certificates).
        Err(vsphere_client::Error::Config { reason }) => {
            let setting = tls.ca.as_ref().map_or("VC_INSECURE", |ca| ca.settings);
            Attempt::Fatal(ConfigError::new(setting, reason))
        }
        Err(e) => Attempt::Failed {
            bad_credentials: e.is_bad_credentials(),
            error: e.to_string(),
        },
    }
}

/// Where to begin, by vCenter's clock: after the checkpoint when it is recent enough (its
/// `maxAge`; saved within `maxAge`, or its event within `maxAge`), else `maxAge` ago. Retries reading the clock every 2 s; `None` when shutdown
/// came first.
async fn resume_position(
    client: &Client,
    config: &CheckpointConfig,
    stored: Option<&Checkpoint>,
    shutdown: &CancellationToken,
) -> Option<Position> {
    loop {
        match client.current_time().await {
            Ok(now) => {
                let (begin, lossy) = config.begin_after_away(now, jiff::Timestamp::now(), stored);
                match stored {
                    Some(cp) if cp.last_event_key_timestamp.is_some() => info!(
                        last_event_key = ?cp.last_event_key, last_event_time = ?cp.last_event_key_timestamp.map(|t| t.to_string()),
                        "found existing checkpoint"
                    ),
                    _ => info!("no valid checkpoint found"),
                }
                if lossy && stored.and_then(|c| c.last_event_key_timestamp).is_some() {
                    warn!(begin = %begin, "potential data loss: the checkpoint is older than maxAge; events before the begin time are not replayed");
                }
                let key = stored
                    .filter(|c| c.last_event_key_timestamp == Some(begin))
                    .and_then(|c| c.last_event_key);
                info!(begin = %begin, "setting begin of event stream");
                return Some(Position { time: begin, key });
            }
            Err(e) => {
                warn!(error = %e, "cannot read vCenter's clock; retrying");
                if crate::runtime::sleep_or_cancel(Duration::from_secs(2), shutdown).await {
                    return None;
                }
            }
        }
    }
}
