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
    file_path, pack_path, segment_path, Store, INDEX_DIR, PACKS_DIR, SEGMENTS_DIR, STAGING_DIR,
};

mod frame {
    pub const BASE: u8 = 1;
    pub const RECORD: u8 = 2;
    pub const SEGMENT_CREATED: u8 = 3;
    pub const BATCH_STORED: u8 = 4;
    pub const SEGMENT_SEALED: u8 = 5;
    pub const VALUE: u8 = 6;
    /// The highest index run sequence published when this journal was started: a run
    /// missing later is detected even if it was the newest.
    pub const INDEX_SEQ: u8 = 7;
    /// A file id taken before its segment or pack is created: if the process dies before
    /// the file's own frames or index run refer to it, the next writer open can prove the
    /// file is garbage of that interrupted write and delete it.
    pub const FILE_RESERVED: u8 = 8;
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
    /// Staged values no staged record referred to, left out of the commit.
    pub values_dropped: usize,
    /// Staging segments rewritten without those values (their bytes reclaimed).
    pub segments_rewritten: usize,
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
    slot_of: HashMap<SegmentFormat, usize>,
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

/// A staging segment is rewritten at commit when the bytes of values no staged record
/// refers to reach this fraction (1/N) of the bytes it keeps: at most 1/N of a commit's
/// segment bytes is dead weight (garbage collection reclaims that); copying is bounded
/// by N times the bytes reclaimed.
const REWRITE_DEAD_FRACTION: u64 = 8;

fn decode_err(path: &std::path::Path) -> impl Fn(DecodeError) -> Error + '_ {
    move |e| Error::corrupt(path, format!("bad staging journal frame: {e}"))
}

/// Segment and pack files on disk, by id, with their paths.
fn data_files(dir: &std::path::Path) -> Result<Vec<(FileId, FileKind, PathBuf)>> {
    let mut out = Vec::new();
    for (sub, ext, kind) in [
        (SEGMENTS_DIR, ".arrow", FileKind::Segment),
        (PACKS_DIR, ".pack", FileKind::Pack),
    ] {
        for id in file_ids_in(&dir.join(sub), ext)? {
            out.push((id, kind, file_path(dir, id, kind)));
        }
    }
    Ok(out)
}

/// What the staging journal says about the store's files, read without opening it for
/// writing (for `verify`).
#[derive(Debug, Default, Clone)]
pub struct JournalFiles {
    /// Segments the journal created or batches it stored (live staging files).
    pub created: HashSet<FileId>,
    /// Ids reserved for files an interrupted write may have left.
    pub reserved: HashSet<FileId>,
    /// The highest index run sequence published when the journal was started.
    pub index_seq: Option<u32>,
}

