//! `gc`: reclaims the space of what no branch, no remote-tracking ref, no recent reflog
//! entry and no staged change refers to (docs/format.md, "Garbage collection").
//!
//! This layer proves what is reachable — every commit named by a root, their history,
//! roots, schemas, record-table nodes and the values their records store — and the
//! store removes the rest under its own rules (`StoreWriter::collect_garbage`). gc runs
//! as the writer (it takes the writer lock, so no commit, fetch or other gc runs beside
//! it) and deletes files only when nothing else has the repository open.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hangar_store::{Digest, Reachable};

use crate::error::{Error, Result};
use crate::objects::TreeRef;
use crate::repo::Repository;
use crate::schema::Record;
use crate::shared::Shared;

pub use hangar_store::{GcFile, GcReport, DEFAULT_COMPACT_BELOW};

/// How long a reflog entry keeps the commits it names by default (git's
/// `gc.pruneExpire`: two weeks).
pub const DEFAULT_PRUNE_EXPIRE: Duration = Duration::from_secs(14 * 24 * 3600);

/// How [`Repository::gc`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GcOptions {
    /// Commits that only reflog entries name are kept while the entry is younger than
    /// this (`Some(Duration::ZERO)`: `--prune=now`, only refs and staged changes keep
    /// anything); `None` keeps every commit any reflog entry names (`--prune=never`).
    /// Entries written by builds that did not record a time count as young, except with
    /// `--prune=now`.
    pub prune_expire: Option<Duration>,
    /// Say what would be removed and rewritten; change nothing.
    pub dry_run: bool,
    /// Rewrite a file whose reachable bytes are below this fraction of its length.
    pub compact_below: f64,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            prune_expire: Some(DEFAULT_PRUNE_EXPIRE),
            dry_run: false,
            compact_below: DEFAULT_COMPACT_BELOW,
        }
    }
}

