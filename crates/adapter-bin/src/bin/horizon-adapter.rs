//! `horizon-adapter`: every VMware Horizon audit event as a CloudEvent to a sink. See `--help`.

/// See [`adapter::memory`].
#[global_allocator]
static ALLOCATOR: adapter::memory::Allocator = adapter::memory::Allocator;

use clap::Parser;

/// The logger name (and `config-logging`'s `loglevel.<component>`), as the Go adapter's.
const COMPONENT: &str = "horizon-source-adapter";
use tokio_util::sync::CancellationToken;

use adapter::horizon_config::HorizonArgs;

// The settings plus extra flags of the binary (not part of the Go environment contract).
#[derive(Parser, Debug)]
#[command(
    name = "horizon-adapter",
    version,
    about = "Delivers every VMware Horizon audit event as a CloudEvent to a sink, with checkpoints."
)]
struct Cli {
    #[command(flatten)]
    args: HorizonArgs,

    /// Run against a built-in Horizon simulator generating audit events (no Horizon needed);
    /// prints CloudEvents to stdout unless --sink is given, and keeps its checkpoint in
    /// ./horizon-adapter-checkpoint.json unless --checkpoint-file is given.
    #[cfg(feature = "simulate")]
    #[arg(long)]
    simulate: bool,

    /// Audit events per second the simulator generates (with --simulate).
    #[cfg(feature = "simulate")]
    #[arg(long, default_value_t = 2.0)]
    simulate_rate: f64,

    /// Check the settings, print what the adapter would use as JSON (no credentials), and exit
    /// without connecting anywhere.
    #[arg(long)]
    check_settings: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    vsphere_client::install_crypto_provider();
    #[allow(unused_mut)]
    let Cli {
        mut args,
        #[cfg(feature = "simulate")]
        simulate,
        #[cfg(feature = "simulate")]
        simulate_rate,
        check_settings,
    } = Cli::parse();
    adapter::logging::init(&args.runtime.logging_config, COMPONENT);

    let shutdown = CancellationToken::new();
    adapter::shutdown_on_signals(shutdown.clone());

    #[cfg(feature = "simulate")]
    let _sim = if simulate {
        Some(simulator(&mut args, simulate_rate).await)
    } else {
        None
    };

    let prepared = match adapter::horizon::prepare(args) {
        Ok(p) => p,
        Err(e) => {
            adapter::logging::fatal(COMPONENT, "invalid settings", &e);
            std::process::exit(2);
        }
    };
    if check_settings {
        match prepared.summary() {
            Ok(summary) => {
                println!("{summary:#}");
                return;
            }
            Err(e) => {
                adapter::logging::fatal(COMPONENT, "invalid settings", &e);
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = adapter::horizon::run(prepared, shutdown).await {
        adapter::logging::fatal(COMPONENT, "stopped", &e);
        std::process::exit(1);
    }
}

/// Start the built-in simulator and point the settings at it.
#[cfg(feature = "simulate")]
async fn simulator(args: &mut HorizonArgs, rate: f64) -> horizon_sim::Simulator {
    match horizon_sim::Simulator::builder().rate(rate).start().await {
        Ok(sim) => {
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
            sim
        }
        Err(e) => {
            adapter::logging::fatal(COMPONENT, "cannot start the simulator", &e);
            std::process::exit(1);
        }
    }
}
