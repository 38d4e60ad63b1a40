//! `tail-events`: embed vsphere-client's event collector in an application and print vCenter
//! events as they happen.
//!
//! ```text
//! tail-events [--since-minutes N] [--once]
//! ```
//!
//! It connects through the VSphereBinding's environment, prints the events of the last
//! `N` minutes of vCenter time (default 10), then waits for new ones with a `WaitForUpdatesEx`
//! long poll on the collector's `latestPage` (no polling) until interrupted. `--once` stops
//! after the history. Each event is one line, tab-separated: created time, key, type,
//! message. A lost session is replaced and reading resumes after the last printed event.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use vsphere_client::events::{EventCollector, EventFilterSpec, LatestPageWatch, Recursion};
use vsphere_client::{Client, Event};

struct Args {
    since_minutes: i64,
    once: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        since_minutes: 10,
        once: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--once" => args.once = true,
            "--since-minutes" => {
                let v = it.next().ok_or("--since-minutes needs a number")?;
                args.since_minutes = v
                    .parse()
                    .map_err(|_| format!("--since-minutes {v:?} is not a number"))?;
            }
            "-h" | "--help" => {
                return Err("usage: tail-events [--since-minutes N] [--once]".into());
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tail-events: {e}");
            return ExitCode::from(2);
        }
    };
    examples::exit_code("tail-events", run(args).await)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = binding_env::new_soap_client().await?;
    let since = client.current_time().await? - SignedDuration::from_mins(args.since_minutes);
    let result = tokio::select! {
        r = tail(&client, since, !args.once) => r,
        _ = shutdown() => Ok(()),
    };
    let _ = client.logout().await;
    result
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn tail(
    client: &Client,
    since: Timestamp,
    follow: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = client.service_content().root_folder.clone();
    let filter = |begin: Timestamp| {
        EventFilterSpec::new()
            .entity(root.clone(), Recursion::All)
            .begin_time(begin)
    };
    let mut collector = client.create_event_collector(&filter(since)).await?;
    let mut watch: Option<LatestPageWatch> = None;
    let mut last: Option<(i64, Timestamp)> = None;
    loop {
        let events = match collector.read_next(1000).await {
            Ok(events) => events,
            Err(e) if session_gone(&collector, &e) => {
                collector = client
                    .create_event_collector(&filter(last.map_or(since, |(_, t)| t)))
                    .await?;
                watch = None;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        print_events(&events, &mut last)?;
        if !events.is_empty() {
            continue;
        }
        if !follow {
            break;
        }
        let w = match watch.as_mut() {
            Some(w) => w,
            None => watch.insert(collector.watch_latest_page().await?),
        };
        match w.wait(Duration::from_secs(60)).await {
            Ok(_) => {}
            Err(e) if session_gone(&collector, &e) => watch = None,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(w) = watch {
        let _ = w.close().await;
    }
    let _ = collector.destroy().await;
    Ok(())
}

fn session_gone(collector: &EventCollector, e: &vsphere_client::Error) -> bool {
    !collector.is_current() || e.is_object_gone() || e.is_session_lost()
}

fn print_events(events: &[Event], last: &mut Option<(i64, Timestamp)>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for event in events {
        let (Some(created), key) = (event.created_time(), event.key()) else {
            continue;
        };
        if let Some((last_key, last_time)) = *last
            && (created < last_time || (created == last_time && key <= last_key))
        {
            continue;
        }
        let message = event
            .full_formatted_message()
            .unwrap_or_default()
            .replace(['\n', '\t'], " ");
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            vsphere_client::time::format_rfc3339_nano(created),
            key,
            event.kind_name(),
            message
        )?;
        *last = Some((key, created));
    }
    out.flush()
}
