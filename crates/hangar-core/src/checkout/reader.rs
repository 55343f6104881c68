//! Reader checkouts: an immutable view of one commit. Any number may exist, alongside a
//! writer, in any process; a commit made later never changes what a reader sees.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::checkout::{decode_key, decode_record, missing_key, read_record, ColumnInfo, Values};
use crate::commit::{CommitId, CommitInfo};
use crate::error::{Error, Result};
use crate::key::SampleKey;
use crate::objects::TreeRef;
use crate::schema::ColumnSchema;
use crate::shared::Shared;
use crate::tree::{self, TreeIter};
use crate::value::{Tensor, Value};

#[derive(Debug)]
struct ReaderColumnData {
    name: String,
    schema: ColumnSchema,
    schema_hash: String,
    tree: Option<TreeRef>,
    samples: u64,
}

#[derive(Debug)]
struct ReaderState {
    shared: Arc<Shared>,
    commit: CommitInfo,
    branch: Option<String>,
    columns: BTreeMap<String, Arc<ReaderColumnData>>,
    metadata: Option<TreeRef>,
    closed: AtomicBool,
}

impl ReaderState {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed(format!(
                "this reader checkout of commit {} was closed; open a new one with Repository::checkout",
                self.commit.id
            )));
        }
        Ok(())
    }
}

/// A read-only view of one commit. Cheap to clone; clones share the view (and `close`).
/// `Send + Sync`: share it across threads freely.
#[derive(Debug, Clone)]
pub struct ReaderCheckout {
    st: Arc<ReaderState>,
}

impl ReaderCheckout {
    pub(crate) fn open(
        shared: Arc<Shared>,
        commit: CommitInfo,
        branch: Option<String>,
    ) -> Result<ReaderCheckout> {
        let root = shared.read_root(&commit.root)?;
        let mut columns = BTreeMap::new();
        for c in root.columns {
            let schema = shared.read_schema(&c.schema)?;
            columns.insert(
                c.name.clone(),
                Arc::new(ReaderColumnData {
                    schema_hash: c.schema.short(),
                    name: c.name,
                    schema,
                    tree: c.tree,
                    samples: c.samples,
                }),
            );
        }
        Ok(ReaderCheckout {
            st: Arc::new(ReaderState {
                shared,
                commit,
                branch,
                columns,
                metadata: root.metadata,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The commit this checkout shows.
    pub fn commit_hash(&self) -> CommitId {
        self.st.commit.id
    }

    /// The commit's details.
    pub fn commit_info(&self) -> &CommitInfo {
        &self.st.commit
    }

    /// The branch this checkout was opened from, if any.
    pub fn branch_name(&self) -> Option<&str> {
        self.st.branch.as_deref()
    }

    /// Every column with its schema and sample count.
    pub fn columns(&self) -> Result<Vec<ColumnInfo>> {
        self.st.check_open()?;
        Ok(self.st.columns.values().map(|c| info(c)).collect())
    }

    /// The names of the columns.
    pub fn column_names(&self) -> Result<Vec<String>> {
        self.st.check_open()?;
        Ok(self.st.columns.keys().cloned().collect())
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Result<ReaderColumn> {
        self.st.check_open()?;
        let data = self.st.columns.get(name).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "commit {} has no column {name:?}; its columns are: {}",
                self.st.commit.id,
                names_list(self.st.columns.keys())
            ))
        })?;
        Ok(ReaderColumn {
            st: self.st.clone(),
            data,
        })
    }

    /// True if the column exists.
    pub fn has_column(&self, name: &str) -> Result<bool> {
        self.st.check_open()?;
        Ok(self.st.columns.contains_key(name))
    }

    /// The commit's metadata.
    pub fn metadata(&self) -> ReaderMetadata {
        ReaderMetadata {
            st: self.st.clone(),
        }
    }

    /// Closes the checkout: every later use of it or of its columns is an error.
    /// Closing twice is an error too.
    pub fn close(&self) -> Result<()> {
        self.st.check_open()?;
        self.st.closed.store(true, Ordering::Release);
        Ok(())
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.st.closed.load(Ordering::Acquire)
    }
}

impl fmt::Display for ReaderCheckout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Hangar ReaderCheckout")?;
        writeln!(f, "    Writer       : False")?;
        writeln!(f, "    Commit Hash  : {}", self.st.commit.id)?;
        write!(f, "    Num Columns  : {}", self.st.columns.len())
    }
}

