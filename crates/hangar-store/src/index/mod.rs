//! The digest → location index: a small LSM of immutable, sorted run files.
//!
//! Each commit publishes one run (`index/<lo>-<hi>.run`) holding a fixed-size entry for
//! every value and object it stored, sorted by digest. Opening a repository lists the
//! run files and maps them; nothing is read until a lookup binary-searches the runs,
//! newest first. So opening costs O(number of runs), never O(number of values). The
//! writer merges the newest runs when they reach a similar size, which keeps the number
//! of runs logarithmic in the number of entries; a merged run's name covers the sequence
//! range of the runs it replaces, so a merge interrupted by a crash is resolved at the
//! next open by ignoring the runs another run covers.
//!
//! Entry (64 bytes): digest[32] | file u32 | flags u32 | offset u64 | len u64 |
//! content crc32 u32 | entry crc32 u32 (over the first 60 bytes).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::mmap::MappedFile;

/// Size of one index entry on disk.
pub const ENTRY_SIZE: usize = 64;
const RUN_MAGIC: &[u8; 8] = b"HGIDXRN1";
const RUN_VERSION: u32 = 1;
/// The same layout, written by gc: the run replaced every run it covers and left out
/// their unreachable entries. A store that had the replaced runs mapped keeps them as a
/// fallback for lookups (see [`Index::refresh`]).
const GC_RUN_VERSION: u32 = 2;
/// Runs whose size is within this factor of the next newer run are merged with it.
const MERGE_RATIO: u64 = 2;
/// Upper bound on the number of runs kept before the newest are merged regardless.
const MAX_RUNS: usize = 24;

/// Identifies a segment or pack file; files are named by their id in hex.
pub type FileId = u32;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FileKind {
    /// An Arrow IPC segment of values.
    Segment = 1,
    /// A pack of metadata objects.
    Pack = 2,
    /// A Parquet segment of a compressed column's values.
    Parquet = 3,
}

impl FileKind {
    pub(crate) fn from_code(c: u8) -> Option<FileKind> {
        match c {
            1 => Some(FileKind::Segment),
            2 => Some(FileKind::Pack),
            3 => Some(FileKind::Parquet),
            _ => None,
        }
    }
}

/// A sealed file that an index run refers to, with its whole-file checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileRecord {
    /// The file's id.
    pub id: FileId,
    /// Segment or pack.
    pub kind: FileKind,
    /// Length in bytes when sealed.
    pub len: u64,
    /// CRC-32 of the whole file.
    pub crc: u32,
}

/// What an entry locates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A sample value's bytes in an Arrow IPC segment.
    Value,
    /// A sample value in a Parquet segment: the location's offset is its row.
    ParquetValue,
    /// A metadata object of the given type code in a pack.
    Object(u8),
}

impl EntryKind {
    fn to_flags(self) -> u32 {
        match self {
            EntryKind::Value => 0,
            EntryKind::Object(t) => 1 | (u32::from(t) << 8),
            EntryKind::ParquetValue => 2,
        }
    }

    /// True for a sample value (in either kind of segment).
    pub fn is_value(self) -> bool {
        matches!(self, EntryKind::Value | EntryKind::ParquetValue)
    }

    /// The kind of file that holds what an entry of this kind locates.
    pub fn file_kind(self) -> FileKind {
        match self {
            EntryKind::Value => FileKind::Segment,
            EntryKind::ParquetValue => FileKind::Parquet,
            EntryKind::Object(_) => FileKind::Pack,
        }
    }

    fn from_flags(f: u32) -> Option<EntryKind> {
        match f & 0xff {
            0 if f == 0 => Some(EntryKind::Value),
            1 if f >> 16 == 0 => Some(EntryKind::Object(((f >> 8) & 0xff) as u8)),
            2 if f == 2 => Some(EntryKind::ParquetValue),
            _ => None,
        }
    }
}

/// Where a digest's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The segment or pack file.
    pub file: FileId,
    /// Byte offset of the content in the file.
    pub offset: u64,
    /// Length of the content.
    pub len: u64,
    /// CRC-32 of the content, checked on every read.
    pub crc: u32,
}

