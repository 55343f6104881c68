//! The writer's map of the values staged since the last commit: digest → where the
//! value is (a row of a pending batch, or a row written to a staging segment).
//!
//! The digest and location of a staged value are already held once, in the row that
//! holds it (a pending batch's row, or the [`StoredRow`] the writer keeps for each row
//! of its staging segments, which the commit and journal compaction need anyway). The
//! map holds only a reference to that row, with the digest's first 8 bytes (its hash:
//! digests are uniformly distributed): 16 bytes a value in the table, and a probe
//! compares the full digest by reading it from the row. Until 2026-12-07 it kept its own
//! copy of each digest and location (a 64-byte entry, plus the table's 8), so over 10^7
//! staged values of u8[100] it held ~0.8 GB beside the rows' 0.56 GB.
//!
//! Growing the table rehashes from the stored hashes and reads no row, so it is safe
//! while a pending batch is detached for writing (see [`Rows::detached`]).

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use super::{Slot, StagedFile, StagedLoc};
use crate::digest::Digest;
use crate::index::Location;
use crate::segment::StoredRow;

/// A staged value's row: bit 63 set for a pending batch's row (slot, row), clear for a
/// staging segment's (the file's position in the writer's list of files, row in the
/// file). Positions and rows are below 2^31 and 2^32.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Ref(u64);

const PENDING: u64 = 1 << 63;

impl Ref {
    pub(super) fn pending(slot: usize, row: usize) -> Ref {
        Ref(PENDING | Self::pack(slot, row))
    }

    pub(super) fn written(file: usize, row: usize) -> Ref {
        Ref(Self::pack(file, row))
    }

    fn pack(hi: usize, lo: usize) -> u64 {
        debug_assert!(hi < 1 << 31 && lo <= u32::MAX as usize, "row reference {hi}/{lo}");
        ((hi as u64) << 32) | lo as u64
    }

    /// The reference as 64 bits (bit 63 set for a pending row), for [`Ref::from_bits`].
    pub(super) fn to_bits(self) -> u64 {
        self.0
    }

    /// The reference [`Ref::to_bits`] gave.
    pub(super) fn from_bits(bits: u64) -> Ref {
        Ref(bits)
    }

    fn parts(self) -> (bool, usize, usize) {
        (
            self.0 & PENDING != 0,
            ((self.0 & !PENDING) >> 32) as usize,
            (self.0 & u64::from(u32::MAX)) as usize,
        )
    }
}

/// Where the rows a [`Ref`] names are: the writer's staging files and pending slots.
pub(super) struct Rows<'a> {
    pub(super) files: &'a [StagedFile],
    pub(super) slots: &'a [Slot],
    /// A slot whose pending batch is out of its slot while it is written, and that
    /// batch's digests (32 bytes a row).
    pub(super) detached: Option<(usize, &'a [u8])>,
}

impl<'a> Rows<'a> {
    pub(super) fn new(files: &'a [StagedFile], slots: &'a [Slot]) -> Rows<'a> {
        Rows {
            files,
            slots,
            detached: None,
        }
    }

    /// The digest of the value at `r`.
    pub(super) fn digest(&self, r: Ref) -> Digest {
        match r.parts() {
            (true, slot, row) => match self.detached {
                Some((s, digests)) if s == slot => {
                    Digest::from_slice(&digests[row * 32..(row + 1) * 32]).expect("32 bytes a row")
                }
                _ => self.slots[slot].pending.digest(row),
            },
            (false, file, row) => self.files[file].rows[row].digest,
        }
    }

    /// The segment id and row of the value at `r`, if it is written.
    pub(super) fn written(&self, r: Ref) -> Option<(u32, &'a StoredRow)> {
        match r.parts() {
            (true, ..) => None,
            (false, file, row) => {
                let f = &self.files[file];
                Some((f.id, &f.rows[row]))
            }
        }
    }

    /// Where the value at `r` is.
    pub(super) fn loc(&self, r: Ref) -> StagedLoc {
        match r.parts() {
            (true, slot, row) => StagedLoc::Pending { slot, row },
            (false, file, row) => {
                let f = &self.files[file];
                StagedLoc::Written(location(f.id, &f.rows[row]))
            }
        }
    }
}

/// The location of row `r` of segment `file`.
pub(super) fn location(file: u32, r: &StoredRow) -> Location {
    Location {
        file,
        offset: r.offset,
        len: r.len,
        crc: r.crc,
    }
}