/// Parses a `--prune` value: `now`, `never`, or an age such as `2.weeks`, `14d`, `3h`,
/// `90m`, `30s` (a number and a unit: s, m, h, d, w, or the words).
pub fn parse_prune(s: &str) -> Result<Option<Duration>> {
    let t = s.trim().to_ascii_lowercase();
    match t.as_str() {
        "now" => return Ok(Some(Duration::ZERO)),
        "never" => return Ok(None),
        _ => {}
    }
    let bad = || {
        Error::InvalidArgument(format!(
            "--prune {s:?}: expected now, never, or an age such as 2.weeks, 14d, 12h, 30m"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let unit = unit.trim_start_matches(['.', ' ']).trim_end_matches(".ago");
    let secs = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return Err(bad()),
    };
    Ok(Some(Duration::from_secs(
        n.checked_mul(secs).ok_or_else(bad)?,
    )))
}

impl Repository {
    /// Removes the segments, packs and index entries nothing keeps: what branch
    /// deletion, `reset` and interrupted writes leave behind. Kept: everything reachable
    /// from a branch, a remote-tracking ref, a reflog entry younger than
    /// [`GcOptions::prune_expire`], or the staging area (its base and every staged
    /// value). Files mostly dead are rewritten. Takes the writer lock (`Locked` while a
    /// writer checkout is open); while other checkouts or processes have the repository
    /// open, garbage files are left in place (listed as deferred) so none of them loses
    /// a file it may still read, and the next gc removes them.
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        // Open readers of this handle defer deletions (other handles and processes are
        // seen by the store's lock); an open writer makes the checkout below `Locked`.
        let others_open = self.shared().readers_open();
        let co = self.checkout_writer()?;
        let shared = self.shared();
        let mut strict: Vec<Digest> = Vec::new();
        for (_, head) in self.branch_heads()? {
            strict.extend(head.map(|h| h.digest()));
        }
        for t in self.tracking_refs()? {
            strict.push(t.head.digest());
        }
        strict.extend(co.commit_hash()?.map(|c| c.digest()));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut recent: Vec<Digest> = Vec::new();
        for (id, time) in crate::refs::reflog_commits(&shared.hangar)? {
            let keep = match (opts.prune_expire, time) {
                (None, _) => true,
                (Some(d), _) if d.is_zero() => false,
                (Some(_), None) => true,
                (Some(d), Some(t)) => t.saturating_add(d.as_secs()) >= now,
            };
            if keep {
                recent.push(id);
            }
        }
        let (mut reach, reflog_only_commits) = reachable(shared, strict, recent)?;
        let store_opts = hangar_store::GcOptions {
            dry_run: opts.dry_run,
            compact_below: opts.compact_below,
            others_open,
        };
        let mut report = co.collect_garbage(&mut reach, &store_opts)?;
        report.reflog_only_commits = reflog_only_commits;
        Ok(report)
    }
}

/// Everything reachable from `strict` (commits that must exist) and `recent` (commits
/// reflog entries name, which an earlier gc may have removed: skipped when absent), and
/// how many commits only `recent` reaches.
fn reachable(
    shared: &Shared,
    strict: Vec<Digest>,
    recent: Vec<Digest>,
) -> Result<(Reachable, usize)> {
    let mut r = Reachable::default();
    walk_commits(shared, strict, &mut r)?;
    let mut reflog_only = 0;
    for id in recent {
        if shared.store.is_stored(&id)? {
            reflog_only += walk_commits(shared, vec![id], &mut r)?;
        }
    }
    Ok((r, reflog_only))
}

/// Adds `commits`, their history and everything they reach (each commit once); returns
/// how many commits were not in `r` before.
fn walk_commits(shared: &Shared, mut commits: Vec<Digest>, r: &mut Reachable) -> Result<usize> {
    let mut added = 0;
    while let Some(c) = commits.pop() {
        if !r.objects.insert(c) {
            continue;
        }
        added += 1;
        let commit = shared.read_commit(&c)?;
        commits.extend(commit.parents.iter().copied());
        r.objects.insert(commit.root);
        let root = shared.read_root(&commit.root)?;
        for col in &root.columns {
            r.objects.insert(col.schema);
            if let Some(t) = &col.tree {
                walk_tree(shared, t, true, r)?;
            }
        }
        if let Some(t) = &root.metadata {
            walk_tree(shared, t, false, r)?;
        }
    }
    Ok(added)
}

/// Adds a tree's nodes (each once: a subtree seen before is shared and not walked
/// again) and, with `records`, the values its leaves store in segments. Nodes are read
/// past the node cache: each is visited once, and a walk of millions of records would
/// only fill the cache.
fn walk_tree(src: &Shared, t: &TreeRef, records: bool, r: &mut Reachable) -> Result<()> {
    let mut stack = vec![(t.root, t.height)];
    while let Some((d, level)) = stack.pop() {
        if !r.objects.insert(d) {
            continue;
        }
        let n = src.node_uncached(&d)?;
        if n.level() != level {
            return Err(Error::corrupt(
                src.store.packs_dir(),
                format!(
                    "record-table node {} is at level {} where level {level} belongs; gc \
                     stopped before deleting anything (run `hangar verify`)",
                    d.short(),
                    n.level()
                ),
            ));
        }
        if level == 0 {
            if records {
                for i in 0..n.len() {
                    if let Some(v) = Record::peek_stored_digest(n.value(i)) {
                        r.values.insert(v);
                    }
                }
            }
        } else {
            for i in 0..n.len() {
                stack.push((n.child(i).0, level - 1));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_values_parse_like_git() {
        assert_eq!(parse_prune("now").unwrap(), Some(Duration::ZERO));
        assert_eq!(parse_prune("never").unwrap(), None);
        assert_eq!(
            parse_prune("2.weeks").unwrap(),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(
            parse_prune("2.weeks.ago").unwrap(),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(
            parse_prune("3h").unwrap(),
            Some(Duration::from_secs(3 * 3600))
        );
        assert_eq!(
            parse_prune("90m").unwrap(),
            Some(Duration::from_secs(90 * 60))
        );
        for bad in [
            "",
            "soon",
            "3",
            "h",
            "3 fortnights",
            "99999999999999999999w",
        ] {
            let e = parse_prune(bad).unwrap_err();
            assert!(e.to_string().contains("--prune"), "{bad}: {e}");
        }
    }
}
