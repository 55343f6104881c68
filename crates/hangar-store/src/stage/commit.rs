//! The commit protocol's storage steps (see docs/format.md, "The commit protocol").

use super::*;
use crate::EntrySource;

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
    /// Parquet segments written for compressed columns.
    pub segments_compressed: usize,
}

/// A staging segment is rewritten at commit when the bytes of values no staged record
/// refers to reach this fraction (1/N) of the bytes it keeps: at most 1/N of a commit's
/// segment bytes is dead weight (garbage collection reclaims that); copying is bounded
/// by N times the bytes reclaimed.
const REWRITE_DEAD_FRACTION: u64 = 8;

/// Which of the values staged since the last commit a commit keeps.
#[derive(Debug, Clone, Copy)]
pub enum Live<'a> {
    /// Every one: the caller knows each is referenced by a staged record (it staged no
    /// value whose record it then replaced or removed), so none is looked up.
    All,
    /// Those named; the rest are left out of the commit.
    Only(&'a DigestSet),
}

impl<'a> From<&'a DigestSet> for Live<'a> {
    fn from(set: &'a DigestSet) -> Live<'a> {
        Live::Only(set)
    }
}

/// A commit whose storage is written but not yet visible: what
/// [`StoreWriter::prepare_commit`] hands to [`StoreWriter::finish_commit`].
#[derive(Debug)]
#[must_use = "a prepared commit is finished (after its ref moved) or abandoned"]
pub struct PreparedCommit {
    new_base: Vec<u8>,
    retired: Vec<(FileId, FileKind)>,
    stats: CommitStats,
}

impl PreparedCommit {
    /// Figures about the storage work done.
    pub fn stats(&self) -> CommitStats {
        self.stats
    }
}

impl StoreWriter {
    /// Commits the staged values that `live` names and `objects` in one call:
    /// [`StoreWriter::prepare_commit`], then `publish` (the commit point: the branch ref
    /// update), then [`StoreWriter::finish_commit`]. If `publish` fails, nothing visible
    /// changed and staging continues as before (a `journal.next` stays for the next
    /// writer open to judge; see `prepare_commit`).
    pub fn commit<'a, E: From<Error>>(
        &mut self,
        objects: Vec<Object>,
        live: impl Into<Live<'a>>,
        new_base: &[u8],
        publish: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<CommitStats, E> {
        let spool = PackSpool::with_objects(self.store.clone(), objects);
        let prepared = self.prepare_commit(spool, live, new_base)?;
        publish()?;
        Ok(self.finish_commit(prepared)?)
    }

