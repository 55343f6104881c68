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
use crate::pack::{self, Object};
use crate::segment::{Block, PendingBatch, SegmentFormat, SegmentWriter, StoredRow};
use crate::store::{
    pack_path, segment_path, Store, INDEX_DIR, PACKS_DIR, SEGMENTS_DIR, STAGING_DIR,
};

mod frame {
    pub const BASE: u8 = 1;
    pub const RECORD: u8 = 2;
    pub const SEGMENT_CREATED: u8 = 3;
    pub const BATCH_STORED: u8 = 4;
    pub const SEGMENT_SEALED: u8 = 5;
    pub const VALUE: u8 = 6;
}

/// A pending batch is written once it holds this many bytes...
const FLUSH_BYTES: usize = 16 << 20;
/// ...or this many rows.
const FLUSH_ROWS: usize = 1 << 16;
/// Buffered journal frames are written once they reach this size.
const FLUSH_FRAME_BYTES: usize = 8 << 20;
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

/// Figures about a commit's storage work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// New values indexed.
    pub values: usize,
    /// New objects written.
    pub objects: usize,
    /// Bytes of objects written.
    pub object_bytes: u64,
    /// Segments sealed by this commit.
    pub segments_sealed: usize,
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
    slot_of: HashMap<SegmentFormat, usize>,
    staged: DigestMap<StagedLoc>,
    files: Vec<StagedFile>,
    next_file: FileId,
    base: Vec<u8>,
}

fn decode_err(path: &std::path::Path) -> impl Fn(DecodeError) -> Error + '_ {
    move |e| Error::corrupt(path, format!("bad staging journal frame: {e}"))
}

