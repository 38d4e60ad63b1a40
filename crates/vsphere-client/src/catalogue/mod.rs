//! The vim25 type catalogue: every data type and enum of the newest vSphere API, as data.
//!
//! The table is written by `tools/catalogue/generate.py` from pyVmomi's type
//! information (newest API) overlaid with govmomi's `vim25/types/types.go` at the version the Go
//! project pins. The overlay supplies what the payload encoders need to reproduce the Go adapter's
//! bytes: Go field names, Go field order, pointer-ness and `omitempty`.
//!
//! ```
//! use vsphere_client::catalogue;
//! let ty = catalogue::lookup("VmPoweredOffEvent").unwrap();
//! assert!(ty.is_a("Event"));
//! let key = ty.field("key").unwrap();
//! assert_eq!(key.go_name(), "Key");
//! ```
//!
//! Every type and field records the API [`Release`] that introduced it, so a server can answer a
//! client in the release it asked for (`SOAPAction: "urn:vim25/6.7"`):
//!
//! ```
//! use vsphere_client::catalogue::{self, Release};
//! let v67 = Release::from_id("6.7").unwrap();
//! let changes = catalogue::lookup("VmReconfiguredEvent").unwrap().field("configChanges").unwrap();
//! assert!(changes.since() > Release::from_id("6.0").unwrap() && changes.in_release(v67));
//! assert_eq!(Release::from_id("7.0"), Release::from_id("7.0.0.0"));
//! ```

#[rustfmt::skip]
#[allow(clippy::all)]
mod generated;

// Hidden below (`#[doc(hidden)]`): the raw tables, indexes, flags and the Go overlay. They are
// for this workspace's decoder, payload encoders (cloudevent-encode) and simulator (vsphere-sim),
// not part of the API; the documented items are the types, fields, enums and releases.

#[doc(hidden)]
pub use generated::{ENUMS, SCHEMA_SOURCES, TYPES};

/// The primitive or structural kind of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `xsd:boolean`
    Bool,
    /// `xsd:byte`
    Byte,
    /// `xsd:short`
    Short,
    /// `xsd:int`
    Int,
    /// `xsd:long`
    Long,
    /// `xsd:float`
    Float,
    /// `xsd:double`
    Double,
    /// `xsd:string`
    String,
    /// `xsd:dateTime`
    DateTime,
    /// `xsd:base64Binary`
    Binary,
    /// `xsd:anyURI`
    Uri,
    /// `vmodl.TypeName`: a type name as a string.
    TypeName,
    /// `vmodl.MethodName`: a method name as a string.
    MethodName,
    /// `vmodl.PropertyPath`: a property path as a string.
    PropertyPath,
    /// `xsd:anyType`: the value carries its own `xsi:type`.
    Any,
    /// A managed object reference (`<vm type="VirtualMachine">vm-57</vm>`).
    MoRef,
    /// An enum; the index points into the catalogue's enum table (see [`lookup_enum`]).
    Enum(u16),
    /// A data object; the index points into the catalogue's type table (the declared type; a
    /// subtype may be sent).
    Data(u16),
}

/// Field flags.
#[doc(hidden)]
pub mod flags {
    /// The field is an array (repeated element).
    pub const ARRAY: u8 = 1;
    /// The field may be absent on the wire.
    pub const OPTIONAL: u8 = 2;
    /// govmomi 0.24 declares this field (it has a Go name, position and tag there).
    pub const IN_GO: u8 = 4;
    /// govmomi declares the field as a pointer (`*T`): JSON writes `null` when absent.
    pub const GO_POINTER: u8 = 8;
    /// govmomi's xml tag has `omitempty`.
    pub const OMITEMPTY: u8 = 16;
    /// govmomi declares the field as an interface (`BaseX`, `AnyType`): nil is `null` in JSON.
    pub const GO_INTERFACE: u8 = 32;
    /// The field holds a secret (pyVmomi `F_SECRET`): never log it.
    pub const SECRET: u8 = 64;
    /// govmomi declares the field as `[]byte`: Go's encoders write it as bytes (JSON base64),
    /// not as an array of numbers.
    pub const GO_BYTES: u8 = 128;
}

