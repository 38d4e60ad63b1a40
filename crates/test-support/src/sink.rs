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
    received: Vec<Received>,
}

/// An HTTP server on a free loopback port that records requests; stops when dropped.
pub struct RecordingSink {
    addr: SocketAddr,
    state: Arc<Mutex<Script>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RecordingSink {
    /// Start on `127.0.0.1:0`, answering 200 unless told otherwise.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Script::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test sink");
        let addr = listener.local_addr().expect("sink address");
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            addr,
            state,
            stop: Some(tx),
        }
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
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn handle(
    State(state): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let delay = state.lock().ok().and_then(|s| s.delay);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
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
