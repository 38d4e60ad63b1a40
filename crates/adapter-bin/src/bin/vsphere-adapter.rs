//! `vsphere-adapter`: every vCenter event as a CloudEvent to a sink. See `--help`.

/// See [`adapter::memory`].
#[global_allocator]
static ALLOCATOR: adapter::memory::Allocator = adapter::memory::Allocator;

use clap::Parser;

/// The logger name (and `config-logging`'s `loglevel.<component>`), as the Go adapter's.
const COMPONENT: &str = "vsphere-source-adapter";
use tokio_util::sync::CancellationToken;

use adapter::config::VsphereArgs;

/// Extra flags of the binary (not part of the Go environment contract).
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: VsphereArgs,

    /// Run against a built-in vCenter simulator generating events (no vCenter needed); prints
    /// CloudEvents to stdout unless --sink is given, and keeps its checkpoint in
    /// ./vsphere-adapter-checkpoint.json unless --checkpoint-file is given.
    #[cfg(feature = "simulate")]
    #[arg(long)]
    simulate: bool,

    /// Events per second the simulator generates (with --simulate).
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

    // Keep the simulator alive as long as the adapter runs.
    #[cfg(feature = "simulate")]
    let _sim = if simulate {
        Some(simulator(&mut args, simulate_rate).await)
    } else {
        None
    };

    let prepared = match adapter::vsphere::prepare(args) {
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
    if let Err(e) = adapter::vsphere::run(prepared, shutdown).await {
        adapter::logging::fatal(COMPONENT, "stopped", &e);
        std::process::exit(1);
    }
}

/// Start the built-in simulator and point the settings at it.
#[cfg(feature = "simulate")]
async fn simulator(args: &mut VsphereArgs, rate: f64) -> vsphere_sim::Simulator {
    match vsphere_sim::Simulator::builder().rate(rate).start().await {
        Ok(sim) => {
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
            sim
        }
        Err(e) => {
            adapter::logging::fatal(COMPONENT, "cannot start the simulator", &e);
            std::process::exit(1);
        }
    }
}
