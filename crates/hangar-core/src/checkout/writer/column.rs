//! The column and metadata handles of a writer checkout.

use super::*;

/// A column of the writer checkout: a dict-like handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WriterColumn {
    pub(super) st: Arc<Mutex<WriterState>>,
    pub(super) name: String,
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
    pub(super) st: Arc<Mutex<WriterState>>,
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
                Error::corrupt(st.shared.store.packs_dir(), "metadata value is not UTF-8")
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
