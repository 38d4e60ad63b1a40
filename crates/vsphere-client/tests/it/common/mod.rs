//! A vCenter to test against: govmomi's vcsim (the protocol truth) or vsphere-sim, behind one
//! interface, so the same protocol test bodies run against both.

use test_support::{TestPki, Vcsim};
use vsphere_client::{Client, ClientBuilder, Credentials};
use vsphere_sim::{Simulator, Tls};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vcsim,
    Sim,
}

/// How to start it.
#[derive(Default)]
pub struct Opts<'a> {
    /// Plain HTTP instead of HTTPS.
    pub plain: bool,
    /// Serve this PKI's certificate.
    pub pki: Option<&'a TestPki>,
}

/// A running server.
pub enum Server {
    Vcsim(Vcsim),
    Sim(Simulator),
}

impl Server {
    pub async fn start(kind: Kind, opts: Opts<'_>) -> Self {
        test_support::install_crypto_provider();
        match kind {
            Kind::Vcsim => {
                let mut b = Vcsim::builder().tls(!opts.plain);
                if let Some(pki) = opts.pki {
                    b = b.cert(pki.cert_pem_path(), pki.key_pem_path());
                }
                Server::Vcsim(b.start().expect("vcsim starts"))
            }
            Kind::Sim => {
                let tls = match (opts.plain, opts.pki) {
                    (true, _) => Tls::Off,
                    (false, Some(pki)) => Tls::Pem {
                        cert_pem: pki.cert_pem().to_owned(),
                        key_pem: pki.key_pem().to_owned(),
                    },
                    (false, None) => Tls::SelfSigned(Vec::new()),
                };
                // A small history, like vcsim's inventory creation leaves.
                let sim = Simulator::builder()
                    .tls(tls)
                    .backlog(60)
                    .start()
                    .await
                    .expect("vsphere-sim starts");
                Server::Sim(sim)
            }
        }
    }

    pub async fn default(kind: Kind) -> Self {
        Self::start(kind, Opts::default()).await
    }

    pub fn url(&self) -> &str {
        match self {
            Server::Vcsim(v) => v.url(),
            Server::Sim(s) => s.url(),
        }
    }

    pub fn username(&self) -> &str {
        match self {
            Server::Vcsim(v) => v.username(),
            Server::Sim(s) => s.username(),
        }
    }

    pub fn password(&self) -> &str {
        match self {
            Server::Vcsim(v) => v.password(),
            Server::Sim(s) => s.password(),
        }
    }

    /// A client builder with the server's credentials, trusting its self-signed certificate.
    pub fn builder(&self) -> ClientBuilder {
        Client::builder(self.url())
            .insecure(true)
            .credentials(Credentials::new(self.username(), self.password()))
    }

    pub async fn connect(&self) -> Client {
        self.builder().connect().await.expect("connect and login")
    }
}

/// Instantiate each `async fn name(kind: Kind)` test body once per server: `vcsim::name` and
/// `sim::name`.
#[macro_export]
macro_rules! against_both {
    ($($name:ident),* $(,)?) => {
        mod vcsim {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::common::Kind::Vcsim).await
                }
            )*
        }
        mod sim {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::common::Kind::Sim).await
                }
            )*
        }
    };
}
