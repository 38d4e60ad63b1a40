//! vCenter semantics the simulator keeps where vcsim takes shortcuts, checked through
//! vsphere-client and on the wire.

use std::time::Duration;

use vsphere_client::events::{EventFilterSpec, Recursion};
use vsphere_client::request::Request;
use vsphere_client::{Client, Credentials, Error, Event, MoRef, Value};
use vsphere_sim::{MAX_COLLECTORS, Simulator};

use crate::common;

async fn sim_with(backlog: usize) -> Simulator {
    Simulator::builder()
        .backlog(backlog)
        .start()
        .await
        .expect("simulator")
}

async fn connect(sim: &Simulator) -> Client {
    Client::builder(sim.url())
        .credentials(Credentials::new(sim.username(), sim.password()))
        .keepalive(None)
        .connect()
        .await
        .expect("connect")
}

fn everything(client: &Client) -> EventFilterSpec {
    EventFilterSpec::new().entity(client.service_content().root_folder.clone(), Recursion::All)
}

async fn drain(client: &Client, filter: &EventFilterSpec) -> Vec<Event> {
    common::drain(client, filter).await
}

fn fault_type(err: &Error) -> String {
    err.fault()
        .map(|f| f.fault_type().to_owned())
        .unwrap_or_else(|| format!("not a fault: {err:?}"))
}

#[tokio::test]
async fn page_sizes_outside_1_to_1000_are_invalid_arguments() {
    let sim = sim_with(1500).await;
    let client = connect(&sim).await;
    let c = client
        .create_event_collector(&everything(&client))
        .await
        .expect("collector");
    for bad in [0, -1, 1001] {
        let err = c.read_next(bad).await.expect_err("out of range");
        assert_eq!(fault_type(&err), "InvalidArgument", "maxCount {bad}");
        let detail = err.fault().and_then(|f| f.detail.clone()).expect("detail");
        assert_eq!(detail.get_str("invalidProperty"), Some("maxCount"));
    }
    let err = c.set_page_size(1001).await.expect_err("page too big");
    assert_eq!(fault_type(&err), "InvalidArgument");
    c.set_page_size(1000).await.expect("1000 is allowed");
    assert_eq!(c.read_next(1000).await.expect("read").len(), 1000);
}

#[tokio::test]
async fn a_session_holds_at_most_32_collectors() {
    let sim = sim_with(10).await;
    let client = connect(&sim).await;
    let mut collectors = Vec::new();
    for _ in 0..MAX_COLLECTORS {
        collectors.push(
            client
                .create_event_collector(&everything(&client))
                .await
                .expect("within the limit"),
        );
    }
    let err = client
        .create_event_collector(&everything(&client))
        .await
        .expect_err("the 33rd");
    assert_eq!(fault_type(&err), "InvalidState");
    let other = connect(&sim).await;
    other
        .create_event_collector(&everything(&other))
        .await
        .expect("the limit is per session");
    collectors
        .pop()
        .expect("one")
        .destroy()
        .await
        .expect("destroy");
    client
        .create_event_collector(&everything(&client))
        .await
        .expect("room again");
}

#[tokio::test]
async fn collectors_are_bound_to_their_session() {
    let sim = sim_with(10).await;
    let a = connect(&sim).await;
    let b = connect(&sim).await;
    let collector = a
        .create_event_collector(&everything(&a))
        .await
        .expect("collector");
    let key = a.user_session().await.expect("session").key;
    assert!(
        collector
            .moref()
            .value
            .starts_with(&format!("session[{key}]")),
        "{}",
        collector.moref().value
    );
    let mut req = Request::new("ReadNextEvents", collector.moref());
    req.display("maxCount", 10);
    let err = b
        .invoke(req, None, None)
        .await
        .expect_err("another session's collector");
    assert_eq!(fault_type(&err), "ManagedObjectNotFound");
    assert_eq!(
        collector
            .read_next(10)
            .await
            .expect("its own session")
            .len(),
        10
    );
}

