//! Per-type encoding plans: the fields of a catalogue type in Go's marshalling order, with the Go
//! shape of each (slice, pointer, interface, `[]byte`, plain value), computed once per type.

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
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldPlan {
    pub info: &'static FieldInfo,
    pub shape: Shape,
    /// govmomi's xml tag has `omitempty`.
    pub omitempty: bool,
}

impl FieldPlan {
    /// Write `"GoName":` (Go names are ASCII identifiers: nothing to escape).
    pub fn json_key(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(self.info.go_name().as_bytes());
        out.extend_from_slice(b"\":");
    }
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

/// Whether `f` is one of [`GO_BYTE_SLICES`].
fn is_go_byte_slice(f: &'static FieldInfo) -> bool {
    GO_BYTE_SLICES.iter().any(|(t, n)| {
        *n == f.xml_name()
            && catalogue::lookup(t)
                .and_then(|ty| ty.fields().iter().find(|g| g.xml_name() == *n))
                .is_some_and(|g| std::ptr::eq(g, f))
    })
}

fn shape_of(f: &'static FieldInfo) -> Shape {
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
        if f.kind == Kind::Byte && is_go_byte_slice(f) {
            return Shape::Bytes;
        }
        return Shape::Slice;
    }
    if f.has(flags::GO_POINTER) {
        return Shape::Pointer;
    }
    Shape::Value
}

/// The plan of a catalogue type: its [effective fields](TypeInfo::effective_fields) (Go's
/// embedding rule, precomputed in the catalogue) with the Go shape of each.
pub(crate) fn plan(ty: &'static TypeInfo) -> impl Iterator<Item = FieldPlan> + 'static {
    fields_plan(Some(ty.effective_fields()))
}

/// [`plan`] of an optional field list (none: no known fields).
pub(crate) fn fields_plan(
    fields: Option<catalogue::FieldList>,
) -> impl Iterator<Item = FieldPlan> + 'static {
    fields
        .into_iter()
        .flat_map(|list| list.iter())
        .map(|f| FieldPlan {
            info: f,
            shape: shape_of(f),
            omitempty: f.has(flags::OMITEMPTY),
        })
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
            assert_eq!(shape_of(field), Shape::Bytes);
        }
    }

    #[test]
    fn event_plan_follows_go_order() {
        let ty = catalogue::lookup("VmPoweredOffEvent").unwrap();
        let names: Vec<&str> = plan(ty)
            .filter(|p| p.shape != Shape::Extra)
            .map(|p| p.info.go_name())
            .collect();
        assert_eq!(names.first(), Some(&"Key"));
        assert_eq!(names.last(), Some(&"Template"));
        let vm = plan(ty).find(|p| p.info.xml_name() == "vm").unwrap();
        assert_eq!(vm.shape, Shape::Pointer);
        let mut key = Vec::new();
        vm.json_key(&mut key);
        assert_eq!(key, b"\"Vm\":");
    }

    #[test]
    fn go_names_need_no_json_escaping() {
        for ty in catalogue::TYPES.iter() {
            for f in ty.fields() {
                let mut escaped = Vec::new();
                crate::gofmt::json_string(&mut escaped, f.go_name());
                assert_eq!(escaped.len(), f.go_name().len() + 2, "{}", f.go_name());
            }
        }
    }
}
