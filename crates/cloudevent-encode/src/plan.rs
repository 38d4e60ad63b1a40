//! Per-type encoding plans: the fields of a catalogue type in Go's marshalling order, with the Go
//! shape of each (slice, pointer, interface, `[]byte`, plain value), computed once per type.

use vsphere_client::catalogue::{FieldInfo, TypeInfo, flags};

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

impl FieldPlan {
    /// The plan of one field.
    #[inline]
    pub fn of(f: &'static FieldInfo) -> Self {
        Self {
            info: f,
            shape: shape_of(f),
            omitempty: f.has(flags::OMITEMPTY),
        }
    }
}

#[inline]
fn shape_of(f: &FieldInfo) -> Shape {
    if !f.in_go() {
        return Shape::Extra;
    }
    if f.has(flags::GO_BYTES) {
        return Shape::Bytes;
    }
    if f.has(flags::GO_INTERFACE) {
        return if f.is_array() {
            Shape::Slice
        } else {
            Shape::Interface
        };
    }
    if f.is_array() {
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
    ty.effective_fields().iter().map(FieldPlan::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsphere_client::catalogue::{self, Kind};

    /// The fields govmomi declares as `[]byte` where pyVmomi (and so the catalogue) says
    /// `byte[]` (`generate.py --verbose` lists them).
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

    #[test]
    fn go_bytes_are_binary_fields_and_the_known_byte_slices() {
        for ty in catalogue::TYPES.iter() {
            for f in ty.fields().iter().filter(|f| f.in_go()) {
                let listed = GO_BYTE_SLICES
                    .iter()
                    .any(|(t, n)| *t == ty.name() && *n == f.xml_name());
                let expected = (f.kind == Kind::Binary && !f.is_array())
                    || (f.kind == Kind::Byte && f.is_array() && listed);
                assert_eq!(
                    f.has(flags::GO_BYTES),
                    expected,
                    "{}.{}",
                    ty.name(),
                    f.xml_name()
                );
                assert_eq!(shape_of(f) == Shape::Bytes, expected);
            }
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
