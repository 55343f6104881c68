//! A batch of (key, record) puts to one column in columnar form: every key in one
//! buffer, every record in another, with their end offsets. A bulk batch is built, journalled,
//! replayed and added to the staging overlay as a few large copies instead of two
//! allocations, a varint pair and a push per entry.
//!
//! Journal encoding (a staged change with tag 8, after the column name): `n varint`, the
//! keys' lengths, the keys' bytes (`len varint | bytes`), the records' lengths, the records'
//! bytes. Lengths are `0 | len varint` when all `n` are equal (integer keys, fixed-shape
//! inline records: the usual bulk batch), else `1 | n × u32 LE`. No key or record is empty,
//! so a decoder never sizes anything by a count the bytes do not hold.

use std::borrow::Cow;

use hangar_store::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use hangar_store::Buffer;

/// Puts to one column, keys and records each concatenated. Borrowed from a journal
/// frame when replayed, owned when built.
#[derive(Debug, Clone, Default)]
pub(crate) struct Puts<'a> {
    keys: Cow<'a, [u8]>,
    /// Where each key ends in `keys`.
    key_ends: Ends,
    /// The records, unless they were moved into `shared` ([`Puts::share_own_records`]).
    records: Cow<'a, [u8]>,
    record_ends: Ends,
    /// The records as a buffer the overlay keeps with no copy: a slice of the writer's
    /// mapped staging journal they were replayed from ([`Puts::share_records`]), or the
    /// batch's own records moved into it.
    shared: SharedRecords,
}

/// Equal when the entries are, wherever the records are held.
impl PartialEq for Puts<'_> {
    fn eq(&self, other: &Puts<'_>) -> bool {
        self.keys == other.keys
            && self.key_ends == other.key_ends
            && self.record_bytes() == other.record_bytes()
            && self.record_ends == other.record_ends
    }
}

impl Eq for Puts<'_> {}

/// The records of a [`Puts`] as a buffer the overlay can keep ([`Puts::shared_records`]).
#[derive(Clone, Default)]
struct SharedRecords(Option<Buffer>);

/// Its length only: a buffer's `Debug` lists every byte.
impl std::fmt::Debug for SharedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedRecords({:?})", self.0.as_ref().map(Buffer::len))
    }
}

/// The end offsets of entries packed one after another in a buffer. Entries of one
/// length (integer keys, fixed-shape inline records: a bulk batch) are held as that
/// length and a count, 16 bytes in all instead of 8 per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ends {
    Uniform { len: usize, n: usize },
    Each(Vec<usize>),
}

impl Default for Ends {
    fn default() -> Ends {
        Ends::Uniform { len: 0, n: 0 }
    }
}

impl Ends {
    pub fn len(&self) -> usize {
        match self {
            Ends::Uniform { n, .. } => *n,
            Ends::Each(v) => v.len(),
        }
    }

    /// Where entry `i` ends.
    pub fn end(&self, i: usize) -> usize {
        match self {
            Ends::Uniform { len, n } => {
                assert!(i < *n, "entry {i} of {n}");
                (i + 1) * len
            }
            Ends::Each(v) => v[i],
        }
    }

