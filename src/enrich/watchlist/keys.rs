//! The string-keyed tables of the watchlists: lowercased keys (addresses, domains, user names)
//! stored back to back in one byte arena, found through an open-addressing table by a hash that
//! ignores ASCII case, each key heading a chain of hits (an index the caller owns).
//!
//! Sized for a million keys in a few tens of megabytes: a slot is 12 bytes (a 32-bit tag from
//! the hash, the key's place in the arena, the head of its hit chain) and a key costs its bytes
//! plus one terminator; nothing is allocated per key. A lookup hashes the borrowed input in
//! place, compares tags along a short linear probe, and confirms the one candidate against the
//! arena with `eq_ignore_ascii_case` — one slot, one arena and one hit access, as a hash map
//! holding the key node would. It must never panic on any key, and keys are only added: a
//! failed load removes what it added with [`KeyTable::truncate`].

use super::super::hash::caseless_hash;

/// End of a chain; also "no slot" (an empty slot has this `start`).
pub(super) const NONE: u32 = u32::MAX;

/// Ends every key in the arena: never part of UTF-8 text, so no key can contain it.
const END: u8 = 0xFF;

/// Where a key's probe starts: the hash's high bits, independent of the tag.
fn home(hash: u64) -> usize {
    hash.rotate_left(32) as usize
}

/// Lowercased string keys, each heading a hit chain, found by [`caseless_hash`].
#[derive(Debug, Default, Clone)]
pub(super) struct KeyTable {
    /// A power of two in length (or empty); at most three quarters used, so that a probe for
    /// an absent key (most lookups: most addresses in a log are on no list) stays short.
    slots: Vec<Slot>,
    len: usize,
    /// Every key, lowercased, each followed by [`END`].
    arena: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The hash's low 32 bits (its high bits chose the slot): most probes end here.
    tag: u32,
    /// Where the key starts in the arena; [`NONE`] for an empty slot.
    start: u32,
    /// First hit of this key.
    hits: u32,
}

const EMPTY: Slot = Slot {
    tag: 0,
    start: NONE,
    hits: NONE,
};

impl KeyTable {
    /// Number of keys.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the keys take in the arena (what a load must keep below `u32::MAX`).
    pub(super) fn arena_len(&self) -> usize {
        self.arena.len()
    }

    /// The hit chain of `key` (any case), or [`NONE`].
    pub(super) fn get(&self, key: &str) -> u32 {
        self.get_hashed(caseless_hash(key.as_bytes()), key)
    }

    pub(super) fn get_hashed(&self, hash: u64, key: &str) -> u32 {
        match self.find(hash, key) {
            Ok(at) => self.slots.get(at).map_or(NONE, |s| s.hits),
            Err(_) => NONE,
        }
    }

    /// The key starting at `start` in the arena (as [`KeyTable::insert`] returned it).
    pub(super) fn key_at(&self, start: u32) -> &str {
        let tail = self.arena.get(start as usize..).unwrap_or_default();
        let key = memchr::memchr(END, tail).map_or(tail, |end| tail.get(..end).unwrap_or_default());
        std::str::from_utf8(key).unwrap_or_default()
    }

    /// The hit chain slot of `key` (already lowercased) by a given hash, inserting it if
    /// absent (for tests of keys that share a hash).
    #[cfg(test)]
    pub(super) fn head_mut_hashed(&mut self, hash: u64, key: &str) -> Option<&mut u32> {
        let at = self.insert_hashed(hash, key)?;
        self.slots.get_mut(at).map(|s| &mut s.hits)
    }

    /// The slot of `key` (already lowercased), inserted if absent, and where the key starts in
    /// the arena. `None` only if the arena would pass 32-bit offsets (the caller checks first).
    pub(super) fn insert(&mut self, key: &str) -> Option<(u32, &mut u32)> {
        let at = self.insert_hashed(caseless_hash(key.as_bytes()), key)?;
        self.slots.get_mut(at).map(|s| (s.start, &mut s.hits))
    }

