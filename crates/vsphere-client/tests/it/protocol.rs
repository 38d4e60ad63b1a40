//! The client's protocol tests, each run against both govmomi's vcsim (the protocol truth) and
//! vsphere-sim (vCenter's semantics where vcsim takes shortcuts): sessions and re-login, TLS
//! trust, cookies, event history order and round trips, filters, page sizes, `latestPage`
//! waits, the response cap, the keep-alive and inventory reads; and (vcsim only, `filters`) the
//! event filters by entity, category and user.

use crate::common;

mod filters;

use std::time::Duration;

use common::{Kind, Opts, Server};
use jiff::Timestamp;
use test_support::TestPki;
use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::{Client, Credentials, DataObject, Error, Event, MoRef, Value, catalogue};

against_both!(
    logs_in_reads_the_clock_and_logs_out,
    a_wrong_password_is_a_bad_credentials_error,
    a_trailing_newline_in_the_password_is_pointed_out,
    certificates_are_verified_by_default,
    a_private_ca_bundle_is_trusted_and_a_name_mismatch_is_refused,
    plain_http_sessions_keep_their_cookie,
    a_terminated_session_is_replaced_transparently,
    a_logged_out_session_logs_in_again_on_the_next_call,
    without_credentials_session_calls_fail_clearly,
    history_reads_in_ascending_key_order_whatever_the_page_size,
    posted_events_read_back_with_every_field_intact,
    time_and_event_type_filters_select_events,
    waiting_on_latest_page_sees_a_posted_event,
    collector_calls_page_rewind_and_reset,
    a_session_terminated_mid_stream_heals_and_reading_goes_on,
    a_response_over_the_cap_is_refused,
    the_keepalive_replaces_a_lost_session_without_other_traffic,
    lists_vms_with_power_state_and_host,
);

