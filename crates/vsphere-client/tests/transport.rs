//! Transport behaviour: timeouts, the response cap, answers that are not SOAP, the keep-alive and
//! inventory reads.

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
    let client = builder(&sim)
        .request_timeout(Duration::from_millis(500))
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

#[tokio::test]
async fn a_response_over_the_cap_is_refused() {
    let sim = sim_with(&[]);
    let client = builder(&sim)
        .max_response_bytes(16384)
        .connect()
        .await
        .expect("small answers fit");
    let root = client.service_content().root_folder.clone();
    let collector = client
        .create_event_collector(
            &vsphere_client::events::EventFilterSpec::new()
                .entity(root, vsphere_client::events::Recursion::All),
        )
        .await
        .expect("collector");
    let err = collector
        .read_next(1000)
        .await
        .expect_err("the history is bigger than 16 KiB");
    assert!(
        matches!(err, Error::ResponseTooLarge { limit: 16384, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("16384-byte limit"), "{err}");
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
async fn the_keepalive_replaces_a_lost_session_without_other_traffic() {
    let sim = sim_with(&[]);
    let client = builder(&sim)
        .keepalive(Some(Duration::from_millis(300)))
        .connect()
        .await
        .expect("connect");
    let admin = builder(&sim).connect().await.expect("admin");
    let key = client.user_session().await.expect("session").key;
    admin
        .terminate_sessions(&[key])
        .await
        .expect("TerminateSession");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.relogins() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client.relogins(),
        1,
        "the keep-alive noticed and logged in again"
    );
    assert!(client.session_is_active().await.expect("SessionIsActive"));
}

#[tokio::test]
async fn lists_vms_with_power_state_and_host() {
    let sim = sim_with(&[]);
    let client = builder(&sim).connect().await.expect("connect");
    let vms = client.list_vms().await.expect("list VMs");
    assert!(vms.len() >= 2, "{vms:?}");
    for vm in &vms {
        assert!(vm.name.contains("VM"), "{vm:?}");
        assert_eq!(vm.vm.kind, "VirtualMachine");
        assert!(
            ["poweredOn", "poweredOff", "suspended"].contains(&vm.power_state.as_str()),
            "{vm:?}"
        );
        assert_eq!(
            vm.host.as_ref().map(|h| h.kind.as_str()),
            Some("HostSystem")
        );
        assert!(
            vm.host_name.as_deref().is_some_and(|h| h.contains('H')),
            "{vm:?}"
        );
    }
    assert!(vms.windows(2).all(|w| w[0].name <= w[1].name));
}
