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

/// What the staging area is based on (the journal's `Base` frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseInfo {
    pub branch: String,
    pub commit: Option<Digest>,
}

impl BaseInfo {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(1).str(&self.branch);
        match &self.commit {
            Some(d) => e.u8(1).digest(d),
            None => e.u8(0),
        };
        e.finish()
    }

    pub fn decode(b: &[u8]) -> DecodeResult<BaseInfo> {
        let mut d = Decoder::new(b);
        if d.u8()? != 1 {
            return Err(DecodeError("unknown base encoding".into()));
        }
        let branch = d.str()?.to_string();
        let commit = match d.u8()? {
            0 => None,
            1 => Some(d.digest()?),
            x => return Err(DecodeError(format!("bad base commit tag {x}"))),
        };
        d.finish()?;
        Ok(BaseInfo { branch, commit })
    }
}

/// One journal record of a staged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    ColumnCreate {
        name: String,
        schema: ColumnSchema,
    },
    ColumnDelete {
        name: String,
    },
    Put {
        column: String,
        entries: Puts<'static>,
    },
    /// Puts (`Some`) and deletes (`None`) in one column, applied together.
    Apply {
        column: String,
        entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    },
    Delete {
        column: String,
        key: Vec<u8>,
    },
    MetaPut {
        key: String,
        value: String,
    },
    MetaDelete {
        key: String,
    },
}

/// A `Put` change written before puts were columnar (tag 3), after its tag: the column
/// and its entries. Still read, so a staging area journalled by an earlier build replays.
fn put_body_v1<'a>(d: &mut Decoder<'a>) -> DecodeResult<(&'a str, Puts<'a>)> {
    let column = d.str()?;
    let n = d.count(2)?;
    let mut entries = Puts::default();
    for _ in 0..n {
        entries.push(d.bytes()?, d.bytes()?);
    }
    Ok((column, entries))
}

/// A `Put` change after its tag (8): the column and its entries, borrowed from `d`'s bytes.
fn put_body<'a>(d: &mut Decoder<'a>) -> DecodeResult<(&'a str, Puts<'a>)> {
    let column = d.str()?;
    Ok((column, Puts::decode(d)?))
}

/// Consecutive ranges of the entries whose sizes are `costs`, each of at most `max` bytes
/// (an entry larger than `max` alone), covering them all; one range for none.
fn ranges_within(costs: impl Iterator<Item = usize>, max: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes, mut n) = (0, 0, 0);
    for (i, c) in costs.enumerate() {
        if bytes + c > max && i > start {
            ranges.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += c;
        n = i + 1;
    }
    ranges.push(start..n);
    ranges
}

