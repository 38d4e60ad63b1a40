//! Typed tagging calls (categories, tags, tag attachment) on [`RestClient`], for both API
//! generations (`/api/cis/tagging/...` and `/rest/com/vmware/cis/tagging/...`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::rest::{Flavor, RestClient, RestError, unwrap_value};

/// A tag category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// `urn:vmomi:InventoryServiceCategory:…`.
    pub id: String,
    /// The name.
    pub name: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// `SINGLE` or `MULTIPLE`.
    #[serde(default)]
    pub cardinality: String,
    /// Object types its tags can be attached to (empty: any).
    #[serde(default)]
    pub associable_types: Vec<String>,
}

/// What to create a category with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategorySpec {
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// `SINGLE` or `MULTIPLE`.
    pub cardinality: String,
    /// Object types, e.g. `VirtualMachine`.
    pub associable_types: Vec<String>,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// `urn:vmomi:InventoryServiceTag:…`.
    pub id: String,
    /// The name.
    pub name: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// The category's id.
    pub category_id: String,
}

/// What to create a tag with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagSpec {
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The category's id.
    pub category_id: String,
}

/// A managed object a tag is attached to: `{"type": "VirtualMachine", "id": "vm-57"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    /// The managed object type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The managed object id (moref value).
    pub id: String,
}

impl ObjectId {
    /// A VM by moref value.
    pub fn vm(id: impl Into<String>) -> Self {
        Self {
            kind: "VirtualMachine".into(),
            id: id.into(),
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(
    method: &'static str,
    path: &str,
    v: serde_json::Value,
) -> Result<T, RestError> {
    let v = match unwrap_value(v) {
        // vcsim answers an empty list as {"value": null}.
        serde_json::Value::Null => json!([]),
        other => other,
    };
    serde_json::from_value(v).map_err(|e| RestError::Decode {
        method,
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

impl RestClient {
    fn tagging(&self, rest: &str, api: &str) -> String {
        match self.flavor() {
            Flavor::Api => format!("/api/cis/tagging/{api}"),
            _ => format!("/rest/com/vmware/cis/tagging/{rest}"),
        }
    }

    fn by_id(&self, kind: &str, id: &str) -> String {
        let id = encode_segment(id);
        match self.flavor() {
            Flavor::Api => format!("/api/cis/tagging/{kind}/{id}"),
            _ => format!("/rest/com/vmware/cis/tagging/{kind}/id:{id}"),
        }
    }

    fn action(&self, path: &str, action: &str) -> String {
        match self.flavor() {
            Flavor::Api => format!("{path}?action={action}"),
            _ => format!("{path}?~action={action}"),
        }
    }

    async fn list_ids(&self, path: String) -> Result<Vec<String>, RestError> {
        let v = self.get(&path).await?;
        parse("GET", &path, v)
    }

    async fn create(&self, path: String, spec: serde_json::Value) -> Result<String, RestError> {
        let body = match self.flavor() {
            Flavor::Api => spec,
            _ => json!({ "create_spec": spec }),
        };
        let v = self.post(&path, Some(&body)).await?;
        parse("POST", &path, v)
    }

    /// The ids of all categories.
    pub async fn list_categories(&self) -> Result<Vec<String>, RestError> {
        self.list_ids(self.tagging("category", "category")).await
    }

    /// One category.
    pub async fn get_category(&self, id: &str) -> Result<Category, RestError> {
        let path = self.by_id("category", id);
        let v = self.get(&path).await?;
        parse("GET", &path, v)
    }

    /// Create a category; returns its id.
    pub async fn create_category(&self, spec: &CategorySpec) -> Result<String, RestError> {
        let spec = serde_json::to_value(spec).unwrap_or_default();
        self.create(self.tagging("category", "category"), spec)
            .await
    }

    /// Delete a category (and its tags).
    pub async fn delete_category(&self, id: &str) -> Result<(), RestError> {
        self.delete(&self.by_id("category", id)).await
    }

    /// The category with this name, if any.
    pub async fn find_category(&self, name: &str) -> Result<Option<Category>, RestError> {
        for id in self.list_categories().await? {
            let c = self.get_category(&id).await?;
            if c.name == name {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// The ids of all tags.
    pub async fn list_tags(&self) -> Result<Vec<String>, RestError> {
        self.list_ids(self.tagging("tag", "tag")).await
    }

    /// One tag.
    pub async fn get_tag(&self, id: &str) -> Result<Tag, RestError> {
        let path = self.by_id("tag", id);
        let v = self.get(&path).await?;
        parse("GET", &path, v)
    }

    /// Create a tag; returns its id.
    pub async fn create_tag(&self, spec: &TagSpec) -> Result<String, RestError> {
        let spec = serde_json::to_value(spec).unwrap_or_default();
        self.create(self.tagging("tag", "tag"), spec).await
    }

    /// Delete a tag.
    pub async fn delete_tag(&self, id: &str) -> Result<(), RestError> {
        self.delete(&self.by_id("tag", id)).await
    }

    /// The ids of the tags in a category.
    pub async fn list_tags_for_category(
        &self,
        category_id: &str,
    ) -> Result<Vec<String>, RestError> {
        let (path, body) = match self.flavor() {
            Flavor::Api => (
                self.action(&self.tagging("tag", "tag"), "list-tags-for-category"),
                Some(json!({ "category_id": category_id })),
            ),
            _ => (
                self.action(&self.by_id("tag", category_id), "list-tags-for-category"),
                None,
            ),
        };
        let v = self.post(&path, body.as_ref()).await?;
        parse("POST", &path, v)
    }

    /// The tag with this name in this category, if any.
    pub async fn find_tag(&self, category_id: &str, name: &str) -> Result<Option<Tag>, RestError> {
        for id in self.list_tags_for_category(category_id).await? {
            let t = self.get_tag(&id).await?;
            if t.name == name {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Attach a tag to an object.
    pub async fn attach_tag(&self, tag_id: &str, object: &ObjectId) -> Result<(), RestError> {
        self.association(tag_id, object, "attach").await
    }

    /// Detach a tag from an object.
    pub async fn detach_tag(&self, tag_id: &str, object: &ObjectId) -> Result<(), RestError> {
        self.association(tag_id, object, "detach").await
    }

    async fn association(
        &self,
        tag_id: &str,
        object: &ObjectId,
        action: &str,
    ) -> Result<(), RestError> {
        let path = self.action(&self.by_id("tag-association", tag_id), action);
        let body = json!({ "object_id": object });
        let _: serde_json::Value = self.post(&path, Some(&body)).await?;
        Ok(())
    }

    /// The ids of the tags attached to an object.
    pub async fn list_attached_tags(&self, object: &ObjectId) -> Result<Vec<String>, RestError> {
        let path = self.action(
            &self.tagging("tag-association", "tag-association"),
            "list-attached-tags",
        );
        let body = json!({ "object_id": object });
        let v = self.post(&path, Some(&body)).await?;
        parse("POST", &path, v)
    }
}

/// Percent-encode what cannot stand in a path segment (ids are URNs with `:`; those may stay).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_keep_urns() {
        assert_eq!(
            encode_segment("urn:vmomi:InventoryServiceTag:4c-9:GLOBAL"),
            "urn:vmomi:InventoryServiceTag:4c-9:GLOBAL"
        );
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn object_id_json() {
        assert_eq!(
            serde_json::to_value(ObjectId::vm("vm-57")).unwrap(),
            json!({"type": "VirtualMachine", "id": "vm-57"})
        );
    }
}
