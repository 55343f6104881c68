//! The writer checkout: the one place changes are made. It holds the repository's writer
//! lock for its whole life and works on the durable staging area of its branch.
//!
//! Plain operations are write-through: when `set` returns, the sample survives kill -9
//! of the process. Inside a [`BulkSession`] (what the original Hangar calls the
//! context-manager form) writes are buffered and become durable when the session ends or
//! fills a buffer — much faster, with the same all-or-nothing guarantees per call.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use rayon::prelude::*;

use hangar_store::{crc32, Digest, DigestSet, PackSpool, StoreWriter, ValueInput};

use crate::checkout::reader::names_list;
use crate::checkout::{decode_key, decode_record, missing_key, read_record, ColumnInfo, Values};
use crate::commit::{self, CommitId};
use crate::error::{invalid, Error, Result};
use crate::format::{self, User};
use crate::key::SampleKey;
use crate::lock::WriterLock;
use crate::merge::{MergeConflicts, MergeOutcome, MergeStrategy};
use crate::names;
use crate::objects::{CommitObject, ObjectType, Root};
use crate::refs;
use crate::repo::Repository;
use crate::schema::{ColumnSchema, NdArraySpec, Record, INLINE_MAX};
use crate::shared::{poisoned, Shared};
use crate::stage::{overlay_keys, BaseInfo, Change, Puts, StagedChanges, Staging};
use crate::value::{fmt_shape, TensorRef, Value, ValueRef};
use hangar_store::Object;

/// The largest staged change journalled in one record; larger ones are split
/// ([`Change::encode_parts`]), within the store's `MAX_RECORD`.
const RECORD_PART_BYTES: usize = 64 << 20;
/// The journal is compacted once it grows past this size (and twice its last size).
const COMPACT_MIN_BYTES: u64 = 256 << 20;

/// Whether the staging area differs from its base commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Nothing staged.
    Clean,
    /// Changes are staged.
    Dirty(StagedChanges),
}

impl Status {
    /// True if changes are staged.
    pub fn is_dirty(&self) -> bool {
        matches!(self, Status::Dirty(_))
    }
}

/// A record-table key and its value.
type Entry = (Vec<u8>, Vec<u8>);

/// A sample set in a bulk session, validated but not yet hashed or stored. Everything
/// lives in flat arenas of [`Deferred`], so queueing a sample allocates nothing.
struct DeferredPut {
    column: u32,
    kind: DeferredKind,
    key: std::ops::Range<usize>,
    dims: std::ops::Range<usize>,
    bytes: std::ops::Range<usize>,
}

#[derive(Clone, Copy)]
enum DeferredKind {
    Tensor(hangar_store::DType),
    Str,
    Bytes,
}

/// In a bulk session, `set` only validates and copies; the queue is hashed in parallel
/// and stored when it fills, and before any other operation (so reads see every write).
#[derive(Default)]
struct Deferred {
    items: Vec<DeferredPut>,
    columns: Vec<String>,
    keys: Vec<u8>,
    dims: Vec<usize>,
    bytes: Vec<u8>,
}

impl Deferred {
    fn clear(&mut self) {
        self.items.clear();
        self.columns.clear();
        self.keys.clear();
        self.dims.clear();
        self.bytes.clear();
    }
}

const DEFERRED_ITEMS: usize = 8192;
const DEFERRED_BYTES: usize = 16 << 20;

pub(crate) struct WriterState {
    deferred: Deferred,
    shared: Arc<Shared>,
    lock: Option<WriterLock>,
    sw: Option<StoreWriter>,
    staging: Staging,
    user: User,
    closed: Option<String>,
    key_seed: u64,
    key_counter: u64,
    compact_at: u64,
    /// Savepoints in force: the journal is not compacted under them.
    savepoints: u32,
}

impl fmt::Debug for WriterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterState")
            .field("branch", &self.staging.base.branch)
            .field("closed", &self.closed)
            .finish()
    }
}

/// Samples to put, accessed by index so that a batch of N samples never needs a vector
/// of N values (a `ValueRef` is a few hundred bytes: it carries its dimensions inline).
trait PutBatch: Sync {
    fn len(&self) -> usize;
    /// The encoded key of sample `i`.
    fn key(&self, i: usize) -> &[u8];
    fn value(&self, i: usize) -> ValueRef<'_>;
    /// True if every value has the same dtype and shape (one check covers all).
    fn uniform(&self) -> bool {
        false
    }
    /// The bytes of value `i` (without building the value, for a batch that can).
    fn bytes(&self, i: usize) -> &[u8] {
        bytes_of(&self.value(i))
    }
    /// The bytes of values `range`, if they lie end to end in one buffer.
    fn contiguous(&self, range: std::ops::Range<usize>) -> Option<&[u8]> {
        let _ = range;
        None
    }
}

/// Explicit (key, value) pairs.
struct Pairs<'a> {
    keys: Vec<Vec<u8>>,
    values: Vec<ValueRef<'a>>,
}

impl PutBatch for Pairs<'_> {
    fn len(&self) -> usize {
        self.keys.len()
    }
    fn key(&self, i: usize) -> &[u8] {
        &self.keys[i]
    }
    fn value(&self, i: usize) -> ValueRef<'_> {
        self.values[i]
    }
}

/// N samples of one shape, back to back in one buffer.
struct Contiguous<'a> {
    keys: FlatKeys,
    dtype: hangar_store::DType,
    sample_shape: &'a [usize],
    sample_bytes: usize,
    bytes: &'a [u8],
}

/// Encoded keys end to end (one buffer, not an allocation per key).
#[derive(Default)]
struct FlatKeys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl FlatKeys {
    /// Validates and appends `key`.
    fn push(&mut self, key: &SampleKey) -> Result<()> {
        key.validate()?;
        key.encode_into(&mut self.bytes);
        self.ends.push(self.bytes.len());
        Ok(())
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

impl PutBatch for Contiguous<'_> {
    fn len(&self) -> usize {
        self.keys.len()
    }
    fn key(&self, i: usize) -> &[u8] {
        self.keys.get(i)
    }
    fn value(&self, i: usize) -> ValueRef<'_> {
        let b = &self.bytes[i * self.sample_bytes..(i + 1) * self.sample_bytes];
        ValueRef::Tensor(TensorRef::from_bytes(self.dtype, self.sample_shape, b))
    }
    fn uniform(&self) -> bool {
        true
    }
    fn bytes(&self, i: usize) -> &[u8] {
        &self.bytes[i * self.sample_bytes..(i + 1) * self.sample_bytes]
    }
    fn contiguous(&self, range: std::ops::Range<usize>) -> Option<&[u8]> {
        self.bytes
            .get(range.start * self.sample_bytes..range.end * self.sample_bytes)
    }
}

/// Queued bulk-session puts of one column.
struct Queued<'a> {
    q: &'a Deferred,
    idx: Vec<usize>,
}

impl PutBatch for Queued<'_> {
    fn len(&self) -> usize {
        self.idx.len()
    }
    fn key(&self, i: usize) -> &[u8] {
        &self.q.keys[self.q.items[self.idx[i]].key.clone()]
    }
    fn value(&self, i: usize) -> ValueRef<'_> {
        let d = &self.q.items[self.idx[i]];
        let bytes = &self.q.bytes[d.bytes.clone()];
        match d.kind {
            DeferredKind::Tensor(dtype) => ValueRef::Tensor(TensorRef::from_bytes(
                dtype,
                &self.q.dims[d.dims.clone()],
                bytes,
            )),
            DeferredKind::Str => {
                ValueRef::Str(std::str::from_utf8(bytes).expect("checked when queued"))
            }
            DeferredKind::Bytes => ValueRef::Bytes(bytes),
        }
    }
}

fn bytes_of<'a>(v: &ValueRef<'a>) -> &'a [u8] {
    match *v {
        ValueRef::Tensor(t) => t.bytes(),
        ValueRef::Str(s) => s.as_bytes(),
        ValueRef::Bytes(b) => b,
    }
}

impl WriterState {
    fn check_open(&self) -> Result<()> {
        match &self.closed {
            Some(why) => Err(Error::Closed(why.clone())),
            None => Ok(()),
        }
    }

    fn sw(&mut self) -> &mut StoreWriter {
        self.sw.as_mut().expect("an open writer has a store writer")
    }

    /// Applies a change whose preconditions hold, then journals it. A failure to
    /// journal leaves memory ahead of disk, so the checkout is closed: reopening replays
    /// exactly what was acknowledged.
    fn stage(&mut self, change: Change) -> Result<()> {
        // A change too large for one journal frame (a put of tens of millions of
        // samples) is journalled as parts that stand or fall together.
        let encoded = change.encode_parts(RECORD_PART_BYTES);
        self.staging.apply(&self.shared, change)?;
        let result = (|| {
            let sw = self.sw();
            sw.record_group(&encoded)?;
            sw.sync_point()
        })();
        if let Err(e) = result {
            self.poison(&e);
            return Err(e.into());
        }
        self.maybe_compact()
    }

