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
    let mut f = create_temp(&tmp)?;
    if let Err(e) = f.write_all(bytes) {
        drop(f);
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write", &tmp, e));
    }
    install_temp(f, &tmp, target)
}

/// Creates the temporary file `tmp` (from [`temp_path_for`]) for writing.
pub fn create_temp(tmp: &Path) -> Result<File> {
    // create_new (O_EXCL) refuses an existing name, a symbolic link included.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .ctx("create", tmp)
}

/// The second half of [`write_atomic`], for a temporary file written by the caller:
/// fsyncs `file` (at `tmp`), renames it over `target`, fsyncs the directory. On an
/// error the temporary file is removed.
pub fn install_temp(file: File, tmp: &Path, target: &Path) -> Result<()> {
    let result = (|| {
        file.sync_all().ctx("fsync", tmp)?;
        drop(file);
        crate::failpoint::hit("atomic.after_temp_fsync")?;
        fs::rename(tmp, target).ctx("rename into place", target)?;
        crate::failpoint::hit("atomic.after_rename")?;
        fsync_dir(target.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Opening options that never follow a symbolic link at the last path component
/// (`O_NOFOLLOW`): a link where a repository file should be fails instead of reading or
/// writing the file it points to (DESIGN §3 rule 10). Combine with `create_new` (which
/// refuses any existing name, links included) for new files.
pub fn no_follow() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o
}

/// True if `path` itself (not what it points to) is a symbolic link.
pub fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The error for a failed open of `path`: `Corrupt` when the path is a symbolic link
/// (refused by [`no_follow`]), the I/O error otherwise.
pub fn open_error(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    if is_symlink(path) {
        symlink_error(path)
    } else {
        Error::io(op, path, e)
    }
}

/// `Corrupt`: a symbolic link where a repository file or directory should be.
pub fn symlink_error(path: &Path) -> Error {
    Error::corrupt(
        path,
        "is a symbolic link where libhangar keeps a file of its own; links are never \
         followed (that could read or overwrite a file outside the repository): replace \
         it with the real file or directory",
    )
}

/// Opens `path` with `opts` without following a link at its last component.
pub fn open_no_follow(opts: &OpenOptions, op: &'static str, path: &Path) -> Result<File> {
    opts.open(path).map_err(|e| open_error(op, path, e))
}

/// Checks that `dir` is a real directory, not a symbolic link to one.
pub fn check_real_dir(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(symlink_error(dir)),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::corrupt(dir, "is not a directory")),
        Err(e) => Err(Error::io("stat", dir, e)),
    }
}

/// Reads a whole file, never through a symbolic link.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = open_no_follow(no_follow().read(true), "open", path)?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).ctx("read", path)?;
    Ok(out)
}

/// Removes temporary files left in `dir` by an interrupted writer. Only the writer calls
/// this, while it holds the writer lock, so no live temp file is removed.
pub fn remove_temp_files(dir: &Path) -> Result<usize> {
    remove_temps(dir, |_, _| true)
}

/// True if `name` is a temporary file's name (one [`temp_path_for`] made), never a
/// published file whatever else it looks like: every listing of a directory that
/// [`write_atomic`] writes to skips such names.
pub fn is_temp_name(name: &str) -> bool {
    name.contains(TMP_MARKER)
}

/// Removes the temporary files in `dir` whose writing process has exited: what a killed
/// writer left. For directories written without the writer lock (a live process's
/// temporary file is kept, so its rename still finds it). Temporary names carry the
/// pid of the process that made them (see [`temp_path_for`]); a pid the system reused
/// since only keeps a leftover a while longer.
pub fn remove_orphan_temp_files(dir: &Path) -> Result<usize> {
    remove_temps(dir, |name, entry| {
        let tail = name.split_once(TMP_MARKER).map_or("", |(_, t)| t);
        let pid = tail.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let modified = entry.metadata().ok().and_then(|m| m.modified().ok());
        pid.is_some_and(|p| !process_alive(p, modified))
    })
}

/// Removes the temporary files in `dir` that `removable(name, entry)` picks; a missing
/// `dir` holds none, and a file another process removed first is not an error.
fn remove_temps(dir: &Path, removable: impl Fn(&str, &fs::DirEntry) -> bool) -> Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.ctx("list", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_temp_name(&name) || !removable(&name, &entry) {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove temporary file", entry.path(), e)),
        }
    }
    Ok(removed)
}

/// True unless process `pid` has certainly exited: where `/proc` lists processes
/// (Linux), its entry is gone; elsewhere the file is older than an hour (no rename is
/// that slow), which the caller checks through `modified`.
fn process_alive(pid: u32, modified: Option<std::time::SystemTime>) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_dir = Path::new("/proc");
    if proc_dir.join("self").exists() {
        return proc_dir.join(pid.to_string()).exists();
    }
    modified
        .and_then(|m| m.elapsed().ok())
        .is_none_or(|age| age < std::time::Duration::from_secs(3600))
}

