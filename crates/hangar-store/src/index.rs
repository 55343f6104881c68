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

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::codec::{Decoder, Encoder};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::mmap::MappedFile;

/// Size of one index entry on disk.
pub const ENTRY_SIZE: usize = 64;
const RUN_MAGIC: &[u8; 8] = b"HGIDXRN1";
const RUN_VERSION: u32 = 1;
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
}

impl FileKind {
    pub(crate) fn from_code(c: u8) -> Option<FileKind> {
        match c {
            1 => Some(FileKind::Segment),
            2 => Some(FileKind::Pack),
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
    /// A sample value's bytes in a segment.
    Value,
    /// A metadata object of the given type code in a pack.
    Object(u8),
}

impl EntryKind {
    fn to_flags(self) -> u32 {
        match self {
            EntryKind::Value => 0,
            EntryKind::Object(t) => 1 | (u32::from(t) << 8),
        }
    }

    fn from_flags(f: u32) -> Option<EntryKind> {
        match f & 0xff {
            0 if f == 0 => Some(EntryKind::Value),
            1 if f >> 16 == 0 => Some(EntryKind::Object(((f >> 8) & 0xff) as u8)),
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
    pub fn decode(b: &[u8]) -> std::result::Result<IndexEntry, String> {
        if b.len() != ENTRY_SIZE {
            return Err(format!("entry of {} bytes", b.len()));
        }
        let le32 =
            |r: std::ops::Range<usize>| u32::from_le_bytes(b[r].try_into().expect("4-byte range"));
        let le64 =
            |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().expect("8-byte range"));
        if crc32fast::hash(&b[..60]) != le32(60..64) {
            return Err("entry checksum mismatch".into());
        }
        let kind = EntryKind::from_flags(le32(36..40)).ok_or("unknown entry flags")?;
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

/// One mapped run file.
#[derive(Debug)]
struct Run {
    lo: u32,
    hi: u32,
    map: Arc<MappedFile>,
    entries_at: usize,
    count: usize,
    files: Vec<FileRecord>,
}

impl Run {
    fn open(path: &Path, lo: u32, hi: u32) -> Result<Run> {
        let map = MappedFile::open(path)?;
        let bad = |d: String| Error::corrupt(path, d);
        let bytes = map.bytes();
        if bytes.len() < 12 || &bytes[..8] != RUN_MAGIC {
            return Err(bad("not an index run (bad magic)".into()));
        }
        let header_len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        if header_len < 16 || header_len > bytes.len() {
            return Err(bad(format!("absurd header length {header_len}")));
        }
        let header = &bytes[..header_len];
        let (body, crc) = header.split_at(header_len - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(bad("header checksum mismatch".into()));
        }
        let mut d = Decoder::new(&body[12..]);
        let parsed = (|| {
            let version = d.u32()?;
            let (rlo, rhi) = (d.u32()?, d.u32()?);
            let count = d.u64()?;
            let nfiles = d.count(17)?;
            let mut files = Vec::with_capacity(nfiles);
            for _ in 0..nfiles {
                let id = d.u32()?;
                let kind = d.u8()?;
                let len = d.u64()?;
                let crc = d.u32()?;
                files.push((id, kind, len, crc));
            }
            d.finish()?;
            Ok::<_, crate::codec::DecodeError>((version, rlo, rhi, count, files))
        })()
        .map_err(|e| bad(format!("bad header: {e}")))?;
        let (version, rlo, rhi, count, raw_files) = parsed;
        if version != RUN_VERSION {
            return Err(Error::Unsupported(format!(
                "{}: index run version {version} is not supported by this build",
                path.display()
            )));
        }
        if (rlo, rhi) != (lo, hi) {
            return Err(bad(format!(
                "header says runs {rlo}-{rhi}, name says {lo}-{hi}"
            )));
        }
        let expected = (count as u128) * ENTRY_SIZE as u128 + header_len as u128;
        if expected != bytes.len() as u128 {
            return Err(bad(format!(
                "{count} entries need {expected} bytes but the file has {}",
                bytes.len()
            )));
        }
        let mut files = Vec::with_capacity(raw_files.len());
        for (id, kind, len, crc) in raw_files {
            let kind = FileKind::from_code(kind)
                .ok_or_else(|| bad(format!("unknown file kind {kind}")))?;
            files.push(FileRecord { id, kind, len, crc });
        }
        Ok(Run {
            lo,
            hi,
            map,
            entries_at: header_len,
            count: count as usize,
            files,
        })
    }

    fn raw(&self, i: usize) -> &[u8] {
        let at = self.entries_at + i * ENTRY_SIZE;
        &self.map.bytes()[at..at + ENTRY_SIZE]
    }

    fn entry(&self, i: usize) -> Result<IndexEntry> {
        IndexEntry::decode(self.raw(i))
            .map_err(|e| Error::corrupt(self.map.path(), format!("entry {i}: {e}")))
    }

    fn prefix_at(&self, i: usize) -> u64 {
        u64::from_be_bytes(self.raw(i)[..8].try_into().expect("8 bytes"))
    }

    /// True if the digest at `i` sorts before `key` (whose first 8 bytes are `target`).
    fn less_at(&self, i: usize, key: &[u8], target: u64) -> bool {
        match self.prefix_at(i).cmp(&target) {
            std::cmp::Ordering::Equal => self.raw(i)[8..32] < key[8..32],
            o => o == std::cmp::Ordering::Less,
        }
    }

    /// First position whose digest is >= `key` (by the raw digest bytes). Digests are
    /// uniformly distributed, so an interpolation search on their first 8 bytes finds the
    /// spot in a few probes; it falls back to bisection on a narrow or skewed range, and
    /// a damaged entry can only cost probes, never a wrong answer (the final comparison
    /// is on the full digest).
    fn lower_bound(&self, key: &[u8]) -> usize {
        let target = u64::from_be_bytes(key[..8].try_into().expect("digest keys"));
        let (mut lo, mut hi) = (0usize, self.count);
        if hi == 0 {
            return 0;
        }
        // Invariants: entries before `lo` sort before `key`, entries from `hi` on do not;
        // `lv`/`hv` bound the prefixes in `lo..hi` (read once, then carried from probes,
        // so each probe costs one memory access).
        let (mut lv, mut hv) = (self.prefix_at(0), self.prefix_at(hi - 1));
        let mut probes = 0;
        while hi - lo > 16 && probes < 6 {
            probes += 1;
            if target < lv {
                return lo;
            }
            if target > hv {
                return hi;
            }
            if lv >= hv {
                break; // a run of equal prefixes: bisect on the full digests
            }
            let guess =
                lo + (((target - lv) as u128 * (hi - 1 - lo) as u128) / (hv - lv) as u128) as usize;
            let guess = guess.clamp(lo, hi - 1);
            let gv = self.prefix_at(guess);
            if self.less_at(guess, key, target) {
                lo = guess + 1;
                lv = gv;
            } else {
                hi = guess + 1;
                hv = gv;
                if guess == lo {
                    return guess;
                }
                // `guess` does not sort before `key`: the answer is in lo..=guess.
                hi -= 1;
                if !self.less_at(hi - 1, key, target) {
                    continue;
                }
                return hi;
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.less_at(mid, key, target) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn lookup(&self, d: &Digest) -> Result<Option<IndexEntry>> {
        let i = self.lower_bound(&d.0);
        if i < self.count && self.raw(i)[..32] == d.0 {
            return self.entry(i).map(Some);
        }
        Ok(None)
    }
}

fn run_name(lo: u32, hi: u32) -> String {
    format!("{lo:08x}-{hi:08x}.run")
}

fn parse_run_name(name: &str) -> Option<(u32, u32)> {
    let stem = name.strip_suffix(".run")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 8 || b.len() != 8 {
        return None;
    }
    let (lo, hi) = (
        u32::from_str_radix(a, 16).ok()?,
        u32::from_str_radix(b, 16).ok()?,
    );
    (lo <= hi).then_some((lo, hi))
}

/// Lists run names, dropping runs that a wider run covers (leftovers of a merge).
/// A run's sequence range.
type RunRange = (u32, u32);

fn list_runs(dir: &Path) -> Result<(Vec<RunRange>, Vec<RunRange>)> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).ctx("list", dir)? {
        let entry = entry.ctx("list", dir)?;
        if let Some(r) = parse_run_name(&entry.file_name().to_string_lossy()) {
            all.push(r);
        }
    }
    all.sort();
    let mut live = Vec::new();
    let mut covered = Vec::new();
    for &(lo, hi) in &all {
        let is_covered = all
            .iter()
            .any(|&(l2, h2)| (l2, h2) != (lo, hi) && l2 <= lo && hi <= h2);
        if is_covered {
            covered.push((lo, hi));
        } else {
            live.push((lo, hi));
        }
    }
    Ok((live, covered))
}

/// The index: every run of the repository, newest first.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    runs: Vec<Run>,
}

impl Index {
    /// Opens the index in `dir`, mapping every live run.
    pub fn open(dir: &Path) -> Result<Index> {
        let mut index = Index {
            dir: dir.to_path_buf(),
            runs: Vec::new(),
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
        self.runs = runs;
        Ok(())
    }

    /// The entry for `digest`, searching the newest run first.
    pub fn lookup(&self, digest: &Digest) -> Result<Option<IndexEntry>> {
        for run in &self.runs {
            if let Some(e) = run.lookup(digest)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
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

    /// Every entry of every run (newest run first; a digest may repeat across runs).
    pub fn all_entries(&self) -> Result<Vec<IndexEntry>> {
        let mut out = Vec::with_capacity(self.entry_count());
        for run in &self.runs {
            for i in 0..run.count {
                out.push(run.entry(i)?);
            }
        }
        Ok(out)
    }

    /// Publishes a new run holding `entries` and `files` (writer only), then merges runs
    /// of similar size. Entries need not be sorted or unique.
    pub fn publish(&mut self, mut entries: Vec<IndexEntry>, files: Vec<FileRecord>) -> Result<()> {
        self.refresh()?;
        let seq = self.runs.iter().map(|r| r.hi).max().map_or(0, |h| h + 1);
        // Equal digests name the same bytes: which of them is kept does not matter.
        entries.par_sort_unstable_by_key(|e| e.digest);
        entries.dedup_by(|a, b| a.digest == b.digest);
        write_run(&self.dir, seq, seq, &entries, &files)?;
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
        let mut entries = Vec::with_capacity(newer.count + older.count);
        for run in [newer, older] {
            for i in 0..run.count {
                entries.push(run.entry(i)?);
            }
        }
        // Stable sort keeps the newer run's entry first among equal digests.
        entries.par_sort_by_key(|e| e.digest);
        entries.dedup_by(|a, b| a.digest == b.digest);
        let mut files: Vec<FileRecord> = newer.files.clone();
        files.extend(
            older
                .files
                .iter()
                .filter(|f| !newer.files.iter().any(|n| n.id == f.id)),
        );
        let (lo, hi) = (older.lo.min(newer.lo), newer.hi.max(older.hi));
        let replaced = [(newer.lo, newer.hi), (older.lo, older.hi)];
        write_run(&self.dir, lo, hi, &entries, &files)?;
        for (l, h) in replaced {
            let p = self.dir.join(run_name(l, h));
            fs::remove_file(&p).ctx("remove merged index run", &p)?;
        }
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

fn write_run(
    dir: &Path,
    lo: u32,
    hi: u32,
    entries: &[IndexEntry],
    files: &[FileRecord],
) -> Result<()> {
    let mut h = Encoder::new();
    h.raw(RUN_MAGIC).u32(0);
    h.u32(RUN_VERSION).u32(lo).u32(hi).u64(entries.len() as u64);
    let unique: BTreeSet<(u32, u8, u64, u32)> = files
        .iter()
        .map(|f| (f.id, f.kind as u8, f.len, f.crc))
        .collect();
    h.varint(unique.len() as u64);
    for (id, kind, len, crc) in unique {
        h.u32(id).u8(kind).u64(len).u32(crc);
    }
    let mut header = h.finish();
    let header_len = (header.len() + 4) as u32;
    header[8..12].copy_from_slice(&header_len.to_le_bytes());
    let crc = crc32fast::hash(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    let mut bytes = header;
    let at = bytes.len();
    bytes.resize(at + entries.len() * ENTRY_SIZE, 0);
    bytes[at..]
        .par_chunks_mut(ENTRY_SIZE)
        .zip(entries)
        .for_each(|(out, e)| out.copy_from_slice(&e.encode()));
    fsutil::write_atomic(&dir.join(run_name(lo, hi)), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> IndexEntry {
        IndexEntry {
            digest: crate::ValueHeader::Bytes.digest(&i.to_le_bytes()),
            kind: if i.is_multiple_of(3) {
                EntryKind::Object(4)
            } else {
                EntryKind::Value
            },
            loc: Location {
                file: i % 7,
                offset: u64::from(i) * 10,
                len: 10,
                crc: i,
            },
        }
    }

    #[test]
    fn publish_lookup_merge_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(idx.lookup(&entry(1).digest).unwrap(), None);
        for batch in 0..20u32 {
            let es: Vec<_> = (batch * 50..batch * 50 + 50).map(entry).collect();
            let files = vec![FileRecord {
                id: batch,
                kind: FileKind::Segment,
                len: 1,
                crc: 2,
            }];
            idx.publish(es, files).unwrap();
            assert!(
                idx.run_count() <= 6,
                "{} runs after {batch}",
                idx.run_count()
            );
        }
        let reopened = Index::open(dir.path()).unwrap();
        for i in 0..1000 {
            assert_eq!(
                reopened.lookup(&entry(i).digest).unwrap(),
                Some(entry(i)),
                "{i}"
            );
        }
        assert!(reopened.has_file(7) && !reopened.has_file(99));
        assert_eq!(reopened.files().len(), 20);
        assert!(reopened.verify().is_empty());
        let e = entry(3);
        let found = reopened
            .find_prefix(&e.digest.to_hex()[..6], EntryKind::Object(4))
            .unwrap();
        assert!(found.contains(&e));
        assert!(reopened
            .find_prefix(&e.digest.to_hex()[..6], EntryKind::Value)
            .unwrap()
            .iter()
            .all(|x| x.digest != e.digest));
    }

    #[test]
    fn interpolation_search_agrees_with_bisection() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut digests: Vec<Digest> = (0..3000)
            .map(|i| {
                let mut d = [0u8; 32];
                for c in d.chunks_mut(8) {
                    c.copy_from_slice(&next().to_le_bytes());
                }
                // Clusters sharing their first 8 bytes, and a skewed tail.
                if i % 7 == 0 {
                    d[..8].copy_from_slice(&[0x42; 8]);
                }
                if i % 11 == 0 {
                    d[..4].copy_from_slice(&[0xff; 4]);
                }
                Digest(d)
            })
            .collect();
        digests.sort();
        digests.dedup();
        let entries: Vec<IndexEntry> = digests
            .iter()
            .map(|d| IndexEntry {
                digest: *d,
                kind: EntryKind::Value,
                loc: Location {
                    file: 1,
                    offset: 0,
                    len: 0,
                    crc: 0,
                },
            })
            .collect();
        write_run(dir.path(), 0, 0, &entries, &[]).unwrap();
        let run = Run::open(&dir.path().join(run_name(0, 0)), 0, 0).unwrap();
        let mut probes: Vec<[u8; 32]> = digests.iter().map(|d| d.0).collect();
        for _ in 0..3000 {
            let mut d = [0u8; 32];
            for c in d.chunks_mut(8) {
                c.copy_from_slice(&next().to_le_bytes());
            }
            probes.push(d);
            let mut near = digests[(next() % digests.len() as u64) as usize].0;
            near[31] ^= 1;
            probes.push(near);
        }
        probes.extend([[0u8; 32], [0xff; 32], {
            let mut x = [0x42u8; 32];
            x[8..].fill(0);
            x
        }]);
        for p in probes {
            let want = digests.partition_point(|d| d.0 < p);
            assert_eq!(run.lower_bound(&p), want);
        }
    }

    #[test]
    fn covered_runs_left_by_an_interrupted_merge_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), 0, 0, &[entry(1)], &[]).unwrap();
        write_run(dir.path(), 1, 1, &[entry(2)], &[]).unwrap();
        let mut both = vec![entry(1), entry(2)];
        both.sort_by_key(|e| e.digest);
        write_run(dir.path(), 0, 1, &both, &[]).unwrap();
        let mut idx = Index::open(dir.path()).unwrap();
        assert_eq!(idx.run_count(), 1);
        assert_eq!(idx.remove_covered_runs().unwrap(), 2);
        assert!(idx.lookup(&entry(2).digest).unwrap().is_some());
    }

    #[test]
    fn damaged_runs_are_corrupt_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let es: Vec<_> = (0..40).map(entry).collect();
        write_run(
            dir.path(),
            0,
            0,
            &es,
            &[FileRecord {
                id: 1,
                kind: FileKind::Pack,
                len: 3,
                crc: 4,
            }],
        )
        .unwrap();
        let path = dir.path().join(run_name(0, 0));
        let good = fs::read(&path).unwrap();
        for cut in [0, 5, 11, 20, good.len() - 1] {
            fs::write(&path, &good[..cut]).unwrap();
            let err = Index::open(dir.path()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "cut {cut}: {err}");
        }
        // A flipped bit in the header is caught at open; in an entry, when it is read.
        let mut undetected = 0;
        for byte in 0..good.len() {
            let mut bad = good.clone();
            bad[byte] ^= 0x10;
            fs::write(&path, &bad).unwrap();
            let caught = match Index::open(dir.path()) {
                Err(_) => true,
                Ok(idx) => !idx.verify().is_empty(),
            };
            if !caught {
                undetected += 1;
            }
        }
        assert_eq!(undetected, 0);
    }
}