    /// Closes the checkout after a failed journal write (memory is ahead of disk). Under a
    /// savepoint the store writer and the lock are kept: the savepoint's owner rolls the
    /// staging area back to it and reopens (see [`WriterCheckout::all_or_nothing`]).
    fn poison(&mut self, e: &dyn std::error::Error) {
        self.closed = Some(format!(
            "this writer checkout stopped after failing to write its staging journal ({e}); open a new writer \
             checkout: every change acknowledged before the failure is kept"
        ));
        if self.savepoints == 0 {
            self.sw = None;
            self.lock = None;
        }
    }

    /// Publishes a commit — the one function through which commits, merge commits and
    /// fast-forwards move a branch (docs/format.md, "The commit protocol"):
    /// [`StoreWriter::prepare_commit`] writes the new values and `objects` and the next
    /// journal (steps 1–4); the branch ref moves from the staging area's base to `to` by
    /// compare-and-swap, logging `reflog` (step 5, the commit point); then
    /// [`StoreWriter::finish_commit`] installs the next journal (step 6) and staging
    /// restarts on `to`. A failure before the commit point changes nothing visible and
    /// the checkout stays usable; one at or after it (the ref may have moved) closes the
    /// checkout, whose next writer open finishes or discards the commit.
    fn publish(
        &mut self,
        objects: PackSpool,
        live: &DigestSet,
        to: Digest,
        reflog: &str,
    ) -> Result<()> {
        let branch = self.staging.base.branch.clone();
        let expected = self.staging.base.commit;
        let new_base = BaseInfo {
            branch: branch.clone(),
            commit: Some(to),
        };
        let prepared = self
            .sw()
            .prepare_commit(objects, live, &new_base.encode())?;
        let hangar = self.shared.hangar.clone();
        if let Err(e) = refs::update_ref(&hangar, &branch, expected, to, reflog) {
            if refs::read_ref(&hangar, &branch).ok().flatten() == Some(to) {
                self.poison(&e);
            }
            return Err(e);
        }
        if let Err(e) = self.sw().finish_commit(prepared) {
            self.poison(&e);
            return Err(e.into());
        }
        self.staging = Staging::load(&self.shared, new_base)?;
        Ok(())
    }

    fn maybe_compact(&mut self) -> Result<()> {
        let sw = self.sw.as_ref().expect("open");
        if sw.is_buffered() || self.savepoints > 0 || sw.journal_len() < self.compact_at {
            return Ok(());
        }
        let records: Vec<Vec<u8>> = self
            .staging
            .snapshot()
            .iter()
            .flat_map(|c| c.encode_parts(RECORD_PART_BYTES))
            .collect();
        let sw = self.sw();
        sw.compact(&records)?;
        let len = sw.journal_len();
        self.compact_at = self.compact_at.max(2 * len);
        Ok(())
    }

    /// Returns the staging area to `sp` (see [`WriterCheckout::all_or_nothing`]).
    fn rollback(&mut self, sp: &hangar_store::Savepoint) -> Result<()> {
        self.deferred.clear();
        let sw = self.sw.take().expect("an open writer has a store writer");
        sw.rollback(sp)?;
        let (sw, staging) = load_staging(&self.shared, false)?;
        self.sw = Some(sw);
        self.staging = staging;
        Ok(())
    }

    fn column(&self, name: &str) -> Result<&crate::stage::StagedColumn> {
        self.staging.columns.get(name).ok_or_else(|| {
            Error::NotFound(format!(
                "the staging area has no column {name:?}; its columns are: {}",
                names_list(self.staging.columns.keys())
            ))
        })
    }

    fn info(&self, name: &str) -> Result<ColumnInfo> {
        let c = self.column(name)?;
        Ok(ColumnInfo {
            name: name.to_string(),
            schema: c.schema.clone(),
            schema_hash: c.schema_digest.short(),
            num_samples: c.samples,
            num_subsamples: c.nested().then(|| c.count - c.samples),
            writable: true,
        })
    }

    /// The column, which must have the given layout.
    fn column_as(&self, name: &str, nested: bool) -> Result<&crate::stage::StagedColumn> {
        let c = self.column(name)?;
        if c.nested() != nested {
            return Err(crate::checkout::wrong_layout(name, c.nested()));
        }
        Ok(c)
    }

    /// True if the record-table key exists (a flat sample, a nested marker or subsample).
    fn has_raw(&self, column: &str, raw: &[u8]) -> Result<bool> {
        let col = self.column(column)?;
        Ok(self.staging.record(&self.shared, col, raw)?.is_some())
    }

    fn record_raw(&self, column: &str, raw: &[u8]) -> Result<Option<Record>> {
        let col = self.column(column)?;
        match self.staging.record(&self.shared, col, raw)? {
            Some(raw) => decode_record(&self.shared, column, &col.schema, &raw).map(Some),
            None => Ok(None),
        }
    }

    fn record_of(&self, column: &str, key: &SampleKey) -> Result<Option<Record>> {
        self.record_raw(column, &key.encode())
    }

    /// A nested sample's records (marker and subsamples), or `None` if it does not exist.
    fn sample_entries(&self, column: &str, key: &SampleKey) -> Result<Option<Vec<Entry>>> {
        let col = self.column_as(column, true)?;
        let prefix = key.nested_prefix();
        if self.staging.record(&self.shared, col, &prefix)?.is_none() {
            return Ok(None);
        }
        crate::stage::overlay_scan(&self.shared, col.base.as_ref(), &col.overlay, &prefix).map(Some)
    }

