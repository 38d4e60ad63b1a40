//! The decoded data model: values typed by the [`catalogue`].
//!
//! A decoded vCenter object is a [`DataObject`]: its type (from the catalogue, or the `xsi:type`
//! name of a type the catalogue does not know) and its fields in the order they arrived. Fields
//! point at their [`FieldInfo`] when the catalogue knows them, so encoders can write them in Go
//! order with Go names; unknown elements are kept by name. Nothing vCenter sends is dropped.

use std::borrow::Cow;

use crate::catalogue::{self, FieldInfo, TypeInfo};
use crate::time::DateTime;

/// A managed object reference, e.g. `<vm type="VirtualMachine">vm-57</vm>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MoRef {
    /// The managed object type, e.g. `VirtualMachine` (the common types are shared static
    /// strings, see [`MoRef::kind_name`]).
    pub kind: Cow<'static, str>,
    /// The server-side id, e.g. `vm-57`.
    pub value: String,
}

impl MoRef {
    /// A reference to `value` of type `kind`.
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Self {
        let kind = kind.into();
        Self {
            kind: match Self::known_kind(&kind) {
                Some(known) => Cow::Borrowed(known),
                None => Cow::Owned(kind),
            },
            value: value.into(),
        }
    }

    /// A managed object type name as a [`MoRef::kind`]: borrowed for the types events refer to,
    /// so decoding a reference does not allocate for its type.
    pub fn kind_name(kind: &str) -> Cow<'static, str> {
        match Self::known_kind(kind) {
            Some(known) => Cow::Borrowed(known),
            None => Cow::Owned(kind.to_owned()),
        }
    }

    fn known_kind(kind: &str) -> Option<&'static str> {
        KNOWN_KINDS
            .binary_search(&kind)
            .ok()
            .map(|i| KNOWN_KINDS[i])
    }
}

/// Managed object types that events and inventory calls refer to, sorted.
const KNOWN_KINDS: &[&str] = &[
    "Alarm",
    "ClusterComputeResource",
    "ComputeResource",
    "ContainerView",
    "CustomFieldsManager",
    "Datacenter",
    "Datastore",
    "DistributedVirtualPortgroup",
    "DistributedVirtualSwitch",
    "EventHistoryCollector",
    "EventManager",
    "Folder",
    "HostSystem",
    "Network",
    "OpaqueNetwork",
    "PropertyCollector",
    "PropertyFilter",
    "ResourcePool",
    "ScheduledTask",
    "SessionManager",
    "StoragePod",
    "Task",
    "ViewManager",
    "VirtualApp",
    "VirtualMachine",
    "VmwareDistributedVirtualSwitch",
];

impl std::fmt::Display for MoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// One decoded value. Primitive variants keep their XML Schema type, so an `xsd:anyType` value
/// (an `EventEx` argument, say) can be written back with the type it came with.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `xsd:boolean`
    Bool(bool),
    /// `xsd:byte`
    Byte(i8),
    /// `xsd:short`
    Short(i16),
    /// `xsd:int`
    Int(i32),
    /// `xsd:long`
    Long(i64),
    /// `xsd:float`
    Float(f32),
    /// `xsd:double`
    Double(f64),
    /// `xsd:string`, enum values, type, method and property names, URIs.
    String(String),
    /// `xsd:dateTime`
    DateTime(DateTime),
    /// `xsd:base64Binary`, decoded.
    Binary(Vec<u8>),
    /// A managed object reference.
    MoRef(MoRef),
    /// A data object (known or unknown type).
    Object(Box<DataObject>),
    /// The values of an array field, in order.
    Array(Vec<Value>),
}

impl Value {
    /// The string, for string-like values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, for any integer variant (and a decimal string, as unknown elements carry).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Byte(v) => Some(i64::from(*v)),
            Value::Short(v) => Some(i64::from(*v)),
            Value::Int(v) => Some(i64::from(*v)),
            Value::Long(v) => Some(*v),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The timestamp (also from a string, as unknown elements carry).
    pub fn as_datetime(&self) -> Option<DateTime> {
        match self {
            Value::DateTime(t) => Some(*t),
            Value::String(s) => crate::time::parse_xsd_datetime(s).ok(),
            _ => None,
        }
    }

    /// The managed object reference.
    pub fn as_moref(&self) -> Option<&MoRef> {
        match self {
            Value::MoRef(m) => Some(m),
            _ => None,
        }
    }

