//! Packs: write-once files of metadata objects (schemas, record-table nodes, roots,
//! commits). A commit writes all of its new objects into one pack with one fsync,
//! instead of thousands of small files each needing its own.
//!
//! Layout: `"HGPACK01"`, then per object `type u8 | len u64 | digest[32] | bytes |
//! crc32(bytes) u32`, then the trailer `"HGPKEND1" | count u64 | crc32 of everything
//! before the trailer u32`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::{Digest, DigestSet};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::index::{EntryKind, FileId, FileKind, FileRecord, IndexEntry, Location};
use crate::store::Store;

const PACK_MAGIC: &[u8; 8] = b"HGPACK01";
const TRAILER_MAGIC: &[u8; 8] = b"HGPKEND1";
const OBJECT_HEADER: usize = 1 + 8 + 32;
const TRAILER: usize = 8 + 8 + 4;

/// An object to store: its type code, digest and encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The object type code.
    pub type_code: u8,
    /// `Digest::of_object(type_code, &bytes)`.
    pub digest: Digest,
    /// Encoded bytes.
    pub bytes: Vec<u8>,
}

impl Object {
    /// Builds an object, computing its digest.
    pub fn new(type_code: u8, bytes: Vec<u8>) -> Object {
        Object {
            type_code,
            digest: Digest::of_object(type_code, &bytes),
            bytes,
        }
    }
}

/// Where the objects a commit makes go as they are built: kept in memory (`Vec`), or
/// written to a pack as they come ([`PackSpool`]).
pub trait ObjectSink {
    /// Takes one new object.
    fn put(&mut self, object: Object);
}

impl ObjectSink for Vec<Object> {
    fn put(&mut self, object: Object) {
        self.push(object);
    }
}

/// A pack being written while a commit is built: each object goes to a temporary file
/// in `packs/` as it is made, unless this pack or the index already holds it, so a
/// commit of millions of records holds none of their nodes in memory — only an index
/// entry per object. [`StoreWriter::prepare_commit`](crate::StoreWriter::prepare_commit)
/// finishes it (trailer, fsync, rename to its reserved id). Dropped unfinished, the
/// temporary file is removed (and a crash leaves it for the next writer open to remove,
/// as every temporary file). An I/O error is kept and reported when the pack is finished.
pub struct PackSpool {
    store: Arc<Store>,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    /// CRC-32 of everything written so far (the trailer's body checksum).
    body_crc: crc32fast::Hasher,
    len: u64,
    /// Entries of the objects written, with file id 0 until the pack is finished.
    entries: Vec<IndexEntry>,
    seen: DigestSet,
    error: Option<Error>,
    /// Write-back of the spool while the commit goes on building (a commit of millions
    /// of records writes hundreds of MB here; the final fsync then waits for little).
    writeback: fsutil::Writeback,
    /// `len` when write-back was last started.
    written_back: u64,
    /// Skip objects the index already holds (false when gc rewrites a pack).
    skip_indexed: bool,
}

/// Bytes of pack between two starts of background write-back.
const WRITEBACK_EVERY: u64 = 16 << 20;

impl std::fmt::Debug for PackSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackSpool")
            .field("tmp", &self.tmp)
            .field("objects", &self.entries.len())
            .field("len", &self.len)
            .finish()
    }
}

impl PackSpool {
    /// A spool for new objects of `store` (nothing is created until the first object
    /// the store lacks).
    pub fn new(store: Arc<Store>) -> PackSpool {
        let tmp =
            fsutil::temp_path_for(&store.dir().join(crate::store::PACKS_DIR).join("spool.pack"));
        PackSpool {
            store,
            tmp,
            out: None,
            body_crc: crc32fast::Hasher::new(),
            len: 0,
            entries: Vec::new(),
            seen: DigestSet::default(),
            error: None,
            writeback: fsutil::Writeback::default(),
            written_back: 0,
            skip_indexed: true,
        }
    }

    /// A spool that takes every object, also those the index holds (gc moves them out
    /// of a mostly-dead pack).
    pub(crate) fn rewriting(store: Arc<Store>) -> PackSpool {
        let mut s = PackSpool::new(store);
        s.skip_indexed = false;
        s
    }

    /// A spool holding `objects` (see [`ObjectSink`]).
    pub fn with_objects(store: Arc<Store>, objects: Vec<Object>) -> PackSpool {
        let mut s = PackSpool::new(store);
        for o in objects {
            s.put(o);
        }
        s
    }

    /// Number of objects written (new to the store).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no object was new to the store.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let out = self.out.as_mut().expect("opened before writing");
        out.write_all(bytes).ctx("write", &self.tmp)?;
        self.body_crc.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn try_put(&mut self, o: &Object) -> Result<()> {
        if self.skip_indexed && self.store.is_stored(&o.digest)? {
            return Ok(());
        }
        if self.out.is_none() {
            let f = fsutil::create_temp(&self.tmp)?;
            self.out = Some(BufWriter::with_capacity(1 << 20, f));
            self.write(PACK_MAGIC)?;
        }
        self.write(&[o.type_code])?;
        self.write(&(o.bytes.len() as u64).to_le_bytes())?;
        self.write(&o.digest.0)?;
        let offset = self.len;
        self.write(&o.bytes)?;
        let crc = crc32fast::hash(&o.bytes);
        self.write(&crc.to_le_bytes())?;
        if self.len - self.written_back >= WRITEBACK_EVERY {
            self.written_back = self.len;
            self.writeback.start(&self.tmp);
        }
        self.entries.push(IndexEntry {
            digest: o.digest,
            kind: EntryKind::Object(o.type_code),
            loc: Location {
                file: 0,
                offset,
                len: o.bytes.len() as u64,
                crc,
            },
        });
        Ok(())
    }

