//! Matching a decoded object's fields to its type's plan.

use vsphere_client::catalogue::FieldList;
use vsphere_client::model::{DataObject, Field, FieldName, Value};

use crate::plan::FieldPlan;

/// The plan of an object: its catalogue type's, or for an unknown type the plan of the type it
/// was decoded as (if any).
pub(crate) fn object_plan(obj: &DataObject) -> impl Iterator<Item = FieldPlan> + 'static {
    obj.effective_type()
        .map_or(FieldList::EMPTY, |t| t.effective_fields())
        .iter()
        .map(FieldPlan::of)
}

/// Finds fields by catalogue entry, remembering where the last one was found (fields usually
/// arrive in plan order, so a lookup is one comparison).
pub(crate) struct Cursor<'a> {
    fields: &'a [Field],
    next: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(obj: &'a DataObject) -> Self {
        Self {
            fields: &obj.fields,
            next: 0,
        }
    }

    pub(crate) fn find(&mut self, p: &FieldPlan) -> Option<&'a Field> {
        let is = |f: &Field| matches!(f.name, FieldName::Known(info) if std::ptr::eq(info, p.info));
        let start = self.next.min(self.fields.len());
        let (before, after) = self.fields.split_at(start);
        let i = match after.iter().position(is) {
            Some(i) => start + i,
            None => before.iter().position(is)?,
        };
        self.next = i + 1;
        Some(&self.fields[i])
    }
}

/// The fields the catalogue does not know, in arrival order (they are written last).
pub(crate) fn unknown_fields(obj: &DataObject) -> impl Iterator<Item = (&str, &Field)> {
    obj.fields.iter().filter_map(|f| match &f.name {
        FieldName::Unknown(n) => Some((n.as_str(), f)),
        FieldName::Known(_) => None,
    })
}

/// Whether govmomi 0.24 can hold the value: objects of types it does not know decode to nil in
/// Go.
pub(crate) fn go_visible(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.type_info().is_some_and(|t| t.in_go),
        _ => true,
    }
}
