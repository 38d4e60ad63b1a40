//! Transport errors: unreachable hosts, bad CA bundles, timeouts and answers that are not SOAP.
//! (The protocol tests, against both vcsim and vsphere-sim, are in `protocol.rs`.)

use std::time::Duration;

use test_support::Vcsim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vsphere_client::{Client, Credentials, Error};

fn sim_with(args: &[&str]) -> Vcsim {
    test_support::install_crypto_provider();
    let mut b = Vcsim::builder();
    for a in args {
        b = b.arg(*a);
    }
    b.start().expect("vcsim starts")
}

fn builder(sim: &Vcsim) -> vsphere_client::ClientBuilder {
    Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
}

#[tokio::test]
async fn a_slow_answer_times_out_with_a_clear_error() {
    let sim = sim_with(&["-method-delay", "CurrentTime:3000"]);
    // Long enough for the login on a loaded machine, far below the 3 s delay.
    let client = builder(&sim)
        .request_timeout(Duration::from_millis(1500))
        .connect()
        .await
        .expect("connect");
    let err = client
        .current_time()
        .await
        .expect_err("CurrentTime is delayed 3 s");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("did not answer within"), "{err}");
}

/// A server that answers every request with the same raw HTTP response.
async fn canned_server(response: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                // Read the request head and body (small), then answer.
                let _ = tokio::time::timeout(Duration::from_millis(200), sock.read(&mut buf)).await;
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}/sdk")
}

#[tokio::test]
async fn a_503_from_a_proxy_is_a_transport_error_with_the_status() {
    test_support::install_crypto_provider();
    let url = canned_server(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 57\r\nConnection: close\r\n\r\n<html><body><h1>503 upstream unavailable</h1></body></html>",
    )
    .await;
    let err = Client::builder(url).connect().await.expect_err("503");
    match &err {
        Error::Http {
            status, snippet, ..
        } => {
            assert_eq!(*status, 503);
            assert!(snippet.contains("upstream unavailable"), "{snippet}");
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert!(err.is_transient());
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn an_html_page_with_status_500_is_not_mistaken_for_a_fault() {
    test_support::install_crypto_provider();
    let url = canned_server(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>oops</html>   ",
    )
    .await;
    let err = Client::builder(url).connect().await.expect_err("500 html");
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_host_is_a_connect_error() {
    test_support::install_crypto_provider();
    let port = test_support::free_port();
    let err = Client::builder(format!("https://127.0.0.1:{port}/sdk"))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.to_lowercase().contains("connect"), "{msg}");
}

#[tokio::test]
async fn a_bad_ca_bundle_is_a_configuration_error() {
    test_support::install_crypto_provider();
    let err = Client::builder("https://127.0.0.1:1/sdk")
        .ca_bundle_pem(b"not a certificate".to_vec())
        .connect()
        .await
        .expect_err("invalid bundle");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("CA bundle"), "{err}");
}
