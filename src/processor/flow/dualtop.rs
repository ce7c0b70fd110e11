//! `DualTop<K>`: the flow processor's heavy-hitters table, counting two weights per item
//! (bytes and packets) so the `_bytes` and `_packets` top lists of the same key cost one
//! update per record instead of two.
//!
//! Each weight behaves like `sketch::TopN`: exact while the items fit in the capacity;
//! beyond it a purge subtracts each weight's median from that weight of every item, adds it
//! to that weight's offset and drops items whose weights both reached zero, so for every
//! tracked item and weight `tracked ≤ true ≤ tracked + offset`. An item whose weight in
//! one dimension is zero is not listed in that dimension.
//!
//! Layout (this file owns it): flow tables are many (per device, interface, direction and
//! key kind), large (thousands of mostly new address:port pairs per minute) and touched at
//! random, so an update must touch one cache line. Items live in an open-addressing table
//! (linear probing, load ≤ 3/4) of 24-byte slots `[code, bytes, packets]`, where the code
//! is an exact 64-bit encoding of the key ([`TopKey::encode`]: ports, DSCP, interfaces, IPv4
//! addresses, IPv4 address + port). Keys without one (IPv6 addresses, summaries, names)
//! split into a side part that gets a small id from a reference-counted [`SideMap`] and 32
//! bits kept beside the id (the port of an address:port pair), which is what keeps every
//! table exact.
//! Callers may [`DualTop::prefetch`] the slot of a key ahead of its update.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

use super::names::{Endpoint, PortKey};
use super::sidemap::{SharedIds, SideMap};
use crate::enrich::geo::GeoLocation;

/// Bytes dimension.
pub const BYTES: usize = 0;
/// Packets dimension.
pub const PACKETS: usize = 1;

/// Items tracked: DataSketches' frequent-items map of 2^13 slots (pktvisor's
/// `lg_max_map_size` 13) holds at most 0.75 × 8192 items before it purges.
pub const CAPACITY: usize = 6144;

/// Items sampled to find a purge's median.
const PURGE_SAMPLE: usize = 1024;

/// Slot code of an empty slot (never an item's code).
const EMPTY: u64 = u64::MAX;

/// Codes at or above this are `SIDE | id << 32 | low` (exact codes stay below): the id
/// is from the bucket's [`SharedIds`], or with `LOCAL` from the table's own side map.
const SIDE: u64 = 1 << 63;

/// Marks a side code whose id is the table's own.
const LOCAL: u64 = 1 << 62;

/// The side id of a side code.
#[inline]
fn side_id(code: u64) -> u32 {
    ((code >> 32) & 0x3fff_ffff) as u32
}

/// Whether `code` (not `EMPTY`) has an id of the table's own side map.
#[inline]
fn is_local(code: u64) -> bool {
    code & (SIDE | LOCAL) == SIDE | LOCAL
}

/// The code of a key whose side part has the shared id `id`, with `low` its other bits
/// (`TopKey::split`).
#[inline]
pub fn shared_code(id: u32, low: u32) -> u64 {
    SIDE | u64::from(id & 0x3fff_ffff) << 32 | u64::from(low)
}

