//! The staged changes of one record table (a column's, or the metadata's) over its base:
//! a sorted map from key to `Some(record)` (put) or `None` (delete), kept as an in-memory
//! log-structured merge of flat sorted runs plus a small ordered map of recent changes.
//!
//! A staged sample costs its key and record bytes plus a kind byte in a run, and two
//! offsets unless the run's keys (or records) all have one length (about 42 bytes for an
//! integer key and a 32-byte record) instead of two heap allocations and a B-tree slot
//! each (several hundred bytes), and a bulk batch of sorted puts becomes a run in one
//! pass (its keys copied whole, its records kept where they are: `values.rs`). Runs of similar size are merged (the older
//! holding at most twice the newer's entries), so there are O(log n) of them and each
//! entry is copied O(log n) times in all; a lookup binary-searches the recent map, then
//! the runs from newest to oldest.

use std::collections::BTreeMap;
use std::ops::Bound;

use hangar_store::BigBytes;

use crate::puts::{Ends, Puts};

mod values;

use values::Values;

/// Recent changes are frozen into a run once this many accumulate.
const HOT_MAX: usize = 16 * 1024;

/// An entry's state in one layer. `Absent` hides an older layer's entry: the key has no
/// staged change (it was put back to its base value).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Put(Vec<u8>),
    Delete,
    Absent,
}

const PUT: u8 = 0;
const DELETE: u8 = 1;
const ABSENT: u8 = 2;

impl Slot {
    /// The slot as a run stores it: kind and (for puts) value.
    fn entry(&self) -> (u8, &[u8]) {
        match self {
            Slot::Put(v) => (PUT, v),
            Slot::Delete => (DELETE, &[]),
            Slot::Absent => (ABSENT, &[]),
        }
    }
}

/// A flat sorted run of unique keys.
#[derive(Debug, Clone, Default)]
struct Run {
    keys: BigBytes,
    key_ends: Ends,
    values: Values,
    kinds: BigBytes,
}

impl Run {
    /// An empty run with room for `entries` entries of `key_bytes` and `value_bytes` in
    /// all.
    fn with_capacity(entries: usize, key_bytes: usize, value_bytes: usize) -> Run {
        let mut run = Run::default();
        run.reserve(entries, key_bytes, value_bytes);
        run
    }

    fn len(&self) -> usize {
        self.kinds.len()
    }

    fn push(&mut self, key: &[u8], kind: u8, value: &[u8]) {
        self.keys.extend_from_slice(key);
        self.key_ends.push(self.keys.len());
        self.values.push(value);
        self.kinds.push(kind);
    }

    fn key(&self, i: usize) -> &[u8] {
        &self.keys[self.key_ends.start(i)..self.key_ends.end(i)]
    }

    /// The entry's kind and (for puts) value.
    fn entry(&self, i: usize) -> (u8, &[u8]) {
        (self.kinds[i], self.values.get(i))
    }

    /// [`Run::entry`] for entries read in order: `hint` is [`Values::get_near`]'s.
    fn entry_near(&self, i: usize, hint: &mut usize) -> (u8, &[u8]) {
        (self.kinds[i], self.values.get_near(i, hint))
    }

    /// The position of `key`, or where it would go.
    fn search(&self, key: &[u8]) -> Result<usize, usize> {
        self.search_between(key, 0, self.len())
    }