    /// Writes the trailer, fsyncs, and renames the pack to `path` (then fsyncs its
    /// directory). Returns its record and the index entries locating each object.
    pub(crate) fn finish(
        mut self,
        path: &Path,
        id: FileId,
    ) -> Result<(FileRecord, Vec<IndexEntry>)> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let body_crc = self.body_crc.clone().finalize();
        let mut trailer = Vec::with_capacity(TRAILER);
        trailer.extend_from_slice(TRAILER_MAGIC);
        trailer.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        trailer.extend_from_slice(&body_crc.to_le_bytes());
        self.write(&trailer)?;
        // Flushed here so that a failed write leaves the writer in place for Drop to
        // remove the temporary file; install_temp removes it on any later failure.
        self.out
            .as_mut()
            .expect("a finished pack has objects")
            .flush()
            .ctx("write", &self.tmp)?;
        let out = self.out.take().expect("a finished pack has objects");
        let file = out
            .into_inner()
            .map_err(|e| Error::io("write", &self.tmp, e.into_error()))?;
        if let Err(e) = self.writeback.finish() {
            drop(file);
            let _ = std::fs::remove_file(&self.tmp);
            return Err(Error::io("write back (fdatasync)", &self.tmp, e));
        }
        fsutil::install_temp(file, &self.tmp, path)?;
        let record = FileRecord {
            id,
            kind: FileKind::Pack,
            len: self.len,
            crc: self.body_crc.clone().finalize(),
        };
        let mut entries = std::mem::take(&mut self.entries);
        for e in &mut entries {
            e.loc.file = id;
        }
        Ok((record, entries))
    }
}

impl ObjectSink for PackSpool {
    fn put(&mut self, object: Object) {
        if self.error.is_some() || !self.seen.insert(object.digest) {
            return;
        }
        if let Err(e) = self.try_put(&object) {
            self.error = Some(e);
        }
    }
}

impl Drop for PackSpool {
    fn drop(&mut self) {
        if self.out.take().is_some() || self.error.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Walks a whole pack, checking every object's checksum and digest and the trailer.
/// Returns the objects' digests and types.
pub fn scan_pack(path: &Path, bytes: &[u8]) -> Result<Vec<(Digest, u8)>> {
    let bad = |d: String| Error::corrupt(path, d);
    if bytes.len() < PACK_MAGIC.len() + TRAILER || &bytes[..8] != PACK_MAGIC {
        return Err(bad("not a pack (bad magic or too short)".into()));
    }
    let body_end = bytes.len() - TRAILER;
    let trailer = &bytes[body_end..];
    if &trailer[..8] != TRAILER_MAGIC {
        return Err(bad("missing pack trailer".into()));
    }
    let count = u64::from_le_bytes(trailer[8..16].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(trailer[16..20].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body_end]) != crc {
        return Err(bad("pack checksum mismatch".into()));
    }
    let mut pos = PACK_MAGIC.len();
    let mut out = Vec::new();
    while pos < body_end {
        if body_end - pos < OBJECT_HEADER + 4 {
            return Err(bad(format!("truncated object header at {pos}")));
        }
        let type_code = bytes[pos];
        let len = u64::from_le_bytes(bytes[pos + 1..pos + 9].try_into().expect("8 bytes"));
        let digest = Digest::from_slice(&bytes[pos + 9..pos + 41]).expect("32 bytes");
        let start = pos + OBJECT_HEADER;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e + 4 <= body_end)
            .ok_or_else(|| bad(format!("object at {pos} claims {len} bytes")))?;
        let obj = &bytes[start..end];
        let ocrc = u32::from_le_bytes(bytes[end..end + 4].try_into().expect("4 bytes"));
        if crc32fast::hash(obj) != ocrc {
            return Err(bad(format!("object {} checksum mismatch", digest.short())));
        }
        if Digest::of_object(type_code, obj) != digest {
            return Err(bad(format!(
                "object {} does not hash to its digest",
                digest.short()
            )));
        }
        out.push((digest, type_code));
        pos = end + 4;
    }
    if out.len() as u64 != count {
        return Err(bad(format!(
            "trailer counts {count} objects, found {}",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_scan_and_detect_every_flipped_bit() {
        let dir = tempfile::tempdir().unwrap();
        Store::create_layout(dir.path()).unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let path = dir.path().join("p.pack");
        let objects = vec![
            Object::new(1, b"alpha".to_vec()),
            Object::new(2, vec![7; 40]),
        ];
        let spool = PackSpool::with_objects(store, objects.clone());
        let (rec, entries) = spool.finish(&path, 3).unwrap();
        assert!(entries.iter().all(|e| e.loc.file == 3));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(rec.len, bytes.len() as u64);
        assert_eq!(&bytes[entries[1].loc.offset as usize..][..40], &[7; 40][..]);
        let found = scan_pack(&path, &bytes).unwrap();
        assert_eq!(found, vec![(objects[0].digest, 1), (objects[1].digest, 2)]);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(scan_pack(&path, &b).is_err(), "bit {bit} undetected");
        }
        for cut in 0..bytes.len() {
            assert!(
                scan_pack(&path, &bytes[..cut]).is_err(),
                "cut {cut} undetected"
            );
        }
    }
}
