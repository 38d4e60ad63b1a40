//! The one entry point of both adapter binaries, [`main`]: the command line (the adapter's
//! settings, then `--simulate` and `--check-settings`), Knative's logging, shutdown on SIGTERM,
//! and the exit code (2 for invalid settings, 1 when the adapter stopped with an error).
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: adapter::runtime::memory::Allocator = adapter::runtime::memory::Allocator;
//!
//! fn main() {
//!     adapter::cli::main::<adapter::adapter::vsphere::Vsphere>();
//! }
//! ```

use clap::{Arg, ArgAction, ArgMatches, CommandFactory as _, FromArgMatches as _};
use tokio_util::sync::CancellationToken;

use crate::adapter::Adapter;
use crate::settings::SourceArgs as _;

const CHECK_SETTINGS: &str = "check_settings";
#[cfg(feature = "simulate")]
const SIMULATE: &str = "simulate";
#[cfg(feature = "simulate")]
const SIMULATE_RATE: &str = "simulate_rate";

/// The command line of `A`'s binary: its settings, then the flags of the binary alone (not part
/// of the Go environment contract).
pub fn command<A: Adapter>() -> clap::Command {
    let command = A::Args::command();
    #[cfg(feature = "simulate")]
    let command = command
        .arg(
            Arg::new(SIMULATE)
                .long("simulate")
                .action(ArgAction::SetTrue)
                .help(A::SIMULATE_HELP),
        )
        .arg(
            Arg::new(SIMULATE_RATE)
                .long("simulate-rate")
                .value_name("SIMULATE_RATE")
                .value_parser(clap::value_parser!(f64))
                .default_value("2")
                .help(A::SIMULATE_RATE_HELP),
        );
    command.arg(
        Arg::new(CHECK_SETTINGS)
            .long("check-settings")
            .action(ArgAction::SetTrue)
            .help(
                "Check the settings, print what the adapter would use as JSON (no credentials), \
                 and exit without connecting anywhere",
            ),
    )
}

/// Run `A`'s binary: parse the command line, then run the adapter until SIGTERM; exits the
/// process with 2 for invalid settings and 1 when the adapter stopped with an error.
pub fn main<A: Adapter>() {
    let matches = command::<A>().get_matches();
    let args = A::Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            crate::logging::fatal(A::COMPONENT, "cannot start the async runtime", &e);
            std::process::exit(1);
        }
    };
    if let Err(code) = runtime.block_on(run::<A>(args, &matches)) {
        std::process::exit(code);
    }
}

/// The binary's work once the command line is parsed; `Err` is the exit code.
async fn run<A: Adapter>(args: A::Args, matches: &ArgMatches) -> Result<(), i32> {
    vsphere_client::install_crypto_provider();
    crate::logging::init(&args.runtime().logging_config, A::COMPONENT);

    let shutdown = CancellationToken::new();
    crate::runtime::shutdown_on_signals(shutdown.clone());

    // Keep the simulator alive as long as the adapter runs.
    let (args, _simulator) = simulate::<A>(args, matches).await?;

    let adapter = A::prepare(args).map_err(|e| {
        crate::logging::fatal(A::COMPONENT, "invalid settings", &e);
        2
    })?;
    if matches.get_flag(CHECK_SETTINGS) {
        let summary = adapter.summary().map_err(|e| {
            crate::logging::fatal(A::COMPONENT, "invalid settings", &e);
            2
        })?;
        println!("{summary:#}");
        return Ok(());
    }
    crate::adapter::run(adapter, shutdown).await.map_err(|e| {
        crate::logging::fatal(A::COMPONENT, "stopped", &e);
        1
    })
}

/// With `--simulate`: start the simulator and point `args` at it.
#[cfg(feature = "simulate")]
async fn simulate<A: Adapter>(
    mut args: A::Args,
    matches: &ArgMatches,
) -> Result<(A::Args, Option<A::Simulator>), i32> {
    if !matches.get_flag(SIMULATE) {
        return Ok((args, None));
    }
    let rate = matches
        .get_one::<f64>(SIMULATE_RATE)
        .copied()
        .unwrap_or(2.0);
    match A::simulate(&mut args, rate).await {
        Ok(simulator) => Ok((args, Some(simulator))),
        Err(e) => {
            crate::logging::fatal(A::COMPONENT, "cannot start the simulator", &e);
            Err(1)
        }
    }
}

/// Without the simulators built in, there is no `--simulate`.
#[cfg(not(feature = "simulate"))]
async fn simulate<A: Adapter>(args: A::Args, _: &ArgMatches) -> Result<(A::Args, Option<()>), i32> {
    Ok((args, None))
}
