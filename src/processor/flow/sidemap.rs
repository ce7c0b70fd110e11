//! `SideMap<S>`: small ids for the parts of top-table keys that have no exact 64-bit code
//! (IPv6 addresses, subnet and ASN summaries, names), counted by the table slots that use
//! them, so a table keeps only the side keys of its live items and an id is reused once
//! nothing refers to it.
//!
//! An address:port pair stores its address here and its port beside the id in the slot
//! code, so the many new pairs of one address add no entry.
//!
//! `SharedIds<S>`: ids that every top table of one bucket shares for its side keys, so a
//! record looks its addresses up once instead of once per table, and tables hold only
//! codes. Bounded: once full, new keys stay in the tables' own side maps (counted).

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::FixedState;

/// Ids of side keys, reference-counted.
#[derive(Clone, Debug)]
pub struct SideMap<S> {
    ids: HashMap<S, u32, FixedState>,
    /// By id: the key (None when the id is free) and the slots referring to it.
    keys: Vec<Option<(S, u32)>>,
    free: Vec<u32>,
}

impl<S> Default for SideMap<S> {
    fn default() -> Self {
        SideMap {
            ids: HashMap::with_hasher(FixedState::default()),
            keys: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<S: Clone + Eq + Hash> SideMap<S> {
    /// The id of `key`, assigned (with no references yet) when new.
    #[inline]
    pub fn id(&mut self, key: &S) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.keys.push(None);
                (self.keys.len() - 1) as u32
            }
        };
        if let Some(k) = self.keys.get_mut(id as usize) {
            *k = Some((key.clone(), 0));
        }
        self.ids.insert(key.clone(), id);
        id
    }

    /// The key of `id`.
    #[inline]
    pub fn key(&self, id: u32) -> Option<&S> {
        self.keys.get(id as usize)?.as_ref().map(|(k, _)| k)
    }

    /// One more slot refers to `id`.
    #[inline]
    pub fn hold(&mut self, id: u32) {
        if let Some(Some((_, refs))) = self.keys.get_mut(id as usize) {
            *refs += 1;
        }
    }

    /// One slot less refers to `id`; the key goes when none is left.
    pub fn release(&mut self, id: u32) {
        let Some(entry) = self.keys.get_mut(id as usize) else {
            return;
        };
        if let Some((_, refs)) = entry {
            *refs = refs.saturating_sub(1);
            if *refs == 0
                && let Some((key, _)) = entry.take()
            {
                self.ids.remove(&key);
                self.free.push(id);
            }
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// References of `id` (tests).
    #[cfg(test)]
    pub fn refs(&self, id: u32) -> u32 {
        self.keys
            .get(id as usize)
            .and_then(|e| e.as_ref())
            .map_or(0, |(_, r)| *r)
    }
}

/// Side keys a bucket's shared ids hold at most (about 4 MiB of IPv6 addresses).
pub const SHARED_IDS_LIMIT: usize = 1 << 16;

/// Ids shared by the top tables of one bucket (never released while the bucket lives).
#[derive(Clone, Debug)]
pub struct SharedIds<S> {
    ids: HashMap<S, u32, FixedState>,
    keys: Vec<S>,
    limit: usize,
    refused: u64,
}

impl<S> Default for SharedIds<S> {
    fn default() -> Self {
        SharedIds {
            ids: HashMap::with_hasher(FixedState::default()),
            keys: Vec::new(),
            limit: SHARED_IDS_LIMIT,
            refused: 0,
        }
    }
}

impl<S: Clone + Eq + Hash> SharedIds<S> {
    /// The id of `key`, assigned when new; None when the ids are full (a key refused once
    /// is refused for the bucket's life, since ids are never released).
    #[inline]
    pub fn id(&mut self, key: &S) -> Option<u32> {
        if let Some(&id) = self.ids.get(key) {
            return Some(id);
        }
        if self.keys.len() >= self.limit {
            self.refused += 1;
            return None;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.ids.insert(key.clone(), id);
        Some(id)
    }

    /// The key of `id`.
    #[inline]
    pub fn key(&self, id: u32) -> Option<&S> {
        self.keys.get(id as usize)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Lookups of new keys refused because the ids were full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Ids with another bound.
    pub fn with_limit(limit: usize) -> Self {
        SharedIds {
            limit,
            ..SharedIds::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reused_after_the_last_release() {
        let mut m: SideMap<String> = SideMap::default();
        let a = m.id(&"a".to_string());
        let b = m.id(&"b".to_string());
        assert_ne!(a, b);
        assert_eq!(m.id(&"a".to_string()), a);
        m.hold(a);
        m.hold(a);
        m.hold(b);
        m.release(a);
        assert_eq!(m.key(a).map(String::as_str), Some("a"));
        m.release(a);
        assert_eq!(m.key(a), None);
        assert_eq!(m.len(), 1);
        let c = m.id(&"c".to_string());
        assert_eq!(c, a, "a free id is reused");
        assert_eq!(m.refs(c), 0);
        m.release(b);
        m.release(b); // an extra release is harmless
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn shared_ids_are_stable_and_bounded() {
        let mut s: SharedIds<u64> = SharedIds::with_limit(3);
        let ids: Vec<Option<u32>> = [7, 8, 7, 9, 10, 8, 10].iter().map(|k| s.id(k)).collect();
        assert_eq!(
            ids,
            [Some(0), Some(1), Some(0), Some(2), None, Some(1), None]
        );
        assert_eq!(s.key(2), Some(&9));
        assert_eq!((s.len(), s.limit(), s.refused()), (3, 3, 2));
    }
}