#[tokio::test]
async fn begin_and_end_times_are_inclusive() {
    let sim = sim_with(100).await;
    let client = connect(&sim).await;
    let all = drain(&client, &everything(&client)).await;
    let pick = &all[40];
    let t = pick.created_time().expect("time");
    let from = drain(&client, &everything(&client).begin_time(t)).await;
    assert_eq!(
        from[0].key(),
        pick.key(),
        "beginTime includes its own instant"
    );
    let exactly = drain(&client, &everything(&client).begin_time(t).end_time(t)).await;
    assert_eq!(
        exactly.iter().map(Event::key).collect::<Vec<_>>(),
        [pick.key()]
    );
}

#[tokio::test]
async fn the_history_is_append_only_with_ascending_keys() {
    let sim = sim_with(5).await;
    let client = connect(&sim).await;
    let before = drain(&client, &everything(&client)).await;
    sim.generate(7);
    let user = vsphere_client::catalogue::lookup("GeneralUserEvent").expect("type");
    let ev = vsphere_client::DataObject::new(user)
        .with("key", Value::Int(999))
        .with("chainId", Value::Int(999))
        .with("createdTime", Value::DateTime(jiff::Timestamp::now()))
        .with("userName", Value::String(String::new()))
        .with("fullFormattedMessage", Value::String("posted".into()))
        .with("message", Value::String("posted".into()));
    client.post_event(&ev).await.expect("PostEvent");
    sim.generate(3);
    let after = drain(&client, &everything(&client)).await;
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "old events never change"
    );
    let keys: Vec<i64> = after.iter().map(Event::key).collect();
    let first = keys[0];
    assert_eq!(keys, (first..first + keys.len() as i64).collect::<Vec<_>>());
    let posted = after
        .iter()
        .find(|e| e.full_formatted_message() == Some("posted"))
        .expect("posted event");
    assert_ne!(posted.key(), 999, "the server assigns the key");
    assert_eq!(posted.chain_id(), Some(posted.key()));
    assert_eq!(
        posted.user_name(),
        Some(sim.username()),
        "the session's user"
    );
}

#[tokio::test]
async fn entity_filters_select_the_entity_and_what_is_below_it() {
    let sim = sim_with(3000).await;
    let client = connect(&sim).await;
    let vms = client.list_vms().await.expect("VMs");
    assert_eq!(vms.len(), 8);
    let vm = &vms[2];
    let by_vm = drain(
        &client,
        &EventFilterSpec::new().entity(vm.vm.clone(), Recursion::SelfOnly),
    )
    .await;
    assert!(!by_vm.is_empty());
    for e in &by_vm {
        assert_eq!(
            e.entity("vm").and_then(|(_, m)| m.cloned()).as_ref(),
            Some(&vm.vm),
            "{e:?}"
        );
    }
    let host = vm.host.clone().expect("host");
    let by_host = drain(
        &client,
        &EventFilterSpec::new().entity(host.clone(), Recursion::All),
    )
    .await;
    assert!(by_host.len() > by_vm.len());
    for e in &by_host {
        assert_eq!(
            e.entity("host").and_then(|(_, m)| m.cloned()).as_ref(),
            Some(&host),
            "{e:?}"
        );
    }
    let all = drain(&client, &everything(&client)).await;
    assert!(all.len() > by_host.len());
}