    /// Stages subsamples of one or more nested samples as one change, all or nothing
    /// (everything is validated first): item `(i, sub, value)` sets subsample `sub` of
    /// `samples[i]`. A sample that does not exist yet is created (also one given no
    /// items). With `replace`, each sample keeps exactly the subsamples given for it.
    fn put_nested(
        &mut self,
        column: &str,
        samples: &[SampleKey],
        items: &[(usize, SampleKey, ValueRef<'_>)],
        replace: bool,
    ) -> Result<()> {
        let mut existing = Vec::with_capacity(samples.len());
        {
            let col = self.column_as(column, true)?;
            for key in samples {
                key.validate()?;
            }
            for (i, sub, v) in items {
                if *i >= samples.len() {
                    return Err(invalid("a subsample names a sample that was not given"));
                }
                sub.validate_as("subsample key")?;
                col.schema.check_value(column, v)?;
            }
        }
        for key in samples {
            existing.push(self.sample_entries(column, key)?);
        }
        let keys: Vec<Vec<u8>> = items
            .iter()
            .map(|(i, sub, _)| samples[*i].nested_key(sub))
            .collect();
        let mut entries: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let keep: std::collections::HashSet<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let mut created = std::collections::HashSet::new();
        for (key, old) in samples.iter().zip(&existing) {
            match old {
                None => {
                    let prefix = key.nested_prefix();
                    if created.insert(prefix.clone()) {
                        entries.push((prefix, Some(Vec::new())));
                    }
                }
                Some(old) if replace => {
                    let prefix_len = key.nested_prefix().len();
                    entries.extend(
                        old.iter()
                            .filter(|(k, _)| k.len() > prefix_len && !keep.contains(k.as_slice()))
                            .map(|(k, _)| (k.clone(), None)),
                    );
                }
                Some(_) => {}
            }
        }
        let values: Vec<ValueRef<'_>> = items.iter().map(|(_, _, v)| *v).collect();
        let stored = self.store_values(column, &Pairs { keys, values })?;
        entries.extend(stored.iter().map(|(k, r)| (k.to_vec(), Some(r.to_vec()))));
        self.stage(Change::Apply {
            column: column.to_string(),
            entries,
        })
    }

    /// Deletes a nested sample and all its subsamples.
    fn delete_sample(&mut self, column: &str, key: &SampleKey) -> Result<()> {
        let existing = self
            .sample_entries(column, key)?
            .ok_or_else(|| missing_key(column, key))?;
        let entries = existing.into_iter().map(|(k, _)| (k, None)).collect();
        self.stage(Change::Apply {
            column: column.to_string(),
            entries,
        })
    }

    fn read(&self, column: &str, key: &SampleKey, copy: bool) -> Result<Option<Value>> {
        self.read_raw(column, &key.encode(), key, copy)
    }

    fn read_raw(
        &self,
        column: &str,
        raw: &[u8],
        key: &dyn fmt::Display,
        copy: bool,
    ) -> Result<Option<Value>> {
        let Some(rec) = self.record_raw(column, raw)? else {
            return Ok(None);
        };
        let schema = &self.column(column)?.schema;
        let sw = self.sw.as_ref().expect("open");
        read_record(
            &self.shared,
            column,
            key,
            schema,
            &rec,
            Values::Staging(sw),
            copy,
        )
        .map(Some)
    }

    /// Stores the values of a checked batch and returns its (key, record) entries.
    /// Digests are computed in parallel when there are several.
    fn store_values(&mut self, column: &str, batch: &dyn PutBatch) -> Result<Puts<'static>> {
        // Disjoint borrows: the column's schema from the staging area, the store writer.
        let col = self.staging.columns.get(column).expect("checked by caller");
        let sw = self.sw.as_mut().expect("an open writer has a store writer");
        let (schema, format) = (&col.schema, &col.format);
        let variable = schema.variable_shape() && schema.dtype().is_some();
        let fixed_shape: Vec<u64> = schema.shape().iter().map(|&d| d as u64).collect();
        let shape_of = |v: &ValueRef<'_>| -> Vec<u64> {
            match v {
                ValueRef::Tensor(t) if variable => t.shape().iter().map(|&d| d as u64).collect(),
                _ => Vec::new(),
            }
        };
        // Small values stay in their records (format version 2): only the others are
        // hashed and stored. Each stored value's digest and CRC are computed together,
        // in parallel, while its bytes are in cache once.
        let hash = |i: usize| {
            let bytes = batch.bytes(i);
            if bytes.len() <= INLINE_MAX {
                return None;
            }
            let v = batch.value(i);
            let shape = shape_of(&v);
            let shape = if variable {
                shape.as_slice()
            } else {
                fixed_shape.as_slice()
            };
            Some((schema.value_header(&v, shape).digest(bytes), crc32(bytes)))
        };
        let n = batch.len();
        let sums_of = |range: std::ops::Range<usize>| -> Vec<Option<(Digest, u32)>> {
            if range.len() >= 64 {
                range.into_par_iter().map(hash).collect()
            } else {
                range.map(hash).collect()
            }
        };
        // Room for keys like the first and records of the first value's size (exact for
        // integer keys and fixed-shape values: a bulk batch).
        let (key_room, record_room) = match n {
            0 => (0, 0),
            _ => (
                batch.key(0).len() * n,
                (bytes_of(&batch.value(0)).len().min(INLINE_MAX) + 2) * n,
            ),
        };
        let mut records = Puts::with_room(key_room, record_room);
        if n > 0 && batch.bytes(0).len() > INLINE_MAX {
            sw.reserve_values(n);
        } else if n > 0 && batch.uniform() && !variable {
            // Every value is of one fixed size of at most INLINE_MAX bytes: all inline,
            // nothing to hash or store (an import of many small samples).
            for i in 0..n {
                records.push_with(batch.key(i), |out| {
                    Record::encode_inline_into(out, batch.bytes(i), None)
                });
            }
            return Ok(records);
        }
        let mut store = |start: usize, sums: Vec<Option<(Digest, u32)>>| -> Result<()> {
            // Fixed-shape values end to end in the caller's buffer, all stored (none
            // inline): written to their segment from that buffer, with no copy, unless
            // one of them is already staged or stored.
            if !variable {
                let all: Option<Vec<(Digest, u32)>> = sums.iter().copied().collect();
                if let (Some(all), Some(bytes)) = (all, batch.contiguous(start..start + sums.len()))
                {
                    if sw.put_contiguous_values(format, bytes, &all)? {
                        for (i, (digest, _)) in (start..).zip(&all) {
                            records.push_with(batch.key(i), |out| {
                                Record::encode_stored_into(out, digest, None)
                            });
                        }
                        return Ok(());
                    }
                }
            }
            for (i, sum) in (start..).zip(sums) {
                if sum.is_none() && !variable {
                    records.push_with(batch.key(i), |out| {
                        Record::encode_inline_into(out, batch.bytes(i), None)
                    });
                    continue;
                }
                let v = batch.value(i);
                let var_shape = shape_of(&v);
                let var = variable.then_some(var_shape.as_slice());
                match sum {
                    None => records.push_with(batch.key(i), |out| {
                        Record::encode_inline_into(out, bytes_of(&v), var)
                    }),
                    Some((digest, crc)) => {
                        let shape = if variable { &var_shape } else { &fixed_shape };
                        sw.put_hashed_value(
                            ValueInput {
                                format,
                                header: schema.value_header(&v, shape),
                                shape,
                                bytes: bytes_of(&v),
                            },
                            digest,
                            crc,
                        )?;
                        records.push_with(batch.key(i), |out| {
                            Record::encode_stored_into(out, &digest, var)
                        });
                    }
                }
            }
            Ok(())
        };
        // A pipeline: while one chunk's values are stored (one thread: the store writer
        // appends in order), the next chunk is hashed on the other cores.
        // (A batch of one chunk, a single put above all, never enters the thread pool:
        // a join from outside it costs more than storing a small batch.)
        const CHUNK: usize = 4096;
        if n <= CHUNK {
            store(0, sums_of(0..n))?;
            return Ok(records);
        }
        let mut start = 0;
        let mut sums = sums_of(0..CHUNK);
        while start < n {
            let next = (start + CHUNK).min(n);
            let (stored, next_sums) = rayon::join(
                || store(start, sums),
                || sums_of(next..(next + CHUNK).min(n)),
            );
            stored?;
            (start, sums) = (next, next_sums);
        }
        Ok(records)
    }

    /// Validates a batch, stores its values and stages the records: all or nothing.
    fn put_batch(&mut self, column: &str, batch: &dyn PutBatch) -> Result<()> {
        {
            let schema = &self.column(column)?.schema;
            let checks = if batch.uniform() {
                batch.len().min(1)
            } else {
                batch.len()
            };
            for i in 0..checks {
                schema.check_value(column, &batch.value(i))?;
            }
        }
        // A batch of many values takes the bulk path even outside a bulk session: its
        // values go to a segment batch once, and that batch's frames and the change
        // reach the journal in one write when the batch ends — rather than each value's
        // bytes being journalled first and written to a segment again later. Durability
        // on return is the same as write-through (nothing is fsynced before a commit).
        let bulk = batch.len() > 1 && !self.sw().is_buffered();
        if bulk {
            self.sw().set_buffered(true)?;
        }
        let staged = self.store_values(column, batch).and_then(|entries| {
            self.stage(Change::Put {
                column: column.to_string(),
                entries,
            })
        });
        if !bulk || self.closed.is_some() {
            // Not switched, or closed by a failed journal write (a rollback or a new
            // writer starts from the journal, never from this buffer).
            return staged;
        }
        let flushed = self.end_buffered();
        staged?;
        flushed
    }

    /// Stores everything a bulk session buffered and returns to write-through. Memory
    /// is ahead of the journal until this succeeds, so a failure closes the checkout.
    fn end_buffered(&mut self) -> Result<()> {
        if let Err(e) = self.sw().set_buffered(false) {
            self.poison(&e);
            return Err(e.into());
        }
        Ok(())
    }