/// Background write-back of a file that is still being appended to, so that the fsync
/// that later makes it durable (a segment's seal) finds most of its bytes already on
/// disk: the disk writes while the writer goes on hashing, encoding and journalling,
/// instead of the commit waiting for all of it at the end.
///
/// [`Writeback::start`] runs `fdatasync` of the file in a thread of its own (never a
/// worker of the rayon pool, which the caller keeps busy). At most one sync per file is
/// in flight: a start while one runs asks the running thread for one more sync after it,
/// so the bytes appended meanwhile are written back too.
///
/// Errors are never lost to the owner's own fsync: the thread syncs through a file
/// description of its own (the file opened again, not a `dup`), and Linux reports a
/// write-back error to every file description open when it happened — so the seal's
/// fsync through the writer's handle still fails. An error the thread saw is also kept
/// and returned by every later [`Writeback::finish`] (a failed write-back marks the
/// pages clean: the file must be treated as failed, never retried into apparent
/// success). Dropping a `Writeback` does not wait for a running sync.
#[derive(Debug, Default)]
pub struct Writeback {
    running: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    /// Shared with the running thread: is it still running, and is another sync asked for.
    state: std::sync::Arc<std::sync::Mutex<SyncState>>,
    failed: Option<Failed>,
}

#[derive(Debug, Default)]
struct SyncState {
    running: bool,
    again: bool,
}

impl Writeback {
    /// Starts a background `fdatasync` of the file at `path`, or asks a running one for
    /// another round. Best effort: if the file cannot be opened again or no thread can be
    /// started, nothing is started (the final fsync does all of the work, as without
    /// write-back).
    pub fn start(&mut self, path: &Path) {
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.running {
                st.again = true;
                return;
            }
        }
        self.reap();
        let Ok(own) = no_follow().read(true).open(path) else {
            return;
        };
        let state = std::sync::Arc::clone(&self.state);
        state.lock().unwrap_or_else(|p| p.into_inner()).running = true;
        let spawned = std::thread::Builder::new()
            .name("hangar-writeback".into())
            .spawn(move || {
                let result = (|| loop {
                    crate::failpoint::hit("writeback.sync").map_err(|e| match e {
                        Error::Io { source, .. } => source,
                        other => std::io::Error::other(other),
                    })?;
                    own.sync_data()?;
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    if !std::mem::take(&mut st.again) {
                        return Ok(());
                    }
                })();
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                (st.running, st.again) = (false, false);
                result
            });
        match spawned {
            Ok(h) => self.running = Some(h),
            Err(_) => self.state.lock().unwrap_or_else(|p| p.into_inner()).running = false,
        }
    }

    /// Waits for the running sync (and any round asked of it) and returns the first
    /// error any sync of this file reported (again on every call: see the type's
    /// documentation).
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.reap();
        match &self.failed {
            // The OS error itself where there is one, so a full disk stays recognisable.
            Some(Failed { os: Some(code), .. }) => Err(std::io::Error::from_raw_os_error(*code)),
            Some(Failed { kind, text, .. }) => Err(std::io::Error::new(
                *kind,
                format!("background write-back failed: {text}"),
            )),
            None => Ok(()),
        }
    }

    /// Joins the thread, if any, and keeps its error.
    fn reap(&mut self) {
        let Some(handle) = self.running.take() else {
            return;
        };
        let result = handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the write-back thread panicked")));
        if let Err(e) = result {
            self.failed.get_or_insert_with(|| Failed {
                os: e.raw_os_error(),
                kind: e.kind(),
                text: e.to_string(),
            });
        }
    }
}

/// The first error of a background sync (an `io::Error` is not `Clone`).
#[derive(Debug)]
struct Failed {
    os: Option<i32>,
    kind: std::io::ErrorKind,
    text: String,
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

    #[cfg(unix)]
    #[test]
    fn only_temp_files_of_exited_processes_are_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("master");
        write_atomic(&target, b"head").unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let orphan = dir.path().join(format!(".master{TMP_MARKER}{dead}-7"));
        fs::write(&orphan, b"torn").unwrap();
        let live = temp_path_for(&target);
        fs::write(&live, b"being written").unwrap();
        assert!(is_temp_name(&orphan.file_name().unwrap().to_string_lossy()));
        assert!(!is_temp_name("master"));
        assert_eq!(remove_orphan_temp_files(dir.path()).unwrap(), 1);
        assert!(!orphan.exists());
        assert!(live.exists(), "a live process's temporary file is kept");
        assert_eq!(fs::read(&target).unwrap(), b"head");
        assert_eq!(remove_orphan_temp_files(&dir.path().join("none")).unwrap(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"keep me").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let err = read_file(&link).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let err = open_no_follow(no_follow().append(true), "open", &link).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt);
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let dlink = dir.path().join("dlink");
        std::os::unix::fs::symlink(&sub, &dlink).unwrap();
        assert!(check_real_dir(&sub).is_ok());
        assert_eq!(
            check_real_dir(&dlink).unwrap_err().kind(),
            crate::ErrorKind::Corrupt
        );
        // write_atomic replaces the link itself, never writing through it.
        write_atomic(&link, b"new").unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"keep me");
        assert!(!is_symlink(&link));
    }

    #[test]
    fn atomic_write_into_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("no/such/file"), b"x").unwrap_err();
        assert!(err.to_string().contains("create"), "{err}");
    }

    #[test]
    fn writeback_syncs_in_the_background_and_reports_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        let mut wb = Writeback::default();
        for _ in 0..3 {
            f.write_all(&[7u8; 1 << 16]).unwrap();
            wb.start(&path);
        }
        wb.finish().unwrap();
        wb.finish().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 3 << 16);
    }
}