pub(crate) fn names_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<_> = names.map(|n| format!("{n:?}")).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn info(c: &ReaderColumnData) -> ColumnInfo {
    ColumnInfo {
        name: c.name.clone(),
        schema: c.schema.clone(),
        schema_hash: c.schema_hash.clone(),
        num_samples: c.samples,
        num_subsamples: c
            .schema
            .is_nested()
            .then(|| c.tree.map_or(0, |t| t.count) - c.samples),
        writable: false,
    }
}

/// A column of a reader checkout. Cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct ReaderColumn {
    st: Arc<ReaderState>,
    data: Arc<ReaderColumnData>,
}

impl ReaderColumn {
    /// `Closed` once its checkout is closed (as every method that reads says too; for
    /// callers about to use only what the handle itself holds, such as name and schema).
    pub fn ensure_open(&self) -> Result<()> {
        self.st.check_open()
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.data.name
    }

    /// Schema.
    pub fn schema(&self) -> &ColumnSchema {
        &self.data.schema
    }

    /// Name, schema and count.
    pub fn info(&self) -> ColumnInfo {
        info(&self.data)
    }

    /// The digest of the column's record table (its content identity): two commits
    /// whose column has the same record table share it on disk. `None` when empty.
    pub fn record_table(&self) -> Option<hangar_store::Digest> {
        self.data.tree.map(|t| t.root)
    }

    /// Number of samples.
    pub fn len(&self) -> Result<usize> {
        self.st.check_open()?;
        Ok(self.data.samples as usize)
    }

    /// True if the column has no samples.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// True if the column is nested (samples of subsamples).
    pub fn is_nested(&self) -> bool {
        self.data.schema.is_nested()
    }

    fn layout(&self, nested: bool) -> Result<()> {
        self.st.check_open()?;
        if self.is_nested() != nested {
            return Err(crate::checkout::wrong_layout(
                &self.data.name,
                self.is_nested(),
            ));
        }
        Ok(())
    }

    fn raw_value(&self, raw: &[u8]) -> Result<Option<Vec<u8>>> {
        self.st.check_open()?;
        match &self.data.tree {
            Some(t) => tree::lookup(&*self.st.shared, t, raw),
            None => Ok(None),
        }
    }

    fn record_raw(&self, raw: &[u8]) -> Result<Option<crate::schema::Record>> {
        match self.raw_value(raw)? {
            Some(v) => {
                decode_record(&self.st.shared, &self.data.name, &self.data.schema, &v).map(Some)
            }
            None => Ok(None),
        }
    }

    fn read(&self, key: &SampleKey, copy: bool) -> Result<Option<Value>> {
        self.layout(false)?;
        self.read_raw(&key.encode(), key, copy)
    }

    fn read_raw(
        &self,
        raw: &[u8],
        key: &dyn std::fmt::Display,
        copy: bool,
    ) -> Result<Option<Value>> {
        let Some(rec) = self.record_raw(raw)? else {
            return Ok(None);
        };
        let shared = &*self.st.shared;
        read_record(
            shared,
            &self.data.name,
            key,
            &self.data.schema,
            &rec,
            Values::Store(&shared.store),
            copy,
        )
        .map(Some)
    }

    /// Number of subsamples over all samples (nested columns).
    pub fn num_subsamples(&self) -> Result<usize> {
        self.layout(true)?;
        Ok((self.data.tree.map_or(0, |t| t.count) - self.data.samples) as usize)
    }

