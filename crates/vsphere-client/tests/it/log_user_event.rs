//! `LogUserEvent`, which govmomi's vcsim does not serve, against vsphere-sim.

use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::{Client, Credentials};

#[tokio::test]
async fn a_logged_user_event_is_read_back() {
    test_support::install_crypto_provider();
    let sim = vsphere_sim::Simulator::builder()
        .start()
        .await
        .expect("simulator");
    let client = Client::builder(sim.url())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .connect()
        .await
        .expect("connect");
    let root = client.service_content().root_folder.clone();
    let begin = client.current_time().await.expect("CurrentTime");
    client
        .log_user_event(&root, "maintenance <window> & more")
        .await
        .expect("LogUserEvent");
    let collector = client
        .create_event_collector(
            &EventFilterSpec::new()
                .entity(root, Recursion::All)
                .begin_time(begin)
                .event_type_ids(["GeneralUserEvent"]),
        )
        .await
        .expect("collector");
    let events = collector.read_next(100).await.expect("read");
    let logged = events
        .iter()
        .find(|e| e.object().get_str("message") == Some("maintenance <window> & more"))
        .unwrap_or_else(|| panic!("not read back: {events:?}"));
    assert_eq!(logged.type_name(), "GeneralUserEvent");
}