    fn put_checked(&mut self, column: &str, items: &[(SampleKey, ValueRef<'_>)]) -> Result<()> {
        let mut keys = Vec::with_capacity(items.len());
        for (k, _) in items {
            k.validate()?;
            keys.push(k.encode());
        }
        self.put_batch(
            column,
            &Pairs {
                keys,
                values: items.iter().map(|(_, v)| *v).collect(),
            },
        )
    }

    /// Queues a checked put of a bulk session (see [`Deferred`]).
    fn defer(&mut self, column: &str, key: &SampleKey, value: ValueRef<'_>) -> Result<()> {
        let len = match value {
            ValueRef::Tensor(t) => t.bytes().len(),
            ValueRef::Str(v) => v.len(),
            ValueRef::Bytes(b) => b.len(),
        };
        if len >= DEFERRED_BYTES / 4 {
            // A large value is stored at once, not copied into the queue first: a huge
            // sample then costs one copy (into its segment batch), not two. The queue is
            // drained before it, so puts keep their order.
            self.drain()?;
            return self.put_checked(column, &[(key.clone(), value)]);
        }
        key.validate()?;
        self.column(column)?.schema.check_value(column, &value)?;
        let q = &mut self.deferred;
        let column_id = match q.columns.last() {
            Some(c) if c == column => q.columns.len() - 1,
            _ => {
                q.columns.push(column.to_string());
                q.columns.len() - 1
            }
        };
        let key_start = q.keys.len();
        key.encode_into(&mut q.keys);
        let dims_start = q.dims.len();
        let bytes_start = q.bytes.len();
        let kind = match value {
            ValueRef::Tensor(t) => {
                q.dims.extend_from_slice(t.shape());
                q.bytes.extend_from_slice(t.bytes());
                DeferredKind::Tensor(t.dtype())
            }
            ValueRef::Str(v) => {
                q.bytes.extend_from_slice(v.as_bytes());
                DeferredKind::Str
            }
            ValueRef::Bytes(b) => {
                q.bytes.extend_from_slice(b);
                DeferredKind::Bytes
            }
        };
        q.items.push(DeferredPut {
            column: column_id as u32,
            kind,
            key: key_start..q.keys.len(),
            dims: dims_start..q.dims.len(),
            bytes: bytes_start..q.bytes.len(),
        });
        if q.items.len() >= DEFERRED_ITEMS || q.bytes.len() >= DEFERRED_BYTES {
            self.drain()?;
        }
        Ok(())
    }

    /// Stores every queued put, column by column (puts to different columns commute; within
    /// a column the order is kept), hashing each column's values in parallel.
    fn drain(&mut self) -> Result<()> {
        if self.deferred.items.is_empty() {
            return Ok(());
        }
        let mut q = std::mem::take(&mut self.deferred);
        let result = (|| {
            let mut by_column: Vec<Vec<usize>> = vec![Vec::new(); q.columns.len()];
            for (i, d) in q.items.iter().enumerate() {
                by_column[d.column as usize].push(i);
            }
            // Interleaved columns were interned once per switch: merge equal names.
            let mut order: Vec<(String, Vec<usize>)> = Vec::new();
            for (id, idx) in by_column.into_iter().enumerate() {
                let name = &q.columns[id];
                match order.iter_mut().find(|(n, _)| n == name) {
                    Some((_, all)) => all.extend(idx),
                    None => order.push((name.clone(), idx)),
                }
            }
            for (column, mut idx) in order {
                idx.sort_unstable();
                let entries = self.store_values(&column, &Queued { q: &q, idx })?;
                self.stage(Change::Put { column, entries })?;
            }
            Ok(())
        })();
        q.clear();
        self.deferred = q;
        result
    }

    fn new_key(&mut self) -> SampleKey {
        let now = crate::timefmt::now_ns();
        let secs = now / 1_000_000_000 % 1_000_000;
        let nanos = now % 1_000_000_000;
        self.key_counter += 1;
        SampleKey::Str(format!(
            "{:09}{:06}{:09}{:04}",
            self.key_seed % 1_000_000_000,
            secs,
            nanos,
            self.key_counter % 10_000
        ))
    }
}

impl Drop for WriterState {
    fn drop(&mut self) {
        if self.closed.is_none() {
            let _ = self.drain();
            if let Some(sw) = self.sw.as_mut() {
                let _ = sw.flush();
            }
        }
    }
}

/// Opens the store's writer side over the staging journal and rebuilds the staging area
/// from it (the base commit's tables plus every journalled change). The caller holds the
/// writer lock — unless `read_only`, which opens a view that changes nothing on disk
/// ([`StoreWriter::open_read_only`]).
fn load_staging(shared: &Arc<Shared>, read_only: bool) -> Result<(StoreWriter, Staging)> {
    let hangar = shared.hangar.clone();
    let committed = |b: &[u8]| -> hangar_store::Result<bool> {
        let Ok(base) = BaseInfo::decode(b) else {
            return Ok(false);
        };
        let head = refs::read_ref(&hangar, &base.branch).map_err(|e| match e {
            Error::Store(s) => s,
            other => hangar_store::Error::InvalidArgument(other.to_string()),
        })?;
        Ok(base.commit.is_some() && head == base.commit)
    };
    let default_head = refs::read_ref(&shared.hangar, refs::DEFAULT_BRANCH)?;
    let initial = BaseInfo {
        branch: refs::DEFAULT_BRANCH.to_string(),
        commit: default_head,
    };
    let journal = shared.hangar.join("staging/journal");
    let decode_base = |b: &[u8]| {
        BaseInfo::decode(b).map_err(|e| Error::corrupt(&journal, format!("bad base record: {e}")))
    };
    // Records are applied as the journal is read (never all held at once); an error of
    // this layer stops the replay and is returned as it is.
    let mut staging: Option<Staging> = None;
    let mut failed: Option<Error> = None;
    let mut apply = |base: &[u8], raw: &[u8]| -> Result<()> {
        let st = match &mut staging {
            Some(st) => st,
            None => staging.insert(Staging::load(shared, decode_base(base)?)?),
        };
        let bad = |e: hangar_store::codec::DecodeError| {
            Error::corrupt(&journal, format!("bad staged change: {e}"))
        };
        // Puts (nearly all of a large staging area) are applied from the frame's bytes.
        if let Some((column, entries)) = Change::decode_put(raw).map_err(bad)? {
            return st.apply_put(shared, column, &entries);
        }
        st.apply(shared, Change::decode(raw).map_err(bad)?)
    };
    let mut on_record = |base: &[u8], raw: &[u8]| {
        apply(base, raw).map_err(|e| {
            failed = Some(e);
            hangar_store::Error::InvalidArgument("staged change refused".into())
        })
    };
    let store = shared.store.clone();
    let opened = if read_only {
        StoreWriter::open_read_only(store, committed, || initial.encode(), &mut on_record)
    } else {
        StoreWriter::open_with(store, committed, || initial.encode(), &mut on_record)
    };
    let (sw, recovered) = match (opened, failed) {
        (Err(_), Some(e)) => return Err(e),
        (r, _) => r?,
    };
    let staging = match staging {
        Some(st) => st,
        None => Staging::load(shared, decode_base(&recovered.base)?)?,
    };
    Ok((sw, staging))
}

/// The staging area as a writer finds it, with the user committing: loaded from the
/// journal ([`load_staging`]) and, when it is clean but its branch has moved on, moved
/// to the branch's head — through the journal for a writer, in memory only for a
/// read-only view (which then shows what the next writer will find).
fn load_current(shared: &Arc<Shared>, read_only: bool) -> Result<(User, StoreWriter, Staging)> {
    let user = format::read_config(&shared.hangar)?;
    shared.store.refresh()?;
    let (mut sw, mut staging) = load_staging(shared, read_only)?;
    let head = refs::read_ref(&shared.hangar, &staging.base.branch)?;
    if head != staging.base.commit && !staging.is_dirty() {
        let rebased = BaseInfo {
            branch: staging.base.branch.clone(),
            commit: head,
        };
        if !sw.is_read_only() {
            sw.reset(&rebased.encode())?;
        }
        staging = Staging::load(shared, rebased)?;
    }
    Ok((user, sw, staging))
}

/// The write-enabled checkout. Holds the writer lock until closed or dropped.
///
/// Columns and metadata handles obtained from it share its state; after `close` every
/// one of them returns a `Closed` error.
#[derive(Debug)]
pub struct WriterCheckout {
    st: Arc<Mutex<WriterState>>,
}

/// Locks the state of an open writer, first storing any queued bulk-session puts.
fn lock_state(st: &Mutex<WriterState>) -> Result<MutexGuard<'_, WriterState>> {
    let mut g = lock_state_raw(st)?;
    g.drain()?;
    Ok(g)
}

/// Locks the state of an open writer without draining the bulk-session queue.
fn lock_state_raw(st: &Mutex<WriterState>) -> Result<MutexGuard<'_, WriterState>> {
    let g = st.lock().map_err(|_| poisoned())?;
    g.check_open()?;
    Ok(g)
}

impl WriterCheckout {
    /// Opens the writer on the staging area; with `branch`, first switches the staging
    /// area to that branch (refused with `DirtyStaging` if it has changes for another
    /// branch). On any error the lock is released.
    pub(crate) fn open(shared: Arc<Shared>, branch: Option<&str>) -> Result<WriterCheckout> {
        let lock = WriterLock::acquire(&shared.hangar)?;
        // Temporary ref files left by an interrupted ref update (only a writer makes them).
        hangar_store::fsutil::remove_temp_files(&shared.hangar.join("refs").join("heads"))?;
        let (user, mut sw, mut staging) = load_current(&shared, false)?;
        if let Some(wanted) = branch {
            if wanted != staging.base.branch {
                if !refs::branch_exists(&shared.hangar, wanted)? {
                    return Err(Error::NotFound(format!(
                        "no branch named {wanted:?}; create it first"
                    )));
                }
                if staging.is_dirty() {
                    return Err(Error::DirtyStaging(format!(
                        "Unable to check out branch {wanted:?}: the staging area has uncommitted changes on branch {:?}; \
                         commit or reset them first",
                        staging.base.branch
                    )));
                }
                let switched = BaseInfo {
                    branch: wanted.to_string(),
                    commit: refs::read_ref(&shared.hangar, wanted)?,
                };
                sw.reset(&switched.encode())?;
                staging = Staging::load(&shared, switched)?;
            }
        }
        Ok(WriterCheckout::with_state(
            shared,
            Some(lock),
            sw,
            staging,
            user,
        ))
    }