    fn insert_hashed(&mut self, hash: u64, key: &str) -> Option<usize> {
        let empty = match self.find(hash, key) {
            Ok(at) => return Some(at),
            Err(Some(empty)) if (self.len + 1) * 4 <= self.slots.len() * 3 => empty,
            Err(_) => {
                self.grow(self.len + 1);
                self.find(hash, key).err().flatten()?
            }
        };
        let start = u32::try_from(self.arena.len()).ok().filter(|&s| s != NONE)?;
        self.arena.extend_from_slice(key.as_bytes());
        self.arena.push(END);
        let slot = self.slots.get_mut(empty)?;
        *slot = Slot {
            tag: hash as u32,
            start,
            hits: NONE,
        };
        self.len += 1;
        Some(empty)
    }

    /// `Ok(slot)` of `key`, or `Err` with the empty slot where it would go (`None` when the
    /// table has no slots yet).
    fn find(&self, hash: u64, key: &str) -> Result<usize, Option<usize>> {
        let mask = self.slots.len().wrapping_sub(1);
        let tag = hash as u32;
        let mut at = home(hash) & mask;
        // The load factor leaves a quarter of the slots empty, so every probe ends early.
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots.get(at) else { break };
            if slot.start == NONE {
                return Err(Some(at));
            }
            if slot.tag == tag && self.is_key(slot.start, key) {
                return Ok(at);
            }
            at = (at + 1) & mask;
        }
        Err(None)
    }

    fn is_key(&self, start: u32, key: &str) -> bool {
        let start = start as usize;
        let end = start + key.len();
        self.arena
            .get(start..end)
            .is_some_and(|k| k.eq_ignore_ascii_case(key.as_bytes()))
            && self.arena.get(end) == Some(&END)
    }

    /// Makes room for `more` keys beyond the present ones without growing again.
    pub(super) fn reserve(&mut self, more: usize) {
        if (self.len + more) * 4 > self.slots.len() * 3 {
            self.grow(self.len + more);
        }
    }

    /// Rebuilds the slots for `keys` keys at most three quarters full.
    fn grow(&mut self, keys: usize) {
        let size = (keys.saturating_mul(4) / 3 + 1).next_power_of_two().max(16);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        self.len = 0;
        for slot in old.into_iter().filter(|s| s.start != NONE) {
            self.place(slot);
        }
    }

    /// Puts an existing key's slot back after the slots were rebuilt.
    fn place(&mut self, slot: Slot) {
        let hash = caseless_hash(self.key_at(slot.start).as_bytes());
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = home(hash) & mask;
        while let Some(s) = self.slots.get_mut(at) {
            if s.start == NONE {
                *s = Slot {
                    tag: hash as u32,
                    ..slot
                };
                self.len += 1;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Forgets every key added after the arena was `arena_len` bytes long (a load that
    /// failed).
    pub(super) fn truncate(&mut self, arena_len: usize) {
        self.arena.truncate(arena_len);
        let old = std::mem::take(&mut self.slots);
        self.slots = vec![EMPTY; old.len()];
        self.len = 0;
        // Slots are put back one by one: removing a key from a linear probe in place could cut
        // the probe of a key placed after it.
        for slot in old
            .into_iter()
            .filter(|s| s.start != NONE && (s.start as usize) < arena_len)
        {
            self.place(slot);
        }
    }

    /// Every key, where it starts, and its hit chain.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.slots
            .iter()
            .filter(|s| s.start != NONE)
            .map(|s| (self.key_at(s.start), s.hits))
    }

    /// Every key's hit chain slot.
    pub(super) fn heads_mut(&mut self) -> impl Iterator<Item = &mut u32> {
        self.slots.iter_mut().filter(|s| s.start != NONE).map(|s| &mut s.hits)
    }

    /// Heap bytes held (capacities).
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.arena.capacity()
    }
}
