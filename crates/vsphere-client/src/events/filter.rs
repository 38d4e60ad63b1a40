//! `EventFilterSpec`: which events a collector returns, and the typed values it takes
//! ([`Category`], [`Recursion`]).

use std::fmt;
use std::str::FromStr;

use crate::model::MoRef;
use crate::request::Request;
use crate::time::{DateTime, format_rfc3339_nano};

/// A filter value that does not parse (a category, a recursion, an entity): what was given and
/// what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterValueError {
    /// Not one of vCenter's event categories.
    #[error("unknown event category {0:?}: use info, warning, error or user")]
    Category(String),
    /// Not one of vCenter's recursion options.
    #[error("unknown recursion {0:?}: use self, children or all")]
    Recursion(String),
    /// Neither an inventory path nor a managed object reference.
    #[error(
        "{0:?} is not an entity: use an inventory path such as /Datacenter/vm/Folder (as `govc ls` \
         prints them) or a managed object reference such as Folder:group-v3"
    )]
    Entity(String),
}

/// `as_str` (vCenter's word), `Display` and `FromStr` (a [`FilterValueError`]) for an enum of
/// vCenter's words.
macro_rules! vcenter_words {
    ($ty:ident, $error:ident, $what:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            #[doc = concat!("vCenter's word for the ", $what, ".")]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = FilterValueError;

            fn from_str(s: &str) -> Result<Self, FilterValueError> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    other => Err(FilterValueError::$error(other.to_owned())),
                }
            }
        }
    };
}

/// How far below the filter entity events are collected (`EventFilterSpecRecursionOption`).
///
/// It parses from and prints as vCenter's words: `self`, `children`, `all` (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Recursion {
    /// The entity itself.
    SelfOnly,
    /// The entity and its direct children.
    Children,
    /// The entity and everything below it.
    #[default]
    All,
}

vcenter_words!(Recursion, Recursion, "recursion", {
    SelfOnly => "self",
    Children => "children",
    All => "all",
});

/// An event category (`EventEventSeverity`): what `EventFilterSpec.category` selects, the
/// `severity` of an `EventEx`, and the category `EventManager.description.eventInfo` gives each
/// event type.
///
/// It parses from and prints as vCenter's words: `info`, `warning`, `error`, `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `user`: events users logged (e.g. `GeneralUserEvent`).
    User,
}

vcenter_words!(Category, Category, "category", {
    Info => "info",
    Warning => "warning",
    Error => "error",
    User => "user",
});

impl From<Category> for String {
    fn from(c: Category) -> String {
        c.as_str().to_owned()
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
    /// Categories: `info`, `warning`, `error`, `user` (see [`Category`]).
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
    /// Events caused by these users (with [`EventFilterSpec::system_user`]: and, or not, by
    /// vCenter itself, whose events have no user name).
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
    /// Events of these categories ([`Category`] values, or vCenter's words).
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
    fn categories_and_recursions_parse_from_vcenters_words() {
        for c in [
            Category::Info,
            Category::Warning,
            Category::Error,
            Category::User,
        ] {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        for r in [Recursion::SelfOnly, Recursion::Children, Recursion::All] {
            assert_eq!(r.to_string().parse::<Recursion>(), Ok(r));
        }
        assert_eq!(
            "Warning".parse::<Category>().unwrap_err().to_string(),
            "unknown event category \"Warning\": use info, warning, error or user"
        );
        assert_eq!(
            "below".parse::<Recursion>().unwrap_err().to_string(),
            "unknown recursion \"below\": use self, children or all"
        );
        assert_eq!(Recursion::default(), Recursion::All);
    }

    /// The `CreateCollectorForEvents` request `spec` is written into.
    fn request_xml(spec: &EventFilterSpec) -> String {
        let mut req = Request::new(
            "CreateCollectorForEvents",
            &MoRef::new("EventManager", "EventManager"),
        );
        spec.write(&mut req);
        req.finish()
    }

    #[test]
    fn users_and_system_users_are_written_together() {
        let spec = EventFilterSpec::new()
            .user_names(["VSPHERE.LOCAL\\alice", "bob"])
            .system_user(true)
            .categories([Category::Warning, Category::Error]);
        let xml = request_xml(&spec);
        assert!(xml.contains(concat!(
            r#"<filter><userName><userList>VSPHERE.LOCAL\alice</userList><userList>bob</userList>"#,
            r#"<systemUser>true</systemUser></userName><category>warning</category><category>error</category></filter>"#
        )), "{xml}");
    }

    #[test]
    fn writes_fields_in_wsdl_order() {
        let t = crate::time::parse_xsd_datetime("2026-11-27T02:50:00.434313296Z").unwrap();
        let spec = EventFilterSpec::new()
            .max_count(5)
            .event_type_ids(["VmPoweredOffEvent"])
            .categories(["info"])
            .begin_time(t)
            .entity(MoRef::new("Folder", "group-d1"), Recursion::All);
        let xml = request_xml(&spec);
        assert!(xml.contains(concat!(
            r#"<filter><entity><entity type="Folder">group-d1</entity><recursion>all</recursion></entity>"#,
            r#"<time><beginTime>2026-11-27T02:50:00.434313296Z</beginTime></time>"#,
            r#"<category>info</category><eventTypeId>VmPoweredOffEvent</eventTypeId><maxCount>5</maxCount></filter>"#
        )), "{xml}");
    }
}
