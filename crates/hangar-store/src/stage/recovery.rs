//! Opening the writer: finishing or discarding an interrupted commit, replaying the
//! journal, resuming open segments, removing abandoned files, and discarding a damaged
//! staging area.

use super::*;

pub(super) fn decode_err(path: &std::path::Path) -> impl Fn(DecodeError) -> Error + '_ {
    move |e| Error::corrupt(path, format!("bad staging journal frame: {e}"))
}

/// Segment and pack files on disk, by id, with their paths.
pub(super) fn data_files(dir: &std::path::Path) -> Result<Vec<(FileId, FileKind, PathBuf)>> {
    let mut out = Vec::new();
    for (sub, ext, kind) in [
        (SEGMENTS_DIR, ".arrow", FileKind::Segment),
        (SEGMENTS_DIR, ".parquet", FileKind::Parquet),
        (PACKS_DIR, ".pack", FileKind::Pack),
    ] {
        for id in file_ids_in(&dir.join(sub), ext)? {
            out.push((id, kind, file_path(dir, id, kind)));
        }
    }
    Ok(out)
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

pub(super) fn file_ids_in(dir: &std::path::Path, ext: &str) -> Result<Vec<FileId>> {
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

/// Receives each replayed `Record` frame, with the base frame's body.
pub type OnRecord<'a> = dyn FnMut(&[u8], RecordFrame<'_>) -> Result<()> + 'a;

/// A replayed `Record` frame's body and, in the writer, the mapped journal it lies in.
#[derive(Clone, Copy, Debug)]
pub struct RecordFrame<'a> {
    body: &'a [u8],
    map: Option<&'a crate::mmap::JournalMap>,
}

