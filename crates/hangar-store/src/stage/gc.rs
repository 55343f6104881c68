//! Garbage collection (`hangar gc`; docs/format.md, "Garbage collection"): what the
//! layer above proves reachable is kept, every other index entry is dropped, files left
//! with nothing reachable are deleted, mostly-dead files are rewritten, and files no
//! index run refers to are deleted only when their own contents prove them garbage.
//!
//! Order, so that a crash at any step leaves a repository that verifies: new files
//! (reserved in the journal first, as a commit's are) → one index run replacing every
//! run (atomic rename) → removal of the replaced runs → deletion of the garbage files,
//! only while no other store has the repository open ([`Store::while_alone`]).

use super::recovery::data_files;
use super::*;
use crate::mmap::MappedFile;
use crate::pack::ObjectSink;
use rayon::prelude::*;
use crate::segment::parquet::{ParquetSegment, ParquetSegmentWriter};
use crate::segment::{sealed_rows, SealedRow};

/// What the layer above proves reachable: every value digest a kept record stores in a
/// segment, and every object digest (commits, roots, schemas, record-table nodes).
#[derive(Debug, Default, Clone)]
pub struct Reachable {
    /// Values kept.
    pub values: DigestSet,
    /// Objects kept.
    pub objects: DigestSet,
}

/// How gc runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GcOptions {
    /// Report what would be removed and rewritten; change nothing.
    pub dry_run: bool,
    /// A file whose reachable bytes are less than this fraction of the bytes of values
    /// or objects it holds is rewritten (its reachable contents copied to a new file, the old one removed).
    /// 0 never rewrites.
    pub compact_below: f64,
    /// Something else in this process holds the repository open (a checkout of the
    /// layer above): deletions are deferred, as for another process.
    pub others_open: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            compact_below: DEFAULT_COMPACT_BELOW,
            others_open: false,
        }
    }
}

/// The default of [`GcOptions::compact_below`].
pub const DEFAULT_COMPACT_BELOW: f64 = 0.5;

/// One file gc removed, rewrote, deferred or kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcFile {
    /// The file.
    pub path: PathBuf,
    /// Its length.
    pub bytes: u64,
    /// Bytes of reachable contents in it (moved to a new file when it was rewritten).
    pub live_bytes: u64,
    /// Why it was kept (only for [`GcReport::kept`]).
    pub why: String,
}

/// What gc did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcReport {
    /// True for a dry run: nothing was changed.
    pub dry_run: bool,
    /// Files deleted (would be, in a dry run): nothing reachable in them, or no index
    /// run refers to them and their contents prove them garbage.
    pub removed: Vec<GcFile>,
    /// Mostly-dead files whose reachable contents were copied to [`GcReport::written`];
    /// the old files are deleted like [`GcReport::removed`].
    pub rewritten: Vec<GcFile>,
    /// Garbage left in place because another store had the repository open (a reader
    /// may still look there): no index run refers to these files any more, and the next
    /// gc with the repository to itself deletes them.
    pub deferred: Vec<GcFile>,
    /// Files no index run refers to that gc cannot prove garbage (unreadable, or holding
    /// reachable contents no index run locates): kept.
    pub kept: Vec<GcFile>,
    /// New files holding the contents of the rewritten ones.
    pub written: Vec<PathBuf>,
    /// Bytes deleted (would be, in a dry run).
    pub bytes_removed: u64,
    /// Bytes written to new files (in a dry run, the reachable bytes that would move).
    pub bytes_written: u64,
    /// Index entries kept.
    pub live_entries: usize,
    /// Index entries dropped (unreachable values and objects).
    pub dead_entries: usize,
    /// Index runs before gc.
    pub runs_before: usize,
    /// Commits kept only because a reflog entry younger than the prune age names them
    /// (a deleted branch's or a reset's), with everything only they reach. The store
    /// knows no commits: the layer that proves reachability fills this in.
    pub reflog_only_commits: usize,
}

