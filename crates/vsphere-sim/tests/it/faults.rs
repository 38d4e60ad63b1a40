//! Each fault switch produces the fault it names, as vsphere-client sees it.

use std::time::Duration;

use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::{Client, Credentials, Error};
use vsphere_sim::{Failure, Simulator};

async fn sim() -> Simulator {
    Simulator::builder()
        .backlog(50)
        .start()
        .await
        .expect("simulator")
}

fn builder(sim: &Simulator) -> vsphere_client::ClientBuilder {
    Client::builder(sim.url())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .keepalive(None)
}

async fn connect(sim: &Simulator) -> Client {
    builder(sim).connect().await.expect("connect")
}

#[tokio::test]
async fn expired_sessions_make_the_client_log_in_again() {
    let sim = sim().await;
    let client = connect(&sim).await;
    let first = client.user_session().await.expect("session").key;
    // The logged-in session, and the anonymous one `RetrieveServiceContent` opened.
    assert!(sim.expire_sessions() >= 1);
    client
        .current_time()
        .await
        .expect("CurrentTime after re-login");
    assert_eq!(client.relogins(), 1);
    let second = client.user_session().await.expect("session").key;
    assert_ne!(first, second);
    assert_eq!(sim.session_keys(), [second]);
}

#[tokio::test]
async fn a_terminated_session_makes_the_client_log_in_again_and_loses_its_collectors() {
    let sim = sim().await;
    let client = connect(&sim).await;
    let root = client.service_content().root_folder.clone();
    let collector = client
        .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All))
        .await
        .expect("collector");
    let key = client.user_session().await.expect("session").key;
    assert!(sim.terminate_session(&key));
    let err = collector
        .read_next(10)
        .await
        .expect_err("the collector belonged to the old session");
    assert_eq!(client.relogins(), 1);
    assert!(err.fault().is_some_and(|f| f.is_object_gone()), "{err:?}");
    assert!(!collector.is_current());
}

#[tokio::test]
async fn sessions_idle_past_the_timeout_expire() {
    let sim = Simulator::builder()
        .idle_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("simulator");
    let client = connect(&sim).await;
    client.current_time().await.expect("active session");
    assert_eq!(client.relogins(), 0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    client.current_time().await.expect("after re-login");
    assert_eq!(client.relogins(), 1, "the idle session had expired");
}

#[tokio::test]
async fn fail_next_with_500_is_a_soap_fault() {
    let sim = sim().await;
    let client = connect(&sim).await;
    sim.faults().fail_next(2, Failure::SoapFault);
    for _ in 0..2 {
        let err = client.current_time().await.expect_err("injected fault");
        let fault = err.fault().expect("a SOAP fault");
        assert_eq!(fault.fault_type(), "SystemError", "{err:?}");
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("injected"), "{err}");
    }
    client
        .current_time()
        .await
        .expect("the third call succeeds");
    assert_eq!(sim.faults().injected(), 2);
}

#[tokio::test]
async fn fail_next_with_503_is_an_http_error() {
    let sim = sim().await;
    let client = connect(&sim).await;
    sim.faults().fail_next(1, Failure::Unavailable);
    let err = client.current_time().await.expect_err("503");
    match &err {
        Error::Http {
            status, snippet, ..
        } => {
            assert_eq!(*status, 503);
            assert!(snippet.contains("Service Unavailable"), "{snippet}");
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert!(err.is_transient());
    client.current_time().await.expect("then it answers");
}

#[tokio::test]
async fn a_failure_can_target_one_method() {
    let sim = sim().await;
    let client = connect(&sim).await;
    let root = client.service_content().root_folder.clone();
    let collector = client
        .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All))
        .await
        .expect("collector");
    sim.faults()
        .fail_next_method("ReadNextEvents", 1, Failure::Unavailable);
    client
        .current_time()
        .await
        .expect("other methods are spared");
    let err = collector.read_next(10).await.expect_err("503");
    assert!(matches!(err, Error::Http { status: 503, .. }), "{err:?}");
    assert_eq!(collector.read_next(10).await.expect("read").len(), 10);
}

#[tokio::test]
async fn latency_makes_a_short_timeout_expire() {
    let sim = sim().await;
    let client = builder(&sim)
        .request_timeout(Duration::from_millis(1000))
        .connect()
        .await
        .expect("connect");
    sim.faults().set_latency(Duration::from_millis(4000));
    let err = client.current_time().await.expect_err("too slow");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("did not answer within"), "{err}");
    sim.faults().set_latency(Duration::ZERO);
    client.current_time().await.expect("fast again");
}

#[tokio::test]
async fn a_dropped_connection_is_a_connect_error() {
    let sim = sim().await;
    let client = connect(&sim).await;
    sim.faults().fail_next(1, Failure::Drop);
    let err = client.current_time().await.expect_err("dropped");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
    client.current_time().await.expect("a new connection works");
}

#[tokio::test]
async fn a_truncated_body_is_a_decode_error_naming_the_position() {
    let sim = sim().await;
    let client = connect(&sim).await;
    let root = client.service_content().root_folder.clone();
    let collector = client
        .create_event_collector(&EventFilterSpec::new().entity(root, Recursion::All))
        .await
        .expect("collector");
    sim.faults().fail_next(1, Failure::Truncate);
    let err = collector.read_next(20).await.expect_err("truncated");
    match &err {
        Error::Decode { method, source } => {
            assert_eq!(*method, "ReadNextEvents");
            assert!(source.position > 0, "{source:?}");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(err.to_string().contains("at byte"), "{err}");
}

#[tokio::test]
async fn every_nth_request_fails() {
    let sim = sim().await;
    let client = connect(&sim).await;
    sim.faults().fail_every(3, Failure::Unavailable);
    let mut failures = 0;
    for _ in 0..9 {
        if client.current_time().await.is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 3);
    sim.faults().clear();
    client.current_time().await.expect("cleared");
}

#[tokio::test]
async fn login_can_fail_too() {
    let sim = sim().await;
    sim.faults()
        .fail_next_method("Login", 1, Failure::SoapFault);
    let err = builder(&sim).connect().await.expect_err("Login fails once");
    assert_eq!(
        err.fault().map(|f| f.fault_type().to_owned()).as_deref(),
        Some("SystemError"),
        "{err:?}"
    );
    connect(&sim).await;
}
