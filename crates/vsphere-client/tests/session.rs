//! Sessions against govmomi's vcsim: login, faults, TLS trust, cookies, re-login.

use std::time::Duration;

use test_support::{TestPki, Vcsim};
use vsphere_client::{Client, Credentials, DataObject, Error, Value, catalogue};

/// A call that needs a session: post a `GeneralUserEvent` (vcsim has no `LogUserEvent`).
async fn post_user_event(client: &Client, message: &str) -> Result<(), Error> {
    let ty = catalogue::lookup("GeneralUserEvent").expect("GeneralUserEvent");
    let event = DataObject::new(ty)
        .with("key", Value::Int(0))
        .with("chainId", Value::Int(0))
        .with("createdTime", Value::DateTime(jiff::Timestamp::now()))
        .with("userName", Value::String(String::new()))
        .with("fullFormattedMessage", Value::String(message.into()))
        .with("message", Value::String(message.into()));
    client.post_event(&event).await
}

fn sim() -> Vcsim {
    test_support::install_crypto_provider();
    Vcsim::start().expect("vcsim starts")
}

async fn connect(sim: &Vcsim) -> Client {
    Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect and login")
}

#[tokio::test]
async fn logs_in_reads_the_clock_and_logs_out() {
    let sim = sim();
    let client = connect(&sim).await;
    assert_eq!(client.endpoint().as_str(), sim.url());
    let content = client.service_content();
    assert_eq!(content.root_folder.kind, "Folder");
    assert!(!content.about.api_version.is_empty());
    let t = client.current_time().await.expect("CurrentTime");
    let now = jiff::Timestamp::now();
    assert!(
        (now - t).get_seconds().abs() < 60,
        "vcsim clock {t} vs {now}"
    );
    assert!(client.session_is_active().await.expect("SessionIsActive"));
    client.logout().await.expect("Logout");
    assert!(
        !client
            .session_is_active()
            .await
            .expect("SessionIsActive after logout")
    );
}

#[tokio::test]
async fn a_wrong_password_is_a_bad_credentials_error() {
    let sim = sim();
    let err = Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), "wrong"))
        .connect()
        .await
        .expect_err("login must fail");
    assert!(err.is_bad_credentials(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("refused the login"), "{msg}");
    assert!(!msg.contains("wrong"), "the password leaked: {msg}");
}

#[tokio::test]
async fn a_trailing_newline_in_the_password_is_pointed_out() {
    let sim = sim();
    let err = Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(
            sim.username(),
            format!("{}\n", sim.password()),
        ))
        .connect()
        .await
        .expect_err("login must fail");
    assert!(err.to_string().contains("ends with a newline"), "{err}");
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
async fn certificates_are_verified_by_default() {
    let sim = sim();
    let err = Client::builder(sim.url())
        .connect()
        .await
        .expect_err("vcsim's self-signed certificate is not trusted");
    let msg = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(msg.contains("certificate"), "{msg}");
}

#[tokio::test]
async fn a_private_ca_bundle_is_trusted_and_a_name_mismatch_is_refused() {
    test_support::install_crypto_provider();
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let sim = Vcsim::builder()
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect("vcsim with our certificate");
    let client = Client::builder(sim.url())
        .ca_bundle_file(pki.ca_pem_path())
        .expect("CA file")
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("trusted through the CA bundle");
    client.current_time().await.expect("CurrentTime");

    let other = TestPki::new(&["vcenter.invalid"]);
    let sim2 = Vcsim::builder()
        .cert(other.cert_pem_path(), other.key_pem_path())
        .start()
        .expect("vcsim with a certificate for another name");
    let err = Client::builder(sim2.url())
        .ca_bundle_pem(other.ca_pem().as_bytes().to_vec())
        .connect()
        .await
        .expect_err("the certificate names another host");
    let msg = err.to_string();
    assert!(msg.contains("not valid for name"), "{msg}");
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

#[tokio::test]
async fn plain_http_sessions_keep_their_cookie() {
    test_support::install_crypto_provider();
    let sim = Vcsim::builder().tls(false).start().expect("plain vcsim");
    assert!(sim.url().starts_with("http://"));
    let client = connect(&sim).await;
    // Calls that need a session succeed only if the cookie is sent back.
    assert!(client.session_is_active().await.expect("SessionIsActive"));
    post_user_event(&client, "cookie check")
        .await
        .expect("PostEvent needs the session");
    assert_eq!(client.relogins(), 0);
}

#[tokio::test]
async fn a_terminated_session_is_replaced_transparently() {
    let sim = sim();
    let client = connect(&sim).await;
    let admin = connect(&sim).await;
    let session = client.user_session().await.expect("logged in");
    admin
        .terminate_sessions(std::slice::from_ref(&session.key))
        .await
        .expect("TerminateSession");
    // The next call fails with NotAuthenticated, logs in again and succeeds.
    client
        .current_time()
        .await
        .expect("CurrentTime after re-login");
    assert_eq!(client.relogins(), 1);
    let new_session = client.user_session().await.expect("logged in again");
    assert_ne!(new_session.key, session.key);
    assert!(client.session_is_active().await.expect("SessionIsActive"));
}

#[tokio::test]
async fn a_logged_out_session_logs_in_again_on_the_next_call() {
    let sim = sim();
    let client = connect(&sim).await;
    let generation = client.session_generation();
    client.logout().await.expect("Logout");
    post_user_event(&client, "after logout")
        .await
        .expect("re-login then PostEvent");
    assert_eq!(client.relogins(), 1);
    assert!(client.session_generation() > generation);
}

#[tokio::test]
async fn without_credentials_session_calls_fail_clearly() {
    let sim = sim();
    let client = Client::builder(sim.url())
        .insecure(true)
        .connect()
        .await
        .expect("RetrieveServiceContent needs no session");
    let err = client
        .current_time()
        .await
        .expect_err("vcsim wants a session");
    assert!(err.is_session_lost(), "{err:?}");
    assert!(err.to_string().contains("NotAuthenticated"), "{err}");
    assert_eq!(client.relogins(), 0);
}
