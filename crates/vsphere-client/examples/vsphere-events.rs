//! `vsphere-events`: print vCenter events as JSON lines, like `govc events`.
//!
//! ```text
//! cargo run -p vsphere-client --example vsphere-events -- \
//!     --url https://vcenter.example.com --username administrator@vsphere.local \
//!     --password '…' --since 2026-11-27T00:00:00Z --follow
//! ```
//!
//! Each event is one line: `{"key":…,"type":…,"class":…,"createdTime":…,"message":…}` (plus
//! `eventTypeId` for EventEx and ExtendedEvent). Without `--since` it starts ten minutes before
//! vCenter's current time. With `--follow` it keeps waiting for new events (a `WaitForUpdatesEx`
//! long poll on the collector, no polling) until interrupted; a lost session is replaced and
//! reading resumes after the last printed event.

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use vsphere_client::events::{EventCollector, EventFilterSpec, LatestPageWatch, Recursion};
use vsphere_client::{Client, Credentials, Event};

/// Print vCenter events as JSON lines.
#[derive(Parser, Debug)]
#[command(name = "vsphere-events", version)]
struct Args {
    /// vCenter URL (`https://` and `/sdk` are added when missing).
    #[arg(long, env = "VC_URL")]
    url: String,
    /// Skip TLS certificate verification.
    #[arg(long, env = "VC_INSECURE", default_value_t = false)]
    insecure: bool,
    /// PEM file with the CA certificates that signed vCenter's certificate.
    #[arg(long, env = "VC_CA_BUNDLE")]
    ca_bundle: Option<std::path::PathBuf>,
    /// User name (or user info in the URL).
    #[arg(long, env = "VC_USERNAME")]
    username: Option<String>,
    /// Password.
    #[arg(long, env = "VC_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Print events created at or after this time (RFC 3339); default: ten minutes ago.
    #[arg(long)]
    since: Option<Timestamp>,
    /// Keep waiting for new events.
    #[arg(long)]
    follow: bool,
}

#[tokio::main]
async fn main() {
    vsphere_client::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("vsphere-events: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Client::builder(&args.url).insecure(args.insecure);
    if let Some(path) = &args.ca_bundle {
        builder = builder.ca_bundle_file(path)?;
    }
    match (&args.username, &args.password) {
        (Some(u), Some(p)) => builder = builder.credentials(Credentials::new(u, p)),
        (Some(_), None) => return Err("--username needs --password (or VC_PASSWORD)".into()),
        (None, Some(_)) => return Err("--password needs --username (or VC_USERNAME)".into()),
        (None, None) => {}
    }
    let client = builder.connect().await?;
    let since = match args.since {
        Some(t) => t,
        None => client.current_time().await? - SignedDuration::from_mins(10),
    };
    let result = tail(&client, since, args.follow).await;
    let _ = client.logout().await;
    result
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
    // The last printed event, to resume after a lost session without repeats.
    let mut last: Option<(i64, Timestamp)> = None;
    loop {
        let events = match collector.read_next(1000).await {
            Ok(events) => events,
            Err(e) if session_gone(&collector, &e) => {
                // The session was replaced and the collector went with it: start a new one at
                // the last printed event's time.
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
        tokio::select! {
            r = w.wait(Duration::from_secs(60)) => match r {
                Ok(_) => {}
                Err(e) if session_gone(&collector, &e) => watch = None,
                Err(e) => return Err(e.into()),
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    if let Some(w) = watch {
        let _ = w.close().await;
    }
    let _ = collector.destroy().await;
    Ok(())
}

fn session_gone(collector: &EventCollector, e: &vsphere_client::Error) -> bool {
    !collector.is_current() || e.is_object_gone()
}

/// Print events as JSON lines, skipping what was printed before a collector was replaced.
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
        writeln!(out, "{}", json_line(event))?;
        *last = Some((key, created));
    }
    out.flush()
}

/// One output line, fields in a fixed order.
#[derive(serde::Serialize)]
struct Line<'a> {
    key: i64,
    #[serde(rename = "type")]
    type_name: &'a str,
    class: &'static str,
    #[serde(rename = "eventTypeId", skip_serializing_if = "Option::is_none")]
    event_type_id: Option<&'a str>,
    #[serde(rename = "createdTime")]
    created_time: Option<String>,
    message: Option<&'a str>,
}

fn json_line(event: &Event) -> String {
    let line = Line {
        key: event.key(),
        type_name: event.type_name(),
        class: event.class().as_str(),
        event_type_id: event.event_type_id(),
        created_time: event
            .created_time()
            .map(vsphere_client::time::format_rfc3339_nano),
        message: event.full_formatted_message(),
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}