    /// Steps 1–4 of the commit protocol (docs/format.md): flushes; keeps only the staged
    /// values `live` names (those a staged record refers to; [`Live::All`] when the
    /// caller knows that is every one), rewriting a staging segment
    /// whose dead bytes are worth reclaiming; seals every segment; writes the new
    /// `objects` as one pack; publishes one index run; and writes the next journal, based
    /// on `new_base`, as `staging/journal.next`. Nothing is visible yet: the caller moves
    /// the branch ref (the commit point), then calls [`StoreWriter::finish_commit`].
    ///
    /// `journal.next` stays whatever happens next: if the ref update fails after its own
    /// commit point (the ref renamed, then its reflog append or a directory fsync failed),
    /// the next writer open keeps it exactly when the ref names its base, and a later
    /// commit of this writer replaces it.
    pub fn prepare_commit<'a>(
        &mut self,
        objects: PackSpool,
        live: impl Into<Live<'a>>,
        new_base: &[u8],
    ) -> Result<PreparedCommit> {
        self.writable()?;
        let mut stats = CommitStats::default();
        self.flush()?;
        failpoint::hit("commit.after_flush")?;
        if let Live::Only(live) = live.into() {
            let before = self.staged.len();
            let rows = Rows::new(&self.files, &self.slots);
            self.staged.retain(&rows, |d| live.contains(d));
            stats.values_dropped = before - self.staged.len();
        }
        // A staging segment's row is dead only if its value was just dropped (a value
        // is written once: a put of content already staged writes nothing), so only then
        // can a segment be worth rewriting. (A write that failed midway may also have
        // left rows no value names: they cost space until `gc`, never correctness.)
        if stats.values_dropped > 0 {
            stats.segments_rewritten = self.rewrite_dead_segments()?;
        }
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
        // Compressed columns' staging segments become Parquet segments (the staging
        // segments are retired with the commit).
        let converted = self.write_parquet_segments()?;
        failpoint::hit("commit.after_compress")?;
        let mut to_parquet: DigestMap<Location> = DigestMap::default();
        for c in &converted {
            if let Some(record) = &c.record {
                for r in &c.rows {
                    to_parquet.insert(
                        r.digest,
                        Location {
                            file: record.id,
                            offset: r.offset,
                            len: r.len,
                            crc: r.crc,
                        },
                    );
                }
            }
        }
        let rows = Rows::new(&self.files, &self.slots);
        if self.staged.refs().any(|r| rows.written(r).is_none()) {
            return Err(Error::InvalidArgument(
                "internal: value still pending after flush".into(),
            ));
        }
        stats.values = self.staged.len();
        let retired_now: HashSet<FileId> = converted.iter().map(|c| c.old).collect();
        let mut files: Vec<FileRecord> = self
            .staging_files()
            .filter(|(_, f)| !retired_now.contains(&f.id))
            .filter_map(|(_, f)| f.sealed)
            .collect();
        files.extend(converted.iter().filter_map(|c| c.record));
        stats.segments_compressed = converted.iter().filter(|c| c.record.is_some()).count();
        let mut object_entries = Vec::new();
        if !objects.is_empty() {
            let id = self.reserve_file(FileKind::Pack)?;
            stats.objects = objects.len();
            let (record, pack_entries) = objects.finish(&pack_path(&dir, id), id)?;
            stats.object_bytes = record.len;
            files.push(record);
            object_entries = pack_entries;
            failpoint::hit("commit.after_pack")?;
        }
        let entries = CommitEntries {
            staged: &self.staged,
            rows: Rows::new(&self.files, &self.slots),
            to_parquet: &to_parquet,
            objects: &object_entries,
        };
        if !entries.is_empty() {
            self.store.index_mut()?.publish_from(&entries, files)?;
            failpoint::hit("commit.after_index_run")?;
        }
        let next = dir.join(STAGING_DIR).join(JOURNAL_NEXT);
        let seq = self.store.index()?.high_seq();
        let retired: Vec<(FileId, FileKind)> = self
            .retired
            .iter()
            .chain(converted.iter().map(|c| &c.old))
            .map(|id| (*id, FileKind::Segment))
            .collect();
        Journal::create(&next, &journal_start(new_base, seq, &retired))?;
        failpoint::hit("commit.after_next_journal")?;
        Ok(PreparedCommit {
            new_base: new_base.to_vec(),
            retired,
            stats,
        })
    }

    /// Step 6 of the commit protocol, once the branch ref names the new commit: the next
    /// journal replaces the journal, staging restarts on the new base, and the segments
    /// the commit retired are deleted (the new journal reserves them, so a crash first
    /// leaves them for the next writer open to delete). A failure here comes after the
    /// commit point: the commit stands, and this writer must be reopened.
    pub fn finish_commit(&mut self, prepared: PreparedCommit) -> Result<CommitStats> {
        failpoint::hit("commit.after_publish")?;
        let dir = self.store.dir().to_path_buf();
        let staging = dir.join(STAGING_DIR);
        let next = staging.join(JOURNAL_NEXT);
        let journal_path = staging.join(JOURNAL);
        fs::rename(&next, &journal_path).ctx("rename", &next)?;
        failpoint::hit("commit.after_journal_rename")?;
        fsutil::fsync_dir(&staging)?;
        self.restart(&prepared.new_base)?;
        self.reserved = prepared.retired.clone();
        remove_files(&dir, prepared.retired)?;
        self.retired.clear();
        Ok(prepared.stats)
    }

    /// Rewrites the staging segments (not yet in any index run) whose bytes of values
    /// no longer staged reach 1/[`REWRITE_DEAD_FRACTION`] of the bytes still staged in
    /// them: the live values are staged again (into the open or a new segment of their
    /// format), the old segment is sealed and retired (left out of the commit, deleted
    /// after it). Returns how many segments were retired.
    fn rewrite_dead_segments(&mut self) -> Result<usize> {
        let indexed: HashSet<FileId> = self.store.index()?.files().iter().map(|f| f.id).collect();
        let rows = Rows::new(&self.files, &self.slots);
        let doomed: Vec<FileId> = self
            .staging_files()
            .filter(|(_, f)| !indexed.contains(&f.id))
            .filter(|&(at, _)| {
                let l = liveness(&self.staged, &rows, at);
                l.dead_bytes > 0 && l.dead_bytes.saturating_mul(REWRITE_DEAD_FRACTION) >= l.live_bytes
            })
            .map(|(_, f)| f.id)
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
            let at = self.files.iter().position(|f| f.id == id).expect("listed");
            let path = segment_path(&dir, id);
            let map = crate::mmap::MappedFile::open(&path)?;
            let (format, compression) = (self.files[at].format.clone(), self.files[at].compression);
            let slot = self.slot_for(&format, compression);
            let blocks: Vec<(Block, usize)> = self.files[at].blocks.clone();
            let mut first = 0;
            for (block, n) in blocks {
                let live = {
                    let rows = Rows::new(&self.files, &self.slots);
                    let file_rows = &self.files[at].rows[first..first + n];
                    live_block_rows(&path, &map, &format, &block, file_rows, (at, first), &self.staged, &rows)?
                };
                first += n;
                for (r, shape, bytes) in live {
                    let row = self.slots[slot].pending.push(r.digest, r.crc, &shape, bytes);
                    let rows = Rows::new(&self.files, &self.slots);
                    self.staged.insert(&r.digest, Ref::pending(slot, row), &rows);
                    let p = &self.slots[slot].pending;
                    if p.data_len() >= FLUSH_BYTES || p.rows() >= FLUSH_ROWS {
                        self.flush_slot(slot)?;
                    }
                }
            }
            self.flush_slot(slot)?;
            // No staged value refers to its rows any more: it stays in the list, empty
            // (the staged map refers to files by their place in it).
            let f = &mut self.files[at];
            f.retired = true;
            f.rows = Vec::new();
            f.blocks = Vec::new();
            self.retired.push(id);
        }
        Ok(doomed.len())
    }

    pub(super) fn restart(&mut self, new_base: &[u8]) -> Result<()> {
        let (journal, _) = Journal::open(&self.store.dir().join(STAGING_DIR).join(JOURNAL))?;
        self.journal = journal;
        self.out.clear();
        self.seg_out.clear();
        self.slots.clear();
        self.staged.clear();
        self.files.clear();
        self.reserved.clear();
        self.base = new_base.to_vec();
        Ok(())
    }
}