#[tokio::test]
async fn type_category_user_and_chain_filters() {
    let sim = sim_with(3000).await;
    let client = connect(&sim).await;
    let vm_events = drain(&client, &everything(&client).types(["VmEvent"])).await;
    assert!(!vm_events.is_empty());
    assert!(vm_events.iter().all(|e| e.object().is_a("VmEvent")));
    let errors = drain(&client, &everything(&client).categories(["error"])).await;
    assert!(!errors.is_empty());
    let error_types = [
        "VmFailedToPowerOnEvent",
        "HostConnectionLostEvent",
        "EventEx",
        "ExtendedEvent",
    ];
    assert!(errors.iter().all(|e| error_types.contains(&e.type_name())));
    let ex = drain(
        &client,
        &everything(&client).event_type_ids(["com.vmware.vc.vm.VmStateRevertedToSnapshot"]),
    )
    .await;
    assert!(!ex.is_empty());
    assert!(
        ex.iter()
            .all(|e| e.kind_name() == "com.vmware.vc.vm.VmStateRevertedToSnapshot")
    );
    let system = drain(
        &client,
        &everything(&client)
            .user_names(Vec::<String>::new())
            .system_user(true),
    )
    .await;
    assert!(!system.is_empty());
    assert!(system.iter().all(|e| e.user_name() == Some("")));
    let one = &ex[0];
    let chain = drain(
        &client,
        &everything(&client).event_chain_id(one.chain_id().expect("chain") as i32),
    )
    .await;
    assert_eq!(
        chain.iter().map(Event::key).collect::<Vec<_>>(),
        [one.key()]
    );
    let quiet = drain(&client, &everything(&client).disable_full_message(true)).await;
    assert!(quiet.iter().all(|e| e.full_formatted_message().is_none()));
}

#[tokio::test]
async fn generated_events_are_realistic() {
    let sim = Simulator::builder()
        .backlog(3000)
        .unknown_event_types(true)
        .start()
        .await
        .expect("simulator");
    let client = connect(&sim).await;
    let vm_names: Vec<String> = client
        .list_vms()
        .await
        .expect("VMs")
        .into_iter()
        .map(|v| v.name)
        .collect();
    let all = drain(&client, &everything(&client)).await;
    let find = |ty: &str| {
        all.iter()
            .find(|e| e.type_name() == ty)
            .unwrap_or_else(|| panic!("no {ty} in the backlog"))
    };
    let created = find("VmBeingCreatedEvent").object();
    let spec = created.get_object("configSpec").expect("configSpec");
    assert_eq!(spec.type_name, "VirtualMachineConfigSpec");
    let devices: Vec<&str> = spec
        .get("deviceChange")
        .map(Value::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.as_object()?.get_object("device"))
        .map(|d| d.type_name.as_ref())
        .collect();
    assert_eq!(devices, ["ParaVirtualSCSIController", "VirtualVmxnet3"]);
    let failed = find("VmFailedToPowerOnEvent").object();
    let fault = failed
        .get_object("reason")
        .and_then(|r| r.get_object("fault"))
        .expect("reason.fault");
    assert_eq!(fault.type_name, "InsufficientMemoryResourcesFault");
    let ex = all
        .iter()
        .find(|e| e.kind_name() == "com.vmware.vc.vm.VmStateRevertedToSnapshot")
        .expect("EventEx");
    let args = ex.object().get("arguments").expect("arguments").items();
    let values: Vec<&Value> = args
        .iter()
        .filter_map(|a| a.as_object()?.get("value"))
        .collect();
    assert!(values.iter().any(|v| matches!(v, Value::Int(_))));
    assert!(values.iter().any(|v| matches!(v, Value::Long(_))));
    assert!(values.iter().any(|v| matches!(v, Value::Bool(_))));
    assert!(values.iter().any(|v| matches!(v, Value::DateTime(_))));
    assert!(values.iter().any(|v| matches!(v, Value::MoRef(_))));
    assert!(values.iter().any(|v| matches!(v, Value::Object(_))));
    let unknown = find(vsphere_sim::UNKNOWN_EVENT_TYPE);
    assert!(!unknown.is_known_type());
    assert!(unknown.object().get("featureLevel").is_some());
    assert!(
        unknown.entity("vm").is_some(),
        "decoded as the VmEvent it extends"
    );
    for e in &all {
        if let Some((name, _)) = e.entity("vm") {
            assert!(vm_names.iter().any(|n| n == name), "{name}");
        }
    }
}