    /// [`Run::search`] among the entries `lo..hi`.
    fn search_between(&self, key: &[u8], mut lo: usize, mut hi: usize) -> Result<usize, usize> {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// [`Run::search`] over the entries from `from` on (a lower bound the caller knows):
    /// a galloping search, so the keys of a sorted batch looked up in turn cost
    /// O(log distance) each, not O(log n).
    fn search_from(&self, key: &[u8], from: usize) -> Result<usize, usize> {
        let n = self.len();
        let (mut lo, mut hi, mut step) = (from.min(n), from.min(n), 1usize);
        // Widen [lo, hi) until its end passes `key` (or the run ends).
        while hi < n && self.key(hi) < key {
            lo = hi + 1;
            hi = hi.saturating_add(step).min(n);
            step = step.saturating_mul(2);
        }
        self.search_between(key, lo, (hi + 1).min(n))
    }

    fn last_key(&self) -> Option<&[u8]> {
        self.len().checked_sub(1).map(|i| self.key(i))
    }

    /// Room for `entries` more entries of `key_bytes` and `value_bytes` in all, growing
    /// by doubling: a run that grows batch by batch (an import in key order, the replay
    /// of its journal) is moved O(log n) times, not once per batch. The spare capacity
    /// of a large block is address space nothing touches, not resident memory.
    fn reserve(&mut self, entries: usize, key_bytes: usize, value_bytes: usize) {
        self.keys.reserve(key_bytes);
        self.key_ends.reserve(entries);
        self.values.reserve(entries, value_bytes);
        self.kinds.reserve(entries);
    }

    /// Appends entries given as columns (keys and values with their ends), whose keys
    /// all sort after this run's; the caller appends their kinds.
    fn extend_columns(&mut self, keys: &[u8], key_ends: &Ends, values: &[u8], value_ends: &Ends) {
        self.reserve(key_ends.len(), keys.len(), values.len());
        self.extend_keys(keys, key_ends);
        self.values.extend_copied(values, value_ends);
    }

    fn extend_keys(&mut self, keys: &[u8], key_ends: &Ends) {
        self.keys.extend_from_slice(keys);
        self.key_ends.extend(key_ends);
    }

    /// Appends puts whose keys all sort after this run's. Records the batch shares (those
    /// replayed from the writer's mapped journal, or a staged batch's own buffer) become
    /// a piece of the run's values, not a copy: at 10^7 staged samples a copy was 760 MB
    /// of fresh memory.
    fn append_puts(&mut self, puts: &Puts<'_>) {
        let (keys, key_ends, values, value_ends) = puts.columns();
        match puts.shared_records() {
            Some(shared) => {
                self.extend_keys(keys, key_ends);
                self.values.extend_shared(shared.clone(), value_ends);
            }
            None => self.extend_columns(keys, key_ends, values, value_ends),
        }
        self.kinds.extend_with(puts.len(), PUT);
    }

    /// Appends the entries of `newer`, whose keys all sort after this run's; in the
    /// oldest run (`bottom`), unstaged keys are dropped, as [`merge`] does.
    fn append(&mut self, newer: &Run, bottom: bool) {
        if !bottom || !newer.kinds.contains(&ABSENT) {
            self.extend_keys(&newer.keys, &newer.key_ends);
            self.values.extend_from(&newer.values);
            self.kinds.extend_from_slice(&newer.kinds);
            return;
        }
        self.reserve(newer.len(), newer.keys.len(), newer.values.byte_len());
        for i in 0..newer.len() {
            let (kind, value) = newer.entry(i);
            if kind != ABSENT {
                self.push(newer.key(i), kind, value);
            }
        }
    }
}

fn as_option(kind: u8, value: &[u8]) -> Option<Option<&[u8]>> {
    match kind {
        PUT => Some(Some(value)),
        DELETE => Some(None),
        _ => None,
    }
}

/// Staged changes over a base table: key → `Some(record)` or `None` (deleted).
#[derive(Debug, Clone, Default)]
pub(crate) struct Overlay {
    hot: BTreeMap<Vec<u8>, Slot>,
    /// Oldest first; a newer run's entry wins over an older one's.
    runs: Vec<Run>,
    /// Keys with an entry (put or delete).
    len: usize,
    /// Of those, deletes.
    deletes: usize,
}

impl Overlay {
    pub fn new() -> Overlay {
        Overlay::default()
    }

    /// Keys with a staged change.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Staged deletes.
    pub fn deletes(&self) -> usize {
        self.deletes
    }

    /// The staged change of `key`: `Some(Some(record))`, `Some(None)` (deleted), or
    /// `None` (no change staged).
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        if let Some(slot) = self.hot.get(key) {
            let (kind, value) = slot.entry();
            return as_option(kind, value);
        }
        for run in self.runs.iter().rev() {
            if let Ok(i) = run.search(key) {
                let (kind, value) = run.entry(i);
                return as_option(kind, value);
            }
        }
        None
    }

