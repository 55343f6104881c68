//! Repositories: init, open, the writer lock, checkouts, history as text, branches.

use std::ffi::c_char;

use hangar_core::Repository;

use crate::boundary::{
    check_out, free_handle, guard, guard_out, guard_void, handle, into_handle, opt_text, text,
    write_out, Handle, Kind,
};
use crate::checkout::{hangar_reader, hangar_writer, Reader};
use crate::status::*;
use crate::types::{hangar_buf, hangar_strlist, new_strlist, new_text, text_into, text_out};

/// A repository. `const hangar_repo *` may be shared by many threads.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_repo {
    pub(crate) repo: Repository,
}

impl Handle for hangar_repo {
    const KIND: Kind = Kind::Repo;
}

/// Creates a repository in the existing directory `path` (its `.hangar/` subdirectory),
/// recording `user_name` and `user_email` as the author of commits. If one exists already,
/// fails with `HANGAR_E_ALREADY_EXISTS` unless `remove_old` is true, which deletes it first.
/// On success `*out` is a new handle the caller frees with `hangar_repo_free`.
#[no_mangle]
pub extern "C" fn hangar_repo_init(
    path: *const c_char,
    user_name: *const c_char,
    user_email: *const c_char,
    remove_old: bool,
    out: *mut *mut hangar_repo,
) -> hangar_status {
    guard_out(out, || {
        let path = text(path, "path")?;
        let name = text(user_name, "user_name")?;
        let email = text(user_email, "user_email")?;
        let repo = Repository::init(path, name, email, remove_old)?;
        Ok(into_handle(hangar_repo { repo }))
    })
}

/// Opens the repository at `path` (the directory holding `.hangar/`). Fails with
/// `HANGAR_E_NOT_FOUND` when there is none. On success `*out` is a new handle the caller
/// frees with `hangar_repo_free`.
#[no_mangle]
pub extern "C" fn hangar_repo_open(
    path: *const c_char,
    out: *mut *mut hangar_repo,
) -> hangar_status {
    guard_out(out, || {
        let repo = Repository::open(text(path, "path")?)?;
        Ok(into_handle(hangar_repo { repo }))
    })
}

/// Frees a repository handle. Checkouts made from it stay usable until freed themselves.
/// NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_repo_free(repo: *mut hangar_repo) {
    guard_void(|| free_handle(repo));
}

/// Clears a writer lock left behind by a process that died. Refuses with
/// `HANGAR_E_LOCKED` (naming the pid) while a live process holds it. `*released` (may be
/// NULL) says whether a lock was cleared.
#[no_mangle]
pub extern "C" fn hangar_repo_force_release_writer_lock(
    repo: *const hangar_repo,
    released: *mut bool,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let was = r.repo.force_release_writer_lock()?;
        if !released.is_null() {
            write_out(released, was);
        }
        Ok(())
    })
}

/// Whether a writer checkout is open on the repository, in this process or any other
/// (`*held`); a query only: nothing is opened or changed.
#[no_mangle]
pub extern "C" fn hangar_repo_writer_lock_held(
    repo: *const hangar_repo,
    held: *mut bool,
) -> hangar_status {
    guard(|| {
        check_out(held, "held")?;
        let r = handle(repo, "repo")?;
        write_out(held, r.repo.writer_lock_held()?);
        Ok(())
    })
}

/// The repository summary at a branch or commit (`at`, NULL = the current head) as text,
/// like the tutorial's `repo.summary()`; before the first commit (`at` NULL) it says "No
/// commits have been made in the repository". `*out` is a new buffer (`hangar_buf_free`).
#[no_mangle]
pub extern "C" fn hangar_repo_summary(
    repo: *const hangar_repo,
    at: *const c_char,
    out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let s = r.repo.summary(opt_text(at, "at")?)?;
        Ok(new_text(s.to_string()))
    })
}

/// The commit log from a branch or commit (`start`, NULL = the current head) as text with
/// the branch graph, like the tutorial's `repo.log()`. `*out` is a new buffer.
#[no_mangle]
pub extern "C" fn hangar_repo_log(
    repo: *const hangar_repo,
    start: *const c_char,
    out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let log = r.repo.log(opt_text(start, "start")?)?;
        Ok(new_text(log.to_string()))
    })
}

