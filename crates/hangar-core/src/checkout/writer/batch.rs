//! What a put hands to the store: batches of samples accessed by index ([`PutBatch`]),
//! the bulk session ([`BulkSession`]) and its queue of validated puts ([`Deferred`]).

use super::*;

/// A record-table key and its value.
pub(super) type Entry = (Vec<u8>, Vec<u8>);

/// A sample set in a bulk session, validated but not yet hashed or stored. Everything
/// lives in flat arenas of [`Deferred`], so queueing a sample allocates nothing.
pub(super) struct DeferredPut {
    pub(super) column: u32,
    pub(super) kind: DeferredKind,
    pub(super) key: std::ops::Range<usize>,
    pub(super) dims: std::ops::Range<usize>,
    pub(super) bytes: std::ops::Range<usize>,
}

#[derive(Clone, Copy)]
pub(super) enum DeferredKind {
    Tensor(hangar_store::DType),
    Str,
    Bytes,
}

/// In a bulk session, `set` only validates and copies; the queue is hashed in parallel
/// and stored when it fills, and before any other operation (so reads see every write).
#[derive(Default)]
pub(super) struct Deferred {
    pub(super) items: Vec<DeferredPut>,
    /// The queued puts' columns, each once (`DeferredPut::column` indexes it).
    pub(super) columns: Vec<String>,
    pub(super) keys: Vec<u8>,
    pub(super) dims: Vec<usize>,
    /// The values' bytes, one buffer per column (`bytes[c]` holds column `c`'s values
    /// end to end in put order), so a column's fixed-size values reach their segment in
    /// one write from here, with no further copy.
    pub(super) bytes: Vec<Vec<u8>>,
    /// Bytes queued in all columns.
    pub(super) queued_bytes: usize,
    /// The column of the last put (puts alternate between a few columns).
    last: usize,
}

impl Deferred {
    pub(super) fn clear(&mut self) {
        self.items.clear();
        self.columns.clear();
        self.keys.clear();
        self.dims.clear();
        // Emptied, not freed: the next drain reuses their room — unless puts to many
        // columns in turn left more room than one full queue, which is then given back.
        let room: usize = self.bytes.iter().map(Vec::capacity).sum();
        if room > 2 * DEFERRED_BYTES {
            self.bytes.clear();
        }
        self.bytes.iter_mut().for_each(Vec::clear);
        self.queued_bytes = 0;
        self.last = 0;
    }

    /// The index of `column` in `columns`, added if new.
    pub(super) fn column_id(&mut self, column: &str) -> usize {
        if self.columns.get(self.last).is_some_and(|c| c == column) {
            return self.last;
        }
        let id = match self.columns.iter().position(|c| c == column) {
            Some(id) => id,
            None => {
                self.columns.push(column.to_string());
                if self.bytes.len() < self.columns.len() {
                    self.bytes.push(Vec::new());
                }
                self.columns.len() - 1
            }
        };
        self.last = id;
        id
    }
}

/// Queued puts that start a drain (enough for the store's hash/store pipeline to run
/// several chunks per column), and queued bytes that do.
pub(super) const DEFERRED_ITEMS: usize = 1 << 16;
pub(super) const DEFERRED_BYTES: usize = 16 << 20;

/// Samples to put, accessed by index so that a batch of N samples never needs a vector
/// of N values (a `ValueRef` is a few hundred bytes: it carries its dimensions inline).
pub(super) trait PutBatch: Sync {
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
pub(super) struct Pairs<'a> {
    pub(super) keys: Vec<Vec<u8>>,
    pub(super) values: Vec<ValueRef<'a>>,
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
pub(super) struct Contiguous<'a> {
    pub(super) keys: FlatKeys,
    pub(super) dtype: hangar_store::DType,
    pub(super) sample_shape: &'a [usize],
    pub(super) sample_bytes: usize,
    pub(super) bytes: &'a [u8],
}

/// Encoded keys end to end (one buffer, not an allocation per key).
#[derive(Default)]
pub(super) struct FlatKeys {
    pub(super) bytes: Vec<u8>,
    pub(super) ends: Vec<usize>,
}

impl FlatKeys {
    /// Validates and appends `key`.
    pub(super) fn push(&mut self, key: &SampleKey) -> Result<()> {
        key.validate()?;
        key.encode_into(&mut self.bytes);
        self.ends.push(self.bytes.len());
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn get(&self, i: usize) -> &[u8] {
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
pub(super) struct Queued<'a> {
    pub(super) q: &'a Deferred,
    pub(super) idx: Vec<usize>,
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
        let bytes = &self.q.bytes[d.column as usize][d.bytes.clone()];
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
    fn contiguous(&self, range: std::ops::Range<usize>) -> Option<&[u8]> {
        // `idx` is every queued put of one column, in put order, and that column's buffer
        // holds their bytes in that order: any run of them lies end to end.
        let first = &self.q.items[*self.idx.get(range.start)?];
        let last = &self.q.items[*self.idx.get(range.end.checked_sub(1)?)?];
        if first.column != last.column {
            return None;
        }
        self.q
            .bytes
            .get(first.column as usize)?
            .get(first.bytes.start..last.bytes.end)
    }
}

pub(super) fn bytes_of<'a>(v: &ValueRef<'a>) -> &'a [u8] {
    match *v {
        ValueRef::Tensor(t) => t.bytes(),
        ValueRef::Str(s) => s.as_bytes(),
        ValueRef::Bytes(b) => b,
    }
}

/// A buffered bulk session (the fast path). Ends with [`BulkSession::finish`], or when
/// dropped (errors on drop are lost, so prefer `finish`).
#[derive(Debug)]
pub struct BulkSession<'a> {
    pub(super) co: &'a WriterCheckout,
    pub(super) done: bool,
}

impl BulkSession<'_> {
    /// Writes everything buffered and returns to write-through mode.
    pub fn finish(mut self) -> Result<()> {
        self.done = true;
        lock_state_for_puts(&self.co.st)?.end_buffered()
    }
}

impl Drop for BulkSession<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Ok(mut st) = lock_state_for_puts(&self.co.st) {
                let _ = st.end_buffered();
            }
        }
    }
}