impl super::StoreWriter {
    /// The staging segments, each with its place in the list the staged map's references
    /// use, except those a commit rewrote (kept there, empty, only so the places stay):
    /// what a commit indexes, converts or rewrites, a compaction journals and a reset or
    /// rollback deletes.
    pub(super) fn staging_files(&self) -> impl Iterator<Item = (usize, &StagedFile)> {
        self.files.iter().enumerate().filter(|(_, f)| !f.retired)
    }
}

impl StagedFile {
    /// A staging segment with no rows yet.
    pub(super) fn new(
        id: u32,
        format: crate::segment::SegmentFormat,
        compression: crate::compression::Compression,
        header_len: u64,
    ) -> StagedFile {
        StagedFile {
            id,
            format,
            compression,
            header_len,
            blocks: Vec::new(),
            rows: Vec::new(),
            retired: false,
            end_crc: None,
            sealed: None,
        }
    }

    /// Records a block written to it and its rows; returns the first row's number.
    pub(super) fn push_block(&mut self, block: crate::segment::Block, rows: Vec<StoredRow>) -> usize {
        let first = self.rows.len();
        self.blocks.push((block, rows.len()));
        if first == 0 {
            self.rows = rows;
        } else {
            self.rows.extend(rows);
        }
        first
    }

    /// Each block, its rows, and the number of its first row.
    pub(super) fn block_rows(&self) -> impl Iterator<Item = (&crate::segment::Block, &[StoredRow], usize)> {
        self.blocks.iter().scan(0usize, |first, (block, n)| {
            let at = *first;
            *first += n;
            Some((block, &self.rows[at..at + n], at))
        })
    }
}

/// Digest → [`Ref`] of every staged value.
#[derive(Default)]
pub(super) struct StagedMap {
    /// (the digest's first 8 bytes, its row).
    table: HashTable<(u64, Ref)>,
}

impl std::fmt::Debug for StagedMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedMap")
            .field("values", &self.table.len())
            .finish()
    }
}

