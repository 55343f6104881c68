//! The write side of the store: values staged by the single writer, the staging
//! journal, open segments, and the commit and reset protocols.
//!
//! Durability levels. A value staged *write-through* (the default) is appended to the
//! journal together with its bytes before `sync_point` returns, so it survives kill -9
//! of the process. In *buffered* mode (the bulk path, what the original Hangar calls the
//! context-manager form) values and records are kept in memory and written when the
//! buffer fills or when [`StoreWriter::flush`] runs; then the segment batch is written
//! first and the journal frames that refer to it after, so a crash never leaves a
//! journal record pointing at bytes that were not written. Power-loss durability comes
//! with a commit, which fsyncs everything before moving the branch ref.
//!
//! The journal interleaves the store's own frames (segments created, batches stored,
//! segments sealed, value payloads) with opaque frames of the layer above (`Base` once,
//! then `Record`s), and replays both in order when the writer reopens.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_buffer::{Buffer, MutableBuffer};

use crate::codec::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::digest::{crc32, Digest, DigestMap, DigestSet, ValueHeader};
use crate::error::{Error, IoContext, Result};
use crate::failpoint;
use crate::fsutil;
use crate::index::{EntryKind, FileId, FileKind, FileRecord, IndexEntry, Location};
use crate::journal::{push_frame, Journal, Scans};
use crate::pack::{Object, PackSpool};
use crate::segment::{
    BatchParts, Block, PendingBatch, SegmentFormat, SegmentWriter, StoredRow, ValueData,
};
use crate::compression::Compression;
use crate::store::{
    file_path, pack_path, parquet_path, segment_path, Store, INDEX_DIR, PACKS_DIR, SEGMENTS_DIR, STAGING_DIR,
};

mod checks;
mod commit;
mod compress;
mod frames;
mod gc;
mod ingest;
mod recovery;
mod restart;
mod staged_map;

pub use commit::{CommitStats, Live, PreparedCommit};
pub use ingest::{ForeignValue, IngestStats};
use frames::*;
use staged_map::{location, Ref, Rows, StagedMap};
pub use gc::{GcFile, GcOptions, GcReport, Reachable, DEFAULT_COMPACT_BELOW};
pub use checks::{
    check_staging, journal_files, staged_base, unreferenced_files, JournalFiles, StagedBase,
};
pub use recovery::{Discarded, OnRecord, RecordFrame};
pub use restart::JournalEpoch;

/// A pending batch is written once it holds this many bytes...
const FLUSH_BYTES: usize = 16 << 20;
/// ...or this many rows.
const FLUSH_ROWS: usize = 1 << 16;
/// Buffered journal frames are written once they reach this size.
const FLUSH_FRAME_BYTES: usize = 8 << 20;
/// The largest record of the layer above one journal frame takes; a larger change is
/// split into parts and journalled with [`StoreWriter::record_group`]. (A frame's length
/// field is 32 bits and readers refuse frames past `journal::MAX_FRAME`.)
pub const MAX_RECORD: usize = 256 << 20;
/// An open segment is sealed (and a new one started) beyond this size.
const SEAL_BYTES: u64 = 1 << 30;
const JOURNAL: &str = "journal";
const JOURNAL_NEXT: &str = "journal.next";

/// A value to stage.
#[derive(Debug, Clone, Copy)]
pub struct ValueInput<'a> {
    /// Which kind of segment holds it.
    pub format: &'a SegmentFormat,
    /// Its column's compression: compressed values are sealed into Parquet segments.
    pub compression: Compression,
    /// Its canonical header (what the digest covers besides the bytes).
    pub header: ValueHeader<'a>,
    /// Its shape (used for variable-shape tensors).
    pub shape: &'a [u64],
    /// Its bytes, C order.
    pub bytes: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
enum StagedLoc {
    Pending { slot: usize, row: usize },
    Written(Location),
}

