//! The one module of the store that uses `unsafe`: read-only memory maps of sealed files.
//!
//! Audit notes. Mapping a file is unsafe because the mapped bytes change (or the process
//! gets SIGBUS) if another process modifies or truncates the file while it is mapped. The
//! store maps only files that its rules make immutable: sealed segments, packs and index
//! runs are written completely, fsynced and renamed (or sealed) before anything refers to
//! them, and are never written again. The writer's open segment is never mapped; it is
//! read with `pread`. Damage by an outside program is detected by the checksums on every
//! read, except truncation of a mapped file, which like in LMDB or any mmap-based store
//! can end the process with SIGBUS.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_buffer::Buffer;

use crate::error::{Error, IoContext, Result};

/// An immutable file mapped into memory.
#[derive(Debug)]
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
    path: PathBuf,
}

impl MappedFile {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<Arc<MappedFile>> {
        let file =
            crate::fsutil::open_no_follow(crate::fsutil::no_follow().read(true), "open", path)?;
        let len = file.metadata().ctx("stat", path)?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: see the module notes: only immutable files are mapped, and every
            // read of the mapping is bounds-checked against its length.
            Some(unsafe { memmap2::Mmap::map(&file) }.ctx("mmap", path)?)
        };
        Ok(Arc::new(MappedFile {
            map,
            path: path.to_path_buf(),
        }))
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// True if the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes at `offset..offset + len`, or `Corrupt` if that lies outside the file.
    pub fn slice(&self, offset: u64, len: u64) -> Result<&[u8]> {
        let bytes = self.bytes();
        let start = usize::try_from(offset).ok();
        let end = start.and_then(|s| s.checked_add(usize::try_from(len).ok()?));
        match (start, end) {
            (Some(s), Some(e)) if e <= bytes.len() => Ok(&bytes[s..e]),
            _ => Err(Error::corrupt(
                &self.path,
                format!(
                    "range {offset}+{len} lies outside the file of {} bytes",
                    bytes.len()
                ),
            )),
        }
    }

    /// A zero-copy Arrow buffer over `offset..offset + len`. The buffer keeps the mapping
    /// alive for as long as it (or any clone or slice of it) exists.
    pub fn buffer(self: &Arc<Self>, offset: u64, len: u64) -> Result<Buffer> {
        let slice = self.slice(offset, len)?;
        if slice.is_empty() {
            return Ok(Buffer::from_vec(Vec::<u8>::new()));
        }
        let ptr = NonNull::from(slice).cast::<u8>();
        let owner: Arc<dyn arrow_buffer::alloc::Allocation> = self.clone();
        // SAFETY: `ptr..ptr+len` lies inside the mapping (checked by `slice`), the mapping
        // is read-only and immutable (module notes), and `owner` keeps it mapped for the
        // buffer's whole life.
        Ok(unsafe { Buffer::from_custom_allocation(ptr, slice.len(), owner) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_and_buffers_are_bounds_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello world").unwrap();
        let m = MappedFile::open(&p).unwrap();
        assert_eq!(m.slice(6, 5).unwrap(), b"world");
        assert!(m.slice(6, 6).is_err());
        assert!(m.slice(u64::MAX, 2).is_err());
        let b = m.buffer(0, 5).unwrap();
        drop(m);
        assert_eq!(b.as_slice(), b"hello");
        let empty = dir.path().join("e");
        std::fs::write(&empty, b"").unwrap();
        let m = MappedFile::open(&empty).unwrap();
        assert!(m.is_empty());
        assert_eq!(m.buffer(0, 0).unwrap().len(), 0);
    }
}
