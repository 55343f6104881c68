//! The writer's state behind its lock: storing values, the bulk queue, commits, merges
//! and resets through one publish step (staging a change and the view: `view.rs`).

use super::*;

impl WriterState {
    pub(super) fn check_open(&self) -> Result<()> {
        match self.mode.closed_reason() {
            Some(why) => Err(Error::Closed(why.to_string())),
            None => Ok(()),
        }
    }

    /// The store's writer; `Closed` unless the checkout is open.
    pub(super) fn sw(&mut self) -> Result<&mut StoreWriter> {
        self.mode.sw_mut()
    }

    /// The store's writer, shared; `Closed` unless the checkout is open.
    pub(super) fn sw_ref(&self) -> Result<&StoreWriter> {
        self.mode.sw()
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
    pub(super) fn publish(
        &mut self,
        objects: PackSpool,
        live: hangar_store::Live<'_>,
        to: Digest,
        reflog: &str,
    ) -> Result<()> {
        let branch = self.staging.base.branch.clone();
        let expected = self.staging.base.commit;
        let new_base = BaseInfo {
            branch: branch.clone(),
            commit: Some(to),
        };
        // A commit with a compressed column may write Parquet segments: the format file
        // lists the feature first (also when the column came from a remote, or from a
        // journal an earlier build wrote).
        if self
            .staging
            .columns
            .values()
            .any(|c| c.schema.compression().is_compressed())
        {
            crate::format::enable_feature(&self.shared.hangar, crate::format::PARQUET_SEGMENTS)?;
        }
        let prepared = self
            .sw()?
            .prepare_commit(objects, live, &new_base.encode())?;
        let hangar = self.shared.hangar.clone();
        if let Err(e) = refs::update_ref(&hangar, &branch, expected, to, reflog) {
            if refs::read_ref(&hangar, &branch).ok().flatten() == Some(to) {
                self.poison(&e);
            }
            return Err(e);
        }
        if let Err(e) = self.sw()?.finish_commit(prepared) {
            self.poison(&e);
            return Err(e.into());
        }
        self.staging = Staging::load(&self.shared, new_base)?;
        Ok(())
    }

    pub(super) fn column(&self, name: &str) -> Result<&crate::staging::ColumnState> {
        self.staging.columns.get(name).ok_or_else(|| {
            Error::NotFound(format!(
                "the staging area has no column {name:?}; its columns are: {}",
                names_list(self.staging.columns.keys())
            ))
        })
    }

    pub(super) fn info(&self, name: &str) -> Result<ColumnInfo> {
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
    pub(super) fn column_as(
        &self,
        name: &str,
        nested: bool,
    ) -> Result<&crate::staging::ColumnState> {
        let c = self.column(name)?;
        if c.nested() != nested {
            return Err(crate::checkout::wrong_layout(name, c.nested()));
        }
        Ok(c)
    }

    /// True if the record-table key exists (a flat sample, a nested marker or subsample).
    pub(super) fn has_raw(&self, column: &str, raw: &[u8]) -> Result<bool> {
        let col = self.column(column)?;
        Ok(self.staging.record(&self.shared, col, raw)?.is_some())
    }

    pub(super) fn record_raw(&self, column: &str, raw: &[u8]) -> Result<Option<Record>> {
        let col = self.column(column)?;
        match self.staging.record(&self.shared, col, raw)? {
            Some(raw) => decode_record(&self.shared, column, &col.schema, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn record_of(&self, column: &str, key: &SampleKey) -> Result<Option<Record>> {
        self.record_raw(column, &key.encode())
    }

    /// A nested sample's records (marker and subsamples), or `None` if it does not exist.
    pub(super) fn sample_entries(
        &self,
        column: &str,
        key: &SampleKey,
    ) -> Result<Option<Vec<Entry>>> {
        let col = self.column_as(column, true)?;
        let prefix = key.nested_prefix();
        if self.staging.record(&self.shared, col, &prefix)?.is_none() {
            return Ok(None);
        }
        crate::staging::overlay_scan(&self.shared, col.base.as_ref(), &col.overlay, &prefix)
            .map(Some)
    }

    /// Stages subsamples of one or more nested samples as one change, all or nothing
    /// (everything is validated first): item `(i, sub, value)` sets subsample `sub` of
    /// `samples[i]`. A sample that does not exist yet is created (also one given no
    /// items). With `replace`, each sample keeps exactly the subsamples given for it.
    pub(super) fn put_nested(
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
    pub(super) fn delete_sample(&mut self, column: &str, key: &SampleKey) -> Result<()> {
        let existing = self
            .sample_entries(column, key)?
            .ok_or_else(|| missing_key(column, key))?;
        let entries = existing.into_iter().map(|(k, _)| (k, None)).collect();
        self.stage(Change::Apply {
            column: column.to_string(),
            entries,
        })
    }

    pub(super) fn read(&self, column: &str, key: &SampleKey, copy: bool) -> Result<Option<Value>> {
        self.read_raw(column, &key.encode(), key, copy)
    }

    pub(super) fn read_raw(
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
        let sw = self.sw_ref()?;
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
    pub(super) fn store_values(
        &mut self,
        column: &str,
        batch: &dyn PutBatch,
    ) -> Result<Puts<'static>> {
        let stored = self.store_batch(column, batch);
        if stored.is_err() {
            // Some of its values may be stored, with no record to refer to them.
            self.staging.mark_values_maybe_dead();
        }
        stored
    }

    fn store_batch(&mut self, column: &str, batch: &dyn PutBatch) -> Result<Puts<'static>> {
        // Disjoint borrows: the column's schema from the staging area, the store writer.
        let col = self.staging.columns.get(column).ok_or_else(|| {
            Error::Internal(format!(
                "column {column:?} vanished between its check and its put"
            ))
        })?;
        let sw = self.mode.sw_mut()?;
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
        // Fixed-shape values end to end, each stored (over INLINE_MAX bytes): hashed a
        // piece at a time with `digest_each`, which runs the blocks of several values
        // through BLAKE3's SIMD lanes at once, each piece's CRCs after its digests.
        let contiguous_sums = |range: std::ops::Range<usize>| {
            let n = range.len();
            let bytes = batch
                .contiguous(range.clone())
                .filter(|_| !variable && n > 0)?;
            let stride = bytes.len() / n;
            if stride <= INLINE_MAX || stride * n != bytes.len() {
                return None;
            }
            let header = schema.value_header(&batch.value(range.start), &fixed_shape);
            let piece = |b: &[u8]| -> Vec<Option<(Digest, u32)>> {
                let mut digests = Vec::with_capacity(b.len() / stride);
                header.digest_each(b, b.len() / stride, &mut digests);
                let crcs = b.chunks_exact(stride).map(crc32);
                digests.into_iter().zip(crcs).map(Some).collect()
            };
            Some(if n >= 64 {
                let pieces: Vec<_> = hangar_store::run_parallel(|| {
                    bytes
                        .par_chunks(stride * hangar_store::HASH_PIECE)
                        .map(piece)
                        .collect()
                });
                pieces.concat()
            } else {
                piece(bytes)
            })
        };
        let n = batch.len();
        let sums_of = |range: std::ops::Range<usize>| -> Vec<Option<(Digest, u32)>> {
            if let Some(sums) = contiguous_sums(range.clone()) {
                sums
            } else if range.len() >= 64 {
                hangar_store::run_parallel(|| range.into_par_iter().map(hash).collect())
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
                    if sw.put_contiguous_values(format, schema.compression(), bytes, &all)? {
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
                                compression: schema.compression(),
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
            let (stored, next_sums) = hangar_store::run_parallel(|| {
                rayon::join(
                    || store(start, sums),
                    || sums_of(next..(next + CHUNK).min(n)),
                )
            });
            stored?;
            (start, sums) = (next, next_sums);
        }
        Ok(records)
    }

    /// Validates a batch, stores its values and stages the records: all or nothing.
    pub(super) fn put_batch(&mut self, column: &str, batch: &dyn PutBatch) -> Result<()> {
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
        let bulk = batch.len() > 1 && !self.sw()?.is_buffered();
        if bulk {
            self.sw()?.set_buffered(true)?;
        }
        let staged = self.store_values(column, batch).and_then(|entries| {
            self.stage(Change::Put {
                column: column.to_string(),
                entries,
            })
        });
        if !bulk || !self.mode.is_open() {
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
    pub(super) fn end_buffered(&mut self) -> Result<()> {
        if let Err(e) = self.sw()?.set_buffered(false) {
            self.poison(&e);
            return Err(e.into());
        }
        Ok(())
    }

    pub(super) fn put_checked(
        &mut self,
        column: &str,
        items: &[(SampleKey, ValueRef<'_>)],
    ) -> Result<()> {
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
    pub(super) fn defer(
        &mut self,
        column: &str,
        key: &SampleKey,
        value: ValueRef<'_>,
    ) -> Result<()> {
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
        let column_id = q.column_id(column);
        let key_start = q.keys.len();
        key.encode_into(&mut q.keys);
        let dims_start = q.dims.len();
        let out = &mut q.bytes[column_id];
        let bytes_start = out.len();
        let kind = match value {
            ValueRef::Tensor(t) => {
                q.dims.extend_from_slice(t.shape());
                out.extend_from_slice(t.bytes());
                DeferredKind::Tensor(t.dtype())
            }
            ValueRef::Str(v) => {
                out.extend_from_slice(v.as_bytes());
                DeferredKind::Str
            }
            ValueRef::Bytes(b) => {
                out.extend_from_slice(b);
                DeferredKind::Bytes
            }
        };
        let bytes = bytes_start..out.len();
        q.queued_bytes += bytes.len();
        q.items.push(DeferredPut {
            column: column_id as u32,
            kind,
            key: key_start..q.keys.len(),
            dims: dims_start..q.dims.len(),
            bytes,
        });
        if q.items.len() >= DEFERRED_ITEMS || q.queued_bytes >= DEFERRED_BYTES {
            self.drain()?;
        }
        Ok(())
    }

    /// Stores every queued put, column by column (puts to different columns commute; within
    /// a column the order is kept), hashing each column's values in parallel.
    pub(super) fn drain(&mut self) -> Result<()> {
        if self.deferred.items.is_empty() {
            return Ok(());
        }
        let mut q = std::mem::take(&mut self.deferred);
        let result = (|| {
            let mut by_column: Vec<Vec<usize>> = vec![Vec::new(); q.columns.len()];
            for (i, d) in q.items.iter().enumerate() {
                by_column[d.column as usize].push(i);
            }
            let order = q.columns.iter().cloned().zip(by_column);
            for (column, idx) in order {
                let entries = self.store_values(&column, &Queued { q: &q, idx })?;
                self.stage(Change::Put { column, entries })?;
            }
            Ok(())
        })();
        q.clear();
        self.deferred = q;
        result
    }

    pub(super) fn new_key(&mut self) -> SampleKey {
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
        if self.mode.is_open() {
            let _ = self.drain();
            if let Ok(sw) = self.sw() {
                let _ = sw.flush();
            }
        }
    }
}