    /// A view of the durable staging area without the writer lock, for
    /// [`crate::StagedView`]: nothing on disk is changed, and every change through it is
    /// refused by its store writer. A clean staging area whose branch moved on is seen
    /// on the branch's head, as a writer would rebase it.
    pub(crate) fn open_read_only(shared: Arc<Shared>) -> Result<WriterCheckout> {
        let (user, sw, staging) = load_current(&shared, true)?;
        Ok(WriterCheckout::with_state(shared, None, sw, staging, user))
    }

    /// A checkout over a loaded staging area (`lock` is `None` for a read-only view).
    fn with_state(
        shared: Arc<Shared>,
        lock: Option<WriterLock>,
        sw: StoreWriter,
        staging: Staging,
        user: User,
    ) -> WriterCheckout {
        let key_seed = RandomState::new().build_hasher().finish();
        let compact_at = COMPACT_MIN_BYTES.max(2 * sw.journal_len());
        WriterCheckout {
            st: Arc::new(Mutex::new(WriterState {
                deferred: Deferred::default(),
                shared,
                lock,
                sw: Some(sw),
                staging,
                user,
                closed: None,
                key_seed,
                key_counter: 0,
                compact_at,
                savepoints: 0,
            })),
        }
    }

    fn state(&self) -> Result<MutexGuard<'_, WriterState>> {
        lock_state(&self.st)
    }

    /// The branch the staging area is based on.
    pub fn branch_name(&self) -> Result<String> {
        Ok(self.state()?.staging.base.branch.clone())
    }

    /// The commit the staging area is based on (`None` before the first commit).
    pub fn commit_hash(&self) -> Result<Option<CommitId>> {
        Ok(self.state()?.staging.base.commit.map(CommitId))
    }

    /// Every staged column with its schema and sample count.
    pub fn columns(&self) -> Result<Vec<ColumnInfo>> {
        let st = self.state()?;
        st.staging.columns.keys().map(|n| st.info(n)).collect()
    }

    /// The names of the staged columns.
    pub fn column_names(&self) -> Result<Vec<String>> {
        Ok(self.state()?.staging.columns.keys().cloned().collect())
    }

    /// True if the column exists in the staging area.
    pub fn has_column(&self, name: &str) -> Result<bool> {
        Ok(self.state()?.staging.columns.contains_key(name))
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Result<WriterColumn> {
        self.state()?.column(name)?;
        Ok(WriterColumn {
            st: self.st.clone(),
            name: name.to_string(),
        })
    }

    fn add_column(&self, name: &str, schema: ColumnSchema) -> Result<WriterColumn> {
        names::check_name("column name", name)?;
        let mut st = self.state()?;
        if st.staging.columns.contains_key(name) {
            return Err(Error::AlreadyExists(format!(
                "a column named {name:?} already exists; pick another name or delete it first"
            )));
        }
        st.stage(Change::ColumnCreate {
            name: name.to_string(),
            schema,
        })?;
        Ok(WriterColumn {
            st: self.st.clone(),
            name: name.to_string(),
        })
    }

    /// Creates an ndarray column from a prototype or a shape and dtype.
    ///
    /// `InvalidArgument` if the spec gives neither or both, a dimension is 0, the rank
    /// exceeds 31, or the name breaks the rules; `AlreadyExists` for a duplicate name.
    pub fn add_ndarray_column(&self, name: &str, spec: NdArraySpec) -> Result<WriterColumn> {
        let schema = spec.into_schema()?;
        self.add_column(name, schema)
    }

    /// Creates a str column.
    pub fn add_str_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::str())
    }

    /// Creates a bytes column.
    pub fn add_bytes_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::bytes())
    }

    /// Creates a nested str column: sample key → { subsample key → text }.
    pub fn add_nested_str_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::str().nested())
    }

    /// Creates a nested bytes column: sample key → { subsample key → bytes }.
    pub fn add_nested_bytes_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::bytes().nested())
    }

    /// Deletes a column and all its samples from the staging area. Data already
    /// committed stays in history.
    pub fn delete_column(&self, name: &str) -> Result<()> {
        let mut st = self.state()?;
        st.column(name)?;
        st.stage(Change::ColumnDelete {
            name: name.to_string(),
        })
    }

    /// The staged metadata.
    pub fn metadata(&self) -> WriterMetadata {
        WriterMetadata {
            st: self.st.clone(),
        }
    }

    /// Starts a bulk session: writes are buffered (and hashed in parallel where
    /// possible) until the session ends. See the module docs.
    pub fn bulk(&self) -> Result<BulkSession<'_>> {
        self.begin_bulk()?;
        Ok(BulkSession {
            co: self,
            done: false,
        })
    }

    /// Starts a bulk session without a guard (for bindings, whose sessions cannot borrow
    /// the checkout): end it with [`WriterCheckout::end_bulk`]. Puts made in the session
    /// are buffered and stored when it ends (or at a commit); until then a crash loses
    /// them. `InvalidArgument` if a session is already open.
    pub fn begin_bulk(&self) -> Result<()> {
        let mut st = self.state()?;
        if st.sw().is_buffered() {
            return Err(invalid(
                "a bulk session is already open on this writer checkout; end it first",
            ));
        }
        Ok(st.sw().set_buffered(true)?)
    }

    /// Ends the bulk session [`WriterCheckout::begin_bulk`] started: every buffered put
    /// is stored, durably against a crash, before this returns. `InvalidArgument` if no
    /// session is open.
    pub fn end_bulk(&self) -> Result<()> {
        let mut st = self.state()?;
        if !st.sw().is_buffered() {
            return Err(invalid(
                "no bulk session is open on this writer checkout: start one first",
            ));
        }
        st.end_buffered()
    }

    /// Sets the journal size beyond which the staging journal is compacted (default
    /// 256 MiB). For tests and tuning.
    #[doc(hidden)]
    pub fn set_journal_compaction_threshold(&self, bytes: u64) -> Result<()> {
        self.state()?.compact_at = bytes;
        Ok(())
    }

    /// Runs `f`; if it fails, the staging area is returned exactly to where it was before
    /// `f` ran — every column, sample and metadata change `f` staged is undone, the
    /// journal is cut back and the data files written since are deleted — and `f`'s
    /// error is returned. `hangar import` runs in one, so a failed import leaves the
    /// staging area as it was. `f` must not commit or reset (the rollback then fails);
    /// the journal is not compacted while it runs. If the rollback itself fails, the
    /// checkout is closed (reopening replays what the journal holds) and that error is
    /// returned, naming `f`'s.
    pub fn all_or_nothing<T, E>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error> + fmt::Display,
    {
        let sp = {
            let mut st = self.state()?;
            let sp = st.sw().savepoint().map_err(Error::from)?;
            st.savepoints += 1;
            sp
        };
        let out = f();
        let Ok(mut st) = self.st.lock() else {
            return out;
        };
        st.savepoints = st.savepoints.saturating_sub(1);
        // A checkout `f` closed cannot be rolled back: its result stands, and a new
        // writer replays what the journal acknowledged. One a failed journal write closed
        // (it kept its store writer for this) is rolled back and open again.
        if st.sw.is_none() {
            return out;
        }
        match out {
            Ok(v) => {
                if st.closed.is_some() && st.savepoints == 0 {
                    st.sw = None;
                    st.lock = None;
                }
                Ok(v)
            }
            Err(e) => match st.rollback(&sp) {
                Ok(()) => {
                    st.closed = None;
                    Err(e)
                }
                Err(rb) => {
                    st.savepoints = 0;
                    st.poison(&rb);
                    Err(Error::InvalidArgument(format!(
                        "{e}; undoing its staged changes then failed too ({rb}): open a new writer \
                         checkout, which holds what the journal acknowledged"
                    ))
                    .into())
                }
            },
        }
    }

    /// Writes everything buffered by a bulk session now.
    pub fn flush(&self) -> Result<()> {
        Ok(self.state()?.sw().flush()?)
    }

    /// Clean, or dirty with a summary of what is staged. Works before the first commit.
    pub fn status(&self) -> Result<Status> {
        let st = self.state()?;
        Ok(if st.staging.is_dirty() {
            Status::Dirty(st.staging.changes())
        } else {
            Status::Clean
        })
    }

    /// The diff from the staging area's base commit to the staging area (before the
    /// first commit everything is *added*).
    pub fn diff_staged(&self) -> Result<crate::diff::Diff> {
        let st = self.state()?;
        crate::diff::diff_staged(&st.shared, &st.staging)
    }

    /// Commits the staging area to its branch and returns the new commit's id.
    ///
    /// `NothingToCommit` if nothing is staged; `InvalidArgument` for an empty message.
    /// The data is fsynced before the branch ref moves, in one atomic step.
    pub fn commit(&self, message: &str) -> Result<CommitId> {
        if message.trim().is_empty() {
            return Err(invalid("the commit message is empty; describe the change"));
        }
        let mut guard = self.state()?;
        let st = &mut *guard;
        if !st.staging.is_dirty() {
            return Err(Error::NothingToCommit(
                "No changes made in the staging area; nothing to commit".into(),
            ));
        }
        let built = commit::build(&st.shared, &st.staging, &st.user, message)?;
        let live = st.staging.live_digests();
        let first_line = message.lines().next().unwrap_or_default();
        st.publish(
            built.objects,
            &live,
            built.id,
            &format!("commit: {first_line}"),
        )?;
        Ok(CommitId(built.id))
    }

    /// Merges branch `from` into this writer's branch. The staging area must be clean
    /// (`DirtyStaging`). If `from`'s head is already contained, nothing happens
    /// ([`MergeOutcome::UpToDate`]); if ours is behind theirs, our branch moves forward
    /// ([`MergeOutcome::FastForward`], no commit); otherwise a three-way merge against the
    /// best common ancestor makes a commit with two parents, reading record tables only
    /// (no tensor data). On conflicts nothing changes and the error is
    /// [`Error::MergeConflict`] with the full report.
    pub fn merge(&self, message: &str, from: &str) -> Result<MergeOutcome> {
        self.merge_with(message, from, MergeStrategy::Refuse)
    }

    /// [`WriterCheckout::merge`] with a [`MergeStrategy`]: with `Ours` or `Theirs` a
    /// conflicting change is settled by taking that side and the merge commit is made;
    /// [`MergeOutcome::Merged`] lists the conflicts so settled.
    pub fn merge_with(
        &self,
        message: &str,
        from: &str,
        strategy: MergeStrategy,
    ) -> Result<MergeOutcome> {
        let mut guard = self.state()?;
        let st = &mut *guard;
        if st.staging.is_dirty() {
            return Err(Error::DirtyStaging(format!(
                "Changes are pending in the staging area of branch {:?}; commit or reset them before merging",
                st.staging.base.branch
            )));
        }
        let repo = Repository::from_shared(st.shared.clone());
        let theirs = repo
            .branch_head(from)?
            .ok_or_else(|| Error::NotFound(format!("branch {from:?} has no commits to merge")))?;
        let ours = st.staging.base.commit;
        if let Some(o) = ours {
            if o == theirs.0 || crate::branch::ancestors(&repo, o)?.contains(&theirs.0) {
                return Ok(MergeOutcome::UpToDate { head: CommitId(o) });
            }
        }
        let forward = match ours {
            None => true,
            Some(o) => crate::branch::ancestors(&repo, theirs.0)?.contains(&o),
        };
        if forward {
            // No new objects: the same protocol moves the ref to their head (the clean
            // staging area keeps no staged value).
            st.publish(
                PackSpool::new(st.shared.store.clone()),
                &DigestSet::default(),
                theirs.0,
                &format!("merge {from}: fast-forward"),
            )?;
            return Ok(MergeOutcome::FastForward {
                from: ours.map(CommitId),
                to: theirs,
            });
        }
        let ours = ours.expect("not a fast-forward, so ours exists");
        if message.trim().is_empty() {
            return Err(invalid("the merge message is empty; describe the merge"));
        }
        let base = crate::merge::merge_base(&repo, ours, theirs.0)?;
        let shared = st.shared.clone();
        let root_of =
            |c: Digest| -> Result<Root> { shared.read_root(&shared.read_commit(&c)?.root) };
        let (rb, ro, rt) = (
            base.map(root_of).transpose()?,
            root_of(ours)?,
            root_of(theirs.0)?,
        );
        let mut conflicts = Vec::new();
        let merged =
            crate::merge::merge_roots(&shared, rb.as_ref(), &ro, &rt, strategy, &mut conflicts)?;
        if !conflicts.is_empty() && strategy == MergeStrategy::Refuse {
            return Err(Error::MergeConflict(Box::new(MergeConflicts {
                ours: CommitId(ours),
                theirs,
                base: base.map(CommitId),
                conflicts,
            })));
        }
        let mut objects = merged.objects;
        let root = Object::new(
            ObjectType::Root as u8,
            Root {
                columns: merged.columns,
                metadata: merged.metadata,
            }
            .encode(),
        );
        let commit = CommitObject {
            parents: vec![ours, theirs.0],
            root: root.digest,
            author: st.user.name.clone(),
            email: st.user.email.clone(),
            time_ns: crate::timefmt::now_ns(),
            message: message.to_string(),
        };
        objects.push(root);
        let commit = Object::new(ObjectType::Commit as u8, commit.encode());
        let id = commit.digest;
        objects.push(commit);
        let line = format!(
            "merge {from}: {}",
            message.lines().next().unwrap_or_default()
        );
        // The staging area is clean: no staged value is referred to.
        let objects = PackSpool::with_objects(shared.store.clone(), objects);
        st.publish(objects, &DigestSet::default(), id, &line)?;
        Ok(MergeOutcome::Merged {
            commit: CommitId(id),
            base: base.map(CommitId),
            resolved: conflicts,
        })
    }

    /// Discards every staged change and the data written only for them, returning to
    /// the branch head. `NothingToCommit` if nothing is staged.
    pub fn reset_staging_area(&self) -> Result<Option<CommitId>> {
        let mut guard = self.state()?;
        let st = &mut *guard;
        if !st.staging.is_dirty() {
            return Err(Error::NothingToCommit(
                "No changes made in the staging area; no reset necessary".into(),
            ));
        }
        let branch = st.staging.base.branch.clone();
        let head = refs::read_ref(&st.shared.hangar, &branch)?;
        let base = BaseInfo {
            branch,
            commit: head,
        };
        st.sw().reset(&base.encode())?;
        st.staging = Staging::load(&st.shared, base)?;
        Ok(head.map(CommitId))
    }

    /// Flushes, releases the writer lock and closes the checkout. Every later use of it
    /// (or of its columns) is a `Closed` error, and so is closing it again.
    pub fn close(&self) -> Result<()> {
        let mut st = self.st.lock().map_err(|_| poisoned())?;
        if st.closed.is_some() {
            return Err(Error::Closed(
                "this writer checkout is already closed".into(),
            ));
        }
        let drained = st.drain();
        let flushed = st.sw().flush();
        st.closed = Some(
            "this writer checkout was closed; open a new one with Repository::checkout_writer"
                .into(),
        );
        st.sw = None;
        st.lock = None;
        drained?;
        Ok(flushed?)
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.st.lock().map(|s| s.closed.is_some()).unwrap_or(true)
    }
}

