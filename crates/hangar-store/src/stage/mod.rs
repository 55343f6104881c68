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
use crate::journal::{push_frame, Journal};
use crate::pack::{Object, PackSpool};
use crate::segment::{BatchParts, Block, PendingBatch, SegmentFormat, SegmentWriter, StoredRow};
use crate::store::{
    file_path, pack_path, segment_path, Store, INDEX_DIR, PACKS_DIR, SEGMENTS_DIR, STAGING_DIR,
};

mod commit;
mod frames;
mod recovery;

pub use commit::{CommitStats, PreparedCommit};
use frames::*;
pub use recovery::{
    check_staging, journal_files, staged_base, unreferenced_files, Discarded, JournalFiles,
    OnRecord, StagedBase,
};

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
    header_len: u64,
    blocks: Vec<(Block, Vec<StoredRow>)>,
    /// CRC-32 of the file through its last block, as the journal records it (absent in
    /// journals of earlier builds): resuming the segment then reads none of it.
    end_crc: Option<u32>,
    sealed: Option<FileRecord>,
}

#[derive(Debug)]
struct Slot {
    pending: PendingBatch,
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
    staged: DigestMap<StagedLoc>,
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

    fn slot_for(&mut self, format: &SegmentFormat) -> usize {
        // A writer holds a slot per value format its columns use, a handful: comparing
        // formats beats hashing one per value (a bulk put asks once per value).
        if let Some(i) = self.slots.iter().position(|s| s.pending.format() == format) {
            return i;
        }
        self.slots.push(Slot {
            pending: PendingBatch::new(format.clone()),
            open: None,
        });
        self.slots.len() - 1
    }

    /// Makes room for `additional` more staged values (a bulk put knows its size).
    pub fn reserve_values(&mut self, additional: usize) {
        self.staged.reserve(additional);
    }