impl StagedMap {
    /// Number of values staged.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Makes room for `additional` more values.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, |e| e.0);
    }

    /// The row holding `digest`, if it is staged.
    pub(super) fn get(&self, digest: &Digest, rows: &Rows<'_>) -> Option<Ref> {
        let h = digest.prefix();
        self.table
            .find(h, |e| e.0 == h && rows.digest(e.1) == *digest)
            .map(|e| e.1)
    }

    /// True if `digest` is staged.
    pub(super) fn contains_key(&self, digest: &Digest, rows: &Rows<'_>) -> bool {
        self.get(digest, rows).is_some()
    }

    /// Stages `digest` at `at` (whose row holds it), or moves it there if it is staged
    /// already.
    pub(super) fn insert(&mut self, digest: &Digest, at: Ref, rows: &Rows<'_>) {
        let h = digest.prefix();
        match self
            .table
            .entry(h, |e| e.0 == h && rows.digest(e.1) == *digest, |e| e.0)
        {
            Entry::Occupied(mut e) => e.get_mut().1 = at,
            Entry::Vacant(e) => {
                e.insert((h, at));
            }
        }
    }

    /// Keeps only the values for which `keep` is true.
    pub(super) fn retain(&mut self, rows: &Rows<'_>, mut keep: impl FnMut(&Digest) -> bool) {
        self.table.retain(|e| keep(&rows.digest(e.1)));
    }

    /// Forgets every value.
    pub(super) fn clear(&mut self) {
        self.table.clear();
    }

    /// The row of every staged value, in no particular order.
    pub(super) fn refs(&self) -> impl Iterator<Item = Ref> + '_ {
        self.table.iter().map(|e| e.1)
    }

    /// Every staged value's digest prefix ([`Digest::prefix`]) and row, in no particular
    /// order: what a commit sorts its index run by, read without touching a row.
    pub(super) fn prefixed_refs(&self) -> impl Iterator<Item = (u64, Ref)> + '_ {
        self.table.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{PendingBatch, SegmentFormat};

    fn digest(i: u64) -> Digest {
        Digest(*blake3::hash(&i.to_le_bytes()).as_bytes())
    }

    fn slot_of(digests: &[Digest]) -> Slot {
        let mut pending = PendingBatch::new(SegmentFormat::Bytes);
        for d in digests {
            pending.push(*d, 0, &[], b"");
        }
        Slot {
            pending,
            compression: crate::compression::Compression::None,
            open: None,
        }
    }

    fn file_of(digests: &[Digest]) -> StagedFile {
        let mut f = StagedFile::new(7, SegmentFormat::Bytes, Default::default(), 0);
        f.rows = digests
            .iter()
            .enumerate()
            .map(|(i, d)| StoredRow {
                digest: *d,
                offset: i as u64 * 8,
                len: 8,
                crc: 0,
            })
            .collect();
        f
    }

    fn offset(rows: &Rows<'_>, r: Option<Ref>) -> Option<u64> {
        match rows.loc(r?) {
            StagedLoc::Written(loc) => Some(loc.offset),
            StagedLoc::Pending { row, .. } => Some(row as u64 + 1_000_000),
        }
    }

    #[test]
    fn behaves_as_a_map_whose_values_live_in_their_rows() {
        let all: Vec<Digest> = (0..1000).map(digest).collect();
        let slots = [slot_of(&all)];
        let files = [file_of(&all)];
        let rows = Rows::new(&files, &slots);
        let mut m = StagedMap::default();
        m.reserve(10);
        for (i, d) in all.iter().enumerate() {
            m.insert(d, Ref::pending(0, i), &rows);
        }
        // Moving a value (a pending row written) keeps one entry.
        for i in (0..1000).step_by(3) {
            m.insert(&all[i], Ref::written(0, i), &rows);
        }
        assert_eq!(m.len(), 1000);
        for (i, d) in all.iter().enumerate() {
            let want = if i % 3 == 0 { i as u64 * 8 } else { i as u64 + 1_000_000 };
            assert_eq!(offset(&rows, m.get(d, &rows)), Some(want), "value {i}");
            assert!(m.contains_key(d, &rows));
        }
        assert!(!m.contains_key(&digest(1000), &rows));
        assert_eq!(m.refs().count(), 1000);

        // Retain drops the others and every lookup still finds what is kept.
        m.retain(&rows, |d| all.iter().position(|o| o == d).is_some_and(|p| p % 2 == 0));
        assert_eq!(m.len(), 500);
        for (i, d) in all.iter().enumerate() {
            assert_eq!(m.contains_key(d, &rows), i % 2 == 0, "value {i}");
        }
        m.clear();
        assert_eq!(m.len(), 0);
        assert!(!m.contains_key(&all[0], &rows));
    }

    #[test]
    fn a_detached_batch_is_read_from_its_digests() {
        // While a slot's batch is out for writing, its rows are read from the batch's
        // digests, not the (empty) slot.
        let all: Vec<Digest> = (0..50).map(digest).collect();
        let mut m = StagedMap::default();
        let full = [slot_of(&all)];
        let rows = Rows::new(&[], &full);
        for (i, d) in all.iter().enumerate() {
            m.insert(d, Ref::pending(0, i), &rows);
        }
        let empty = [slot_of(&[])];
        let flat: Vec<u8> = all.iter().flat_map(|d| d.0).collect();
        let files = [file_of(&all)];
        let rows = Rows {
            files: &files,
            slots: &empty,
            detached: Some((0, &flat)),
        };
        m.reserve(100_000); // rehashes from the stored hashes alone
        for (i, d) in all.iter().enumerate() {
            m.insert(d, Ref::written(0, i), &rows);
        }
        assert_eq!(m.len(), 50);
        assert_eq!(offset(&rows, m.get(&all[7], &rows)), Some(56));
    }

    #[test]
    fn digests_sharing_a_prefix_stay_apart() {
        // The table hashes the first 8 bytes only: equal prefixes must still be told
        // apart by the full digest.
        let all: Vec<Digest> = (0..100u8)
            .map(|i| {
                let mut d = [7u8; 32];
                d[31] = i;
                Digest(d)
            })
            .collect();
        let files = [file_of(&all)];
        let rows = Rows::new(&files, &[]);
        let mut m = StagedMap::default();
        for (i, d) in all.iter().enumerate() {
            m.insert(d, Ref::written(0, i), &rows);
        }
        assert_eq!(m.len(), 100);
        for (i, d) in all.iter().enumerate() {
            assert_eq!(offset(&rows, m.get(d, &rows)), Some(i as u64 * 8));
        }
        m.retain(&rows, |d| d.0[31] >= 50);
        assert_eq!(m.len(), 50);
        assert!(!m.contains_key(&all[49], &rows));
        assert!(m.contains_key(&all[50], &rows));
    }
}