impl Drop for WriterCheckout {
    fn drop(&mut self) {
        if let Ok(mut st) = self.st.lock() {
            if st.closed.is_none() {
                let _ = st.drain();
                if let Some(sw) = st.sw.as_mut() {
                    let _ = sw.flush();
                }
                st.closed = Some("the writer checkout this came from was dropped".into());
                st.sw = None;
                st.lock = None;
            }
        }
    }
}

impl fmt::Display for WriterCheckout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = self.branch_name().unwrap_or_else(|_| "(closed)".into());
        writeln!(f, "Hangar WriterCheckout")?;
        writeln!(f, "    Writer       : True")?;
        write!(f, "    Base Branch  : {branch}")
    }
}

/// A buffered bulk session (the fast path). Ends with [`BulkSession::finish`], or when
/// dropped (errors on drop are lost, so prefer `finish`).
#[derive(Debug)]
pub struct BulkSession<'a> {
    co: &'a WriterCheckout,
    done: bool,
}

impl BulkSession<'_> {
    /// Writes everything buffered and returns to write-through mode.
    pub fn finish(mut self) -> Result<()> {
        self.done = true;
        self.co.state()?.end_buffered()
    }
}

impl Drop for BulkSession<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Ok(mut st) = self.co.state() {
                let _ = st.end_buffered();
            }
        }
    }
}

/// A column of the writer checkout: a dict-like handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WriterColumn {
    st: Arc<Mutex<WriterState>>,
    name: String,
}

