//! binding-env against vcsim: both clients from the binding's contract, the documented errors,
//! tagging, and a REST session that survives a server-side logout.

use std::collections::HashMap;
use std::path::Path;

use binding_env::{BindingConfig, CategorySpec, Error, Flavor, ObjectId, RestClient, TagSpec};
use test_support::{TestPki, Vcsim};

struct Env {
    vars: HashMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Env {
    /// The binding's environment for `sim`, with the secret files `username` and `password`.
    fn for_sim(sim: &Vcsim, username: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("username"), username).expect("write username");
        std::fs::write(dir.path().join("password"), password).expect("write password");
        let mut vars = HashMap::new();
        vars.insert("VC_URL".to_owned(), sim.url().to_owned());
        vars.insert("VC_INSECURE".to_owned(), "true".to_owned());
        vars.insert(
            "VC_SECRET_PATH".to_owned(),
            dir.path().to_string_lossy().into_owned(),
        );
        Self { vars, _dir: dir }
    }

    fn set(mut self, k: &str, v: &str) -> Self {
        self.vars.insert(k.to_owned(), v.to_owned());
        self
    }

    fn unset(mut self, k: &str) -> Self {
        self.vars.remove(k);
        self
    }

    fn config(&self) -> Result<BindingConfig, Error> {
        BindingConfig::from_lookup(|k| self.vars.get(k).cloned())
    }
}

fn sim() -> Vcsim {
    test_support::install_crypto_provider();
    Vcsim::start().expect("vcsim starts")
}

#[tokio::test]
async fn soap_client_from_secret_files_lists_vms() {
    let sim = sim();
    let env = Env::for_sim(&sim, sim.username(), sim.password());
    let client = binding_env::connect_soap(&env.config().expect("config"))
        .await
        .expect("connect");
    let vms = client.list_vms().await.expect("list");
    assert!(!vms.is_empty());
    assert!(vms.iter().all(|v| v.host_name.is_some()));
    client.logout().await.expect("logout");
}

#[tokio::test]
async fn falls_back_to_env_credentials_when_files_are_missing() {
    let sim = sim();
    let env = Env::for_sim(&sim, "", "")
        .set("VC_SECRET_PATH", "/nonexistent/bindings/vsphere")
        .set("VC_USERNAME", sim.username())
        .set("VC_PASSWORD", sim.password());
    let config = env.config().expect("config");
    assert_eq!(
        config.password_source,
        binding_env::CredentialSource::Env("VC_PASSWORD")
    );
    binding_env::connect_soap(&config).await.expect("soap");
    binding_env::connect_rest(&config).await.expect("rest");
}

#[tokio::test]
async fn missing_url_and_missing_secret_files_are_named() {
    let sim = sim();
    let env = Env::for_sim(&sim, "u", "p").unset("VC_URL");
    let e = env.config().expect_err("no VC_URL");
    assert!(e.to_string().starts_with("VC_URL is not set"), "{e}");

    let env = Env::for_sim(&sim, "u", "p").set("VC_SECRET_PATH", "/nonexistent/bindings");
    let e = env.config().expect_err("no files");
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/bindings/username does not exist and VC_USERNAME is not set"),
        "{msg}"
    );
    assert!(msg.contains("VSphereBinding"), "{msg}");
}

#[tokio::test]
async fn wrong_password_is_refused_without_leaking_it() {
    let sim = sim();
    let env = Env::for_sim(&sim, sim.username(), "wrong-secret-value");
    let config = env.config().expect("config");
    for e in [
        binding_env::connect_soap(&config).await.expect_err("soap"),
        binding_env::connect_rest(&config).await.expect_err("rest"),
    ] {
        let msg = e.to_string();
        assert!(matches!(e, Error::LoginRefused { .. }), "{msg}");
        assert!(msg.contains("refused the"), "{msg}");
        assert!(msg.contains("password"), "{msg}");
        assert!(!msg.contains("wrong-secret-value"), "{msg}");
        assert!(!format!("{e:?}").contains("wrong-secret-value"));
        assert!(!msg.contains("newline"), "{msg}");
    }
}

#[tokio::test]
async fn trailing_newline_is_pointed_out() {
    let sim = sim();
    let env = Env::for_sim(&sim, sim.username(), &format!("{}\n", sim.password()));
    let config = env.config().expect("config");
    assert!(config.has_trailing_newline());
    for e in [
        binding_env::connect_soap(&config).await.expect_err("soap"),
        binding_env::connect_rest(&config).await.expect_err("rest"),
    ] {
        assert!(e.to_string().contains("ends with a newline"), "{e}");
    }
}