impl Change {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        match self {
            Change::ColumnCreate { name, schema } => {
                e.u8(1).str(name).bytes(&schema.encode());
            }
            Change::ColumnDelete { name } => {
                e.u8(2).str(name);
            }
            Change::Put { column, entries } => {
                e.u8(8).str(column);
                entries.encode(&mut e);
            }
            Change::Delete { column, key } => {
                e.u8(4).str(column).bytes(key);
            }
            Change::MetaPut { key, value } => {
                e.u8(5).str(key).str(value);
            }
            Change::MetaDelete { key } => {
                e.u8(6).str(key);
            }
            Change::Apply { column, entries } => {
                e.u8(7).str(column).varint(entries.len() as u64);
                for (k, v) in entries {
                    e.bytes(k);
                    match v {
                        Some(v) => e.u8(1).bytes(v),
                        None => e.u8(0),
                    };
                }
            }
        }
        e.finish()
    }

    /// The change encoded as journal records of at most about `max` bytes each: itself,
    /// or (a put or apply of many entries) changes of consecutive entries that, applied
    /// in order, do what it does. They are journalled as one group, all or nothing.
    pub fn encode_parts(&self, max: usize) -> Vec<Vec<u8>> {
        let cost = |k: &[u8], v: Option<&[u8]>| k.len() + v.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
        match self {
            // The bound is O(1) for a put: the bulk path asks it of every batch.
            Change::Put { column, entries } if entries.encoded_bound() > max => {
                ranges_within(entries.iter().map(|(k, r)| cost(k, Some(r))), max)
                    .into_iter()
                    .map(|r| {
                        Change::Put {
                            column: column.clone(),
                            entries: entries.range(r),
                        }
                        .encode()
                    })
                    .collect()
            }
            Change::Apply { column, entries } => {
                let ranges = ranges_within(entries.iter().map(|(k, v)| cost(k, v.as_deref())), max);
                if ranges.len() < 2 {
                    return vec![self.encode()];
                }
                ranges
                    .into_iter()
                    .map(|r| {
                        Change::Apply {
                            column: column.clone(),
                            entries: entries[r].to_vec(),
                        }
                        .encode()
                    })
                    .collect()
            }
            _ => vec![self.encode()],
        }
    }

    /// A `Put` change's column and entries borrowed from its encoding `b` (no copy of
    /// any key or record: what replaying a journal of millions of puts needs); `None`
    /// for any other change.
    pub fn decode_put(b: &[u8]) -> DecodeResult<Option<(&str, Puts<'_>)>> {
        let mut d = Decoder::new(b);
        let put = match d.u8()? {
            3 => put_body_v1(&mut d)?,
            8 => put_body(&mut d)?,
            _ => return Ok(None),
        };
        d.finish()?;
        Ok(Some(put))
    }

    pub fn decode(b: &[u8]) -> DecodeResult<Change> {
        let mut d = Decoder::new(b);
        let tag = d.u8()?;
        let c = match tag {
            1 => {
                let name = d.str()?.to_string();
                let schema = ColumnSchema::decode(d.bytes()?)?;
                Change::ColumnCreate { name, schema }
            }
            2 => Change::ColumnDelete {
                name: d.str()?.to_string(),
            },
            3 | 8 => {
                let (column, entries) = if tag == 3 {
                    put_body_v1(&mut d)?
                } else {
                    put_body(&mut d)?
                };
                Change::Put {
                    column: column.to_string(),
                    entries: entries.into_owned(),
                }
            }
            4 => Change::Delete {
                column: d.str()?.to_string(),
                key: d.bytes()?.to_vec(),
            },
            5 => Change::MetaPut {
                key: d.str()?.to_string(),
                value: d.str()?.to_string(),
            },
            6 => Change::MetaDelete {
                key: d.str()?.to_string(),
            },
            7 => {
                let column = d.str()?.to_string();
                let n = d.count(2)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = d.bytes()?.to_vec();
                    let v = match d.u8()? {
                        0 => None,
                        1 => Some(d.bytes()?.to_vec()),
                        t => return Err(DecodeError(format!("bad entry tag {t}"))),
                    };
                    entries.push((k, v));
                }
                Change::Apply { column, entries }
            }
            t => return Err(DecodeError(format!("unknown staged change type {t}"))),
        };
        d.finish()?;
        Ok(c)
    }
}

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
    match base {
        Some(t) => tree::lookup(shared, t, key),
        None => Ok(None),
    }
}

