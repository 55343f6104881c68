//! Branch refs: `.hangar/refs/heads/<branch>` holds the head commit id. A missing file
//! is a branch with no commit yet. Updates are compare-and-swap against the expected old
//! value (under the writer lock), written atomically (temp, fsync, rename, fsync the
//! directory), and logged in `.hangar/logs/refs/heads/<branch>`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use hangar_store::{fsutil, Digest};

use crate::error::{Error, IoContext, Result};
use crate::names;

/// The branch every repository starts with.
pub const DEFAULT_BRANCH: &str = "master";

/// Path of a branch's ref file.
pub fn ref_path(hangar: &Path, branch: &str) -> PathBuf {
    hangar.join("refs").join("heads").join(branch)
}

fn reflog_path(hangar: &Path, branch: &str) -> PathBuf {
    hangar.join("logs").join("refs").join("heads").join(branch)
}

/// Creates the ref directories.
pub fn create_layout(hangar: &Path) -> Result<()> {
    fsutil::create_dir_durable(&hangar.join("refs").join("heads"))?;
    fsutil::create_dir_durable(&hangar.join("logs").join("refs").join("heads"))?;
    Ok(())
}

/// The head commit of `branch` (`None` before its first commit).
pub fn read_ref(hangar: &Path, branch: &str) -> Result<Option<Digest>> {
    names::check_branch_name(branch)?;
    let path = ref_path(hangar, branch);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let s = std::str::from_utf8(&text).map_err(|_| Error::corrupt(&path, "ref is not text"))?;
    let line = s.strip_suffix('\n').unwrap_or(s);
    Digest::from_hex(line).map(Some).ok_or_else(|| {
        Error::corrupt(
            &path,
            format!("ref does not hold a 64-digit commit id: {line:?}"),
        )
    })
}

/// Moves `branch` from `expected` to `new`, failing with `Conflict` if the branch is no
/// longer at `expected`.
pub fn update_ref(
    hangar: &Path,
    branch: &str,
    expected: Option<Digest>,
    new: Digest,
    log_line: &str,
) -> Result<()> {
    let current = read_ref(hangar, branch)?;
    if current != expected {
        return Err(Error::Conflict(format!(
            "branch {branch:?} moved to {} while this change was prepared on {}; reset the staging area and redo the change",
            current.map_or("nothing".into(), |d| d.short()),
            expected.map_or("nothing".into(), |d| d.short())
        )));
    }
    let path = ref_path(hangar, branch);
    fsutil::write_atomic(&path, format!("{}\n", new.to_hex()).as_bytes())?;
    let log = reflog_path(hangar, branch);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .ctx("open", &log)?;
    let old = expected.map_or_else(|| "0".repeat(64), |d| d.to_hex());
    let line = log_line.replace(['\n', '\r'], " ");
    f.write_all(format!("{old} {} {line}\n", new.to_hex()).as_bytes())
        .ctx("append", &log)?;
    f.sync_data().ctx("fsync", &log)?;
    Ok(())
}

/// Every branch with its head (`master` is listed even before its first commit).
pub fn list_branches(hangar: &Path) -> Result<Vec<(String, Option<Digest>)>> {
    let dir = hangar.join("refs").join("heads");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).ctx("list", &dir)? {
        let entry = entry.ctx("list", &dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(fsutil::TMP_MARKER) || names::check_branch_name(&name).is_err() {
            continue;
        }
        let head = read_ref(hangar, &name)?;
        out.push((name, head));
    }
    if !out.iter().any(|(n, _)| n == DEFAULT_BRANCH) {
        out.push((DEFAULT_BRANCH.to_string(), None));
    }
    out.sort();
    Ok(out)
}
