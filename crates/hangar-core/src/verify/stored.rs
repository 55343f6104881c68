//! The stored values `verify` must check (those in segments, referred to by a record),
//! each once, and their check.
//!
//! A value is marked by its place in a snapshot of the live index runs
//! ([`hangar_store::LiveEntries`]): 4 bytes per index entry, where a map from digest to
//! header took ~40 bytes per value and twice that while it grew (10^7 values of u8[100]:
//! 1 GB of a 3.3 GB peak). Marks are then read in index order, which is digest order
//! within a run, so the values of a piece are looked up and read near each other.
//! Values no entry of the snapshot locates (on a remote and not fetched, referenced but
//! not stored, or stored by a writer after the snapshot) are kept by digest and looked
//! up again when checked.

use std::collections::HashMap;
use std::path::PathBuf;

use rayon::prelude::*;

use hangar_store::{Digest, DigestMap, IndexEntry, LiveEntries};

use super::{problem, Bad, Checked, OwnedHeader};
use crate::error::{Error, Result};
use crate::shared::Shared;

/// Values of at most this many bytes are hashed side by side (BLAKE3's SIMD lanes
/// help values that fit one 1 KiB chunk with their header).
const SIDE_BY_SIDE_MAX: usize = 1024;

/// Pieces checked in parallel at a time (what they hold in memory stays small).
const ROUND: usize = 128;

/// The stored values to check, each with the header its records imply.
pub(super) struct Stored {
    live: LiveEntries,
    /// Per live index entry: 0, or 1 + the id of its value's header.
    marks: Vec<u32>,
    /// Referenced values no entry of `live` locates, with their header's id.
    unlocated: DigestMap<u32>,
    /// Headers by id, each once.
    headers: Vec<OwnedHeader>,
    ids: HashMap<OwnedHeader, u32>,
}

impl Stored {
    /// Nothing marked yet, over the live index runs as they are now.
    pub(super) fn new(shared: &Shared) -> Result<Stored> {
        let live = shared.store.index()?.live_entries();
        Ok(Stored {
            marks: vec![0; live.len()],
            live,
            unlocated: DigestMap::default(),
            headers: Vec::new(),
            ids: HashMap::new(),
        })
    }

    /// The id of `header`.
    pub(super) fn header_id(&mut self, header: OwnedHeader) -> Result<u32> {
        if let Some(&id) = self.ids.get(&header) {
            return Ok(id);
        }
        let id = u32::try_from(self.headers.len())
            .ok()
            .filter(|&id| id < u32::MAX)
            .ok_or_else(|| Error::InvalidArgument("more than 2^32 - 2 value headers".into()))?;
        self.headers.push(header.clone());
        self.ids.insert(header, id);
        Ok(id)
    }

    /// Records that a record refers to stored value `digest`; `header` gives the id of
    /// its header, asked only the first time.
    pub(super) fn add(
        &mut self,
        digest: &Digest,
        header: impl FnOnce(&mut Stored) -> Result<u32>,
    ) -> Result<()> {
        match self.live.position(digest) {
            Some(p) => {
                if self.marks[p] == 0 {
                    self.marks[p] = header(self)? + 1;
                }
            }
            None => {
                if !self.unlocated.contains_key(digest) {
                    let id = header(self)?;
                    self.unlocated.insert(*digest, id);
                }
            }
        }
        Ok(())
    }

    /// How many distinct values were marked.
    pub(super) fn len(&self) -> usize {
        self.marks.iter().filter(|&&m| m != 0).count() + self.unlocated.len()
    }

    /// Checks every marked value: pieces of at most `HASH_PIECE` values of one header,
    /// `ROUND` pieces at a time on the pool.
    pub(super) fn check(&self, shared: &Shared) -> Checked {
        let mut out = Checked::default();
        let mut open: Vec<Vec<Value>> = vec![Vec::new(); self.headers.len()];
        let mut ready: Vec<(u32, Vec<Value>)> = Vec::new();
        let values = self
            .marks
            .iter()
            .enumerate()
            .filter(|(_, &m)| m != 0)
            .map(|(p, &m)| (m - 1, Value::At(p)))
            .chain(
                self.unlocated
                    .iter()
                    .map(|(d, &h)| (h, Value::Unlocated(*d))),
            );
        for (h, v) in values {
            let piece = &mut open[h as usize];
            piece.push(v);
            if piece.len() == hangar_store::HASH_PIECE {
                ready.push((h, std::mem::take(piece)));
                if ready.len() == ROUND {
                    out = out.merge(self.check_pieces(shared, &ready));
                    ready.clear();
                }
            }
        }
        ready.extend(
            open.into_iter()
                .enumerate()
                .filter(|(_, v)| !v.is_empty())
                .map(|(h, v)| (h as u32, v)),
        );
        out.merge(self.check_pieces(shared, &ready))
    }