/// A name in the catalogue's string table: a 24-bit offset and an 8-bit length. The tables hold
/// these instead of `&'static str`, so they contain no pointers: a program using them starts
/// without relocating them and keeps them as clean, shared, read-only pages.
#[derive(Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct Name(u32);

/// Byte-string equality for short names, eight bytes at a time and without a call to `memcmp`
/// (whose call costs more than the comparison for names this short).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut words_a = a.chunks_exact(8);
    let mut words_b = b.chunks_exact(8);
    for (x, y) in (&mut words_a).zip(&mut words_b) {
        if u64::from_ne_bytes(x.try_into().unwrap_or_default())
            != u64::from_ne_bytes(y.try_into().unwrap_or_default())
        {
            return false;
        }
    }
    let (ra, rb) = (words_a.remainder(), words_b.remainder());
    let mut x = [0u8; 8];
    let mut y = [0u8; 8];
    x[..ra.len()].copy_from_slice(ra);
    y[..rb.len()].copy_from_slice(rb);
    x == y
}

/// A [`Name`] at `at` of `len` bytes (for the generated tables).
const fn n(at: u32, len: u32) -> Name {
    Name((at << 8) | len)
}

impl Name {
    /// Whether the name is `s` (the lengths are compared first, without touching the table).
    #[inline]
    pub fn is(self, s: &str) -> bool {
        (self.0 & 0xFF) as usize == s.len() && self.get().as_bytes() == s.as_bytes()
    }

    /// The name.
    pub fn get(self) -> &'static str {
        let at = (self.0 >> 8) as usize;
        let len = (self.0 & 0xFF) as usize;
        generated::NAMES.get(at..at + len).unwrap_or_default()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.get(), f)
    }
}

/// One field of a data type (own fields only; inherited ones live on the base type).
#[derive(Debug, PartialEq, Eq)]
pub struct FieldInfo {
    xml: Name,
    go: Name,
    /// The kind of the values.
    pub kind: Kind,
    /// A combination of [`flags`].
    #[doc(hidden)]
    pub flags: u8,
    version: u8,
}

impl FieldInfo {
    /// The XML element name (lowerCamel), e.g. `fullFormattedMessage`.
    pub fn xml_name(&self) -> &'static str {
        self.xml.get()
    }
    /// The Go field name govmomi uses, e.g. `FullFormattedMessage`, or the capitalised XML name
    /// for fields govmomi 0.24 does not know.
    pub fn go_name(&self) -> &'static str {
        self.go.get()
    }
    /// The vSphere API version that introduced the field, e.g. `vim.version.version5`.
    pub fn version(&self) -> &'static str {
        version_name(self.version)
    }
    /// The oldest API release that has the field.
    pub fn since(&self) -> Release {
        release_of(self.version)
    }
    /// Whether a client of API release `release` knows the field.
    pub fn in_release(&self, release: Release) -> bool {
        self.since() <= release
    }
    /// Whether the field is an array.
    pub const fn is_array(&self) -> bool {
        self.flags & flags::ARRAY != 0
    }
    /// Whether the field may be absent.
    pub const fn is_optional(&self) -> bool {
        self.flags & flags::OPTIONAL != 0
    }
    /// Whether govmomi 0.24 declares the field.
    pub const fn in_go(&self) -> bool {
        self.flags & flags::IN_GO != 0
    }
    /// Whether the field holds a secret.
    pub const fn is_secret(&self) -> bool {
        self.flags & flags::SECRET != 0
    }
    /// Test one of the [`flags`].
    #[doc(hidden)]
    pub const fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

fn version_name(index: u8) -> &'static str {
    generated::VERSIONS
        .get(usize::from(index))
        .map(|v| v.get())
        .unwrap_or_default()
}

fn release_of(version: u8) -> Release {
    Release(
        generated::VERSION_RELEASES
            .get(usize::from(version))
            .copied()
            .unwrap_or(0),
    )
}

/// A release of the vim25 API, as a client names it in `SOAPAction: "urn:vim25/<id>"` (`6.7`,
/// `8.0.3.0`). Releases are ordered: a later one has every type and field of an earlier one.
/// The list is pyVmomi's vim25 versions (oldest `2.5`, newest the catalogue's).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release(u8);

impl Release {
    /// Every release, oldest first.
    pub fn all() -> impl DoubleEndedIterator<Item = Release> + ExactSizeIterator + Clone {
        (0..generated::RELEASES.len()).map(|i| Release(i as u8))
    }

