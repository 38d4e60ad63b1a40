//! Event filters against govmomi's vcsim: for each kind (entity by inventory path or reference
//! with recursion, categories, users), only the matching events come back through
//! `EventStream`; an inventory path that does not resolve is a typed error.
//!
//! Each test posts the events, then a last one that matches, and reads until that one: the
//! history is ordered, so anything the filter should have kept out would have come before it.
//! vcsim applies the entity filter itself and ignores `category` and `userName` (its
//! `eventMatches` has them as a TODO); the stream checks those on each event, which is what the
//! category and user tests show.

use std::time::Duration;

use test_support::Vcsim;
use vsphere_client::events::{
    Category, Entity, EventSelection, EventStream, Position, Recursion, Signal, Users,
};
use vsphere_client::{Client, Credentials, DataObject, Error, Event, EventClass, MoRef};

use super::common::{Kind, Server};
use super::{argument, event, event_ex, s};

/// What identifies an event here: its own `message` (GeneralUserEvent), the message posted
/// with an EventEx, else its type (vcsim rewrites the messages of the types it describes).
fn label(e: &Event) -> String {
    let message = match e.class() {
        EventClass::EventEx => e.full_formatted_message(),
        _ => e.object().get_str("message"),
    };
    message.unwrap_or_else(|| e.type_name()).to_owned()
}

/// A `GeneralUserEvent` with `message`, about `vm` or `host` when given.
fn about(message: &str, vm: Option<(&str, &MoRef)>, host: Option<(&str, &MoRef)>) -> DataObject {
    let mut e = event("GeneralUserEvent", message).with("message", s(message));
    if let Some((name, m)) = vm {
        e = e.with("vm", argument("VmEventArgument", "vm", name, m.clone()));
    }
    if let Some((name, m)) = host {
        e = e.with(
            "host",
            argument("HostEventArgument", "host", name, m.clone()),
        );
    }
    e
}

