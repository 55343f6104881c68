//! The one read path of every column handle. [`Column`] reads a column over a source of
//! records: a commit's record table and the store ([`CommitRecords`], behind
//! [`ReaderColumn`](crate::ReaderColumn)), or the staging overlay over its base table and
//! the store's writer ([`StagingRecords`], behind [`WriterColumn`](crate::WriterColumn),
//! and [`StagedRecords`] behind [`StagedColumn`](crate::StagedColumn)). Get, view,
//! contains, keys, items and the subsample reads are written once, here, so the three
//! handles read alike and have the same signatures (redb's `ReadableTable`, shared by
//! `Table` and `ReadOnlyTable`, is the model). What only one handle does — writes,
//! a commit's record-table identity — lives beside its source.

use std::collections::BTreeMap;
use std::fmt;

use hangar_store::Digest;

use crate::checkout::{decode_key, decode_record, missing_key, read_record, ColumnInfo, Values};
use crate::error::Result;
use crate::key::SampleKey;
use crate::objects::TreeRef;
use crate::schema::ColumnSchema;
use crate::shared::Shared;
use crate::staging::Overlay;
use crate::value::{Tensor, Value};

pub use crate::checkout::reader::CommitRecords;
pub use crate::checkout::staged::StagedRecords;
pub use crate::checkout::writer::StagingRecords;

/// A column handle, generic over where its records come from. Use it through
/// [`ReaderColumn`](crate::ReaderColumn), [`WriterColumn`](crate::WriterColumn) and
/// [`StagedColumn`](crate::StagedColumn); its methods are the same for all three. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Column<S> {
    pub(crate) src: S,
}

/// A column as one read sees it: borrowed from a reader's state, or from the writer's
/// state under its lock.
#[derive(Clone)]
pub(crate) struct View<'a> {
    pub shared: &'a Shared,
    pub name: &'a str,
    pub schema: &'a ColumnSchema,
    pub schema_digest: &'a Digest,
    /// The committed record table the column starts from.
    pub base: Option<&'a TreeRef>,
    /// Staged changes over `base` (none for a commit).
    pub overlay: Option<&'a Overlay>,
    pub values: Values<'a>,
    /// Records (for nested columns, sample markers and subsamples).
    pub count: u64,
    pub samples: u64,
    pub writable: bool,
}

impl View<'_> {
    fn nested(&self) -> bool {
        self.schema.is_nested()
    }

    /// `InvalidArgument` unless the column has the given layout.
    fn layout(&self, nested: bool) -> Result<()> {
        if self.nested() != nested {
            return Err(crate::checkout::wrong_layout(self.name, self.nested()));
        }
        Ok(())
    }

    pub fn info(&self) -> ColumnInfo {
        ColumnInfo {
            name: self.name.to_string(),
            schema: self.schema.clone(),
            schema_hash: self.schema_digest.short(),
            num_samples: self.samples,
            num_subsamples: self.nested().then(|| self.count - self.samples),
            writable: self.writable,
        }
    }

    /// The raw record under a record-table key.
    fn record(&self, raw: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.overlay {
            Some(o) => crate::staging::overlay_lookup(self.shared, self.base, o, raw),
            None => match self.base {
                Some(t) => crate::tree::lookup(self.shared, t, raw),
                None => Ok(None),
            },
        }
    }

    /// The raw records under many record-table keys, in their order (`None` where
    /// absent): staged changes first, then one batched search of the record table for
    /// the rest (each of its nodes read once per batch).
    fn records(&self, raws: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut out = vec![None; raws.len()];
        let mut rest = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            match self.overlay.and_then(|o| o.get(raw)) {
                Some(staged) => out[i] = staged.map(<[u8]>::to_vec),
                None => rest.push(i),
            }
        }
        if let (Some(t), false) = (self.base, rest.is_empty()) {
            let keys: Vec<&[u8]> = rest.iter().map(|&i| raws[i].as_slice()).collect();
            for (i, rec) in rest
                .into_iter()
                .zip(crate::tree::lookup_many(self.shared, t, &keys)?)
            {
                out[i] = rec;
            }
        }
        Ok(out)
    }

    fn has(&self, raw: &[u8]) -> Result<bool> {
        Ok(self.record(raw)?.is_some())
    }

    /// The value under a record-table key, copied out (`copy`) or zero-copy.
    fn read(&self, raw: &[u8], key: &dyn fmt::Display, copy: bool) -> Result<Option<Value>> {
        let Some(bytes) = self.record(raw)? else {
            return Ok(None);
        };
        self.value_of(&bytes, key, copy).map(Some)
    }

    /// The value a raw record names.
    pub fn value_of(&self, record: &[u8], key: &dyn fmt::Display, copy: bool) -> Result<Value> {
        let rec = decode_record(self.shared, self.name, self.schema, record)?;
        read_record(
            self.shared,
            self.name,
            key,
            self.schema,
            &rec,
            self.values,
            copy,
        )
    }

    /// The subsample keys of nested sample `key`; `NotFound` if it does not exist.
    fn subsample_keys(&self, key: &SampleKey) -> Result<Vec<SampleKey>> {
        self.layout(true)?;
        let prefix = key.nested_prefix();
        if !self.has(&prefix)? {
            return Err(missing_key(self.name, key));
        }
        let entries = match self.overlay {
            Some(o) => crate::staging::overlay_scan(self.shared, self.base, o, &prefix)?,
            None => match self.base {
                Some(t) => crate::tree::scan_prefix(self.shared, t, &prefix)?,
                None => Vec::new(),
            },
        };
        entries
            .iter()
            .filter(|(k, _)| k.len() > prefix.len())
            .map(|(k, _)| decode_key(self.shared, &k[prefix.len()..]))
            .collect()
    }
}