    /// Where entry `i` starts.
    pub fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.end(i - 1)
        }
    }

    /// The total length of the entries.
    pub fn total(&self) -> usize {
        self.len().checked_sub(1).map_or(0, |i| self.end(i))
    }

    /// The one length all entries have, if they do.
    fn uniform(&self) -> Option<usize> {
        match self {
            Ends::Uniform { len, .. } => Some(*len),
            Ends::Each(_) => None,
        }
    }

    fn each_mut(&mut self, more: usize) -> &mut Vec<usize> {
        if let Ends::Uniform { len, n } = *self {
            let mut v = Vec::with_capacity(n + more);
            v.extend((1..=n).map(|i| i * len));
            *self = Ends::Each(v);
        }
        match self {
            Ends::Each(v) => v,
            Ends::Uniform { .. } => unreachable!("just converted"),
        }
    }

    /// Adds an entry ending at `end` (at or past [`Ends::total`]).
    pub fn push(&mut self, end: usize) {
        let entry = end - self.total();
        match self {
            Ends::Uniform { len, n } if *n == 0 => (*len, *n) = (entry, 1),
            Ends::Uniform { len, n } if *len == entry => *n += 1,
            _ => self.each_mut(1).push(end),
        }
    }

    /// Appends `other`'s entries, placed after this one's.
    pub fn extend(&mut self, other: &Ends) {
        let base = self.total();
        match (&mut *self, other) {
            (Ends::Uniform { len, n }, Ends::Uniform { len: l2, n: n2 })
                if *n == 0 || *n2 == 0 || len == l2 =>
            {
                if *n == 0 {
                    *len = *l2;
                }
                *n += n2;
            }
            _ => {
                let v = self.each_mut(other.len());
                match other {
                    Ends::Uniform { len, n } => v.extend((1..=*n).map(|i| base + i * len)),
                    Ends::Each(o) => v.extend(o.iter().map(|e| base + e)),
                }
            }
        }
    }

    /// Room for `more` entries (by doubling, when each is held).
    pub fn reserve(&mut self, more: usize) {
        if let Ends::Each(v) = self {
            v.reserve(more);
        }
    }

    /// Bytes held beyond the enum itself (for memory accounting in tests).
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        match self {
            Ends::Uniform { .. } => 0,
            Ends::Each(v) => v.capacity() * std::mem::size_of::<usize>(),
        }
    }
}

/// The keys of a [`Puts`], in order (see [`Puts::keys`]).
#[derive(Debug)]
pub(crate) enum Keys<'p> {
    Uniform(std::slice::ChunksExact<'p, u8>),
    Each(&'p Puts<'p>, usize),
}

impl<'p> Iterator for Keys<'p> {
    type Item = &'p [u8];

    fn next(&mut self) -> Option<&'p [u8]> {
        match self {
            Keys::Uniform(chunks) => chunks.next(),
            Keys::Each(puts, i) => {
                let k = (*i < puts.len()).then(|| puts.key(*i))?;
                *i += 1;
                Some(k)
            }
        }
    }
}

const UNIFORM: u8 = 0;
const EACH: u8 = 1;
/// Bytes an entry of a put (or an apply) costs in its encoding beyond its key and record,
/// at most: two u32 lengths (or varints) and a tag.
pub(crate) const ENTRY_OVERHEAD: usize = 11;

