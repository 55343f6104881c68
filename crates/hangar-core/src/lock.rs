//! The writer lock: an OS advisory lock (`flock` through `File::try_lock`) on
//! `.hangar/writer.lock`, held for the life of a writer checkout. The kernel releases it
//! when the holder exits or is killed, so a crashed writer never needs manual cleanup.
//! The file's content names the holder, for messages only; the kernel lock is the truth.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use hangar_store::IoContext;

use crate::error::{Error, Result};
use crate::timefmt;

/// Name of the lock file.
pub const LOCK_FILE: &str = "writer.lock";

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When the lock was taken (ns since the epoch).
    pub since_ns: i64,
    /// The program.
    pub program: String,
}

impl Holder {
    fn current() -> Holder {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            since_ns: timefmt::now_ns(),
            program: std::env::args().next().unwrap_or_default(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "process {} on host {} ({}) since {}",
            self.pid,
            self.host,
            self.program,
            timefmt::asctime(self.since_ns)
        )
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn read_holder(path: &Path) -> Option<Holder> {
    let bytes = hangar_store::fs::read_file(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Opens (or creates) the lock file, never through a symbolic link: a link there would
/// have the holder note truncate and overwrite the file it points to.
fn open_lock_file(path: &Path) -> Result<File> {
    hangar_store::fs::open_no_follow(
        hangar_store::fs::no_follow()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
        "open",
        path,
    )
    .map_err(Error::from)
}

fn locked_error(path: &Path) -> Error {
    let holder = read_holder(path);
    // A second writer in the process that holds the lock: ending the process is no
    // advice, and the checkout to close is the caller's own.
    if let Some(h) = holder
        .as_ref()
        .filter(|h| h.pid == std::process::id() && h.host == hostname())
    {
        return Error::Locked(format!(
            "Cannot acquire the writer lock: only one writer checkout can be active at a time, and this \
             program already has one open ({}). Close that checkout first, or keep working in it.",
            h.describe()
        ));
    }
    let who = holder.map_or_else(|| "another writer".to_string(), |h| h.describe());
    Error::Locked(format!(
        "Cannot acquire the writer lock: only one writer checkout can be active at a time, and {who} holds it. \
         Close that checkout (or end that process) and try again; the lock is released automatically when its holder exits or crashes."
    ))
}

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the lock without waiting, or fails with `Locked` naming the holder.
    pub fn acquire(hangar_dir: &Path) -> Result<WriterLock> {
        let path = hangar_dir.join(LOCK_FILE);
        let mut file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(locked_error(&path)),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &path, e)),
        }
        let holder = serde_json::to_vec(&Holder::current()).unwrap_or_default();
        // The holder note is for messages only and best effort: the lock itself needs no
        // bytes, so a full disk must not stop a writer that is about to free space.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(&holder));
        Ok(WriterLock { file, path })
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        let _ = &self.path;
    }
}

/// True if a live process holds the writer lock.
pub fn is_held(hangar_dir: &Path) -> Result<bool> {
    let path = hangar_dir.join(LOCK_FILE);
    let file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(false)
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
    }
}

/// Who holds the writer lock, if a live process does (`None` when it is free). The
/// holder's details are what it recorded when it took the lock.
pub fn holder(hangar_dir: &Path) -> Result<Option<Holder>> {
    if !is_held(hangar_dir)? {
        return Ok(None);
    }
    let path = hangar_dir.join(LOCK_FILE);
    Ok(Some(read_holder(&path).unwrap_or(Holder {
        pid: 0,
        host: "unknown".into(),
        since_ns: 0,
        program: "unknown".into(),
    })))
}

/// Clears a stale lock record. Refuses with `Locked`, naming the pid, while a live
/// process holds the lock: releasing a live writer's lock is never safe. Returns true if
/// stale holder information was cleared.
pub fn force_release(hangar_dir: &Path) -> Result<bool> {
    let path = hangar_dir.join(LOCK_FILE);
    let file = open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => {
            let had_info = file.metadata().ctx("stat", &path)?.len() > 0;
            file.set_len(0).ctx("truncate", &path)?;
            let _ = file.unlock();
            Ok(had_info)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let who =
                read_holder(&path).map_or_else(|| "another writer".to_string(), |h| h.describe());
            Err(Error::Locked(format!(
                "refusing to force-release the writer lock: it is held by {who}, which is alive. \
                 Close that writer checkout or end that process; a writer that dies releases the lock by itself."
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
    }
}
