//! The staging area as the core sees it: the base commit's columns plus, per column, an
//! overlay of changed records, and the metadata overlay. Every change is one journal
//! record; replaying the records over the base rebuilds exactly this state.

use std::collections::BTreeMap;

use hangar_store::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use hangar_store::{Digest, DigestSet, SegmentFormat};

use crate::error::{Error, Result};
use crate::objects::TreeRef;
pub(crate) use crate::overlay::Overlay;
pub(crate) use crate::puts::Puts;
use crate::puts::ENTRY_OVERHEAD;
use crate::schema::ColumnSchema;
use crate::shared::Shared;
use crate::tree;

/// A column as staged.
#[derive(Debug, Clone)]
pub(crate) struct ColumnState {
    pub schema: ColumnSchema,
    pub schema_digest: Digest,
    pub format: SegmentFormat,
    pub base: Option<TreeRef>,
    pub overlay: Overlay,
    /// Records (samples, or for nested columns samples and subsamples).
    pub count: u64,
    /// Samples (equal to `count` for flat columns).
    pub samples: u64,
}

impl ColumnState {
    fn new(schema: ColumnSchema, base: Option<TreeRef>, samples: u64) -> ColumnState {
        ColumnState {
            schema_digest: schema.digest(),
            format: schema.segment_format(),
            count: base.map_or(0, |t| t.count),
            samples,
            schema,
            base,
            overlay: Overlay::new(),
        }
    }

    /// The column as its commit would have it now: its schema and base record table.
    fn at(&self) -> ColumnAt {
        (self.schema_digest, self.base)
    }

    /// True if records of this column are keyed sample/subsample.
    pub fn nested(&self) -> bool {
        self.schema.layout() == crate::schema::Layout::Nested
    }

    /// True if `key` counts as a sample: every key of a flat column, the marker keys of a
    /// nested one.
    fn is_sample_key(&self, key: &[u8]) -> bool {
        crate::key::is_sample_record(self.nested(), key)
    }
}

/// An overlay over a base record table: used for columns and for metadata.
pub(crate) fn overlay_lookup(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &Overlay,
    key: &[u8],
) -> Result<Option<Vec<u8>>> {
    if let Some(v) = overlay.get(key) {
        return Ok(v.map(<[u8]>::to_vec));
    }
    table_record(shared, base, key)
}

/// The record of `key` in `table` (none in an empty table).
pub(crate) fn table_record(
    shared: &Shared,
    table: Option<&TreeRef>,
    key: &[u8],
) -> Result<Option<Vec<u8>>> {
    match table {
        Some(t) => tree::lookup(shared, t, key),
        None => Ok(None),
    }
}

/// A column as a commit has it: its schema and record table.
pub(crate) type ColumnAt = (Digest, Option<TreeRef>);

/// True if both are absent, or both have one schema and one record table.
pub(crate) fn same_column(a: Option<&ColumnAt>, b: Option<&ColumnAt>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some((sa, ta)), Some((sb, tb))) => sa == sb && ta.map(|t| t.root) == tb.map(|t| t.root),
        _ => false,
    }
}

/// Puts `value` under `key`, keeping the overlay minimal: an entry equal to the base is
/// dropped. Returns true if the key is new. Sets `dropped` if a staged record was
/// replaced or removed.
fn overlay_put(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &mut Overlay,
    key: Vec<u8>,
    value: Vec<u8>,
    dropped: &mut bool,
) -> Result<bool> {
    let base_value = table_record(shared, base, &key)?;
    let same_as_base = base_value.as_deref() == Some(value.as_slice());
    Ok(match overlay.get(&key) {
        Some(staged) => {
            let existed = staged.is_some();
            *dropped |= existed;
            if same_as_base {
                overlay.remove(&key);
            } else {
                overlay.insert(key, Some(value));
            }
            !existed
        }
        None => {
            if !same_as_base {
                overlay.insert(key, Some(value));
            }
            base_value.is_none()
        }
    })
}

/// Deletes `key` (which must exist). Returns false if it did not exist. Sets `dropped`
/// if a staged record was removed.
fn overlay_delete(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &mut Overlay,
    key: &[u8],
    dropped: &mut bool,
) -> Result<bool> {
    let base_value = table_record(shared, base, key)?;
    let existed = match overlay.get(key) {
        Some(v) => {
            *dropped |= v.is_some();
            v.is_some()
        }
        None => base_value.is_some(),
    };
    if base_value.is_some() {
        overlay.insert(key.to_vec(), None);
    } else {
        overlay.remove(key);
    }
    Ok(existed)
}

