//! Per-type encoding plans: the fields of a catalogue type in Go's marshalling order, with the Go
//! shape of each (slice, pointer, interface, `[]byte`, plain value), computed once per type.

use std::sync::OnceLock;

use vsphere_client::catalogue::{self, FieldInfo, Kind, TypeInfo, flags};

/// How govmomi 0.24 declares a field, which decides what Go's encoders write for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `[]T` (also `[]BaseX`): JSON `null` when absent, XML one element per item.
    Slice,
    /// `[]byte`: JSON base64 (`null` when absent), XML the bytes as text.
    Bytes,
    /// `*T`: JSON `null` when absent, XML nothing when absent.
    Pointer,
    /// `BaseX` or `AnyType`: like a pointer, written as the concrete value.
    Interface,
    /// `T` (string, number, bool, enum, `time.Time`, struct): JSON the zero value when absent,
    /// XML the zero value unless `omitempty`.
    Value,
    /// Not declared by govmomi 0.24 (a newer API): written only when present.
    Extra,
}

/// One field of a type's plan.
#[derive(Debug)]
pub(crate) struct FieldPlan {
    pub info: &'static FieldInfo,
    pub shape: Shape,
    /// `"GoName":`, ready to write.
    pub json_key: Box<[u8]>,
    /// govmomi's xml tag has `omitempty`.
    pub omitempty: bool,
}

/// The fields govmomi declares as `[]byte` where pyVmomi (and so the catalogue) says `byte[]`
/// (`generate.py --verbose` lists them).
const GO_BYTE_SLICES: &[(&str, &str)] = &[
    ("HostDigestInfo", "digestValue"),
    ("ScsiLun", "standardInquiry"),
    ("ScsiLunDurableName", "data"),
    ("HostTpmEventDetails", "dataHash"),
    ("HostTpmOptionEventDetails", "bootOptions"),
    ("HostSubSpecification", "data"),
    ("CustomizationSpec", "encryptionKey"),
    ("HostConfigInfo", "certificate"),
];

fn shape_of(owner: &TypeInfo, f: &FieldInfo) -> Shape {
    if !f.in_go() {
        return Shape::Extra;
    }
    if f.has(flags::GO_INTERFACE) {
        return if f.is_array() {
            Shape::Slice
        } else {
            Shape::Interface
        };
    }
    if f.kind == Kind::Binary && !f.is_array() {
        return Shape::Bytes;
    }
    if f.is_array() {
        if f.kind == Kind::Byte
            && GO_BYTE_SLICES
                .iter()
                .any(|(t, n)| *t == owner.name && *n == f.xml_name)
        {
            return Shape::Bytes;
        }
        return Shape::Slice;
    }
    if f.has(flags::GO_POINTER) {
        return Shape::Pointer;
    }
    Shape::Value
}

fn build(ty: &'static TypeInfo) -> Box<[FieldPlan]> {
    // (owner, field) base-first, like TypeInfo::all_fields.
    let mut chain: Vec<&'static TypeInfo> = ty.ancestry().collect();
    chain.reverse();
    let all: Vec<(&'static TypeInfo, &'static FieldInfo)> = chain
        .into_iter()
        .flat_map(|t| t.fields.iter().map(move |f| (t, f)))
        .collect();
    let mut out = Vec::with_capacity(all.len());
    for (i, (owner, f)) in all.iter().enumerate() {
        // Go: a field of an embedded (base) struct is hidden by a shallower field of the same
        // name; the shallower one keeps its own position.
        let shadowed = all[i + 1..]
            .iter()
            .any(|(_, g)| g.go_name == f.go_name || g.xml_name == f.xml_name);
        if shadowed {
            continue;
        }
        let mut key = Vec::with_capacity(f.go_name.len() + 3);
        crate::gofmt::json_string(&mut key, f.go_name);
        key.push(b':');
        out.push(FieldPlan {
            info: f,
            shape: shape_of(owner, f),
            json_key: key.into_boxed_slice(),
            omitempty: f.has(flags::OMITEMPTY),
        });
    }
    out.into_boxed_slice()
}

/// One lazily built plan per catalogue type, by index in `TYPES`.
type PlanTable = Box<[OnceLock<Box<[FieldPlan]>>]>;

static PLANS: OnceLock<PlanTable> = OnceLock::new();

/// The plan of a catalogue type (cached).
pub(crate) fn plan(ty: &'static TypeInfo) -> &'static [FieldPlan] {
    let table = PLANS.get_or_init(|| {
        (0..catalogue::TYPES.len())
            .map(|_| OnceLock::new())
            .collect()
    });
    let base = catalogue::TYPES.as_ptr() as usize;
    let addr = ty as *const TypeInfo as usize;
    let index = addr.wrapping_sub(base) / std::mem::size_of::<TypeInfo>();
    match table.get(index) {
        Some(cell) if std::ptr::eq(&catalogue::TYPES[index], ty) => cell.get_or_init(|| build(ty)),
        // Not an element of TYPES (cannot happen with catalogue references): build uncached.
        _ => Box::leak(build(ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_byte_slices_exist_in_the_catalogue() {
        for (t, f) in GO_BYTE_SLICES {
            let ty = catalogue::lookup(t).unwrap_or_else(|| panic!("{t}"));
            let field = ty.field(f).unwrap_or_else(|| panic!("{t}.{f}"));
            assert_eq!(field.kind, Kind::Byte, "{t}.{f}");
            assert!(field.is_array(), "{t}.{f}");
            assert_eq!(shape_of(ty, field), Shape::Bytes);
        }
    }

    #[test]
    fn event_plan_follows_go_order() {
        let ty = catalogue::lookup("VmPoweredOffEvent").unwrap();
        let names: Vec<&str> = plan(ty)
            .iter()
            .filter(|p| p.shape != Shape::Extra)
            .map(|p| p.info.go_name)
            .collect();
        assert_eq!(names.first(), Some(&"Key"));
        assert_eq!(names.last(), Some(&"Template"));
        let vm = plan(ty).iter().find(|p| p.info.xml_name == "vm").unwrap();
        assert_eq!(vm.shape, Shape::Pointer);
        assert_eq!(&*vm.json_key, b"\"Vm\":");
    }
}
