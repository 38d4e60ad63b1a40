//! `tail-events`: vCenter's events in your own Rust program, with `vsphere_client`'s
//! [`EventStream`]: it prints the events of the last `N` minutes of vCenter time (default 10),
//! then each new one as it happens, until interrupted (Ctrl-C or SIGTERM).
//!
//! ```text
//! tail-events [--since-minutes N]
//! ```
//!
//! Each event is one line, tab-separated: created time, key, type (the `eventTypeId` for
//! EventEx and ExtendedEvent), message. The connection comes from the VSphereBinding's
//! environment (`VC_URL`, `VC_SECRET_PATH`, …; see `examples/README.md`). The stream does the
//! hard parts: a lost session is logged in again and reading resumes after the last printed
//! event, a lost answer is read again, nothing is printed twice.

use std::io::Write;
use std::process::ExitCode;

use vsphere_client::events::{EventStream, Position};
use vsphere_client::jiff::SignedDuration;

async fn tail(since_minutes: i64) -> Result<(), Box<dyn std::error::Error>> {
    let client = binding_env::new_soap_client().await?;
    let since = client.current_time().await? - SignedDuration::from_mins(since_minutes);
    let mut events = EventStream::builder(client.clone(), Position::at(since)).build();
    loop {
        // next_page waits for new events and retries failures itself; it is cancel-safe.
        let page = tokio::select! {
            page = events.next_page() => page,
            _ = shutdown() => break,
        };
        let mut out = std::io::stdout().lock();
        for e in page.events {
            let message = e.full_formatted_message().unwrap_or_default();
            let time = e.created_time().map(|t| t.to_string()).unwrap_or_default();
            let line = [
                time,
                e.key().to_string(),
                e.kind_name().into(),
                message.replace(['\n', '\t'], " "),
            ];
            writeln!(out, "{}", line.join("\t"))?;
        }
    }
    events.close().await; // destroys the collector; then end the session
    client.logout().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init();
    let since_minutes = match parse_args() {
        Ok(Some(n)) => n,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tail-events: {e}");
            return ExitCode::from(2);
        }
    };
    examples::exit_code("tail-events", tail(since_minutes).await)
}

const USAGE: &str = "usage: tail-events [--since-minutes N]\n\n\
Prints vCenter's events of the last N minutes (default 10), then each new one, one line each:\n\
created time, key, type, message (tab-separated). Connects with the VSphereBinding's environment:\n\
VC_URL, VC_INSECURE, VC_SECRET_PATH (or VC_USERNAME and VC_PASSWORD), VC_CA_CERTS, VC_CA_BUNDLE.";

/// `--since-minutes N` (default 10); `None` for `--help`.
fn parse_args() -> Result<Option<i64>, String> {
    let mut since_minutes = 10;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--since-minutes" => {
                let v = it.next().ok_or("--since-minutes needs a number")?;
                since_minutes = v
                    .parse()
                    .map_err(|_| format!("--since-minutes {v:?} is not a number"))?;
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(Some(since_minutes))
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