/// True if the value of row `r` (number `j`) of the staging file at `at` is staged there
/// (not dropped, and not staged again elsewhere).
pub(super) fn staged_here(staged: &StagedMap, rows: &Rows<'_>, at: usize, j: usize, r: &StoredRow) -> bool {
    staged.get(&r.digest, rows) == Some(Ref::written(at, j))
}

/// How much of a staging file is still staged there (see [`staged_here`]).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Liveness {
    /// Rows whose values are staged there.
    pub live_rows: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Bytes of the other rows (an empty value counts one, so that it counts at all).
    pub dead_bytes: u64,
}

/// How much of the staging file at `at` is still staged there.
pub(super) fn liveness(staged: &StagedMap, rows: &Rows<'_>, at: usize) -> Liveness {
    let mut l = Liveness::default();
    for (j, r) in rows.files[at].rows.iter().enumerate() {
        if staged_here(staged, rows, at, j, r) {
            l.live_rows += 1;
            l.live_bytes += r.len;
        } else {
            l.dead_bytes += r.len.max(1);
        }
    }
    l
}

/// A live row of a staging block: the row, its shape (variable-shape tensors), its bytes.
pub(super) type LiveRow<'a> = (StoredRow, Vec<u64>, &'a [u8]);

/// The rows of one block of a staging segment (`rows`, the first of them row `first` of
/// the file at `at`) whose values are staged there, each with its shape (variable-shape
/// tensors) and its bytes, CRC-checked.
#[allow(clippy::too_many_arguments)]
pub(super) fn live_block_rows<'a>(
    path: &std::path::Path,
    map: &'a crate::mmap::MappedFile,
    format: &SegmentFormat,
    block: &Block,
    rows: &[StoredRow],
    (at, first): (usize, usize),
    staged: &StagedMap,
    all: &Rows<'_>,
) -> Result<Vec<LiveRow<'a>>> {
    let shapes = block_shapes(path, map, format, block, rows.len())?;
    let mut out = Vec::new();
    for (j, r) in rows.iter().enumerate() {
        if !staged_here(staged, all, at, first + j, r) {
            continue;
        }
        let bytes = map.slice(r.offset, r.len)?;
        if crc32(bytes) != r.crc {
            return Err(Error::corrupt(
                path,
                format!("checksum mismatch for staged value {}", r.digest.short()),
            ));
        }
        let shape = shapes
            .as_ref()
            .map_or(Vec::new(), |(rank, s)| s[j * rank..(j + 1) * rank].to_vec());
        out.push((*r, shape, bytes));
    }
    Ok(out)
}

