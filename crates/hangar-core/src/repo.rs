//! The repository: init, open, checkouts, history and integrity.

use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use hangar_store::{fs as fsutil, Store};

use crate::checkout::reader::ReaderCheckout;
use crate::checkout::writer::WriterCheckout;
use crate::commit::{CommitId, CommitInfo};
use hangar_store::IoContext;

use crate::error::{invalid, Error, Result};
use crate::format::{self, User};
use crate::lock;
use crate::objects::ObjectType;
use crate::refs;
use crate::shared::Shared;

/// Name of the repository directory inside the user's directory.
pub const HANGAR_DIR: &str = ".hangar";

const README: &str =
    "This directory holds a libhangar repository (version control for tensor data).\n\
Do not edit or delete files here by hand: use the hangar library or command-line tool.\n\
Back it up by copying the whole directory while no writer checkout is open.\n";

/// A repository. Cheap to clone; `Send + Sync`, so share it across threads.
#[derive(Debug, Clone)]
pub struct Repository {
    shared: Arc<Shared>,
}

impl Repository {
    /// Creates a repository in `path` (created if missing), recording the user's name
    /// and email for commits, with the branch `master` and no commits.
    ///
    /// `AlreadyExists` if `path` already holds a repository, unless `remove_old`, which
    /// deletes it first (refused with `Locked` while a writer checkout is open).
    pub fn init(
        path: impl AsRef<Path>,
        user_name: &str,
        user_email: &str,
        remove_old: bool,
    ) -> Result<Repository> {
        let path = path.as_ref();
        format::check_identity("name", user_name)?;
        format::check_identity("email", user_email)?;
        fs::create_dir_all(path).ctx("create directory", path)?;
        let root = fs::canonicalize(path).ctx("resolve", path)?;
        let hangar = root.join(HANGAR_DIR);
        if hangar.exists() {
            if !remove_old {
                return Err(Error::AlreadyExists(format!(
                    "a hangar repository already exists at {}; open it with Repository::open, or init with remove_old = true to delete it and start over",
                    root.display()
                )));
            }
            if hangar.join(format::FORMAT_FILE).exists() && lock::is_held(&hangar)? {
                return Err(Error::Locked(format!(
                    "cannot remove the repository at {}: a writer checkout is open; close it first",
                    root.display()
                )));
            }
            fs::remove_dir_all(&hangar).ctx("remove old repository", &hangar)?;
        }
        // Build the repository under a temporary name and rename it into place, so a crash
        // never leaves a half-made `.hangar`.
        let tmp = fsutil::temp_path_for(&hangar);
        let build = || -> Result<()> {
            fs::create_dir(&tmp).ctx("create directory", &tmp)?;
            Store::create_layout(&tmp)?;
            refs::create_layout(&tmp)?;
            fsutil::write_atomic(&tmp.join("README.txt"), README.as_bytes())?;
            format::write_config(
                &tmp,
                &User {
                    name: user_name.to_string(),
                    email: user_email.to_string(),
                },
            )?;
            format::write_format(&tmp)?;
            fsutil::fsync_dir(&tmp)?;
            fs::rename(&tmp, &hangar).ctx("rename into place", &hangar)?;
            fsutil::fsync_dir(&root)?;
            Ok(())
        };
        if let Err(e) = build() {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        Repository::open(&root)
    }

    /// Opens the repository in `path`. `NotFound` (saying to run init) if there is none;
    /// `Unsupported` if it was written by a newer format.
    pub fn open(path: impl AsRef<Path>) -> Result<Repository> {
        let path = path.as_ref();
        let hangar = path.join(HANGAR_DIR);
        if !hangar.join(format::FORMAT_FILE).is_file() {
            return Err(Error::NotFound(format!(
                "no hangar repository at {}: create one with Repository::init (or `hangar init`) first",
                path.display()
            )));
        }
        let root = fs::canonicalize(path).ctx("resolve", path)?;
        let hangar = root.join(HANGAR_DIR);
        format::check_format(&hangar)?;
        // Files are written in these directories: a symbolic link in their place would
        // send the writes outside the repository (the store checks its own).
        for sub in ["refs", "refs/heads", "logs", "logs/refs", "logs/refs/heads"] {
            let dir = hangar.join(sub);
            if dir.exists() || fsutil::is_symlink(&dir) {
                fsutil::check_real_dir(&dir)?;
            }
        }
        let store = Arc::new(Store::open(&hangar)?);
        Ok(Repository {
            shared: Arc::new(Shared::new(root, hangar, store)),
        })
    }

    /// The directory the repository was created in.
    pub fn path(&self) -> &Path {
        &self.shared.root
    }

    /// The `.hangar` directory holding the repository's state.
    pub fn hangar_dir(&self) -> &Path {
        &self.shared.hangar
    }

    /// The user recorded in new commits.
    pub fn user(&self) -> Result<User> {
        format::read_config(&self.shared.hangar)
    }

    /// Opens the writer checkout on the staging area, on the branch it is based on
    /// (`master` in a new repository). `Locked` if another writer — in this process or
    /// any other — is open.
    pub fn checkout_writer(&self) -> Result<WriterCheckout> {
        WriterCheckout::open(self.shared.clone(), None, false)
    }

    /// Opens the writer checkout on `branch`. If the staging area is based on another
    /// branch it must be clean (else `DirtyStaging`, and the lock is not kept); it then
    /// becomes `branch`'s head. `NotFound` for an unknown branch. (The original Hangar's
    /// rule; see [`Repository::switch_writer_branch`] for git's.)
    pub fn checkout_writer_branch(&self, branch: &str) -> Result<WriterCheckout> {
        WriterCheckout::open(self.shared.clone(), Some(branch), false)
    }

    /// Opens the writer checkout on `branch` as `git checkout` switches branches: changes
    /// staged on another branch move along when they apply unchanged on `branch`'s head
    /// — every sample, column and metadata key they touch is the same there as at the
    /// commit they are based on (always so when both branches are at one commit).
    /// Otherwise `DirtyStaging` naming what differs (at most ten), and nothing changes.
    /// The journal is rewritten on the new base in one atomic replace, so a crash leaves
    /// the changes staged on one branch or the other, whole.
    pub fn switch_writer_branch(&self, branch: &str) -> Result<WriterCheckout> {
        WriterCheckout::open(self.shared.clone(), Some(branch), true)
    }

    /// Creates branch `name` at `start` (a revision; the head of the staging area's
    /// branch when `None`) and opens the writer checkout on it, as `git checkout -b`.
    /// Changes staged on the current branch move with the staging area when they apply
    /// unchanged at the new branch's start (always so at the commit they are based on;
    /// the rule of [`Repository::switch_writer_branch`]); otherwise `DirtyStaging`
    /// naming what differs, and nothing is created. The branch name's errors are [`Repository::create_branch`]'s.
    pub fn checkout_writer_new_branch(
        &self,
        name: &str,
        start: Option<&str>,
    ) -> Result<WriterCheckout> {
        WriterCheckout::open_new_branch(self, name, start)
    }

    /// A read-only view of the durable staging area, taken without the writer lock (so
    /// it works while a writer is open, in this process or another): what the staging
    /// journal had acknowledged when it was opened. Nothing on disk is changed.
    pub fn staged_view(&self) -> Result<crate::StagedView> {
        crate::StagedView::open(self.shared.clone(), true)
    }

    /// [`Repository::staged_view`] without the staged values: columns, keys, records,
    /// metadata, status and diffs, as `hangar status` needs them, with nothing held per
    /// staged value (the map of staged values is what a view of millions of them spends
    /// most of its memory on). Reading a staged value that is not kept in its record
    /// through it is an error that says so; values already committed read as usual.
    pub fn staged_records_view(&self) -> Result<crate::StagedView> {
        crate::StagedView::open(self.shared.clone(), false)
    }

    /// A reader checkout of the head of the branch the staging area is based on.
    pub fn checkout(&self) -> Result<ReaderCheckout> {
        let branch = crate::branch::staging_base(&self.shared.hangar)?.branch;
        self.checkout_branch(&branch)
    }

    /// A reader checkout of a branch's head.
    pub fn checkout_branch(&self, branch: &str) -> Result<ReaderCheckout> {
        self.shared.store.refresh()?;
        let head = self.branch_head(branch)?.ok_or_else(|| {
            Error::NotFound(format!(
                "branch {branch:?} has no commits yet; make a first commit on it"
            ))
        })?;
        let info = self.commit_info(&head)?;
        ReaderCheckout::open(self.shared.clone(), info, Some(branch.to_string()))
    }

    /// A reader checkout of a commit, given by its full id or a unique prefix; an
    /// ambiguous prefix is `InvalidArgument` listing the candidates.
    pub fn checkout_commit(&self, commit: &str) -> Result<ReaderCheckout> {
        let id = self.resolve_commit(commit)?;
        let info = self.commit_info(&id)?;
        ReaderCheckout::open(self.shared.clone(), info, None)
    }

    /// The head commit of `branch` (`None` before its first commit); `NotFound` for an
    /// unknown branch.
    pub fn branch_head(&self, branch: &str) -> Result<Option<CommitId>> {
        crate::names::check_branch_name(branch)?;
        let exists =
            refs::ref_path(&self.shared.hangar, branch).exists() || branch == refs::DEFAULT_BRANCH;
        if !exists {
            let names: Vec<String> = self.branches()?.into_iter().map(|b| b.name).collect();
            return Err(Error::NotFound(format!(
                "no branch named {branch:?}; branches: {}",
                names.join(", ")
            )));
        }
        Ok(refs::read_ref(&self.shared.hangar, branch)?.map(CommitId))
    }

    /// Every branch and its head, as (name, head) pairs sorted by name (see
    /// [`Repository::branches`]).
    pub(crate) fn branch_heads(&self) -> Result<Vec<(String, Option<CommitId>)>> {
        Ok(refs::list_branches(&self.shared.hangar)?
            .into_iter()
            .map(|(n, d)| (n, d.map(CommitId)))
            .collect())
    }

    /// Resolves a full commit id or a unique prefix of it.
    pub fn resolve_commit(&self, spec: &str) -> Result<CommitId> {
        let spec = spec.trim().to_ascii_lowercase();
        if !hangar_store::is_hex_prefix(&spec) {
            return Err(invalid(format!(
                "{spec:?} is not a commit id: give hex digits"
            )));
        }
        self.shared.store.refresh()?;
        let found = self
            .shared
            .store
            .find_objects(&spec, ObjectType::Commit as u8)?;
        match found.as_slice() {
            [] => Err(Error::NotFound(format!("no commit matches {spec:?}"))),
            [one] => Ok(CommitId(*one)),
            many => Err(invalid(format!(
                "commit prefix {spec:?} is ambiguous: it matches {}; give more digits",
                many.iter()
                    .map(|d| d.short())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// A commit's details.
    pub fn commit_info(&self, id: &CommitId) -> Result<CommitInfo> {
        let c = self.shared.read_commit(&id.0)?;
        Ok(CommitInfo::from_object(id.0, c))
    }

    /// Releases a stale writer lock (compatibility with the original Hangar; the OS
    /// lock is released automatically when its holder dies). Refuses with `Locked`,
    /// naming the pid, while a live process holds it. Returns true if stale holder
    /// information was cleared.
    pub fn force_release_writer_lock(&self) -> Result<bool> {
        lock::force_release(&self.shared.hangar)
    }

    /// True if a writer checkout is open in some process.
    pub fn writer_lock_held(&self) -> Result<bool> {
        lock::is_held(&self.shared.hangar)
    }

    /// The process holding the writer lock, if any (pid, host, program, since when).
    pub fn writer_lock_holder(&self) -> Result<Option<lock::Holder>> {
        lock::holder(&self.shared.hangar)
    }

    /// The on-disk format version the repository was written with (see
    /// `docs/format.md`; this build reads versions up to [`format::FORMAT_VERSION`]).
    pub fn format_version(&self) -> Result<u32> {
        format::check_format(&self.shared.hangar)
    }

    /// Sets the memory budget (bytes) of the decoded pages of compressed columns this
    /// handle keeps (default 256 MiB, or `HANGAR_PAGE_CACHE_MB` MiB; 0 keeps none).
    pub fn set_page_cache_budget(&self, bytes: usize) -> Result<()> {
        Ok(self.shared.store.set_page_cache_budget(bytes)?)
    }

    /// The page cache's budget and the bytes of decoded pages it holds now.
    pub fn page_cache_usage(&self) -> Result<(usize, usize)> {
        Ok(self.shared.store.page_cache_usage()?)
    }

    /// Total size of the repository's files in bytes.
    pub fn disk_usage(&self) -> Result<u64> {
        let mut total = 0;
        for entry in walkdir::WalkDir::new(&self.shared.hangar) {
            let entry = entry.map_err(|e| {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                Error::io(
                    "walk",
                    path,
                    e.into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("walk failed")),
                )
            })?;
            if entry.file_type().is_file() {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// The history from the head of the staging branch (or `start`: a branch or commit),
    /// newest first.
    pub fn log(&self, start: Option<&str>) -> Result<Log> {
        crate::history::log(self, start)
    }

    /// The summary of the head of the staging branch (or `at`: a branch or commit).
    pub fn summary(&self, at: Option<&str>) -> Result<crate::history::Summary> {
        crate::history::summary(self, at)
    }

    /// Recomputes every digest reachable from the branch heads and checks every
    /// checksum. See [`crate::verify::VerifyReport`].
    pub fn verify(&self) -> Result<crate::verify::VerifyReport> {
        crate::verify::verify(self)
    }

    /// Resolves a revision to a commit, as git reads one: a branch name, `HEAD` (the
    /// head of the branch the staging area is on), a full commit id or a unique prefix of
    /// one, each followed by any number of `~N` (the N-th first-parent ancestor; `~` is
    /// `~1`) and `^N` (the N-th parent; `^` is `^1`, `^0` the commit itself). An unknown
    /// name is `NotFound`, listing the branches.
    pub fn resolve(&self, rev: &str) -> Result<CommitId> {
        let cut = rev.find(['~', '^']).unwrap_or(rev.len());
        let (base, mut steps) = (&rev[..cut], &rev[cut..]);
        let mut id = self.resolve_base(base, rev)?;
        while let Some(op) = steps.chars().next() {
            if op != '~' && op != '^' {
                return Err(invalid(format!(
                    "{rev:?} is not a revision: after a name or id come only ~N and ^N"
                )));
            }
            let digits = steps[1..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(steps.len(), |i| i + 1);
            let n: usize = match &steps[1..digits] {
                "" => 1,
                d => d.parse().map_err(|_| {
                    invalid(format!("{rev:?}: {d:?} is not a number of generations"))
                })?,
            };
            steps = &steps[digits..];
            id = match op {
                '~' => {
                    for i in 0..n {
                        let info = self.commit_info(&id)?;
                        id = *info.parents.first().ok_or_else(|| {
                            Error::NotFound(format!(
                                "{rev:?}: commit {} has no parent ({} of {n} generations back)",
                                info.id, i
                            ))
                        })?;
                    }
                    id
                }
                _ if n == 0 => id,
                _ => {
                    let info = self.commit_info(&id)?;
                    *info.parents.get(n - 1).ok_or_else(|| {
                        Error::NotFound(format!(
                            "{rev:?}: commit {} has {} parent(s), not a parent {n}",
                            info.id,
                            info.parents.len()
                        ))
                    })?
                }
            };
        }
        Ok(id)
    }

    /// The commit a revision's base names (see [`Repository::resolve`]).
    fn resolve_base(&self, base: &str, rev: &str) -> Result<CommitId> {
        let no_commits = |branch: &str| {
            Error::NotFound(format!(
                "branch {branch:?} has no commits yet; make a first commit on it"
            ))
        };
        if base == "HEAD" {
            let branch = self.staging_branch()?;
            return self
                .branch_head(&branch)?
                .ok_or_else(|| no_commits(&branch));
        }
        if crate::names::check_branch_name(base).is_ok()
            && (refs::ref_path(&self.shared.hangar, base).exists() || base == refs::DEFAULT_BRANCH)
        {
            return self.branch_head(base)?.ok_or_else(|| no_commits(base));
        }
        if let Some((remote, branch)) = base.split_once('/') {
            if crate::names::is_valid_name(remote) && crate::names::is_valid_name(branch) {
                return crate::remote::tracking_head(self, remote, branch);
            }
        }
        if base.len() >= 4 && hangar_store::is_hex_prefix(&base.to_ascii_lowercase()) {
            match self.resolve_commit(base) {
                Err(e) if e.kind() == crate::ErrorKind::NotFound => {}
                other => return other,
            }
        }
        let names: Vec<String> = self.branches()?.into_iter().map(|b| b.name).collect();
        Err(Error::NotFound(format!(
            "no branch or commit named {base:?}{}; branches: {} (a revision is a branch, HEAD, \
             a commit id or a unique prefix of 4 or more hex digits, then ~N or ^N)",
            if base == rev {
                String::new()
            } else {
                format!(" in {rev:?}")
            },
            if names.is_empty() {
                "none yet".to_string()
            } else {
                names.join(", ")
            }
        )))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Repository {
        Repository { shared }
    }
}

pub use crate::history::Log;

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Hangar Repository")?;
        write!(f, "    Path : {}", self.shared.root.display())
    }
}

/// Formats a byte count for people: `46.13 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}