impl StoreWriter {
    /// Collects the garbage of the store given what is `live` (see the module docs).
    /// The staging area's own files are never touched. Refuses to run over a missing
    /// index run (the values it locates would look unreachable).
    pub fn collect_garbage(&mut self, live: &Reachable, opts: &GcOptions) -> Result<GcReport> {
        self.writable()?;
        let store = self.store.clone();
        store.refresh()?;
        if let Some(e) = store.missing_runs().into_iter().next() {
            return Err(e);
        }
        let dir = store.dir().to_path_buf();
        let mut report = GcReport {
            dry_run: opts.dry_run,
            ..GcReport::default()
        };
        // Bytes of content per file (live or not): the rewrite threshold compares the
        // live part with this, not with the file length, so the fixed overhead of a
        // small file (an Arrow schema and footer) never makes it look mostly dead. Only
        // the entries kept are collected (runs are read where they are mapped).
        let mut held_bytes: HashMap<FileId, u64> = HashMap::new();
        let mut entries: Vec<IndexEntry> = Vec::new();
        let mut total = 0usize;
        let records = {
            let index = store.index()?;
            report.runs_before = index.run_count();
            index.for_each_entry(|e| {
                total += 1;
                *held_bytes.entry(e.loc.file).or_default() += e.loc.len;
                if is_live(live, &e.digest, e.kind) {
                    entries.push(e);
                }
            })?;
            index.files()
        };
        // Newest run first, so the stable sort keeps the entry a lookup would find (an
        // older copy of the same digest is dropped with the dead entries).
        crate::par::install(|| entries.par_sort_by_key(|e| e.digest));
        entries.dedup_by(|a, b| a.digest == b.digest);
        report.live_entries = entries.len();
        report.dead_entries = total - entries.len();
        let mut live_bytes: HashMap<FileId, u64> = HashMap::new();
        for e in &entries {
            *live_bytes.entry(e.loc.file).or_default() += e.loc.len;
        }

        let mut keep: Vec<FileRecord> = Vec::new();
        let mut rewrite: Vec<FileRecord> = Vec::new();
        let mut doomed: Vec<(FileId, FileKind)> = Vec::new();
        for f in &records {
            let lb = live_bytes.get(&f.id).copied().unwrap_or(0);
            let file = GcFile {
                path: file_path(&dir, f.id, f.kind),
                bytes: f.len,
                live_bytes: lb,
                why: String::new(),
            };
            if lb == 0 {
                report.removed.push(file);
                doomed.push((f.id, f.kind));
            } else if (lb as f64) < opts.compact_below * held_bytes.get(&f.id).copied().unwrap_or(0) as f64 {
                report.rewritten.push(file);
                rewrite.push(*f);
            } else {
                keep.push(*f);
            }
        }
        let index_changes = report.dead_entries > 0 || !doomed.is_empty() || !rewrite.is_empty();

        // Files no index run refers to, and not the staging area's.
        let journal = journal_files(&dir)?;
        let indexed: HashSet<FileId> = records.iter().map(|f| f.id).collect();
        for (id, kind, path) in data_files(&dir)? {
            if indexed.contains(&id)
                || journal.created.contains(&id)
                || journal.reserved.contains(&id)
                || self.files.iter().any(|f| f.id == id)
                || self.reserved.iter().any(|r| r.0 == id)
            {
                continue;
            }
            let bytes = fs::symlink_metadata(&path).map_or(0, |m| m.len());
            let mut file = GcFile {
                path,
                bytes,
                live_bytes: 0,
                why: String::new(),
            };
            let rows = super::staged_map::Rows::new(&self.files, &self.slots);
            match prove_garbage(&file.path, kind, live, &entries, (&self.staged, &rows)) {
                Ok(()) => {
                    report.removed.push(file);
                    doomed.push((id, kind));
                }
                Err(why) => {
                    file.why = why;
                    report.kept.push(file);
                }
            }
        }

        let doomed_bytes: u64 = report
            .removed
            .iter()
            .chain(&report.rewritten)
            .map(|f| f.bytes)
            .sum();
        if opts.dry_run {
            report.bytes_written = report.rewritten.iter().map(|f| f.live_bytes).sum();
            report.bytes_removed = doomed_bytes;
            return Ok(report);
        }

        if !rewrite.is_empty() {
            let moving: HashSet<FileId> = rewrite.iter().map(|f| f.id).collect();
            let (moved, rest): (Vec<IndexEntry>, Vec<IndexEntry>) =
                entries.into_iter().partition(|e| moving.contains(&e.loc.file));
            entries = rest;
            for (record, new_entries) in self.rewrite_files(&rewrite, moved)? {
                report.written.push(file_path(&dir, record.id, record.kind));
                report.bytes_written += record.len;
                keep.push(record);
                entries.extend(new_entries);
            }
            failpoint::hit("gc.after_rewrite")?;
            doomed.extend(rewrite.iter().map(|f| (f.id, f.kind)));
        }
        if index_changes {
            store.index_mut()?.replace_all(entries, keep)?;
        }

        let deleted = if opts.others_open {
            None
        } else {
            store.while_alone(|| delete_files(&dir, &doomed))
        };
        match deleted {
            Some(result) => {
                result?;
                report.bytes_removed = doomed_bytes;
            }
            None => {
                let mut deferred = std::mem::take(&mut report.removed);
                deferred.extend(report.rewritten.iter().cloned());
                report.deferred = deferred;
            }
        }
        if report.deferred.is_empty() {
            // Nothing of this store can read the deleted files any more.
            store.index_mut()?.drop_retired();
        }
        let ids: Vec<FileId> = doomed.iter().map(|d| d.0).collect();
        store.forget_files(&ids)?;
        Ok(report)
    }