    /// True if sample `key` has subsample `sub` (nested columns).
    pub fn contains_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<bool> {
        self.layout(true)?;
        Ok(self
            .raw_value(&key.into().nested_key(&sub.into()))?
            .is_some())
    }

    /// Subsample `sub` of sample `key` (nested columns); `NotFound` if absent.
    pub fn get_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Value> {
        self.read_subsample(key.into(), sub.into(), true)
    }

    /// Subsample `sub` of sample `key` without copying (nested ndarray columns).
    pub fn get_subsample_view(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Tensor> {
        self.read_subsample(key.into(), sub.into(), false)?
            .into_tensor()
    }

    /// A subsample, copied out (`copy`) or as a view; `NotFound` if absent.
    fn read_subsample(&self, key: SampleKey, sub: SampleKey, copy: bool) -> Result<Value> {
        self.layout(true)?;
        self.read_raw(
            &key.nested_key(&sub),
            &crate::checkout::NestedKey(&key, &sub),
            copy,
        )?
        .ok_or_else(|| crate::checkout::missing_subsample(&self.data.name, &key, &sub))
    }

    fn sample_entries(&self, key: &SampleKey) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.layout(true)?;
        if self.raw_value(&key.nested_prefix())?.is_none() {
            return Err(missing_key(&self.data.name, key));
        }
        match &self.data.tree {
            Some(t) => tree::scan_prefix(&*self.st.shared, t, &key.nested_prefix()),
            None => Ok(Vec::new()),
        }
    }

    /// The subsample keys of sample `key` (nested columns), in key order.
    pub fn subsample_keys(&self, key: impl Into<SampleKey>) -> Result<Vec<SampleKey>> {
        let key = key.into();
        let prefix_len = key.nested_prefix().len();
        self.sample_entries(&key)?
            .into_iter()
            .filter(|(k, _)| k.len() > prefix_len)
            .map(|(k, _)| decode_key(&self.st.shared, &k[prefix_len..]))
            .collect()
    }

    /// Every subsample of sample `key` (nested columns); an empty sample gives an empty
    /// map, an absent one `NotFound`.
    pub fn get_sample(&self, key: impl Into<SampleKey>) -> Result<BTreeMap<SampleKey, Value>> {
        let key = key.into();
        let mut out = BTreeMap::new();
        for sub in self.subsample_keys(key.clone())? {
            let v = self.get_subsample(key.clone(), sub.clone())?;
            out.insert(sub, v);
        }
        Ok(out)
    }

    /// True if `key` is in the column (a sample, flat or nested).
    pub fn contains(&self, key: impl Into<SampleKey>) -> Result<bool> {
        let key = key.into();
        let raw = if self.is_nested() {
            key.nested_prefix()
        } else {
            key.encode()
        };
        Ok(self.raw_value(&raw)?.is_some())
    }

    /// The value of `key` (an owned copy); `NotFound` if absent.
    pub fn get(&self, key: impl Into<SampleKey>) -> Result<Value> {
        let key = key.into();
        self.read(&key, true)?
            .ok_or_else(|| missing_key(&self.data.name, &key))
    }

    /// The value of `key`, or `None` if absent.
    pub fn try_get(&self, key: impl Into<SampleKey>) -> Result<Option<Value>> {
        self.read(&key.into(), true)
    }

    /// The value of `key`, or `default` if absent.
    pub fn get_or(&self, key: impl Into<SampleKey>, default: Value) -> Result<Value> {
        Ok(self.try_get(key)?.unwrap_or(default))
    }

    /// The tensor of `key` without copying: its buffer maps the segment file, so
    /// [`Tensor::as_slice`] is an aligned slice borrowed from the map.
    pub fn get_view(&self, key: impl Into<SampleKey>) -> Result<Tensor> {
        let key = key.into();
        let v = self
            .read(&key, false)?
            .ok_or_else(|| missing_key(&self.data.name, &key))?;
        v.into_tensor()
    }