/// (raw record-table key, its raw record if the source had it at hand) in key order.
pub(crate) type RawEntries<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Option<Vec<u8>>)>> + 'a>;

mod sealed {
    use super::*;

    /// Where a [`Column`]'s records come from. Sealed: implemented by the three sources
    /// of this crate only, and unnameable outside it, so its methods (which take the
    /// crate's own types) cannot be called from outside either.
    #[allow(private_interfaces, private_bounds)]
    pub trait Source: Clone + fmt::Debug {
        /// The column's name.
        fn column_name(&self) -> &str;
        /// `Closed` once the handle's checkout is closed.
        fn ensure_open(&self) -> Result<()>;
        /// Runs `f` over the column as it is now (`NotFound` once the column is deleted).
        fn with<R>(&self, f: impl FnOnce(&View<'_>) -> Result<R>) -> Result<R>;
        /// Every record-table key in order: a commit's walked lazily (with its record),
        /// the staging area's taken as a snapshot (later changes do not alter it).
        fn entries(&self) -> Result<RawEntries<'_>>;
        /// The shared repository state (for decoding keys).
        fn shared(&self) -> &Shared;
    }
}
pub(crate) use sealed::Source;

/// A source of a [`Column`]'s records: [`CommitRecords`], [`StagingRecords`] or
/// [`StagedRecords`]. Sealed (no other type can be one); name it to write code generic
/// over every kind of column: `fn count<S: RecordSource>(c: &Column<S>)`.
pub trait RecordSource: Source {}

impl<T: Source> RecordSource for T {}

impl<S: RecordSource> Column<S> {
    /// `Closed` once its checkout is closed (every other method says so too; this is for
    /// callers about to use only what the handle itself holds, such as its name).
    pub fn ensure_open(&self) -> Result<()> {
        self.src.ensure_open()
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        self.src.column_name()
    }

    /// The schema.
    pub fn schema(&self) -> Result<ColumnSchema> {
        self.src.with(|v| Ok(v.schema.clone()))
    }

    /// Name, schema and counts.
    pub fn info(&self) -> Result<ColumnInfo> {
        self.src.with(|v| Ok(v.info()))
    }

    /// Number of samples (for a nested column: of samples, not subsamples).
    pub fn len(&self) -> Result<usize> {
        self.src.with(|v| Ok(v.samples as usize))
    }

    /// True if the column has no samples.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// True if the column is nested (samples of subsamples).
    pub fn is_nested(&self) -> Result<bool> {
        self.src.with(|v| Ok(v.nested()))
    }

    /// True if `key` is in the column (a sample, flat or nested).
    pub fn contains(&self, key: impl Into<SampleKey>) -> Result<bool> {
        let key = key.into();
        self.src.with(|v| {
            if v.nested() {
                v.has(&key.nested_prefix())
            } else {
                v.has(&key.encode())
            }
        })
    }