    /// Stages `value` for `key`: `Some(record)` puts, `None` deletes.
    pub fn insert(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        let before = self.get(&key).map(|v| v.is_none());
        self.count_flags(before, Some(value.is_none()));
        let slot = match value {
            Some(v) => Slot::Put(v),
            None => Slot::Delete,
        };
        self.hot.insert(key, slot);
        self.maybe_freeze();
    }

    /// Unstages `key` (it goes back to its base value).
    pub fn remove(&mut self, key: &[u8]) {
        let before = self.get(key).map(|v| v.is_none());
        if before.is_none() {
            return;
        }
        self.count_flags(before, None);
        if self.runs.is_empty() {
            self.hot.remove(key);
        } else {
            self.hot.insert(key.to_vec(), Slot::Absent);
            self.maybe_freeze();
        }
    }

    /// Updates the counters from the entry's state before and after (each `None` for no
    /// entry, else whether it is a delete).
    fn count_flags(&mut self, before: Option<bool>, after: Option<bool>) {
        if let Some(was_delete) = before {
            self.len -= 1;
            self.deletes -= usize::from(was_delete);
        }
        if let Some(is_delete) = after {
            self.len += 1;
            self.deletes += usize::from(is_delete);
        }
    }

    /// Stages a batch of puts whose keys are sorted and unique, newer than everything
    /// staged so far, as one run; `on_new` sees each key that had no staged change.
    pub fn append_sorted_puts(&mut self, batch: &Puts<'_>, mut on_new: impl FnMut(&[u8])) {
        if batch.is_empty() {
            return;
        }
        debug_assert!(batch.sorted_unique());
        // Keys past everything staged (an import in key order) are new without a lookup.
        let after_all = self.last_key().is_none_or(|last| batch.key(0) > last);
        self.freeze();
        if after_all {
            // Every key is new and sorts after everything staged (an import in key order,
            // or the replay of its journal): the batch is appended to the newest run
            // whole.
            if self.runs.is_empty() {
                self.runs.push(Run::default());
            }
            let newest = self.runs.last_mut().expect("a run");
            newest.append_puts(batch);
            batch.keys().for_each(on_new);
            self.len += batch.len();
            return;
        }
        let (keys, _, values, _) = batch.columns();
        let mut run = Run::with_capacity(batch.len(), keys.len(), values.len());
        // The batch's keys ascend, so each run is searched onward from where the previous
        // key would go (`freeze` left nothing in the recent map).
        let mut from = vec![0usize; self.runs.len()];
        for (k, v) in batch.iter() {
            // What the key had staged: nothing, a delete (true) or a put (false).
            let mut before = None;
            for (run, at) in self.runs.iter().zip(from.iter_mut()).rev() {
                match run.search_from(k, *at) {
                    Ok(i) => {
                        *at = i;
                        before = as_option(run.entry(i).0, &[]).map(|v| v.is_none());
                        break;
                    }
                    Err(i) => *at = i,
                }
            }
            if before.is_none() {
                on_new(k);
            }
            self.count_flags(before, Some(false));
            run.push(k, PUT, v);
        }
        self.push_run(run);
    }

    /// The largest key with an entry in any layer (entries hidden by `Absent` included).
    fn last_key(&self) -> Option<&[u8]> {
        let hot = self.hot.keys().next_back().map(Vec::as_slice);
        self.runs.iter().filter_map(Run::last_key).chain(hot).max()
    }

    fn maybe_freeze(&mut self) {
        if self.hot.len() >= HOT_MAX {
            self.freeze();
        }
    }

    /// Turns the recent changes into a run.
    fn freeze(&mut self) {
        if self.hot.is_empty() {
            return;
        }
        let mut run = Run::default();
        for (k, slot) in std::mem::take(&mut self.hot) {
            let (kind, value) = slot.entry();
            run.push(&k, kind, value);
        }
        self.push_run(run);
    }