    /// Copies the reachable contents (`moved`, entries located in `files`) of mostly-dead
    /// files to new ones: objects to one pack, values to one segment per format. Every
    /// value's CRC and every object's digest is checked on the way. Returns the new
    /// files with the entries locating what they hold.
    fn rewrite_files(
        &mut self,
        files: &[FileRecord],
        moved: Vec<IndexEntry>,
    ) -> Result<Vec<(FileRecord, Vec<IndexEntry>)>> {
        let store = self.store.clone();
        let dir = store.dir().to_path_buf();
        let mut out = Vec::new();
        let mut by_file: HashMap<FileId, Vec<IndexEntry>> = HashMap::new();
        for e in moved {
            by_file.entry(e.loc.file).or_default().push(e);
        }
        // Objects: one pack.
        let mut spool = PackSpool::rewriting(store.clone());
        for f in files.iter().filter(|f| f.kind == FileKind::Pack) {
            for e in by_file.get(&f.id).into_iter().flatten() {
                let EntryKind::Object(type_code) = e.kind else {
                    continue;
                };
                let bytes = store.read_entry(e)?;
                if Digest::of_object(type_code, &bytes) != e.digest {
                    return Err(Error::corrupt(
                        pack_path(&dir, f.id),
                        format!(
                            "object {} does not hash to its digest; gc stopped before \
                             deleting anything (run `hangar verify`)",
                            e.digest.short()
                        ),
                    ));
                }
                spool.put(Object {
                    type_code,
                    digest: e.digest,
                    bytes: bytes.to_vec(),
                });
            }
        }
        if !spool.is_empty() {
            let id = self.reserve_file(FileKind::Pack)?;
            out.push(spool.finish(&pack_path(&dir, id), id)?);
        }
        // Values: one segment per format, in the order of the old files.
        let mut writers: Vec<(SegmentWriter, PendingBatch, Vec<IndexEntry>)> = Vec::new();
        for f in files.iter().filter(|f| f.kind == FileKind::Segment) {
            let Some(mut list) = by_file.remove(&f.id) else {
                continue;
            };
            list.sort_by_key(|e| e.loc.offset);
            let path = segment_path(&dir, f.id);
            let map = MappedFile::open(&path)?;
            let (format, rows) = sealed_rows(&path, map.bytes())?;
            let shapes: HashMap<Digest, Vec<u64>> = match format {
                SegmentFormat::VarTensor { .. } => {
                    rows.into_iter().map(|r| (r.digest, r.shape)).collect()
                }
                _ => HashMap::new(),
            };
            let w = match writers.iter().position(|(w, _, _)| *w.format() == format) {
                Some(i) => i,
                None => {
                    let id = self.reserve_file(FileKind::Segment)?;
                    let sw = SegmentWriter::create(&segment_path(&dir, id), id, format.clone())?;
                    writers.push((sw, PendingBatch::new(format.clone()), Vec::new()));
                    writers.len() - 1
                }
            };
            let (sw, pending, new_entries) = &mut writers[w];
            for e in list {
                let bytes = map.slice(e.loc.offset, e.loc.len)?;
                if crc32(bytes) != e.loc.crc {
                    return Err(Error::corrupt(
                        &path,
                        format!(
                            "checksum mismatch for {} at offset {}; gc stopped before \
                             deleting anything (run `hangar verify`)",
                            e.digest.short(),
                            e.loc.offset
                        ),
                    ));
                }
                let shape = match &format {
                    SegmentFormat::VarTensor { .. } => shapes.get(&e.digest).ok_or_else(|| {
                        Error::corrupt(&path, format!("no row records {}", e.digest.short()))
                    })?,
                    _ => &Vec::new(),
                };
                pending.push(e.digest, e.loc.crc, shape, bytes);
                if pending.data_len() >= FLUSH_BYTES || pending.rows() >= FLUSH_ROWS {
                    flush_pending(sw, pending, new_entries)?;
                }
            }
        }
        for (mut sw, mut pending, mut new_entries) in writers {
            flush_pending(&mut sw, &mut pending, &mut new_entries)?;
            let record = sw.seal()?;
            out.push((record, new_entries));
        }
        // Compressed values: one Parquet segment per format and compression.
        let mut pq: Vec<(ParquetSegmentWriter, Compression)> = Vec::new();
        for f in files.iter().filter(|f| f.kind == FileKind::Parquet) {
            let Some(mut list) = by_file.remove(&f.id) else {
                continue;
            };
            list.sort_by_key(|e| e.loc.offset);
            let seg = store.parquet_segment(f.id)?;
            let shapes: Vec<SealedRow> = match seg.format() {
                SegmentFormat::VarTensor { .. } => seg.sealed_rows()?,
                _ => Vec::new(),
            };
            let (format, compression) = (seg.format().clone(), seg.compression());
            let w = match pq
                .iter()
                .position(|(w, c)| *w.format() == format && *c == compression)
            {
                Some(i) => i,
                None => {
                    let avg = list.iter().map(|e| e.loc.len).sum::<u64>() / list.len() as u64;
                    let id = self.reserve_file(FileKind::Parquet)?;
                    let path = parquet_path(&dir, id);
                    pq.push((
                        ParquetSegmentWriter::create(&path, id, format.clone(), compression, avg)?,
                        compression,
                    ));
                    pq.len() - 1
                }
            };
            for e in list {
                // read_entry checks the value's CRC (and the file's, when first opened).
                let bytes = store.read_entry(&e).map_err(gc_stopped)?;
                let shape: &[u64] = if shapes.is_empty() {
                    &[]
                } else {
                    match shapes.get(e.loc.offset as usize) {
                        Some(row) if row.digest == e.digest => &row.shape,
                        _ => {
                            return Err(Error::corrupt(
                                seg.path(),
                                format!("no row records {}", e.digest.short()),
                            ))
                        }
                    }
                };
                pq[w].0.push(e.digest, e.loc.crc, shape, &bytes)?;
            }
        }
        for (w, _) in pq {
            let (record, rows) = w.finish()?;
            let entries = rows
                .into_iter()
                .map(|r| IndexEntry {
                    digest: r.digest,
                    kind: EntryKind::ParquetValue,
                    loc: Location {
                        file: record.id,
                        offset: r.offset,
                        len: r.len,
                        crc: r.crc,
                    },
                })
                .collect();
            out.push((record, entries));
        }
        fsutil::fsync_dir(&dir.join(SEGMENTS_DIR))?;
        Ok(out)
    }
}