/// Checks every commit, record table and value of the repository against its digests.
/// `*ok` is true when nothing is wrong; `report` (may be NULL) receives the report as text
/// (a new buffer). Problems found are not an error: the call returns `HANGAR_OK`.
#[no_mangle]
pub extern "C" fn hangar_repo_verify(
    repo: *const hangar_repo,
    ok: *mut bool,
    report: *mut *mut hangar_buf,
) -> hangar_status {
    guard(|| {
        check_out(ok, "ok")?;
        let r = handle(repo, "repo")?;
        let rep = r.repo.verify()?;
        write_out(ok, rep.is_ok());
        if !report.is_null() {
            text_out(report, rep.to_string());
        }
        Ok(())
    })
}

/// Resolves a revision (a branch name, `HEAD`, a full commit id or a unique prefix of 4 or
/// more hex digits, then any `~N` / `^N`, as git reads them) to a full commit id, copied
/// into `buf` (`len` >= `HANGAR_COMMIT_ID_LEN + 1`). An unknown name: `HANGAR_E_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn hangar_repo_resolve(
    repo: *const hangar_repo,
    rev: *const c_char,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let id = r.repo.resolve(text(rev, "rev")?)?;
        text_into(&id.to_hex(), buf, len, "buf")
    })
}

/// Opens a reader checkout of a branch's head (`branch`, NULL = the branch the staging
/// area is on). Readers are immutable, unaffected by later commits, and work while a writer
/// is active. `*out` is a new handle (`hangar_reader_free`).
#[no_mangle]
pub extern "C" fn hangar_repo_checkout(
    repo: *const hangar_repo,
    branch: *const c_char,
    out: *mut *mut hangar_reader,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let co = match opt_text(branch, "branch")? {
            Some(b) => r.repo.checkout_branch(b)?,
            None => r.repo.checkout()?,
        };
        Ok(into_handle(Reader::new(co)))
    })
}

/// Opens a reader checkout of a commit given by its full id or a unique prefix
/// (`HANGAR_E_INVALID_ARGUMENT` when the prefix is ambiguous). `*out` is a new handle.
#[no_mangle]
pub extern "C" fn hangar_repo_checkout_commit(
    repo: *const hangar_repo,
    commit: *const c_char,
    out: *mut *mut hangar_reader,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let co = r.repo.checkout_commit(text(commit, "commit")?)?;
        Ok(into_handle(Reader::new(co)))
    })
}

/// Opens the writer checkout on `branch` (NULL = the branch the staging area is on),
/// taking the repository's writer lock: `HANGAR_E_LOCKED` while another writer (in any
/// process) holds it. `*out` is a new handle; `hangar_writer_close` or
/// `hangar_writer_free` releases the lock.
#[no_mangle]
pub extern "C" fn hangar_repo_checkout_writer(
    repo: *const hangar_repo,
    branch: *const c_char,
    out: *mut *mut hangar_writer,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let co = match opt_text(branch, "branch")? {
            Some(b) => r.repo.checkout_writer_branch(b)?,
            None => r.repo.checkout_writer()?,
        };
        Ok(into_handle(hangar_writer { co }))
    })
}

/// Opens the writer checkout on `branch` as `git checkout` switches branches: changes
/// staged on another branch move along when they apply unchanged at `branch`'s head
/// (every sample, column and metadata key they touch is the same there as at the commit
/// they are based on; always so when both branches are at one commit). Otherwise
/// `HANGAR_E_DIRTY_STAGING`, the message naming what differs (at most ten), and nothing
/// changes. A crash while the changes move leaves them staged on one branch or the
/// other, whole. (`hangar_repo_checkout_writer` keeps the original Hangar's rule:
/// any staged change on another branch refuses.) `HANGAR_E_NOT_FOUND` for an unknown
/// branch, `HANGAR_E_LOCKED` as for `hangar_repo_checkout_writer`. `*out` is a new
/// handle.
#[no_mangle]
pub extern "C" fn hangar_repo_switch_writer_branch(
    repo: *const hangar_repo,
    branch: *const c_char,
    out: *mut *mut hangar_writer,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let co = r.repo.switch_writer_branch(text(branch, "branch")?)?;
        Ok(into_handle(hangar_writer { co }))
    })
}

