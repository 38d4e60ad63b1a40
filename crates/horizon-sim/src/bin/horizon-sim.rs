//! `horizon-sim`: a Horizon REST API simulator generating audit events. See `--help`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Serve a simulated Horizon REST API (login, refresh, logout, audit events).
#[derive(Parser, Debug)]
#[command(name = "horizon-sim", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Audit events generated per second.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Events that share one millisecond in each generated batch.
    #[arg(long, default_value_t = 1)]
    same_millisecond: usize,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 1800)]
    access_token_seconds: u64,
    /// Accepted domain.
    #[arg(long, default_value = "corp")]
    domain: String,
    /// Accepted user name.
    #[arg(long, default_value = "administrator")]
    username: String,
    /// Accepted password.
    #[arg(long, default_value = "VMware1!")]
    password: String,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let sim = match horizon_sim::Simulator::builder()
        .listen(cli.listen)
        .credentials(&cli.domain, &cli.username, &cli.password)
        .rate(cli.rate)
        .same_millisecond(cli.same_millisecond)
        .access_token_lifetime(Duration::from_secs(cli.access_token_seconds))
        .start()
        .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("horizon-sim: cannot listen on {}: {e}", cli.listen);
            std::process::exit(1);
        }
    };
    println!(
        "horizon-sim: Horizon REST API at {} (domain {}, user {}), {} events/s",
        sim.url(),
        cli.domain,
        cli.username,
        cli.rate
    );
    let _ = tokio::signal::ctrl_c().await;
}
