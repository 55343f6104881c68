//! Packs: write-once files of metadata objects (schemas, record-table nodes, roots,
//! commits). A commit writes all of its new objects into one pack with one fsync,
//! instead of thousands of small files each needing its own.
//!
//! Layout: `"HGPACK01"`, then per object `type u8 | len u64 | digest[32] | bytes |
//! crc32(bytes) u32`, then the trailer `"HGPKEND1" | count u64 | crc32 of everything
//! before the trailer u32`.

use std::path::Path;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::index::{EntryKind, FileId, FileKind, FileRecord, IndexEntry, Location};

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

/// Writes `objects` to a new pack at `path` (durably) and returns its record and the
/// index entries locating each object.
pub fn write_pack(
    path: &Path,
    id: FileId,
    objects: &[Object],
) -> Result<(FileRecord, Vec<IndexEntry>)> {
    let total: usize = objects
        .iter()
        .map(|o| o.bytes.len() + OBJECT_HEADER + 4)
        .sum();
    let mut buf = Vec::with_capacity(PACK_MAGIC.len() + total + TRAILER);
    buf.extend_from_slice(PACK_MAGIC);
    let mut entries = Vec::with_capacity(objects.len());
    for o in objects {
        buf.push(o.type_code);
        buf.extend_from_slice(&(o.bytes.len() as u64).to_le_bytes());
        buf.extend_from_slice(&o.digest.0);
        let offset = buf.len() as u64;
        buf.extend_from_slice(&o.bytes);
        let crc = crc32fast::hash(&o.bytes);
        buf.extend_from_slice(&crc.to_le_bytes());
        entries.push(IndexEntry {
            digest: o.digest,
            kind: EntryKind::Object(o.type_code),
            loc: Location {
                file: id,
                offset,
                len: o.bytes.len() as u64,
                crc,
            },
        });
    }
    let body_crc = crc32fast::hash(&buf);
    buf.extend_from_slice(TRAILER_MAGIC);
    buf.extend_from_slice(&(objects.len() as u64).to_le_bytes());
    buf.extend_from_slice(&body_crc.to_le_bytes());
    fsutil::write_atomic(path, &buf)?;
    let record = FileRecord {
        id,
        kind: FileKind::Pack,
        len: buf.len() as u64,
        crc: crc32fast::hash(&buf),
    };
    Ok((record, entries))
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
        let path = dir.path().join("p.pack");
        let objects = vec![
            Object::new(1, b"alpha".to_vec()),
            Object::new(2, vec![7; 40]),
        ];
        let (rec, entries) = write_pack(&path, 3, &objects).unwrap();
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