/// Creates branch `name` at `start` (a branch or commit; NULL = the head of the branch
/// the staging area is on) and opens the writer checkout on it, as `git checkout -b`:
/// changes staged on the current branch move with the staging area when they apply
/// unchanged at `start` (everything they touch — each changed sample, column and
/// metadata key — is the same there as at the commit they are based on, as git carries
/// local changes; always so at that commit); otherwise `HANGAR_E_DIRTY_STAGING`, the
/// message naming what differs, and nothing is created.
/// `HANGAR_E_ALREADY_EXISTS`, `HANGAR_E_NOT_FOUND` and `HANGAR_E_INVALID_ARGUMENT` as
/// for `hangar_repo_create_branch`, `HANGAR_E_LOCKED` as for
/// `hangar_repo_checkout_writer`. `*out` is a new handle.
#[no_mangle]
pub extern "C" fn hangar_repo_checkout_writer_new_branch(
    repo: *const hangar_repo,
    name: *const c_char,
    start: *const c_char,
    out: *mut *mut hangar_writer,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let co = r
            .repo
            .checkout_writer_new_branch(text(name, "name")?, opt_text(start, "start")?)?;
        Ok(into_handle(hangar_writer { co }))
    })
}

/// Creates branch `name` at `base` (a branch or commit; NULL = the current head).
/// `HANGAR_E_ALREADY_EXISTS` if it exists, `HANGAR_E_NOT_FOUND` for an unknown base,
/// `HANGAR_E_INVALID_ARGUMENT` for a bad name or before the first commit.
#[no_mangle]
pub extern "C" fn hangar_repo_create_branch(
    repo: *const hangar_repo,
    name: *const c_char,
    base: *const c_char,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        r.repo
            .create_branch(text(name, "name")?, opt_text(base, "base")?)?;
        Ok(())
    })
}

/// The branch names, sorted. `*out` is a new list (`hangar_strlist_free`).
#[no_mangle]
pub extern "C" fn hangar_repo_branches(
    repo: *const hangar_repo,
    out: *mut *mut hangar_strlist,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let names = r.repo.branches()?.into_iter().map(|b| b.name);
        Ok(new_strlist(names))
    })
}

/// Copies the head commit id of `branch` into `buf` (`len` >= `HANGAR_COMMIT_ID_LEN + 1`);
/// an empty string for a branch without commits. `HANGAR_E_NOT_FOUND` for no such branch.
#[no_mangle]
pub extern "C" fn hangar_repo_branch_head(
    repo: *const hangar_repo,
    branch: *const c_char,
    buf: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let head = r.repo.branch_head(text(branch, "branch")?)?;
        text_into(
            &head.map(|h| h.to_hex()).unwrap_or_default(),
            buf,
            len,
            "buf",
        )
    })
}

/// Deletes branch `name` (never its commits). Refuses the only branch, the staging area's
/// branch, a branch with an open writer, and, unless `force`, a branch whose commits are
/// not merged into another branch.
#[no_mangle]
pub extern "C" fn hangar_repo_remove_branch(
    repo: *const hangar_repo,
    name: *const c_char,
    force: bool,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        r.repo.remove_branch(text(name, "name")?, force)?;
        Ok(())
    })
}

/// Sets the memory budget, in bytes, of the decoded pages of compressed columns that this
/// repository handle and every checkout made from it keep (default 256 MiB, or
/// `HANGAR_PAGE_CACHE_MB` MiB from the environment; 0 keeps none). Pages over a lowered
/// budget are dropped at once, least recently used first; views of values already read
/// stay valid.
#[no_mangle]
pub extern "C" fn hangar_repo_set_page_cache_budget(
    repo: *const hangar_repo,
    bytes: u64,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        r.repo
            .set_page_cache_budget(usize::try_from(bytes).unwrap_or(usize::MAX))?;
        Ok(())
    })
}

/// The page cache's budget (`*budget`) and the bytes of decoded pages it holds now
/// (`*used`); either may be NULL.
#[no_mangle]
pub extern "C" fn hangar_repo_page_cache_usage(
    repo: *const hangar_repo,
    budget: *mut u64,
    used: *mut u64,
) -> hangar_status {
    guard(|| {
        let r = handle(repo, "repo")?;
        let (b, u) = r.repo.page_cache_usage()?;
        for (p, v) in [(budget, b), (used, u)] {
            if !p.is_null() {
                write_out(p, v as u64);
            }
        }
        Ok(())
    })
}
