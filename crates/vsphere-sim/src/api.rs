//! API releases, as vCenter handles them: the release a client asks for, the documents it reads
//! to pick one, and answers written in that release.
//!
//! - A client names the release in every request, `SOAPAction: "urn:vim25/6.7"` (pyVmomi, govmomi
//!   and this project's client all do). No header, or a release this server does not serve (a
//!   newer one, or something that is not a release), gets the server's release.
//! - `GET /sdk/vimServiceVersions.xml` lists the server's release and every older one down to
//!   4.0, newest first, as vCenter 8 does; pyVmomi's `SmartConnect` picks the newest it knows
//!   from it, and `govc -vim-version -` reads its version there.
//! - `GET /sdk/vimService.wsdl` is vCenter's service document (it imports `vim.wsdl`, which this
//!   simulator does not serve).
//! - Every data object in an answer is written in the client's release ([`adapt`]): a type the
//!   release lacks is sent as its nearest ancestor the release has, and fields the release lacks
//!   are left out, so a client pinned to 6.0 never meets a 6.5 field. Releases and the release of
//!   every type and field come from the vim25 catalogue ([`vsphere_client::catalogue::Release`]).
//!   Objects of types no release has ([`crate::UNKNOWN_EVENT_TYPE`], generated only when asked
//!   for) are sent as they are.

use std::borrow::Cow;

use vsphere_client::catalogue::{Release, TypeInfo};
use vsphere_client::model::FieldName;
use vsphere_client::request::escape_text;
use vsphere_client::{DataObject, TypeRef, Value};

/// The API release the simulator serves (`ServiceContent.about.apiVersion`), vCenter 8.0 U3's.
pub const SERVER_API_VERSION: &str = "8.0.3.0";

/// The release the simulator serves.
pub fn server_release() -> Release {
    Release::from_id(SERVER_API_VERSION).unwrap_or_else(Release::newest)
}

/// The release a request asks for, from its `SOAPAction` header (`"urn:vim25/6.7"`, quotes
/// optional). A missing header, another namespace, an unknown release or one newer than the
/// server's gets the server's release.
pub fn requested(soap_action: Option<&str>, server: Release) -> Release {
    let Some(action) = soap_action else {
        return server;
    };
    let action = action.trim().trim_matches('"');
    let Some(id) = action.strip_prefix("urn:vim25/") else {
        return server;
    };
    match Release::from_id(id) {
        Some(r) if r <= server => r,
        _ => server,
    }
}

/// `/sdk/vimServiceVersions.xml`: the server's release, then the older ones it serves (down
/// to 4.0), newest first, as vCenter lists them.
pub fn service_versions_xml(server: Release) -> String {
    let mut xml = String::with_capacity(2048);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<namespaces version=\"1.0\">\n");
    xml.push_str(" <namespace>\n  <name>urn:vim25</name>\n  <version>");
    escape_text(&mut xml, server.id());
    xml.push_str("</version>\n  <priorVersions>\n");
    for r in Release::all()
        .rev()
        .filter(|r| *r < server && *r >= Release::oldest_served())
    {
        xml.push_str("   <version>");
        escape_text(&mut xml, r.id());
        xml.push_str("</version>\n");
    }
    xml.push_str("  </priorVersions>\n </namespace>\n</namespaces>\n");
    xml
}

/// `/sdk/vimService.wsdl`: vCenter's service document, with this simulator's address.
pub fn vim_service_wsdl(sdk_url: &str) -> String {
    let mut location = String::new();
    vsphere_client::request::escape_attr(&mut location, sdk_url.trim_end_matches('/'));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<definitions targetNamespace="urn:vim25Service"
   xmlns="http://schemas.xmlsoap.org/wsdl/"
   xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
   xmlns:interface="urn:vim25"
>
   <import location="vim.wsdl" namespace="urn:vim25" />
   <service name="VimService">
      <port binding="interface:VimBinding" name="VimPort">
         <soap:address location="{location}/vimService" />
      </port>
   </service>
</definitions>
"#
    )
}

/// Write `obj` in `release`, in place: types the release lacks become their nearest ancestor
/// it has; fields it lacks, and fields the catalogue does not know, are dropped. Objects of
/// unknown types (a newer vCenter's, made on purpose) are left as they are.
pub fn adapt(obj: &mut DataObject, release: Release) {
    let TypeRef::Known(ty) = obj.ty else {
        return;
    };
    let mut widened = false;
    if !ty.in_release(release)
        && let Some(base) = ty.ancestry().find(|t| t.in_release(release))
    {
        obj.ty = TypeRef::Known(base);
        obj.type_name = Cow::Borrowed(base.name());
        widened = true;
    }
    let ty: &'static TypeInfo = match obj.ty {
        TypeRef::Known(t) => t,
        TypeRef::Unknown { .. } => return,
    };
    obj.fields.retain_mut(|f| {
        let keep = match &f.name {
            FieldName::Known(info) => {
                info.in_release(release) && (!widened || ty.field(info.xml_name()).is_some())
            }
            FieldName::Unknown(_) => false,
        };
        if keep {
            adapt_value(&mut f.value, release);
        }
        keep
    });
}

fn adapt_value(value: &mut Value, release: Release) {
    match value {
        Value::Object(obj) => adapt(obj, release),
        Value::Array(items) => items.iter_mut().for_each(|v| adapt_value(v, release)),
        _ => {}
    }
}

