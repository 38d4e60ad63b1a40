//! The event history: append-only, ascending keys, stored compactly.
//!
//! Each event is one 24-byte [`Entry`]: creation time, the inventory objects it refers to (a bit
//! set), its kind and user (indices into small interned tables) and a payload. A generated
//! event's payload is the variant [`Generator::build`] rebuilds it from; a posted event's is the
//! index of its serialised XML. Keys are not stored: the key of entry `i` is `first_key + i`.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::generate::{Generator, TEMPLATES};

/// One event in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Creation time, nanoseconds since the Unix epoch (non-decreasing along the history).
    pub created: i64,
    /// The inventory objects the event refers to (bit `i` = object `i`).
    pub entities: u64,
    /// Index into [`History::kinds`].
    pub kind: u16,
    /// Index into [`History::users`].
    pub user: u16,
    /// The variant of a generated event, or `POSTED | index` into the posted events.
    pub payload: u32,
}

/// Entries per chunk of [`Entries`] (1.5 MiB).
const CHUNK: usize = 1 << 16;

/// The entries, in fixed-size chunks: appending never copies the history (no doubling
/// reallocation of a million-entry vector) and the memory held is the memory used.
#[derive(Debug, Default)]
pub(crate) struct Entries {
    chunks: Vec<Vec<Entry>>,
    len: usize,
}

impl Entries {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push(&mut self, e: Entry) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(e),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(e);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }

    pub fn get(&self, i: usize) -> Option<&Entry> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub fn last(&self) -> Option<&Entry> {
        self.chunks.last()?.last()
    }

    /// The first index whose entry does not satisfy `pred` (entries satisfying it come first).
    pub fn partition_point(&self, pred: impl Fn(&Entry) -> bool) -> usize {
        let chunk = self.chunks.partition_point(|c| c.last().is_some_and(&pred));
        match self.chunks.get(chunk) {
            Some(c) => chunk * CHUNK + c.partition_point(&pred),
            None => self.len,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.capacity() * std::mem::size_of::<Entry>())
            .sum()
    }
}

impl std::ops::Index<usize> for Entries {
    type Output = Entry;
    fn index(&self, i: usize) -> &Entry {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// Marks a payload as an index into the posted events.
pub(crate) const POSTED: u32 = 1 << 31;

/// The kind of an event: what the type filters and `category` look at.
#[derive(Debug, Clone)]
pub(crate) struct KindInfo {
    pub type_name: Box<str>,
    /// `eventTypeId` for EventEx/ExtendedEvent, else the type name.
    pub kind_name: Box<str>,
    pub category: Box<str>,
    /// The generator template, for generated events.
    pub template: Option<u16>,
}

/// What [`History::push_posted`] records of a posted event, besides its content.
pub(crate) struct PostedEvent<'a> {
    /// Creation time (nanoseconds since the epoch); never before the newest event's.
    pub created: i64,
    /// The event's type (`xsi:type`).
    pub type_name: &'a str,
    /// `eventTypeId` for EventEx/ExtendedEvent, else the type name (what type filters match).
    pub kind_name: &'a str,
    /// Its category (`info`, `warning`, `error`, `user`).
    pub category: &'a str,
    /// The user it is recorded for.
    pub user: &'a str,
    /// The inventory objects its entity arguments name, as a bit mask (entity filters).
    pub entities: u64,
    /// The API release it was posted in, when older than the newest.
    pub release: Option<vsphere_client::catalogue::Release>,
}

/// A posted event, serialised: the content of its element (without the element itself).
#[derive(Debug, Clone)]
pub(crate) struct Posted {
    pub type_name: Arc<str>,
    pub inner_xml: Arc<str>,
    pub chain_id: i32,
    /// The oldest API release that has every type and field of the event (`None`: it has some
    /// no release has); older clients get it adapted.
    pub release: Option<vsphere_client::catalogue::Release>,
}

/// What to render for one event read from the history.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Generated {
        key: i64,
        created: i64,
        template: u16,
        variant: u32,
    },
    Posted {
        posted: Posted,
    },
}

/// The history.
#[derive(Debug)]
pub(crate) struct History {
    pub entries: Entries,
    pub first_key: i64,
    pub posted: Vec<Posted>,
    pub kinds: Vec<KindInfo>,
    kind_index: HashMap<(Box<str>, Box<str>), u16>,
    pub users: Vec<Box<str>>,
    user_index: HashMap<Box<str>, u16>,
    /// Kind and user of each generator template, interned at start.
    template_ids: Vec<(u16, u16)>,
}

impl History {
    pub fn new(first_key: i64) -> Self {
        let mut h = Self {
            entries: Entries::default(),
            first_key,
            posted: Vec::new(),
            kinds: Vec::new(),
            kind_index: HashMap::new(),
            users: Vec::new(),
            user_index: HashMap::new(),
            template_ids: Vec::with_capacity(TEMPLATES.len()),
        };
        for (i, t) in TEMPLATES.iter().enumerate() {
            let k = h.kind(t.type_name, t.kind_name, t.category);
            if let Some(info) = h.kinds.get_mut(usize::from(k)) {
                info.template = Some(i as u16);
            }
            let u = h.user(t.user);
            h.template_ids.push((k, u));
        }
        h
    }