/// The (key, value) pairs of base + overlay whose keys start with `prefix`, in order.
pub(crate) fn overlay_scan(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &Overlay,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = match base {
        Some(t) => tree::scan_prefix(shared, t, prefix)?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect(),
        None => BTreeMap::new(),
    };
    for (k, v) in overlay
        .iter_from(prefix)
        .take_while(|(k, _)| k.starts_with(prefix))
    {
        merged.insert(k.to_vec(), v.map(<[u8]>::to_vec));
    }
    Ok(merged
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// Keys of base + overlay, in order.
pub(crate) fn overlay_keys(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &Overlay,
) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut ov = overlay.iter().peekable();
    for item in tree::TreeIter::new(shared, base) {
        let (k, _) = item?;
        while let Some((ok, ovv)) = ov.peek() {
            if *ok < k.as_slice() {
                if ovv.is_some() {
                    out.push(ok.to_vec());
                }
                ov.next();
            } else {
                break;
            }
        }
        match ov.peek() {
            Some((ok, ovv)) if *ok == k.as_slice() => {
                if ovv.is_some() {
                    out.push(k);
                }
                ov.next();
            }
            _ => out.push(k),
        }
    }
    for (k, v) in ov {
        if v.is_some() {
            out.push(k.to_vec());
        }
    }
    Ok(out)
}

fn unknown_column(name: &str) -> Error {
    Error::corrupt(
        "staging journal",
        format!("change to unknown column {name:?}"),
    )
}

/// The whole staging state.
#[derive(Debug, Clone)]
pub(crate) struct Staging {
    pub base: BaseInfo,
    pub base_root: Option<Digest>,
    base_columns: BTreeMap<String, ColumnAt>,
    pub columns: BTreeMap<String, ColumnState>,
    pub meta_base: Option<TreeRef>,
    pub meta: Overlay,
    pub meta_count: u64,
    /// False while no staged record of a column was replaced or removed, and no put
    /// stored values without staging its records ([`Staging::values_may_be_dead`]).
    maybe_dead: bool,
}

impl Staging {
    /// The clean staging area of `base`.
    pub fn load(shared: &Shared, base: BaseInfo) -> Result<Staging> {
        let mut s = Staging {
            base,
            base_root: None,
            base_columns: BTreeMap::new(),
            columns: BTreeMap::new(),
            meta_base: None,
            meta: Overlay::new(),
            meta_count: 0,
            maybe_dead: false,
        };
        if let Some(c) = s.base.commit {
            let commit = shared.read_commit(&c)?;
            let root = shared.read_root(&commit.root)?;
            s.base_root = Some(commit.root);
            for col in &root.columns {
                let schema = shared.read_schema(&col.schema)?;
                s.base_columns
                    .insert(col.name.clone(), (col.schema, col.tree));
                s.columns.insert(
                    col.name.clone(),
                    ColumnState::new(schema, col.tree, col.samples),
                );
            }
            s.meta_base = root.metadata;
            s.meta_count = root.metadata.map_or(0, |t| t.count);
        }
        Ok(s)
    }

    /// Applies a put of (key, record) entries whose preconditions were checked (a
    /// `Change::Put`, or one borrowed from a journal frame by [`Change::decode_put`]).
    pub fn apply_put(&mut self, shared: &Shared, column: &str, entries: &Puts<'_>) -> Result<()> {
        let col = self
            .columns
            .get_mut(column)
            .ok_or_else(|| unknown_column(column))?;
        let dead = &mut self.maybe_dead;
        if col.base.is_none() && entries.len() >= 64 {
            // A big batch into a column without a base (a bulk import, or the replay of
            // its journal): added as one run of the overlay instead of one insert per
            // record. Without a base every overlay entry is a put, and nothing is
            // normalized away.
            let (mut new_keys, mut new_samples) = (0u64, 0u64);
            let nested = col.nested();
            let on_new = |k: &[u8]| {
                new_keys += 1;
                new_samples += u64::from(crate::key::is_sample_record(nested, k));
            };
            let unique = if entries.sorted_unique() {
                col.overlay.append_sorted_puts(entries, on_new);
                entries.len()
            } else {
                // Sorted first; stable, so of equal keys the later put stays later and
                // wins.
                let mut sorted: Vec<(&[u8], &[u8])> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                let mut run = Puts::default();
                for (i, (k, r)) in sorted.iter().enumerate() {
                    if sorted.get(i + 1).is_none_or(|next| next.0 != *k) {
                        run.push(k, r);
                    }
                }
                col.overlay.append_sorted_puts(&run, on_new);
                // A key put twice in the batch: the earlier record is dropped.
                *dead |= run.len() < entries.len();
                run.len()
            };
            // A key already staged had its record replaced.
            *dead |= (new_keys as usize) < unique;
            col.count += new_keys;
            col.samples += new_samples;
        } else {
            for (k, r) in entries.iter() {
                let sample = col.is_sample_key(k);
                if overlay_put(
                    shared,
                    col.base.as_ref(),
                    &mut col.overlay,
                    k.to_vec(),
                    r.to_vec(),
                    dead,
                )? {
                    col.count += 1;
                    col.samples += u64::from(sample);
                }
            }
        }
        Ok(())
    }

    /// Applies a change whose preconditions were checked.
    pub fn apply(&mut self, shared: &Shared, change: Change) -> Result<()> {
        match change {
            Change::ColumnCreate { name, schema } => {
                self.columns.insert(name, ColumnState::new(schema, None, 0));
            }
            Change::ColumnDelete { name } => {
                if let Some(col) = self.columns.remove(&name) {
                    self.maybe_dead |= !col.overlay.is_empty();
                }
            }
            Change::Put {
                column,
                mut entries,
            } => {
                // The batch's records buffer moves into the overlay whole (a bulk batch
                // of megabytes is not copied again into fresh memory).
                entries.share_own_records();
                self.apply_put(shared, &column, &entries)?;
            }
            Change::Delete { column, key } => {
                let col = self
                    .columns
                    .get_mut(&column)
                    .ok_or_else(|| unknown_column(&column))?;
                let sample = col.is_sample_key(&key);
                let dead = &mut self.maybe_dead;
                if overlay_delete(shared, col.base.as_ref(), &mut col.overlay, &key, dead)? {
                    col.count -= 1;
                    col.samples -= u64::from(sample);
                }
            }
            Change::Apply { column, entries } => {
                let col = self
                    .columns
                    .get_mut(&column)
                    .ok_or_else(|| unknown_column(&column))?;
                let dead = &mut self.maybe_dead;
                for (k, v) in entries {
                    let sample = col.is_sample_key(&k);
                    match v {
                        Some(r) => {
                            let base = col.base.as_ref();
                            if overlay_put(shared, base, &mut col.overlay, k, r, dead)? {
                                col.count += 1;
                                col.samples += u64::from(sample);
                            }
                        }
                        None => {
                            if overlay_delete(
                                shared,
                                col.base.as_ref(),
                                &mut col.overlay,
                                &k,
                                dead,
                            )? {
                                col.count -= 1;
                                col.samples -= u64::from(sample);
                            }
                        }
                    }
                }
            }
            Change::MetaPut { key, value } => {
                let base = self.meta_base.as_ref();
                // Metadata values live in their records: none is a stored value.
                if overlay_put(
                    shared,
                    base,
                    &mut self.meta,
                    key.into_bytes(),
                    value.into_bytes(),
                    &mut false,
                )? {
                    self.meta_count += 1;
                }
            }
            Change::MetaDelete { key } => {
                if overlay_delete(
                    shared,
                    self.meta_base.as_ref(),
                    &mut self.meta,
                    key.as_bytes(),
                    &mut false,
                )? {
                    self.meta_count -= 1;
                }
            }
        }
        Ok(())
    }

    /// The current record of `key` in column `col`.
    pub fn record(
        &self,
        shared: &Shared,
        col: &ColumnState,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        overlay_lookup(shared, col.base.as_ref(), &col.overlay, key)
    }

    /// The current metadata value of `key`.
    pub fn meta_value(&self, shared: &Shared, key: &str) -> Result<Option<Vec<u8>>> {
        overlay_lookup(shared, self.meta_base.as_ref(), &self.meta, key.as_bytes())
    }

    /// False if every value stored since the base is still referenced by a staged
    /// record, so a commit keeps them all without collecting [`Staging::live_digests`]:
    /// no staged record of a column was replaced or removed (each stored value was
    /// stored for a put whose records are all still staged), and no put failed after
    /// storing values ([`Staging::mark_values_maybe_dead`]). True at worst keeps a
    /// commit from skipping that walk; a wrong false could only keep an unreferenced
    /// value in the commit's index, which `hangar gc` removes.
    pub fn values_may_be_dead(&self) -> bool {
        self.maybe_dead
    }

    /// Records that values may have been stored without their records staged (a put
    /// that failed part way).
    pub fn mark_values_maybe_dead(&mut self) {
        self.maybe_dead = true;
    }

    /// The digests of every value a staged record refers to: what the next commit must
    /// keep of the values staged since the last one (the rest are dropped from it).
    /// `expected` sizes the set (the number of values staged in the store, say).
    pub fn live_digests(&self, expected: usize) -> DigestSet {
        let mut live = DigestSet::default();
        // Sized once for what the caller expects (inline records and deletions hold no
        // digest, so the staged keys' count alone could be far too many).
        live.reserve(expected.min(self.columns.values().map(|c| c.overlay.len()).sum()));
        for col in self.columns.values() {
            for (key, v) in col.overlay.iter() {
                let Some(v) = v else { continue };
                if col.nested() && col.is_sample_key(key) {
                    continue; // a sample marker of a nested column holds no value
                }
                // Every staged record was checked when it was staged.
                if let Some(d) = crate::schema::Record::peek_stored_digest(v) {
                    live.insert(d);
                }
            }
        }
        live
    }

    /// Forgets every staged change held in memory, before the journal they were
    /// replayed from is cut back below them (a rollback to a savepoint taken before this
    /// staging area was loaded): records replayed by the writer are slices of its mapped
    /// journal, and a slice the cut reaches must not be read again. The caller loads the
    /// staging area afresh from the journal.
    pub fn forget_staged(&mut self) {
        for col in self.columns.values_mut() {
            col.overlay = Overlay::new();
        }
        self.meta = Overlay::new();
    }

    /// True if anything differs from the base commit.
    pub fn is_dirty(&self) -> bool {
        if !self.meta.is_empty() || self.columns.len() != self.base_columns.len() {
            return true;
        }
        self.columns.iter().any(|(name, col)| {
            !col.overlay.is_empty() || !same_column(Some(&col.at()), self.base_columns.get(name))
        })
    }

    /// Names of columns added, removed or changed relative to the base, with counts of
    /// staged sample changes, for status reports.
    pub fn changes(&self) -> StagedChanges {
        let mut out = StagedChanges::default();
        for (name, col) in &self.columns {
            match self.base_columns.get(name) {
                None => out.columns_added.push(name.clone()),
                Some(at) if !same_column(Some(&col.at()), Some(at)) => {
                    out.columns_replaced.push(name.clone())
                }
                _ => {}
            }
            let deletes = col.overlay.deletes();
            let puts = col.overlay.len() - deletes;
            if puts + deletes > 0 {
                out.samples.push((name.clone(), puts, deletes));
            }
        }
        for name in self.base_columns.keys() {
            if !self.columns.contains_key(name) {
                out.columns_deleted.push(name.clone());
            }
        }
        out.metadata_changes = self.meta.len();
        out
    }

    /// The state as a minimal list of changes over the base (for journal compaction).
    pub fn snapshot(&self) -> Vec<Change> {
        let mut out = Vec::new();
        for (name, at_base) in &self.base_columns {
            let same = self
                .columns
                .get(name)
                .is_some_and(|c| same_column(Some(&c.at()), Some(at_base)));
            if !same {
                out.push(Change::ColumnDelete { name: name.clone() });
            }
        }
        for (name, col) in &self.columns {
            if !same_column(Some(&col.at()), self.base_columns.get(name)) {
                out.push(Change::ColumnCreate {
                    name: name.clone(),
                    schema: col.schema.clone(),
                });
            }
            let puts: Puts<'_> = col
                .overlay
                .iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            if !puts.is_empty() {
                out.push(Change::Put {
                    column: name.clone(),
                    entries: puts,
                });
            }
            for (k, v) in col.overlay.iter() {
                if v.is_none() {
                    out.push(Change::Delete {
                        column: name.clone(),
                        key: k.to_vec(),
                    });
                }
            }
        }
        for (k, v) in self.meta.iter() {
            let key = String::from_utf8_lossy(k).into_owned();
            match v {
                Some(v) => out.push(Change::MetaPut {
                    key,
                    value: String::from_utf8_lossy(v).into_owned(),
                }),
                None => out.push(Change::MetaDelete { key }),
            }
        }
        out
    }
}

/// A summary of what is staged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StagedChanges {
    /// Columns new in the staging area.
    pub columns_added: Vec<String>,
    /// Columns of the base that were deleted.
    pub columns_deleted: Vec<String>,
    /// Columns deleted and created again (with a new schema or emptied).
    pub columns_replaced: Vec<String>,
    /// Per column: (name, samples added or changed, samples deleted).
    pub samples: Vec<(String, usize, usize)>,
    /// Metadata keys added, changed or deleted.
    pub metadata_changes: usize,
}

mod carry;
mod change;
pub(crate) use change::{BaseInfo, Change};

#[cfg(test)]
mod tests;