/// The oldest release in which `obj` needs no [`adapt`]ing, or `None` when it holds a type or
/// field no release has.
pub fn needs(obj: &DataObject) -> Option<Release> {
    let TypeRef::Known(ty) = obj.ty else {
        return None;
    };
    let mut newest = ty.since();
    for f in &obj.fields {
        let FieldName::Known(info) = &f.name else {
            return None;
        };
        newest = newest.max(info.since()).max(value_needs(&f.value)?);
    }
    Some(newest)
}

fn value_needs(value: &Value) -> Option<Release> {
    let oldest = Release::all().next().unwrap_or_else(Release::newest);
    match value {
        Value::Object(obj) => needs(obj),
        Value::Array(items) => items
            .iter()
            .try_fold(oldest, |acc, v| Some(acc.max(value_needs(v)?))),
        _ => Some(oldest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Generator, TEMPLATES, UNKNOWN_EVENT_TYPE};
    use crate::inventory::Inventory;
    use std::sync::Arc;

    fn r(id: &str) -> Release {
        Release::from_id(id).unwrap()
    }

    #[test]
    fn soap_action_picks_the_release() {
        let server = server_release();
        assert_eq!(server.id(), "8.0.3.0");
        assert_eq!(requested(Some("\"urn:vim25/6.7\""), server), r("6.7"));
        assert_eq!(requested(Some("urn:vim25/7.0"), server), r("7.0.0.0"));
        assert_eq!(requested(Some("urn:vim25/8.0.3.0"), server), server);
        assert_eq!(requested(None, server), server);
        assert_eq!(requested(Some("urn:vim25/9.1.1.0"), server), server);
        assert_eq!(requested(Some("urn:vim25/-"), server), server);
        assert_eq!(requested(Some("urn:pbm/6.7"), server), server);
    }

    #[test]
    fn versions_document_lists_the_server_release_and_the_older_ones() {
        let xml = service_versions_xml(server_release());
        assert!(xml.contains("<name>urn:vim25</name>\n  <version>8.0.3.0</version>"));
        let prior: Vec<&str> = xml
            .split("<priorVersions>")
            .nth(1)
            .unwrap()
            .split("<version>")
            .skip(1)
            .map(|v| v.split('<').next().unwrap())
            .collect();
        assert_eq!(prior.first(), Some(&"8.0.2.0"));
        assert_eq!(prior.last(), Some(&"4.0"));
        for id in [
            "8.0.0.0", "7.0.3.2", "7.0.0.0", "6.9.1", "6.8.7", "6.7", "6.0", "5.5",
        ] {
            assert!(prior.contains(&id), "{id} in {prior:?}");
        }
        assert!(!prior.contains(&"8.0.3.1") && !prior.contains(&"2.5u2"));
    }

    #[test]
    fn generated_events_fit_every_release_after_adapting() {
        let g = Generator::new(Arc::new(Inventory::default()), 3).unknown_event_types(true);
        let now = jiff::Timestamp::now();
        for (i, tpl) in TEMPLATES.iter().enumerate() {
            for variant in [0u32, 7, 4242] {
                let ev = g.build(10, now, i as u16, variant);
                if tpl.type_name == UNKNOWN_EVENT_TYPE {
                    assert_eq!(needs(&ev), None);
                    let mut same = ev.clone();
                    adapt(&mut same, r("6.0"));
                    assert_eq!(same, ev, "unknown types are sent as they are");
                    continue;
                }
                // Nothing the generator makes is newer than the server's release.
                let newest = needs(&ev).expect("known types and fields");
                assert!(
                    newest <= server_release(),
                    "{} needs {newest}",
                    tpl.type_name
                );
                let mut unchanged = ev.clone();
                adapt(&mut unchanged, server_release());
                assert_eq!(unchanged, ev);
                for release in Release::all() {
                    let mut old = ev.clone();
                    adapt(&mut old, release);
                    assert!(
                        needs(&old).is_some_and(|n| n <= release),
                        "{} in {release}",
                        tpl.type_name
                    );
                    assert!(old.type_info().is_some_and(|t| t.is_a("Event")));
                }
            }
        }
    }

    #[test]
    fn adapting_widens_new_types_and_drops_new_fields() {
        let g = Generator::new(Arc::new(Inventory::default()), 3);
        let reconfigured = TEMPLATES
            .iter()
            .position(|t| t.type_name == "VmReconfiguredEvent")
            .unwrap() as u16;
        let ev = g.build(10, jiff::Timestamp::now(), reconfigured, 1);
        assert!(ev.get("configChanges").is_some());
        let mut v60 = ev.clone();
        adapt(&mut v60, r("6.0"));
        assert_eq!(v60.type_name, "VmReconfiguredEvent");
        assert!(
            v60.get("configChanges").is_none(),
            "configChanges came with 6.5"
        );
        assert!(v60.get("configSpec").is_some());
        let mut v65 = ev.clone();
        adapt(&mut v65, r("6.5"));
        assert!(v65.get("configChanges").is_some());
        // EventEx came with 4.0: a 2.5 client gets an Event.
        let ex = TEMPLATES
            .iter()
            .position(|t| t.type_name == "EventEx")
            .unwrap() as u16;
        let mut v25 = g.build(11, jiff::Timestamp::now(), ex, 1);
        adapt(&mut v25, r("2.5"));
        assert_eq!(v25.type_name, "Event");
        assert!(v25.get("eventTypeId").is_none() && v25.get("key").is_some());
    }
}