#[derive(Debug)]
struct StagedFile {
    id: FileId,
    format: SegmentFormat,
    /// Compressed: the commit writes its live rows to a Parquet segment and retires it.
    compression: Compression,
    header_len: u64,
    /// Its blocks, each with how many of `rows` it holds.
    blocks: Vec<(Block, usize)>,
    /// Every row written to it, in order (the staged map refers to them).
    rows: Vec<StoredRow>,
    /// Rewritten by a commit (its live values staged again elsewhere); kept in the list,
    /// empty, so the positions the staged map refers to stay put.
    retired: bool,
    /// CRC-32 of the file through its last block, as the journal records it (absent in
    /// journals of earlier builds): resuming the segment then reads none of it.
    end_crc: Option<u32>,
    sealed: Option<FileRecord>,
}

#[derive(Debug)]
struct Slot {
    pending: PendingBatch,
    compression: Compression,
    open: Option<SegmentWriter>,
}

/// What the journal held for the layer above, returned when the writer opens.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The `Base` frame body.
    pub base: Vec<u8>,
    /// The `Record` frame bodies, in order.
    pub records: Vec<Vec<u8>>,
    /// True if the journal was replayed after an interrupted commit that did land.
    pub finished_interrupted_commit: bool,
}

/// A state of the staging area to return to: see [`StoreWriter::savepoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Savepoint {
    journal_len: u64,
    next_file: FileId,
    base: Vec<u8>,
    compactions: u64,
}

/// The single writer's side of the store.
#[derive(Debug)]
pub struct StoreWriter {
    store: Arc<Store>,
    journal: Journal,
    out: Vec<u8>,
    /// Frames about segments (created, batch stored, sealed), written ahead of `out`.
    seg_out: Vec<u8>,
    buffered: bool,
    slots: Vec<Slot>,
    staged: StagedMap,
    files: Vec<StagedFile>,
    next_file: FileId,
    base: Vec<u8>,
    /// Ids reserved in this journal (see `frame::FILE_RESERVED`).
    reserved: Vec<(FileId, FileKind)>,
    /// Journal rewrites so far (a savepoint does not survive one).
    compactions: u64,
    /// Buffered values reached the flush size: flush after the next record frame.
    flush_due: bool,
    /// Staging segments a commit rewrote (their live values copied to new segments):
    /// deleted once the next journal, which reserves them, is in place.
    retired: Vec<FileId>,
    /// A read-only view opened without the staged values (see
    /// [`StoreWriter::open_read_only`]): reading one is an error.
    records_only: bool,
}

/// Reads `loc` from a segment another process may still be appending to or cutting
/// back: `pread` of what the file holds now (never more than its length), so a range
/// the file no longer has is an error, not a fault.
fn read_open_segment(path: &std::path::Path, loc: &Location) -> Result<Buffer> {
    use std::os::unix::fs::FileExt;
    let file = fsutil::open_no_follow(fsutil::no_follow().read(true), "open", path)?;
    let have = file.metadata().ctx("stat", path)?.len();
    let end = loc.offset.checked_add(loc.len).filter(|&e| e <= have);
    let n = end
        .and_then(|_| usize::try_from(loc.len).ok())
        .ok_or_else(|| {
            Error::corrupt(
                path,
                format!(
                    "staged value at {}+{} lies beyond the {have} bytes the segment holds (its \
                 writer may have cut it back; read again)",
                    loc.offset, loc.len
                ),
            )
        })?;
    let mut m = MutableBuffer::from_len_zeroed(n);
    file.read_exact_at(m.as_slice_mut(), loc.offset)
        .ctx("read", path)?;
    Ok(Buffer::from(m))
}

