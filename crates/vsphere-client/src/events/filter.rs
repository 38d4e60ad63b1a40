//! `EventFilterSpec`: which events a collector returns.

use crate::model::MoRef;
use crate::request::Request;
use crate::time::{DateTime, format_rfc3339_nano};

/// How far below the filter entity events are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recursion {
    /// The entity itself.
    SelfOnly,
    /// The entity and its direct children.
    Children,
    /// The entity and everything below it.
    All,
}

impl Recursion {
    fn as_str(self) -> &'static str {
        match self {
            Recursion::SelfOnly => "self",
            Recursion::Children => "children",
            Recursion::All => "all",
        }
    }
}

/// A filter for `CreateCollectorForEvents`, written in WSDL order.
///
/// ```
/// use vsphere_client::events::{EventFilterSpec, Recursion};
/// use vsphere_client::MoRef;
/// let spec = EventFilterSpec::new()
///     .entity(MoRef::new("Folder", "group-d1"), Recursion::All)
///     .event_type_ids(["VmPoweredOffEvent", "com.example.custom"]);
/// # let _ = spec;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilterSpec {
    /// Events of this entity (and below, per recursion).
    pub entity: Option<(MoRef, Recursion)>,
    /// Created at or after this time (inclusive).
    pub begin_time: Option<DateTime>,
    /// Created at or before this time.
    pub end_time: Option<DateTime>,
    /// Events caused by these users.
    pub user_names: Vec<String>,
    /// With `user_names`: also (true) or not (false) events caused by the system.
    pub system_user: Option<bool>,
    /// Events of this chain.
    pub event_chain_id: Option<i32>,
    /// Leave out `fullFormattedMessage` (smaller pages).
    pub disable_full_message: Option<bool>,
    /// Categories: `info`, `warning`, `error`, `user`.
    pub categories: Vec<String>,
    /// Event type names, e.g. `VmPoweredOffEvent`.
    pub types: Vec<String>,
    /// Event type ids (type names, or `eventTypeId`s of EventEx/ExtendedEvent).
    pub event_type_ids: Vec<String>,
    /// Most events the collector holds (vCenter's default when unset).
    pub max_count: Option<i32>,
}

impl EventFilterSpec {
    /// An empty filter: every event.
    pub fn new() -> Self {
        Self::default()
    }
    /// Filter by entity.
    pub fn entity(mut self, entity: MoRef, recursion: Recursion) -> Self {
        self.entity = Some((entity, recursion));
        self
    }
    /// Events created at or after `t`.
    pub fn begin_time(mut self, t: DateTime) -> Self {
        self.begin_time = Some(t);
        self
    }
    /// Events created at or before `t`.
    pub fn end_time(mut self, t: DateTime) -> Self {
        self.end_time = Some(t);
        self
    }
    /// Events caused by these users.
    pub fn user_names<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.user_names = names.into_iter().map(Into::into).collect();
        self
    }
    /// Include (or not) events caused by the system when filtering by user.
    pub fn system_user(mut self, include: bool) -> Self {
        self.system_user = Some(include);
        self
    }
    /// Events of one chain.
    pub fn event_chain_id(mut self, id: i32) -> Self {
        self.event_chain_id = Some(id);
        self
    }
    /// Leave out formatted messages.
    pub fn disable_full_message(mut self, disable: bool) -> Self {
        self.disable_full_message = Some(disable);
        self
    }
    /// Events of these categories.
    pub fn categories<I: IntoIterator<Item = S>, S: Into<String>>(mut self, c: I) -> Self {
        self.categories = c.into_iter().map(Into::into).collect();
        self
    }
    /// Events of these types.
    pub fn types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, t: I) -> Self {
        self.types = t.into_iter().map(Into::into).collect();
        self
    }
    /// Events with these type ids.
    pub fn event_type_ids<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.event_type_ids = ids.into_iter().map(Into::into).collect();
        self
    }
    /// Cap the number of events the collector holds.
    pub fn max_count(mut self, n: i32) -> Self {
        self.max_count = Some(n);
        self
    }

    /// Write `<filter>…</filter>` in WSDL order.
    pub(crate) fn write(&self, req: &mut Request) {
        req.open("filter");
        if let Some((entity, recursion)) = &self.entity {
            req.open("entity")
                .moref("entity", entity)
                .text("recursion", recursion.as_str())
                .close("entity");
        }
        if self.begin_time.is_some() || self.end_time.is_some() {
            req.open("time");
            if let Some(t) = self.begin_time {
                req.text("beginTime", &format_rfc3339_nano(t));
            }
            if let Some(t) = self.end_time {
                req.text("endTime", &format_rfc3339_nano(t));
            }
            req.close("time");
        }
        if !self.user_names.is_empty() || self.system_user.is_some() {
            req.open("userName");
            for u in &self.user_names {
                req.text("userList", u);
            }
            req.display("systemUser", self.system_user.unwrap_or(false));
            req.close("userName");
        }
        if let Some(id) = self.event_chain_id {
            req.display("eventChainId", id);
        }
        if let Some(d) = self.disable_full_message {
            req.display("disableFullMessage", d);
        }
        for c in &self.categories {
            req.text("category", c);
        }
        for t in &self.types {
            req.text("type", t);
        }
        for id in &self.event_type_ids {
            req.text("eventTypeId", id);
        }
        if let Some(n) = self.max_count {
            req.display("maxCount", n);
        }
        req.close("filter");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_fields_in_wsdl_order() {
        let t = crate::time::parse_xsd_datetime("2026-11-27T02:50:00.434313296Z").unwrap();
        let spec = EventFilterSpec::new()
            .max_count(5)
            .event_type_ids(["VmPoweredOffEvent"])
            .categories(["info"])
            .begin_time(t)
            .entity(MoRef::new("Folder", "group-d1"), Recursion::All);
        let mut req = Request::new(
            "CreateCollectorForEvents",
            &MoRef::new("EventManager", "EventManager"),
        );
        spec.write(&mut req);
        let xml = req.finish();
        assert!(xml.contains(concat!(
            r#"<filter><entity><entity type="Folder">group-d1</entity><recursion>all</recursion></entity>"#,
            r#"<time><beginTime>2026-11-27T02:50:00.434313296Z</beginTime></time>"#,
            r#"<category>info</category><eventTypeId>VmPoweredOffEvent</eventTypeId><maxCount>5</maxCount></filter>"#
        )), "{xml}");
    }
}
