//! The read side of a repository's storage: the index plus mapped segments and packs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use arrow_buffer::Buffer;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::index::{EntryKind, FileId, FileKind, FileRecord, Index, IndexEntry};
use crate::mmap::MappedFile;
use crate::pack;
use crate::page_cache::PageCache;
use crate::segment::parquet::{DecodedBlock, ParquetSegment};
use crate::segment;

/// Sub-directory of segments.
pub const SEGMENTS_DIR: &str = "segments";
/// Sub-directory of packs.
pub const PACKS_DIR: &str = "packs";
/// Sub-directory of index runs.
pub const INDEX_DIR: &str = "index";
/// Sub-directory of the staging journal.
pub const STAGING_DIR: &str = "staging";

/// Path of a segment file.
pub fn segment_path(dir: &Path, id: FileId) -> PathBuf {
    dir.join(SEGMENTS_DIR).join(format!("{id:08x}.arrow"))
}

/// Path of a Parquet segment file (a compressed column's sealed values).
pub fn parquet_path(dir: &Path, id: FileId) -> PathBuf {
    dir.join(SEGMENTS_DIR).join(format!("{id:08x}.parquet"))
}

/// Path of a pack file.
pub fn pack_path(dir: &Path, id: FileId) -> PathBuf {
    dir.join(PACKS_DIR).join(format!("{id:08x}.pack"))
}

/// Path of a segment or pack file.
pub fn file_path(dir: &Path, id: FileId, kind: FileKind) -> PathBuf {
    match kind {
        FileKind::Segment => segment_path(dir, id),
        FileKind::Pack => pack_path(dir, id),
        FileKind::Parquet => parquet_path(dir, id),
    }
}

/// Storage of one repository (`<repo>/.hangar`): lookups by digest, zero-copy reads.
/// `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    index: RwLock<Index>,
    /// Mapped files by id (ids are small and dense).
    maps: RwLock<Vec<Option<Arc<MappedFile>>>>,
    /// `.hangar/open.lock`, locked shared for as long as this store is open, so that gc
    /// deletes files only while no other store has the repository open (`None` where it
    /// cannot be opened or locked: a read-only copy; gc then never deletes).
    open_lock: Option<std::fs::File>,
    /// Opened Parquet segments and their decoded blocks (see `page_cache`).
    pages: Mutex<PageCache>,
}

/// The file every open store holds a shared `flock` on (see [`Store::while_alone`]).
pub const OPEN_LOCK: &str = "open.lock";

/// Opens and shared-locks `dir/open.lock`, creating it if it can. Waits while a gc holds
/// it exclusively (only while it deletes files). `None` if the file cannot be had (a
/// read-only repository made by an earlier build) or the file system has no `flock`.
fn lock_open_shared(dir: &Path) -> Option<std::fs::File> {
    let path = dir.join(OPEN_LOCK);
    let file = fsutil::open_no_follow(
        fsutil::no_follow().read(true).write(true).create(true),
        "open",
        &path,
    )
    .or_else(|_| fsutil::open_no_follow(fsutil::no_follow().read(true), "open", &path))
    .ok()?;
    file.lock_shared().ok()?;
    Some(file)
}

fn poisoned() -> Error {
    Error::InvalidArgument("a thread panicked while holding the store's lock".into())
}

impl Store {
    /// Creates the storage directories under `dir`.
    pub fn create_layout(dir: &Path) -> Result<()> {
        for sub in [SEGMENTS_DIR, PACKS_DIR, INDEX_DIR, STAGING_DIR] {
            fsutil::create_dir_durable(&dir.join(sub))?;
        }
        Ok(())
    }

