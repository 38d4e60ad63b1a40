//! The libraries choose their rustls provider per client: a program that installs none (or its
//! own) gets working TLS from vsphere-client's SOAP client and binding-env's REST client, and
//! afterwards still has no process-wide provider. This file holds one test so that nothing else
//! in its process installs a provider first.

use rustls::crypto::CryptoProvider;
use test_support::{TestPki, Vcsim};
use vsphere_client::{Client, Credentials};

#[tokio::test]
async fn tls_clients_work_without_installing_a_process_wide_provider() {
    assert!(
        CryptoProvider::get_default().is_none(),
        "nothing installed yet"
    );

    // vcsim's own self-signed certificate: `insecure`.
    let sim = Vcsim::start().expect("vcsim");
    let client = Client::builder(sim.url())
        .insecure(true)
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("SOAP over TLS (insecure)");
    assert!(!client.list_vms().await.expect("list VMs").is_empty());

    // A certificate from a private CA, verified against that CA (the platform verifier plus
    // the bundle), for SOAP and REST.
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let sim = Vcsim::builder()
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect("vcsim with a CA-signed certificate");
    let untrusted = Client::builder(sim.url())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect_err("the private CA is not trusted without the bundle");
    assert!(
        matches!(untrusted, vsphere_client::Error::Connect { .. }),
        "{untrusted}"
    );
    let verified = Client::builder(sim.url())
        .ca_bundle_pem(pki.ca_pem().as_bytes())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("SOAP over verified TLS");
    assert!(verified.current_time().await.is_ok());
    let rest = binding_env::RestClient::builder(sim.url())
        .ca_bundle_pem(pki.ca_pem().as_bytes())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("REST over verified TLS");
    rest.list_categories().await.expect("REST call");

    assert!(
        CryptoProvider::get_default().is_none(),
        "a library installed a process-wide rustls provider"
    );
}