    /// The sample keys, in key order (integers first, then strings).
    pub fn keys(&self) -> Result<impl Iterator<Item = Result<SampleKey>> + '_> {
        self.st.check_open()?;
        let shared = &*self.st.shared;
        let nested = self.is_nested();
        Ok(
            TreeIter::new(shared, self.data.tree.as_ref()).filter_map(move |r| {
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
            }),
        )
    }

    /// (key, value) pairs, in key order (flat columns; see [`ReaderColumn::get_sample`]).
    pub fn items(&self) -> Result<impl Iterator<Item = Result<(SampleKey, Value)>> + '_> {
        self.layout(false)?;
        let shared = &*self.st.shared;
        Ok(
            TreeIter::new(shared, self.data.tree.as_ref()).map(move |r| {
                self.st.check_open()?;
                let (k, raw) = r?;
                let key = decode_key(shared, &k)?;
                let v = self.value_of_record(&key, &raw)?;
                Ok((key, v))
            }),
        )
    }

    /// The value a raw record of this column names (zero-copy where it can be).
    pub(crate) fn value_of_record(&self, key: &SampleKey, raw: &[u8]) -> Result<Value> {
        let shared = &*self.st.shared;
        let rec = decode_record(shared, &self.data.name, &self.data.schema, raw)?;
        read_record(
            shared,
            &self.data.name,
            key,
            &self.data.schema,
            &rec,
            Values::Store(&shared.store),
            false,
        )
    }

    /// Up to `max` (raw key, raw record) pairs after the raw key `after` (from the first
    /// when `None`), in key order: one path down the record table, then its leaves.
    pub(crate) fn raw_records_after(
        &self,
        after: Option<&[u8]>,
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.st.check_open()?;
        TreeIter::after(&*self.st.shared, self.data.tree.as_ref(), after)
            .take(max)
            .collect()
    }

    /// The largest raw key, `None` when the column is empty.
    pub(crate) fn last_raw_key(&self) -> Result<Option<Vec<u8>>> {
        self.st.check_open()?;
        self.data
            .tree
            .as_ref()
            .map(|t| tree::last_key(&*self.st.shared, t))
            .transpose()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.st.shared
    }

    /// The values, in key order.
    pub fn values(&self) -> Result<impl Iterator<Item = Result<Value>> + '_> {
        Ok(self.items()?.map(|r| r.map(|(_, v)| v)))
    }
}

/// The metadata of a reader checkout.
#[derive(Debug, Clone)]
pub struct ReaderMetadata {
    st: Arc<ReaderState>,
}

impl ReaderMetadata {
    /// The value of `key`; `NotFound` if absent.
    pub fn get(&self, key: &str) -> Result<String> {
        self.try_get(key)?
            .ok_or_else(|| Error::NotFound(format!("no metadata key {key:?}")))
    }

    /// The value of `key`, or `None`.
    pub fn try_get(&self, key: &str) -> Result<Option<String>> {
        self.st.check_open()?;
        let Some(t) = &self.st.metadata else {
            return Ok(None);
        };
        match tree::lookup(&*self.st.shared, t, key.as_bytes())? {
            Some(v) => String::from_utf8(v).map(Some).map_err(|_| {
                Error::corrupt(
                    self.st.shared.store.packs_dir(),
                    "metadata value is not UTF-8",
                )
            }),
            None => Ok(None),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> Result<usize> {
        self.st.check_open()?;
        Ok(self.st.metadata.map_or(0, |t| t.count as usize))
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Result<Vec<String>> {
        self.st.check_open()?;
        TreeIter::new(&*self.st.shared, self.st.metadata.as_ref())
            .map(|r| r.map(|(k, _)| String::from_utf8_lossy(&k).into_owned()))
            .collect()
    }
}
