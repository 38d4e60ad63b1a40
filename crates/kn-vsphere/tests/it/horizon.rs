//! `horizon auth|source`.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::harness::*;

#[test]
fn horizon_auth_and_sources() {
    let ns = namespace("kn-horizon");
    // The simulator serves from the worker thread of a runtime kept for it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = rt
        .block_on(horizon_sim::Simulator::builder().start())
        .expect("horizon simulator");
    let (url, domain, user) = (sim.url(), sim.domain(), sim.username());
    let good = kn_vsphere(&[
        "horizon",
        "auth",
        "create",
        "-n",
        &ns,
        "--name",
        "hz",
        "--domain",
        &domain,
        "-u",
        &user,
        "-p",
        &sim.password(),
        "--verify-url",
        &url,
    ]);
    assert_eq!(good.ok(), "Created Horizon credentials\n");
    let bad = kn_vsphere(&[
        "horizon",
        "auth",
        "create",
        "-n",
        &ns,
        "--name",
        "hz-bad",
        "--domain",
        &domain,
        "-u",
        &user,
        "-p",
        "wrong-password",
        "--verify-url",
        &url,
    ]);
    let message = bad.error();
    assert!(
        message.starts_with("failed to authenticate with Horizon: ")
            && !message.contains("wrong-password"),
        "{message}"
    );
    let secret = block_on(async {
        Api::<Secret>::namespaced(client().await, &ns)
            .get("hz")
            .await
            .expect("secret")
    });
    let data = secret.data.expect("data");
    assert_eq!(data["domain"].0, domain.into_bytes());
    assert_eq!(data["username"].0, user.into_bytes());
    assert!(
        block_on(async {
            Api::<Secret>::namespaced(client().await, &ns)
                .get_opt("hz-bad")
                .await
                .expect("get")
        })
        .is_none()
    );
    drop(sim);
    drop(rt);

    assert_eq!(
        kn_vsphere(&["horizon", "source", "list", "-n", &ns]).ok(),
        "No Horizon sources found.\n"
    );
    let run = kn_vsphere(&[
        "horizon",
        "source",
        "create",
        "-n",
        &ns,
        "--name",
        "hs",
        "--address",
        "https://horizon.local",
        "--secret-ref",
        "hz",
        "--sink-uri",
        "http://display.default",
        "--dead-letter-uri",
        "http://dlq.default",
    ]);
    assert_eq!(run.ok(), "Created Horizon source\n");
    let rows = table(kn_vsphere(&["horizon", "source", "ls", "-n", &ns]).ok());
    assert_eq!(
        rows[0],
        [
            "NAME",
            "HORIZON",
            "INSECURE",
            "CREDENTIALS",
            "AGE",
            "CONDITIONS",
            "READY",
            "REASON"
        ]
    );
    assert_eq!(rows[1][..4], ["hs", "https://horizon.local", "false", "hz"]);
    let text = kn_vsphere(&["horizon", "source", "describe", "-n", &ns, "hs"])
        .ok()
        .to_owned();
    for expected in [
        "Horizon:          https://horizon.local\n",
        "Credentials:      hz\n",
        "Dead-letter sink:\n  URI:",
        "http://dlq.default\n",
        "Checkpoint:\n  ConfigMap:   hs-configmap\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert_eq!(
        kn_vsphere(&["horizon", "source", "delete", "-n", &ns, "--name", "hs"]).ok(),
        "Deleted Horizon source\n"
    );
    assert_eq!(
        kn_vsphere(&["horizon", "auth", "delete", "-n", &ns, "--name", "hz"]).ok(),
        "Deleted Horizon credentials \"hz\"\n"
    );
}