    /// The data object.
    pub fn as_object(&self) -> Option<&DataObject> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The array items; a single non-array value counts as one item.
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(items) => items,
            other => std::slice::from_ref(other),
        }
    }
}

/// The type of a data object.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TypeRef {
    /// A type the catalogue knows.
    Known(&'static TypeInfo),
    /// A type the catalogue does not know (a newer vCenter), by its `xsi:type` name (empty when
    /// the element had none). `assumed` is the declared type of the slot it arrived in, whose
    /// fields were used to decode what could be decoded (e.g. `Event` for a new event type).
    Unknown {
        /// The declared type of the slot the object arrived in, if any.
        assumed: Option<&'static TypeInfo>,
    },
}

impl std::fmt::Debug for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Known(t) => write!(f, "Known({})", t.name()),
            TypeRef::Unknown { assumed } => {
                write!(f, "Unknown(assumed: {:?})", assumed.map(|t| t.name()))
            }
        }
    }
}

/// The name of a field of a data object.
#[derive(Clone, PartialEq, Eq)]
pub enum FieldName {
    /// A field the catalogue knows.
    Known(&'static FieldInfo),
    /// An element the catalogue does not know, by its local name.
    Unknown(String),
}

impl std::fmt::Debug for FieldName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldName::Known(info) => write!(f, "{}", info.xml_name()),
            FieldName::Unknown(n) => write!(f, "?{n}"),
        }
    }
}

impl FieldName {
    /// The XML element name.
    pub fn xml_name(&self) -> &str {
        match self {
            FieldName::Known(f) => f.xml_name(),
            FieldName::Unknown(n) => n,
        }
    }
}

/// One field of a data object. Array fields hold a [`Value::Array`].
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field name.
    pub name: FieldName,
    /// The value.
    pub value: Value,
}

/// A decoded data object.
#[derive(Debug, Clone, PartialEq)]
pub struct DataObject {
    /// The catalogue type, or `Unknown`.
    pub ty: TypeRef,
    /// The type name as received (`xsi:type`), or the catalogue name when none was sent
    /// (borrowed from the catalogue for known types).
    pub type_name: Cow<'static, str>,
    /// The fields, in the order they arrived.
    pub fields: Vec<Field>,
}

impl DataObject {
    /// An empty object of a catalogue type.
    pub fn new(ty: &'static TypeInfo) -> Self {
        Self {
            ty: TypeRef::Known(ty),
            type_name: Cow::Borrowed(ty.name()),
            fields: Vec::new(),
        }
    }

    /// The catalogue type, if known.
    pub fn type_info(&self) -> Option<&'static TypeInfo> {
        match self.ty {
            TypeRef::Known(t) => Some(t),
            TypeRef::Unknown { .. } => None,
        }
    }

    /// The catalogue type, or for an unknown type the catalogue type it was decoded as.
    pub fn effective_type(&self) -> Option<&'static TypeInfo> {
        match self.ty {
            TypeRef::Known(t) => Some(t),
            TypeRef::Unknown { assumed } => assumed,
        }
    }

    /// Whether the object is of type `name` or a subtype (an unknown type counts as its assumed
    /// type).
    pub fn is_a(&self, name: &str) -> bool {
        self.type_name == name || self.effective_type().is_some_and(|t| t.is_a(name))
    }

    /// The value of a field by XML name.
    pub fn get(&self, xml_name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name.xml_name() == xml_name)
            .map(|f| &f.value)
    }

    /// A string field.
    pub fn get_str(&self, xml_name: &str) -> Option<&str> {
        self.get(xml_name).and_then(Value::as_str)
    }

    /// A data-object field.
    pub fn get_object(&self, xml_name: &str) -> Option<&DataObject> {
        self.get(xml_name).and_then(Value::as_object)
    }

    /// Set a known field (replacing an existing value), for building objects in code.
    ///
    /// Returns `None` when the catalogue type has no such field.
    pub fn set(&mut self, xml_name: &str, value: Value) -> Option<&mut Self> {
        let info = self.effective_type()?.field(xml_name)?;
        match self
            .fields
            .iter_mut()
            .find(|f| f.name.xml_name() == xml_name)
        {
            Some(f) => f.value = value,
            None => self.fields.push(Field {
                name: FieldName::Known(info),
                value,
            }),
        }
        Some(self)
    }

    /// Builder form of [`DataObject::set`]; panics on a field the type does not have, so use it
    /// only with literal names (tests, tools).
    pub fn with(mut self, xml_name: &str, value: Value) -> Self {
        assert!(
            self.set(xml_name, value).is_some(),
            "{} has no field {xml_name}",
            self.type_name
        );
        self
    }
}