    /// True if `digest` is staged or stored.
    pub fn contains_value(&self, digest: &Digest) -> Result<bool> {
        Ok(self.staged.contains_key(digest) || self.store.lookup(digest)?.is_some())
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
        let slot = self.slot_for(v.format);
        let row = self.slots[slot].pending.push(digest, crc, v.shape, v.bytes);
        self.staged.insert(digest, StagedLoc::Pending { slot, row });
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
        let slot = self.slot_for(format);
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
                    data,
                    ends: &ends,
                    shapes: &[],
                },
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
        let appended = self.append_to_slot(i, &pending.parts());
        self.slots[i].pending = pending;
        appended?;
        self.slots[i].pending.clear();
        Ok(())
    }

    /// Appends a batch to slot `i`'s open segment (created, its id reserved first, if
    /// there is none), records where its rows went, queues its frames for the journal's
    /// next write, and seals the segment once it is large enough.
    fn append_to_slot(&mut self, i: usize, batch: &BatchParts<'_>) -> Result<()> {
        let format = batch.format.clone();
        if self.slots[i].open.is_none() {
            let id = self.reserve_file(FileKind::Segment)?;
            let w = SegmentWriter::create(&segment_path(self.store.dir(), id), id, format.clone())?;
            push_segment_created(&mut self.seg_out, id, w.header_len(), &format);
            self.files.push(StagedFile {
                id,
                format,
                header_len: w.header_len(),
                blocks: Vec::new(),
                end_crc: None,
                sealed: None,
            });
            self.slots[i].open = Some(w);
        }
        let writer = self.slots[i].open.as_mut().expect("opened above");
        let id = writer.id();
        let (block, rows) = writer.append_parts(batch)?;
        let end_crc = writer.crc_so_far();
        mark_written(&mut self.staged, id, &rows);
        push_batch_stored(&mut self.seg_out, id, &block, &rows, Some(end_crc));
        let file = self
            .files
            .iter_mut()
            .find(|f| f.id == id)
            .expect("journaled when created");
        file.blocks.push((block, rows));
        file.end_crc = Some(end_crc);
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
        match self.staged.get(digest) {
            Some(StagedLoc::Pending { slot, row }) => Ok(Some(Buffer::from_slice_ref(
                self.slots[*slot].pending.value(*row),
            ))),
            Some(StagedLoc::Written(loc)) => {
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
            None => self.store.read_value(digest),
        }
    }

    /// Number of values staged since the last commit.
    pub fn staged_values(&self) -> usize {
        self.staged.len()
    }

    /// The digests of the values staged since the last commit.
    pub fn staged_digests(&self) -> DigestSet {
        self.staged.keys().copied().collect()
    }

    /// Bytes currently in the journal.
    pub fn journal_len(&self) -> u64 {
        self.journal.len() + (self.seg_out.len() + self.out.len()) as u64
    }

    /// Discards everything staged: a new journal based on `new_base` replaces the old one,
    /// then the segments written only for the discarded changes are deleted. Segments an
    /// index run refers to (left by a commit that was interrupted after publishing its
    /// index run) are kept. The new journal reserves the ids of the files it is about to
    /// delete, so a crash before they are gone leaves them provably garbage.
    pub fn reset(&mut self, new_base: &[u8]) -> Result<usize> {
        self.writable()?;
        let dir = self.store.dir().to_path_buf();
        let (seq, doomed) = {
            let index = self.store.index()?;
            // The staging area's own segments, and files reserved for it that were never
            // recorded (an interrupted write's), unless a published index run lists them.
            let doomed: Vec<(FileId, FileKind)> = self
                .files
                .iter()
                .map(|f| f.id)
                .chain(self.retired.iter().copied())
                .map(|id| (id, FileKind::Segment))
                .chain(self.reserved.iter().copied())
                .filter(|(id, _)| !index.has_file(*id))
                .collect();
            (index.high_seq(), doomed)
        };
        let journal_path = dir.join(STAGING_DIR).join(JOURNAL);
        let frames = journal_start(new_base, seq, &doomed);
        let mut removed = 0;
        if let Err(e) = Journal::create(&journal_path, &frames) {
            if !e.is_storage_full() {
                return Err(e);
            }
            // A full disk: free the staging area's own files first, then write the new
            // journal. Dying in between leaves the old journal naming segments that are
            // gone: damaged staging, which `reset` (discard_damaged) clears.
            for slot in &mut self.slots {
                slot.open = None;
            }
            removed = remove_files(&dir, doomed.iter().copied())?;
            if let Err(e) = Journal::create(&journal_path, &frames) {
                return Err(match e {
                    Error::Io { path, source, .. } => Error::Io {
                        op: "the staged segments were deleted to free space, but could not \
                             write the new staging journal (free some space and reset again; \
                             every commit is intact)",
                        path,
                        source,
                    },
                    e => e,
                });
            }
        }
        for slot in &mut self.slots {
            slot.open = None;
        }
        removed += remove_files(&dir, doomed.iter().copied())?;
        self.restart(new_base)?;
        self.retired.clear();
        self.reserved = doomed;
        Ok(removed)
    }

    /// Rewrites the journal compactly: the base, the store's live frames (no payloads:
    /// everything is flushed first) and `records`, a snapshot of the layer above.
    pub fn compact(&mut self, records: &[Vec<u8>]) -> Result<()> {
        self.writable()?;
        self.flush()?;
        let seq = self.store.index()?.high_seq();
        let created: HashSet<FileId> = self.files.iter().map(|f| f.id).collect();
        let unrecorded: Vec<(FileId, FileKind)> = self
            .reserved
            .iter()
            .filter(|(id, _)| !created.contains(id))
            .copied()
            .chain(self.retired.iter().map(|id| (*id, FileKind::Segment)))
            .collect();
        let mut frames = journal_start(&self.base, seq, &unrecorded);
        for f in &self.files {
            push_segment_created(&mut frames, f.id, f.header_len, &f.format);
            for (i, (block, rows)) in f.blocks.iter().enumerate() {
                let last = i + 1 == f.blocks.len();
                push_batch_stored(&mut frames, f.id, block, rows, f.end_crc.filter(|_| last));
            }
            if let Some(rec) = &f.sealed {
                push_segment_sealed(&mut frames, rec);
            }
        }
        for r in records {
            push_frame(&mut frames, frame::RECORD, r);
        }
        let path = self.store.dir().join(STAGING_DIR).join(JOURNAL);
        Journal::create(&path, &frames)?;
        let (journal, _) = Journal::open(&path)?;
        self.journal = journal;
        self.compactions += 1;
        Ok(())
    }

    /// Writes everything buffered and marks the state of the staging area now: values,
    /// segments and the layer above's records. [`StoreWriter::rollback`] returns to it
    /// exactly, as long as no commit, reset or journal compaction came in between.
    pub fn savepoint(&mut self) -> Result<Savepoint> {
        self.writable()?;
        self.flush()?;
        Ok(Savepoint {
            journal_len: self.journal.len(),
            next_file: self.next_file,
            base: self.base.clone(),
            compactions: self.compactions,
        })
    }

    /// Returns the staging area to `sp`: the journal is cut back to it and the files
    /// created since are deleted (an open segment written to since is cut back when the
    /// writer reopens: the journal no longer acknowledges what came after). Consumes the
    /// writer, discarding whatever it still buffers; open a new one with
    /// [`StoreWriter::open`] to continue. Call only while holding the writer lock.
    pub fn rollback(mut self, sp: &Savepoint) -> Result<()> {
        if sp.base != self.base || sp.compactions != self.compactions {
            return Err(Error::InvalidArgument(
                "cannot roll the staging area back: a commit, reset or journal compaction \
                 came after the savepoint"
                    .into(),
            ));
        }
        self.slots.clear();
        self.out.clear();
        self.seg_out.clear();
        self.journal.truncate(sp.journal_len)?;
        self.journal.sync()?;
        let dir = self.store.dir().to_path_buf();
        let index = self.store.index()?;
        let since: Vec<(FileId, FileKind)> = self
            .files
            .iter()
            .map(|f| (f.id, FileKind::Segment))
            .chain(self.reserved.iter().copied())
            .filter(|(id, _)| *id >= sp.next_file && !index.has_file(*id))
            .collect();
        drop(index);
        remove_files(&dir, since)?;
        Ok(())
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

/// Records that `rows` were written to segment `id`.
fn mark_written(staged: &mut DigestMap<StagedLoc>, id: FileId, rows: &[StoredRow]) {
    staged.reserve(rows.len());
    for r in rows {
        staged.insert(
            r.digest,
            StagedLoc::Written(Location {
                file: id,
                offset: r.offset,
                len: r.len,
                crc: r.crc,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dtype::DType;

    fn writer(store: &Arc<Store>) -> StoreWriter {
        StoreWriter::open(store.clone(), |_| Ok(false), || b"base".to_vec())
            .unwrap()
            .0
    }

    fn put(w: &mut StoreWriter, byte: u8) -> Digest {
        let format = SegmentFormat::FixedTensor {
            dtype: DType::U8,
            shape: vec![4],
        };
        let header = ValueHeader::Tensor {
            dtype: DType::U8,
            shape: &[4],
        };
        let bytes = [byte; 4];
        let digest = header.digest(&bytes);
        w.put_value(ValueInput {
            format: &format,
            header,
            shape: &[4],
            bytes: &bytes,
        })
        .unwrap();
        w.sync_point().unwrap();
        digest
    }

    fn new_store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        Store::create_layout(dir.path()).unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        (dir, store)
    }

    #[test]
    fn reserved_files_never_recorded_are_deleted_and_nothing_else() {
        let (dir, store) = new_store();
        let mut w = writer(&store);
        let d = put(&mut w, 1);
        w.flush().unwrap();
        // A write interrupted after reserving its ids and creating the files, before any
        // frame or index run recorded them.
        let seg = w.reserve_file(FileKind::Segment).unwrap();
        let pack = w.reserve_file(FileKind::Pack).unwrap();
        fs::write(segment_path(dir.path(), seg), b"half a segment").unwrap();
        fs::write(pack_path(dir.path(), pack), b"half a pack").unwrap();
        // A file nobody reserved: nothing proves it is garbage.
        let stray = segment_path(dir.path(), 0x77);
        fs::write(&stray, b"stray").unwrap();
        drop(w);
        let journal = journal_files(dir.path()).unwrap();
        assert!(journal.reserved.contains(&seg) && journal.reserved.contains(&pack));
        let mut w = writer(&store);
        assert!(!segment_path(dir.path(), seg).exists());
        assert!(!pack_path(dir.path(), pack).exists());
        assert_eq!(fs::read(&stray).unwrap(), b"stray");
        assert!(
            w.read_value(&d).unwrap().is_some(),
            "the staged value survives"
        );
        assert_eq!(unreferenced_files(&store).unwrap(), vec![stray.clone()]);
        // New ids go past every id in use, the stray's and the reserved ones.
        assert!(w.next_file > 0x77);
        let next = w.reserve_file(FileKind::Segment).unwrap();
        assert!(next > seg.max(pack).max(0x77));
    }

    #[test]
    fn contiguous_values_are_taken_only_when_all_are_new_and_fixed_shape() {
        let (_dir, store) = new_store();
        let mut w = writer(&store);
        let format = SegmentFormat::FixedTensor {
            dtype: DType::U8,
            shape: vec![4],
        };
        let header = ValueHeader::Tensor {
            dtype: DType::U8,
            shape: &[4],
        };
        let bytes: Vec<u8> = (0..32).collect();
        let sums: Vec<(Digest, u32)> = bytes
            .chunks(4)
            .map(|b| (header.digest(b), crc32(b)))
            .collect();
        // Not fixed-shape, or a repeat inside the batch: declined, nothing staged.
        assert!(!w
            .put_contiguous_values(&SegmentFormat::Bytes, &bytes, &sums)
            .unwrap());
        let mut repeat = sums.clone();
        repeat[7] = repeat[0];
        assert!(!w.put_contiguous_values(&format, &bytes, &repeat).unwrap());
        assert!(!w.contains_value(&sums[0].0).unwrap());
        // Bytes that do not divide into the values: refused.
        let err = w
            .put_contiguous_values(&format, &bytes[..31], &sums)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument, "{err}");
        // All new: taken, and every value reads back.
        assert!(w.put_contiguous_values(&format, &bytes, &sums).unwrap());
        for (i, (d, _)) in sums.iter().enumerate() {
            assert_eq!(
                w.read_value(d).unwrap().unwrap().as_slice(),
                &bytes[i * 4..][..4]
            );
        }
        // Once one of them is staged, the same values are declined (the caller then
        // deduplicates them one by one).
        assert!(!w.put_contiguous_values(&format, &bytes, &sums).unwrap());
    }

    #[test]
    fn buffered_values_reach_the_journal_only_with_a_record_that_refers_to_them() {
        let (dir, store) = new_store();
        let mut w = writer(&store);
        w.set_buffered(true).unwrap();
        let journal = dir.path().join(STAGING_DIR).join(JOURNAL);
        let format = SegmentFormat::FixedTensor {
            dtype: DType::U8,
            shape: vec![1 << 20],
        };
        let header = ValueHeader::Tensor {
            dtype: DType::U8,
            shape: &[1 << 20],
        };
        // Past the flush size (16 MiB) without a record: the batch went to its segment,
        // but the journal holds no frame that locates a value yet (only the reservation
        // of the segment's id, which a reopened writer deletes unless a frame or an index
        // run refers to it), so a crash here leaves no value the staging area does not
        // refer to.
        for i in 0..20u8 {
            let bytes = vec![i; 1 << 20];
            w.put_value(ValueInput {
                format: &format,
                header,
                shape: &[1 << 20],
                bytes: &bytes,
            })
            .unwrap();
        }
        let early = Journal::read(&journal).unwrap();
        assert!(
            !early.iter().any(|f| matches!(
                f.frame_type,
                frame::SEGMENT_CREATED | frame::BATCH_STORED | frame::VALUE
            )),
            "{:?}",
            early.iter().map(|f| f.frame_type).collect::<Vec<_>>()
        );
        let before = fs::metadata(&journal).unwrap().len();
        assert!(fs::read_dir(dir.path().join("segments")).unwrap().count() > 0);
        // The record that refers to them brings them in, in the same write.
        w.record(b"the change").unwrap();
        assert!(fs::metadata(&journal).unwrap().len() > before);
        let frames = Journal::read(&journal).unwrap();
        let last = frames.last().unwrap();
        assert_eq!(
            (last.frame_type, last.body.as_slice()),
            (frame::RECORD, &b"the change"[..])
        );
        assert!(frames.iter().any(|f| f.frame_type == frame::BATCH_STORED));
    }

    #[test]
    fn a_large_write_through_value_goes_to_its_segment_not_into_a_journal_frame() {
        let (dir, store) = new_store();
        let journal = dir.path().join(STAGING_DIR).join(JOURNAL);
        let mut w = writer(&store);
        let n = FLUSH_BYTES + 5;
        let format = SegmentFormat::FixedTensor {
            dtype: DType::U8,
            shape: vec![n as u64],
        };
        let header = ValueHeader::Tensor {
            dtype: DType::U8,
            shape: &[n as u64],
        };
        let bytes: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
        let d = w
            .put_value(ValueInput {
                format: &format,
                header,
                shape: &[n as u64],
                bytes: &bytes,
            })
            .unwrap();
        w.record(b"the change").unwrap();
        w.sync_point().unwrap();
        let frames = Journal::read(&journal).unwrap();
        assert!(frames.iter().all(|f| f.frame_type != frame::VALUE));
        assert!(frames.iter().all(|f| f.body.len() < 1 << 20));
        assert!(frames.iter().any(|f| f.frame_type == frame::BATCH_STORED));
        drop(w);
        let (w, rec) =
            StoreWriter::open(store.clone(), |_| Ok(false), || b"base".to_vec()).unwrap();
        assert_eq!(rec.records, [&b"the change"[..]]);
        assert_eq!(w.read_value(&d).unwrap().unwrap().as_slice(), &bytes[..]);
    }

    #[test]
    fn a_record_group_is_replayed_whole_or_cut_off_whole() {
        let (dir, store) = new_store();
        let journal = dir.path().join(STAGING_DIR).join(JOURNAL);
        let open = || StoreWriter::open(store.clone(), |_| Ok(false), || b"base".to_vec()).unwrap();
        let (mut w, _) = open();
        w.record(b"before").unwrap();
        w.sync_point().unwrap();
        let before = fs::metadata(&journal).unwrap().len();
        let parts = [b"part 1".to_vec(), b"part 2".to_vec(), b"part 3".to_vec()];
        w.record_group(&parts).unwrap();
        w.sync_point().unwrap();
        drop(w);
        let frames = Journal::read(&journal).unwrap();
        let kinds: Vec<u8> = frames.iter().rev().take(3).map(|f| f.frame_type).collect();
        assert_eq!(
            kinds,
            [frame::RECORD, frame::RECORD_PART, frame::RECORD_PART]
        );
        let (w, rec) = open();
        assert_eq!(
            rec.records,
            [&b"before"[..], b"part 1", b"part 2", b"part 3"]
        );
        drop(w);
        // The write cut short after each complete part frame: the group is cut off
        // whole, the journal goes back to where it started, and later records follow.
        let full = fs::read(&journal).unwrap();
        let frame_len = |body: &[u8]| (crate::journal::FRAME_HEADER + body.len()) as u64;
        for cut_after in 1..=2u64 {
            let len = before + cut_after * frame_len(b"part 1");
            fs::write(&journal, &full[..len as usize]).unwrap();
            let (mut w, rec) = open();
            assert_eq!(rec.records, [&b"before"[..]], "cut after part {cut_after}");
            assert_eq!(fs::metadata(&journal).unwrap().len(), before);
            w.record(b"after").unwrap();
            w.sync_point().unwrap();
            drop(w);
            assert_eq!(open().1.records, [&b"before"[..], b"after"]);
        }
        // A part larger than a frame may hold is refused, and nothing is journalled.
        let (mut w, _) = open();
        let len = fs::metadata(&journal).unwrap().len();
        let huge = vec![0u8; MAX_RECORD + 1];
        assert!(matches!(
            w.record_group(&[b"small".to_vec(), huge]),
            Err(Error::InvalidArgument(_))
        ));
        w.sync_point().unwrap();
        assert_eq!(fs::metadata(&journal).unwrap().len(), len);
    }

    #[test]
    fn reset_reserves_what_it_deletes_so_a_crash_in_between_leaves_provable_garbage() {
        let (dir, store) = new_store();
        let mut w = writer(&store);
        put(&mut w, 2);
        w.flush().unwrap();
        let seg = w.files[0].id;
        let path = segment_path(dir.path(), seg);
        let saved = fs::read(&path).unwrap();
        assert_eq!(w.reset(b"base2").unwrap(), 1);
        assert!(!path.exists());
        // As if the process died after the new journal was written, before the delete.
        fs::write(&path, &saved).unwrap();
        assert!(journal_files(dir.path()).unwrap().reserved.contains(&seg));
        drop(w);
        let w = writer(&store);
        assert!(
            !path.exists(),
            "the reset's leftover is deleted at the next open"
        );
        assert_eq!(w.staged_values(), 0);
        assert!(unreferenced_files(&store).unwrap().is_empty());
    }

    #[test]
    fn a_commit_records_the_index_sequence_and_a_missing_run_stops_the_writer() {
        let (dir, store) = new_store();
        let mut w = writer(&store);
        put(&mut w, 3);
        w.commit::<Error>(Vec::new(), &w.staged_digests(), b"next", || Ok(()))
            .unwrap();
        assert_eq!(journal_files(dir.path()).unwrap().index_seq, Some(0));
        drop(w);
        let run = fs::read_dir(dir.path().join(INDEX_DIR))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let seg_files: Vec<_> = fs::read_dir(dir.path().join(SEGMENTS_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(seg_files.len(), 1);
        fs::rename(&run, dir.path().join("aside")).unwrap();
        store.refresh().unwrap();
        let err = StoreWriter::open(store.clone(), |_| Ok(false), || b"x".to_vec()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("index run 0 is missing"), "{err}");
        assert!(seg_files.iter().all(|p| p.exists()));
        assert_eq!(store.missing_runs().len(), 1);
        fs::rename(dir.path().join("aside"), &run).unwrap();
        store.refresh().unwrap();
        assert!(store.missing_runs().is_empty());
        writer(&store);
    }
}
