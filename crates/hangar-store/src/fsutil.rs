//! Durable file-system primitives: write-once files and directory fsync.
//!
//! Every file that something else will refer to is published the same way: written to a
//! temporary name in its final directory, fsynced, renamed into place, and then the
//! directory is fsynced so the new name itself survives a power loss.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, IoContext, Result};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Marker in the names of temporary files; leftovers are removed by [`remove_temp_files`].
pub const TMP_MARKER: &str = ".tmp-";

/// A temporary path in the same directory as `target`.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}{TMP_MARKER}{}-{n}", std::process::id()))
}

/// Fsyncs a directory so that entries created or renamed in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).ctx("open directory", dir)?;
    f.sync_all().ctx("fsync directory", dir)
}

/// Creates `dir` (and missing parents) and makes the new entry durable.
pub fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).ctx("create directory", dir)?;
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Writes `bytes` to `target` atomically and durably: temp file, fsync, rename over
/// `target`, fsync of the directory. Readers see the old content or the new, never a mix.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path_for(target);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx("create", &tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        drop(f);
        crate::failpoint::hit("atomic.after_temp_fsync")?;
        fs::rename(&tmp, target).ctx("rename into place", target)?;
        crate::failpoint::hit("atomic.after_rename")?;
        fsync_dir(target.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a whole file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).ctx("read", path)
}

/// Removes temporary files left in `dir` by an interrupted writer. Only the writer calls
/// this, while it holds the writer lock, so no live temp file is removed.
pub fn remove_temp_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.ctx("list", dir)?;
        if entry.file_name().to_string_lossy().contains(TMP_MARKER) {
            fs::remove_file(entry.path()).ctx("remove temporary file", &entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ref");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        fs::write(temp_path_for(&target), b"junk").unwrap();
        assert_eq!(remove_temp_files(dir.path()).unwrap(), 1);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_into_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("no/such/file"), b"x").unwrap_err();
        assert!(err.to_string().contains("create"), "{err}");
    }
}