    fn read(&self, key: &SampleKey, copy: bool) -> Result<Option<Value>> {
        self.src.with(|v| {
            v.layout(false)?;
            v.read(&key.encode(), key, copy)
        })
    }

    /// The values of `keys`, in order; `NotFound` naming the first absent key.
    fn read_many(&self, keys: &[SampleKey], copy: bool) -> Result<Vec<Value>> {
        self.src.with(|v| {
            v.layout(false)?;
            let raws: Vec<Vec<u8>> = keys.iter().map(SampleKey::encode).collect();
            keys.iter()
                .zip(v.records(&raws)?)
                .map(|(key, rec)| {
                    let rec = rec.ok_or_else(|| missing_key(v.name, key))?;
                    v.value_of(&rec, key, copy)
                })
                .collect()
        })
    }

    /// The values of `keys` (owned copies, in order), as [`Column::get`] reads each but
    /// with one search of the record table for the batch; `NotFound` naming the first
    /// key that is absent.
    pub fn get_many(&self, keys: &[SampleKey]) -> Result<Vec<Value>> {
        self.read_many(keys, true)
    }

    /// The tensors of `keys` without copying (in order), as [`Column::get_view`] reads
    /// each but with one search of the record table for the batch; `NotFound` naming
    /// the first key that is absent.
    pub fn get_views(&self, keys: &[SampleKey]) -> Result<Vec<Tensor>> {
        self.read_many(keys, false)?
            .into_iter()
            .map(Value::into_tensor)
            .collect()
    }

    /// The value of `key` (an owned copy); `NotFound` if absent.
    pub fn get(&self, key: impl Into<SampleKey>) -> Result<Value> {
        let key = key.into();
        self.read(&key, true)?
            .ok_or_else(|| missing_key(self.name(), &key))
    }

    /// For a repository opened through a remote ([`crate::Repository::open_remote`]):
    /// fetches the values of `keys` that are neither stored here nor cached, all at once,
    /// into the streaming cache, so that reading them next costs no round trip each (a
    /// batch read does this first). Returns how many values were fetched. Elsewhere, and
    /// for absent keys and nested columns, it does nothing.
    pub fn prefetch(&self, keys: &[SampleKey]) -> Result<usize> {
        let Some(o) = self.src.shared().on_demand().cloned() else {
            return Ok(0);
        };
        let wanted = self.src.with(|v| {
            let Values::Store(store) = v.values else {
                return Ok(Vec::new()); // a writer reads what is here
            };
            let mut out = Vec::new();
            if v.nested() {
                return Ok(out);
            }
            for k in keys {
                let Some(raw) = v.record(&k.encode())? else {
                    continue;
                };
                let rec = decode_record(v.shared, v.name, v.schema, &raw)?;
                if let crate::schema::Held::Stored(d) = &rec.held {
                    if store.lookup(d)?.is_none() {
                        out.push((*d, crate::verify::header_of(v.schema, &rec)));
                    }
                }
            }
            Ok(out)
        })?;
        o.prefetch(&wanted)
    }

    /// The value of `key`, or `None` if absent.
    pub fn try_get(&self, key: impl Into<SampleKey>) -> Result<Option<Value>> {
        self.read(&key.into(), true)
    }

    /// The value of `key`, or `default` if absent.
    pub fn get_or(&self, key: impl Into<SampleKey>, default: Value) -> Result<Value> {
        Ok(self.try_get(key)?.unwrap_or(default))
    }

    /// The tensor of `key` without copying: a committed value's buffer maps its segment
    /// file, so [`Tensor::as_slice`] is an aligned slice borrowed from the map.
    pub fn get_view(&self, key: impl Into<SampleKey>) -> Result<Tensor> {
        let key = key.into();
        self.read(&key, false)?
            .ok_or_else(|| missing_key(self.name(), &key))?
            .into_tensor()
    }

    /// Number of subsamples over all samples (nested columns).
    pub fn num_subsamples(&self) -> Result<usize> {
        self.src.with(|v| {
            v.layout(true)?;
            Ok((v.count - v.samples) as usize)
        })
    }

    /// True if nested sample `key` has subsample `sub`.
    pub fn contains_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<bool> {
        let raw = key.into().nested_key(&sub.into());
        self.src.with(|v| {
            v.layout(true)?;
            v.has(&raw)
        })
    }

