//! The writer's map of the values staged since the last commit: digest → where the
//! value is (a pending batch row, or a row written to a staging segment).
//!
//! A map entry (a 32-byte digest and its location) is 64 bytes. Held in a hash map,
//! 50,000 staged images make a 4 MB table that every insert and lookup touches at a
//! random place: a cache miss each, and one page fault per 4 KiB of fresh table when
//! a writer opens and replays the journal (measured on this project's 2-core VM: 3.5–7.4
//! ms to fill such a map in a fresh process, against 1.6–1.7 ms for this layout). Here
//! the entries lie in a vector in the order they were staged (filled front to back),
//! and the hash table holds only their positions: 50,000 of them in ~0.6 MB, which
//! stays in the cache. The table's hash is the digest's first 8 bytes (digests are
//! uniformly distributed); a probe compares the full digest.

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use super::StagedLoc;
use crate::digest::Digest;

/// Digest → [`StagedLoc`], in staging order.
#[derive(Default)]
pub(super) struct StagedMap {
    entries: Vec<(Digest, StagedLoc)>,
    /// Positions in `entries`.
    table: HashTable<usize>,
}

impl std::fmt::Debug for StagedMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedMap")
            .field("values", &self.entries.len())
            .finish()
    }
}

fn hash(d: &Digest) -> u64 {
    d.prefix()
}

impl StagedMap {
    /// Number of values staged.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Makes room for `additional` more values.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        let entries = &self.entries;
        self.table
            .reserve(additional, |&i| hash(&entries[i].0));
    }

    /// Where `digest` is staged.
    pub(super) fn get(&self, digest: &Digest) -> Option<&StagedLoc> {
        let entries = &self.entries;
        self.table
            .find(hash(digest), |&i| entries[i].0 == *digest)
            .map(|&i| &entries[i].1)
    }

    /// True if `digest` is staged.
    pub(super) fn contains_key(&self, digest: &Digest) -> bool {
        self.get(digest).is_some()
    }

    /// Stages `digest` at `loc`, or moves it there if it is staged already.
    pub(super) fn insert(&mut self, digest: Digest, loc: StagedLoc) {
        let entries = &mut self.entries;
        match self.table.entry(
            hash(&digest),
            |&i| entries[i].0 == digest,
            |&i| hash(&entries[i].0),
        ) {
            Entry::Occupied(e) => entries[*e.get()].1 = loc,
            Entry::Vacant(e) => {
                e.insert(entries.len());
                entries.push((digest, loc));
            }
        }
    }

    /// Keeps only the values for which `keep` is true (their order kept).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Digest, &StagedLoc) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|(d, l)| keep(d, l));
        if self.entries.len() == before {
            return;
        }
        self.table.clear();
        let entries = &self.entries;
        for (i, (d, _)) in entries.iter().enumerate() {
            self.table
                .insert_unique(hash(d), i, |&j| hash(&entries[j].0));
        }
    }

    /// Forgets every value.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.table.clear();
    }

    /// Every staged value and its location, in staging order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Digest, &StagedLoc)> {
        self.entries.iter().map(|(d, l)| (d, l))
    }

    /// Every staged value and its location, in staging order, as a slice.
    pub(super) fn entries(&self) -> &[(Digest, StagedLoc)] {
        &self.entries
    }

    /// Every staged value's digest, in staging order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &Digest> {
        self.entries.iter().map(|(d, _)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Location;

    fn digest(i: u64) -> Digest {
        Digest(*blake3::hash(&i.to_le_bytes()).as_bytes())
    }

    fn written(offset: u64) -> StagedLoc {
        StagedLoc::Written(Location {
            file: 1,
            offset,
            len: 8,
            crc: 0,
        })
    }

    fn offset(l: Option<&StagedLoc>) -> Option<u64> {
        match l {
            Some(StagedLoc::Written(loc)) => Some(loc.offset),
            Some(StagedLoc::Pending { row, .. }) => Some(*row as u64 + 1_000_000),
            None => None,
        }
    }

    #[test]
    fn behaves_as_a_map_in_staging_order() {
        let mut m = StagedMap::default();
        m.reserve(10);
        for i in 0..1000 {
            m.insert(digest(i), StagedLoc::Pending { slot: 0, row: i as usize });
        }
        // Moving a value (a pending row written) keeps one entry and its place.
        for i in (0..1000).step_by(3) {
            m.insert(digest(i), written(i * 8));
        }
        assert_eq!(m.len(), 1000);
        for i in 0..1000 {
            let want = if i % 3 == 0 { i * 8 } else { i + 1_000_000 };
            assert_eq!(offset(m.get(&digest(i))), Some(want), "value {i}");
            assert!(m.contains_key(&digest(i)));
        }
        assert!(!m.contains_key(&digest(1000)));
        assert_eq!(m.get(&digest(5000)).map(|_| ()), None);
        let order: Vec<Digest> = m.keys().copied().collect();
        assert_eq!(order, (0..1000).map(digest).collect::<Vec<_>>());
        assert_eq!(m.iter().count(), 1000);

        // Retain drops the others and every lookup still finds what is kept.
        m.retain(|d, _| order.iter().position(|o| o == d).is_some_and(|p| p % 2 == 0));
        assert_eq!(m.len(), 500);
        for i in 0..1000 {
            assert_eq!(m.contains_key(&digest(i)), i % 2 == 0, "value {i}");
        }
        let kept: Vec<Digest> = m.keys().copied().collect();
        assert_eq!(kept, (0..1000).step_by(2).map(digest).collect::<Vec<_>>());
        // New values after a retain go after the kept ones.
        m.insert(digest(7777), written(1));
        assert_eq!(offset(m.get(&digest(7777))), Some(1));
        assert_eq!(m.keys().last(), Some(&digest(7777)));

        m.clear();
        assert_eq!(m.len(), 0);
        assert!(!m.contains_key(&digest(0)));
        m.insert(digest(0), written(3));
        assert_eq!(offset(m.get(&digest(0))), Some(3));
    }

    #[test]
    fn digests_sharing_a_prefix_stay_apart() {
        // The table hashes the first 8 bytes only: equal prefixes must still be told
        // apart by the full digest.
        let mut m = StagedMap::default();
        for i in 0..100u8 {
            let mut d = [7u8; 32];
            d[31] = i;
            m.insert(Digest(d), written(u64::from(i)));
        }
        assert_eq!(m.len(), 100);
        for i in 0..100u8 {
            let mut d = [7u8; 32];
            d[31] = i;
            assert_eq!(offset(m.get(&Digest(d))), Some(u64::from(i)));
        }
        m.retain(|d, _| d.0[31] >= 50);
        assert_eq!(m.len(), 50);
        let mut d = [7u8; 32];
        d[31] = 49;
        assert!(!m.contains_key(&Digest(d)));
        d[31] = 50;
        assert!(m.contains_key(&Digest(d)));
    }
}