#[tokio::test]
async fn unreachable_host_names_vc_url() {
    let port = test_support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("username"), "u").expect("write");
    std::fs::write(dir.path().join("password"), "p").expect("write");
    let vars: HashMap<&str, String> = [
        ("VC_URL", format!("https://127.0.0.1:{port}")),
        ("VC_SECRET_PATH", dir.path().to_string_lossy().into_owned()),
    ]
    .into();
    let config = BindingConfig::from_lookup(|k| vars.get(k).cloned()).expect("config");
    for e in [
        binding_env::connect_soap(&config).await.expect_err("soap"),
        binding_env::connect_rest(&config).await.expect_err("rest"),
    ] {
        let msg = e.to_string();
        assert!(matches!(e, Error::Unreachable { .. }), "{msg}");
        assert!(msg.contains("cannot reach"), "{msg}");
        assert!(msg.contains("check VC_URL"), "{msg}");
    }
}

#[tokio::test]
async fn untrusted_certificate_suggests_vc_ca_bundle_and_the_bundle_works() {
    test_support::install_crypto_provider();
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let sim = Vcsim::builder()
        .cert(pki.cert_pem_path(), pki.key_pem_path())
        .start()
        .expect("vcsim");
    let env = Env::for_sim(&sim, sim.username(), sim.password()).unset("VC_INSECURE");
    let e = binding_env::connect_soap(&env.config().expect("config"))
        .await
        .expect_err("untrusted");
    assert!(e.to_string().contains("VC_CA_BUNDLE"), "{e}");

    let ca = pki.ca_pem_path().to_string_lossy().into_owned();
    let env = env.set("VC_CA_BUNDLE", &ca);
    let config = env.config().expect("config");
    binding_env::connect_soap(&config)
        .await
        .expect("soap with CA");
    binding_env::connect_rest(&config)
        .await
        .expect("rest with CA");

    let bad = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(bad.path(), "not pem").expect("write");
    let bad_env = env.set("VC_CA_BUNDLE", &bad.path().to_string_lossy());
    let e = binding_env::connect_soap(&bad_env.config().expect("config"))
        .await
        .expect_err("bad bundle");
    assert!(e.to_string().contains("VC_CA_BUNDLE"), "{e}");
    assert!(Path::new(&ca).exists());

    // The binding's spec.caCerts arrives as the PEM text in VC_CA_CERTS.
    let pem = std::fs::read_to_string(pki.ca_pem_path()).expect("ca pem");
    let env = bad_env.unset("VC_CA_BUNDLE").set("VC_CA_CERTS", &pem);
    let config = env.config().expect("config");
    binding_env::connect_soap(&config)
        .await
        .expect("soap with VC_CA_CERTS");
    binding_env::connect_rest(&config)
        .await
        .expect("rest with VC_CA_CERTS");
    let e = env
        .set("VC_CA_CERTS", "not pem")
        .config()
        .expect_err("bad VC_CA_CERTS");
    assert!(e.to_string().contains("VC_CA_CERTS"), "{e}");
    assert!(e.to_string().contains("spec.caCerts"), "{e}");
}