fn file_ids_in(dir: &std::path::Path, ext: &str) -> Result<Vec<FileId>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).ctx("list", dir)? {
        let entry = entry.ctx("list", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(ext) {
            if let Ok(id) = u32::from_str_radix(stem, 16) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

impl StoreWriter {
    /// Opens the writer side: finishes or discards an interrupted commit, replays the
    /// journal, resumes open segments, and removes files nothing refers to (left by a
    /// crash). Call only while holding the repository's writer lock.
    ///
    /// `committed(base)` says whether a commit whose next journal starts with `base` did
    /// publish its ref. `initial_base` makes the base frame of a brand-new journal.
    pub fn open(
        store: Arc<Store>,
        committed: impl Fn(&[u8]) -> Result<bool>,
        initial_base: impl FnOnce() -> Vec<u8>,
    ) -> Result<(StoreWriter, Recovered)> {
        let dir = store.dir().to_path_buf();
        let staging = dir.join(STAGING_DIR);
        for sub in [STAGING_DIR, PACKS_DIR, INDEX_DIR, SEGMENTS_DIR] {
            fsutil::remove_temp_files(&dir.join(sub))?;
        }
        store.index_mut()?.remove_covered_runs()?;
        store.refresh()?;
        let journal_path = staging.join(JOURNAL);
        let next_path = staging.join(JOURNAL_NEXT);
        let mut finished = false;
        if next_path.exists() {
            // journal.next is written atomically, so only outside damage makes one that
            // does not decode; it then names no base, and is not kept.
            let frames = match Journal::read(&next_path) {
                Ok(f) => f,
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => Vec::new(),
                Err(e) => return Err(e),
            };
            let base = frames
                .first()
                .filter(|f| f.frame_type == frame::BASE)
                .map(|f| f.body.clone());
            let landed = match &base {
                Some(b) => committed(b)?,
                None => false,
            };
            if landed {
                fs::rename(&next_path, &journal_path).ctx("rename", &next_path)?;
                finished = true;
            } else {
                fs::remove_file(&next_path).ctx("remove", &next_path)?;
            }
            fsutil::fsync_dir(&staging)?;
        }
        if !journal_path.exists() {
            let mut out = Vec::new();
            push_frame(&mut out, frame::BASE, &initial_base());
            Journal::create(&journal_path, &out)?;
        }
        let (journal, frames) = Journal::open(&journal_path)?;
        let mut w = StoreWriter {
            store,
            journal,
            out: Vec::new(),
            seg_out: Vec::new(),
            buffered: false,
            slots: Vec::new(),
            slot_of: HashMap::new(),
            staged: DigestMap::default(),
            files: Vec::new(),
            next_file: 0,
            base: Vec::new(),
        };
        let mut recovered = w.replay(&journal_path, frames)?;
        recovered.finished_interrupted_commit = finished;
        w.base = recovered.base.clone();
        w.remove_unreferenced_files()?;
        Ok((w, recovered))
    }

    fn replay(
        &mut self,
        path: &std::path::Path,
        frames: Vec<crate::journal::Frame>,
    ) -> Result<Recovered> {
        let de = decode_err(path);
        let mut stored = DigestSet::default();
        for f in frames
            .iter()
            .filter(|f| f.frame_type == frame::BATCH_STORED)
        {
            let (_, _, rows) = decode_batch_stored(&f.body).map_err(&de)?;
            stored.extend(rows.iter().map(|r| r.digest));
        }
        let mut rec = Recovered::default();
        for (i, f) in frames.into_iter().enumerate() {
            match f.frame_type {
                frame::BASE if i == 0 => rec.base = f.body,
                frame::RECORD => rec.records.push(f.body),
                frame::SEGMENT_CREATED => {
                    let mut d = Decoder::new(&f.body);
                    let id = d.u32().map_err(&de)?;
                    let header_len = d.u64().map_err(&de)?;
                    let format = SegmentFormat::decode(&mut d).map_err(&de)?;
                    self.files.push(StagedFile {
                        id,
                        format,
                        header_len,
                        blocks: Vec::new(),
                        sealed: None,
                    });
                }
                frame::BATCH_STORED => {
                    let (id, block, rows) = decode_batch_stored(&f.body).map_err(&de)?;
                    let file = self.files.iter_mut().find(|s| s.id == id).ok_or_else(|| {
                        Error::corrupt(path, format!("batch stored in unknown segment {id:08x}"))
                    })?;
                    mark_written(&mut self.staged, id, &rows);
                    file.blocks.push((block, rows));
                }
                frame::SEGMENT_SEALED => {
                    let mut d = Decoder::new(&f.body);
                    let rec_ = FileRecord {
                        id: d.u32().map_err(&de)?,
                        kind: FileKind::Segment,
                        len: d.u64().map_err(&de)?,
                        crc: d.u32().map_err(&de)?,
                    };
                    let file =
                        self.files
                            .iter_mut()
                            .find(|s| s.id == rec_.id)
                            .ok_or_else(|| {
                                Error::corrupt(
                                    path,
                                    format!("unknown segment {:08x} sealed", rec_.id),
                                )
                            })?;
                    file.sealed = Some(rec_);
                }
                frame::VALUE => {
                    let mut d = Decoder::new(&f.body);
                    let format = SegmentFormat::decode(&mut d).map_err(&de)?;
                    let digest = d.digest().map_err(&de)?;
                    let crc = d.u32().map_err(&de)?;
                    let rank = d.count(8).map_err(&de)?;
                    let shape = (0..rank)
                        .map(|_| d.u64())
                        .collect::<DecodeResult<Vec<_>>>()
                        .map_err(&de)?;
                    let bytes = d.bytes().map_err(&de)?;
                    if crc32(bytes) != crc {
                        return Err(Error::corrupt(
                            path,
                            format!("staged value {} fails its checksum", digest.short()),
                        ));
                    }
                    if !stored.contains(&digest) && !self.staged.contains_key(&digest) {
                        let slot = self.slot_for(&format);
                        let row = self.slots[slot].pending.push(digest, crc, &shape, bytes);
                        self.staged.insert(digest, StagedLoc::Pending { slot, row });
                    }
                }
                t => {
                    return Err(Error::corrupt(
                        path,
                        format!("unknown staging journal frame type {t} at frame {i}"),
                    ))
                }
            }
        }
        // Resume the segments that were still open.
        let dir = self.store.dir().to_path_buf();
        for i in 0..self.files.len() {
            if self.files[i].sealed.is_some() {
                continue;
            }
            let f = &self.files[i];
            let blocks: Vec<Block> = f.blocks.iter().map(|(b, _)| *b).collect();
            let writer = SegmentWriter::resume(
                &segment_path(&dir, f.id),
                f.id,
                f.format.clone(),
                f.header_len,
                blocks,
            )?;
            let format = f.format.clone();
            let slot = self.slot_for(&format);
            if self.slots[slot].open.is_some() {
                return Err(Error::corrupt(path, "two open segments of the same format"));
            }
            self.slots[slot].open = Some(writer);
        }
        Ok(rec)
    }

    /// Deletes segments and packs that neither the index nor the journal refers to, and
    /// picks the next file id. Such files are left by a crash before their first journal
    /// frame or index entry, so nothing can refer to them.
    fn remove_unreferenced_files(&mut self) -> Result<()> {
        let dir = self.store.dir().to_path_buf();
        let indexed: HashSet<FileId> = self.store.index()?.files().iter().map(|f| f.id).collect();
        let journaled: HashSet<FileId> = self.files.iter().map(|f| f.id).collect();
        let mut max_id = indexed.iter().chain(journaled.iter()).copied().max();
        for (sub, ext, path_of) in [
            (
                SEGMENTS_DIR,
                ".arrow",
                segment_path as fn(&std::path::Path, FileId) -> PathBuf,
            ),
            (PACKS_DIR, ".pack", pack_path),
        ] {
            for id in file_ids_in(&dir.join(sub), ext)? {
                if !indexed.contains(&id) && !journaled.contains(&id) {
                    let p = path_of(&dir, id);
                    fs::remove_file(&p).ctx("remove unreferenced file", &p)?;
                }
                max_id = max_id.max(Some(id));
            }
        }
        self.next_file = max_id.map_or(0, |m| m + 1);
        Ok(())
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
        if let Some(&i) = self.slot_of.get(format) {
            return i;
        }
        self.slots.push(Slot {
            pending: PendingBatch::new(format.clone()),
            open: None,
        });
        self.slot_of.insert(format.clone(), self.slots.len() - 1);
        self.slots.len() - 1
    }

    /// True if `digest` is staged or stored.
    pub fn contains_value(&self, digest: &Digest) -> Result<bool> {
        Ok(self.staged.contains_key(digest) || self.store.lookup(digest)?.is_some())
    }

    /// Stages a value, returning its digest. Content already staged or stored is not
    /// written again (deduplication).
    pub fn put_value(&mut self, v: ValueInput<'_>) -> Result<Digest> {
        let digest = v.header.digest(v.bytes);
        self.put_hashed_value(v, digest)?;
        Ok(digest)
    }

    /// Stages a value whose digest the caller computed (e.g. in parallel). Returns true
    /// if the value was new.
    pub fn put_hashed_value(&mut self, v: ValueInput<'_>, digest: Digest) -> Result<bool> {
        if self.contains_value(&digest)? {
            return Ok(false);
        }
        let crc = crc32(v.bytes);
        let slot = self.slot_for(v.format);
        let row = self.slots[slot].pending.push(digest, crc, v.shape, v.bytes);
        self.staged.insert(digest, StagedLoc::Pending { slot, row });
        if !self.buffered {
            let mut e = Encoder::with_capacity(v.bytes.len() + 96);
            v.format.encode(&mut e);
            e.digest(&digest).u32(crc).varint(v.shape.len() as u64);
            for d in v.shape {
                e.u64(*d);
            }
            e.bytes(v.bytes);
            push_frame(&mut self.out, frame::VALUE, e.as_slice());
        }
        let p = &self.slots[slot].pending;
        if p.data_len() >= FLUSH_BYTES || p.rows() >= FLUSH_ROWS {
            if self.buffered {
                self.flush()?;
            } else {
                self.flush_slot(slot)?;
            }
        }
        Ok(true)
    }

    /// Adds an opaque record frame of the layer above.
    pub fn record(&mut self, body: &[u8]) -> Result<()> {
        push_frame(&mut self.out, frame::RECORD, body);
        if self.buffered && self.out.len() >= FLUSH_FRAME_BYTES {
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
        self.write_out()
    }

    fn flush_slot(&mut self, i: usize) -> Result<()> {
        if self.slots[i].pending.is_empty() {
            return Ok(());
        }
        let format = self.slots[i].pending.format().clone();
        if self.slots[i].open.is_none() {
            let id = self.next_file;
            self.next_file += 1;
            let w = SegmentWriter::create(&segment_path(self.store.dir(), id), id, format.clone())?;
            push_segment_created(&mut self.seg_out, id, w.header_len(), &format);
            self.files.push(StagedFile {
                id,
                format,
                header_len: w.header_len(),
                blocks: Vec::new(),
                sealed: None,
            });
            self.slots[i].open = Some(w);
        }
        let slot = &mut self.slots[i];
        let writer = slot.open.as_mut().expect("opened above");
        let id = writer.id();
        let (block, rows) = writer.append(&slot.pending)?;
        slot.pending.clear();
        mark_written(&mut self.staged, id, &rows);
        push_batch_stored(&mut self.seg_out, id, &block, &rows);
        let file = self
            .files
            .iter_mut()
            .find(|f| f.id == id)
            .expect("journaled when created");
        file.blocks.push((block, rows));
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
                let buf = match open {
                    Some(w) => {
                        let v = w.read_at(loc.offset, loc.len)?;
                        let mut m = MutableBuffer::with_capacity(v.len());
                        m.extend_from_slice(&v);
                        Buffer::from(m)
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

    /// Bytes currently in the journal.
    pub fn journal_len(&self) -> u64 {
        self.journal.len() + (self.seg_out.len() + self.out.len()) as u64
    }

    /// Commits the staged values and `objects`: flushes and seals every segment, writes
    /// the objects as one pack, publishes one index run, prepares the next journal (based
    /// on `new_base`), then calls `publish` — the single atomic step that makes the commit
    /// visible (the branch ref update). If `publish` fails nothing visible changed and
    /// staging continues as before.
    pub fn commit<E: From<Error>>(
        &mut self,
        objects: Vec<Object>,
        new_base: &[u8],
        publish: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<CommitStats, E> {
        let mut stats = CommitStats::default();
        self.flush()?;
        failpoint::hit("commit.after_flush")?;
        for i in 0..self.slots.len() {
            if self.slots[i].open.is_some() {
                self.seal_slot(i)?;
                stats.segments_sealed += 1;
            }
        }
        self.write_out()?;
        failpoint::hit("commit.after_seal")?;
        let dir = self.store.dir().to_path_buf();
        if !self.files.is_empty() {
            fsutil::fsync_dir(&dir.join(SEGMENTS_DIR))?;
        }
        let mut entries: Vec<IndexEntry> = Vec::with_capacity(self.staged.len() + objects.len());
        for (digest, loc) in &self.staged {
            match loc {
                StagedLoc::Written(loc) => entries.push(IndexEntry {
                    digest: *digest,
                    kind: EntryKind::Value,
                    loc: *loc,
                }),
                StagedLoc::Pending { .. } => {
                    return Err(Error::InvalidArgument(
                        "internal: value still pending after flush".into(),
                    )
                    .into())
                }
            }
        }
        stats.values = entries.len();
        let mut files: Vec<FileRecord> = self.files.iter().filter_map(|f| f.sealed).collect();
        let mut seen = DigestSet::default();
        let mut new_objects = Vec::with_capacity(objects.len());
        {
            let index = self.store.index()?;
            for o in objects {
                if seen.insert(o.digest) && index.lookup(&o.digest)?.is_none() {
                    new_objects.push(o);
                }
            }
        }
        if !new_objects.is_empty() {
            let id = self.next_file;
            self.next_file += 1;
            let (record, pack_entries) = pack::write_pack(&pack_path(&dir, id), id, &new_objects)?;
            stats.objects = new_objects.len();
            stats.object_bytes = record.len;
            files.push(record);
            entries.extend(pack_entries);
            failpoint::hit("commit.after_pack")?;
        }
        if !entries.is_empty() {
            self.store.index_mut()?.publish(entries, files)?;
            failpoint::hit("commit.after_index_run")?;
        }
        let staging = dir.join(STAGING_DIR);
        let next = staging.join(JOURNAL_NEXT);
        let mut frames = Vec::new();
        push_frame(&mut frames, frame::BASE, new_base);
        Journal::create(&next, &frames)?;
        failpoint::hit("commit.after_next_journal")?;
        // `journal.next` stays even if `publish` fails: it may have failed after its commit
        // point (the ref renamed, then its reflog append or a directory fsync failed). The
        // next writer open keeps it exactly when the ref names its base commit, and a
        // later commit of this writer replaces it.
        publish()?;
        failpoint::hit("commit.after_publish")?;
        let journal_path = staging.join(JOURNAL);
        fs::rename(&next, &journal_path).ctx("rename", &next)?;
        failpoint::hit("commit.after_journal_rename")?;
        fsutil::fsync_dir(&staging)?;
        self.restart(new_base)?;
        Ok(stats)
    }

    fn restart(&mut self, new_base: &[u8]) -> Result<()> {
        let (journal, _) = Journal::open(&self.store.dir().join(STAGING_DIR).join(JOURNAL))?;
        self.journal = journal;
        self.out.clear();
        self.seg_out.clear();
        self.slots.clear();
        self.slot_of.clear();
        self.staged.clear();
        self.files.clear();
        self.base = new_base.to_vec();
        Ok(())
    }

    /// Discards everything staged: a new journal based on `new_base` replaces the old one,
    /// then the segments written only for the discarded changes are deleted. Segments an
    /// index run refers to (left by a commit that was interrupted after publishing its
    /// index run) are kept.
    pub fn reset(&mut self, new_base: &[u8]) -> Result<usize> {
        let dir = self.store.dir().to_path_buf();
        let mut frames = Vec::new();
        push_frame(&mut frames, frame::BASE, new_base);
        Journal::create(&dir.join(STAGING_DIR).join(JOURNAL), &frames)?;
        for slot in &mut self.slots {
            slot.open = None;
        }
        let mut removed = 0;
        {
            let index = self.store.index()?;
            for f in &self.files {
                if !index.has_file(f.id) {
                    let p = segment_path(&dir, f.id);
                    match fs::remove_file(&p) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io("remove", &p, e)),
                    }
                }
            }
        }
        fsutil::fsync_dir(&dir.join(SEGMENTS_DIR))?;
        self.restart(new_base)?;
        Ok(removed)
    }

    /// Rewrites the journal compactly: the base, the store's live frames (no payloads:
    /// everything is flushed first) and `records`, a snapshot of the layer above.
    pub fn compact(&mut self, records: &[Vec<u8>]) -> Result<()> {
        self.flush()?;
        let mut frames = Vec::new();
        push_frame(&mut frames, frame::BASE, &self.base);
        for f in &self.files {
            push_segment_created(&mut frames, f.id, f.header_len, &f.format);
            for (block, rows) in &f.blocks {
                push_batch_stored(&mut frames, f.id, block, rows);
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
        Ok(())
    }
}

/// Appends a `SEGMENT_CREATED` frame.
fn push_segment_created(out: &mut Vec<u8>, id: FileId, header_len: u64, format: &SegmentFormat) {
    let mut e = Encoder::new();
    e.u32(id).u64(header_len);
    format.encode(&mut e);
    push_frame(out, frame::SEGMENT_CREATED, e.as_slice());
}

/// Appends a `BATCH_STORED` frame.
fn push_batch_stored(out: &mut Vec<u8>, id: FileId, block: &Block, rows: &[StoredRow]) {
    let mut e = Encoder::with_capacity(40 + rows.len() * 56);
    e.u32(id)
        .u64(block.offset)
        .u32(block.meta_len)
        .u64(block.body_len)
        .varint(rows.len() as u64);
    for r in rows {
        e.digest(&r.digest).u64(r.offset).u64(r.len).u32(r.crc);
    }
    push_frame(out, frame::BATCH_STORED, e.as_slice());
}

/// Appends a `SEGMENT_SEALED` frame.
fn push_segment_sealed(out: &mut Vec<u8>, record: &FileRecord) {
    let mut e = Encoder::new();
    e.u32(record.id).u64(record.len).u32(record.crc);
    push_frame(out, frame::SEGMENT_SEALED, e.as_slice());
}

/// Records that `rows` were written to segment `id`.
fn mark_written(staged: &mut DigestMap<StagedLoc>, id: FileId, rows: &[StoredRow]) {
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

fn decode_batch_stored(body: &[u8]) -> DecodeResult<(FileId, Block, Vec<StoredRow>)> {
    let mut d = Decoder::new(body);
    let id = d.u32()?;
    let block = Block {
        offset: d.u64()?,
        meta_len: d.u32()?,
        body_len: d.u64()?,
    };
    let n = d.count(52)?;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        rows.push(StoredRow {
            digest: d.digest()?,
            offset: d.u64()?,
            len: d.u64()?,
            crc: d.u32()?,
        });
    }
    d.finish()?;
    Ok((id, block, rows))
}
