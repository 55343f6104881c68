//! Branches: create, list, remove, and which branch the staging area is based on.

use std::collections::HashSet;

use hangar_store::journal::Journal;
use hangar_store::Digest;

use crate::commit::CommitId;
use crate::error::{invalid, Error, Result};
use crate::lock;
use crate::names;
use crate::refs;
use crate::repo::Repository;
use crate::stage::BaseInfo;

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
    let journal = hangar.join("staging").join("journal");
    if !journal.exists() {
        return Ok(BaseInfo {
            branch: refs::DEFAULT_BRANCH.to_string(),
            commit: refs::read_ref(hangar, refs::DEFAULT_BRANCH)?,
        });
    }
    let frames = Journal::read(&journal)?;
    let first = frames
        .first()
        .ok_or_else(|| Error::corrupt(&journal, "staging journal has no base frame"))?;
    BaseInfo::decode(&first.body)
        .map_err(|e| Error::corrupt(&journal, format!("bad base record: {e}")))
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
        names::check_branch_name(name)?;
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
    pub fn list_branches(&self) -> Result<Vec<Branch>> {
        Ok(self
            .branches()?
            .into_iter()
            .map(|(name, head)| Branch { name, head })
            .collect())
    }

    /// The branch the staging area (and so the next writer checkout) is based on.
    pub fn staging_branch(&self) -> Result<String> {
        Ok(staging_base(self.hangar_dir())?.branch)
    }

    /// Removes branch `name`; its commits are never deleted (create a branch at the old
    /// head to get it back). Refused for the only branch, the branch the staging area is
    /// based on (the writer's branch), and — unless `force` — a branch whose head is not
    /// contained in another branch.
    pub fn remove_branch(&self, name: &str, force: bool) -> Result<()> {
        names::check_branch_name(name)?;
        let branches = self.list_branches()?;
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
