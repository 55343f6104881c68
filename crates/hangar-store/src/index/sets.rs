//! Entries handled by position rather than held: the entries a commit publishes
//! ([`EntrySource`], sorted by [`digest_order_of`] without being copied), and a snapshot
//! of the live runs whose entries are numbered ([`LiveEntries`]).

use super::run::Run;
use super::*;

/// Entries to publish, each named by a *handle* of the source's choosing (a position,
/// or where the source holds the entry): see [`Index::publish_from`].
pub trait EntrySource: Sync {
    /// How many.
    fn len(&self) -> usize;
    /// True if there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends the first 8 bytes of each entry's digest ([`Digest::prefix`]) and its
    /// handle, in any order. A source that holds the prefixes apart from its entries (a
    /// commit's staged map does) gives them without reading an entry: sorting reads
    /// them in order, and only equal prefixes reach [`EntrySource::digest`].
    fn keys(&self, out: &mut Vec<(u64, u64)>);
    /// The digest of the entry with handle `h`.
    fn digest(&self, h: u64) -> &Digest;
    /// The entry with handle `h`.
    fn entry(&self, h: u64) -> IndexEntry;
}

/// Handles are positions.
impl EntrySource for [IndexEntry] {
    fn len(&self) -> usize {
        <[IndexEntry]>::len(self)
    }
    fn keys(&self, out: &mut Vec<(u64, u64)>) {
        out.extend(self.iter().enumerate().map(|(i, e)| (e.digest.prefix(), i as u64)));
    }
    fn digest(&self, h: u64) -> &Digest {
        &self[h as usize].digest
    }
    fn entry(&self, h: u64) -> IndexEntry {
        self[h as usize]
    }
}

/// The handles of `entries` in digest order, each digest once (equal digests name the
/// same bytes: which of them is kept does not matter), with each digest's first 8 bytes.
pub(super) fn digest_order_of(entries: &(impl EntrySource + ?Sized)) -> Vec<(u64, u64)> {
    let mut keys: Vec<(u64, u64)> = Vec::with_capacity(entries.len());
    entries.keys(&mut keys);
    crate::par::install(|| keys.par_sort_unstable_by_key(|k| k.0));
    // Equal prefixes (rare: digests are uniform) are ordered by the whole digest.
    let mut start = 0;
    while start < keys.len() {
        let end = start + keys[start..].iter().take_while(|k| k.0 == keys[start].0).count();
        if end - start > 1 {
            keys[start..end].sort_unstable_by(|a, b| entries.digest(a.1).cmp(entries.digest(b.1)));
        }
        start = end;
    }
    keys.dedup_by(|a, b| a.0 == b.0 && entries.digest(a.1) == entries.digest(b.1));
    keys
}

/// A snapshot of the live index runs whose entries are numbered `0..len()`, run after
/// run (newest first), each run in digest order: a caller can keep 4 bytes per entry
/// in a vector where it would keep a map keyed by 32-byte digests (`verify` marks the
/// values it must check this way). A writer's later runs are not in it.
#[derive(Debug)]
pub struct LiveEntries {
    runs: Vec<Run>,
    starts: Vec<usize>,
    len: usize,
}

impl LiveEntries {
    /// `runs` (newest first) numbered in that order.
    pub(super) fn new(runs: Vec<Run>) -> LiveEntries {
        let mut starts = Vec::with_capacity(runs.len());
        let mut len = 0;
        for r in &runs {
            starts.push(len);
            len += r.count;
        }
        LiveEntries { runs, starts, len }
    }

    /// How many entries (a digest in two runs is counted in each).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of the entry of `digest` in the newest run holding it.
    pub fn position(&self, digest: &Digest) -> Option<usize> {
        self.runs
            .iter()
            .zip(&self.starts)
            .find_map(|(r, start)| r.find(digest).map(|i| start + i))
    }

    /// Entry number `pos` (`pos < len()`), checked as every entry read is.
    pub fn entry(&self, pos: usize) -> Result<IndexEntry> {
        if pos >= self.len {
            return Err(Error::InvalidArgument(format!(
                "index entry {pos} of {}",
                self.len
            )));
        }
        let r = self.starts.partition_point(|&s| s <= pos) - 1;
        self.runs[r].entry(pos - self.starts[r])
    }
}