/// The order of a run's entries: by digest. Compares the first 16 bytes as one integer
/// (digests are uniformly distributed, so they nearly always decide) before the rest.
pub(crate) fn digest_order(a: &IndexEntry, b: &IndexEntry) -> Ordering {
    let head = |e: &IndexEntry| u128::from_be_bytes(e.digest.0[..16].try_into().expect("16 bytes"));
    head(a)
        .cmp(&head(b))
        .then_with(|| a.digest.0[16..].cmp(&b.digest.0[16..]))
}

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// The content digest.
    pub digest: Digest,
    /// Value or object.
    pub kind: EntryKind,
    /// Where the content is.
    pub loc: Location,
}

impl IndexEntry {
    /// The 64-byte on-disk form.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[..32].copy_from_slice(&self.digest.0);
        b[32..36].copy_from_slice(&self.loc.file.to_le_bytes());
        b[36..40].copy_from_slice(&self.kind.to_flags().to_le_bytes());
        b[40..48].copy_from_slice(&self.loc.offset.to_le_bytes());
        b[48..56].copy_from_slice(&self.loc.len.to_le_bytes());
        b[56..60].copy_from_slice(&self.loc.crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks one entry.
    pub fn decode(b: &[u8]) -> DecodeResult<IndexEntry> {
        if b.len() != ENTRY_SIZE {
            return Err(DecodeError(format!("entry of {} bytes", b.len())));
        }
        let le32 =
            |r: std::ops::Range<usize>| u32::from_le_bytes(b[r].try_into().expect("4-byte range"));
        let le64 =
            |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().expect("8-byte range"));
        if crc32fast::hash(&b[..60]) != le32(60..64) {
            return Err(DecodeError("entry checksum mismatch".into()));
        }
        let kind = EntryKind::from_flags(le32(36..40))
            .ok_or_else(|| DecodeError("unknown entry flags".into()))?;
        Ok(IndexEntry {
            digest: Digest::from_slice(&b[..32]).expect("32-byte range"),
            kind,
            loc: Location {
                file: le32(32..36),
                offset: le64(40..48),
                len: le64(48..56),
                crc: le32(56..60),
            },
        })
    }
}

/// The index: every run of the repository, newest first.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    runs: Vec<Run>,
    /// Runs this index had mapped that a gc run replaced, newest first: lookups that the
    /// live runs miss fall back to them, so a reader opened before gc keeps finding
    /// what its commit refers to (gc deletes no file while another store is open).
    retired: Vec<Run>,
}