    /// Adds the newest run, then merges runs of similar size.
    fn push_run(&mut self, run: Run) {
        let bottom = self.runs.len() == 1;
        if let Some(newest) = self.runs.last_mut() {
            if run.len() > 0 && newest.last_key().is_none_or(|last| last < run.key(0)) {
                // Every key of the new run sorts after the newest run's (an import in
                // key order): appended in place, whatever the sizes. Its entries still
                // shadow the older runs', as the newest run's do. Growing a large
                // vector moves its pages (mremap) rather than copying them, so the
                // staging area is not held twice while it grows.
                newest.append(&run, bottom);
                return;
            }
        }
        self.runs.push(run);
        while self.runs.len() >= 2 {
            let n = self.runs.len();
            if self.runs[n - 2].len() > 2 * self.runs[n - 1].len() {
                break;
            }
            let newer = self.runs.pop().expect("two runs");
            let older = self.runs.pop().expect("two runs");
            let bottom = self.runs.is_empty();
            self.runs.push(merge(&older, &newer, bottom));
        }
    }

    /// Every staged change in key order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(&[])
    }

    /// The staged changes of keys from `start` on, in key order.
    pub fn iter_from(&self, start: &[u8]) -> Iter<'_> {
        Iter {
            hot: self
                .hot
                .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
                .peekable(),
            runs: self
                .runs
                .iter()
                .map(|r| {
                    let at = match r.search(start) {
                        Ok(i) | Err(i) => i,
                    };
                    (r, at, 0)
                })
                .collect(),
        }
    }
}

/// Merges two runs, `newer` winning; in the oldest run, unstaged keys are dropped.
fn merge(older: &Run, newer: &Run, bottom: bool) -> Run {
    let mut out = Run::with_capacity(
        older.len() + newer.len(),
        older.keys.len() + newer.keys.len(),
        older.values.byte_len() + newer.values.byte_len(),
    );
    let (mut i, mut j) = (0, 0);
    let mut emit = |key: &[u8], (kind, value): (u8, &[u8])| {
        if !(bottom && kind == ABSENT) {
            out.push(key, kind, value);
        }
    };
    while i < older.len() || j < newer.len() {
        let take_newer = match (i < older.len(), j < newer.len()) {
            (true, true) => match older.key(i).cmp(newer.key(j)) {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => {
                    i += 1; // shadowed by the newer entry
                    true
                }
            },
            (false, true) => true,
            _ => false,
        };
        if take_newer {
            emit(newer.key(j), newer.entry(j));
            j += 1;
        } else {
            emit(older.key(i), older.entry(i));
            i += 1;
        }
    }
    out
}

/// Staged changes in key order (see [`Overlay::iter`]).
pub(crate) struct Iter<'a> {
    hot: std::iter::Peekable<std::collections::btree_map::Range<'a, Vec<u8>, Slot>>,
    /// Each run with its next position and the piece of its values that position was
    /// last found in.
    runs: Vec<(&'a Run, usize, usize)>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if let [(run, at, hint)] = self.runs.as_mut_slice() {
            if self.hot.peek().is_none() {
                // One layer (a bulk import's single run): its entries in order.
                while *at < run.len() {
                    let i = *at;
                    *at += 1;
                    let (kind, value) = run.entry_near(i, hint);
                    if let Some(v) = as_option(kind, value) {
                        return Some((run.key(i), v));
                    }
                }
                return None;
            }
        }
        loop {
            // The smallest next key of any layer, and the newest layer holding it.
            let mut best: Option<&'a [u8]> = self.hot.peek().map(|(k, _)| k.as_slice());
            for (run, at, _) in &self.runs {
                if *at < run.len() {
                    let k = run.key(*at);
                    if best.is_none_or(|b| k < b) {
                        best = Some(k);
                    }
                }
            }
            let key = best?;
            let mut found: Option<Option<Option<&'a [u8]>>> = None;
            if self.hot.peek().is_some_and(|(k, _)| k.as_slice() == key) {
                let (kind, value) = self.hot.next().expect("peeked").1.entry();
                found = Some(as_option(kind, value));
            }
            for (run, at, hint) in self.runs.iter_mut().rev() {
                if *at < run.len() && run.key(*at) == key {
                    if found.is_none() {
                        let (kind, value) = run.entry_near(*at, hint);
                        found = Some(as_option(kind, value));
                    }
                    *at += 1;
                }
            }
            if let Some(Some(v)) = found {
                return Some((key, v));
            }
            // Unstaged in the newest layer holding it: skip the key.
        }
    }
}

#[cfg(test)]
mod tests;
