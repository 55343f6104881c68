//! What `verify`, `status` and the lock-free staged view read of the staging area
//! without opening it for writing: the base record, the files the journal created or
//! reserved, the damage that would stop a writer from opening, and unreferenced files.

use super::recovery::{data_files, decode_err};
use super::*;

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

/// The base record the layer above wrote first into the staging journal of the store
/// at `dir` (what the staging area is based on), read without opening the journal for
/// writing. `None` when no writer ever started one.
#[derive(Debug, Clone)]
pub struct StagedBase {
    /// The journal it was read from (for the caller's own error messages).
    pub journal: PathBuf,
    /// The record, as the caller's `base` closure gave it to [`StoreWriter::open`].
    pub body: Vec<u8>,
}

/// Reads [`StagedBase`] of the store at `dir`; `Corrupt` if the journal has no frame.
pub fn staged_base(dir: &std::path::Path) -> Result<Option<StagedBase>> {
    let journal = dir.join(STAGING_DIR).join(JOURNAL);
    if !journal.exists() {
        return Ok(None);
    }
    // The base is the first frame: read alone, it costs the same however much is staged
    // (a full scan read a 10M-sample import's journal, ~750 MB, for every `hangar log`
    // and reader checkout). Only when it is not whole does the full scan run, to tell a
    // torn journal from damage; it still takes the first frame it finds, which a journal
    // a commit put in place between the two reads (a rename) has.
    if let Some(frame) = Journal::first_frame(&journal)? {
        return Ok(Some(StagedBase {
            journal,
            body: frame.body,
        }));
    }
    let mut first: Option<Vec<u8>> = None;
    Journal::read_scan(&journal, &mut |_, body| {
        if first.is_none() {
            first = Some(body.to_vec());
        }
        Ok(())
    })?;
    match first {
        Some(body) => Ok(Some(StagedBase { journal, body })),
        None => Err(Error::corrupt(&journal, "staging journal has no base frame")),
    }
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
                    let (id, block, _, _) = decode_batch_stored(&f.body).map_err(&de)?;
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
