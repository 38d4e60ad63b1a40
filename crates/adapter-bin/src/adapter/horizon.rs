//! The Horizon adapter: what differs from the vSphere one. It logs in to Horizon (retrying
//! while it is unreachable), resumes after the checkpoint's millisecond and ids, or starts after
//! the newest audit event, reads with the [Horizon source](crate::source::horizon) and encodes
//! with the [Horizon encoder](crate::encode::horizon); [`run`](super::run) does the rest.

use std::sync::Arc;
use std::time::Duration;

use checkpoint::{HorizonCheckpoint, StoreError};
use horizon_client::{Client, Cursor};
use tracing::{debug, info, warn};

use super::{Adapter, Attempt, Context, Started, reconnect_backoff, retry_until_connected};
use crate::backoff::jitter;
use crate::encode::horizon::HorizonEncoder;
use crate::error::AdapterError;
use crate::settings::horizon::{HorizonArgs, HorizonSettings};
use crate::settings::{Common, ConfigError};
use crate::source::horizon::{HorizonPosition, HorizonSource, HorizonSourceConfig};

/// The Horizon adapter, its settings checked.
#[derive(Debug)]
pub struct Horizon {
    settings: HorizonSettings,
}

impl Adapter for Horizon {
    type Args = HorizonArgs;
    type Source = HorizonSource;
    type Encoder = HorizonEncoder;
    type Session = Arc<Client>;

    const KIND: &'static str = "horizon";
    const COMPONENT: &'static str = "horizon-source-adapter";

    fn prepare(args: HorizonArgs) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: HorizonSettings::from_args(args)?,
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
        let stored =
            match cx.store.load_json().await? {
                None => None,
                Some(json) => Some(HorizonCheckpoint::from_json(&json).map_err(|source| {
                    StoreError::Invalid {
                        location: cx.store.location(),
                        source,
                    }
                })?),
            };
        let mut builder = Client::builder(&s.url)
            .map_err(|e| ConfigError::new("HORIZON_URL", e.to_string()))?
            .insecure(s.args.horizon_insecure);
        if let Some(pem) = s
            .args
            .horizon_ca_certs
            .clone()
            .filter(|c| !c.trim().is_empty())
        {
            builder = builder.ca_bundle_pem(pem);
        }
        let client = Arc::new(
            builder
                .timeout(Duration::from_secs(s.args.request_timeout.max(1)))
                .access_token_lifetime(Duration::from_secs(s.args.token_lifetime.max(1)))
                // What the adapter's memory limit holds with decoding (the vSphere default).
                .max_response_bytes(crate::settings::vsphere::DEFAULT_MAX_RESPONSE_BYTES)
                .credentials(s.credentials)
                .build()
                .map_err(|e| {
                    let setting = match e {
                        horizon_client::Error::CaBundle(_) => adapter_env::name::HORIZON_CA_CERTS,
                        _ => "HORIZON_URL",
                    };
                    ConfigError::new(setting, e.to_string())
                })?,
        );
        let resume = stored
            .as_ref()
            .and_then(|cp| HorizonPosition::from_checkpoint(&s.url, cp));
        let cursor = match &resume {
            Some(p) => {
                info!(time = p.cursor.time, ids = ?p.cursor.ids, "found existing checkpoint");
                if !login(&client, cx).await {
                    return Ok(None);
                }
                p.cursor.clone()
            }
            None => {
                info!("no valid checkpoint found; starting after the newest audit event");
                match after_newest(&client, s.replay, cx).await {
                    Some(cursor) => cursor,
                    None => return Ok(None),
                }
            }
        };
        info!(time = cursor.time, "setting begin of event stream");

