//! A small OTLP/HTTP trace receiver for `benches/adapter-measure.sh` (`TRACING=1`): accepts
//! `POST /v1/traces` (protobuf), decodes each export with the OTLP messages and counts the
//! spans; answers 200 with an empty export response.
//!
//! ```text
//! cargo run --release -p adapter-bin --example otlp-receiver -- [--listen 127.0.0.1:0]
//! ```
//!
//! It prints `otlp-receiver listening on http://ADDR/` once bound. `GET /count` answers the
//! number of spans received (plain text); `GET /stats` answers JSON with `spans`, `requests`
//! and `undecodable` (requests that were not an OTLP export).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    requests: AtomicU64,
    undecodable: AtomicU64,
}

async fn traces(State(counts): State<Arc<Counts>>, body: Bytes) -> StatusCode {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    match ExportTraceServiceRequest::decode(body) {
        Ok(export) => {
            let n: usize = export
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            counts.spans.fetch_add(n as u64, Ordering::Relaxed);
            StatusCode::OK
        }
        Err(_) => {
            counts.undecodable.fetch_add(1, Ordering::Relaxed);
            StatusCode::BAD_REQUEST
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let counts = Arc::new(Counts::default());
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route(
            "/count",
            get(|State(c): State<Arc<Counts>>| async move {
                c.spans.load(Ordering::Relaxed).to_string()
            }),
        )
        .route(
            "/stats",
            get(|State(c): State<Arc<Counts>>| async move {
                format!(
                    r#"{{"spans":{},"requests":{},"undecodable":{}}}"#,
                    c.spans.load(Ordering::Relaxed),
                    c.requests.load(Ordering::Relaxed),
                    c.undecodable.load(Ordering::Relaxed)
                )
            }),
        )
        .with_state(counts);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "otlp-receiver listening on http://{}/",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