thread_local! {
    /// Survivors of a purge (shared by every table of the thread).
    static SCRATCH: std::cell::RefCell<Vec<[u64; 3]>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Smallest table allocated.
const MIN_SLOTS: usize = 8;

/// A key of a flow top table.
pub trait TopKey: Clone + Eq + Hash + Ord {
    /// What the side map holds for a key without an exact code.
    type Side: Clone + Eq + Hash + std::fmt::Debug;
    /// An exact code of the key (below 2^63; `decode` gives the key back), when it has one.
    fn encode(&self) -> Option<u64>;
    /// The key of a code `encode` returned.
    fn decode(code: u64) -> Option<Self>;
    /// For a key without an exact code: its side part and the 32 bits kept in the code.
    fn split(&self) -> (&Self::Side, u32);
    /// The key back from `split`.
    fn join(side: &Self::Side, low: u32) -> Self;
}

/// `split`/`join` of a key that is its own side part.
macro_rules! whole_side {
    () => {
        type Side = Self;
        #[inline]
        fn split(&self) -> (&Self, u32) {
            (self, 0)
        }
        fn join(side: &Self, _: u32) -> Self {
            side.clone()
        }
    };
}

impl TopKey for u8 {
    whole_side!();
    #[inline]
    fn encode(&self) -> Option<u64> {
        Some(u64::from(*self))
    }
    fn decode(code: u64) -> Option<Self> {
        u8::try_from(code).ok()
    }
}

impl TopKey for u32 {
    whole_side!();
    #[inline]
    fn encode(&self) -> Option<u64> {
        Some(u64::from(*self))
    }
    fn decode(code: u64) -> Option<Self> {
        u32::try_from(code).ok()
    }
}

impl TopKey for PortKey {
    whole_side!();
    #[inline]
    fn encode(&self) -> Option<u64> {
        self.code17().map(u64::from)
    }
    fn decode(code: u64) -> Option<Self> {
        u32::try_from(code).ok().map(PortKey::from_code17)
    }
}

impl TopKey for Endpoint {
    whole_side!();
    #[inline]
    fn encode(&self) -> Option<u64> {
        match self {
            Endpoint::Ip(IpAddr::V4(a)) => Some(u64::from(a.to_bits())),
            _ => None,
        }
    }
    fn decode(code: u64) -> Option<Self> {
        u32::try_from(code)
            .ok()
            .map(|a| Endpoint::Ip(IpAddr::V4(a.into())))
    }
}

/// The exact code of an (address, port) pair, as `TopKey::encode` of the tuple.
#[inline]
pub fn pair_code(e: &Endpoint, p: PortKey) -> Option<u64> {
    let a = e.encode()?;
    let p = p.code17()?;
    Some((u64::from(p) << 32) | a)
}

impl TopKey for (Endpoint, PortKey) {
    type Side = Endpoint;
    #[inline]
    fn split(&self) -> (&Endpoint, u32) {
        (&self.0, self.1.raw())
    }
    fn join(side: &Endpoint, low: u32) -> Self {
        (side.clone(), PortKey::from_raw(low))
    }
    #[inline]
    fn encode(&self) -> Option<u64> {
        pair_code(&self.0, self.1)
    }
    fn decode(code: u64) -> Option<Self> {
        let e = Endpoint::decode(code & 0xffff_ffff)?;
        let p = PortKey::decode(code >> 32)?;
        Some((e, p))
    }
}

/// Keys kept in the side map only.
macro_rules! side_only {
    ($($t:ty),*) => {$(
        impl TopKey for $t {
            whole_side!();
            #[inline]
            fn encode(&self) -> Option<u64> {
                None
            }
            fn decode(_: u64) -> Option<Self> {
                None
            }
        }
    )*};
}
side_only!(Arc<GeoLocation>, Arc<str>, String);

/// Table index bits of a code (Fibonacci hashing of a folded code).
#[inline]
fn spread(code: u64) -> u64 {
    (code ^ (code >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Hints the CPU to load the cache line of `p` (never faults, never reads for the program).
#[inline]
fn prefetch_line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch of any address, even an
    // invalid one, has no architectural effect.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The summary.
#[derive(Clone, Debug)]
pub struct DualTop<K: TopKey> {
    /// `[code, bytes, packets]`, `code == EMPTY` when free. Length 0 or a power of two.
    slots: Vec<[u64; 3]>,
    /// 64 − log2(slots.len()).
    shift: u32,
    len: usize,
    capacity: usize,
    offset: [u64; 2],
    evicted: u64,
    /// Side parts of the keys without an exact code.
    side: SideMap<K::Side>,
}

impl<K: TopKey> Default for DualTop<K> {
    fn default() -> Self {
        DualTop {
            slots: Vec::new(),
            shift: 64,
            len: 0,
            capacity: CAPACITY,
            offset: [0; 2],
            evicted: 0,
            side: SideMap::default(),
        }
    }
}

impl<K: TopKey> DualTop<K> {
    /// Adds `w` (bytes, packets) to `item`.
    #[inline]
    pub fn add(&mut self, item: K, w: [u64; 2]) {
        self.add_ref(&item, w);
    }

    /// `add` for a borrowed key (its side part cloned only when new).
    #[inline]
    pub fn add_ref(&mut self, item: &K, w: [u64; 2]) {
        if w == [0, 0] {
            return;
        }
        let code = match item.encode() {
            Some(c) => c,
            None => self.side_code(item),
        };
        self.add_code(code, w);
    }

    /// Starts loading the slot `item` would probe first, when it has an exact code.
    #[inline]
    pub fn prefetch(&self, item: &K) {
        if let Some(code) = item.encode() {
            self.prefetch_code(code);
        }
    }

    /// Starts loading the home slot of `code` and the slots after it.
    #[inline]
    pub fn prefetch_code(&self, code: u64) {
        if self.slots.is_empty() {
            return;
        }
        let i = (spread(code) >> self.shift) as usize;
        if let Some(s) = self.slots.get(i) {
            prefetch_line(s);
        }
        // and the next cache line: a new item's probe for a free slot runs a few slots on
        // at the load a full table has (measured: new-item updates ~15% faster)
        if let Some(s) = self.slots.get(i + 3) {
            prefetch_line(s);
        }
    }

    /// Items tracked.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Items dropped by purges.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The code of a key without an exact one (its side id assigned when new).
    #[inline]
    fn side_code(&mut self, item: &K) -> u64 {
        let (side, low) = item.split();
        let id = self.side.id(side);
        SIDE | LOCAL | u64::from(id & 0x3fff_ffff) << 32 | u64::from(low)
    }

    /// The key of a code in the table (`shared`: the ids of the table's bucket).
    fn key_of(&self, code: u64, shared: Option<&SharedIds<K::Side>>) -> Option<K> {
        if code < SIDE {
            K::decode(code)
        } else if is_local(code) {
            Some(K::join(self.side.key(side_id(code))?, code as u32))
        } else {
            Some(K::join(shared?.key(side_id(code))?, code as u32))
        }
    }

    /// Adds `w` to the item of `code`: an exact code, or a [`shared_code`] of the ids of
    /// the table's bucket. A key must always come with the same code.
    #[inline]
    pub fn add_code(&mut self, code: u64, w: [u64; 2]) {
        if w == [0, 0] {
            return;
        }
        if self.insert(code, w) {
            if is_local(code) {
                self.side.hold(side_id(code));
            }
            if self.len > self.capacity {
                self.purge();
            }
        }
    }

    /// Adds `w` to the item of `code`; true when the item is new. The table grows past a
    /// load of 3/4 (so at the capacity of 6144 items it is 8192 slots, 192 KiB).
    #[inline]
    fn insert(&mut self, code: u64, w: [u64; 2]) -> bool {
        // (the item beyond the capacity may go over: it is purged at once)
        let (load, max) = (self.len * 4, self.slots.len() * 3);
        if load > max || load == max && self.len != self.capacity {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (spread(code) >> self.shift) as usize;
        loop {
            let Some(s) = self.slots.get_mut(i) else {
                return false; // unreachable: i ≤ mask
            };
            let new = s[0] == EMPTY;
            if new || s[0] == code {
                s[0] = code;
                s[1] = s[1].saturating_add(w[0]);
                s[2] = s[2].saturating_add(w[1]);
                self.len += usize::from(new);
                return new;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table (at least `MIN_SLOTS`), re-placing every item.
    #[cold]
    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![[EMPTY, 0, 0]; n]);
        self.shift = 64 - n.trailing_zeros();
        let mask = n - 1;
        for s in old {
            if s[0] == EMPTY {
                continue;
            }
            let mut i = (spread(s[0]) >> self.shift) as usize;
            while let Some(t) = self.slots.get_mut(i) {
                if t[0] == EMPTY {
                    *t = s;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
    }

    /// Adds another summary (of tables that use no shared ids).
    pub fn merge(&mut self, o: &Self) {
        self.merge_with(o, None, None);
    }

    /// Adds another summary; `o_ids` are the shared ids of `o`'s bucket, `ids` those of
    /// this table's bucket (side keys get a shared id there when it has room, as records
    /// do).
    pub fn merge_with(
        &mut self,
        o: &Self,
        o_ids: Option<&SharedIds<K::Side>>,
        mut ids: Option<&mut SharedIds<K::Side>>,
    ) {
        for s in &o.slots {
            let code = match s[0] {
                EMPTY => continue,
                c if c < SIDE => c,
                c => {
                    let side = if is_local(c) {
                        o.side.key(side_id(c))
                    } else {
                        o_ids.and_then(|ids| ids.key(side_id(c)))
                    };
                    let Some(side) = side else {
                        continue; // unreachable: every side code has its key
                    };
                    match ids.as_deref_mut().and_then(|ids| ids.id(side)) {
                        Some(id) => shared_code(id, c as u32),
                        None => {
                            let id = self.side.id(side);
                            SIDE | LOCAL | u64::from(id & 0x3fff_ffff) << 32 | (c & 0xffff_ffff)
                        }
                    }
                }
            };
            if self.insert(code, [s[1], s[2]]) && is_local(code) {
                self.side.hold(side_id(code));
            }
        }
        for d in 0..2 {
            self.offset[d] = self.offset[d].saturating_add(o.offset[d]);
        }
        self.evicted = self.evicted.saturating_add(o.evicted);
        while self.len > self.capacity {
            self.purge();
        }
    }

    /// Subtracts each weight's (sampled) median, drops items whose weights both reach
    /// zero. The median is taken over a sample of at most `PURGE_SAMPLE` items (slot order
    /// follows the hash, so the first items are a random sample), as DataSketches does.
    #[cold]
    fn purge(&mut self) {
        let before = self.len;
        let mut samples: [Vec<u64>; 2] = [
            Vec::with_capacity(PURGE_SAMPLE),
            Vec::with_capacity(PURGE_SAMPLE),
        ];
        for s in self.slots.iter().filter(|s| s[0] != EMPTY) {
            for (d, v) in samples.iter_mut().enumerate() {
                if s[d + 1] > 0 && v.len() < PURGE_SAMPLE {
                    v.push(s[d + 1]);
                }
            }
            if samples.iter().all(|v| v.len() == PURGE_SAMPLE) {
                break;
            }
        }
        let mut median = [0u64; 2];
        for (m, v) in median.iter_mut().zip(&mut samples) {
            if !v.is_empty() {
                let mid = (v.len() - 1) / 2;
                let (_, &mut x, _) = v.select_nth_unstable(mid);
                *m = x;
            }
        }
        // One branch-free pass subtracts the medians and copies the survivors, in slot
        // order, to a scratch buffer (live items always have a nonzero weight, free slots
        // have none, so "both weights zero" is exactly "free or dropped"); then the table is
        // cleared and the survivors re-placed: at the load left after a purge their probes
        // are short, and the table stays in cache from the first pass.
        SCRATCH.with_borrow_mut(|keep| {
            // (sized once per thread: only its first `n` entries are read)
            if keep.len() < self.slots.len() {
                keep.resize(self.slots.len(), [EMPTY, 0, 0]);
            }
            let mut n = 0usize;
            for s in &self.slots {
                let b = s[1].saturating_sub(median[0]);
                let p = s[2].saturating_sub(median[1]);
                if let Some(k) = keep.get_mut(n) {
                    *k = [s[0], b, p];
                }
                n += usize::from(b | p != 0);
            }
            if !self.side.is_empty() {
                for s in &self.slots {
                    if s[0] != EMPTY && is_local(s[0]) && s[1] <= median[0] && s[2] <= median[1] {
                        self.side.release(side_id(s[0]));
                    }
                }
            }
            self.slots.fill([EMPTY, 0, 0]);
            let mask = self.slots.len() - 1;
            for k in keep.iter().take(n) {
                let mut i = (spread(k[0]) >> self.shift) as usize;
                while let Some(t) = self.slots.get_mut(i) {
                    if t[0] == EMPTY {
                        *t = *k;
                        break;
                    }
                    i = (i + 1) & mask;
                }
            }
            self.len = n;
        });
        for (o, m) in self.offset.iter_mut().zip(median) {
            *o = o.saturating_add(m);
        }
        self.evicted = self.evicted.saturating_add((before - self.len) as u64);
    }

    /// The top list of dimension `d` with pktvisor's rules (see `sketch::TopN::top`).
    pub fn top(&self, d: usize, count: usize, percentile_threshold: u64) -> Vec<(K, u64)> {
        self.top_with(d, count, percentile_threshold, None)
    }

    /// `top` of a table whose bucket's shared ids are `shared`.
    pub fn top_with(
        &self,
        d: usize,
        count: usize,
        percentile_threshold: u64,
        shared: Option<&SharedIds<K::Side>>,
    ) -> Vec<(K, u64)> {
        if count == 0 || d > 1 {
            return Vec::new();
        }
        let off = self.offset[d];
        let mut items: Vec<(K, u64)> = self
            .slots
            .iter()
            .filter(|s| s[0] != EMPTY && s[d + 1] > 0)
            .filter_map(|s| {
                let k = self.key_of(s[0], shared)?;
                Some((k, s[d + 1].saturating_add(off)))
            })
            .collect();
        let order = |a: &(K, u64), b: &(K, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0));
        if count < items.len() {
            items.select_nth_unstable_by(count - 1, order);
            items.truncate(count);
        }
        items.sort_unstable_by(order);
        let pct = percentile_threshold.min(100);
        if pct > 0 && !items.is_empty() {
            let n = items.len() as u64;
            let rank = (pct * n).div_ceil(100);
            let index = rank.saturating_sub(1).min(n - 1) as usize;
            let threshold = items.get(items.len() - 1 - index).map_or(0, |t| t.1);
            let keep = items.partition_point(|t| t.1 >= threshold);
            items.truncate(keep);
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::TopN;
    use std::collections::HashMap;

    impl<K: TopKey> DualTop<K> {
        /// Every item is reached from its home slot without crossing a free slot, once.
        fn check(&self) {
            let mask = self.slots.len() - 1;
            let mut seen = std::collections::HashSet::new();
            for (i, s) in self.slots.iter().enumerate() {
                let c = s[0];
                if c == EMPTY {
                    assert_eq!(s, &[EMPTY, 0, 0]);
                    continue;
                }
                assert!(seen.insert(c), "duplicate code {c:x}");
                let mut j = (spread(c) >> self.shift) as usize;
                while j != i {
                    assert_ne!(self.slots[j][0], EMPTY, "item at {i} unreachable");
                    j = (j + 1) & mask;
                }
            }
            assert_eq!(seen.len(), self.len);
            // every side id is held by exactly the slots that use it
            let mut held: HashMap<u32, u32> = HashMap::new();
            for c in seen.iter().filter(|&&c| is_local(c)) {
                *held.entry(side_id(*c)).or_default() += 1;
            }
            assert_eq!(held.len(), self.side.len());
            for (id, n) in held {
                assert_eq!(self.side.refs(id), n, "side id {id}");
            }
        }
    }

    fn v4(i: u32) -> Endpoint {
        Endpoint::Ip(IpAddr::V4(i.into()))
    }

    #[test]
    fn matches_two_topns_while_items_fit() {
        let mut d = DualTop::default();
        let mut b = TopN::new();
        let mut p = TopN::new();
        for i in 0u32..500 {
            let k = (i * 7919) % 97;
            d.add(k, [u64::from(i) * 3, u64::from(i % 5)]);
            b.update_weighted(k, u64::from(i) * 3);
            p.update_weighted(k, u64::from(i % 5));
        }
        let want_b: Vec<(u32, u64)> = b.top(10, 0).iter().map(|t| (*t.item, t.estimate)).collect();
        assert_eq!(want_b, d.top(BYTES, 10, 0));
        let want_p: Vec<(u32, u64)> = p
            .top(10, 50)
            .iter()
            .map(|t| (*t.item, t.estimate))
            .collect();
        assert_eq!(want_p, d.top(PACKETS, 10, 50));
    }

    /// Every key kind, exact and side-mapped, against a plain map, up to the capacity.
    #[test]
    fn exact_up_to_capacity_for_every_key_kind() {
        let mut t: DualTop<(Endpoint, PortKey)> = DualTop::default();
        let mut want: HashMap<(Endpoint, PortKey), [u64; 2]> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in 0..40_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % CAPACITY as u64) as u32;
            let e = match n % 3 {
                0 => v4(n),
                1 => Endpoint::Ip(format!("2001:db8::{n:x}").parse().unwrap()),
                _ => Endpoint::Name(Arc::from(format!("AS{n}").as_str())),
            };
            let p = PortKey::from_code17(if n.is_multiple_of(2) {
                n
            } else {
                (1 << 16) | (n % 300)
            });
            let w = [x % 1500, i % 3];
            t.add((e.clone(), p), w);
            let m = want.entry((e, p)).or_default();
            m[0] += w[0];
            m[1] += w[1];
        }
        assert!(want.len() <= CAPACITY);
        assert_eq!(t.len(), want.len());
        assert_eq!(t.evicted(), 0);
        for d in [BYTES, PACKETS] {
            let got = t.top(d, usize::MAX, 0);
            let mut exp: Vec<((Endpoint, PortKey), u64)> = want
                .iter()
                .filter(|(_, w)| w[d] > 0)
                .map(|(k, w)| (k.clone(), w[d]))
                .collect();
            exp.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            assert_eq!(got, exp);
        }
        // merging two halves equals the whole
        let mut a = DualTop::default();
        let mut b = DualTop::default();
        for (i, (k, w)) in want.iter().enumerate() {
            if i % 2 == 0 {
                a.add(k.clone(), *w);
            } else {
                b.add_ref(k, *w);
            }
        }
        a.merge(&b);
        assert_eq!(a.top(BYTES, 50, 0), t.top(BYTES, 50, 0));
        assert_eq!(a.len(), t.len());
    }

    #[test]
    fn bounded_heavy_hitters_survive() {
        let mut d = DualTop::default();
        for i in 0u32..100_000 {
            d.add(i, [1, 1]);
            d.add(u32::MAX, [10, 1]);
        }
        assert!(d.len() <= CAPACITY);
        assert!(d.evicted() > 0);
        d.check();
        let top = d.top(BYTES, 1, 0);
        assert_eq!(top[0].0, u32::MAX);
        assert!(top[0].1 >= 1_000_000);
        let mut m = DualTop::default();
        m.merge(&d);
        assert_eq!(m.top(PACKETS, 1, 0)[0].0, u32::MAX);
    }

    #[test]
    fn purges_keep_every_item_reachable_and_within_bounds() {
        let mut d: DualTop<(Endpoint, PortKey)> = DualTop::default();
        let mut truth: HashMap<u64, [u64; 2]> = HashMap::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // a heavy head and a long tail of new address:port pairs
            let n = if i % 4 == 0 { x % 50 } else { x % 1_000_000 };
            let k = (v4(n as u32), PortKey::from_code17((n % 65_536) as u32));
            let w = [1 + x % 1500, 1 + (x >> 20) % 3];
            d.add(k, w);
            let t = truth.entry(n).or_default();
            t[0] += w[0];
            t[1] += w[1];
            if i % 50_000 == 0 {
                d.check();
            }
        }
        d.check();
        assert!(d.evicted() > 100_000);
        for dim in [BYTES, PACKETS] {
            let off = d.offset[dim];
            for ((e, _), est) in d.top(dim, usize::MAX, 0) {
                let Endpoint::Ip(IpAddr::V4(a)) = e else {
                    panic!("not v4")
                };
                let t = truth[&u64::from(a.to_bits())][dim];
                assert!(est - off <= t && t <= est, "{a}: {est} {t} {off}");
            }
            // the 50 heavy items lead
            let top: Vec<u32> = d
                .top(dim, 50, 0)
                .iter()
                .map(|((e, _), _)| match e {
                    Endpoint::Ip(IpAddr::V4(a)) => a.to_bits(),
                    _ => u32::MAX,
                })
                .collect();
            assert!(top.iter().all(|&a| a < 50), "{top:?}");
        }
    }

    #[test]
    fn side_keys_are_released_by_purges() {
        let mut d: DualTop<String> = DualTop::default();
        for i in 0..50_000u32 {
            d.add(format!("k{i}"), [1, 1]);
            d.add_ref(&"heavy".to_string(), [5, 5]);
        }
        assert!(d.len() <= CAPACITY);
        assert_eq!(d.side.len(), d.len());
        d.check();
        assert_eq!(d.top(BYTES, 1, 0)[0].0, "heavy");
        assert!(d.top(BYTES, 1, 0)[0].1 >= 250_000);
    }
}
