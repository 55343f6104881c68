//! Branch refs: `.hangar/refs/heads/<branch>` holds the head commit id. A missing file
//! is a branch with no commit yet. Updates are compare-and-swap against the expected old
//! value (under the writer lock), written atomically (temp, fsync, rename, fsync the
//! directory), and logged in `.hangar/logs/refs/heads/<branch>`.

use std::io::Write;
use std::path::{Path, PathBuf};

use hangar_store::{fs as fsutil, Digest};

use hangar_store::IoContext;

use crate::error::{Error, Result};
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
    let text = match fsutil::read_file(&path) {
        Ok(t) => t,
        Err(hangar_store::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e.into()),
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
    let Some(_) = expected else {
        // A creation (the first commit of a branch, a fast-forward of an unborn one, as
        // a clone does): the ref goes first and its reflog line after it, as in
        // `create_ref`. Cut short between the two, it leaves a ref with no line yet,
        // which `verify` accepts; the other order left a creation line with no ref file,
        // which is exactly what a ref lost outside libhangar looks like (`lost_refs`) —
        // a clone killed there did not verify.
        hangar_store::fail_point("ref.before_write")?;
        fsutil::write_atomic(&path, format!("{}\n", new.to_hex()).as_bytes())?;
        append_reflog(hangar, branch, None, new, log_line)?;
        hangar_store::fail_point("ref.after_write")?;
        return Ok(());
    };
    // An update: the reflog line goes first: an update cut short leaves the ref on the
    // line's old id, which `verify` accepts, while a ref that matches neither side of its
    // last line was changed outside libhangar.
    append_reflog(hangar, branch, expected, new, log_line)?;
    hangar_store::fail_point("ref.before_write")?;
    fsutil::write_atomic(&path, format!("{}\n", new.to_hex()).as_bytes())?;
    hangar_store::fail_point("ref.after_write")?;
    Ok(())
}

/// Creates `branch` at `commit`; `AlreadyExists` if it exists. Create-only: the ref file
/// is written under a temporary name and hard-linked into place, which fails if another
/// process created the branch first.
pub fn create_ref(hangar: &Path, branch: &str, commit: Digest, log_line: &str) -> Result<()> {
    names::check_new_branch_name(branch)?;
    let path = ref_path(hangar, branch);
    let tmp = fsutil::temp_path_for(&path);
    fsutil::write_atomic(&tmp, format!("{}\n", commit.to_hex()).as_bytes())?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyExists(format!(
                "a branch named {branch:?} already exists"
            )))
        }
        Err(e) => return Err(Error::io("create", &path, e)),
    }
    fsutil::fsync_dir(path.parent().unwrap_or(hangar))?;
    append_reflog(hangar, branch, None, commit, log_line)
}

/// Deletes `branch`'s ref (its commits stay). `NotFound` if it does not exist. The
/// reflog records the deletion first (new id all zeros), so that `verify` can tell a
/// deleted branch from a ref file lost to outside damage.
pub fn delete_ref(hangar: &Path, branch: &str) -> Result<()> {
    names::check_branch_name(branch)?;
    let path = ref_path(hangar, branch);
    let old = read_ref(hangar, branch)?
        .ok_or_else(|| Error::NotFound(format!("no branch named {branch:?}")))?;
    append_reflog_line(hangar, branch, Some(old), None, "branch deleted")?;
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!("no branch named {branch:?}")))
        }
        Err(e) => return Err(Error::io("remove", &path, e)),
    }
    Ok(fsutil::fsync_dir(path.parent().unwrap_or(hangar))?)
}

fn append_reflog(
    hangar: &Path,
    branch: &str,
    old: Option<Digest>,
    new: Digest,
    log_line: &str,
) -> Result<()> {
    append_reflog_line(hangar, branch, old, Some(new), log_line)
}