    /// Opens the storage in `dir` (lists and maps the index runs only).
    pub fn open(dir: &Path) -> Result<Store> {
        for sub in [SEGMENTS_DIR, PACKS_DIR, INDEX_DIR, STAGING_DIR] {
            if fsutil::is_symlink(&dir.join(sub)) {
                return Err(fsutil::symlink_error(&dir.join(sub)));
            }
            if !dir.join(sub).is_dir() {
                return Err(Error::corrupt(
                    dir.join(sub),
                    "storage directory is missing",
                ));
            }
        }
        // Locked before the runs are listed: a gc that deletes files either finished
        // before this store saw the runs, or sees this store and defers its deletions.
        let open_lock = lock_open_shared(dir);
        let index = Index::open(&dir.join(INDEX_DIR))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            index: RwLock::new(index),
            maps: RwLock::new(Vec::new()),
            open_lock,
            pages: Mutex::new(PageCache::default()),
        })
    }

    /// The storage directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the write-once packs of metadata objects (for messages that name
    /// where a damaged object lives; the layout is the store's own).
    pub fn packs_dir(&self) -> PathBuf {
        self.dir.join(PACKS_DIR)
    }

    /// The directory of the index runs.
    pub fn index_dir(&self) -> PathBuf {
        self.dir.join(INDEX_DIR)
    }

    /// The directory of the segment files.
    pub fn segments_dir(&self) -> PathBuf {
        self.dir.join(SEGMENTS_DIR)
    }

    /// The directory of the staging journal.
    pub fn staging_dir(&self) -> PathBuf {
        self.dir.join(STAGING_DIR)
    }

    /// The path of the file an index entry locates its content in.
    pub fn entry_file(&self, entry: &IndexEntry) -> PathBuf {
        file_path(&self.dir, entry.loc.file, entry.kind.file_kind())
    }

    /// The path of segment `id`.
    pub fn segment_file(&self, id: FileId) -> PathBuf {
        segment_path(&self.dir, id)
    }

    /// Runs `f` only if no other store (in this process or another) has the repository
    /// open: `open.lock` is taken exclusively for the time `f` runs, then shared again.
    /// `None` (and `f` not run) if another store holds it or the lock is unavailable.
    /// gc deletes files only inside `f`: a store opened earlier may still look up a
    /// deleted file through the index runs it mapped, and one that opens meanwhile waits.
    pub(crate) fn while_alone<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let file = self.open_lock.as_ref()?;
        // flock converts the shared lock; a refused conversion may have dropped it.
        if file.try_lock().is_err() {
            let _ = file.lock_shared();
            return None;
        }
        let r = f();
        let _ = file.lock_shared();
        Some(r)
    }

    /// Forgets the cached maps of files gc deleted (their ids may be allocated again).
    pub(crate) fn forget_files(&self, ids: &[FileId]) -> Result<()> {
        let mut maps = self.maps.write().map_err(|_| poisoned())?;
        for &id in ids {
            if let Some(m) = maps.get_mut(id as usize) {
                *m = None;
            }
        }
        self.pages.lock().map_err(|_| poisoned())?.forget(ids);
        Ok(())
    }

    /// Picks up index runs published by another process.
    pub fn refresh(&self) -> Result<()> {
        self.index.write().map_err(|_| poisoned())?.refresh()
    }

    /// Read access to the index.
    pub fn index(&self) -> Result<RwLockReadGuard<'_, Index>> {
        self.index.read().map_err(|_| poisoned())
    }

    pub(crate) fn index_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, Index>> {
        self.index.write().map_err(|_| poisoned())
    }

    /// The index entry of `digest`, if this store can read it: from the live index runs,
    /// or from those a gc retired while this store had the repository open (see
    /// [`Index::lookup`]). To decide that something need not be stored or fetched, use
    /// [`Store::is_stored`].
    pub fn lookup(&self, digest: &Digest) -> Result<Option<IndexEntry>> {
        self.index()?.lookup(digest)
    }

    /// The index entry of `digest` in the live index runs only: what the repository holds
    /// for anyone who opens it now (see [`Index::lookup_live`]).
    pub fn lookup_live(&self, digest: &Digest) -> Result<Option<IndexEntry>> {
        self.index()?.lookup_live(digest)
    }

    /// True if a live index run locates `digest`. Every deduplication (a put, a pack, a
    /// fetch) decides by this, never by [`Store::lookup`], whose fallback to retired runs
    /// finds content that gc has condemned and will delete.
    pub fn is_stored(&self, digest: &Digest) -> Result<bool> {
        Ok(self.lookup_live(digest)?.is_some())
    }

    /// Maps a sealed file (cached).
    pub fn map_file(&self, id: FileId, kind: FileKind) -> Result<Arc<MappedFile>> {
        if let Some(Some(m)) = self.maps.read().map_err(|_| poisoned())?.get(id as usize) {
            return Ok(m.clone());
        }
        let path = file_path(&self.dir, id, kind);
        let map = MappedFile::open(&path).map_err(|e| match e.kind() {
            crate::ErrorKind::NotFound => {
                Error::corrupt(&path, "file referenced by the index is missing")
            }
            _ => e,
        })?;
        let mut maps = self.maps.write().map_err(|_| poisoned())?;
        if maps.len() <= id as usize {
            maps.resize(id as usize + 1, None);
        }
        maps[id as usize] = Some(map.clone());
        Ok(map)
    }

    /// Reads the bytes an index entry locates, checking their CRC-32: zero-copy from a
    /// mapped Arrow segment or pack, or from the decoded block of a Parquet segment.
    pub fn read_entry(&self, entry: &IndexEntry) -> Result<Buffer> {
        let (buf, path) = match entry.kind {
            EntryKind::ParquetValue => {
                let seg = self.parquet_segment(entry.loc.file)?;
                let buf = self.block(&seg, entry.loc.file, entry.loc.offset)?
                    .value(entry.loc.offset, seg.path())?;
                (buf, seg.path().to_path_buf())
            }
            kind => {
                let map = self.map_file(entry.loc.file, kind.file_kind())?;
                let buf = map.buffer(entry.loc.offset, entry.loc.len)?;
                (buf, map.path().to_path_buf())
            }
        };
        if buf.len() as u64 != entry.loc.len || crate::digest::crc32(&buf) != entry.loc.crc {
            return Err(Error::corrupt(
                path,
                format!(
                    "checksum mismatch for {} at {} {}",
                    entry.digest.short(),
                    if entry.kind == EntryKind::ParquetValue { "row" } else { "offset" },
                    entry.loc.offset
                ),
            ));
        }
        Ok(buf)
    }

    /// The Parquet segment `id`, opened once: its length and whole-file CRC-32 are
    /// checked against the index run that lists it before the decoder sees a byte.
    pub(crate) fn parquet_segment(&self, id: FileId) -> Result<Arc<ParquetSegment>> {
        if let Some(seg) = self.pages.lock().map_err(|_| poisoned())?.segment(id) {
            return Ok(seg);
        }
        let path = parquet_path(&self.dir, id);
        let record = self
            .index()?
            .file_record(id)
            .filter(|f| f.kind == FileKind::Parquet)
            .ok_or_else(|| Error::corrupt(&path, "no index run lists this Parquet segment"))?;
        let map = self.map_file(id, FileKind::Parquet)?;
        if map.len() as u64 != record.len {
            return Err(Error::corrupt(
                &path,
                format!("length {} differs from the recorded {}", map.len(), record.len),
            ));
        }
        if crc32fast::hash(map.bytes()) != record.crc {
            return Err(Error::corrupt(&path, "whole-file checksum mismatch"));
        }
        let seg = Arc::new(ParquetSegment::open(map)?);
        self.pages
            .lock()
            .map_err(|_| poisoned())?
            .keep_segment(id, seg.clone());
        Ok(seg)
    }

    /// The decoded block of `seg` holding `row`, from the page cache or decoded now
    /// (outside the lock; two readers may decode the same block once each).
    fn block(&self, seg: &ParquetSegment, id: FileId, row: u64) -> Result<Arc<DecodedBlock>> {
        let first = seg.block_start(row)?;
        if let Some(b) = self.pages.lock().map_err(|_| poisoned())?.block(id, first) {
            return Ok(b);
        }
        let block = Arc::new(seg.read_block(row)?);
        self.pages
            .lock()
            .map_err(|_| poisoned())?
            .keep_block(id, first, block.clone());
        Ok(block)
    }

    /// Sets the memory budget of decoded Parquet blocks (bytes; 0 caches none). The
    /// default is 256 MiB, or `HANGAR_PAGE_CACHE_MB` MiB when that is set.
    pub fn set_page_cache_budget(&self, bytes: usize) -> Result<()> {
        self.pages.lock().map_err(|_| poisoned())?.set_budget(bytes);
        Ok(())
    }

    /// The page cache's budget and the bytes of decoded blocks it holds.
    pub fn page_cache_usage(&self) -> Result<(usize, usize)> {
        let p = self.pages.lock().map_err(|_| poisoned())?;
        Ok((p.budget(), p.used()))
    }

    /// Reads a stored value's bytes (zero-copy, CRC-checked), or `None` if not stored.
    pub fn read_value(&self, digest: &Digest) -> Result<Option<Buffer>> {
        Ok(self.read_value_mapped(digest)?.map(|(b, _)| b))
    }

    /// [`Store::read_value`], and whether the bytes lie in a mapped file (an Arrow
    /// segment: a slice of the file's one mapping, whose [`Buffer::data_ptr`] every value
    /// of that file shares) rather than in a decoded page of a Parquet segment.
    pub fn read_value_mapped(&self, digest: &Digest) -> Result<Option<(Buffer, bool)>> {
        match self.lookup(digest)? {
            Some(e) if e.kind.is_value() => {
                let mapped = e.kind != EntryKind::ParquetValue;
                self.read_entry(&e).map(|b| Some((b, mapped)))
            }
            Some(_) => Err(Error::InvalidArgument(format!(
                "{} is an object, not a value",
                digest.short()
            ))),
            None => Ok(None),
        }
    }

    /// Reads an object: its type code and bytes, after checking the CRC-32 and that the
    /// bytes hash to `digest`. `None` if no such object is stored.
    pub fn read_object(&self, digest: &Digest) -> Result<Option<(u8, Buffer)>> {
        let Some(entry) = self.lookup(digest)? else {
            return Ok(None);
        };
        let EntryKind::Object(type_code) = entry.kind else {
            return Err(Error::InvalidArgument(format!(
                "{} is a value, not an object",
                digest.short()
            )));
        };
        let bytes = self.read_entry(&entry)?;
        if Digest::of_object(type_code, &bytes) != *digest {
            let path = pack_path(&self.dir, entry.loc.file);
            return Err(Error::corrupt(
                path,
                format!("object {} does not hash to its digest", digest.short()),
            ));
        }
        Ok(Some((type_code, bytes)))
    }

    /// Digests of the objects of `type_code` whose hex form starts with `prefix`.
    pub fn find_objects(&self, prefix: &str, type_code: u8) -> Result<Vec<Digest>> {
        Ok(self
            .index()?
            .find_prefix(prefix, EntryKind::Object(type_code))?
            .into_iter()
            .map(|e| e.digest)
            .collect())
    }

    /// Index runs that should exist but do not, as `Corrupt` errors naming them. The
    /// staging journal records the highest run published when it started, so a missing
    /// newest run is caught as well as a gap. A reader may list the runs while the writer
    /// merges two of them; a gap seen then is checked again after a refresh.
    pub fn missing_runs(&self) -> Vec<Error> {
        let expected = match crate::stage::journal_files(&self.dir) {
            Ok(j) => j.index_seq,
            Err(e) => return vec![e],
        };
        let mut problems = Vec::new();
        for attempt in 0..3 {
            problems = match self.index() {
                Ok(i) => i.missing_run_errors(expected),
                Err(e) => vec![e],
            };
            if problems.is_empty() || attempt == 2 {
                break;
            }
            if let Err(e) = self.refresh() {
                return vec![e];
            }
        }
        problems
    }

    /// Checks every file the index refers to — length, whole-file CRC-32 and structure —
    /// and every index entry. Returns one error per problem.
    pub fn verify_files(&self) -> Vec<Error> {
        let index = match self.index() {
            Ok(i) => i,
            Err(e) => return vec![e],
        };
        let mut problems = index.verify();
        let files: Vec<FileRecord> = index.files();
        drop(index);
        let results: Vec<Vec<Error>> = {
            use rayon::prelude::*;
            crate::par::install(|| files.par_iter().map(|f| self.verify_file(f)).collect())
        };
        problems.extend(results.into_iter().flatten());
        problems
    }

    fn verify_file(&self, f: &FileRecord) -> Vec<Error> {
        let path = file_path(&self.dir, f.id, f.kind);
        // Mapped, not read: a 1 GiB segment is checked through the page cache instead of
        // 1 GiB of the process's memory (two files at a time on the pool: 2.7 GB of a
        // 3.2 GB peak for `hangar verify` over 10^7 values of u8[100], until 2026-12-07).
        // A sealed file never changes, as for every read of the store.
        let map = match MappedFile::open(&path) {
            Ok(m) => m,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return vec![Error::corrupt(
                    &path,
                    "file referenced by the index is missing",
                )]
            }
            Err(e) => return vec![e],
        };
        let bytes = map.bytes();
        let mut problems = Vec::new();
        if bytes.len() as u64 != f.len {
            problems.push(Error::corrupt(
                &path,
                format!("length {} differs from the recorded {}", bytes.len(), f.len),
            ));
        } else if crc32fast::hash(bytes) != f.crc {
            problems.push(Error::corrupt(&path, "whole-file checksum mismatch"));
        }
        let structure = match f.kind {
            FileKind::Segment => segment::check_sealed_structure(&path, bytes),
            FileKind::Pack => pack::scan_pack(&path, bytes).map(|_| ()),
            FileKind::Parquet => ParquetSegment::open(map.clone())
                .and_then(|seg| seg.sealed_rows())
                .map(|_| ()),
        };
        if let Err(e) = structure {
            problems.push(e);
        }
        problems
    }
}
