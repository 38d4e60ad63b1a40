//! `sources-controller`: reconciles VSphereSource, HorizonSource and
//! VSphereBinding, and serves their admission webhooks on every replica.
//! `sources-controller --help` lists its environment.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use sources_controller::config::Cli;
use sources_controller::leader::LeaderElector;
use sources_controller::{LEASE_RETRY, Metrics, logging, run_controllers, serve_http, webhook};

/// mimalloc (as the adapters; no transparent huge pages): with glibc's
/// malloc, the memory of a burst of reconciles stayed resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            logging::fatal("bad settings", &e.render());
            return ExitCode::from(2);
        }
    };
    let levels = logging::init(cli.pod_name.clone().filter(|p| !p.is_empty()));
    // One rustls provider (ring), installed before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            logging::fatal("cannot start the runtime", &e);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli, levels))
}

async fn run(cli: Cli, levels: logging::LogLevels) -> ExitCode {
    let settings = cli.settings();
    let renew_deadline = cli.lease_renew_deadline_seconds;
    let webhook_settings = cli.webhook_settings();
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            logging::fatal("no Kubernetes client configuration", &e);
            return ExitCode::from(2);
        }
    };
    let config_logging = tokio::spawn(logging::follow_config_logging(
        client.clone(),
        settings.system_namespace.clone(),
        settings.config_logging_name.clone(),
        levels,
    ));
    let metrics = Arc::new(Metrics::default());
    let addr = SocketAddr::from(([0, 0, 0, 0], settings.metrics_port));
    let http = tokio::spawn(serve_http(addr, metrics.clone(), shutdown_signal()));
    // Every replica serves the admission webhooks; readiness follows them.
    let caches = webhook::WebhookCaches::start(&client).await;
    let mut webhooks = tokio::spawn(webhook::run_webhooks(
        client.clone(),
        webhook_settings.clone(),
        caches.clone(),
        settings.config_logging_name.clone(),
        metrics.clone(),
        None,
        shutdown_signal(),
    ));
    let webhook_stopped =
        |res: Result<Result<(), webhook::WebhookError>, tokio::task::JoinError>| {
            match res {
                Ok(Ok(())) => tracing::error!("the webhook server stopped; exiting"),
                Ok(Err(e)) => tracing::error!(error = %e, "the webhook server failed; exiting"),
                Err(e) => tracing::error!(error = %e, "the webhook server failed; exiting"),
            }
            ExitCode::FAILURE
        };

    let mut elector = LeaderElector::new(
        client.clone(),
        &settings.system_namespace,
        &settings.lease_name,
        &settings.identity,
        settings.lease_duration_seconds,
    );
    if let Some(deadline) = renew_deadline {
        elector = elector.with_renew_deadline(Duration::from_secs(deadline));
    }
    let renew = Duration::from_secs(settings.lease_renew_seconds);
    tokio::select! {
        _ = elector.acquire(LEASE_RETRY) => {}
        res = &mut webhooks => return webhook_stopped(res),
        _ = shutdown_signal() => {
            // The webhook server drains, then stops.
            let _ = webhooks.await;
            return ExitCode::SUCCESS;
        }
    }
    // Leadership gates only the writers: reconcilers, certificates and
    // webhook configurations.
    metrics.set_leader(true);
    let bindings = tokio::spawn(sources_controller::run_binding_controller(
        client.clone(),
        settings.watch_namespace.clone(),
        Duration::from_secs(settings.resync_seconds),
        webhook_settings.selection_mode,
        shutdown_signal(),
    ));
    let manager = tokio::spawn(webhook::manage_webhooks(
        client.clone(),
        webhook_settings,
        caches,
        shutdown_signal(),
    ));
    let code = tokio::select! {
        res = run_controllers(client, settings, metrics.clone(), shutdown_signal()) => match res {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "controller failed");
                ExitCode::FAILURE
            }
        },
        lost = elector.keep(renew) => {
            // Knative's behaviour: a replica that lost its lease exits and restarts.
            tracing::error!(error = %lost, "leadership lost; exiting");
            ExitCode::FAILURE
        }
        res = &mut webhooks => webhook_stopped(res),
    };
    metrics.set_leader(false);
    manager.abort();
    bindings.abort();
    // The writers have stopped (their futures are dropped); a leader cut
    // off from the API server does not wait for it to answer.
    elector.release(Duration::from_secs(2)).await;
    if code == ExitCode::SUCCESS {
        // Shutting down: let the webhook server drain.
        let _ = webhooks.await;
    } else {
        webhooks.abort();
    }
    http.abort();
    config_logging.abort();
    code
}