    fn check_pieces(&self, shared: &Shared, pieces: &[(u32, Vec<Value>)]) -> Checked {
        hangar_store::run_parallel(|| {
            pieces
                .par_iter()
                .map(|(h, piece)| self.check_values(shared, &self.headers[*h as usize], piece))
                .reduce(Checked::default, Checked::merge)
        })
    }

    /// Checks stored values of one header: their bytes, how many are on a remote and
    /// not fetched here, and what is wrong with the others.
    fn check_values(&self, shared: &Shared, header: &OwnedHeader, piece: &[Value]) -> Checked {
        let mut out = Checked::default();
        let header = header.as_header();
        // Values small enough to be hashed side by side, held until they are; the
        // others are hashed as they are read (what the piece holds stays small).
        let mut held = Vec::with_capacity(piece.len());
        let mut got = Vec::with_capacity(piece.len());
        for v in piece {
            let (digest, read) = match v {
                Value::At(p) => match self.live.entry(*p) {
                    Ok(e) => (e.digest, read_entry(shared, &e).map(Some)),
                    Err(e) => {
                        // The entry itself is unreadable: no digest to name it by.
                        let bad = Bad::Unreadable(problem(&Error::Store(e)));
                        out.bad.push((Digest([0; 32]), bad));
                        continue;
                    }
                },
                Value::Unlocated(d) => (*d, read_value(shared, d)),
            };
            match read {
                Ok(Some((path, bytes))) => {
                    if bytes.len() <= SIDE_BY_SIDE_MAX {
                        held.push((digest, path, bytes));
                    } else {
                        got.push((digest, path, bytes.len(), header.digest(&bytes)));
                    }
                }
                Ok(None) => out.not_fetched += 1,
                Err(bad) => out.bad.push((digest, bad)),
            }
        }
        let mut digests = Vec::with_capacity(held.len());
        header.digest_many(held.iter().map(|(_, _, b)| &b[..]), &mut digests);
        got.extend(
            held.into_iter()
                .zip(digests)
                .map(|((d, path, b), g)| (d, path, b.len(), g)),
        );
        for (digest, path, len, got) in got {
            if got == digest {
                out.bytes += len as u64;
            } else {
                // A damaged value's bytes are not counted as held.
                out.bad.push((digest, Bad::Mismatch(path)));
            }
        }
        out
    }
}

/// A value to check: by its entry in the snapshot, or by digest.
#[derive(Clone, Copy)]
enum Value {
    At(usize),
    Unlocated(Digest),
}

/// A stored value's file and bytes, read through the CRC check.
fn read_entry(
    shared: &Shared,
    entry: &IndexEntry,
) -> std::result::Result<(PathBuf, hangar_store::Buffer), Bad> {
    let path = shared.store.entry_file(entry);
    let bytes = shared
        .store
        .read_entry(entry)
        .map_err(|e| Bad::Unreadable(problem(&Error::Store(e))))?;
    Ok((path, bytes))
}

/// One stored value's file and bytes, read through the CRC check, or `None` if it is
/// on a remote and not fetched here.
fn read_value(
    shared: &Shared,
    digest: &Digest,
) -> std::result::Result<Option<(PathBuf, hangar_store::Buffer)>, Bad> {
    // The live index runs only: what the repository holds for anyone who opens it now,
    // not what a run gc retired still locates for this handle's readers.
    let entry = match shared.store.lookup_live(digest) {
        Ok(Some(e)) => e,
        Ok(None) if shared.is_promised(digest) => return Ok(None),
        Ok(None) => return Err(Bad::NotStored),
        Err(e) => return Err(Bad::Unreadable(problem(&Error::Store(e)))),
    };
    read_entry(shared, &entry).map(Some)
}