        let encoder =
            HorizonEncoder::new(&s.url, &s.common.overrides, s.common.namespace.as_deref());
        let begin = cursor.clone();
        let source = HorizonSource::new(
            client.clone(),
            &s.url,
            cursor,
            HorizonSourceConfig {
                poll_interval: s.poll_interval,
                page_size: s.args.page_size,
                filter: s.filter.clone(),
            },
            cx.metrics.clone(),
        );
        cx.metrics
            .go
            .identify(crate::telemetry::go_names::Identity {
                component: "horizonsource",
                resource_group: "horizonsources.sources.tanzu.vmware.com",
                namespace: s.common.namespace.clone().unwrap_or_default(),
                name: s.args.name.clone().unwrap_or_default(),
                event_source: s.url.clone(),
            });
        // A first run records where it begins (see Started::resume_unsaved).
        let resume_unsaved = resume.is_none();
        let resume = resume.or_else(|| {
            Some(HorizonPosition {
                url: s.url.as_str().into(),
                cursor: begin,
            })
        });
        Ok(Some(Started {
            source,
            encoder,
            resume,
            resume_unsaved,
            session: client,
        }))
    }

    async fn logout(client: Arc<Client>) {
        if let Err(e) = client.logout().await {
            debug!(error = %e, "logout");
        }
    }

    #[cfg(feature = "simulate")]
    const SIMULATE_HELP: &'static str = "Run against a built-in Horizon simulator generating \
        audit events (no Horizon needed); prints CloudEvents to stdout unless --sink is given, \
        and keeps its checkpoint in ./horizon-adapter-checkpoint.json unless --checkpoint-file \
        is given";
    #[cfg(feature = "simulate")]
    const SIMULATE_RATE_HELP: &'static str =
        "Audit events per second the simulator generates (with --simulate)";
    #[cfg(feature = "simulate")]
    type Simulator = horizon_sim::Simulator;

    #[cfg(feature = "simulate")]
    async fn simulate(
        args: &mut HorizonArgs,
        rate: f64,
    ) -> Result<horizon_sim::Simulator, Box<dyn std::error::Error>> {
        let sim = horizon_sim::Simulator::builder().rate(rate).start().await?;
        args.horizon_url = Some(sim.url());
        args.horizon_domain = Some(sim.domain());
        args.horizon_username = Some(sim.username());
        args.horizon_password = Some(sim.password());
        args.horizon_secret_path = Some("/nonexistent".into());
        if args.checkpoint_file.is_none() && args.checkpoint_configmap.is_none() {
            args.checkpoint_file = Some("horizon-adapter-checkpoint.json".into());
        }
        args.runtime.metrics_on_loopback_unless_set();
        eprintln!(
            "horizon-adapter: simulating a Horizon server at {} ({rate} events/s)",
            sim.url()
        );
        Ok(sim)
    }
}

/// Log in, retrying until it works; `false` when shutdown came first.
async fn login(client: &Client, cx: &Context) -> bool {
    let attempt = move || async move {
        match client.login().await {
            Ok(()) => Attempt::Connected(()),
            Err(e) => Attempt::Failed {
                bad_credentials: e.is_bad_credentials(),
                error: e.to_string(),
            },
        }
    };
    match retry_until_connected("Horizon", cx, attempt).await {
        Ok(Some(())) => {
            info!(horizon = %client.base_url(), "connected to Horizon");
            true
        }
        // A login has no fatal outcome.
        Ok(None) | Err(_) => false,
    }
}

/// The cursor after the newest audit event (less `replay`): logs in, and again after each
/// failed read; `None` when shutdown came first.
async fn after_newest(client: &Client, replay: Duration, cx: &Context) -> Option<Cursor> {
    let mut failures = 0;
    loop {
        if !login(client, cx).await {
            return None;
        }
        match Cursor::after_newest(client, replay).await {
            Ok(cursor) => return Some(cursor),
            Err(e) => {
                failures += 1;
                let wait = reconnect_backoff().delay(failures, None, jitter());
                warn!(error = %e, retry_in_s = wait.as_secs_f64(), "cannot read Horizon audit events; retrying");
                if crate::runtime::sleep_or_cancel(wait, &cx.shutdown).await {
                    return None;
                }
            }
        }
    }
}