/// The class of an event, as the CloudEvent extension `eventclass` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    /// Any event that is not an `EventEx` or `ExtendedEvent`.
    Event,
    /// `EventEx` (and subtypes).
    EventEx,
    /// `ExtendedEvent` (and subtypes).
    ExtendedEvent,
}

impl EventClass {
    /// `event`, `eventex` or `extendedevent`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventClass::Event => "event",
            EventClass::EventEx => "eventex",
            EventClass::ExtendedEvent => "extendedevent",
        }
    }
}

/// A vCenter event: a decoded data object of type `Event` or a subtype, with typed accessors for
/// the `Event` base.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    object: DataObject,
}

impl Event {
    /// Wrap a decoded object. Returns it back when it does not look like an event (no `key`).
    pub fn from_object(object: DataObject) -> Result<Self, DataObject> {
        if object.get("key").and_then(Value::as_i64).is_some() {
            Ok(Self { object })
        } else {
            Err(object)
        }
    }

    /// The decoded object.
    pub fn object(&self) -> &DataObject {
        &self.object
    }

    /// Unwrap into the decoded object.
    pub fn into_object(self) -> DataObject {
        self.object
    }

    /// The type name (`xsi:type`), e.g. `VmPoweredOffEvent`; for a type the catalogue does not
    /// know, the name vCenter sent.
    pub fn type_name(&self) -> &str {
        &self.object.type_name
    }

    /// Whether the catalogue knows the event type.
    pub fn is_known_type(&self) -> bool {
        self.object.type_info().is_some()
    }

    /// The event key (`int32` on the wire; keys can wrap).
    pub fn key(&self) -> i64 {
        self.object
            .get("key")
            .and_then(Value::as_i64)
            .unwrap_or_default()
    }

    /// The chain id.
    pub fn chain_id(&self) -> Option<i64> {
        self.object.get("chainId").and_then(Value::as_i64)
    }

    /// When vCenter created the event.
    pub fn created_time(&self) -> Option<DateTime> {
        self.object.get("createdTime").and_then(Value::as_datetime)
    }

    /// The user who caused the event.
    pub fn user_name(&self) -> Option<&str> {
        self.object.get_str("userName")
    }

    /// The formatted message.
    pub fn full_formatted_message(&self) -> Option<&str> {
        self.object.get_str("fullFormattedMessage")
    }

    /// An entity argument of the `Event` base: `datacenter`, `computeResource`, `host`, `vm`,
    /// `ds`, `net` or `dvs`; gives its name and managed object reference.
    pub fn entity(&self, argument: &str) -> Option<(&str, Option<&MoRef>)> {
        let arg = self.object.get_object(argument)?;
        let name = arg.get_str("name").unwrap_or_default();
        let moref = arg.fields.iter().find_map(|f| f.value.as_moref());
        Some((name, moref))
    }

    /// The class of the event.
    pub fn class(&self) -> EventClass {
        if self.object.is_a("EventEx") {
            EventClass::EventEx
        } else if self.object.is_a("ExtendedEvent") {
            EventClass::ExtendedEvent
        } else {
            EventClass::Event
        }
    }

    /// The `eventTypeId` of an `EventEx` or `ExtendedEvent`.
    pub fn event_type_id(&self) -> Option<&str> {
        match self.class() {
            EventClass::Event => None,
            _ => self.object.get_str("eventTypeId"),
        }
    }

    /// The name that identifies the kind of event: the `eventTypeId` for `EventEx` and
    /// `ExtendedEvent`, else the type name (what the CloudEvent `type` is built from).
    pub fn kind_name(&self) -> &str {
        self.event_type_id().unwrap_or_else(|| self.type_name())
    }
}

/// Look up a catalogue type that must exist (a name written in this crate's code).
pub(crate) fn known_type(name: &str) -> &'static TypeInfo {
    match catalogue::lookup(name) {
        Some(t) => t,
        None => panic!("vim25 catalogue lacks {name}; regenerate it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_moref_kinds_are_sorted_and_shared() {
        assert!(KNOWN_KINDS.windows(2).all(|w| w[0] < w[1]));
        assert!(matches!(
            MoRef::kind_name("VirtualMachine"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(MoRef::kind_name("NewKind"), Cow::Owned(k) if k == "NewKind"));
        assert_eq!(MoRef::new("HostSystem", "host-1").kind, "HostSystem");
    }
}
