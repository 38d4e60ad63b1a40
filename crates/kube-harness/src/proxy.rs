//! A TCP proxy on loopback in front of the API server: what a test cuts to
//! partition a process from the API server, and counts to see how often a
//! process tries to reach it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy from a loopback port to `upstream`, stopped when dropped.
///
/// ```no_run
/// # async fn demo(server: &kube_harness::KubeApiServer) -> std::io::Result<()> {
/// let proxy = kube_harness::TcpProxy::start(server.addr()).await?;
/// // A process whose kubeconfig names the proxy...
/// server.write_kubeconfig_via(proxy.addr(), std::path::Path::new("/tmp/kubeconfig")).ok();
/// // ...is partitioned: its connections stay open and nothing passes.
/// proxy.cut();
/// proxy.heal();
/// println!("{} connections so far", proxy.connections());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    /// `true` while cut.
    cut: watch::Sender<bool>,
    connections: AtomicU64,
}

impl State {
    /// Returns once the proxy is not cut.
    async fn open(&self) {
        let mut rx = self.cut.subscribe();
        let _ = rx.wait_for(|cut| !*cut).await;
    }
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards each connection to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, _) = watch::channel(false);
        let state = Arc::new(State {
            cut,
            connections: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, upstream, state.clone()));
        Ok(Self { addr, state, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Partitions the clients from the upstream: open connections stay open
    /// and nothing passes in either direction; new connections are accepted
    /// and wait. What a lost network path looks like to both ends (no reset,
    /// no answer).
    pub fn cut(&self) {
        self.state.cut.send_replace(true);
    }

    /// Ends a [`TcpProxy::cut`]: what was held passes, in order.
    pub fn heal(&self) {
        self.state.cut.send_replace(false);
    }

    /// Connections accepted so far (each attempt of a client counts once).
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, state: Arc<State>) {
    let mut pairs = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = state.clone();
        pairs.spawn(async move {
            state.open().await;
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                _ = pump(client_read, server_write, &state) => {}
                _ = pump(server_read, client_write, &state) => {}
            }
        });
        // Reap what has finished.
        while pairs.try_join_next().is_some() {}
    }
}

/// Copies `from` to `to`, holding what it read while the proxy is cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: &State,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        state.open().await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        state.open().await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