impl<'a> Puts<'a> {
    /// Empty, with room for `key_bytes` of keys and `record_bytes` of records. (Ends
    /// need no room: they stay one length and a count while the entries agree.)
    pub fn with_room(key_bytes: usize, record_bytes: usize) -> Puts<'static> {
        Puts {
            keys: Cow::Owned(Vec::with_capacity(key_bytes)),
            key_ends: Ends::default(),
            records: Cow::Owned(Vec::with_capacity(record_bytes)),
            record_ends: Ends::default(),
            shared: SharedRecords(None),
        }
    }

    pub fn len(&self) -> usize {
        self.key_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.key_ends.len() == 0
    }

    /// Adds `key` with the record `write` appends to the records buffer.
    pub fn push_with(&mut self, key: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
        self.keys.to_mut().extend_from_slice(key);
        self.key_ends.push(self.keys.len());
        self.unshare();
        write(self.records.to_mut());
        self.record_ends.push(self.records.len());
    }

    /// The records' bytes: the shared buffer's when there is one (records moved into it
    /// by [`Puts::share_own_records`] are no longer in `records`).
    fn record_bytes(&self) -> &[u8] {
        match &self.shared.0 {
            Some(b) => b.as_slice(),
            None => &self.records,
        }
    }

    /// Drops the shared buffer before the records change, moving back records that
    /// [`Puts::share_own_records`] moved into it.
    fn unshare(&mut self) {
        if let Some(b) = self.shared.0.take() {
            if matches!(&self.records, Cow::Owned(v) if v.is_empty()) {
                self.records = Cow::Owned(b.as_slice().to_vec());
            }
        }
    }

    /// Moves records this batch owns into a shared buffer (no copy), which the overlay
    /// then keeps as a piece of a run instead of copying them; borrowed records are left
    /// as they are.
    pub fn share_own_records(&mut self) {
        if self.shared.0.is_none() {
            if let Cow::Owned(v) = &mut self.records {
                if !v.is_empty() {
                    self.shared = SharedRecords(Some(Buffer::from_vec(std::mem::take(v))));
                }
            }
        }
    }

    /// Lets the records be kept with no copy when `share` gives them as a buffer (a
    /// slice of the writer's mapped journal, which they were decoded from: a buffer at
    /// another address is not taken).
    pub fn share_records(&mut self, share: impl FnOnce(&[u8]) -> Option<Buffer>) {
        if let Cow::Borrowed(records) = self.records {
            let same = |b: &Buffer| b.as_ptr() == records.as_ptr() && b.len() == records.len();
            let shared = share(records).filter(same);
            self.shared = SharedRecords(shared);
        }
    }

    /// The records as a buffer the overlay can keep, if [`Puts::share_records`] or
    /// [`Puts::share_own_records`] made one.
    pub fn shared_records(&self) -> Option<&Buffer> {
        self.shared.0.as_ref()
    }

    pub fn push(&mut self, key: &[u8], record: &[u8]) {
        self.push_with(key, |b| b.extend_from_slice(record));
    }

    pub fn key(&self, i: usize) -> &[u8] {
        &self.keys[self.key_ends.start(i)..self.key_ends.end(i)]
    }

    pub fn record(&self, i: usize) -> &[u8] {
        &self.record_bytes()[self.record_ends.start(i)..self.record_ends.end(i)]
    }

    /// Every (key, record) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        (0..self.len()).map(|i| (self.key(i), self.record(i)))
    }

    /// The entries `range`, owning their bytes.
    pub fn range(&self, range: std::ops::Range<usize>) -> Puts<'static> {
        range.map(|i| (self.key(i), self.record(i))).collect()
    }

    /// An upper bound of the encoding's length past its count: the keys, the records,
    /// and at most a u32 length of each (what [`Puts::encode`] writes, plus headroom).
    pub fn encoded_bound(&self) -> usize {
        self.keys.len() + self.record_bytes().len() + ENTRY_OVERHEAD * self.len()
    }

    /// Every key in order. Keys of one length (a bulk batch's integer keys) are cut
    /// by `chunks_exact`, with no offset arithmetic per key: replaying a journal of
    /// millions of puts walks its keys twice, and this is most of that time.
    pub fn keys(&self) -> Keys<'_> {
        match self.key_ends {
            Ends::Uniform { len, n } if len > 0 => {
                Keys::Uniform(self.keys[..len * n].chunks_exact(len))
            }
            _ => Keys::Each(self, 0),
        }
    }

    /// Whether the keys are strictly increasing (sorted, no key twice).
    pub fn sorted_unique(&self) -> bool {
        let mut keys = self.keys();
        let Some(mut prev) = keys.next() else {
            return true;
        };
        keys.all(|k| std::mem::replace(&mut prev, k) < k)
    }

    /// The concatenated keys and their end offsets, and the same of the records.
    pub fn columns(&self) -> (&[u8], &Ends, &[u8], &Ends) {
        (
            &self.keys,
            &self.key_ends,
            self.record_bytes(),
            &self.record_ends,
        )
    }

    /// Appends the encoding (see the module's documentation).
    pub fn encode(&self, e: &mut Encoder) {
        e.varint(self.len() as u64);
        encode_lens(e, &self.key_ends);
        e.bytes(&self.keys);
        encode_lens(e, &self.record_ends);
        e.bytes(self.record_bytes());
    }

    /// The same puts, owning their bytes.
    pub fn into_owned(self) -> Puts<'static> {
        // Owned records stay where they are (in `records`, or moved into the shared
        // buffer); borrowed ones are copied.
        let (records, shared) = match self.records {
            Cow::Owned(v) => (v, self.shared),
            Cow::Borrowed(b) => (b.to_vec(), SharedRecords(None)),
        };
        Puts {
            keys: Cow::Owned(self.keys.into_owned()),
            key_ends: self.key_ends,
            records: Cow::Owned(records),
            record_ends: self.record_ends,
            shared,
        }
    }

    /// Decodes [`Puts::encode`] output, borrowing the keys and records.
    pub fn decode(d: &mut Decoder<'a>) -> DecodeResult<Puts<'a>> {
        // Each entry holds at least one key byte: a count beyond the input is refused
        // before anything is sized by it.
        let n = d.count(1)?;
        let key_lens = Lens::decode(d, n)?;
        let keys = d.bytes()?;
        let key_ends = key_lens.ends(n, keys.len(), "key")?;
        let record_lens = Lens::decode(d, n)?;
        let records = d.bytes()?;
        let record_ends = record_lens.ends(n, records.len(), "record")?;
        Ok(Puts {
            keys: Cow::Borrowed(keys),
            key_ends,
            records: Cow::Borrowed(records),
            record_ends,
            shared: SharedRecords(None),
        })
    }
}