impl WriterColumn {
    /// `Closed` once its checkout is closed (every other method says so too; this is for
    /// callers about to use only what the handle itself holds, such as its name).
    pub fn ensure_open(&self) -> Result<()> {
        lock_state_raw(&self.st).map(|_| ())
    }

    fn state(&self) -> Result<MutexGuard<'_, WriterState>> {
        let st = lock_state(&self.st)?;
        st.column(&self.name)?;
        Ok(st)
    }

    /// The state, checking that the column has the given layout.
    fn state_as(&self, nested: bool) -> Result<MutexGuard<'_, WriterState>> {
        let st = lock_state(&self.st)?;
        st.column_as(&self.name, nested)?;
        Ok(st)
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema.
    pub fn schema(&self) -> Result<ColumnSchema> {
        Ok(self.state()?.column(&self.name)?.schema.clone())
    }

    /// Name, schema and count.
    pub fn info(&self) -> Result<ColumnInfo> {
        self.state()?.info(&self.name)
    }

    /// Number of samples.
    pub fn len(&self) -> Result<usize> {
        Ok(self.state()?.column(&self.name)?.samples as usize)
    }

    /// True if the column is nested (samples of subsamples).
    pub fn is_nested(&self) -> Result<bool> {
        Ok(self.state()?.column(&self.name)?.nested())
    }

    /// True if the column has no samples.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Sets `key` to `value` (adding or replacing). Validates key and value first:
    /// on any error nothing is written.
    pub fn set<'v>(&self, key: impl Into<SampleKey>, value: impl Into<ValueRef<'v>>) -> Result<()> {
        let key = key.into();
        let value = value.into();
        let mut st = lock_state_raw(&self.st)?;
        st.column_as(&self.name, false)?;
        if st.sw.as_ref().is_some_and(StoreWriter::is_buffered) {
            return st.defer(&self.name, &key, value);
        }
        st.put_checked(&self.name, &[(key, value)])
    }

    /// The same as [`WriterColumn::set`] (the original Hangar's `add`).
    pub fn add<'v>(&self, key: impl Into<SampleKey>, value: impl Into<ValueRef<'v>>) -> Result<()> {
        self.set(key, value)
    }

    /// Sets many samples at once, all or nothing: every key and value is validated
    /// before anything is written. Digests are computed in parallel.
    pub fn update<'v, K, V>(&self, items: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: Into<SampleKey>,
        V: Into<ValueRef<'v>>,
    {
        let items: Vec<(SampleKey, ValueRef<'v>)> = items
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut st = self.state_as(false)?;
        if items.is_empty() {
            return Ok(());
        }
        st.put_checked(&self.name, &items)
    }

    /// Inserts N samples from one contiguous buffer: `batch` has shape `[N, ...]` and
    /// sample `i` (shape `batch.shape()[1..]`) goes under `keys[i]`. All or nothing.
    pub fn extend_from_buffer<K: Into<SampleKey>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        batch: TensorRef<'_>,
    ) -> Result<()> {
        batch.check()?;
        let Some((&n, sample_shape)) = batch.shape().split_first() else {
            return Err(invalid(
                "a batch needs a leading dimension: shape [N, ...sample shape]",
            ));
        };
        let mut encoded = FlatKeys::default();
        for k in keys {
            let k: SampleKey = k.into();
            encoded.push(&k)?;
        }
        if n != encoded.len() {
            return Err(invalid(format!(
                "the batch holds {n} samples (shape {}) but {} keys were given",
                fmt_shape(batch.shape()),
                encoded.len()
            )));
        }
        let sample_bytes = sample_shape.iter().product::<usize>() * batch.dtype().size();
        let contiguous = Contiguous {
            keys: encoded,
            dtype: batch.dtype(),
            sample_shape,
            sample_bytes,
            bytes: batch.bytes(),
        };
        self.state_as(false)?.put_batch(&self.name, &contiguous)
    }

    /// Adds `value` under a newly generated unique string key, and returns the key.
    pub fn append<'v>(&self, value: impl Into<ValueRef<'v>>) -> Result<SampleKey> {
        let value = value.into();
        let mut st = self.state_as(false)?;
        let key = loop {
            let k = st.new_key();
            if st.record_of(&self.name, &k)?.is_none() {
                break k;
            }
        };
        st.put_checked(&self.name, &[(key.clone(), value)])?;
        Ok(key)
    }

    /// The value of `key`; `NotFound` if absent.
    pub fn get(&self, key: impl Into<SampleKey>) -> Result<Value> {
        let key = key.into();
        self.state_as(false)?
            .read(&self.name, &key, true)?
            .ok_or_else(|| missing_key(&self.name, &key))
    }

    /// The value of `key`, or `None`.
    pub fn try_get(&self, key: impl Into<SampleKey>) -> Result<Option<Value>> {
        self.state_as(false)?.read(&self.name, &key.into(), true)
    }

    /// The value of `key`, or `default`.
    pub fn get_or(&self, key: impl Into<SampleKey>, default: Value) -> Result<Value> {
        Ok(self.try_get(key)?.unwrap_or(default))
    }

    /// True if sample `key` is in the column (flat or nested).
    pub fn contains(&self, key: impl Into<SampleKey>) -> Result<bool> {
        let key = key.into();
        let st = self.state()?;
        let raw = if st.column(&self.name)?.nested() {
            key.nested_prefix()
        } else {
            key.encode()
        };
        st.has_raw(&self.name, &raw)
    }

    /// Deletes sample `key` (for a nested column, with all its subsamples); `NotFound`
    /// if absent.
    pub fn delete(&self, key: impl Into<SampleKey>) -> Result<()> {
        let key = key.into();
        let mut st = self.state()?;
        if st.column(&self.name)?.nested() {
            return st.delete_sample(&self.name, &key);
        }
        if st.record_of(&self.name, &key)?.is_none() {
            return Err(missing_key(&self.name, &key));
        }
        st.stage(Change::Delete {
            column: self.name.clone(),
            key: key.encode(),
        })
    }

    /// Deletes `key` and returns its value; `NotFound` if absent.
    pub fn pop(&self, key: impl Into<SampleKey>) -> Result<Value> {
        let key = key.into();
        let mut st = self.state_as(false)?;
        let v = st
            .read(&self.name, &key, true)?
            .ok_or_else(|| missing_key(&self.name, &key))?;
        st.stage(Change::Delete {
            column: self.name.clone(),
            key: key.encode(),
        })?;
        Ok(v)
    }

    /// The keys at this moment, in key order (integers first, then strings). Changing
    /// the column afterwards does not change the returned list.
    pub fn keys(&self) -> Result<Vec<SampleKey>> {
        let st = self.state()?;
        let col = st.column(&self.name)?;
        let raw = overlay_keys(&st.shared, col.base.as_ref(), &col.overlay)?;
        if !col.nested() {
            return raw.iter().map(|k| decode_key(&st.shared, k)).collect();
        }
        let mut out = Vec::new();
        for k in &raw {
            let key = crate::diff::split_key(&st.shared, k)?;
            if key.subsample.is_none() {
                out.push(key.sample);
            }
        }
        Ok(out)
    }

    /// (key, value) pairs over the keys at this moment; values are read as iterated
    /// (flat columns; see [`WriterColumn::get_sample`]).
    pub fn items(&self) -> Result<impl Iterator<Item = Result<(SampleKey, Value)>> + '_> {
        drop(self.state_as(false)?);
        let keys = self.keys()?;
        Ok(keys.into_iter().map(move |k| {
            let v = self.get(k.clone())?;
            Ok((k, v))
        }))
    }

    /// The values over the keys at this moment.
    pub fn values(&self) -> Result<impl Iterator<Item = Result<Value>> + '_> {
        Ok(self.items()?.map(|r| r.map(|(_, v)| v)))
    }
    /// Replaces nested sample `key` with exactly the given subsamples (creating it if
    /// needed; an empty map makes an empty sample, which persists until deleted). All or
    /// nothing.
    pub fn set_sample<'v, K, V>(
        &self,
        key: impl Into<SampleKey>,
        subsamples: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()>
    where
        K: Into<SampleKey>,
        V: Into<ValueRef<'v>>,
    {
        self.put_sample(key.into(), subsamples, true)
    }

    /// Adds or replaces the given subsamples of nested sample `key` (creating it if
    /// needed), keeping its other subsamples. All or nothing.
    pub fn update_sample<'v, K, V>(
        &self,
        key: impl Into<SampleKey>,
        subsamples: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()>
    where
        K: Into<SampleKey>,
        V: Into<ValueRef<'v>>,
    {
        self.put_sample(key.into(), subsamples, false)
    }

    /// `set_sample` (`replace`) or `update_sample`.
    fn put_sample<'v, K, V>(
        &self,
        key: SampleKey,
        subsamples: impl IntoIterator<Item = (K, V)>,
        replace: bool,
    ) -> Result<()>
    where
        K: Into<SampleKey>,
        V: Into<ValueRef<'v>>,
    {
        let items: Vec<(usize, SampleKey, ValueRef<'v>)> = subsamples
            .into_iter()
            .map(|(k, v)| (0, k.into(), v.into()))
            .collect();
        self.state()?
            .put_nested(&self.name, std::slice::from_ref(&key), &items, replace)
    }

    /// Adds or replaces many subsamples at once, of any number of nested samples
    /// (created when absent), keeping each sample's other subsamples: item `(key, sub,
    /// value)` sets subsample `sub` of sample `key`. All or nothing: every key and value
    /// is validated before anything is written, and the whole update is one staged
    /// change.
    pub fn update_subsamples<'v, K, S, V>(
        &self,
        items: impl IntoIterator<Item = (K, S, V)>,
    ) -> Result<()>
    where
        K: Into<SampleKey>,
        S: Into<SampleKey>,
        V: Into<ValueRef<'v>>,
    {
        let mut samples: Vec<SampleKey> = Vec::new();
        let mut index: std::collections::HashMap<SampleKey, usize> =
            std::collections::HashMap::new();
        let mut flat = Vec::new();
        for (k, s, v) in items {
            let k = k.into();
            let i = *index.entry(k.clone()).or_insert_with(|| {
                samples.push(k);
                samples.len() - 1
            });
            flat.push((i, s.into(), v.into()));
        }
        if samples.is_empty() {
            drop(self.state_as(true)?);
            return Ok(());
        }
        self.state()?.put_nested(&self.name, &samples, &flat, false)
    }

    /// Sets subsample `sub` of nested sample `key` (creating the sample if needed).
    pub fn set_subsample<'v>(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
        value: impl Into<ValueRef<'v>>,
    ) -> Result<()> {
        self.state()?.put_nested(
            &self.name,
            &[key.into()],
            &[(0, sub.into(), value.into())],
            false,
        )
    }

    /// Adds `value` as a new subsample of `key` under a generated unique key, and
    /// returns that key.
    pub fn append_subsample<'v>(
        &self,
        key: impl Into<SampleKey>,
        value: impl Into<ValueRef<'v>>,
    ) -> Result<SampleKey> {
        let key = key.into();
        let value = value.into();
        let mut st = self.state_as(true)?;
        let sub = loop {
            let s = st.new_key();
            if !st.has_raw(&self.name, &key.nested_key(&s))? {
                break s;
            }
        };
        st.put_nested(
            &self.name,
            std::slice::from_ref(&key),
            &[(0, sub.clone(), value)],
            false,
        )?;
        Ok(sub)
    }

    /// Subsample `sub` of nested sample `key`; `NotFound` if absent.
    pub fn get_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Value> {
        let (key, sub) = (key.into(), sub.into());
        self.try_get_subsample(key.clone(), sub.clone())?
            .ok_or_else(|| crate::checkout::missing_subsample(&self.name, &key, &sub))
    }

    /// Subsample `sub` of nested sample `key`, or `None`.
    pub fn try_get_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Option<Value>> {
        let (key, sub) = (key.into(), sub.into());
        self.state_as(true)?.read_raw(
            &self.name,
            &key.nested_key(&sub),
            &crate::checkout::NestedKey(&key, &sub),
            true,
        )
    }

    /// True if nested sample `key` has subsample `sub`.
    pub fn contains_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<bool> {
        let (key, sub) = (key.into(), sub.into());
        self.state_as(true)?
            .has_raw(&self.name, &key.nested_key(&sub))
    }

    /// The subsample keys of nested sample `key`, in key order; `NotFound` if the
    /// sample does not exist.
    pub fn subsample_keys(&self, key: impl Into<SampleKey>) -> Result<Vec<SampleKey>> {
        let key = key.into();
        let st = self.state_as(true)?;
        let entries = st
            .sample_entries(&self.name, &key)?
            .ok_or_else(|| missing_key(&self.name, &key))?;
        let prefix_len = key.nested_prefix().len();
        entries
            .iter()
            .filter(|(k, _)| k.len() > prefix_len)
            .map(|(k, _)| decode_key(&st.shared, &k[prefix_len..]))
            .collect()
    }

    /// Every subsample of nested sample `key` (an empty map for an empty sample);
    /// `NotFound` if the sample does not exist.
    pub fn get_sample(
        &self,
        key: impl Into<SampleKey>,
    ) -> Result<std::collections::BTreeMap<SampleKey, Value>> {
        let key = key.into();
        let mut out = std::collections::BTreeMap::new();
        for sub in self.subsample_keys(key.clone())? {
            let v = self.get_subsample(key.clone(), sub.clone())?;
            out.insert(sub, v);
        }
        Ok(out)
    }

    /// Deletes subsample `sub` of nested sample `key` (the sample stays, possibly
    /// empty); `NotFound` if absent.
    pub fn delete_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<()> {
        let (key, sub) = (key.into(), sub.into());
        let mut st = self.state_as(true)?;
        let raw = key.nested_key(&sub);
        if !st.has_raw(&self.name, &raw)? {
            return Err(crate::checkout::missing_subsample(&self.name, &key, &sub));
        }
        st.stage(Change::Delete {
            column: self.name.clone(),
            key: raw,
        })
    }

    /// Deletes subsample `sub` of nested sample `key` and returns its value.
    pub fn pop_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Value> {
        let (key, sub) = (key.into(), sub.into());
        let v = self.get_subsample(key.clone(), sub.clone())?;
        self.delete_subsample(key, sub)?;
        Ok(v)
    }

    /// Deletes nested sample `key` and returns its subsamples.
    pub fn pop_sample(
        &self,
        key: impl Into<SampleKey>,
    ) -> Result<std::collections::BTreeMap<SampleKey, Value>> {
        let key = key.into();
        let v = self.get_sample(key.clone())?;
        self.state()?.delete_sample(&self.name, &key)?;
        Ok(v)
    }

    /// Total number of subsamples over all samples of a nested column.
    pub fn num_subsamples(&self) -> Result<usize> {
        let st = self.state_as(true)?;
        let col = st.column(&self.name)?;
        Ok((col.count - col.samples) as usize)
    }
}

