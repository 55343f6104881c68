//! The values of an overlay run: pieces in entry order, each a buffer of the run's own
//! that grows as entries are added, or a slice of the writer's mapped staging journal
//! (the records of a replayed batch, kept with no copy: `Puts::shared_records`).
//!
//! A run built in memory has one piece. A run replayed from a bulk import's journal has
//! one shared piece per journalled batch (thousands at 10^7 samples): an entry is found
//! by a binary search of the pieces' first entries, and in key order ([`Values::get_near`])
//! by stepping from the piece of the entry before.

use hangar_store::{BigBytes, Buffer};

use crate::puts::Ends;

/// A piece's bytes.
#[derive(Clone)]
enum Bytes {
    Owned(BigBytes),
    Shared(Buffer),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Owned(b) => b,
            Bytes::Shared(b) => b.as_slice(),
        }
    }
}

/// Entries packed one after another in `bytes`, ending where `ends` says.
#[derive(Clone)]
struct Piece {
    bytes: Bytes,
    ends: Ends,
}

impl Piece {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, j: usize) -> &[u8] {
        &self.bytes.as_slice()[self.ends.start(j)..self.ends.end(j)]
    }
}

/// A run's values (see the module's documentation).
#[derive(Clone, Default)]
pub(super) struct Values {
    pieces: Vec<Piece>,
    /// The index of each piece's first entry.
    starts: Vec<usize>,
    /// Entries in all.
    len: usize,
}

/// Counts only: a shared piece's `Debug` would list every byte it holds.
impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self
            .pieces
            .iter()
            .filter(|p| matches!(p.bytes, Bytes::Shared(_)))
            .count();
        f.debug_struct("Values")
            .field("len", &self.len)
            .field("pieces", &self.pieces.len())
            .field("shared", &shared)
            .finish()
    }
}

impl Values {
    /// Bytes held.
    pub fn byte_len(&self) -> usize {
        self.pieces.iter().map(|p| p.bytes.as_slice().len()).sum()
    }

    /// The piece holding entry `i` (the last piece whose first entry is at or before it;
    /// an empty piece shares its start with the next, which is then the one found).
    fn piece_of(&self, i: usize) -> usize {
        if self.pieces.len() == 1 {
            return 0;
        }
        self.starts.partition_point(|&s| s <= i).saturating_sub(1)
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        assert!(i < self.len, "entry {i} of {}", self.len);
        let k = self.piece_of(i);
        self.pieces[k].get(i - self.starts[k])
    }

    /// Entry `i`, its piece looked for first at `*hint` and after it (the piece the
    /// entry before was in, when entries are read in order); `*hint` is left at the piece
    /// found.
    pub fn get_near(&self, i: usize, hint: &mut usize) -> &[u8] {
        assert!(i < self.len, "entry {i} of {}", self.len);
        let holds = |k: usize| {
            self.pieces
                .get(k)
                .is_some_and(|p| self.starts[k] <= i && i - self.starts[k] < p.len())
        };
        if !holds(*hint) {
            *hint = if holds(*hint + 1) {
                *hint + 1
            } else {
                self.piece_of(i)
            };
        }
        let k = *hint;
        self.pieces[k].get(i - self.starts[k])
    }

    /// The last piece, made an owned one (added, empty) unless it is one.
    fn tail(&mut self) -> (&mut BigBytes, &mut Ends) {
        if !matches!(
            self.pieces.last(),
            Some(Piece {
                bytes: Bytes::Owned(_),
                ..
            })
        ) {
            self.starts.push(self.len);
            self.pieces.push(Piece {
                bytes: Bytes::Owned(BigBytes::new()),
                ends: Ends::default(),
            });
        }
        match self.pieces.last_mut() {
            Some(Piece {
                bytes: Bytes::Owned(bytes),
                ends,
            }) => (bytes, ends),
            _ => unreachable!("the last piece was just made an owned one"),
        }
    }

    /// Room for `entries` more entries of `bytes` in all, in the owned last piece.
    pub fn reserve(&mut self, entries: usize, bytes: usize) {
        let (b, e) = self.tail();
        b.reserve(bytes);
        e.reserve(entries);
    }

    /// Appends one entry.
    pub fn push(&mut self, value: &[u8]) {
        let (b, e) = self.tail();
        b.extend_from_slice(value);
        e.push(b.len());
        self.len += 1;
    }

    /// Appends entries packed in `bytes`, ending where `ends` says, copied.
    pub fn extend_copied(&mut self, bytes: &[u8], ends: &Ends) {
        let n = ends.len();
        let (b, e) = self.tail();
        e.extend(ends);
        b.extend_from_slice(bytes);
        self.len += n;
    }

    /// Appends entries packed in `bytes` (a slice of the mapped journal), ending where
    /// `ends` says, as a piece of their own: nothing is copied.
    pub fn extend_shared(&mut self, bytes: Buffer, ends: &Ends) {
        if ends.len() == 0 {
            return;
        }
        // An empty last piece (room reserved for entries that came shared) goes.
        if self.pieces.last().is_some_and(|p| p.len() == 0) {
            self.pieces.pop();
            self.starts.pop();
        }
        self.starts.push(self.len);
        self.pieces.push(Piece {
            bytes: Bytes::Shared(bytes),
            ends: ends.clone(),
        });
        self.len += ends.len();
    }

    /// Appends every entry of `other`: its shared pieces shared again, its own copied.
    pub fn extend_from(&mut self, other: &Values) {
        for p in &other.pieces {
            match &p.bytes {
                Bytes::Owned(b) => self.extend_copied(b, &p.ends),
                Bytes::Shared(b) => self.extend_shared(b.clone(), &p.ends),
            }
        }
    }

    /// What the values cost in memory, for tests: bytes held in owned pieces, their
    /// capacity, the heap bytes of every piece's ends, and the count of shared pieces.
    #[cfg(test)]
    pub fn footprint(&self) -> (usize, usize, usize, usize) {
        let (mut held, mut cap, mut ends, mut shared) = (0, 0, 0, 0);
        for p in &self.pieces {
            ends += p.ends.heap_bytes();
            match &p.bytes {
                Bytes::Owned(b) => {
                    held += b.len();
                    cap += b.capacity();
                }
                Bytes::Shared(_) => shared += 1,
            }
        }
        (held, cap, ends, shared)
    }
}