    /// The key the next event gets.
    pub fn next_key(&self) -> i64 {
        self.first_key + self.entries.len() as i64
    }

    /// Creation time of the newest event (nanoseconds), or `i64::MIN`.
    pub fn last_created(&self) -> i64 {
        self.entries.last().map_or(i64::MIN, |e| e.created)
    }

    /// Intern an event kind.
    pub fn kind(&mut self, type_name: &str, kind_name: &str, category: &str) -> u16 {
        let k = (Box::<str>::from(type_name), Box::<str>::from(kind_name));
        if let Some(&i) = self.kind_index.get(&k) {
            return i;
        }
        let i = self.kinds.len().min(usize::from(u16::MAX)) as u16;
        self.kinds.push(KindInfo {
            type_name: k.0.clone(),
            kind_name: k.1.clone(),
            category: category.into(),
            template: None,
        });
        self.kind_index.insert(k, i);
        i
    }

    /// Intern a user name.
    pub fn user(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.user_index.get(name) {
            return i;
        }
        let i = self.users.len().min(usize::from(u16::MAX)) as u16;
        self.users.push(name.into());
        self.user_index.insert(name.into(), i);
        i
    }

    /// Append a generated event created at `created` (clamped so times never go backwards);
    /// returns its key.
    pub fn push_generated(&mut self, generator: &Generator, created: i64) -> i64 {
        let created = created.max(self.last_created());
        self.push_generated_unclamped(generator, created)
    }

    /// Append a generated event created at `created`, even before the last one (vCenter's
    /// clock was stepped back); returns its key.
    pub fn push_generated_unclamped(&mut self, generator: &Generator, created: i64) -> i64 {
        let key = self.next_key();
        let (template, variant) = generator.choose(key);
        let (kind, user) = self
            .template_ids
            .get(usize::from(template))
            .copied()
            .unwrap_or((0, 0));
        let entities = generator.entities(template, variant);
        self.entries.push(Entry {
            created,
            entities,
            kind,
            user,
            payload: variant & !POSTED,
        });
        key
    }

    /// Append a posted event; `build` gets the key and creation time and returns the
    /// serialised content. Returns the key.
    pub fn push_posted(
        &mut self,
        posted: PostedEvent<'_>,
        build: impl FnOnce(i64, i64) -> String,
    ) -> i64 {
        let PostedEvent {
            created,
            type_name,
            kind_name,
            category,
            user,
            entities,
            release,
        } = posted;
        let key = self.next_key();
        let created = created.max(self.last_created());
        let kind = self.kind(type_name, kind_name, category);
        let user = self.user(user);
        let inner = build(key, created);
        let index = self.posted.len() as u32;
        self.posted.push(Posted {
            type_name: type_name.into(),
            inner_xml: inner.into(),
            chain_id: key as i32,
            release,
        });
        self.entries.push(Entry {
            created,
            entities,
            kind,
            user,
            payload: POSTED | index,
        });
        key
    }

    /// What to render for entry `index`.
    pub fn item(&self, index: usize) -> Option<Item> {
        let e = self.entries.get(index)?;
        if e.payload & POSTED != 0 {
            let p = self.posted.get((e.payload & !POSTED) as usize)?;
            Some(Item::Posted { posted: p.clone() })
        } else {
            let template = self.kinds.get(usize::from(e.kind))?.template?;
            Some(Item::Generated {
                key: self.first_key + index as i64,
                created: e.created,
                template,
                variant: e.payload,
            })
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.entries.heap_bytes()
            + self
                .posted
                .iter()
                .map(|p| p.inner_xml.len() + p.type_name.len() + 48)
                .sum::<usize>()
    }
}

/// Nanoseconds since the epoch of a timestamp.
pub(crate) fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

/// The timestamp of nanoseconds since the epoch.
pub(crate) fn timestamp(nanos: i64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(nanos)).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[test]
    fn chunked_entries_index_and_search_like_a_vector() {
        let mut e = Entries::default();
        let n = CHUNK * 2 + 17;
        for i in 0..n {
            e.push(Entry {
                created: (i / 3) as i64,
                entities: 0,
                kind: 0,
                user: 0,
                payload: i as u32,
            });
        }
        assert_eq!(e.len(), n);
        assert_eq!(e[CHUNK + 5].payload, (CHUNK + 5) as u32);
        assert_eq!(e.last().map(|x| x.payload), Some(n as u32 - 1));
        for t in [0i64, 1, (CHUNK / 3) as i64, (n / 3) as i64, n as i64] {
            let expected = (0..n).find(|&i| (i / 3) as i64 >= t).unwrap_or(n);
            assert_eq!(e.partition_point(|x| x.created < t), expected, "t={t}");
        }
    }
}