/// Reads the store frames of the journal at `<dir>/staging/journal` (missing: empty).
pub fn journal_files(dir: &std::path::Path) -> Result<JournalFiles> {
    let path = dir.join(STAGING_DIR).join(JOURNAL);
    let mut out = JournalFiles::default();
    if !path.exists() {
        return Ok(out);
    }
    let de = decode_err(&path);
    for f in Journal::read(&path)? {
        let mut d = Decoder::new(&f.body);
        match f.frame_type {
            frame::SEGMENT_CREATED | frame::BATCH_STORED => {
                out.created.insert(d.u32().map_err(&de)?);
            }
            frame::FILE_RESERVED => {
                out.reserved.insert(d.u32().map_err(&de)?);
            }
            frame::INDEX_SEQ => {
                let seq = d.u32().map_err(&de)?;
                out.index_seq = out.index_seq.max(Some(seq));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Checks the files the staging journal relies on, without opening it for writing (for
/// `verify`): each segment it created and no index run lists must exist, an open one at
/// least as long as its last acknowledged batch, a sealed one with its recorded length
/// and checksum. One `Corrupt` error per damaged file, saying how to get out.
pub fn check_staging(store: &Store) -> Vec<Error> {
    let dir = store.dir();
    let path = dir.join(STAGING_DIR).join(JOURNAL);
    if !path.exists() {
        return Vec::new();
    }
    let frames = match Journal::read(&path) {
        Ok(f) => f,
        Err(e) => return vec![e],
    };
    let de = decode_err(&path);
    // id -> (bytes the journal acknowledges, sealed record)
    let mut files: HashMap<FileId, (u64, Option<FileRecord>)> = HashMap::new();
    let mut problems = Vec::new();
    for f in &frames {
        let mut d = Decoder::new(&f.body);
        let parsed: Result<()> = (|| {
            match f.frame_type {
                frame::SEGMENT_CREATED => {
                    let id = d.u32().map_err(&de)?;
                    let header_len = d.u64().map_err(&de)?;
                    files.insert(id, (header_len, None));
                }
                frame::BATCH_STORED => {
                    let (id, block, _) = decode_batch_stored(&f.body).map_err(&de)?;
                    if let Some(e) = files.get_mut(&id) {
                        e.0 = e.0.max(block.end());
                    }
                }
                frame::SEGMENT_SEALED => {
                    let id = d.u32().map_err(&de)?;
                    let len = d.u64().map_err(&de)?;
                    let crc = d.u32().map_err(&de)?;
                    if let Some(e) = files.get_mut(&id) {
                        e.1 = Some(FileRecord {
                            id,
                            kind: FileKind::Segment,
                            len,
                            crc,
                        });
                    }
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = parsed {
            problems.push(e);
            return problems;
        }
    }
    let indexed: HashSet<FileId> = match store.index() {
        Ok(i) => i.files().iter().map(|f| f.id).collect(),
        Err(e) => return vec![e],
    };
    let way_out = "staged changes that use it cannot be read; `hangar reset` (or \
                   reset_staging_area) discards the staging area, every commit is intact";
    let mut ids: Vec<_> = files
        .into_iter()
        .filter(|(id, _)| !indexed.contains(id))
        .collect();
    ids.sort_by_key(|(id, _)| *id);
    for (id, (acked, sealed)) in ids {
        let p = segment_path(dir, id);
        let actual = match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                problems.push(fsutil::symlink_error(&p));
                continue;
            }
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(Error::corrupt(
                    &p,
                    format!("this staging segment is missing; {way_out}"),
                ));
                continue;
            }
            Err(e) => {
                problems.push(Error::io("stat", &p, e));
                continue;
            }
        };
        match sealed {
            Some(rec) if actual != rec.len => problems.push(Error::corrupt(
                &p,
                format!(
                    "this sealed staging segment has {actual} bytes, the journal records {}; {way_out}",
                    rec.len
                ),
            )),
            Some(rec) => match fsutil::read_file(&p) {
                Ok(b) if crc32(&b) != rec.crc => problems.push(Error::corrupt(
                    &p,
                    format!("this sealed staging segment fails its checksum; {way_out}"),
                )),
                Ok(_) => {}
                Err(e) => problems.push(e),
            },
            None if actual < acked => problems.push(Error::corrupt(
                &p,
                format!(
                    "this open staging segment has {actual} bytes but the journal acknowledges \
                     {acked}; {way_out}"
                ),
            )),
            None => {}
        }
    }
    problems
}

/// What [`StoreWriter::discard_damaged`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discarded {
    /// Change frames of the layer above that the old journal held (lost); `None` when
    /// the journal could not be read at all.
    pub changes: Option<usize>,
    /// Files removed (the staging area's own segments and reserved leftovers).
    pub files_removed: usize,
}

/// Segment and pack files that neither an index run nor the staging journal refers to.
/// They are never deleted for that reason alone (a missing index run or journal would
/// make live data look unreferenced); `verify` lists them.
pub fn unreferenced_files(store: &Store) -> Result<Vec<PathBuf>> {
    let dir = store.dir();
    let journal = journal_files(dir)?;
    let index = store.index()?;
    let indexed: HashSet<FileId> = index.files().iter().map(|f| f.id).collect();
    drop(index);
    Ok(data_files(dir)?
        .into_iter()
        .filter(|(id, _, _)| {
            !indexed.contains(id) && !journal.created.contains(id) && !journal.reserved.contains(id)
        })
        .map(|(_, _, p)| p)
        .collect())
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
            let seq = store.index()?.high_seq();
            Journal::create(&journal_path, &journal_start(&initial_base(), seq, &[]))?;
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
            reserved: Vec::new(),
            compactions: 0,
            flush_due: false,
            retired: Vec::new(),
        };
        let (mut recovered, index_seq) = w.replay(&journal_path, frames)?;
        recovered.finished_interrupted_commit = finished;
        w.base = recovered.base.clone();
        // A missing index run is corruption; nothing is cleaned up in its presence (the
        // files it listed would look unreferenced).
        let missing = w.store.index()?.missing_run_errors(index_seq);
        if let Some(first) = missing.into_iter().next() {
            return Err(first);
        }
        w.remove_abandoned_files()?;
        Ok((w, recovered))
    }

    fn replay(
        &mut self,
        path: &std::path::Path,
        frames: Vec<crate::journal::Frame>,
    ) -> Result<(Recovered, Option<u32>)> {
        let de = decode_err(path);
        let mut index_seq: Option<u32> = None;
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
                frame::INDEX_SEQ => {
                    let mut d = Decoder::new(&f.body);
                    index_seq = index_seq.max(Some(d.u32().map_err(&de)?));
                }
                frame::FILE_RESERVED => {
                    let mut d = Decoder::new(&f.body);
                    let id = d.u32().map_err(&de)?;
                    let kind = FileKind::from_code(d.u8().map_err(&de)?).ok_or_else(|| {
                        Error::corrupt(path, format!("file {id:08x} reserved with an unknown kind"))
                    })?;
                    self.reserved.push((id, kind));
                }
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
        Ok((rec, index_seq))
    }

    /// Deletes the files this journal reserved that neither its own frames nor an index
    /// run refer to: garbage of a write interrupted between reserving the id and
    /// recording the file (DESIGN §3 rule 10: only what the journal proves is garbage).
    /// Every other file is kept, referenced or not. Picks the next file id above every id
    /// in use, reserved or on disk.
    fn remove_abandoned_files(&mut self) -> Result<()> {
        let dir = self.store.dir().to_path_buf();
        let indexed: HashSet<FileId> = self.store.index()?.files().iter().map(|f| f.id).collect();
        let journaled: HashSet<FileId> = self.files.iter().map(|f| f.id).collect();
        let mut max_id = indexed
            .iter()
            .chain(journaled.iter())
            .chain(self.reserved.iter().map(|(id, _)| id))
            .copied()
            .max();
        remove_files(
            &dir,
            self.reserved
                .iter()
                .copied()
                .filter(|(id, _)| !indexed.contains(id) && !journaled.contains(id)),
        )?;
        for (id, _, _) in data_files(&dir)? {
            max_id = max_id.max(Some(id));
        }
        self.next_file = max_id.map_or(0, |m| m + 1);
        Ok(())
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
                // Written with the next record frame, never before it: a crash must not
                // leave values in the journal that no staged change refers to (they would
                // be sealed into the next commit for good).
                self.flush_due = true;
            } else {
                self.flush_slot(slot)?;
            }
        }
        Ok(true)
    }

    /// Adds an opaque record frame of the layer above.
    pub fn record(&mut self, body: &[u8]) -> Result<()> {
        push_frame(&mut self.out, frame::RECORD, body);
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

    fn flush_slot(&mut self, i: usize) -> Result<()> {
        if self.slots[i].pending.is_empty() {
            return Ok(());
        }
        let format = self.slots[i].pending.format().clone();
        if self.slots[i].open.is_none() {
            let id = self.reserve_file(FileKind::Segment)?;
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

    /// The digests of the values staged since the last commit.
    pub fn staged_digests(&self) -> DigestSet {
        self.staged.keys().copied().collect()
    }

    /// Bytes currently in the journal.
    pub fn journal_len(&self) -> u64 {
        self.journal.len() + (self.seg_out.len() + self.out.len()) as u64
    }

    /// Commits the staged values that `live` names (those a staged record refers to)
    /// and `objects`: flushes, drops every other staged value (rewriting a staging segment
    /// whose dead bytes are worth reclaiming), seals every segment, writes the objects as
    /// one pack, publishes one index run, prepares the next journal (based on
    /// `new_base`), then calls `publish` — the single atomic step that makes the commit
    /// visible (the branch ref update). If `publish` fails nothing visible changed and
    /// staging continues as before.
    pub fn commit<E: From<Error>>(
        &mut self,
        objects: Vec<Object>,
        live: &DigestSet,
        new_base: &[u8],
        publish: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<CommitStats, E> {
        let mut stats = CommitStats::default();
        self.flush()?;
        failpoint::hit("commit.after_flush")?;
        let before = self.staged.len();
        self.staged.retain(|d, _| live.contains(d));
        stats.values_dropped = before - self.staged.len();
        stats.segments_rewritten = self.rewrite_dead_segments()?;
        self.flush()?;
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
            let id = self.reserve_file(FileKind::Pack)?;
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
        let seq = self.store.index()?.high_seq();
        let retired: Vec<(FileId, FileKind)> = self
            .retired
            .iter()
            .map(|id| (*id, FileKind::Segment))
            .collect();
        Journal::create(&next, &journal_start(new_base, seq, &retired))?;
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
        // The new journal reserves the retired segments: deleted now, or by the next
        // writer open if this process dies first.
        self.reserved = retired.clone();
        remove_files(&dir, retired)?;
        self.retired.clear();
        Ok(stats)
    }

    /// Rewrites the staging segments (not yet in any index run) whose bytes of values
    /// no longer staged reach 1/[`REWRITE_DEAD_FRACTION`] of the bytes still staged in
    /// them: the live values are staged again (into the open or a new segment of their
    /// format), the old segment is sealed and retired (left out of the commit, deleted
    /// after it). Returns how many segments were retired.
    fn rewrite_dead_segments(&mut self) -> Result<usize> {
        let indexed: HashSet<FileId> = self.store.index()?.files().iter().map(|f| f.id).collect();
        let doomed: Vec<FileId> = self
            .files
            .iter()
            .filter(|f| !indexed.contains(&f.id))
            .filter(|f| {
                let (mut live, mut dead) = (0u64, 0u64);
                for r in f.blocks.iter().flat_map(|(_, rows)| rows) {
                    if staged_here(&self.staged, f.id, r) {
                        live += r.len;
                    } else {
                        dead += r.len.max(1);
                    }
                }
                dead > 0 && dead.saturating_mul(REWRITE_DEAD_FRACTION) >= live
            })
            .map(|f| f.id)
            .collect();
        let dir = self.store.dir().to_path_buf();
        for id in &doomed {
            let id = *id;
            // Seal it first if it is open: the journal then never holds two open
            // segments of one format.
            if let Some(i) = self
                .slots
                .iter()
                .position(|s| s.open.as_ref().is_some_and(|w| w.id() == id))
            {
                self.seal_slot(i)?;
            }
            let pos = self.files.iter().position(|f| f.id == id).expect("listed");
            let file = self.files.remove(pos);
            let path = segment_path(&dir, id);
            let map = crate::mmap::MappedFile::open(&path)?;
            let slot = self.slot_for(&file.format);
            for (block, rows) in &file.blocks {
                let shapes = block_shapes(&path, &map, &file.format, block, rows.len())?;
                for (j, r) in rows.iter().enumerate() {
                    if !staged_here(&self.staged, id, r) {
                        continue;
                    }
                    let bytes = map.slice(r.offset, r.len)?;
                    if crc32(bytes) != r.crc {
                        return Err(Error::corrupt(
                            &path,
                            format!("checksum mismatch for staged value {}", r.digest.short()),
                        ));
                    }
                    let shape = shapes
                        .as_ref()
                        .map_or(&[][..], |(rank, s)| &s[j * rank..(j + 1) * rank]);
                    let row = self.slots[slot].pending.push(r.digest, r.crc, shape, bytes);
                    self.staged
                        .insert(r.digest, StagedLoc::Pending { slot, row });
                    let p = &self.slots[slot].pending;
                    if p.data_len() >= FLUSH_BYTES || p.rows() >= FLUSH_ROWS {
                        self.flush_slot(slot)?;
                    }
                }
            }
            self.flush_slot(slot)?;
            self.retired.push(id);
        }
        Ok(doomed.len())
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
        self.reserved.clear();
        self.base = new_base.to_vec();
        Ok(())
    }

    /// Discards everything staged: a new journal based on `new_base` replaces the old one,
    /// then the segments written only for the discarded changes are deleted. Segments an
    /// index run refers to (left by a commit that was interrupted after publishing its
    /// index run) are kept. The new journal reserves the ids of the files it is about to
    /// delete, so a crash before they are gone leaves them provably garbage.
    pub fn reset(&mut self, new_base: &[u8]) -> Result<usize> {
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

    /// Discards a staging area that cannot be opened (a damaged journal, a missing or cut
    /// staging segment): a new journal based on `new_base` replaces it, then the files the
    /// old journal created or reserved and no index run lists are deleted (those it names
    /// are reserved in the new journal first, as `reset` does). Refuses while an index
    /// run is missing. Call only while holding the writer lock. The layer above decides
    /// when this is wanted (after [`StoreWriter::open`] failed on staging damage).
    pub fn discard_damaged(store: &Store, new_base: &[u8]) -> Result<Discarded> {
        let dir = store.dir().to_path_buf();
        let staging = dir.join(STAGING_DIR);
        for sub in [STAGING_DIR, PACKS_DIR, INDEX_DIR, SEGMENTS_DIR] {
            fsutil::remove_temp_files(&dir.join(sub))?;
        }
        store.refresh()?;
        let journal_path = staging.join(JOURNAL);
        let old = if journal_path.exists() {
            Journal::read(&journal_path).ok()
        } else {
            Some(Vec::new())
        };
        let mut own: Vec<(FileId, FileKind)> = Vec::new();
        let mut index_seq = None;
        let mut changes = None;
        if let Some(frames) = &old {
            changes = Some(
                frames
                    .iter()
                    .filter(|f| f.frame_type == frame::RECORD)
                    .count(),
            );
            for f in frames {
                let mut d = Decoder::new(&f.body);
                match f.frame_type {
                    frame::SEGMENT_CREATED => {
                        if let Ok(id) = d.u32() {
                            own.push((id, FileKind::Segment));
                        }
                    }
                    frame::FILE_RESERVED => {
                        if let (Ok(id), Ok(k)) = (d.u32(), d.u8()) {
                            if let Some(kind) = FileKind::from_code(k) {
                                own.push((id, kind));
                            }
                        }
                    }
                    frame::INDEX_SEQ => index_seq = index_seq.max(d.u32().ok()),
                    _ => {}
                }
            }
        }
        let (seq, doomed) = {
            let index = store.index()?;
            if let Some(first) = index.missing_run_errors(index_seq).into_iter().next() {
                return Err(first);
            }
            own.sort_unstable_by_key(|(id, _)| *id);
            own.dedup_by_key(|(id, _)| *id);
            let doomed: Vec<_> = own
                .into_iter()
                .filter(|(id, _)| !index.has_file(*id))
                .collect();
            (index.high_seq(), doomed)
        };
        // journal.next is a commit's, left before its ref moved or after: the damaged
        // staging area is discarded either way, so it goes too.
        let next = staging.join(JOURNAL_NEXT);
        if next.exists() {
            fs::remove_file(&next).ctx("remove", &next)?;
        }
        Journal::create(&journal_path, &journal_start(new_base, seq, &doomed))?;
        let files_removed = remove_files(&dir, doomed.iter().copied())?;
        fsutil::fsync_dir(&staging)?;
        Ok(Discarded {
            changes,
            files_removed,
        })
    }

    /// Rewrites the journal compactly: the base, the store's live frames (no payloads:
    /// everything is flushed first) and `records`, a snapshot of the layer above.
    pub fn compact(&mut self, records: &[Vec<u8>]) -> Result<()> {
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
        self.compactions += 1;
        Ok(())
    }

    /// Writes everything buffered and marks the state of the staging area now: values,
    /// segments and the layer above's records. [`StoreWriter::rollback`] returns to it
    /// exactly, as long as no commit, reset or journal compaction came in between.
    pub fn savepoint(&mut self) -> Result<Savepoint> {
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

/// The first frames of a new journal: its base, the index's highest run sequence, and
/// the reservations it carries over.
fn journal_start(base: &[u8], index_seq: Option<u32>, reserved: &[(FileId, FileKind)]) -> Vec<u8> {
    let mut out = Vec::new();
    push_frame(&mut out, frame::BASE, base);
    if let Some(seq) = index_seq {
        let mut e = Encoder::new();
        e.u32(seq);
        push_frame(&mut out, frame::INDEX_SEQ, e.as_slice());
    }
    for &(id, kind) in reserved {
        let mut e = Encoder::new();
        e.u32(id).u8(kind as u8);
        push_frame(&mut out, frame::FILE_RESERVED, e.as_slice());
    }
    out
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
/// True if the value of row `r` of segment `id` is staged there (not dropped, and not
/// staged again elsewhere).
fn staged_here(staged: &DigestMap<StagedLoc>, id: FileId, r: &StoredRow) -> bool {
    matches!(staged.get(&r.digest),
        Some(StagedLoc::Written(l)) if l.file == id && l.offset == r.offset)
}

/// The shapes of a variable-shape tensor block's rows (`rank`, then `rank` dims per
/// row), read from the block's last body buffer; `None` for other formats.
fn block_shapes(
    path: &std::path::Path,
    map: &crate::mmap::MappedFile,
    format: &SegmentFormat,
    block: &Block,
    rows: usize,
) -> Result<Option<(usize, Vec<u64>)>> {
    let SegmentFormat::VarTensor { rank, .. } = format else {
        return Ok(None);
    };
    let rank = usize::from(*rank);
    let len = rows * rank * 4;
    let start = block
        .end()
        .checked_sub(crate::segment::batch::padded(len) as u64)
        .ok_or_else(|| Error::corrupt(path, "a staging block too short for its shapes"))?;
    let bytes = map.slice(start, len as u64)?;
    let dims = bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
        .map(|d| u64::try_from(d).map_err(|_| Error::corrupt(path, "a negative staged shape")))
        .collect::<Result<Vec<u64>>>()?;
    Ok(Some((rank, dims)))
}

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
    fn buffered_values_reach_the_journal_only_with_a_record_that_refers_to_them() {
        let (dir, store) = new_store();
        let mut w = writer(&store);
        w.set_buffered(true).unwrap();
        let journal = dir.path().join(STAGING_DIR).join(JOURNAL);
        let before = fs::metadata(&journal).unwrap().len();
        let format = SegmentFormat::FixedTensor {
            dtype: DType::U8,
            shape: vec![1 << 20],
        };
        let header = ValueHeader::Tensor {
            dtype: DType::U8,
            shape: &[1 << 20],
        };
        // Past the flush size (16 MiB) without a record: nothing is written yet, so a
        // crash here leaves no value the staging area does not refer to.
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
        assert_eq!(fs::metadata(&journal).unwrap().len(), before);
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