/// The labels of the events a stream with `selection` hands out from `from`, up to and
/// including the one labelled `last` (within 30 s).
async fn read_until(
    client: &Client,
    from: vsphere_client::DateTime,
    selection: EventSelection,
    last: &str,
) -> Vec<String> {
    let mut stream = EventStream::builder(client.clone(), Position::at(from))
        .select(selection)
        .idle_wait(Duration::from_secs(2))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .build();
    let mut out = Vec::new();
    let read = async {
        loop {
            for e in stream.next_page().await.events {
                let l = label(&e);
                let done = l == last;
                out.push(l);
                if done {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .is_err()
    {
        panic!("{last:?} did not arrive; got {out:?}");
    }
    stream.close().await;
    out
}

async fn vcsim() -> (Server, Client) {
    let server = Server::default(Kind::Vcsim).await;
    let client = server.connect().await;
    (server, client)
}

#[tokio::test]
async fn an_entity_by_path_or_reference_selects_the_events_at_and_below_it() {
    let (_server, client) = vcsim().await;
    let vms = client.list_vms().await.expect("VMs");
    let vm = |name: &str| {
        vms.iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("vcsim has {name}"))
            .clone()
    };
    let standalone = vm("DC0_H0_VM0");
    let clustered = vm("DC0_C0_RP0_VM0");
    let cluster_host = clustered.host.clone().expect("a host");
    assert_eq!(
        client
            .find_by_inventory_path("/DC0/vm/DC0_H0_VM0")
            .await
            .expect("resolves"),
        standalone.vm
    );
    let vm_folder = client
        .find_by_inventory_path("/DC0/vm")
        .await
        .expect("the VM folder");
    assert_eq!(vm_folder.kind, "Folder");

    let from = client.current_time().await.expect("time");
    let standalone_vm = Some(("DC0_H0_VM0", &standalone.vm));
    let clustered_vm = Some(("DC0_C0_RP0_VM0", &clustered.vm));
    let in_cluster = Some(("DC0_C0_H0", &cluster_host));
    for e in [
        about("standalone", standalone_vm, None),
        about("clustered", clustered_vm, None),
        about("cluster host", None, in_cluster),
        about("nowhere", None, None),
        about("standalone again", standalone_vm, None),
        about("cluster host again", None, in_cluster),
        about("clustered again", clustered_vm, None),
    ] {
        client.post_event(&e).await.expect("post");
    }
    let path = |p: &str| p.parse::<Entity>().expect("a path");
    let cases: [(Entity, Recursion, &[&str]); 3] = [
        // The VM alone, by path.
        (
            path("/DC0/vm/DC0_H0_VM0"),
            Recursion::SelfOnly,
            &["standalone", "standalone again"],
        ),
        // The cluster and everything in it (its hosts, the VMs of its resource pool), by path.
        (
            path("/DC0/host/DC0_C0"),
            Recursion::All,
            &[
                "clustered",
                "cluster host",
                "cluster host again",
                "clustered again",
            ],
        ),
        // The VM folder's children, by reference.
        (
            Entity::MoRef(vm_folder.clone()),
            Recursion::Children,
            &[
                "standalone",
                "clustered",
                "standalone again",
                "clustered again",
            ],
        ),
    ];
    for (entity, recursion, expected) in cases {
        let selection = EventSelection {
            entity: Some(entity.clone()),
            recursion,
            ..EventSelection::default()
        };
        let last = expected.last().expect("a last event");
        assert_eq!(
            read_until(&client, from, selection, last).await,
            expected,
            "{entity} ({recursion})"
        );
    }
}

#[tokio::test]
async fn an_inventory_path_that_does_not_resolve_is_a_typed_error() {
    let (_server, client) = vcsim().await;
    let e = client
        .find_by_inventory_path("/DC0/vm/no-such-folder")
        .await
        .expect_err("not found");
    assert!(
        matches!(&e, Error::InventoryPathNotFound { path } if path == "/DC0/vm/no-such-folder"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "inventory path \"/DC0/vm/no-such-folder\" does not name an object in vCenter: check it \
         with `govc ls /DC0/vm/no-such-folder` (paths look like /Datacenter/vm/Folder) and that \
         the user may see it"
    );
    // A stream reports it (and keeps trying: the folder may be created later).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = EventStream::builder(client.clone(), Position::at(jiff::Timestamp::now()))
        .select(EventSelection {
            entity: Some("/DC0/vm/no-such-folder".parse().expect("path")),
            ..EventSelection::default()
        })
        .backoff(Duration::from_millis(20), Duration::from_millis(100))
        .observe(move |signal| {
            if let Signal::Down { error, .. } = signal {
                let _ = tx.send(error.to_string());
            }
        })
        .build();
    let reported = tokio::select! {
        page = stream.next_page() => panic!("no events can arrive: {page:?}"),
        r = rx.recv() => r.expect("a signal"),
    };
    assert!(
        reported.starts_with("inventory path \"/DC0/vm/no-such-folder\""),
        "{reported}"
    );
}

#[tokio::test]
async fn categories_select_by_eventex_severity_and_by_the_type_descriptions() {
    let (_server, client) = vcsim().await;
    let vms = client.list_vms().await.expect("VMs");
    let vm = vms.first().expect("a VM");
    let categories = client.event_categories().await.expect("eventInfo");
    assert!(!categories.is_empty());
    let from = client.current_time().await.expect("time");
    let powered_on = event("VmPoweredOnEvent", "on")
        .with(
            "vm",
            argument("VmEventArgument", "vm", &vm.name, vm.vm.clone()),
        )
        .with("template", vsphere_client::Value::Bool(false));
    for e in [
        event_ex(&client, "an info", "com.example.info"),
        event_ex(&client, "a warning", "com.example.warning").with("severity", s("warning")),
        event_ex(&client, "an error", "com.example.error").with("severity", s("error")),
        event_ex(&client, "a user one", "com.example.user").with("severity", s("user")),
        // `info` by vCenter's (vcsim's) description of the type.
        powered_on,
        event_ex(&client, "another error", "com.example.error").with("severity", s("error")),
    ] {
        client.post_event(&e).await.expect("post");
    }
    let select = |categories: Vec<Category>| EventSelection {
        categories,
        ..EventSelection::default()
    };
    assert_eq!(
        read_until(
            &client,
            from,
            select(vec![Category::Warning, Category::Error]),
            "another error"
        )
        .await,
        ["a warning", "an error", "another error"]
    );
    assert_eq!(
        read_until(
            &client,
            from,
            select(vec![Category::Info]),
            "VmPoweredOnEvent"
        )
        .await,
        ["an info", "VmPoweredOnEvent"]
    );
}

#[tokio::test]
async fn users_select_the_events_each_user_caused() {
    // vcsim without fixed credentials: any user name logs in, and is the events' userName.
    test_support::install_crypto_provider();
    let vcsim = Vcsim::builder()
        .username("")
        .password("")
        .start()
        .expect("vcsim");
    let as_user = |name: &str| {
        Client::builder(vcsim.url())
            .insecure(true)
            .credentials(Credentials::new(name, "secret"))
            .connect()
    };
    let alice = as_user("alice").await.expect("alice");
    let bob = as_user("bob").await.expect("bob");
    let carol = as_user("carol").await.expect("carol");
    let from = alice.current_time().await.expect("time");
    for (who, message) in [
        (&alice, "alice 1"),
        (&bob, "bob 1"),
        (&carol, "carol 1"),
        (&alice, "alice 2"),
        (&bob, "bob 2"),
    ] {
        who.post_event(&about(message, None, None))
            .await
            .expect("post");
    }
    let select = |names: &[&str]| EventSelection {
        users: Some(Users {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            include_system: false,
        }),
        ..EventSelection::default()
    };
    assert_eq!(
        read_until(&carol, from, select(&["alice"]), "alice 2").await,
        ["alice 1", "alice 2"]
    );
    assert_eq!(
        read_until(&carol, from, select(&["ALICE", "bob"]), "bob 2").await,
        ["alice 1", "bob 1", "alice 2", "bob 2"]
    );
}