fn obj(ty: &str) -> DataObject {
    DataObject::new(catalogue::lookup(ty).unwrap_or_else(|| panic!("no type {ty}")))
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// An event with the fields every `Event` requires.
fn event(ty: &str, message: &str) -> DataObject {
    obj(ty)
        .with("key", Value::Int(0))
        .with("chainId", Value::Int(0))
        .with("createdTime", Value::DateTime(Timestamp::now()))
        .with("userName", s("user"))
        .with("fullFormattedMessage", s(message))
}

/// A call that needs a session: post a `GeneralUserEvent`.
async fn post_user_event(client: &Client, message: &str) -> Result<(), Error> {
    let event = event("GeneralUserEvent", message).with("message", s(message));
    client.post_event(&event).await
}

/// An `EventEx` on the root folder.
fn event_ex(client: &Client, message: &str, type_id: &str) -> DataObject {
    let root = client.service_content().root_folder.clone();
    event("EventEx", message)
        .with("eventTypeId", s(type_id))
        .with("severity", s("info"))
        .with("objectId", s(&root.value))
        .with("objectType", s(&root.kind))
}

fn argument(ty: &str, field: &str, name: &str, moref: MoRef) -> Value {
    Value::Object(Box::new(
        obj(ty)
            .with("name", s(name))
            .with(field, Value::MoRef(moref)),
    ))
}

/// Read everything the collector has, in pages of `page`.
async fn drain(client: &Client, filter: &EventFilterSpec, page: i32) -> Vec<Event> {
    let collector = client
        .create_event_collector(filter)
        .await
        .expect("CreateCollectorForEvents");
    let mut out = Vec::new();
    loop {
        let events = collector.read_next(page).await.expect("ReadNextEvents");
        if events.is_empty() {
            break;
        }
        assert!(events.len() <= page as usize);
        out.extend(events);
    }
    collector.destroy().await.expect("DestroyCollector");
    out
}

fn everything(client: &Client) -> EventFilterSpec {
    EventFilterSpec::new().entity(client.service_content().root_folder.clone(), Recursion::All)
}

fn assert_ascending(events: &[Event]) {
    assert!(
        events.windows(2).all(|w| w[0].key() < w[1].key()),
        "keys not ascending: {:?}",
        events.iter().map(Event::key).collect::<Vec<_>>()
    );
}

/// Every field of `posted` but the ones the server assigns is in `read`, equal.
fn assert_fields_intact(posted: &DataObject, read: &DataObject) {
    assert_eq!(read.type_name, posted.type_name);
    for f in &posted.fields {
        let name = f.name.xml_name();
        let formatted_by_vcsim = name == "fullFormattedMessage" && read.is_a("VmEvent");
        if formatted_by_vcsim || matches!(name, "key" | "chainId" | "createdTime" | "userName") {
            continue;
        }
        let got = read
            .get(name)
            .unwrap_or_else(|| panic!("{}: field {name} missing in {read:#?}", posted.type_name));
        assert_eq!(got, &f.value, "{}.{name}", posted.type_name);
    }
}

// ---- sessions (session.rs) -------------------------------------------------------------------

async fn logs_in_reads_the_clock_and_logs_out(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    assert_eq!(client.endpoint().as_str(), server.url());
    let content = client.service_content();
    assert_eq!(content.root_folder.kind, "Folder");
    assert!(!content.about.api_version.is_empty());
    let t = client.current_time().await.expect("CurrentTime");
    let now = Timestamp::now();
    assert!(
        (now - t).get_seconds().abs() < 60,
        "server clock {t} vs {now}"
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

async fn a_wrong_password_is_a_bad_credentials_error(kind: Kind) {
    let server = Server::default(kind).await;
    let err = Client::builder(server.url())
        .insecure(true)
        .credentials(Credentials::new(server.username(), "wrong"))
        .connect()
        .await
        .expect_err("login must fail");
    assert!(err.is_bad_credentials(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("refused the login"), "{msg}");
    assert!(!msg.contains("wrong"), "the password leaked: {msg}");
}

async fn a_trailing_newline_in_the_password_is_pointed_out(kind: Kind) {
    let server = Server::default(kind).await;
    let err = Client::builder(server.url())
        .insecure(true)
        .credentials(Credentials::new(
            server.username(),
            format!("{}\n", server.password()),
        ))
        .connect()
        .await
        .expect_err("login must fail");
    assert!(err.to_string().contains("ends with a newline"), "{err}");
}

async fn certificates_are_verified_by_default(kind: Kind) {
    let server = Server::default(kind).await;
    let err = Client::builder(server.url())
        .connect()
        .await
        .expect_err("a self-signed certificate is not trusted");
    let msg = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(msg.contains("certificate"), "{msg}");
}

async fn a_private_ca_bundle_is_trusted_and_a_name_mismatch_is_refused(kind: Kind) {
    test_support::install_crypto_provider();
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let server = Server::start(
        kind,
        Opts {
            pki: Some(&pki),
            ..Opts::default()
        },
    )
    .await;
    let client = Client::builder(server.url())
        .ca_bundle_file(pki.ca_pem_path())
        .expect("CA file")
        .credentials(Credentials::new(server.username(), server.password()))
        .connect()
        .await
        .expect("trusted through the CA bundle");
    client.current_time().await.expect("CurrentTime");

    let other = TestPki::new(&["vcenter.invalid"]);
    let server2 = Server::start(
        kind,
        Opts {
            pki: Some(&other),
            ..Opts::default()
        },
    )
    .await;
    let err = Client::builder(server2.url())
        .ca_bundle_pem(other.ca_pem().as_bytes().to_vec())
        .connect()
        .await
        .expect_err("the certificate names another host");
    let msg = err.to_string();
    assert!(msg.contains("not valid for name"), "{msg}");
}

async fn plain_http_sessions_keep_their_cookie(kind: Kind) {
    let server = Server::start(
        kind,
        Opts {
            plain: true,
            ..Opts::default()
        },
    )
    .await;
    assert!(server.url().starts_with("http://"));
    let client = server.connect().await;
    assert!(client.session_is_active().await.expect("SessionIsActive"));
    post_user_event(&client, "cookie check")
        .await
        .expect("PostEvent needs the session");
    assert_eq!(client.relogins(), 0);
}

async fn a_terminated_session_is_replaced_transparently(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let admin = server.connect().await;
    let session = client.user_session().await.expect("logged in");
    admin
        .terminate_sessions(std::slice::from_ref(&session.key))
        .await
        .expect("TerminateSession");
    client
        .current_time()
        .await
        .expect("CurrentTime after re-login");
    assert_eq!(client.relogins(), 1);
    let new_session = client.user_session().await.expect("logged in again");
    assert_ne!(new_session.key, session.key);
    assert!(client.session_is_active().await.expect("SessionIsActive"));
}

async fn a_logged_out_session_logs_in_again_on_the_next_call(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let generation = client.session_generation();
    client.logout().await.expect("Logout");
    post_user_event(&client, "after logout")
        .await
        .expect("re-login then PostEvent");
    assert_eq!(client.relogins(), 1);
    assert!(client.session_generation() > generation);
}

async fn without_credentials_session_calls_fail_clearly(kind: Kind) {
    let server = Server::default(kind).await;
    let client = Client::builder(server.url())
        .insecure(true)
        .connect()
        .await
        .expect("RetrieveServiceContent needs no session");
    let err = client
        .current_time()
        .await
        .expect_err("the server wants a session");
    assert!(err.is_session_lost(), "{err:?}");
    assert!(err.to_string().contains("NotAuthenticated"), "{err}");
    assert_eq!(client.relogins(), 0);
}

// ---- event history (events.rs) ---------------------------------------------------------------

async fn history_reads_in_ascending_key_order_whatever_the_page_size(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let all = drain(&client, &everything(&client), 1000).await;
    assert!(all.len() > 10, "a starting history, got {}", all.len());
    assert_ascending(&all);
    for e in &all {
        assert!(e.created_time().is_some(), "{e:?}");
        if e.type_name() != vsphere_sim::UNKNOWN_EVENT_TYPE {
            assert!(e.is_known_type(), "{}", e.type_name());
        }
    }
    let small = drain(&client, &everything(&client), 7).await;
    let keys = |v: &[Event]| v.iter().map(Event::key).collect::<Vec<_>>();
    assert_eq!(keys(&small), keys(&all));
}

async fn posted_events_read_back_with_every_field_intact(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let vms = client.list_vms().await.expect("list VMs");
    let vm = vms.first().expect("the server has VMs").clone();
    let host = vm.host.clone().expect("VM has a host");
    let begin = client.current_time().await.expect("CurrentTime");

    let special = "quotes \" ' amp & lt < gt > tab\there\nnew line, café 日本 🚀";
    let user_event = event("GeneralUserEvent", special).with("message", s(special));
    let powered_off = event("VmPoweredOffEvent", "powered off")
        .with(
            "vm",
            argument("VmEventArgument", "vm", &vm.name, vm.vm.clone()),
        )
        .with(
            "host",
            argument(
                "HostEventArgument",
                "host",
                vm.host_name.as_deref().unwrap_or("host"),
                host.clone(),
            ),
        )
        .with("template", Value::Bool(false));

    let kav = |k: &str, v: Value| {
        Value::Object(Box::new(
            obj("KeyAnyValue").with("key", s(k)).with("value", v),
        ))
    };
    let string_array = Value::Object(Box::new(
        obj("ArrayOfString").with("string", Value::Array(vec![s("a"), s("b & c")])),
    ));
    let event_ex = event("EventEx", "custom <event>")
        .with("eventTypeId", s("com.example.custom.event"))
        .with("severity", s("warning"))
        .with("message", s("message with 'quotes'"))
        .with(
            "arguments",
            Value::Array(vec![
                kav("string", s("v1 & more")),
                kav("int", Value::Int(3)),
                kav("long", Value::Long(9_000_000_000)),
                kav("bool", Value::Bool(true)),
                kav("time", Value::DateTime(begin)),
                kav("strings", string_array),
                kav("vm", Value::MoRef(vm.vm.clone())),
            ]),
        )
        .with("objectId", s(&vm.vm.value))
        .with("objectType", s("VirtualMachine"))
        .with("objectName", s(&vm.name));

    let pair = |k: &str, v: &str| {
        Value::Object(Box::new(
            obj("ExtendedEventPair")
                .with("key", s(k))
                .with("value", s(v)),
        ))
    };
    let extended = event("ExtendedEvent", "Backup job failed")
        .with("message", s("m"))
        .with(
            "eventTypeId",
            s("com.vmware.applmgmt.backup.job.failed.event"),
        )
        .with(
            "managedObject",
            Value::MoRef(client.service_content().root_folder.clone()),
        )
        .with(
            "data",
            Value::Array(vec![pair("k", "v"), pair("reason", "disk <full>")]),
        );

    let fault = obj("InvalidState");
    let reason = obj("LocalizedMethodFault")
        .with("fault", Value::Object(Box::new(fault)))
        .with(
            "localizedMessage",
            s("The operation is not allowed in the current state."),
        );
    let failed = event("VmFailedToPowerOnEvent", "Cannot power on")
        .with(
            "vm",
            argument("VmEventArgument", "vm", &vm.name, vm.vm.clone()),
        )
        .with("template", Value::Bool(false))
        .with("reason", Value::Object(Box::new(reason)));

    let posted = [user_event, powered_off, event_ex, extended, failed];
    for e in &posted {
        client
            .post_event(e)
            .await
            .unwrap_or_else(|err| panic!("PostEvent {}: {err}", e.type_name));
    }

    let read = drain(&client, &everything(&client).begin_time(begin), 100).await;
    assert_ascending(&read);
    for p in &posted {
        let found = read
            .iter()
            .find(|e| e.type_name() == p.type_name)
            .unwrap_or_else(|| panic!("posted {} not read back; read: {read:#?}", p.type_name));
        assert_fields_intact(p, found.object());
    }
    let ex = read
        .iter()
        .find(|e| e.type_name() == "EventEx")
        .expect("EventEx");
    assert_eq!(ex.class().as_str(), "eventex");
    assert_eq!(ex.kind_name(), "com.example.custom.event");
    let xe = read
        .iter()
        .find(|e| e.type_name() == "ExtendedEvent")
        .expect("ExtendedEvent");
    assert_eq!(xe.class().as_str(), "extendedevent");
    let off = read
        .iter()
        .find(|e| e.type_name() == "VmPoweredOffEvent")
        .expect("VmPoweredOffEvent");
    assert_eq!(off.class().as_str(), "event");
    assert_eq!(
        off.entity("vm").map(|(n, m)| (n.to_owned(), m.cloned())),
        Some((vm.name.clone(), Some(vm.vm.clone())))
    );
    let user = read
        .iter()
        .find(|e| e.type_name() == "GeneralUserEvent")
        .expect("user event");
    assert_eq!(user.full_formatted_message(), Some(special));
}

async fn time_and_event_type_filters_select_events(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let before = client.current_time().await.expect("CurrentTime");
    client
        .post_event(&event_ex(&client, "first", "com.example.a"))
        .await
        .expect("post");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle = client.current_time().await.expect("CurrentTime");
    tokio::time::sleep(Duration::from_millis(20)).await;
    client
        .post_event(&event_ex(&client, "second", "com.example.b"))
        .await
        .expect("post");
    client
        .post_event(&event("GeneralUserEvent", "third").with("message", s("third")))
        .await
        .expect("post");

    let since_before = drain(&client, &everything(&client).begin_time(before), 100).await;
    let messages = |v: &[Event]| {
        v.iter()
            .filter_map(|e| e.full_formatted_message().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(messages(&since_before), ["first", "second", "third"]);

    let since_middle = drain(&client, &everything(&client).begin_time(middle), 100).await;
    assert_eq!(messages(&since_middle), ["second", "third"]);

    let only_b = drain(
        &client,
        &everything(&client)
            .begin_time(before)
            .event_type_ids(["com.example.b"]),
        100,
    )
    .await;
    assert_eq!(messages(&only_b), ["second"]);

    let by_type = drain(
        &client,
        &everything(&client)
            .begin_time(before)
            .event_type_ids(["GeneralUserEvent"]),
        100,
    )
    .await;
    assert_eq!(messages(&by_type), ["third"]);
}

async fn waiting_on_latest_page_sees_a_posted_event(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let now = client.current_time().await.expect("CurrentTime");
    let collector = client
        .create_event_collector(&everything(&client).begin_time(now))
        .await
        .expect("collector");
    assert!(collector.read_next(100).await.expect("read").is_empty());
    let mut watch = collector.watch_latest_page().await.expect("watch");
    assert!(
        !watch.wait(Duration::from_secs(1)).await.expect("idle wait"),
        "nothing posted yet"
    );

    let poster = client.clone();
    let post = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        poster
            .post_event(&event("GeneralUserEvent", "wake up").with("message", s("wake up")))
            .await
    });
    let started = std::time::Instant::now();
    assert!(
        watch.wait(Duration::from_secs(20)).await.expect("wait"),
        "latestPage changed"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "woke on the update, not the timeout"
    );
    post.await.expect("join").expect("post");
    let events = collector.read_next(100).await.expect("read");
    assert_eq!(
        events
            .iter()
            .filter_map(Event::full_formatted_message)
            .collect::<Vec<_>>(),
        ["wake up"]
    );
    watch.close().await.expect("DestroyPropertyCollector");
}

async fn collector_calls_page_rewind_and_reset(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let collector = client
        .create_event_collector(&everything(&client))
        .await
        .expect("collector");
    collector
        .set_page_size(5)
        .await
        .expect("SetCollectorPageSize");
    let first = collector.read_next(3).await.expect("read");
    assert_eq!(first.len(), 3);
    collector.rewind().await.expect("RewindCollector");
    let again = collector.read_next(3).await.expect("read after rewind");
    assert_eq!(again.len(), 3);
    assert!(again.windows(2).all(|w| w[0].key() < w[1].key()));
    assert!(
        again[0].key() <= first[1].key(),
        "rewound: {:?}",
        again.iter().map(Event::key).collect::<Vec<_>>()
    );
    if kind == Kind::Sim {
        // vCenter's rewind goes back to the very first event.
        assert_eq!(again[0].key(), first[0].key());
    }
    collector.reset().await.expect("ResetCollector");
    assert!(
        collector
            .read_next(10)
            .await
            .expect("read after reset")
            .is_empty()
    );
    let previous = collector
        .read_previous(2)
        .await
        .expect("ReadPreviousEvents");
    assert_eq!(previous.len(), 2);
    collector.destroy().await.expect("DestroyCollector");
}

async fn a_session_terminated_mid_stream_heals_and_reading_goes_on(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let admin = server.connect().await;
    let begin = client.current_time().await.expect("CurrentTime");
    let filter = everything(&client).begin_time(begin);
    let collector = client
        .create_event_collector(&filter)
        .await
        .expect("collector");
    client
        .post_event(&event("GeneralUserEvent", "one").with("message", s("one")))
        .await
        .expect("post");
    assert_eq!(collector.read_next(100).await.expect("read").len(), 1);

    let key = client.user_session().await.expect("session").key;
    admin
        .terminate_sessions(&[key])
        .await
        .expect("TerminateSession");
    admin
        .post_event(&event("GeneralUserEvent", "two").with("message", s("two")))
        .await
        .expect("post");

    let after = collector.read_next(100).await;
    assert_eq!(client.relogins(), 1, "re-logged in once");
    assert!(!collector.is_current());
    if kind == Kind::Sim {
        // The collector died with its session, as on vCenter.
        let err = after.as_ref().expect_err("the old collector is gone");
        assert!(err.fault().is_some_and(|f| f.is_object_gone()), "{err:?}");
    }
    let events = match after {
        Ok(events) if !events.is_empty() => events,
        _ => {
            let fresh = client
                .create_event_collector(&filter)
                .await
                .expect("new collector");
            fresh
                .read_next(100)
                .await
                .expect("read with the new session")
        }
    };
    let messages: Vec<_> = events
        .iter()
        .filter_map(Event::full_formatted_message)
        .collect();
    assert!(messages.contains(&"two"), "{messages:?}");
}

// ---- transport (transport.rs) ----------------------------------------------------------------

async fn a_response_over_the_cap_is_refused(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server
        .builder()
        .max_response_bytes(16384)
        .connect()
        .await
        .expect("small answers fit");
    let collector = client
        .create_event_collector(&everything(&client))
        .await
        .expect("collector");
    let err = collector
        .read_next(1000)
        .await
        .expect_err("the history is bigger than 16 KiB");
    assert!(
        matches!(err, Error::ResponseTooLarge { limit: 16384, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("16384-byte limit"), "{err}");
    // Its start is kept, bounded (an event stream salvages the event at fault from it).
    let Error::ResponseTooLarge { head, .. } = &err else {
        unreachable!()
    };
    let head = String::from_utf8_lossy(head.as_bytes());
    assert!(
        head.contains("<returnval") && head.len() <= vsphere_client::ResponseHead::LIMIT,
        "{} bytes: {}",
        head.len(),
        &head[..head.len().min(300)]
    );
}

async fn the_keepalive_replaces_a_lost_session_without_other_traffic(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server
        .builder()
        .keepalive(Some(Duration::from_millis(300)))
        .connect()
        .await
        .expect("connect");
    let admin = server.connect().await;
    let key = client.user_session().await.expect("session").key;
    admin
        .terminate_sessions(&[key])
        .await
        .expect("TerminateSession");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.relogins() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client.relogins(),
        1,
        "the keep-alive noticed and logged in again"
    );
    assert!(client.session_is_active().await.expect("SessionIsActive"));
}

async fn lists_vms_with_power_state_and_host(kind: Kind) {
    let server = Server::default(kind).await;
    let client = server.connect().await;
    let vms = client.list_vms().await.expect("list VMs");
    assert!(vms.len() >= 2, "{vms:?}");
    for vm in &vms {
        assert!(vm.name.contains("VM"), "{vm:?}");
        assert_eq!(vm.vm.kind, "VirtualMachine");
        assert!(
            ["poweredOn", "poweredOff", "suspended"].contains(&vm.power_state.as_str()),
            "{vm:?}"
        );
        assert_eq!(
            vm.host.as_ref().map(|h| h.kind.as_ref()),
            Some("HostSystem")
        );
        assert!(
            vm.host_name.as_deref().is_some_and(|h| h.contains('H')),
            "{vm:?}"
        );
    }
    assert!(vms.windows(2).all(|w| w[0].name <= w[1].name));
}