    /// The newest release the catalogue knows.
    pub fn newest() -> Release {
        Release(generated::RELEASES.len().saturating_sub(1) as u8)
    }

    /// The oldest release servers still serve (vCenter 8 lists `4.0` as its oldest prior
    /// version; pyVmomi's `oldestVersions`).
    pub fn oldest_served() -> Release {
        Release(generated::OLDEST_SERVED)
    }

    /// The release with this id (`6.7`, `8.0.3.0`); trailing `.0` parts do not matter (`7.0` is
    /// `7.0.0.0`, what govmomi 0.24 sends).
    pub fn from_id(id: &str) -> Option<Release> {
        let want = trim_zeros(id.trim());
        Release::all().find(|r| trim_zeros(r.id()) == want)
    }

    /// The id, e.g. `8.0.3.0`.
    pub fn id(self) -> &'static str {
        generated::RELEASES
            .get(usize::from(self.0))
            .map(|(id, _)| id.get())
            .unwrap_or_default()
    }

    /// pyVmomi's name for the release, e.g. `vim.version.v8_0_3_0`.
    pub fn version_name(self) -> &'static str {
        generated::RELEASES
            .get(usize::from(self.0))
            .map(|(_, name)| name.get())
            .unwrap_or_default()
    }
}

/// `7.0.0.0` → `7.0`: an id without the trailing `.0` parts beyond major.minor.
fn trim_zeros(id: &str) -> &str {
    let mut id = id;
    while id.matches('.').count() > 1 {
        match id.strip_suffix(".0") {
            Some(shorter) => id = shorter,
            None => break,
        }
    }
    id
}

impl std::fmt::Debug for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// One data type: its name, base type and own fields in encoding order.
#[derive(Debug, PartialEq, Eq)]
pub struct TypeInfo {
    name: Name,
    /// The index of the base type in [`TYPES`], `None` for the root (`DataObject`).
    #[doc(hidden)]
    pub base: Option<u16>,
    fields_at: u32,
    fields_len: u16,
    effective_len: u16,
    effective_at: u32,
    version: u8,
    /// Whether govmomi 0.24 declares the type.
    #[doc(hidden)]
    pub in_go: bool,
}

/// The fields of a type as [`TypeInfo::effective_fields`] lists them.
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct FieldList {
    indexes: &'static [u16],
}

impl FieldList {
    /// No fields.
    pub const EMPTY: FieldList = FieldList { indexes: &[] };

    /// The position of the field whose XML name is `name`, searching from position `from` to
    /// the end and then from the start (fields usually arrive in order, so a search from just
    /// after the previous match succeeds at once).
    pub fn position_from(&self, from: usize, name: &str) -> Option<usize> {
        let from = from.min(self.indexes.len());
        let (before, after) = self.indexes.split_at(from);
        let hit = |&f: &u16| {
            generated::FIELDS
                .get(usize::from(f))
                .is_some_and(|field| field.xml.is(name))
        };
        if let Some(i) = after.iter().position(hit) {
            return Some(from + i);
        }
        before.iter().position(hit)
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.indexes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }

    /// The field at `i`.
    pub fn get(&self, i: usize) -> Option<&'static FieldInfo> {
        self.indexes
            .get(i)
            .and_then(|&f| generated::FIELDS.get(usize::from(f)))
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'static FieldInfo> + Clone + use<> {
        self.indexes
            .iter()
            .map(|&f| &generated::FIELDS[usize::from(f)])
    }
}

/// One enum type.
#[derive(Debug, PartialEq, Eq)]
pub struct EnumInfo {
    name: Name,
    values_at: u32,
    values_len: u16,
}

impl EnumInfo {
    /// The WSDL name, e.g. `EventFilterSpecRecursionOption`.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// The values, as on the wire.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &'static str> + Clone + 'static {
        let at = self.values_at as usize;
        generated::ENUM_VALUES
            .get(at..at + usize::from(self.values_len))
            .unwrap_or_default()
            .iter()
            .map(|v| v.get())
    }
}

