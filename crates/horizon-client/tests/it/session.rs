//! Login, refresh before expiry and after a 401, logout.

use std::time::Duration;

use horizon_client::{Client, Credentials};
use horizon_sim::Simulator;

use crate::client;

#[tokio::test]
async fn refreshes_on_401_and_logs_in_again_when_the_refresh_token_expired() {
    let sim = Simulator::builder().start().await.expect("sim");
    sim.add_events_at(1000, 1);
    let c = client(&sim);
    c.login().await.expect("login");
    sim.expire_access_tokens();
    assert_eq!(
        c.events_between(0, 2000, 10).await.expect("events").len(),
        1
    );
    assert_eq!(sim.stats().refreshes, 1);
    sim.expire_access_tokens();
    sim.expire_refresh_tokens();
    assert_eq!(
        c.events_between(0, 2000, 10).await.expect("events").len(),
        1
    );
    assert_eq!(sim.stats().logins, 2);
    c.logout().await.expect("logout");
    assert_eq!(sim.stats().logouts, 1);
}

#[tokio::test]
async fn refreshes_before_expiry() {
    let sim = Simulator::builder()
        .access_token_lifetime(Duration::from_millis(1000))
        .start()
        .await
        .expect("sim");
    // The client believes tokens live 300 ms, the server lets them live 1 s: every call after
    // 300 ms refreshes first, with 700 ms to spare for a slow machine.
    let c = Client::builder(&sim.url())
        .expect("url")
        .credentials(Credentials::new(sim.domain(), sim.username(), sim.password()).expect("creds"))
        .access_token_lifetime(Duration::from_millis(300))
        .build()
        .expect("client");
    c.login().await.expect("login");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        c.events_between(0, 1, 10).await.expect("events");
    }
    assert_eq!(sim.stats().unauthorized, 0, "refreshed before expiry");
    assert!(sim.stats().refreshes >= 2);
}

#[tokio::test]
async fn a_server_with_its_own_ca_is_trusted_with_that_ca_only() {
    let sim = Simulator::builder().tls().start().await.expect("sim");
    sim.add_events_at(1000, 2);
    let ca = sim
        .cert_pem()
        .expect("the simulator's certificate")
        .to_owned();
    let builder = || {
        Client::builder(&sim.url()).expect("url").credentials(
            Credentials::new(sim.domain(), sim.username(), sim.password()).expect("creds"),
        )
    };
    let trusting = builder().ca_bundle_pem(ca).build().expect("client");
    trusting.login().await.expect("login over TLS");
    assert_eq!(
        trusting
            .events_between(0, 2000, 10)
            .await
            .expect("events")
            .len(),
        2
    );
    // Without the CA: the certificate is refused, nothing is sent.
    let plain = builder().build().expect("client");
    let err = plain.login().await.expect_err("an unknown CA");
    assert!(
        matches!(err, horizon_client::Error::Transport { .. }),
        "{err:?}"
    );
    assert_eq!(sim.stats().logins, 1);
    // A bundle that is not PEM is a clear error when building.
    let err = builder()
        .ca_bundle_pem("not a certificate")
        .build()
        .expect_err("not PEM");
    assert!(err.to_string().contains("CA bundle"), "{err}");
}
