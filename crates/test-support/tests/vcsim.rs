//! Starts the real vcsim (installed by scripts/install-test-deps.sh) and checks
//! what the helpers promise: URLs, process lifetime, and the certificate it
//! serves when given a `TestPki` one.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore};
use test_support::{TestPki, Vcsim, install_crypto_provider};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn connect(sim: &Vcsim) -> TcpStream {
    let tcp = TcpStream::connect(sim.host_port()).expect("connect to vcsim");
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp
}

/// Sends `GET /about` and returns the whole response.
fn http_get_about<S: Read + Write>(stream: &mut S, host: &str) -> String {
    write!(
        stream,
        "GET /about HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.flush().unwrap();
    let mut buf = Vec::new();
    // A peer closing without close_notify is reported as an error; what was
    // read before it is still in `buf`.
    let _ = stream.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Does a TLS handshake with vcsim trusting only `roots`, sending
/// `server_name` as SNI and checking the certificate against it. Returns the
/// connection, ready for application data, or the rustls error.
fn tls_connect(
    sim: &Vcsim,
    server_name: &str,
    roots: &[&[u8]],
) -> Result<rustls::StreamOwned<ClientConnection, TcpStream>, rustls::Error> {
    install_crypto_provider();
    let mut store = RootCertStore::empty();
    for der in roots {
        store
            .add(CertificateDer::from(der.to_vec()))
            .expect("a valid root");
    }
    let config = ClientConfig::builder()
        .with_root_certificates(store)
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_owned()).expect("a valid server name");
    let mut conn = ClientConnection::new(Arc::new(config), name)?;
    let mut tcp = connect(sim);
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(tls) => return Err(tls.clone()),
                None => panic!("TLS handshake I/O error: {e}"),
            }
        }
    }
    Ok(rustls::StreamOwned::new(conn, tcp))
}

fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn starts_with_tls_by_default_and_hides_user_info() {
    let started = Instant::now();
    let sim = Vcsim::start().expect("vcsim starts");
    eprintln!(
        "Vcsim::start() took {:?} (vcsim reported its URL after {:?})",
        started.elapsed(),
        sim.startup_time()
    );

    assert!(sim.is_tls());
    assert_eq!(sim.url(), format!("https://{}/sdk", sim.host_port()));
    assert!(!sim.url().contains('@'), "no user info in {}", sim.url());
    assert!(sim.host_port().starts_with("127.0.0.1:"));
    assert_ne!(sim.port(), 0);
    assert_eq!(sim.username(), "user");
    assert_eq!(sim.password(), "pass");
    assert!(pid_exists(sim.pid()));

    // It speaks TLS, with its own certificate, which a client trusting only
    // our CA refuses. (govmomi's built-in certificate has CA:TRUE, so webpki
    // refuses it as CaUsedAsEndEntity before it even looks for an issuer:
    // trusting vcsim's default certificate needs a thumbprint or
    // insecure verifier, not a CA bundle.)
    let other = TestPki::localhost();
    let err = tls_connect(&sim, "127.0.0.1", &[other.ca_der()]).err();
    assert!(
        matches!(err, Some(rustls::Error::InvalidCertificate(_))),
        "{err:?}"
    );
}

#[test]
fn starts_with_plain_http() {
    let sim = Vcsim::builder()
        .tls(false)
        .username("administrator@vsphere.local")
        .password("s3cret:/@")
        .start()
        .expect("vcsim starts");
    assert!(!sim.is_tls());
    assert_eq!(sim.url(), format!("http://{}/sdk", sim.host_port()));
    assert!(!sim.url().contains('@'), "no user info in {}", sim.url());
    assert_eq!(sim.username(), "administrator@vsphere.local");
    assert_eq!(sim.password(), "s3cret:/@");

    let response = http_get_about(&mut connect(&sim), sim.host_port());
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "GET /about answered {response:?}"
    );
}

#[test]
fn drop_stops_the_process() {
    let sim = Vcsim::start().expect("vcsim starts");
    let pid = sim.pid();
    let host_port = sim.host_port().to_owned();
    assert!(pid_exists(pid), "vcsim {pid} is running");
    drop(sim);
    assert!(!pid_exists(pid), "vcsim {pid} is gone after drop");
    assert!(
        TcpStream::connect(&host_port).is_err(),
        "nothing listens on {host_port} any more"
    );
}

#[test]
fn serves_a_test_pki_certificate() {
    let pki = TestPki::localhost();
    let sim = Vcsim::builder()
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect("vcsim starts with our certificate");
    assert!(sim.is_tls());

    // Trusting only our CA, both names the certificate carries verify.
    for name in ["127.0.0.1", "localhost"] {
        let mut stream = tls_connect(&sim, name, &[pki.ca_der()])
            .unwrap_or_else(|e| panic!("handshake as {name}: {e}"));
        let served = stream
            .conn
            .peer_certificates()
            .expect("a server certificate");
        assert_eq!(served[0].as_ref(), pki.cert_der(), "vcsim serves our leaf");
        let response = http_get_about(&mut stream, sim.host_port());
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "GET /about over TLS as {name} answered {response:?}"
        );
    }

    // A name the certificate does not carry is refused.
    let err = tls_connect(&sim, "vcenter.example.com", &[pki.ca_der()]).err();
    assert!(
        matches!(
            err,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );

    // Another CA does not vouch for it.
    let other = TestPki::localhost();
    let err = tls_connect(&sim, "127.0.0.1", &[other.ca_der()]).err();
    assert!(
        matches!(
            err,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
}

#[test]
fn a_certificate_for_another_name_mismatches() {
    let pki = TestPki::new(&["vcenter.invalid"]);
    let sim = Vcsim::builder()
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect("vcsim starts");
    let err = tls_connect(&sim, "127.0.0.1", &[pki.ca_der()]).err();
    assert!(
        matches!(
            err,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );
    tls_connect(&sim, "vcenter.invalid", &[pki.ca_der()]).expect("the name it carries verifies");
}

#[test]
fn startup_failure_reports_stderr() {
    let err = Vcsim::builder()
        .arg("-no-such-flag")
        .start()
        .expect_err("vcsim rejects the flag");
    assert!(
        err.message().contains("exited before reporting its URL"),
        "{err}"
    );
    assert!(err.message().contains("no-such-flag"), "{err}");
}

#[test]
fn cert_without_tls_is_an_error() {
    let pki = TestPki::localhost();
    let err = Vcsim::builder()
        .tls(false)
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect_err("contradictory settings");
    assert!(err.message().contains("TLS is disabled"), "{err}");
}