/// Puts `value` under `key`, keeping the overlay minimal: an entry equal to the base is
/// dropped. Returns true if the key is new.
fn overlay_put(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &mut Overlay,
    key: Vec<u8>,
    value: Vec<u8>,
) -> Result<bool> {
    let base_value = match base {
        Some(t) => tree::lookup(shared, t, &key)?,
        None => None,
    };
    let same_as_base = base_value.as_deref() == Some(value.as_slice());
    Ok(match overlay.get(&key) {
        Some(staged) => {
            let existed = staged.is_some();
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

/// Deletes `key` (which must exist). Returns false if it did not exist.
fn overlay_delete(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &mut Overlay,
    key: &[u8],
) -> Result<bool> {
    let base_value = match base {
        Some(t) => tree::lookup(shared, t, key)?,
        None => None,
    };
    let existed = match overlay.get(key) {
        Some(v) => v.is_some(),
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

/// The whole staging state.
#[derive(Debug, Clone)]
pub(crate) struct Staging {
    pub base: BaseInfo,
    pub base_root: Option<Digest>,
    base_columns: BTreeMap<String, (Digest, Option<TreeRef>)>,
    pub columns: BTreeMap<String, ColumnState>,
    pub meta_base: Option<TreeRef>,
    pub meta: Overlay,
    pub meta_count: u64,
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

    fn column_mut(&mut self, name: &str) -> Result<&mut ColumnState> {
        self.columns.get_mut(name).ok_or_else(|| {
            Error::corrupt(
                "staging journal",
                format!("change to unknown column {name:?}"),
            )
        })
    }

    /// Applies a put of (key, record) entries whose preconditions were checked (a
    /// `Change::Put`, or one borrowed from a journal frame by [`Change::decode_put`]).
    pub fn apply_put(&mut self, shared: &Shared, column: &str, entries: &Puts<'_>) -> Result<()> {
        let col = self.column_mut(column)?;
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
            if entries.sorted_unique() {
                col.overlay.append_sorted_puts(entries, on_new);
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
            }
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
                self.columns.remove(&name);
            }
            Change::Put { column, entries } => {
                self.apply_put(shared, &column, &entries)?;
            }
            Change::Delete { column, key } => {
                let col = self.column_mut(&column)?;
                let sample = col.is_sample_key(&key);
                if overlay_delete(shared, col.base.as_ref(), &mut col.overlay, &key)? {
                    col.count -= 1;
                    col.samples -= u64::from(sample);
                }
            }
            Change::Apply { column, entries } => {
                let col = self.column_mut(&column)?;
                for (k, v) in entries {
                    let sample = col.is_sample_key(&k);
                    match v {
                        Some(r) => {
                            if overlay_put(shared, col.base.as_ref(), &mut col.overlay, k, r)? {
                                col.count += 1;
                                col.samples += u64::from(sample);
                            }
                        }
                        None => {
                            if overlay_delete(shared, col.base.as_ref(), &mut col.overlay, &k)? {
                                col.count -= 1;
                                col.samples -= u64::from(sample);
                            }
                        }
                    }
                }
            }
            Change::MetaPut { key, value } => {
                let base = self.meta_base.as_ref();
                if overlay_put(
                    shared,
                    base,
                    &mut self.meta,
                    key.into_bytes(),
                    value.into_bytes(),
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

    /// The digests of every value a staged record refers to: what the next commit must
    /// keep of the values staged since the last one (the rest are dropped from it).
    pub fn live_digests(&self) -> DigestSet {
        let mut live = DigestSet::default();
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

    /// True if anything differs from the base commit.
    pub fn is_dirty(&self) -> bool {
        if !self.meta.is_empty() || self.columns.len() != self.base_columns.len() {
            return true;
        }
        self.columns.iter().any(|(name, col)| {
            !col.overlay.is_empty()
                || match self.base_columns.get(name) {
                    Some((schema, tree)) => {
                        *schema != col.schema_digest
                            || tree.map(|t| t.root) != col.base.map(|t| t.root)
                    }
                    None => true,
                }
        })
    }

    /// Names of columns added, removed or changed relative to the base, with counts of
    /// staged sample changes, for status reports.
    pub fn changes(&self) -> StagedChanges {
        let mut out = StagedChanges::default();
        for (name, col) in &self.columns {
            match self.base_columns.get(name) {
                None => out.columns_added.push(name.clone()),
                Some((schema, tree))
                    if *schema != col.schema_digest
                        || tree.map(|t| t.root) != col.base.map(|t| t.root) =>
                {
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
        for (name, (schema, tree)) in &self.base_columns {
            let same = self.columns.get(name).is_some_and(|c| {
                c.schema_digest == *schema && c.base.map(|t| t.root) == tree.map(|t| t.root)
            });
            if !same {
                out.push(Change::ColumnDelete { name: name.clone() });
            }
        }
        for (name, col) in &self.columns {
            let same = self.base_columns.get(name).is_some_and(|(schema, tree)| {
                col.schema_digest == *schema && col.base.map(|t| t.root) == tree.map(|t| t.root)
            });
            if !same {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip() {
        let all = vec![
            Change::ColumnCreate {
                name: "c".into(),
                schema: ColumnSchema::str(),
            },
            Change::ColumnDelete { name: "c".into() },
            Change::Put {
                column: "c".into(),
                entries: [(vec![1, 2], vec![3; 32])].into_iter().collect(),
            },
            Change::Delete {
                column: "c".into(),
                key: vec![1],
            },
            Change::MetaPut {
                key: "k".into(),
                value: "v".into(),
            },
            Change::MetaDelete { key: "k".into() },
            Change::Apply {
                column: "c".into(),
                entries: vec![
                    (vec![1], Some(vec![])),
                    (vec![2, 3], None),
                    (vec![4], Some(vec![5; 33])),
                ],
            },
        ];
        for c in all {
            let enc = c.encode();
            assert_eq!(Change::decode(&enc).unwrap(), c);
            for cut in 0..enc.len() {
                assert!(Change::decode(&enc[..cut]).is_err());
            }
            // The borrowed decoding of a put gives the same column and entries, and
            // nothing for other changes; a cut put is an error, as with decode.
            match (&c, Change::decode_put(&enc).unwrap()) {
                (Change::Put { column, entries }, Some((col, borrowed))) => {
                    assert_eq!(col, column);
                    assert_eq!(&borrowed.into_owned(), entries);
                    for cut in 1..enc.len() {
                        assert!(Change::decode_put(&enc[..cut]).is_err());
                    }
                    let mut longer = enc.clone();
                    longer.push(0);
                    assert!(Change::decode_put(&longer).is_err());
                }
                (Change::Put { .. }, None) => panic!("a put decodes as one"),
                (_, Some(_)) => panic!("{c:?} is not a put"),
                (_, None) => {}
            }
        }
        // A change larger than a record is split into changes that do the same applied
        // in order, each within the limit.
        let big = Change::Put {
            column: "c".into(),
            entries: (0u32..1000)
                .map(|i| (i.to_be_bytes().to_vec(), vec![i as u8; 40]))
                .collect(),
        };
        let parts = big.encode_parts(4096);
        assert!(parts.len() > 10 && parts.iter().all(|p| p.len() <= 4096 + 64));
        let mut again = Puts::default();
        for p in &parts {
            let (col, puts) = Change::decode_put(p).unwrap().unwrap();
            assert_eq!(col, "c");
            puts.iter().for_each(|(k, r)| again.push(k, r));
        }
        assert_eq!(
            Change::Put {
                column: "c".into(),
                entries: again
            },
            big
        );
        assert_eq!(big.encode_parts(1 << 20), vec![big.encode()]);
        let apply = Change::Apply {
            column: "c".into(),
            entries: (0u32..1000)
                .map(|i| (i.to_be_bytes().to_vec(), (i % 3 != 0).then(|| vec![1; 30])))
                .collect(),
        };
        let parts = apply.encode_parts(2048);
        assert!(parts.len() > 10 && parts.iter().all(|p| p.len() <= 2048 + 64));
        let mut entries = Vec::new();
        for p in &parts {
            match Change::decode(p).unwrap() {
                Change::Apply { column, entries: e } if column == "c" => entries.extend(e),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            Change::Apply {
                column: "c".into(),
                entries
            },
            apply
        );
        // A put as an earlier build journalled it (tag 3, a length-prefixed key and
        // record per entry) still decodes, so its staging area replays.
        let mut e = Encoder::new();
        e.u8(3).str("c").varint(2);
        e.bytes(&[1]).bytes(&[0, 9]).bytes(&[2, 5]).bytes(&[1; 40]);
        let v1 = e.finish();
        let want: Puts<'_> = [(vec![1], vec![0, 9]), (vec![2, 5], vec![1; 40])]
            .into_iter()
            .collect();
        let (col, got) = Change::decode_put(&v1).unwrap().unwrap();
        assert_eq!((col, &got), ("c", &want));
        assert_eq!(
            Change::decode(&v1).unwrap(),
            Change::Put {
                column: "c".into(),
                entries: want
            }
        );
        let b = BaseInfo {
            branch: "master".into(),
            commit: Some(Digest([4; 32])),
        };
        assert_eq!(BaseInfo::decode(&b.encode()).unwrap(), b);
    }
}