impl<'a> RecordFrame<'a> {
    /// The frame's body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// `part` (of [`RecordFrame::body`]) kept with no copy: a buffer over the mapped
    /// journal that keeps it mapped for as long as it lives, while the writer goes on
    /// appending to the journal (the `mmap` module's notes say why its bytes stay put).
    /// `None` where the journal is not mapped (a read-only view of a journal of at most
    /// 32 MiB reads it into memory, and its records are copied).
    pub fn share(&self, part: &[u8]) -> Option<crate::Buffer> {
        self.map?.share(part)
    }
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
        let mut records = Vec::new();
        let (w, mut rec) = StoreWriter::open_with(store, committed, initial_base, &mut |_, r| {
            records.push(r.body().to_vec());
            Ok(())
        })?;
        rec.records = records;
        Ok((w, rec))
    }

    /// [`StoreWriter::open`], passing each `Record` frame body to `on_record` (with the
    /// base frame's body) as the journal is read, rather than collecting them: the
    /// journal is read through a bounded buffer and never held whole, so a staging area
    /// of millions of records is replayed in memory proportional to what the caller
    /// keeps of them. `Recovered::records` is left empty.
    pub fn open_with(
        store: Arc<Store>,
        committed: impl Fn(&[u8]) -> Result<bool>,
        initial_base: impl FnOnce() -> Vec<u8>,
        on_record: &mut OnRecord<'_>,
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
        let journal = Journal::open_unscanned(&journal_path)?;
        let mut w = StoreWriter::empty(store, journal);
        let (mut recovered, valid_len) = w.replay(&journal_path, on_record, true)?;
        w.journal.cut_torn_tail(valid_len)?;
        recovered.finished_interrupted_commit = finished;
        w.base = recovered.base.clone();
        w.remove_abandoned_files()?;
        Ok((w, recovered))
    }

    /// A read-only view of the durable staging area, taken without the writer lock
    /// while a writer may be working on it (what `git status` does with the index):
    /// the journal is read as far as its last whole frame and nothing on disk is
    /// changed — no interrupted commit is finished, no torn tail cut, no file removed,
    /// no open segment resumed (values in one are read with `pread`, never mapped, as
    /// the writer may still cut it back). A commit that published its ref but not yet
    /// its next journal is seen as the writer would finish it. Every change through the
    /// returned writer is refused. Records go to `on_record` as in
    /// [`StoreWriter::open_with`]; a staging area that was never written is
    /// `initial_base` with no records.
    pub fn open_read_only(
        store: Arc<Store>,
        values: bool,
        committed: impl Fn(&[u8]) -> Result<bool>,
        initial_base: impl FnOnce() -> Vec<u8>,
        on_record: &mut OnRecord<'_>,
    ) -> Result<(StoreWriter, Recovered)> {
        let staging = store.dir().join(STAGING_DIR);
        let next_path = staging.join(JOURNAL_NEXT);
        // A next journal whose base landed is the staging area now; one that did not is
        // an interrupted commit's leftover (or one being written), not yet in force.
        let next_landed = match Journal::read(&next_path) {
            Ok(frames) => match frames.first().filter(|f| f.frame_type == frame::BASE) {
                Some(f) => committed(&f.body)?,
                None => false,
            },
            Err(_) => false,
        };
        let mut candidates = vec![staging.join(JOURNAL)];
        if next_landed {
            // The writer may rename it into place between this check and the read.
            candidates.insert(0, next_path);
        }
        for path in candidates {
            let len = match fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("stat", &path, e)),
            };
            let mut w = StoreWriter::empty(store.clone(), Journal::read_only(&path, len));
            w.records_only = !values;
            // Another candidate is read only if this one vanished before any of its
            // records reached the layer above (which would otherwise see two journals).
            let mut passed = false;
            let replayed = w.replay(
                &path,
                &mut |base, body| {
                    passed = true;
                    on_record(base, body)
                },
                false,
            );
            match replayed {
                Err(e) if e.kind() == crate::ErrorKind::NotFound && !passed && !path.exists() => {
                    continue
                }
                r => {
                    let (recovered, _) = r?;
                    w.base = recovered.base.clone();
                    return Ok((w, recovered));
                }
            }
        }
        let mut w = StoreWriter::empty(store, Journal::read_only(&staging.join(JOURNAL), 0));
        let recovered = Recovered {
            base: initial_base(),
            ..Recovered::default()
        };
        w.base = recovered.base.clone();
        Ok((w, recovered))
    }

    /// A writer with nothing staged, on `journal`.
    fn empty(store: Arc<Store>, journal: Journal) -> StoreWriter {
        StoreWriter {
            store,
            journal,
            out: Vec::new(),
            seg_out: Vec::new(),
            buffered: false,
            slots: Vec::new(),
            staged: StagedMap::default(),
            files: Vec::new(),
            next_file: 0,
            base: Vec::new(),
            reserved: Vec::new(),
            compactions: 0,
            flush_due: false,
            retired: Vec::new(),
            records_only: false,
        }
    }

    /// Replays the journal: two streaming passes (the first finds the values a later
    /// batch stored, so a write-through payload of such a value is not staged twice, and the
    /// index sequence to check for missing runs before anything is replayed). With
    /// `resume`, the segments still open are reopened for appending. Returns what was
    /// recovered and the journal's valid length.
    fn replay(
        &mut self,
        path: &std::path::Path,
        on_record: &mut OnRecord<'_>,
        resume: bool,
    ) -> Result<(Recovered, u64)> {
        let de = decode_err(path);
        let mut index_seq: Option<u32> = None;
        let mut stored = DigestSet::default();
        // Where a record group the journal does not hold to its end starts (a write cut
        // short inside it): that group and everything after it is a torn tail.
        let mut groups = Groups::new();
        // Only a batch after a write-through payload can store that payload's value (a
        // value already in a batch is never journalled with its bytes again), and a
        // batch before it is replayed before it: the digests of batches are collected
        // only from the first payload on, so replaying a bulk import's journal builds
        // no such set.
        let mut payload_seen = false;
        // The values the batches stored, to size the map of staged values once.
        let mut batch_rows = 0usize;
        // Mapped by the writer (`resume`), and by a read-only view when it is long.
        let scans = Scans::open(path, resume)?;
        scans.scan(&mut |frame_type, body| {
            groups.frame(frame_type, body.len());
            if self.records_only && frame::is_value_frame(frame_type) {
                return Ok(());
            }
            if frame_type == frame::VALUE {
                payload_seen = true;
            } else if frame_type == frame::BATCH_STORED && payload_seen {
                let (_, _, rows, _) = decode_batch_stored(body).map_err(&de)?;
                batch_rows += rows.len();
                stored.extend(rows.iter().map(|r| r.digest));
            } else if frame_type == frame::BATCH_STORED {
                batch_rows += batch_stored_rows(body).map_err(&de)?;
            } else if frame_type == frame::INDEX_SEQ {
                let mut d = Decoder::new(body);
                index_seq = index_seq.max(Some(d.u32().map_err(&de)?));
            }
            Ok(())
        })?;
        // A missing index run is corruption; nothing is cleaned up in its presence (the
        // files it listed would look unreferenced). Checked before any record is passed
        // on, since the layer above reads committed objects as it applies them.
        let missing = self.store.index()?.missing_run_errors(index_seq);
        if let Some(first) = missing.into_iter().next() {
            return Err(first);
        }
        let cut = groups.open;
        let mut again = Groups::new();
        let mut rec = Recovered::default();
        let mut i = 0usize;
        self.staged.reserve(batch_rows);
        let valid_len = scans.scan(&mut |frame_type, body| {
            let at = i;
            i += 1;
            if cut.is_some_and(|c| again.pos >= c) {
                return Ok(()); // an unfinished group and what follows: a torn tail
            }
            again.frame(frame_type, body.len());
            if self.records_only && frame::is_value_frame(frame_type) {
                return Ok(());
            }
            match frame_type {
                frame::BASE if at == 0 => rec.base = body.to_vec(),
                frame::RECORD | frame::RECORD_PART => {
                    let map = scans.map();
                    on_record(&rec.base, RecordFrame { body, map })?
                }
                frame::INDEX_SEQ => {} // read by the first pass
                frame::FILE_RESERVED => {
                    let mut d = Decoder::new(body);
                    let id = d.u32().map_err(&de)?;
                    let kind = FileKind::from_code(d.u8().map_err(&de)?).ok_or_else(|| {
                        Error::corrupt(path, format!("file {id:08x} reserved with an unknown kind"))
                    })?;
                    self.reserved.push((id, kind));
                }
                frame::SEGMENT_CREATED => {
                    let mut d = Decoder::new(body);
                    let id = d.u32().map_err(&de)?;
                    let header_len = d.u64().map_err(&de)?;
                    let format = SegmentFormat::decode(&mut d).map_err(&de)?;
                    let compression = decode_trailing_compression(&mut d).map_err(&de)?;
                    self.files.push(StagedFile::new(id, format, compression, header_len));
                }
                frame::BATCH_STORED => {
                    let (id, block, rows, end_crc) = decode_batch_stored(body).map_err(&de)?;
                    let at = self.files.iter().position(|s| s.id == id).ok_or_else(|| {
                        Error::corrupt(path, format!("batch stored in unknown segment {id:08x}"))
                    })?;
                    let first = self.files[at].push_block(block, rows);
                    self.files[at].end_crc = end_crc;
                    let all = Rows::new(&self.files, &self.slots);
                    mark_written(&mut self.staged, &all, at, first);
                }
                frame::SEGMENT_SEALED => {
                    let mut d = Decoder::new(body);
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
                    let mut d = Decoder::new(body);
                    let format = SegmentFormat::decode(&mut d).map_err(&de)?;
                    let digest = d.digest().map_err(&de)?;
                    let crc = d.u32().map_err(&de)?;
                    let rank = d.count(8).map_err(&de)?;
                    let shape = (0..rank)
                        .map(|_| d.u64())
                        .collect::<DecodeResult<Vec<_>>>()
                        .map_err(&de)?;
                    let bytes = d.bytes().map_err(&de)?;
                    let compression = decode_trailing_compression(&mut d).map_err(&de)?;
                    if crc32(bytes) != crc {
                        return Err(Error::corrupt(
                            path,
                            format!("staged value {} fails its checksum", digest.short()),
                        ));
                    }
                    if !stored.contains(&digest)
                        && !self
                            .staged
                            .contains_key(&digest, &Rows::new(&self.files, &self.slots))
                    {
                        let slot = self.slot_for(&format, compression);
                        let row = self.slots[slot].pending.push(digest, crc, &shape, bytes);
                        let all = Rows::new(&self.files, &self.slots);
                        self.staged.insert(&digest, Ref::pending(slot, row), &all);
                    }
                }
                t => {
                    return Err(Error::corrupt(
                        path,
                        format!("unknown staging journal frame type {t} at frame {at}"),
                    ))
                }
            }
            Ok(())
        })?;
        if again.open.is_some() {
            // Only a view beside a live writer can meet this: the journal grew (or was
            // rewritten) between the two passes and ends inside a group, part of which
            // was applied.
            return Err(Error::InvalidArgument(format!(
                "the staging journal {} changed while it was read (a writer is journalling a \
                 large change); open it again",
                path.display()
            )));
        }
        let valid_len = cut.map_or(valid_len, |c| valid_len.min(c));
        if !resume {
            return Ok((rec, valid_len));
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
                f.end_crc,
            )?;
            let (format, compression) = (f.format.clone(), f.compression);
            let slot = self.slot_for(&format, compression);
            if self.slots[slot].open.is_some() {
                return Err(Error::corrupt(path, "two open segments of the same format"));
            }
            self.slots[slot].open = Some(writer);
        }
        Ok((rec, valid_len))
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
}

/// Tracks record groups (`RECORD_PART` frames closed by a `RECORD` frame) while a
/// journal is scanned frame by frame.
struct Groups {
    /// The offset of the next frame.
    pos: u64,
    /// Where the group still open starts (after the whole journal: a group it does not
    /// hold to its end).
    open: Option<u64>,
}

impl Groups {
    fn new() -> Groups {
        Groups {
            pos: crate::journal::MAGIC_LEN as u64,
            open: None,
        }
    }

    fn frame(&mut self, frame_type: u8, body_len: usize) {
        match frame_type {
            frame::RECORD_PART => {
                self.open.get_or_insert(self.pos);
            }
            frame::RECORD => self.open = None,
            _ => {}
        }
        self.pos += (crate::journal::FRAME_HEADER + body_len) as u64;
    }
}