impl TypeInfo {
    /// The WSDL name, e.g. `VmPoweredOffEvent` (also the Go type name).
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// Own fields: govmomi's fields in govmomi's order first, then fields only newer APIs have.
    pub fn fields(&self) -> &'static [FieldInfo] {
        let at = self.fields_at as usize;
        generated::FIELDS
            .get(at..at + usize::from(self.fields_len))
            .unwrap_or_default()
    }

    /// The vSphere API version that introduced the type.
    pub fn version(&self) -> &'static str {
        version_name(self.version)
    }

    /// The oldest API release that has the type.
    pub fn since(&self) -> Release {
        release_of(self.version)
    }

    /// Whether a client of API release `release` knows the type.
    pub fn in_release(&self, release: Release) -> bool {
        self.since() <= release
    }

    /// The base type.
    pub fn base(&self) -> Option<&'static TypeInfo> {
        self.base.map(|i| &TYPES[usize::from(i)])
    }

    /// This type and its bases, the type itself first.
    pub fn ancestry(&'static self) -> impl Iterator<Item = &'static TypeInfo> {
        std::iter::successors(Some(self), |t| t.base())
    }

    /// Whether this type is `name` or derives from it.
    pub fn is_a(&'static self, name: &str) -> bool {
        self.ancestry().any(|t| t.name() == name)
    }

    /// Every field of the type, own or inherited, once, in encoding order: base fields first in
    /// catalogue order; a field a subtype declares again (same Go or XML name) appears once,
    /// where the subtype declares it. This is Go's rule for embedded structs (what govmomi's
    /// encoders write) and the declaration [`TypeInfo::field`] finds. Precomputed by the
    /// generator: no allocation, no search.
    #[doc(hidden)]
    pub fn effective_fields(&self) -> FieldList {
        let at = self.effective_at as usize;
        FieldList {
            indexes: generated::EFFECTIVE
                .get(at..at + usize::from(self.effective_len))
                .unwrap_or_default(),
        }
    }

    /// All fields, inherited first, in declaration order (a redeclared field appears at each
    /// declaration; see [`TypeInfo::effective_fields`] for the fields as encoded).
    pub fn all_fields(&'static self) -> impl Iterator<Item = &'static FieldInfo> {
        let mut chain: Vec<&'static TypeInfo> = self.ancestry().collect();
        chain.reverse();
        chain.into_iter().flat_map(|t| t.fields().iter())
    }

    /// Find a field, own or inherited, by its XML name.
    pub fn field(&'static self, xml_name: &str) -> Option<&'static FieldInfo> {
        self.ancestry()
            .find_map(|t| t.fields().iter().find(|f| f.xml_name() == xml_name))
    }
}

/// Look up a data type by its WSDL name.
pub fn lookup(name: &str) -> Option<&'static TypeInfo> {
    TYPES
        .binary_search_by(|t| t.name().cmp(name))
        .ok()
        .map(|i| &TYPES[i])
}

/// Look up an enum by its WSDL name.
pub fn lookup_enum(name: &str) -> Option<&'static EnumInfo> {
    ENUMS
        .binary_search_by(|e| e.name().cmp(name))
        .ok()
        .map(|i| &ENUMS[i])
}

/// The [`Kind`] of values of the data type `name` (for decoding a value of a declared type,
/// e.g. `data_kind("Event")`).
#[doc(hidden)]
pub fn data_kind(name: &str) -> Option<Kind> {
    TYPES
        .binary_search_by(|t| t.name().cmp(name))
        .ok()
        .and_then(|i| u16::try_from(i).ok())
        .map(Kind::Data)
}

/// The data type at an index of [`TYPES`] (as held by [`Kind::Data`]).
#[doc(hidden)]
pub fn type_at(index: u16) -> &'static TypeInfo {
    &TYPES[usize::from(index)]
}

