//! `horizon-adapter`: every VMware Horizon audit event as a CloudEvent to a sink. See `--help`.

/// See [`adapter::memory`].
#[global_allocator]
static ALLOCATOR: adapter::memory::Allocator = adapter::memory::Allocator;

use clap::Parser;
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
    #[arg(long)]
    simulate: bool,

    /// Audit events per second the simulator generates (with --simulate).
    #[arg(long, default_value_t = 2.0)]
    simulate_rate: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    horizon_client::install_crypto_provider();
    let Cli {
        mut args,
        simulate,
        simulate_rate,
    } = Cli::parse();
    adapter::logging::init(&args.runtime.logging_config, "horizon-source-adapter");

    let shutdown = CancellationToken::new();
    adapter::shutdown_on_signals(shutdown.clone());

    let _sim = if simulate {
        match horizon_sim::Simulator::builder()
            .rate(simulate_rate)
            .start()
            .await
        {
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
                    "horizon-adapter: simulating a Horizon server at {} ({simulate_rate} events/s)",
                    sim.url()
                );
                Some(sim)
            }
            Err(e) => {
                eprintln!("horizon-adapter: cannot start the simulator: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };

    let prepared = match adapter::horizon::prepare(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("horizon-adapter: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = adapter::horizon::run(prepared, shutdown).await {
        eprintln!("horizon-adapter: {e}");
        std::process::exit(1);
    }
}