#[tokio::test]
async fn rest_client_picks_the_rest_api_and_tags_a_vm() {
    let sim = sim();
    let env = Env::for_sim(&sim, sim.username(), sim.password());
    let config = env.config().expect("config");
    let rest = binding_env::connect_rest(&config).await.expect("rest");
    // vcsim serves only /rest (POST /api/session is a 404 there).
    assert_eq!(rest.flavor(), Flavor::Rest);
    let info = rest.session_info().await.expect("session");
    assert_eq!(info["user"], sim.username());
    let id = rest.session_id().await.expect("session");
    assert!(!format!("{rest:?}").contains(id.expose()));
    assert!(!format!("{id:?} {id}").contains(id.expose()));

    let soap = binding_env::connect_soap(&config).await.expect("soap");
    let vm = soap.list_vms().await.expect("vms").remove(0).vm.value;

    let category_id = rest
        .create_category(&CategorySpec {
            name: "env".into(),
            description: "d".into(),
            cardinality: "MULTIPLE".into(),
            associable_types: vec!["VirtualMachine".into()],
        })
        .await
        .expect("category");
    let category = rest.get_category(&category_id).await.expect("get category");
    assert_eq!(category.name, "env");
    assert_eq!(
        rest.find_category("env").await.expect("find").map(|c| c.id),
        Some(category_id.clone())
    );
    assert!(
        rest.list_categories()
            .await
            .expect("list")
            .contains(&category_id)
    );
    let tag_id = rest
        .create_tag(&TagSpec {
            name: "prod".into(),
            description: "".into(),
            category_id: category_id.clone(),
        })
        .await
        .expect("tag");
    assert_eq!(rest.get_tag(&tag_id).await.expect("get tag").name, "prod");
    assert_eq!(
        rest.list_tags_for_category(&category_id)
            .await
            .expect("tags"),
        vec![tag_id.clone()]
    );
    assert!(rest.list_tags().await.expect("all tags").contains(&tag_id));

    let object = ObjectId::vm(&vm);
    rest.attach_tag(&tag_id, &object).await.expect("attach");
    assert_eq!(
        rest.list_attached_tags(&object).await.expect("attached"),
        vec![tag_id.clone()]
    );
    rest.detach_tag(&tag_id, &object).await.expect("detach");
    assert!(
        rest.list_attached_tags(&object)
            .await
            .expect("attached")
            .is_empty()
    );

    // Generic JSON calls.
    let raw: serde_json::Value = rest
        .get("/rest/com/vmware/cis/tagging/category")
        .await
        .expect("generic get");
    assert!(raw["value"].is_array(), "{raw}");

    rest.delete_tag(&tag_id).await.expect("delete tag");
    rest.delete_category(&category_id)
        .await
        .expect("delete category");
    assert!(rest.find_category("env").await.expect("find").is_none());

    let e = rest
        .get::<serde_json::Value>("/rest/com/vmware/cis/tagging/tag/id:nope")
        .await
        .expect_err("missing tag");
    assert!(e.status().is_some_and(|s| s >= 400), "{e}");

    rest.logout().await.expect("logout");
    assert!(rest.session_id().await.is_none());
}

#[tokio::test]
async fn rest_session_survives_a_server_side_logout() {
    let sim = sim();
    let env = Env::for_sim(&sim, sim.username(), sim.password());
    let config = env.config().expect("config");
    let rest = binding_env::connect_rest(&config).await.expect("rest");
    rest.list_categories().await.expect("first call");
    assert_eq!(rest.relogins(), 0);
    let old = rest.session_id().await.expect("session");

    // Delete the session through another client, as an administrator would.
    let other = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("http");
    let status = other
        .delete(format!("{}/rest/com/vmware/cis/session", rest.base_url()))
        .header(binding_env::SESSION_HEADER, old.expose())
        .send()
        .await
        .expect("delete session")
        .status();
    assert!(status.is_success(), "{status}");
    let probe = other
        .post(format!(
            "{}/rest/com/vmware/cis/session?~action=get",
            rest.base_url()
        ))
        .header(binding_env::SESSION_HEADER, old.expose())
        .send()
        .await
        .expect("probe");
    assert_eq!(probe.status().as_u16(), 401, "the old session is gone");

    rest.list_categories().await.expect("call after logout");
    assert_eq!(rest.relogins(), 1);
    assert_ne!(rest.session_id().await.expect("session"), old);
    rest.session_info().await.expect("keep-alive call");
    assert_eq!(rest.relogins(), 1);
}

#[tokio::test]
async fn rest_keepalive_runs_and_relogs_in() {
    let sim = sim();
    let rest = RestClient::builder(sim.url())
        .insecure(true)
        .credentials(vsphere_client::Credentials::new(
            sim.username(),
            sim.password(),
        ))
        .keepalive(Some(std::time::Duration::from_millis(200)))
        .connect()
        .await
        .expect("rest");
    let old = rest.session_id().await.expect("session");
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("http")
        .delete(format!("{}/rest/com/vmware/cis/session", rest.base_url()))
        .header(binding_env::SESSION_HEADER, old.expose())
        .send()
        .await
        .expect("delete");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rest.relogins() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "keep-alive did not log in again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn soap_session_survives_a_server_side_logout() {
    let sim = sim();
    let env = Env::for_sim(&sim, sim.username(), sim.password());
    let config = env.config().expect("config");
    let client = binding_env::connect_soap(&config).await.expect("soap");
    let key = client.user_session().await.expect("session").key;
    let other = binding_env::connect_soap(&config).await.expect("other");
    other.terminate_sessions(&[key]).await.expect("terminate");
    client.list_vms().await.expect("list after logout");
    assert_eq!(client.relogins(), 1);
}