/// The enum at an index of [`ENUMS`] (as held by [`Kind::Enum`]).
#[doc(hidden)]
pub fn enum_at(index: u16) -> &'static EnumInfo {
    &ENUMS[usize::from(index)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_sorted_for_binary_search() {
        assert!(TYPES.windows(2).all(|w| w[0].name() < w[1].name()));
        assert!(ENUMS.windows(2).all(|w| w[0].name() < w[1].name()));
    }

    #[test]
    fn event_base_fields_follow_go_order() {
        let ev = lookup("VmPoweredOffEvent").expect("VmPoweredOffEvent");
        let go: Vec<&str> = ev
            .all_fields()
            .filter(|f| f.in_go())
            .map(|f| f.go_name())
            .collect();
        assert_eq!(
            go,
            [
                "Key",
                "ChainId",
                "CreatedTime",
                "UserName",
                "Datacenter",
                "ComputeResource",
                "Host",
                "Vm",
                "Ds",
                "Net",
                "Dvs",
                "FullFormattedMessage",
                "ChangeTag",
                "Template"
            ]
        );
        assert!(ev.is_a("VmEvent") && ev.is_a("Event") && !ev.is_a("HostEvent"));
    }

    #[test]
    fn effective_fields_are_the_declarations_a_lookup_finds() {
        for ty in TYPES.iter() {
            let expected: Vec<&FieldInfo> = ty
                .all_fields()
                .filter(|f| ty.field(f.xml_name()).is_some_and(|g| std::ptr::eq(g, *f)))
                .collect();
            let got: Vec<&FieldInfo> = ty.effective_fields().iter().collect();
            assert_eq!(got.len(), expected.len(), "{}", ty.name());
            assert!(
                got.iter().zip(&expected).all(|(a, b)| std::ptr::eq(*a, *b)),
                "{}",
                ty.name()
            );
            let list = ty.effective_fields();
            assert!(
                (0..list.len()).all(|i| list.get(i).is_some()) && list.get(list.len()).is_none()
            );
        }
    }

    #[test]
    fn releases_are_pyvmomis_vim25_versions_in_order() {
        let ids: Vec<&str> = Release::all().map(Release::id).collect();
        assert_eq!(ids.first(), Some(&"2.5"));
        assert_eq!(Release::oldest_served().id(), "4.0");
        assert_eq!(Release::newest().id(), "9.1.1.0");
        let at = |id: &str| ids.iter().position(|i| *i == id).unwrap();
        assert!(at("6.7.3") < at("6.8.7") && at("6.9.1") < at("7.0.0.0"));
        assert!(at("7.0.3.2") < at("8.0.0.0") && at("8.0.3.0") < at("8.0.3.1"));
        let r = Release::from_id("8.0.3.0").unwrap();
        assert_eq!(r.version_name(), "vim.version.v8_0_3_0");
        assert_eq!(Release::from_id("8.0.3"), Some(r));
        assert_eq!(Release::from_id("6.7").map(Release::id), Some("6.7"));
        assert_eq!(Release::from_id("7.0").map(Release::id), Some("7.0.0.0"));
        assert_eq!(Release::from_id("8.0.3.9"), None);
        assert_eq!(Release::from_id("-"), None);
    }

    #[test]
    fn types_and_fields_know_their_release() {
        let r = |id: &str| Release::from_id(id).unwrap();
        let event = lookup("Event").unwrap();
        assert_eq!(event.since(), Release::all().next().unwrap());
        assert!(lookup("EventEx").unwrap().since() <= r("4.0"));
        // Event.changeTag came with 4.0 (vim.version.version5).
        let tag = event.field("changeTag").unwrap();
        assert!(!tag.in_release(r("2.5u2server")) && tag.in_release(r("4.0")));
        let changes = lookup("VmReconfiguredEvent")
            .and_then(|t| t.field("configChanges"))
            .unwrap();
        assert_eq!(changes.since(), r("6.5"));
        // A type's own fields are never older than the type.
        for ty in TYPES.iter().filter(|t| !t.version().is_empty()) {
            for f in ty.fields().iter().filter(|f| !f.version().is_empty()) {
                assert!(f.since() >= ty.since(), "{}.{}", ty.name(), f.xml_name());
            }
        }
    }

    #[test]
    fn event_closure_is_present() {
        let events = TYPES.iter().filter(|t| t.is_a("Event")).count();
        assert!(events >= 443, "only {events} event types");
        let ex = lookup("EventEx").expect("EventEx");
        let args = ex.field("arguments").expect("arguments");
        assert!(args.is_array());
        let Kind::Data(kav) = args.kind else {
            panic!("arguments is {:?}", args.kind)
        };
        assert_eq!(type_at(kav).name(), "KeyAnyValue");
        assert_eq!(type_at(kav).field("value").map(|f| f.kind), Some(Kind::Any));
        let fault = lookup("LocalizedMethodFault").expect("LocalizedMethodFault");
        assert!(fault.field("fault").is_some());
    }
}