impl<K: AsRef<[u8]>, R: AsRef<[u8]>> FromIterator<(K, R)> for Puts<'static> {
    fn from_iter<T: IntoIterator<Item = (K, R)>>(iter: T) -> Self {
        let mut p = Puts::default();
        for (k, r) in iter {
            p.push(k.as_ref(), r.as_ref());
        }
        p
    }
}

fn encode_lens(e: &mut Encoder, ends: &Ends) {
    if let Some(len) = ends.uniform() {
        e.u8(UNIFORM).varint(len as u64);
        return;
    }
    e.u8(EACH);
    for i in 0..ends.len() {
        // A key or a record is far below 4 GiB (and a journal frame below 2 GiB).
        e.u32(u32::try_from(ends.end(i) - ends.start(i)).expect("an entry under 4 GiB"));
    }
}

/// The lengths of `n` entries as encoded.
enum Lens<'a> {
    Uniform(usize),
    Each(&'a [u8]),
}

impl<'a> Lens<'a> {
    fn decode(d: &mut Decoder<'a>, n: usize) -> DecodeResult<Lens<'a>> {
        match d.u8()? {
            UNIFORM => {
                let len = usize::try_from(d.varint()?)
                    .map_err(|_| DecodeError("absurd entry length".into()))?;
                Ok(Lens::Uniform(len))
            }
            EACH => {
                let bytes = n
                    .checked_mul(4)
                    .ok_or_else(|| DecodeError("absurd entry count".into()))?;
                Ok(Lens::Each(d.take(bytes)?))
            }
            t => Err(DecodeError(format!("bad lengths tag {t}"))),
        }
    }

    /// The end offsets, checked to be non-empty entries that exactly fill `total` bytes.
    fn ends(&self, n: usize, total: usize, what: &str) -> DecodeResult<Ends> {
        let bad = || {
            DecodeError(format!(
                "{what} lengths do not add up to the {total} bytes held"
            ))
        };
        match *self {
            Lens::Uniform(len) => {
                if len == 0 && n > 0 {
                    return Err(DecodeError(format!("empty {what}")));
                }
                if n.checked_mul(len) != Some(total) {
                    return Err(bad());
                }
                Ok(Ends::Uniform { len, n })
            }
            Lens::Each(b) => {
                let mut ends = Vec::with_capacity(n);
                let mut end = 0usize;
                for c in b.chunks_exact(4) {
                    let len = u32::from_le_bytes(c.try_into().expect("4 bytes")) as usize;
                    if len == 0 {
                        return Err(DecodeError(format!("empty {what}")));
                    }
                    end = end
                        .checked_add(len)
                        .filter(|&e| e <= total)
                        .ok_or_else(bad)?;
                    ends.push(end);
                }
                if end != total {
                    return Err(bad());
                }
                Ok(Ends::Each(ends))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: &Puts<'_>) -> Vec<u8> {
        let mut e = Encoder::new();
        p.encode(&mut e);
        let enc = e.finish();
        let mut d = Decoder::new(&enc);
        let back = Puts::decode(&mut d).unwrap();
        d.finish().unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            p.iter().collect::<Vec<_>>()
        );
        for cut in 0..enc.len() {
            let mut d = Decoder::new(&enc[..cut]);
            assert!(
                Puts::decode(&mut d).and_then(|_| d.finish()).is_err(),
                "cut {cut}"
            );
        }
        enc
    }

    #[test]
    fn uniform_and_varied_lengths_round_trip() {
        let uniform: Puts<'_> = (0u8..100).map(|i| ([1, i], [i; 66])).collect();
        let enc = round_trip(&uniform);
        // Uniform lengths cost two bytes each, not a length per entry.
        assert!(enc.len() < 100 * (2 + 66) + 16, "{}", enc.len());
        let varied: Puts<'_> = (1u8..50)
            .map(|i| (vec![i; i as usize], vec![i; 2 * i as usize]))
            .collect();
        round_trip(&varied);
        round_trip(&Puts::default());
        assert!(uniform.sorted_unique());
        let pairs: Vec<_> = varied.iter().collect();
        assert!(!pairs
            .into_iter()
            .rev()
            .collect::<Puts<'_>>()
            .sorted_unique());
    }

    #[test]
    fn keys_walk_uniform_and_varied_keys_alike() {
        let uniform: Puts<'_> = (0u8..5).map(|i| ([1, i], [i; 3])).collect();
        assert!(matches!(uniform.keys(), Keys::Uniform(_)));
        let varied: Puts<'_> = (1u8..6).map(|i| (vec![i; i as usize], vec![i])).collect();
        assert!(matches!(varied.keys(), Keys::Each(..)));
        for p in [&uniform, &varied] {
            let by_index: Vec<&[u8]> = (0..p.len()).map(|i| p.key(i)).collect();
            assert_eq!(p.keys().collect::<Vec<_>>(), by_index);
            assert!(p.sorted_unique());
        }
        assert_eq!(Puts::default().keys().count(), 0);
        assert!(Puts::default().sorted_unique());
        // A key twice, or out of order, in either form.
        for keys in [[[1u8, 2], [1, 3], [1, 3]], [[1, 2], [1, 4], [1, 3]]] {
            let p: Puts<'_> = keys.iter().map(|k| (k.to_vec(), vec![9])).collect();
            assert!(matches!(p.keys(), Keys::Uniform(_)));
            assert!(!p.sorted_unique(), "{keys:?}");
        }
        let p: Puts<'_> = [(vec![2u8], vec![1]), (vec![1, 1], vec![1])]
            .into_iter()
            .collect();
        assert!(!p.sorted_unique());
    }

    #[test]
    fn ends_stay_uniform_while_lengths_agree() {
        let mut e = Ends::default();
        for end in [3, 6, 9] {
            e.push(end);
        }
        assert_eq!(e, Ends::Uniform { len: 3, n: 3 });
        let mut other = Ends::default();
        other.push(3);
        e.extend(&other);
        assert_eq!(e, Ends::Uniform { len: 3, n: 4 });
        e.push(13);
        assert_eq!(e, Ends::Each(vec![3, 6, 9, 12, 13]));
        assert_eq!((e.start(4), e.end(4), e.total()), (12, 13, 13));
        // Empty entries (the values of deletes) and a uniform run after a varied one.
        let mut z = Ends::default();
        z.push(0);
        z.push(0);
        assert_eq!((z.clone(), z.total()), (Ends::Uniform { len: 0, n: 2 }, 0));
        z.extend(&Ends::Uniform { len: 2, n: 2 });
        assert_eq!(z, Ends::Each(vec![0, 0, 2, 4]));
        e.extend(&Ends::Uniform { len: 2, n: 2 });
        assert_eq!(e, Ends::Each(vec![3, 6, 9, 12, 13, 15, 17]));
        let mut u = Ends::Uniform { len: 4, n: 1 };
        u.extend(&Ends::Each(vec![1, 5]));
        assert_eq!(u, Ends::Each(vec![4, 5, 9]));
    }

    #[test]
    fn lengths_that_do_not_fill_the_bytes_are_refused() {
        let decode = |b: &[u8]| Puts::decode(&mut Decoder::new(b)).map(|p| p.len());
        let mut e = Encoder::new();
        // Two keys of 3 bytes claimed, 5 held.
        e.varint(2).u8(UNIFORM).varint(3).bytes(&[1; 5]);
        e.u8(UNIFORM).varint(1).bytes(&[1; 2]);
        assert!(decode(&e.finish()).is_err());
        // A huge count with empty keys: refused, nothing sized by it.
        let mut e = Encoder::new();
        e.varint(3).u8(UNIFORM).varint(0).bytes(&[]);
        assert!(decode(&e.finish()).is_err());
        // Per-entry lengths with an empty entry, or past the bytes held.
        for lens in [[0u32, 2], [1, 7], [1, 1]] {
            let mut e = Encoder::new();
            e.varint(2)
                .u8(EACH)
                .u32(lens[0])
                .u32(lens[1])
                .bytes(&[9; 2]);
            e.u8(UNIFORM).varint(1).bytes(&[1; 2]);
            let r = decode(&e.finish());
            assert_eq!(r.is_ok(), lens == [1, 1], "{lens:?}");
        }
        // An unknown lengths tag.
        let mut e = Encoder::new();
        e.varint(1).u8(2);
        assert!(decode(&e.finish()).is_err());
    }

    #[test]
    fn records_moved_into_a_shared_buffer_read_and_change_as_before() {
        let built: Puts<'_> = (0u8..100)
            .map(|i| ([1, i], vec![i; 1 + i as usize % 3]))
            .collect();
        let mut p = built.clone();
        p.share_own_records();
        let shared = p.shared_records().expect("owned records are moved").clone();
        assert!(matches!(&p.records, Cow::Owned(v) if v.is_empty()));
        // Everything reads the moved records: entries, columns, encoding, equality.
        assert_eq!(p, built);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            built.iter().collect::<Vec<_>>()
        );
        assert_eq!(p.columns().2, shared.as_slice());
        assert_eq!(p.encoded_bound(), built.encoded_bound());
        assert_eq!(round_trip(&p), round_trip(&built));
        // Sharing twice moves nothing more; an owned copy keeps them.
        p.share_own_records();
        assert_eq!(
            p.shared_records().map(|b| b.as_ptr()),
            Some(shared.as_ptr())
        );
        assert_eq!(p.clone().into_owned(), built);
        // A push after it moves them back and appends.
        p.push(&[2, 0], &[7]);
        assert!(p.shared_records().is_none());
        let mut want = built.clone();
        want.push(&[2, 0], &[7]);
        assert_eq!(p, want);
        // Borrowed records stay borrowed (a journal's are shared by `share_records`).
        let mut e = Encoder::new();
        built.encode(&mut e);
        let enc = e.finish();
        let mut b = Puts::decode(&mut Decoder::new(&enc)).unwrap();
        b.share_own_records();
        assert!(b.shared_records().is_none());
        // A buffer at another address than the records is not taken for them.
        b.share_records(|part| Some(Buffer::from_vec(part.to_vec())));
        assert!(b.shared_records().is_none());
        assert_eq!(b, built);
    }
}