#[tokio::test]
async fn events_at_a_rate_wake_a_latest_page_watch() {
    let sim = Simulator::builder()
        .rate(40.0)
        .start()
        .await
        .expect("simulator");
    let client = connect(&sim).await;
    let now = client.current_time().await.expect("CurrentTime");
    let collector = client
        .create_event_collector(&everything(&client).begin_time(now))
        .await
        .expect("collector");
    let mut watch = collector.watch_latest_page().await.expect("watch");
    assert!(watch.wait(Duration::from_secs(5)).await.expect("wait"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = collector.read_next(1000).await.expect("read");
    assert!(events.len() >= 5, "{} events", events.len());
    assert!(events.windows(2).all(|w| w[0].key() < w[1].key()));
    sim.set_rate(0.0);
    watch.close().await.expect("close");
}

#[tokio::test]
async fn logins_and_logouts_are_recorded() {
    let sim = sim_with(0).await;
    let first = connect(&sim).await;
    first.logout().await.expect("Logout");
    let client = connect(&sim).await;
    let all = drain(&client, &everything(&client)).await;
    let types: Vec<&str> = all.iter().map(Event::type_name).collect();
    assert_eq!(
        types,
        [
            "UserLoginSessionEvent",
            "UserLogoutSessionEvent",
            "UserLoginSessionEvent"
        ]
    );
    assert!(all.iter().all(|e| e.user_name() == Some(sim.username())));
}

#[tokio::test]
async fn read_previous_walks_back_from_the_position() {
    let sim = Simulator::builder()
        .backlog(30)
        .login_events(false)
        .start()
        .await
        .expect("simulator");
    let client = connect(&sim).await;
    let c = client
        .create_event_collector(&everything(&client))
        .await
        .expect("collector");
    let next = c.read_next(20).await.expect("next");
    let prev = c.read_previous(5).await.expect("previous");
    let keys: Vec<i64> = prev.iter().map(Event::key).collect();
    assert_eq!(
        keys,
        [20, 19, 18, 17, 16],
        "newest first, as vCenter and vcsim"
    );
    assert_eq!(next.last().map(Event::key), Some(20));
    let again = c.read_next(3).await.expect("next again");
    assert_eq!(
        again.iter().map(Event::key).collect::<Vec<_>>(),
        [16, 17, 18]
    );
}

#[tokio::test]
async fn the_inventory_reads_like_vcenters() {
    let sim = sim_with(0).await;
    let client = connect(&sim).await;
    let hosts = client
        .retrieve_all("HostSystem", &["name", "runtime.connectionState"])
        .await
        .expect("hosts");
    assert_eq!(hosts.len(), 3);
    assert!(
        hosts
            .iter()
            .all(|h| h.get_str("runtime.connectionState") == Some("connected"))
    );
    let vms = client.list_vms().await.expect("VMs");
    assert!(vms.iter().any(|v| v.power_state == "poweredOff"));
    assert!(vms.iter().any(|v| v.power_state == "poweredOn"));
    let content = client.service_content();
    assert_eq!(content.about.api_type, "VirtualCenter");
    assert_eq!(content.root_folder, MoRef::new("Folder", "group-d1"));
}

// ---- on the wire ----------------------------------------------------------------------------

/// POST a raw SOAP body; returns the status line, headers and body.
async fn raw_post(sim: &Simulator, cookie: Option<&str>, body: &str) -> (String, String, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: vmware_soap_session={c}\r\n"))
        .unwrap_or_default();
    let headers = format!(
        "Content-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: urn:vim25/8.0.3.0\r\n{cookie}"
    );
    common::http(sim.addr(), "POST", "/sdk", &headers, body).await
}

fn envelope(method: &'static str, this: &MoRef, params: &str) -> String {
    let req = Request::new(method, this);
    let xml = req.finish();
    xml.replacen(&format!("</{method}>"), &format!("{params}</{method}>"), 1)
}

#[tokio::test]
async fn not_authenticated_is_written_as_vcenter_writes_it() {
    let sim = sim_with(0).await;
    let si = MoRef::new("ServiceInstance", "ServiceInstance");
    let (status, headers, body) = raw_post(&sim, None, &envelope("CurrentTime", &si, "")).await;
    assert!(status.contains(" 500 "), "{status}");
    assert!(
        headers.to_lowercase().contains("content-type: text/xml"),
        "{headers}"
    );
    assert!(
        body.contains("<soapenv:Fault><faultcode>ServerFaultCode</faultcode>"),
        "{body}"
    );
    assert!(
        body.contains(concat!(
            r#"<detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated">"#,
            r#"<object type="ServiceInstance">ServiceInstance</object>"#,
            r#"<privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail>"#
        )),
        "{body}"
    );
}

#[tokio::test]
async fn login_sets_the_session_cookie() {
    let sim = sim_with(0).await;
    let sm = MoRef::new("SessionManager", "SessionManager");
    let params = format!(
        "<userName>{}</userName><password>{}</password><locale>en_US</locale>",
        sim.username(),
        sim.password()
    );
    let (status, headers, body) = raw_post(&sim, None, &envelope("Login", &sm, &params)).await;
    assert!(status.contains(" 200 "), "{status} {body}");
    let line = headers
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .expect("Set-Cookie");
    let value = line.split_once(':').expect("header").1.trim();
    assert!(value.starts_with("vmware_soap_session=\""), "{value}");
    assert!(value.contains("; Path=/; HttpOnly"), "{value}");
    let quoted = value
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("value");
    let bare = quoted.trim_matches('"').to_owned();
    let si = MoRef::new("ServiceInstance", "ServiceInstance");
    for cookie in [quoted.as_str(), bare.as_str()] {
        let (status, _, body) =
            raw_post(&sim, Some(cookie), &envelope("CurrentTime", &si, "")).await;
        assert!(status.contains(" 200 "), "{cookie}: {status} {body}");
        assert!(
            body.contains("<CurrentTimeResponse xmlns=\"urn:vim25\"><returnval>"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn log_user_event_records_a_user_event_on_the_entity() {
    let sim = Simulator::builder()
        .login_events(false)
        .start()
        .await
        .expect("simulator");
    let client = connect(&sim).await;
    let vm = client.list_vms().await.expect("VMs").remove(0);
    client
        .log_user_event(&vm.vm, "patched & rebooted")
        .await
        .expect("LogUserEvent");
    let on_vm = drain(
        &client,
        &EventFilterSpec::new().entity(vm.vm.clone(), Recursion::SelfOnly),
    )
    .await;
    assert_eq!(on_vm.len(), 1);
    let e = &on_vm[0];
    assert_eq!(e.type_name(), "GeneralUserEvent");
    assert_eq!(e.object().get_str("message"), Some("patched & rebooted"));
    assert_eq!(
        e.entity("entity").and_then(|(_, m)| m.cloned()),
        Some(vm.vm)
    );
}

#[tokio::test]
async fn keys_are_xsd_int_and_wrap_past_i32_max() {
    let sim = Simulator::builder()
        .first_key(i64::from(i32::MAX) - 2)
        .backlog(5)
        .login_events(false)
        .start()
        .await
        .expect("simulator");
    let client = connect(&sim).await;
    let all = drain(&client, &everything(&client)).await;
    let keys: Vec<i64> = all.iter().map(Event::key).collect();
    let max = i64::from(i32::MAX);
    let min = i64::from(i32::MIN);
    assert_eq!(
        keys,
        [max - 2, max - 1, max, min, min + 1],
        "history order, keys wrapped"
    );
}

#[tokio::test]
async fn anonymous_sessions_are_bounded() {
    let sim = sim_with(0).await;
    let si = MoRef::new("ServiceInstance", "ServiceInstance");
    let body = envelope("RetrieveServiceContent", &si, "");
    for _ in 0..1100 {
        let (status, headers, _) = raw_post(&sim, None, &body).await;
        assert!(status.contains(" 200 "));
        assert!(
            headers
                .to_lowercase()
                .contains("set-cookie: vmware_soap_session=")
        );
    }
    assert_eq!(sim.session_count(), 1000);
    let client = connect(&sim).await;
    client.current_time().await.expect("logging in still works");
}
