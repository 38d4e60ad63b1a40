//! `vsphere-sim`: a vCenter event-API simulator on the command line.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use vsphere_sim::{EventMix, Failure, Simulator, Tls};

/// A vCenter event-API simulator (SOAP on /sdk) for quickstarts, fault-injection tests and
/// benchmarks, and to point your own vSphere clients at.
///
/// It serves vCenter 8.0 U3's API release (8.0.3.0) and every older one down to 4.0, listed at
/// /sdk/vimServiceVersions.xml (with /sdk/vimService.wsdl) as vCenter does, and answers each
/// client in the release it asks for (SOAPAction "urn:vim25/<release>"): types and fields newer
/// than that are left out. pyVmomi and govc work against it:
///
///   vsphere-sim --tls --cert-out sim.pem --backlog 100000
///
///   pyVmomi: SmartConnect(host="127.0.0.1", port=8989, user="administrator@vsphere.local",
///            pwd="VMware1!", sslContext=ssl.create_default_context(cafile="sim.pem"))
///
///   govc:    GOVC_URL=https://127.0.0.1:8989/sdk GOVC_USERNAME=administrator@vsphere.local \
///            GOVC_PASSWORD='VMware1!' GOVC_TLS_CA_CERTS=sim.pem govc events -n 10
///
/// VmSimulatedFutureFeatureEvent, a type no release has, is generated only with
/// --unknown-event-types.
///
/// Faults can also be injected while it runs: POST /sim/fail?count=3&with=503,
/// /sim/latency?ms=500, /sim/expire-sessions, /sim/generate?count=100, /sim/rate?per-sec=50;
/// GET /sim/stats.
#[derive(Debug, Parser)]
#[command(name = "vsphere-sim", version, verbatim_doc_comment)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8989", env = "VSPHERE_SIM_LISTEN")]
    listen: SocketAddr,
    /// Serve HTTPS with a self-signed certificate (written to --cert-out if given).
    #[arg(long)]
    tls: bool,
    /// Names for the self-signed certificate (repeatable; default localhost and 127.0.0.1).
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,
    /// Write the self-signed certificate (PEM) here, for clients to trust.
    #[arg(long, value_name = "FILE")]
    cert_out: Option<std::path::PathBuf>,
    /// User name that may log in.
    #[arg(long, default_value = "administrator@vsphere.local")]
    username: String,
    /// Its password.
    #[arg(long, default_value = "VMware1!", env = "VSPHERE_SIM_PASSWORD")]
    password: String,
    /// Generated events in the history at start.
    #[arg(long, default_value_t = 0)]
    backlog: usize,
    /// Seconds the backlog's creation times span, ending now.
    #[arg(long, default_value_t = 3600)]
    backlog_span_secs: u64,
    /// Events generated per second while running.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Generator seed (same seed, same events).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sessions idle longer than this many seconds expire (vCenter: 1800).
    #[arg(long, default_value_t = 1800)]
    session_idle_timeout: u64,
    /// Event collectors allowed per session (vCenter: 32).
    #[arg(long, default_value_t = 32)]
    max_collectors: usize,
    /// Key of the first event (keys are xsd:int on the wire: start near 2147483647 to see
    /// them wrap).
    #[arg(long, default_value_t = 1)]
    first_key: i64,
    /// Hosts in the inventory (1 to 8).
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// VMs in the inventory (1 to 40).
    #[arg(long, default_value_t = 8)]
    vms: usize,
    /// Generate only small events (VM power and user events) for throughput benchmarks.
    #[arg(long)]
    compact_events: bool,
    /// Also generate VmSimulatedFutureFeatureEvent, an event type no vSphere release has, with
    /// fields nobody knows: to test how a client takes a newer vCenter's events. Strict
    /// clients (pyVmomi) fail on it.
    #[arg(long)]
    unknown_event_types: bool,
    /// Do not record login and logout events.
    #[arg(long)]
    no_login_events: bool,
    /// Fault: the first N requests fail (see --fail-with).
    #[arg(long, default_value_t = 0, value_name = "N")]
    fail_first: u32,
    /// Fault: every Nth request fails (see --fail-with).
    #[arg(long, default_value_t = 0, value_name = "N")]
    fail_every: u64,
    /// How failing requests fail: 500 (SOAP SystemError fault), 503 (HTML, not SOAP), drop
    /// (close the connection), drop-after (carry the request out, then close the connection:
    /// the answer is lost), stall (carry it out, then hold the answer for --stall-ms) or
    /// truncate (cut the body in half).
    #[arg(long, default_value = "500", value_name = "HOW")]
    fail_with: Failure,
    /// How long a stalled answer (--fail-with stall) is held, in milliseconds.
    #[arg(long, default_value_t = 60_000, value_name = "MS")]
    stall_ms: u64,
    /// Fault: write the event with this key so that it never decodes (repeatable).
    #[arg(long = "poison-event", value_name = "KEY")]
    poison_events: Vec<i64>,
    /// Fault: write the event with this key with a message of this many bytes, as KEY=BYTES
    /// (repeatable): an answer holding it alone can exceed a client's response limit.
    #[arg(long = "inflate-event", value_name = "KEY=BYTES", value_parser = parse_inflate)]
    inflate_events: Vec<(i64, usize)>,
    /// Fault: add this many milliseconds before every answer.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    latency_ms: u64,
    /// Fault: end every session every this many seconds (clients must log in again).
    #[arg(long, value_name = "SECS")]
    expire_sessions_every: Option<u64>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vsphere-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let tls = if args.tls {
        Tls::SelfSigned(args.tls_names.clone())
    } else {
        Tls::Off
    };
    let started = std::time::Instant::now();
    let sim = Simulator::builder()
        .listen(args.listen)
        .credentials(&args.username, &args.password)
        .tls(tls)
        .backlog(args.backlog)
        .backlog_span(Duration::from_secs(args.backlog_span_secs))
        .rate(args.rate)
        .seed(args.seed)
        .idle_timeout(Duration::from_secs(args.session_idle_timeout))
        .max_collectors(args.max_collectors)
        .login_events(!args.no_login_events)
        .first_key(args.first_key)
        .inventory(args.hosts, args.vms)
        .event_mix(if args.compact_events {
            EventMix::Compact
        } else {
            EventMix::Realistic
        })
        .unknown_event_types(args.unknown_event_types)
        .start()
        .await?;
    if let (Some(path), Some(pem)) = (&args.cert_out, sim.cert_pem()) {
        std::fs::write(path, pem).map_err(|source| vsphere_sim::SimError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    sim.faults().fail_next(args.fail_first, args.fail_with);
    sim.faults().fail_every(args.fail_every, args.fail_with);
    sim.faults().set_stall(Duration::from_millis(args.stall_ms));
    for (key, bytes) in &args.inflate_events {
        sim.faults().inflate_event(*key, *bytes);
    }
    for key in &args.poison_events {
        sim.faults().poison_event(*key);
    }
    sim.faults()
        .set_latency(Duration::from_millis(args.latency_ms));
    println!(
        "vsphere-sim serving {} (user {:?}); {} events in the history, ready in {:.2?}",
        sim.url(),
        sim.username(),
        sim.event_count(),
        started.elapsed()
    );
    let mut expire = args.expire_sessions_every.map(|s| {
        let mut i = tokio::time::interval(Duration::from_secs(s.max(1)));
        i.reset();
        i
    });
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = async {
                match expire.as_mut() {
                    Some(i) => { i.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                let n = sim.expire_sessions();
                tracing::info!(sessions = n, "fault injection: sessions expired");
            }
        }
    }
    println!("vsphere-sim: stopping");
    Ok(())
}

/// `KEY=BYTES` of `--inflate-event`.
fn parse_inflate(s: &str) -> Result<(i64, usize), String> {
    let (key, bytes) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=BYTES (e.g. 250=70000000)"))?;
    let key = key
        .trim()
        .parse()
        .map_err(|e| format!("the key in {s:?}: {e}"))?;
    let bytes = bytes
        .trim()
        .parse()
        .map_err(|e| format!("the size in {s:?}: {e}"))?;
    Ok((key, bytes))
}
