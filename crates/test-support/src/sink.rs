//! A real HTTP sink for delivery tests: records every request and answers with statuses the
//! test scripts.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Lower-case header names and their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The status the sink answered with.
    pub status: u16,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Script {
    /// Statuses for the next requests, in order; then `default`.
    next: VecDeque<u16>,
    /// Status for requests whose `ce-id` matches.
    by_id: HashMap<String, u16>,
    default: Option<u16>,
    delay: Option<Duration>,
    /// Random trouble: the share of requests refused, with which status, and the longest
    /// random delay.
    chaos: Option<(f64, u16, Duration)>,
    received: Vec<Received>,
}

/// An HTTP server on a free loopback port that records requests; stops when dropped.
pub struct RecordingSink {
    addr: SocketAddr,
    state: Arc<Mutex<Script>>,
    /// The accept loop and every connection: aborting them is the sink dying.
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

impl RecordingSink {
    /// Start on `127.0.0.1:0`, answering 200 unless told otherwise.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Script::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test sink");
        let addr = listener.local_addr().expect("sink address");
        let sink = Self {
            addr,
            state,
            tasks: Mutex::new(tokio::task::JoinSet::new()),
        };
        sink.serve(listener);
        sink
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(self.state.clone());
        let connections = Arc::new(Mutex::new(tokio::task::JoinSet::new()));
        let mut tasks = self.tasks.lock().expect("sink tasks");
        let held = connections.clone();
        tasks.spawn(async move {
            // Keep the connection tasks with the accept loop: aborting this task drops them.
            let _held = held;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                if let Ok(mut set) = connections.lock() {
                    set.spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
    }

    /// The sink dies: it stops listening and drops every open connection (requests in flight
    /// get no answer).
    pub fn kill(&self) {
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.abort_all();
        }
    }

    /// The sink comes back on the same address.
    pub async fn revive(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("listen again on the sink's address");
        self.serve(listener);
    }

    /// Random trouble on every request: answer `status` with probability `failure_rate` and
    /// wait up to `max_delay` (uniformly) before answering, so answers come back out of order.
    pub fn set_chaos(&self, failure_rate: f64, status: u16, max_delay: Duration) {
        self.with(|s| s.chaos = Some((failure_rate, status, max_delay)));
    }

    /// No more random trouble.
    pub fn clear_chaos(&self) {
        self.with(|s| s.chaos = None);
    }

    /// The sink's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Script) -> R) -> R {
        let mut s = self.state.lock().expect("sink state");
        f(&mut s)
    }

    /// Answer the next requests with these statuses, in order.
    pub fn respond_next(&self, statuses: &[u16]) {
        self.with(|s| s.next.extend(statuses.iter().copied()));
    }

    /// Answer every request for event `id` (the `ce-id` header) with `status`.
    pub fn respond_for_id(&self, id: &str, status: u16) {
        self.with(|s| {
            s.by_id.insert(id.to_owned(), status);
        });
    }

    /// Answer every other request with `status` (`None`: 200).
    pub fn respond_default(&self, status: Option<u16>) {
        self.with(|s| s.default = status);
    }

    /// Wait this long before answering.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.with(|s| s.delay = delay);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.with(|s| s.received.clone())
    }

    /// The requests answered with 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.with(|s| {
            s.received
                .iter()
                .filter(|r| (200..300).contains(&r.status))
                .cloned()
                .collect()
        })
    }

    /// Wait until `n` requests were accepted (or the timeout passes); returns the accepted ones.
    pub async fn wait_accepted(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.accepted();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RecordingSink {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn handle(
    State(state): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (delay, chaos) = state.lock().map(|s| (s.delay, s.chaos)).unwrap_or_default();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut chaos_status = None;
    if let Some((rate, status, max_delay)) = chaos {
        tokio::time::sleep(max_delay.mul_f64(fastrand::f64())).await;
        if fastrand::f64() < rate {
            chaos_status = Some(status);
        }
    }
    let id = headers
        .get("ce-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut s = match state.lock() {
        Ok(s) => s,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR,
    };
    let status = s
        .by_id
        .get(&id)
        .copied()
        .or(chaos_status)
        .or_else(|| s.next.pop_front())
        .or(s.default)
        .unwrap_or(200);
    s.received.push(Received {
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        status,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
