//! Errors: refused credentials (never echoed), Horizon's 409 and 500, bad URLs, no server.

use horizon_client::{Client, Credentials, Error};
use horizon_sim::Simulator;

use crate::client;

#[tokio::test]
async fn errors_are_clear() {
    let sim = Simulator::builder().start().await.expect("sim");
    let bad = Client::builder(&sim.url())
        .expect("url")
        .credentials(Credentials::new("corp", "administrator", "wrong").expect("creds"))
        .build()
        .expect("client");
    let e = bad.login().await.expect_err("refused");
    assert!(e.is_bad_credentials(), "{e}");
    assert!(
        !format!("{e} {bad:?}").contains("wrong"),
        "no secret in errors"
    );

    let c = client(&sim);
    c.login().await.expect("login");
    sim.fail_next_with(&[409, 500]);
    let e = c.events_between(0, 1, 10).await.expect_err("409");
    assert_eq!(
        e.to_string(),
        "HTTP conflict error: 409 (DB not initialized?)"
    );
    let e = c.events_between(0, 1, 10).await.expect_err("500");
    assert!(e.to_string().contains("500"), "{e}");

    for url in ["ftp://h", "not a url", "https://"] {
        assert!(
            matches!(Client::builder(url), Err(Error::Url { .. })),
            "{url}"
        );
    }
    let closed = Client::builder("http://127.0.0.1:9")
        .expect("url")
        .credentials(Credentials::new("d", "u", "p").expect("creds"))
        .build()
        .expect("client");
    assert!(matches!(closed.login().await, Err(Error::Transport { .. })));
}
