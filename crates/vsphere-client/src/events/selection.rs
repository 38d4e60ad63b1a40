//! [`EventSelection`]: which events an [`EventStream`](crate::events::EventStream) reads, in
//! the terms people use (an inventory path, categories, user names), turned into vCenter's
//! `EventFilterSpec`; and the calls it needs: resolving an inventory path
//! ([`Client::find_by_inventory_path`]) and the category of each event type
//! ([`Client::event_categories`]).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use tracing::debug;

use crate::catalogue::Kind;
use crate::client::Client;
use crate::error::Error;
use crate::events::filter::{Category, EventFilterSpec, FilterValueError, Recursion};
use crate::model::{Event, EventClass, MoRef, Value};
use crate::request::Request;

/// The entity whose events are read: a managed object reference, or an inventory path that
/// vCenter's `SearchIndex.FindByInventoryPath` resolves when the collector is created.
///
/// It parses from text: a path starts with `/` (`/Datacenter/vm/Folder`, as `govc ls` prints
/// it), a reference is `Type:value` (`Folder:group-v3`, `VirtualMachine:vm-42`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entity {
    /// This managed object.
    MoRef(MoRef),
    /// The object at this inventory path.
    InventoryPath(String),
}

impl FromStr for Entity {
    type Err = FilterValueError;

    fn from_str(s: &str) -> Result<Self, FilterValueError> {
        let bad = || FilterValueError::Entity(s.to_owned());
        if s.starts_with('/') {
            return Ok(Entity::InventoryPath(s.to_owned()));
        }
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        let word = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !word(kind) || !word(value) || !kind.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(bad());
        }
        Ok(Entity::MoRef(MoRef::new(kind, value)))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entity::MoRef(m) => write!(f, "{}:{}", m.kind, m.value),
            Entity::InventoryPath(p) => f.write_str(p),
        }
    }
}

/// Events caused by these users, and (or not) those vCenter caused itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    /// User names as vCenter records them in `userName`, e.g. `VSPHERE.LOCAL\alice`.
    pub names: Vec<String>,
    /// Also the events without a user name (vCenter's own: alarms, DRS, tasks it runs).
    pub include_system: bool,
}

/// Which events a stream reads, besides their time: the parts of vCenter's `EventFilterSpec`
/// people filter on. Empty (the default) means every event.
///
/// vCenter's collector applies all of it. The stream checks each event again against the
/// categories and users (an event's category from its `severity` for `EventEx`, else from
/// `EventManager.description.eventInfo`; an event whose category cannot be told is kept), so a
/// server that ignores those parts of the filter (govmomi's vcsim does) still hands out only
/// matching events.
///
/// ```
/// use vsphere_client::events::{Category, Entity, EventSelection, Recursion, Users};
///
/// let selection = EventSelection {
///     entity: Some("/Datacenter/vm/Production".parse().unwrap()),
///     recursion: Recursion::All,
///     categories: vec![Category::Warning, Category::Error],
///     users: Some(Users { names: vec!["VSPHERE.LOCAL\\svc-deploy".into()], include_system: true }),
///     event_types: vec![],
/// };
/// assert_eq!(
///     selection.entity,
///     Some(Entity::InventoryPath("/Datacenter/vm/Production".into()))
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSelection {
    /// Events of this entity (default: the root folder, that is every event).
    pub entity: Option<Entity>,
    /// How far below the entity (default: all).
    pub recursion: Recursion,
    /// Only these categories (empty: all).
    pub categories: Vec<Category>,
    /// Only events caused by these users (`None`: anyone's).
    pub users: Option<Users>,
    /// Only these event type names or `eventTypeId`s (empty: all).
    pub event_types: Vec<String>,
}

impl EventSelection {
    /// The `EventFilterSpec` for a collector on `entity` (the resolved [`EventSelection::entity`],
    /// or the root folder), without a time range.
    pub fn filter_spec(&self, entity: MoRef) -> EventFilterSpec {
        let mut spec = EventFilterSpec::new()
            .entity(entity, self.recursion)
            .categories(self.categories.iter().copied())
            .event_type_ids(self.event_types.iter().cloned());
        if let Some(users) = &self.users {
            spec = spec
                .user_names(users.names.iter().cloned())
                .system_user(users.include_system);
        }
        spec
    }