/// The entry for `digest` in the first of `runs` that holds it.
fn first_entry<'a>(
    runs: impl Iterator<Item = &'a Run>,
    digest: &Digest,
) -> Result<Option<IndexEntry>> {
    for run in runs {
        if let Some(e) = run.lookup(digest)? {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

impl Index {
    /// Opens the index in `dir`, mapping every live run.
    pub fn open(dir: &Path) -> Result<Index> {
        let mut index = Index {
            dir: dir.to_path_buf(),
            runs: Vec::new(),
            retired: Vec::new(),
        };
        index.refresh()?;
        Ok(index)
    }

    /// Picks up runs published since the index was opened (by another process's writer)
    /// and drops runs that a merge replaced. A run deleted between listing and opening is
    /// retried, since a concurrent merge replaces runs by wider ones.
    pub fn refresh(&mut self) -> Result<()> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_refresh() {
                Err(e) if attempts < 5 && e.kind() == crate::ErrorKind::NotFound => continue,
                other => return other,
            }
        }
    }

    fn try_refresh(&mut self) -> Result<()> {
        let (live, _) = list_runs(&self.dir)?;
        let mut old: Vec<Run> = std::mem::take(&mut self.runs);
        let mut runs = Vec::with_capacity(live.len());
        for (lo, hi) in live {
            if let Some(pos) = old.iter().position(|r| (r.lo, r.hi) == (lo, hi)) {
                runs.push(old.swap_remove(pos));
            } else {
                match Run::open(&self.dir.join(run_name(lo, hi)), lo, hi) {
                    Ok(r) => runs.push(r),
                    Err(e) => {
                        runs.append(&mut old);
                        self.runs = runs;
                        self.runs.sort_by_key(|r| std::cmp::Reverse(r.hi));
                        return Err(e);
                    }
                }
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.hi));
        // What a gc run replaced stays mapped as a fallback (see `retired`); a run a
        // merge replaced is dropped (the merged run holds all of its entries).
        for r in old {
            if runs.iter().any(|l| l.gc && l.lo <= r.lo && r.hi <= l.hi) {
                self.retired.push(r);
            }
        }
        self.retired.sort_by_key(|r| std::cmp::Reverse(r.hi));
        self.runs = runs;
        Ok(())
    }

    /// Drops the runs gc replaced (gc, once it deleted the files they refer to: no
    /// reader of this store can need them then).
    pub(crate) fn drop_retired(&mut self) {
        self.retired.clear();
    }

    /// The entry for `digest`, searching the newest run first, then the runs a gc
    /// retired: where a reader finds a value or object. Not for deciding that something
    /// need not be written or fetched again: see [`Index::lookup_live`].
    pub fn lookup(&self, digest: &Digest) -> Result<Option<IndexEntry>> {
        first_entry(self.runs.iter().chain(&self.retired), digest)
    }

    /// The entry for `digest` in the live runs only: what the repository holds for
    /// anyone who opens it now. A retired run's entry locates a file gc has already
    /// condemned (left in place only while a reader may still look there, deleted or
    /// proved garbage by the next gc), so a value or object found only there must be
    /// written (or fetched) again, not deduplicated against it.
    pub fn lookup_live(&self, digest: &Digest) -> Result<Option<IndexEntry>> {
        first_entry(self.runs.iter(), digest)
    }

    /// The live runs as they are now, their entries numbered (see [`LiveEntries`]).
    pub fn live_entries(&self) -> LiveEntries {
        LiveEntries::new(self.runs.clone())
    }

    /// Every entry whose digest's hex form starts with `hex_prefix` (lowercase hex) and
    /// whose kind matches `kind`, without duplicates.
    pub fn find_prefix(&self, hex_prefix: &str, kind: EntryKind) -> Result<Vec<IndexEntry>> {
        let prefix = hex_prefix.to_ascii_lowercase();
        if !crate::digest::is_hex_prefix(&prefix) {
            return Ok(Vec::new());
        }
        let lower = Digest::from_hex(&format!("{prefix:0<64}")).expect("valid hex");
        let mut out: Vec<IndexEntry> = Vec::new();
        for run in &self.runs {
            let mut i = run.lower_bound(&lower.0);
            while i < run.count {
                let e = run.entry(i)?;
                if !e.digest.to_hex().starts_with(&prefix) {
                    break;
                }
                if e.kind == kind && !out.iter().any(|o| o.digest == e.digest) {
                    out.push(e);
                }
                i += 1;
            }
        }
        Ok(out)
    }

    /// Every file any run refers to.
    pub fn files(&self) -> Vec<FileRecord> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for run in &self.runs {
            for f in &run.files {
                if seen.insert(f.id) {
                    out.push(*f);
                }
            }
        }
        out
    }

    /// The record (kind, length, whole-file CRC) of file `id` as a run lists it, also
    /// from the runs a gc retired (a reader opened before it still reads their files).
    pub fn file_record(&self, id: FileId) -> Option<FileRecord> {
        self.runs
            .iter()
            .chain(&self.retired)
            .flat_map(|r| r.files.iter())
            .find(|f| f.id == id)
            .copied()
    }

    /// True if some run refers to the file.
    pub fn has_file(&self, id: FileId) -> bool {
        self.runs.iter().any(|r| r.files.iter().any(|f| f.id == id))
    }

    /// Total number of entries over all runs (duplicates counted once per run).
    pub fn entry_count(&self) -> usize {
        self.runs.iter().map(|r| r.count).sum()
    }

    /// Number of runs.
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// The run files, as paths.
    pub fn run_paths(&self) -> Vec<PathBuf> {
        self.runs
            .iter()
            .map(|r| r.map.path().to_path_buf())
            .collect()
    }

    /// Checks every entry of every run: checksum, flags and digest order. Returns one
    /// message per problem, naming the file.
    pub fn verify(&self) -> Vec<Error> {
        let mut problems = Vec::new();
        for run in &self.runs {
            let mut prev: Option<Digest> = None;
            for i in 0..run.count {
                match run.entry(i) {
                    Ok(e) => {
                        if prev.is_some_and(|p| p > e.digest) {
                            problems.push(Error::corrupt(
                                run.map.path(),
                                format!("entry {i} is out of digest order"),
                            ));
                        }
                        prev = Some(e.digest);
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
        problems
    }

    /// Calls `f` with every entry of every run, newest run first, without collecting
    /// them (a digest may repeat across runs).
    pub fn for_each_entry(&self, mut f: impl FnMut(IndexEntry)) -> Result<()> {
        for run in &self.runs {
            for i in 0..run.count {
                f(run.entry(i)?);
            }
        }
        Ok(())
    }

    /// Every entry of every run (newest run first; a digest may repeat across runs).
    pub fn all_entries(&self) -> Result<Vec<IndexEntry>> {
        let mut out = Vec::with_capacity(self.entry_count());
        self.for_each_entry(|e| out.push(e))?;
        Ok(out)
    }

    /// Publishes a new run holding `entries` and `files` (writer only), then merges runs
    /// of similar size. Entries need not be sorted or unique.
    pub fn publish(&mut self, entries: Vec<IndexEntry>, files: Vec<FileRecord>) -> Result<()> {
        self.publish_from(entries.as_slice(), files)
    }

    /// [`Index::publish`] of entries given by position. Only their order is held (16
    /// bytes an entry, sorted by digest prefix), not a sorted copy of the entries (64
    /// bytes each): a commit of 10^7 staged values sorts 160 MB, not 640 MB.
    pub fn publish_from(&mut self, entries: &(impl EntrySource + ?Sized), files: Vec<FileRecord>) -> Result<()> {
        self.refresh()?;
        let seq = self.runs.iter().map(|r| r.hi).max().map_or(0, |h| h + 1);
        let order = digest_order_of(entries);
        let mut next = 0;
        let mut gathered: Vec<IndexEntry> = Vec::new();
        write_run_stream(&self.dir, RUN_VERSION, (seq, seq), &files, |out| {
            let n = (order.len() - next).min(out.len() / ENTRY_SIZE);
            let slice = &order[next..next + n];
            // Digest order is random against where a source holds its entries: they are
            // read first, in a loop that does nothing else, so that the reads scattered
            // over memory overlap; encoding (a CRC each) then works from the copies.
            crate::par::install(|| {
                slice
                    .par_iter()
                    .map(|k| entries.entry(k.1))
                    .collect_into_vec(&mut gathered)
            });
            encode_entries(out, &gathered);
            next += n;
            Ok(n)
        })?;
        drop(order);
        self.refresh()?;
        self.merge_similar()
    }

    fn merge_similar(&mut self) -> Result<()> {
        loop {
            // runs[0] is the newest.
            if self.runs.len() < 2 {
                return Ok(());
            }
            let (newer, older) = (&self.runs[0], &self.runs[1]);
            let similar = (older.count as u64) <= MERGE_RATIO * (newer.count.max(1) as u64);
            if !similar && self.runs.len() <= MAX_RUNS {
                return Ok(());
            }
            self.merge_newest_two()?;
        }
    }

    fn merge_newest_two(&mut self) -> Result<()> {
        let (newer, older) = (&self.runs[0], &self.runs[1]);
        let mut files: Vec<FileRecord> = newer.files.clone();
        files.extend(
            older
                .files
                .iter()
                .filter(|f| !newer.files.iter().any(|n| n.id == f.id)),
        );
        let (lo, hi) = (older.lo.min(newer.lo), newer.hi.max(older.hi));
        let replaced = [(newer.lo, newer.hi), (older.lo, older.hi)];
        // Both runs are sorted: one merge pass, streamed into the new run a slice at a
        // time (the runs are mapped; nothing the size of either is held in memory). Of
        // equal digests the newer run's entry comes first and is kept: a digest equal to
        // the last one written is skipped (which also drops a digest repeated within a
        // run, as one written by another build may hold).
        let (mut i, mut j) = (0, 0);
        let (mut a, mut b) = (newer.entry_at(0)?, older.entry_at(0)?);
        let mut last: Option<Digest> = None;
        write_run_stream(&self.dir, RUN_VERSION, (lo, hi), &files, |out| {
            let mut n = 0;
            while n < WRITE_SLICE {
                let next = match (a, b) {
                    (Some(x), Some(y)) if digest_order(&x, &y) == Ordering::Greater => {
                        j += 1;
                        b = older.entry_at(j)?;
                        y
                    }
                    (Some(x), _) => {
                        i += 1;
                        a = newer.entry_at(i)?;
                        x
                    }
                    (None, Some(y)) => {
                        j += 1;
                        b = older.entry_at(j)?;
                        y
                    }
                    (None, None) => break,
                };
                if last == Some(next.digest) {
                    continue;
                }
                last = Some(next.digest);
                out[n * ENTRY_SIZE..(n + 1) * ENTRY_SIZE].copy_from_slice(&next.encode());
                n += 1;
            }
            Ok(n)
        })?;
        for (l, h) in replaced {
            let p = self.dir.join(run_name(l, h));
            fs::remove_file(&p).ctx("remove merged index run", &p)?;
        }
        fsutil::fsync_dir(&self.dir)?;
        self.refresh()
    }

    /// Replaces every run by one run holding `entries` and `files` (gc). Its range is
    /// `0..=high+1`: it covers every run there is, so each reader that lists the runs
    /// from then on (this one, a store opened later, one that refreshes) ignores the
    /// old runs, and the new sequence number keeps it apart from every run a store
    /// opened earlier has mapped. Then removes the covered runs. Writer only; does
    /// nothing on an empty index.
    pub fn replace_all(&mut self, mut entries: Vec<IndexEntry>, files: Vec<FileRecord>) -> Result<()> {
        self.refresh()?;
        let Some(high) = self.high_seq() else {
            return Ok(());
        };
        let hi = high
            .checked_add(1)
            .ok_or_else(|| Error::InvalidArgument("index run sequence numbers exhausted".into()))?;
        crate::par::install(|| entries.par_sort_unstable_by_key(|e| e.digest));
        entries.dedup_by(|a, b| a.digest == b.digest);
        write_run_version(&self.dir, GC_RUN_VERSION, (0, hi), &entries, &files)?;
        crate::failpoint::hit("gc.after_index_run")?;
        self.refresh()?;
        self.remove_covered_runs()?;
        fsutil::fsync_dir(&self.dir)?;
        self.refresh()
    }

    /// Removes run files that a wider run covers (leftovers of an interrupted merge).
    /// Writer only. A covered run is removed only when its covering run opens and checks
    /// out (header, length): the merge that wrote it finished, so the covered run's entries
    /// are all in it. A covering run that is damaged leaves the covered runs in place.
    pub fn remove_covered_runs(&mut self) -> Result<usize> {
        let (live, covered) = list_runs(&self.dir)?;
        let mut removed = 0;
        for &(lo, hi) in &covered {
            let cover = live.iter().find(|&&(l2, h2)| l2 <= lo && hi <= h2);
            let Some(&(cl, ch)) = cover else { continue };
            if Run::open(&self.dir.join(run_name(cl, ch)), cl, ch).is_err() {
                continue;
            }
            let p = self.dir.join(run_name(lo, hi));
            fs::remove_file(&p).ctx("remove covered index run", &p)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The highest run sequence number published so far (`None` for an empty index).
    pub fn high_seq(&self) -> Option<u32> {
        self.runs.iter().map(|r| r.hi).max()
    }

    /// The sequence ranges of index runs that must exist but are not there. Runs are
    /// numbered from 0 without gaps and merged runs cover the ranges they replace, so
    /// the live runs partition `0..=high`; `expected_high` (the highest sequence the
    /// staging journal saw published) also catches a missing newest run.
    pub fn missing_runs(&self, expected_high: Option<u32>) -> Vec<(u32, u32)> {
        let mut ranges: Vec<(u32, u32)> = self.runs.iter().map(|r| (r.lo, r.hi)).collect();
        ranges.sort_unstable();
        let mut missing = Vec::new();
        let mut next: u64 = 0;
        for (lo, hi) in ranges {
            if u64::from(lo) > next {
                missing.push((next as u32, lo - 1));
            }
            next = next.max(u64::from(hi) + 1);
        }
        if let Some(want) = expected_high {
            if u64::from(want) >= next {
                missing.push((next as u32, want));
            }
        }
        missing
    }

    /// One `Corrupt` error per missing range of runs (see [`Index::missing_runs`]), naming
    /// the run files and saying what to do.
    pub fn missing_run_errors(&self, expected_high: Option<u32>) -> Vec<Error> {
        self.missing_runs(expected_high)
            .into_iter()
            .map(|(lo, hi)| {
                let what = if lo == hi {
                    format!("index run {lo} is missing (a file index/{lo:08x}-*.run or one covering it)")
                } else {
                    format!("index runs {lo} to {hi} are missing (files index/*.run covering them)")
                };
                Error::corrupt(
                    self.dir.join(run_name(lo, hi)),
                    format!(
                        "{what}: the values and objects it locates cannot be found. Nothing was \
                         deleted; restore the missing file(s) from a backup or the place they \
                         were moved to, then run `hangar verify`"
                    ),
                )
            })
            .collect()
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

mod run;
use run::*;
mod sets;
use sets::digest_order_of;
pub use sets::{EntrySource, LiveEntries};

#[cfg(test)]
mod tests;