/// What a commit publishes in its index run: every staged value (where it is now: its
/// staging segment, or the Parquet segment the commit wrote it to), then the objects of
/// the commit's pack. Read in place, so the run is written without a copy of the staged
/// values' locations. A staged value's handle is its row reference (all are written
/// when this is made, so bit 63 is clear); an object's is [`OBJECT`] | its position.
struct CommitEntries<'a> {
    staged: &'a StagedMap,
    rows: Rows<'a>,
    to_parquet: &'a DigestMap<Location>,
    objects: &'a [IndexEntry],
}

/// The bit that marks an object's handle in [`CommitEntries`] (a pending row's
/// reference has it too, and none is left when a commit publishes).
const OBJECT: u64 = 1 << 63;

impl CommitEntries<'_> {
    /// The segment and row of the staged value with handle `h`.
    fn staged(&self, h: u64) -> (u32, &StoredRow) {
        self.rows
            .written(Ref::from_bits(h))
            .expect("prepare_commit refused pending values before publishing")
    }
}

impl EntrySource for CommitEntries<'_> {
    fn len(&self) -> usize {
        self.staged.len() + self.objects.len()
    }

    fn keys(&self, out: &mut Vec<(u64, u64)>) {
        out.extend(self.staged.prefixed_refs().map(|(p, r)| (p, r.to_bits())));
        out.extend(
            self.objects
                .iter()
                .enumerate()
                .map(|(j, e)| (e.digest.prefix(), OBJECT | j as u64)),
        );
    }

    fn digest(&self, h: u64) -> &Digest {
        match h & OBJECT {
            0 => &self.staged(h).1.digest,
            _ => &self.objects[(h & !OBJECT) as usize].digest,
        }
    }

    fn entry(&self, h: u64) -> IndexEntry {
        if h & OBJECT != 0 {
            return self.objects[(h & !OBJECT) as usize];
        }
        let (file, row) = self.staged(h);
        match self.to_parquet.get(&row.digest) {
            Some(p) => IndexEntry {
                digest: row.digest,
                kind: EntryKind::ParquetValue,
                loc: *p,
            },
            None => IndexEntry {
                digest: row.digest,
                kind: EntryKind::Value,
                loc: location(file, row),
            },
        }
    }
}