impl StoreWriter {
    /// Refuses a change through a read-only view.
    fn writable(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::InvalidArgument(
                "this is a read-only view of the staging area, taken without the writer \
                 lock; open a writer checkout to change it"
                    .into(),
            ));
        }
        Ok(())
    }

    /// True for a view opened by [`StoreWriter::open_read_only`] (its journal is one
    /// that cannot be written).
    pub fn is_read_only(&self) -> bool {
        self.journal.is_read_only()
    }

    /// Takes the next file id and records it in the journal (one small write) before the
    /// file is created, so an interrupted write's file can be proven garbage.
    fn reserve_file(&mut self, kind: FileKind) -> Result<FileId> {
        let id = self.next_file;
        let mut e = Encoder::new();
        e.u32(id).u8(kind as u8);
        let mut framed = Vec::new();
        push_frame(&mut framed, frame::FILE_RESERVED, e.as_slice());
        self.journal.append(&framed)?;
        self.next_file += 1;
        self.reserved.push((id, kind));
        Ok(id)
    }

    /// The store this writer adds to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The `Base` frame body of the current journal.
    pub fn base(&self) -> &[u8] {
        &self.base
    }

    /// Switches buffering. Leaving buffered mode flushes everything buffered.
    pub fn set_buffered(&mut self, buffered: bool) -> Result<()> {
        self.writable()?;
        if self.buffered && !buffered {
            self.flush()?;
        }
        self.buffered = buffered;
        Ok(())
    }

    /// True in buffered (bulk) mode.
    pub fn is_buffered(&self) -> bool {
        self.buffered
    }

    fn slot_for(&mut self, format: &SegmentFormat, compression: Compression) -> usize {
        // A writer holds a slot per value format (and compression) its columns use, a
        // handful: comparing formats beats hashing one per value (a bulk put asks once
        // per value).
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.compression == compression && s.pending.format() == format)
        {
            return i;
        }
        self.slots.push(Slot {
            pending: PendingBatch::new(format.clone()),
            compression,
            open: None,
        });
        self.slots.len() - 1
    }

    /// Makes room for `additional` more staged values (a bulk put knows its size).
    pub fn reserve_values(&mut self, additional: usize) {
        self.staged.reserve(additional);
    }

    /// True if `digest` is staged or stored (in a live index run: see
    /// [`Store::is_stored`]).
    pub fn contains_value(&self, digest: &Digest) -> Result<bool> {
        let rows = Rows::new(&self.files, &self.slots);
        Ok(self.staged.contains_key(digest, &rows) || self.store.is_stored(digest)?)
    }

    /// Stages a value, returning its digest. Content already staged or stored is not
    /// written again (deduplication).
    pub fn put_value(&mut self, v: ValueInput<'_>) -> Result<Digest> {
        let digest = v.header.digest(v.bytes);
        let crc = crc32(v.bytes);
        self.put_hashed_value(v, digest, crc)?;
        Ok(digest)
    }

    /// Stages a value whose digest and CRC-32 of its bytes the caller computed (e.g. in
    /// parallel, while each value is in cache once). Returns true if the value was new.
    pub fn put_hashed_value(
        &mut self,
        v: ValueInput<'_>,
        digest: Digest,
        crc: u32,
    ) -> Result<bool> {
        self.writable()?;
        debug_assert_eq!(crc, crc32(v.bytes), "the caller's CRC is the bytes' CRC");
        if self.contains_value(&digest)? {
            return Ok(false);
        }
        let slot = self.slot_for(v.format, v.compression);
        let row = self.slots[slot].pending.push(digest, crc, v.shape, v.bytes);
        let rows = Rows::new(&self.files, &self.slots);
        self.staged.insert(&digest, Ref::pending(slot, row), &rows);
        let p = &self.slots[slot].pending;
        let flush = p.data_len() >= FLUSH_BYTES || p.rows() >= FLUSH_ROWS;
        // A write-through value is journalled with its bytes, unless its batch goes to
        // the segment now (below): then its location is, in the same write. A value of
        // 16 MiB or more is always such, so no frame carries a value larger than that
        // (a frame's length field is 32 bits: one of several GiB was cut off at the next
        // open as a torn tail).
        if !self.buffered && !flush {
            let mut e = Encoder::with_capacity(v.bytes.len() + 96);
            v.format.encode(&mut e);
            e.digest(&digest).u32(crc).varint(v.shape.len() as u64);
            for d in v.shape {
                e.u64(*d);
            }
            e.bytes(v.bytes);
            if v.compression.is_compressed() {
                let (code, level) = v.compression.code();
                e.u8(code).u8(level);
            }
            push_frame(&mut self.out, frame::VALUE, e.as_slice());
        }
        if flush {
            // The batch goes to its segment now (its disk write then overlaps the rest of
            // the put, and the buffer is reused at its flush size); in a bulk session its
            // frames reach the journal with the next record frame, never before it: a
            // crash must not leave values in the journal that no staged change refers to
            // (they would be sealed into the next commit for good). A batch written to
            // the segment but never journalled is cut off when the segment is resumed.
            self.flush_slot(slot)?;
            if self.buffered {
                self.flush_due = true;
            }
        }
        Ok(true)
    }

    /// Adds an opaque record frame of the layer above.
    pub fn record(&mut self, body: &[u8]) -> Result<()> {
        self.record_group(std::slice::from_ref(&body))
    }

    /// Adds records of the layer above that stand or fall together (one change split
    /// into parts, each under [`MAX_RECORD`] bytes): replayed all, or — if the journal
    /// was cut inside them — not at all (see `frame::RECORD_PART`).
    pub fn record_group<B: AsRef<[u8]>>(&mut self, bodies: &[B]) -> Result<()> {
        self.writable()?;
        if let Some(big) = bodies.iter().find(|b| b.as_ref().len() > MAX_RECORD) {
            return Err(Error::InvalidArgument(format!(
                "a staged change part of {} bytes is larger than a journal frame holds \
                 ({MAX_RECORD} bytes); split it",
                big.as_ref().len()
            )));
        }
        for (i, body) in bodies.iter().enumerate() {
            let last = i + 1 == bodies.len();
            let kind = if last {
                frame::RECORD
            } else {
                frame::RECORD_PART
            };
            push_frame(&mut self.out, kind, body.as_ref());
        }
        if self.buffered && (self.flush_due || self.out.len() >= FLUSH_FRAME_BYTES) {
            self.flush()?;
        }
        Ok(())
    }

    /// The end of one write-through operation: its frames are written to the journal
    /// now (one `write`). In buffered mode this does nothing.
    pub fn sync_point(&mut self) -> Result<()> {
        if self.buffered {
            return Ok(());
        }
        self.write_out()
    }

    fn write_out(&mut self) -> Result<()> {
        // One write, segment frames first: a write cut short by a crash keeps a prefix,
        // and a change must never survive without the frames that locate its values. A
        // write-through put has no segment frames and writes `out` as it is (no copy).
        if !self.seg_out.is_empty() {
            let seg_len = self.seg_out.len();
            self.seg_out.extend_from_slice(&self.out);
            if let Err(e) = self.journal.append(&self.seg_out) {
                self.seg_out.truncate(seg_len);
                return Err(e);
            }
            self.seg_out.clear();
        } else if !self.out.is_empty() {
            self.journal.append(&self.out)?;
        }
        self.out.clear();
        Ok(())
    }

    /// Writes every pending batch to its segment, then every buffered journal frame.
    pub fn flush(&mut self) -> Result<()> {
        for i in 0..self.slots.len() {
            self.flush_slot(i)?;
        }
        self.write_out()?;
        self.flush_due = false;
        Ok(())
    }

    /// Stages values of one fixed-shape tensor format that lie end to end in `bytes`
    /// (`sums`: each value's digest and CRC-32, in order) by writing them to the open
    /// segment straight from `bytes`, with no copy into a pending batch. Only when every
    /// value is new — none staged or stored, no two equal — and the format is a
    /// fixed-shape one; otherwise nothing is done and `false` is returned, and the caller
    /// stages them one by one (deduplicating). Frames as for a flushed batch.
    pub fn put_contiguous_values(
        &mut self,
        format: &SegmentFormat,
        compression: Compression,
        bytes: &[u8],
        sums: &[(Digest, u32)],
    ) -> Result<bool> {
        self.writable()?;
        let n = sums.len();
        if n == 0 || !matches!(format, SegmentFormat::FixedTensor { .. }) {
            return Ok(false);
        }
        if !bytes.len().is_multiple_of(n) {
            return Err(Error::InvalidArgument(format!(
                "{} bytes do not divide into {n} values of one size",
                bytes.len()
            )));
        }
        let size = bytes.len() / n;
        let mut seen = DigestSet::default();
        seen.reserve(n);
        for (d, _) in sums {
            if !seen.insert(*d) || self.contains_value(d)? {
                return Ok(false);
            }
        }
        debug_assert!(
            sums.iter()
                .zip(bytes.chunks_exact(size))
                .all(|((_, c), b)| *c == crc32(b)),
            "the caller's CRCs are the values' CRCs"
        );
        let slot = self.slot_for(format, compression);
        // Values put before these are written first, so a segment holds values in the
        // order they were put.
        self.flush_slot(slot)?;
        // Batches of at most the flush size (an Arrow batch holds at most 2^31 elements).
        let per_batch = (FLUSH_BYTES / size.max(1)).clamp(1, FLUSH_ROWS);
        for (k, part) in sums.chunks(per_batch).enumerate() {
            let data = &bytes[k * per_batch * size..][..part.len() * size];
            let digests: Vec<u8> = part.iter().flat_map(|(d, _)| d.0).collect();
            let crcs: Vec<u32> = part.iter().map(|(_, c)| *c).collect();
            let ends: Vec<usize> = (1..=part.len()).map(|i| i * size).collect();
            self.append_to_slot(
                slot,
                &BatchParts {
                    format,
                    digests: &digests,
                    crcs: &crcs,
                    data: ValueData::Whole(data),
                    ends: &ends,
                    shapes: &[],
                },
                false,
            )?;
        }
        if self.buffered {
            self.flush_due = true;
        }
        Ok(true)
    }

    fn flush_slot(&mut self, i: usize) -> Result<()> {
        if self.slots[i].pending.is_empty() {
            return Ok(());
        }
        // Taken out while it is appended (the append needs the writer whole), put back
        // after, so its buffers are reused.
        let empty = PendingBatch::new(self.slots[i].pending.format().clone());
        let pending = std::mem::replace(&mut self.slots[i].pending, empty);
        let appended = self.append_to_slot(i, &pending.parts(), true);
        self.slots[i].pending = pending;
        appended?;
        self.slots[i].pending.clear();
        Ok(())
    }

    /// Appends a batch to slot `i`'s open segment (created, its id reserved first, if
    /// there is none), records where its rows went, queues its frames for the journal's
    /// next write, and seals the segment once it is large enough. `pending`: the batch is
    /// the slot's pending batch, taken out of it while it is written.
    fn append_to_slot(&mut self, i: usize, batch: &BatchParts<'_>, pending: bool) -> Result<()> {
        let format = batch.format.clone();
        if self.slots[i].open.is_none() {
            let id = self.reserve_file(FileKind::Segment)?;
            let w = SegmentWriter::create(&segment_path(self.store.dir(), id), id, format.clone())?;
            let compression = self.slots[i].compression;
            push_segment_created(&mut self.seg_out, id, w.header_len(), &format, compression);
            self.files.push(StagedFile::new(id, format, compression, w.header_len()));
            self.slots[i].open = Some(w);
        }
        let writer = self.slots[i].open.as_mut().expect("opened above");
        let id = writer.id();
        let (block, rows) = writer.append_parts(batch)?;
        let end_crc = writer.crc_so_far();
        push_batch_stored(&mut self.seg_out, id, &block, &rows, Some(end_crc));
        let at = self
            .files
            .iter()
            .position(|f| f.id == id)
            .expect("journaled when created");
        let first = self.files[at].push_block(block, rows);
        self.files[at].end_crc = Some(end_crc);
        let rows = Rows {
            files: &self.files,
            slots: &self.slots,
            detached: pending.then_some((i, batch.digests)),
        };
        mark_written(&mut self.staged, &rows, at, first);
        if self.slots[i]
            .open
            .as_ref()
            .is_some_and(|w| w.len() >= SEAL_BYTES)
        {
            self.seal_slot(i)?;
        }
        Ok(())
    }

    fn seal_slot(&mut self, i: usize) -> Result<()> {
        let Some(writer) = self.slots[i].open.as_mut() else {
            return Ok(());
        };
        // A failed seal leaves the segment open (cut back), so staging stays consistent.
        let record = writer.seal()?;
        self.slots[i].open = None;
        push_segment_sealed(&mut self.seg_out, &record);
        if let Some(f) = self.files.iter_mut().find(|f| f.id == record.id) {
            f.sealed = Some(record);
        }
        Ok(())
    }

    /// Reads a value: staged ones from memory or their segment, stored ones zero-copy.
    /// `None` if the digest is neither staged nor stored.
    pub fn read_value(&self, digest: &Digest) -> Result<Option<Buffer>> {
        let rows = Rows::new(&self.files, &self.slots);
        match self.staged.get(digest, &rows).map(|r| rows.loc(r)) {
            Some(StagedLoc::Pending { slot, row }) => Ok(Some(Buffer::from_slice_ref(
                self.slots[slot].pending.value(row),
            ))),
            Some(StagedLoc::Written(ref loc)) => {
                let open = self
                    .slots
                    .iter()
                    .filter_map(|s| s.open.as_ref())
                    .find(|w| w.id() == loc.file);
                let unsealed = || {
                    self.files
                        .iter()
                        .any(|f| f.id == loc.file && f.sealed.is_none())
                };
                let buf = match open {
                    Some(w) => {
                        let v = w.read_at(loc.offset, loc.len)?;
                        let mut m = MutableBuffer::with_capacity(v.len());
                        m.extend_from_slice(&v);
                        Buffer::from(m)
                    }
                    // A read-only view's open segment may be cut back by its writer at
                    // any time: read, never map it (a mapped page past the end faults).
                    None if self.is_read_only() && unsealed() => {
                        read_open_segment(&segment_path(self.store.dir(), loc.file), loc)?
                    }
                    None => self
                        .store
                        .map_file(loc.file, FileKind::Segment)?
                        .buffer(loc.offset, loc.len)?,
                };
                if crc32(&buf) != loc.crc {
                    return Err(Error::corrupt(
                        segment_path(self.store.dir(), loc.file),
                        format!("checksum mismatch for staged value {}", digest.short()),
                    ));
                }
                Ok(Some(buf))
            }
            None => match self.store.read_value(digest)? {
                None if self.records_only => Err(Error::InvalidArgument(format!(
                    "value {} is staged, and this view of the staging area was opened \
                     without its values (records only); open a view with them to read it",
                    digest.short()
                ))),
                found => Ok(found),
            },
        }
    }

    /// Number of values staged since the last commit.
    pub fn staged_values(&self) -> usize {
        self.staged.len()
    }

    /// The digests of the values staged since the last commit.
    pub fn staged_digests(&self) -> DigestSet {
        let rows = Rows::new(&self.files, &self.slots);
        self.staged.refs().map(|r| rows.digest(r)).collect()
    }

    /// Bytes currently in the journal.
    pub fn journal_len(&self) -> u64 {
        self.journal.len() + (self.seg_out.len() + self.out.len()) as u64
    }

}

/// Deletes the staging area's own files named by `files` (ids the journal reserved or
/// created; one already gone is fine), then makes the deletions durable. Returns how
/// many were removed. The one place a writer deletes data files.
fn remove_files(
    dir: &std::path::Path,
    files: impl IntoIterator<Item = (FileId, FileKind)>,
) -> Result<usize> {
    let mut removed = 0;
    for (id, kind) in files {
        let p = file_path(dir, id, kind);
        match fs::remove_file(&p) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &p, e)),
        }
    }
    if removed > 0 {
        fsutil::fsync_dir(&dir.join(SEGMENTS_DIR))?;
        fsutil::fsync_dir(&dir.join(PACKS_DIR))?;
    }
    Ok(removed)
}

/// Records that the rows of file `at` from row `first` on hold their values now.
fn mark_written(staged: &mut StagedMap, rows: &Rows<'_>, at: usize, first: usize) {
    let written = &rows.files[at].rows[first..];
    staged.reserve(written.len());
    for (j, r) in written.iter().enumerate() {
        staged.insert(&r.digest, Ref::written(at, first + j), rows);
    }
}

#[cfg(test)]
mod tests;
