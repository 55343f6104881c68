//! The column and metadata handles of a writer checkout.

use super::*;
use crate::checkout::column::{Column, RawEntries, Source, View};

/// A column of the writer checkout: a dict-like handle over the staging area. Cheap to
/// clone. Its read methods are [`Column`]'s; its writes are below.
pub type WriterColumn = Column<StagingRecords>;

/// The records of a writer column: the staging overlay over its base record table, and
/// the store's writer.
#[derive(Debug, Clone)]
pub struct StagingRecords {
    pub(super) st: Arc<Mutex<WriterState>>,
    pub(super) shared: Arc<Shared>,
    pub(super) name: String,
}

// The sealed trait's methods take crate types (see `checkout::column`).
#[allow(private_interfaces, private_bounds)]
impl Source for StagingRecords {
    fn column_name(&self) -> &str {
        &self.name
    }

    fn ensure_open(&self) -> Result<()> {
        lock_state_raw(&self.st).map(|_| ())
    }

    fn with<R>(&self, f: impl FnOnce(&View<'_>) -> Result<R>) -> Result<R> {
        let st = lock_state(&self.st)?;
        let col = st.column(&self.name)?;
        let sw = st.sw_ref()?;
        f(&View {
            shared: &st.shared,
            name: &self.name,
            schema: &col.schema,
            schema_digest: &col.schema_digest,
            base: col.base.as_ref(),
            overlay: Some(&col.overlay),
            values: Values::Staging(sw),
            count: col.count,
            samples: col.samples,
            writable: true,
        })
    }

    fn entries(&self) -> Result<RawEntries<'_>> {
        let st = lock_state(&self.st)?;
        let col = st.column(&self.name)?;
        let keys = overlay_keys(&st.shared, col.base.as_ref(), &col.overlay)?;
        Ok(Box::new(keys.into_iter().map(|k| Ok((k, None)))))
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Column<StagingRecords> {
    /// `Closed` once its checkout is closed (every other method says so too; this is for
    /// callers about to use only what the handle itself holds, such as its name).
    fn state(&self) -> Result<MutexGuard<'_, WriterState>> {
        let st = lock_state(&self.src.st)?;
        st.column(&self.src.name)?;
        Ok(st)
    }

    /// The state, checking that the column has the given layout.
    fn state_as(&self, nested: bool) -> Result<MutexGuard<'_, WriterState>> {
        let st = lock_state(&self.src.st)?;
        st.column_as(&self.src.name, nested)?;
        Ok(st)
    }

    /// The state for staging puts of a flat column, which read no staged record (a
    /// deferred view of the staging area stays deferred).
    fn state_for_puts(&self) -> Result<MutexGuard<'_, WriterState>> {
        let st = lock_state_for_puts(&self.src.st)?;
        st.column_as(&self.src.name, false)?;
        Ok(st)
    }

    /// Sets `key` to `value` (adding or replacing). Validates key and value first:
    /// on any error nothing is written.
    pub fn set<'v>(&self, key: impl Into<SampleKey>, value: impl Into<ValueRef<'v>>) -> Result<()> {
        let key = key.into();
        let value = value.into();
        let mut st = lock_state_raw(&self.src.st)?;
        st.column_as(&self.src.name, false)?;
        if st.sw_ref().is_ok_and(StoreWriter::is_buffered) {
            return st.defer(&self.src.name, &key, value);
        }
        st.put_checked(&self.src.name, &[(key, value)])
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
        let mut st = self.state_for_puts()?;
        if items.is_empty() {
            return Ok(());
        }
        st.put_checked(&self.src.name, &items)
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
        self.state_for_puts()?
            .put_batch(&self.src.name, &contiguous)
    }

    /// Adds `value` under a newly generated unique string key, and returns the key.
    pub fn append<'v>(&self, value: impl Into<ValueRef<'v>>) -> Result<SampleKey> {
        let value = value.into();
        let mut st = self.state_as(false)?;
        let key = loop {
            let k = st.new_key();
            if st.record_of(&self.src.name, &k)?.is_none() {
                break k;
            }
        };
        st.put_checked(&self.src.name, &[(key.clone(), value)])?;
        Ok(key)
    }

    /// Deletes sample `key` (for a nested column, with all its subsamples); `NotFound`
    /// if absent.
    pub fn delete(&self, key: impl Into<SampleKey>) -> Result<()> {
        let key = key.into();
        let mut st = self.state()?;
        if st.column(&self.src.name)?.nested() {
            return st.delete_sample(&self.src.name, &key);
        }
        if st.record_of(&self.src.name, &key)?.is_none() {
            return Err(missing_key(&self.src.name, &key));
        }
        st.stage(Change::Delete {
            column: self.src.name.clone(),
            key: key.encode(),
        })
    }

    /// Deletes `key` and returns its value; `NotFound` if absent.
    pub fn pop(&self, key: impl Into<SampleKey>) -> Result<Value> {
        let key = key.into();
        let mut st = self.state_as(false)?;
        let v = st
            .read(&self.src.name, &key, true)?
            .ok_or_else(|| missing_key(&self.src.name, &key))?;
        st.stage(Change::Delete {
            column: self.src.name.clone(),
            key: key.encode(),
        })?;
        Ok(v)
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
            .put_nested(&self.src.name, std::slice::from_ref(&key), &items, replace)
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
        self.state()?
            .put_nested(&self.src.name, &samples, &flat, false)
    }

    /// Sets subsample `sub` of nested sample `key` (creating the sample if needed).
    pub fn set_subsample<'v>(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
        value: impl Into<ValueRef<'v>>,
    ) -> Result<()> {
        self.state()?.put_nested(
            &self.src.name,
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
            if !st.has_raw(&self.src.name, &key.nested_key(&s))? {
                break s;
            }
        };
        st.put_nested(
            &self.src.name,
            std::slice::from_ref(&key),
            &[(0, sub.clone(), value)],
            false,
        )?;
        Ok(sub)
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
        if !st.has_raw(&self.src.name, &raw)? {
            return Err(crate::checkout::missing_subsample(
                &self.src.name,
                &key,
                &sub,
            ));
        }
        st.stage(Change::Delete {
            column: self.src.name.clone(),
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
        self.state()?.delete_sample(&self.src.name, &key)?;
        Ok(v)
    }
}

/// The staged metadata: a key → string map.
#[derive(Debug, Clone)]
pub struct WriterMetadata {
    pub(super) st: Arc<Mutex<WriterState>>,
}

impl WriterMetadata {
    /// Runs `f` over the staged metadata as it is now.
    fn read<R>(&self, f: impl FnOnce(&MetaView<'_>) -> Result<R>) -> Result<R> {
        let st = lock_state(&self.st)?;
        f(&MetaView {
            shared: &st.shared,
            base: st.staging.meta_base.as_ref(),
            overlay: Some(&st.staging.meta),
            count: st.staging.meta_count,
        })
    }

    /// The value of `key`; `NotFound` if absent.
    pub fn get(&self, key: &str) -> Result<String> {
        self.read(|m| m.get(key))
    }

    /// The value of `key`, or `None`.
    pub fn try_get(&self, key: &str) -> Result<Option<String>> {
        self.read(|m| m.try_get(key))
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
        self.read(|m| Ok(m.count as usize))
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Result<Vec<String>> {
        self.read(|m| m.keys())
    }
}