impl fmt::Display for WriterColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Ok(i) => i.fmt(f),
            Err(e) => write!(f, "Hangar ColumnWriter ({e})"),
        }
    }
}

/// The staged metadata: a key → string map.
#[derive(Debug, Clone)]
pub struct WriterMetadata {
    st: Arc<Mutex<WriterState>>,
}

impl WriterMetadata {
    /// The value of `key`; `NotFound` if absent.
    pub fn get(&self, key: &str) -> Result<String> {
        self.try_get(key)?
            .ok_or_else(|| Error::NotFound(format!("no metadata key {key:?}")))
    }

    /// The value of `key`, or `None`.
    pub fn try_get(&self, key: &str) -> Result<Option<String>> {
        let st = lock_state(&self.st)?;
        match st.staging.meta_value(&st.shared, key)? {
            Some(v) => String::from_utf8(v).map(Some).map_err(|_| {
                Error::corrupt(
                    st.shared.hangar.join("packs"),
                    "metadata value is not UTF-8",
                )
            }),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value`. The key follows the name rules; the value is any UTF-8
    /// text up to 64 MiB.
    pub fn set(&self, key: &str, value: &str) -> Result<()> {
        names::check_name("metadata key", key)?;
        if value.len() > crate::value::MAX_BLOB_BYTES {
            return Err(invalid(format!(
                "metadata value of {} bytes exceeds the 64 MiB limit",
                value.len()
            )));
        }
        lock_state(&self.st)?.stage(Change::MetaPut {
            key: key.to_string(),
            value: value.to_string(),
        })
    }

    /// Deletes `key`; `NotFound` if absent.
    pub fn delete(&self, key: &str) -> Result<()> {
        let mut st = lock_state(&self.st)?;
        if st.staging.meta_value(&st.shared, key)?.is_none() {
            return Err(Error::NotFound(format!("no metadata key {key:?}")));
        }
        st.stage(Change::MetaDelete {
            key: key.to_string(),
        })
    }

    /// Number of keys.
    pub fn len(&self) -> Result<usize> {
        Ok(lock_state(&self.st)?.staging.meta_count as usize)
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Result<Vec<String>> {
        let st = lock_state(&self.st)?;
        let raw = overlay_keys(&st.shared, st.staging.meta_base.as_ref(), &st.staging.meta)?;
        Ok(raw
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }
}