/// The id a reflog line shows for "no commit" (a branch created, or deleted).
const NO_COMMIT: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Branches whose ref names a commit that neither side of its reflog's last line names:
/// the ref was changed outside libhangar (two refs swapped by hand, a ref file replaced).
/// A ref on the last line's old id is an update cut short before its rename, and a ref
/// after a deletion line a creation cut short before its reflog line; both are accepted.
/// Returns (branch, the ref's id, the id the reflog moved it to).
pub fn reflog_mismatches(hangar: &Path) -> Result<Vec<(String, Digest, String)>> {
    let mut out = Vec::new();
    for name in list_ref_files(hangar)? {
        // An unreadable ref is reported by verify on its own.
        let Ok(Some(head)) = read_ref(hangar, &name) else {
            continue;
        };
        let log = reflog_path(hangar, &name);
        let text = match fsutil::read_file(&log) {
            Ok(t) => t,
            Err(hangar_store::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        };
        let text = String::from_utf8_lossy(&text);
        let Some(last) = text.lines().last() else {
            continue;
        };
        let mut parts = last.split(' ');
        let (old, new) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let hex = head.to_hex();
        if new != hex && old != hex && new != NO_COMMIT {
            out.push((name, head, new.to_string()));
        }
    }
    Ok(out)
}

/// Every branch's reflog file (deleted branches' too), with the branch name; none when
/// no reflog was ever written.
fn reflog_files(hangar: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir = hangar.join("logs").join("refs").join("heads");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io("list", &dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.ctx("list", &dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !fsutil::is_temp_name(&name) && names::is_valid_name(&name) {
            out.push((name, entry.path()));
        }
    }
    Ok(out)
}

/// Branches whose reflog's last line is not a deletion although their ref file is
/// missing: refs lost to something other than libhangar.
pub fn lost_refs(hangar: &Path) -> Result<Vec<String>> {
    let mut lost = Vec::new();
    for (name, log) in reflog_files(hangar)? {
        if ref_path(hangar, &name).exists() {
            continue;
        }
        let text = fsutil::read_file(&log)?;
        let last = String::from_utf8_lossy(&text)
            .lines()
            .last()
            .map(|l| l.split(' ').nth(1).unwrap_or(NO_COMMIT).to_string());
        if last.is_some_and(|id| id != NO_COMMIT) {
            lost.push(name);
        }
    }
    lost.sort();
    Ok(lost)
}

fn append_reflog_line(
    hangar: &Path,
    branch: &str,
    old: Option<Digest>,
    new: Option<Digest>,
    log_line: &str,
) -> Result<()> {
    let log = reflog_path(hangar, branch);
    let mut f =
        fsutil::open_no_follow(fsutil::no_follow().create(true).append(true), "open", &log)?;
    let old = old.map_or_else(|| NO_COMMIT.to_string(), |d| d.to_hex());
    let new = new.map_or_else(|| NO_COMMIT.to_string(), |d| d.to_hex());
    let line = log_line.replace(['\n', '\r'], " ");
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    f.write_all(format!("{old} {new} @{secs} {line}\n").as_bytes())
        .ctx("append", &log)?;
    Ok(f.sync_data().ctx("fsync", &log)?)
}

/// The commits every reflog line (of every branch, deleted ones included) names on
/// either side, with the line's time in seconds since the epoch (`None` for a line an
/// earlier build wrote without one). For gc: commits a recent line names are kept.
pub fn reflog_commits(hangar: &Path) -> Result<Vec<(Digest, Option<u64>)>> {
    let mut out = Vec::new();
    for (_, log) in reflog_files(hangar)? {
        let text = fsutil::read_file(&log)?;
        for line in String::from_utf8_lossy(&text).lines() {
            let mut parts = line.splitn(4, ' ');
            let (old, new) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let time = parts
                .next()
                .and_then(|t| t.strip_prefix('@'))
                .and_then(|t| t.parse::<u64>().ok());
            for id in [old, new] {
                if id != NO_COMMIT {
                    if let Some(d) = Digest::from_hex(id) {
                        out.push((d, time));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// True if `branch` exists (`master` exists in a new repository before its first commit).
pub fn branch_exists(hangar: &Path, branch: &str) -> Result<bool> {
    if names::check_branch_name(branch).is_err() {
        return Ok(false);
    }
    if ref_path(hangar, branch).exists() {
        return Ok(true);
    }
    Ok(branch == DEFAULT_BRANCH && list_ref_files(hangar)?.is_empty())
}

fn list_ref_files(hangar: &Path) -> Result<Vec<String>> {
    let dir = hangar.join("refs").join("heads");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).ctx("list", &dir)? {
        let entry = entry.ctx("list", &dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !fsutil::is_temp_name(&name) && names::check_branch_name(&name).is_ok() {
            out.push(name);
        }
    }
    Ok(out)
}

/// Every branch with its head (in a new repository, `master` with no commit).
pub fn list_branches(hangar: &Path) -> Result<Vec<(String, Option<Digest>)>> {
    let mut out = Vec::new();
    for name in list_ref_files(hangar)? {
        let head = read_ref(hangar, &name)?;
        out.push((name, head));
    }
    if out.is_empty() {
        out.push((DEFAULT_BRANCH.to_string(), None));
    }
    out.sort();
    Ok(out)
}
