//! The commit log as data (a handle of entries), and repository facts: disk usage and
//! format version.

use std::ffi::{c_char, CString};

use crate::boundary::{
    free_handle, guard_out, guard_void, handle, into_handle, opt_text, FfiResult, Handle, Kind,
};
use crate::conflicts::{cstring, out_of_range};
use crate::repo::hangar_repo;
use crate::status::*;

/// One commit of a log (`hangar_log_get`). The strings are borrowed from the log and
/// valid until `hangar_log_free`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub struct hangar_commit_info {
    /// The commit id: 64 hex digits, NUL-terminated.
    pub id: *const c_char,
    /// Number of parents (0 for a first commit, 2 for a merge); read them with
    /// `hangar_log_parent`.
    pub n_parents: usize,
    /// Author name.
    pub author: *const c_char,
    /// Author email.
    pub email: *const c_char,
    /// The full message.
    pub message: *const c_char,
    /// Time, nanoseconds since the Unix epoch (UTC).
    pub time_ns: i64,
    /// The branches whose head this commit is, separated by `,` (empty if none).
    pub branch_heads: *const c_char,
}

#[derive(Debug)]
struct CCommit {
    id: CString,
    parents: Vec<CString>,
    author: CString,
    email: CString,
    message: CString,
    time_ns: i64,
    branch_heads: CString,
}

/// A commit log: newest first, every commit reachable from the start (parents before
/// their merges' other parents, as `hangar_repo_log` draws it). Read it with
/// `hangar_log_len`, `hangar_log_get` and `hangar_log_parent`; free it with
/// `hangar_log_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_log {
    entries: Vec<CCommit>,
}

impl Handle for hangar_log {
    const KIND: Kind = Kind::Log;
}

/// The commit log from a revision (`start`, NULL = the current head; a branch, `HEAD`,
/// an id or prefix, with `~N` / `^N`) as data: one entry per commit, with full ids,
/// parents, author, email, time and message. `*out` is a new handle (`hangar_log_free`).
#[no_mangle]
pub extern "C" fn hangar_repo_log_entries(
    repo: *const hangar_repo,
    start: *const c_char,
    out: *mut *mut hangar_log,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let log = r.repo.log(opt_text(start, "start")?)?;
        let entries = log
            .entries
            .iter()
            .map(|e| CCommit {
                id: cstring(&e.commit.id.to_hex()),
                parents: e
                    .commit
                    .parents
                    .iter()
                    .map(|p| cstring(&p.to_hex()))
                    .collect(),
                author: cstring(&e.commit.author),
                email: cstring(&e.commit.email),
                message: cstring(&e.commit.message),
                time_ns: e.commit.time_ns,
                branch_heads: cstring(&e.branch_heads.join(",")),
            })
            .collect();
        Ok(into_handle(hangar_log { entries }))
    })
}

/// The number of commits in the log.
#[no_mangle]
pub extern "C" fn hangar_log_len(log: *const hangar_log, out: *mut usize) -> hangar_status {
    guard_out(out, || Ok(handle(log, "log")?.entries.len()))
}

/// Entry `index` of a live log handle.
fn entry<'a>(log: *const hangar_log, index: usize) -> FfiResult<&'a CCommit> {
    let l: &'a hangar_log = handle(log, "log")?;
    l.entries
        .get(index)
        .ok_or_else(|| out_of_range(index, l.entries.len()))
}

/// Commit `index` of the log (0 is the newest; 0 <= index < `hangar_log_len`).
#[no_mangle]
pub extern "C" fn hangar_log_get(
    log: *const hangar_log,
    index: usize,
    out: *mut hangar_commit_info,
) -> hangar_status {
    guard_out(out, || {
        let c = entry(log, index)?;
        Ok(hangar_commit_info {
            id: c.id.as_ptr(),
            n_parents: c.parents.len(),
            author: c.author.as_ptr(),
            email: c.email.as_ptr(),
            message: c.message.as_ptr(),
            time_ns: c.time_ns,
            branch_heads: c.branch_heads.as_ptr(),
        })
    })
}

/// Parent `parent` (0 is the first parent) of commit `index`: `*out` receives its id, 64
/// hex digits borrowed from the log (valid until `hangar_log_free`).
#[no_mangle]
pub extern "C" fn hangar_log_parent(
    log: *const hangar_log,
    index: usize,
    parent: usize,
    out: *mut *const c_char,
) -> hangar_status {
    guard_out(out, || {
        let c = entry(log, index)?;
        let p = c
            .parents
            .get(parent)
            .ok_or_else(|| out_of_range(parent, c.parents.len()))?;
        Ok(p.as_ptr())
    })
}

/// Frees a log. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_log_free(log: *mut hangar_log) {
    guard_void(|| free_handle(log));
}

/// Bytes of every file under the repository's `.hangar` directory.
#[no_mangle]
pub extern "C" fn hangar_repo_disk_usage(repo: *const hangar_repo, out: *mut u64) -> hangar_status {
    guard_out(out, || Ok(handle(repo, "repo")?.repo.disk_usage()?))
}

/// The on-disk format version the repository was written with (this build reads up to
/// `HANGAR_FORMAT_VERSION`).
#[no_mangle]
pub extern "C" fn hangar_repo_format_version(
    repo: *const hangar_repo,
    out: *mut u32,
) -> hangar_status {
    guard_out(out, || Ok(handle(repo, "repo")?.repo.format_version()?))
}

/// The newest on-disk format version this build reads and writes.
pub const HANGAR_FORMAT_VERSION: u32 = 2;
const _: () = assert!(HANGAR_FORMAT_VERSION == hangar_core::FORMAT_VERSION);