    fn read_subsample(
        &self,
        key: &SampleKey,
        sub: &SampleKey,
        copy: bool,
    ) -> Result<Option<Value>> {
        self.src.with(|v| {
            v.layout(true)?;
            v.read(
                &key.nested_key(sub),
                &crate::checkout::NestedKey(key, sub),
                copy,
            )
        })
    }

    /// Subsample `sub` of nested sample `key`, or `None`.
    pub fn try_get_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Option<Value>> {
        self.read_subsample(&key.into(), &sub.into(), true)
    }

    /// Subsample `sub` of nested sample `key`; `NotFound` if absent.
    pub fn get_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Value> {
        let (key, sub) = (key.into(), sub.into());
        self.read_subsample(&key, &sub, true)?
            .ok_or_else(|| crate::checkout::missing_subsample(self.name(), &key, &sub))
    }

    /// Subsample `sub` of nested sample `key` without copying (nested ndarray columns).
    pub fn get_subsample_view(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Tensor> {
        let (key, sub) = (key.into(), sub.into());
        self.read_subsample(&key, &sub, false)?
            .ok_or_else(|| crate::checkout::missing_subsample(self.name(), &key, &sub))?
            .into_tensor()
    }

    /// The subsample keys of nested sample `key`, in key order; `NotFound` if the sample
    /// does not exist.
    pub fn subsample_keys(&self, key: impl Into<SampleKey>) -> Result<Vec<SampleKey>> {
        let key = key.into();
        self.src.with(|v| v.subsample_keys(&key))
    }

    /// Every subsample of nested sample `key` (an empty map for an empty sample);
    /// `NotFound` if the sample does not exist.
    pub fn get_sample(&self, key: impl Into<SampleKey>) -> Result<BTreeMap<SampleKey, Value>> {
        let key = key.into();
        self.src.with(|v| {
            let mut out = BTreeMap::new();
            for sub in v.subsample_keys(&key)? {
                let raw = key.nested_key(&sub);
                let shown = crate::checkout::NestedKey(&key, &sub);
                let value = v
                    .read(&raw, &shown, true)?
                    .ok_or_else(|| crate::checkout::missing_subsample(v.name, &key, &sub))?;
                out.insert(sub, value);
            }
            Ok(out)
        })
    }

    /// The sample keys in key order (integers first, then strings). A commit's are read
    /// as iterated; the staging area's are those of the moment of the call (changing the
    /// column afterwards does not change them).
    pub fn keys(&self) -> Result<impl Iterator<Item = Result<SampleKey>> + '_> {
        let nested = self.is_nested()?;
        let shared = self.src.shared();
        Ok(self.src.entries()?.filter_map(move |r| {
            let raw = match r {
                Ok((k, _)) => k,
                Err(e) => return Some(Err(e)),
            };
            if !nested {
                return Some(decode_key(shared, &raw));
            }
            match crate::diff::split_key(shared, &raw) {
                Ok(k) if k.subsample.is_none() => Some(Ok(k.sample)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        }))
    }

    /// (key, value) pairs in key order, values read as iterated (flat columns; see
    /// [`Column::get_sample`] for nested ones). Numeric values of a commit are zero-copy.
    pub fn items(&self) -> Result<impl Iterator<Item = Result<(SampleKey, Value)>> + '_> {
        self.src.with(|v| v.layout(false))?;
        let shared = self.src.shared();
        Ok(self.src.entries()?.map(move |r| {
            let (raw, record) = r?;
            let key = decode_key(shared, &raw)?;
            let value = self.src.with(|v| match &record {
                Some(rec) => v.value_of(rec, &key, false),
                None => v
                    .read(&raw, &key, true)?
                    .ok_or_else(|| missing_key(v.name, &key)),
            })?;
            Ok((key, value))
        }))
    }

    /// The values, in key order.
    pub fn values(&self) -> Result<impl Iterator<Item = Result<Value>> + '_> {
        Ok(self.items()?.map(|r| r.map(|(_, v)| v)))
    }
}

impl<S: RecordSource> fmt::Display for Column<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info() {
            Ok(i) => i.fmt(f),
            Err(e) => write!(f, "Hangar Column {:?} ({e})", self.name()),
        }
    }
}