    /// Whether `event` passes the categories and users (the parts checked again on each event;
    /// the entity, types and time are vCenter's alone).
    pub fn admits(&self, event: &Event, categories: &EventCategories) -> bool {
        self.admits_category(event, categories) && self.admits_user(event)
    }

    fn admits_category(&self, event: &Event, categories: &EventCategories) -> bool {
        if self.categories.is_empty() {
            return true;
        }
        match categories.of(event) {
            Some(c) => self.categories.contains(&c),
            // Unknown to this client: vCenter applied the filter, keep it.
            None => true,
        }
    }

    fn admits_user(&self, event: &Event) -> bool {
        let Some(users) = &self.users else {
            return true;
        };
        match event.user_name().map(str::trim).filter(|n| !n.is_empty()) {
            None => users.include_system,
            Some(name) => users.names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// The category of each event type, from `EventManager.description.eventInfo` (see
/// [`Client::event_categories`]); `EventEx` events carry their own (`severity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCategories {
    by_type: HashMap<String, Category>,
}

impl EventCategories {
    /// A table from (event type or `eventTypeId`, category) pairs.
    pub fn new(entries: impl IntoIterator<Item = (String, Category)>) -> Self {
        Self {
            by_type: entries.into_iter().collect(),
        }
    }

    /// The category of `event`: an `EventEx`'s `severity`, else its type's (by `eventTypeId`
    /// for `ExtendedEvent`, type name for the rest); `None` when unknown.
    pub fn of(&self, event: &Event) -> Option<Category> {
        if event.class() == EventClass::EventEx
            && let Some(c) = event
                .object()
                .get_str("severity")
                .and_then(|s| s.parse().ok())
        {
            return Some(c);
        }
        self.by_type.get(event.kind_name()).copied()
    }

    /// How many event types the table knows.
    pub fn len(&self) -> usize {
        self.by_type.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
}

impl Client {
    /// `SearchIndex.FindByInventoryPath`: the object at `path` (e.g. `/Datacenter/vm/Folder`, as
    /// `govc ls` prints paths), or [`Error::InventoryPathNotFound`].
    pub async fn find_by_inventory_path(&self, path: &str) -> Result<MoRef, Error> {
        let method = "FindByInventoryPath";
        let search_index = self
            .service_content()
            .raw
            .get("searchIndex")
            .and_then(Value::as_moref)
            .cloned()
            .ok_or(Error::Unexpected {
                method,
                detail: "the server has no SearchIndex".into(),
            })?;
        let mut req = Request::new(method, &search_index);
        req.text("inventoryPath", path);
        match self
            .invoke(req, Some(Kind::MoRef), None)
            .await?
            .into_iter()
            .next()
        {
            Some(Value::MoRef(m)) => {
                debug!(path, entity = %m.value, "resolved inventory path");
                Ok(m)
            }
            None => Err(Error::InventoryPathNotFound {
                path: path.to_owned(),
            }),
            Some(other) => Err(Error::Unexpected {
                method,
                detail: format!("expected a managed object reference, got {other:?}"),
            }),
        }
    }

    /// The managed object an [`Entity`] names (a path is looked up, a reference is taken as is).
    pub async fn resolve_entity(&self, entity: &Entity) -> Result<MoRef, Error> {
        match entity {
            Entity::MoRef(m) => Ok(m.clone()),
            Entity::InventoryPath(p) => self.find_by_inventory_path(p).await,
        }
    }

    /// The category of every event type vCenter describes (`EventManager.description.eventInfo`).
    pub async fn event_categories(&self) -> Result<EventCategories, Error> {
        let method = "RetrievePropertiesEx";
        let manager = self
            .service_content()
            .event_manager
            .clone()
            .ok_or(Error::Unexpected {
                method,
                detail: "the server has no EventManager".into(),
            })?;
        let props = self
            .retrieve_properties(&manager, &["description.eventInfo"])
            .await?;
        let entries = props
            .properties
            .get("description.eventInfo")
            .map(|v| match v {
                // An `ArrayOf…` wrapper, or the items themselves.
                Value::Object(o) if o.type_name.starts_with("ArrayOf") => o
                    .fields
                    .first()
                    .map(|f| f.value.items().to_vec())
                    .unwrap_or_default(),
                other => other.items().to_vec(),
            })
            .unwrap_or_default();
        Ok(EventCategories::new(entries.iter().filter_map(|detail| {
            let d = detail.as_object()?;
            Some((
                d.get_str("key")?.to_owned(),
                d.get_str("category")?.parse().ok()?,
            ))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use crate::model::DataObject;

    fn event(ty: &str, user: Option<&str>, severity: Option<&str>) -> Event {
        let mut o =
            DataObject::new(catalogue::lookup(ty).expect("type")).with("key", Value::Int(1));
        if let Some(u) = user {
            o = o.with("userName", Value::String(u.into()));
        }
        if let Some(s) = severity {
            o = o
                .with("severity", Value::String(s.into()))
                .with("eventTypeId", Value::String("com.example.x".into()));
        }
        Event::from_object(o).expect("an event")
    }

    #[test]
    fn entities_parse_from_paths_and_references() {
        assert_eq!(
            "/DC0/vm/Folder 1".parse::<Entity>(),
            Ok(Entity::InventoryPath("/DC0/vm/Folder 1".into()))
        );
        assert_eq!(
            "VirtualMachine:vm-42".parse::<Entity>(),
            Ok(Entity::MoRef(MoRef::new("VirtualMachine", "vm-42")))
        );
        for bad in ["DC0/vm", "vm-42", "Folder:", "folder:group-d1", ""] {
            let e = bad.parse::<Entity>().expect_err(bad);
            assert!(
                e.to_string()
                    .contains("inventory path such as /Datacenter/vm/Folder"),
                "{e}"
            );
        }
        assert_eq!(
            Entity::MoRef(MoRef::new("Folder", "group-d1")).to_string(),
            "Folder:group-d1"
        );
    }

    #[test]
    fn the_spec_carries_every_part() {
        let sel = EventSelection {
            entity: None,
            recursion: Recursion::Children,
            categories: vec![Category::Error],
            users: Some(Users {
                names: vec!["alice".into()],
                include_system: false,
            }),
            event_types: vec!["VmPoweredOnEvent".into()],
        };
        let spec = sel.filter_spec(MoRef::new("Folder", "group-v3"));
        assert_eq!(
            spec.entity,
            Some((MoRef::new("Folder", "group-v3"), Recursion::Children))
        );
        assert_eq!(spec.categories, ["error"]);
        assert_eq!(spec.user_names, ["alice"]);
        assert_eq!(spec.system_user, Some(false));
        assert_eq!(spec.event_type_ids, ["VmPoweredOnEvent"]);
        let all = EventSelection::default().filter_spec(MoRef::new("Folder", "group-d1"));
        assert!(
            all.categories.is_empty() && all.user_names.is_empty() && all.system_user.is_none()
        );
    }

    #[test]
    fn events_are_checked_against_categories_and_users() {
        let table = EventCategories::new([
            ("VmPoweredOnEvent".to_owned(), Category::Info),
            ("GeneralUserEvent".to_owned(), Category::User),
        ]);
        let warnings = EventSelection {
            categories: vec![Category::Warning],
            ..EventSelection::default()
        };
        assert!(warnings.admits(&event("EventEx", None, Some("warning")), &table));
        assert!(!warnings.admits(&event("EventEx", None, Some("info")), &table));
        assert!(!warnings.admits(&event("VmPoweredOnEvent", None, None), &table));
        // A type the table does not know: vCenter's word stands.
        assert!(warnings.admits(&event("VmRemovedEvent", None, None), &table));

        let alice = EventSelection {
            users: Some(Users {
                names: vec!["VSPHERE.LOCAL\\Alice".into()],
                include_system: false,
            }),
            ..EventSelection::default()
        };
        let by = |u: Option<&str>| event("GeneralUserEvent", u, None);
        assert!(alice.admits(&by(Some("vsphere.local\\alice")), &table));
        assert!(!alice.admits(&by(Some("bob")), &table));
        assert!(!alice.admits(&by(None), &table));
        assert!(!alice.admits(&by(Some("")), &table));
        let with_system = EventSelection {
            users: Some(Users {
                names: vec![],
                include_system: true,
            }),
            ..EventSelection::default()
        };
        assert!(with_system.admits(&by(None), &table));
        assert!(!with_system.admits(&by(Some("bob")), &table));
        assert!(EventSelection::default().admits(&by(Some("bob")), &table));
    }
}
