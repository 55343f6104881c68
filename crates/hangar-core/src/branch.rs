//! Branches: create, list, remove, and which branch the staging area is based on.

use std::collections::HashSet;

use hangar_store::Digest;

use crate::commit::CommitId;
use crate::error::{invalid, Error, Result};
use crate::lock;
use crate::names;
use crate::refs;
use crate::repo::Repository;
use crate::staging::BaseInfo;

/// A branch and its head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The name.
    pub name: String,
    /// The head (`None` for `master` in a repository without commits).
    pub head: Option<CommitId>,
}

/// The branch and commit the staging area is based on, read from the staging journal
/// without opening a writer (`master` at its head when no writer ever ran).
pub(crate) fn staging_base(hangar: &std::path::Path) -> Result<BaseInfo> {
    let Some(base) = hangar_store::staged_base(hangar)? else {
        return Ok(BaseInfo {
            branch: refs::DEFAULT_BRANCH.to_string(),
            commit: refs::read_ref(hangar, refs::DEFAULT_BRANCH)?,
        });
    };
    BaseInfo::decode(&base.body)
        .map_err(|e| Error::corrupt(&base.journal, format!("bad base record: {e}")))
}

/// What [`Repository::discard_damaged_staging`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardedStaging {
    /// The branch the new, empty staging area is based on.
    pub branch: String,
    /// Its head commit (`None` before the first commit).
    pub head: Option<CommitId>,
    /// Staged changes lost (`None` when the journal was unreadable).
    pub changes: Option<usize>,
    /// Files of the discarded staging area removed.
    pub files_removed: usize,
}

impl Repository {
    /// Problems of the staging area that stop a writer from opening: an unreadable
    /// journal, a missing or cut staging segment. Empty when it is sound. `verify` reports
    /// them too.
    pub fn staging_damage(&self) -> Vec<crate::verify::Problem> {
        hangar_store::check_staging(&self.shared().store)
            .into_iter()
            .map(|e| crate::verify::problem(&Error::Store(e)))
            .collect()
    }

    /// The way out of a damaged staging area (DESIGN §3 rule 6): discards it whatever
    /// state its journal and segments are in and starts an empty one on the same branch
    /// (`master` when even that is unreadable). Every commit stays intact; the staged
    /// changes are lost (counted in the result). Takes the writer lock (`Locked` while a
    /// writer is open); refused with `Corrupt` while an index run is missing, which no
    /// reset can mend. A sound staging area is better reset with
    /// [`WriterCheckout::reset_staging_area`](crate::WriterCheckout::reset_staging_area).
    pub fn discard_damaged_staging(&self) -> Result<DiscardedStaging> {
        let hangar = self.hangar_dir();
        let _lock = crate::lock::WriterLock::acquire(hangar)?;
        let branch = staging_base(hangar)
            .ok()
            .map(|b| b.branch)
            .filter(|b| refs::branch_exists(hangar, b).unwrap_or(false))
            .unwrap_or_else(|| refs::DEFAULT_BRANCH.to_string());
        let head = refs::read_ref(hangar, &branch)?;
        let base = BaseInfo {
            branch: branch.clone(),
            commit: head,
        };
        let done =
            hangar_store::StoreWriter::discard_damaged(&self.shared().store, &base.encode())?;
        Ok(DiscardedStaging {
            branch,
            head: head.map(CommitId),
            changes: done.changes,
            files_removed: done.files_removed,
        })
    }
}

/// Every commit reachable from `start` (itself included).
pub(crate) fn ancestors(repo: &Repository, start: Digest) -> Result<HashSet<Digest>> {
    let mut seen = HashSet::new();
    let mut stack = vec![start];
    while let Some(d) = stack.pop() {
        if seen.insert(d) {
            stack.extend(repo.shared().read_commit(&d)?.parents);
        }
    }
    Ok(seen)
}

impl Repository {
    /// Creates branch `name` at `base` (a branch name or commit id/prefix), or at the head
    /// of the branch the staging area is based on. `AlreadyExists` for a duplicate name,
    /// `NotFound` for an unknown base or before the first commit.
    pub fn create_branch(&self, name: &str, base: Option<&str>) -> Result<Branch> {
        names::check_new_branch_name(name)?;
        if refs::branch_exists(self.hangar_dir(), name)?
            && refs::ref_path(self.hangar_dir(), name).exists()
        {
            return Err(Error::AlreadyExists(format!(
                "a branch named {name:?} already exists"
            )));
        }
        let head = match base {
            Some(rev) => self.resolve(rev)?,
            None => {
                let base = staging_base(self.hangar_dir())?;
                let head = refs::read_ref(self.hangar_dir(), &base.branch)?;
                CommitId(head.ok_or_else(|| {
                    Error::NotFound(format!(
                        "cannot create branch {name:?}: branch {:?} has no commits yet; make a first commit",
                        base.branch
                    ))
                })?)
            }
        };
        let from = base.unwrap_or("the staging branch");
        refs::create_ref(
            self.hangar_dir(),
            name,
            head.0,
            &format!("branch: created from {from}"),
        )?;
        Ok(Branch {
            name: name.to_string(),
            head: Some(head),
        })
    }

    /// Every branch and its head, sorted by name.
    pub fn branches(&self) -> Result<Vec<Branch>> {
        Ok(self
            .branch_heads()?
            .into_iter()
            .map(|(name, head)| Branch { name, head })
            .collect())
    }

    /// The branch the staging area (and so the next writer checkout) is based on.
    pub fn staging_branch(&self) -> Result<String> {
        Ok(staging_base(self.hangar_dir())?.branch)
    }

    /// Removes branch `name`; its commits stay (create a branch at the old head to get it
    /// back) until [`Repository::gc`] removes them, once the reflog entry of the deletion
    /// is older than gc's grace period (two weeks by default) and nothing else keeps them. Refused for the only branch, the branch the staging area is
    /// based on (the writer's branch), and — unless `force` — a branch whose head is not
    /// contained in another branch.
    pub fn remove_branch(&self, name: &str, force: bool) -> Result<()> {
        names::check_branch_name(name)?;
        let branches = self.branches()?;
        let Some(target) = branches.iter().find(|b| b.name == name) else {
            return Err(Error::NotFound(format!("no branch named {name:?}")));
        };
        if branches.len() == 1 {
            return Err(invalid(format!(
                "cannot remove {name:?}: it is the only branch"
            )));
        }
        let staging = staging_base(self.hangar_dir())?;
        if staging.branch == name {
            let open = if lock::is_held(self.hangar_dir())? {
                " and a writer checkout is open on it"
            } else {
                ""
            };
            return Err(invalid(format!(
                "cannot remove {name:?}: the staging area is based on it{open}; check out a writer on another branch first"
            )));
        }
        if !force {
            if let Some(head) = target.head {
                let mut merged = false;
                for other in branches.iter().filter(|b| b.name != name) {
                    if let Some(h) = other.head {
                        if ancestors(self, h.0)?.contains(&head.0) {
                            merged = true;
                            break;
                        }
                    }
                }
                if !merged {
                    return Err(Error::Conflict(format!(
                        "branch {name:?} is not fully merged: its head {head} is on no other branch; merge it, or remove it with force \
                         (its commits stay reachable by id)"
                    )));
                }
            }
        }
        refs::delete_ref(self.hangar_dir(), name)
    }
}
