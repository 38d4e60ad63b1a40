//! `HTTPS_PROXY` and `NO_PROXY` are honoured. One test in its own binary: it sets process-wide
//! environment variables.

use std::sync::{Arc, Mutex};

use test_support::Vcsim;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use vsphere_client::{Client, Credentials};

/// A CONNECT-only HTTP proxy that records the targets it tunnels to.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(sock);
                let mut line = String::new();
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let target = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                // Skip the rest of the request head.
                loop {
                    let mut h = String::new();
                    match reader.read_line(&mut h).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if h == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                if let Ok(mut l) = log.lock() {
                    l.push(target.clone());
                }
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    return;
                };
                let mut client = reader.into_inner();
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn https_proxy_is_used_and_no_proxy_bypasses_it() {
    test_support::install_crypto_provider();
    let sim = Vcsim::start().expect("vcsim");
    let (proxy, seen) = connect_proxy().await;
    let connect = || {
        Client::builder(sim.url())
            .insecure(true)
            .credentials(Credentials::new(sim.username(), sim.password()))
            .keepalive(None)
            .connect()
    };

    // SAFETY: this binary has this one test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("HTTPS_PROXY", &proxy);
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let client = connect().await.expect("through the proxy");
    client.current_time().await.expect("CurrentTime");
    let targets = seen.lock().expect("log").clone();
    assert!(
        targets.iter().any(|t| t == sim.host_port()),
        "proxy saw {targets:?}, wanted {}",
        sim.host_port()
    );

    let before = targets.len();
    // SAFETY: as above.
    unsafe {
        std::env::set_var("NO_PROXY", "127.0.0.1");
    }
    let direct = connect().await.expect("direct");
    direct.current_time().await.expect("CurrentTime");
    assert_eq!(
        seen.lock().expect("log").len(),
        before,
        "NO_PROXY bypasses the proxy"
    );
}