fn is_live(live: &Reachable, digest: &Digest, kind: EntryKind) -> bool {
    match kind {
        EntryKind::Value | EntryKind::ParquetValue => live.values.contains(digest),
        EntryKind::Object(_) => live.objects.contains(digest),
    }
}

/// A read error met while gc copies values: nothing was deleted yet.
fn gc_stopped(e: Error) -> Error {
    match e {
        Error::Corrupt { path, detail } => Error::Corrupt {
            path,
            detail: format!("{detail}; gc stopped before deleting anything (run `hangar verify`)"),
        },
        e => e,
    }
}

/// Appends `pending` (if not empty) to `sw`, recording where each row went, and empties
/// it.
fn flush_pending(
    sw: &mut SegmentWriter,
    pending: &mut PendingBatch,
    entries: &mut Vec<IndexEntry>,
) -> Result<()> {
    if !pending.is_empty() {
        let id = sw.id();
        super::ingest::append_rows(sw, pending, id, entries)?;
        pending.clear();
    }
    Ok(())
}

/// `Ok` if the file no index run refers to holds nothing that must be kept: each value
/// or object in it is unreachable, or reachable and located elsewhere — by a kept index
/// entry (in another file) or, for a value, by the staging journal (`staged`: the
/// staging area's own files, which gc never touches). Otherwise why it is kept.
fn prove_garbage(
    path: &std::path::Path,
    kind: FileKind,
    live: &Reachable,
    kept: &[IndexEntry],
    (staged, rows): (&super::staged_map::StagedMap, &super::staged_map::Rows<'_>),
) -> std::result::Result<(), String> {
    let map = MappedFile::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let digests: Vec<(Digest, EntryKind)> = match kind {
        FileKind::Pack => crate::pack::scan_pack(path, map.bytes())
            .map_err(|e| format!("is not a readable pack ({e})"))?
            .into_iter()
            .map(|(d, t)| (d, EntryKind::Object(t)))
            .collect(),
        FileKind::Segment => sealed_rows(path, map.bytes())
            .map_err(|e| format!("is not a readable sealed segment ({e})"))?
            .1
            .into_iter()
            .map(|r| (r.digest, EntryKind::Value))
            .collect(),
        FileKind::Parquet => ParquetSegment::open(map)
            .and_then(|seg| seg.sealed_rows())
            .map_err(|e| format!("is not a readable Parquet segment ({e})"))?
            .into_iter()
            .map(|r| (r.digest, EntryKind::ParquetValue))
            .collect(),
    };
    let stranded = digests
        .iter()
        .filter(|(d, k)| {
            is_live(live, d, *k)
                && kept.binary_search_by_key(d, |e| e.digest).is_err()
                && !(matches!(k, EntryKind::Value | EntryKind::ParquetValue) && staged.contains_key(d, rows))
        })
        .count();
    if stranded > 0 {
        return Err(format!(
            "holds {stranded} reachable values or objects that no index run locates (a lost \
             index run?); run `hangar verify`"
        ));
    }
    Ok(())
}

/// Deletes the garbage files gc proved (one already gone is fine), then makes the
/// deletions durable.
fn delete_files(dir: &std::path::Path, files: &[(FileId, FileKind)]) -> Result<()> {
    for (i, &(id, kind)) in files.iter().enumerate() {
        let p = file_path(dir, id, kind);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &p, e)),
        }
        if i == 0 {
            failpoint::hit("gc.after_first_delete")?;
        }
    }
    fsutil::fsync_dir(&dir.join(SEGMENTS_DIR))?;
    fsutil::fsync_dir(&dir.join(PACKS_DIR))?;
    Ok(())
}
