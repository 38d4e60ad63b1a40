//! `sources-controller`: reconciles VSphereSource and HorizonSource.
//!
//! Environment: `VSPHERE_ADAPTER`, `HORIZON_SOURCE_RA_IMAGE` and
//! `SYSTEM_NAMESPACE` are required; see `sources_controller::Settings` and
//! `sources_controller::webhook::WebhookSettings` (the admission webhooks,
//! served by every replica on `WEBHOOK_PORT`, default 8443).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sources_controller::leader::LeaderElector;
use sources_controller::{LEASE_RETRY, Metrics, Settings, run_controllers, serve_http};

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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // One rustls provider (ring), installed before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "bad settings");
            return std::process::ExitCode::from(2);
        }
    };
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no Kubernetes client configuration");
            return std::process::ExitCode::from(2);
        }
    };
    let metrics = Arc::new(Metrics::default());
    let addr = SocketAddr::from(([0, 0, 0, 0], settings.metrics_port));
    let http = tokio::spawn(serve_http(addr, metrics.clone(), shutdown_signal()));
    // Every replica serves the admission webhooks.
    let webhook_settings = match sources_controller::webhook::WebhookSettings::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "bad webhook settings");
            return std::process::ExitCode::from(2);
        }
    };
    let webhooks = tokio::spawn(sources_controller::webhook::run_webhooks(
        client.clone(),
        webhook_settings,
        settings.config_logging_name.clone(),
        None,
        shutdown_signal(),
    ));
    let webhooks = tokio::spawn(async move {
        match webhooks.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the webhook server stopped"),
            Err(e) => tracing::error!(error = %e, "the webhook server failed"),
        }
    });

    let elector = LeaderElector::new(
        client.clone(),
        &settings.system_namespace,
        &settings.lease_name,
        &settings.identity,
        settings.lease_duration_seconds,
    );
    let renew = Duration::from_secs(settings.lease_renew_seconds);
    tokio::select! {
        _ = elector.acquire(LEASE_RETRY) => {}
        _ = shutdown_signal() => return std::process::ExitCode::SUCCESS,
    }
    metrics.set_leader(true);
    let bindings = tokio::spawn(sources_controller::run_binding_controller(
        client.clone(),
        settings.watch_namespace.clone(),
        Duration::from_secs(settings.resync_seconds),
        shutdown_signal(),
    ));
    let code = tokio::select! {
        res = run_controllers(client, settings, metrics.clone(), shutdown_signal()) => match res {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "controller failed");
                std::process::ExitCode::FAILURE
            }
        },
        lost = elector.keep(renew) => {
            // Knative's behaviour: a replica that lost its lease exits and restarts.
            tracing::error!(error = %lost, "leadership lost; exiting");
            std::process::ExitCode::FAILURE
        }
    };
    metrics.set_leader(false);
    elector.release().await;
    http.abort();
    bindings.abort();
    webhooks.abort();
    code
}
