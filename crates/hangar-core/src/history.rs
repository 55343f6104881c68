//! History views: the log and the summary, as structured values that print the way the
//! original Hangar's did.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use crate::checkout::ColumnInfo;
use crate::commit::{CommitId, CommitInfo};
use crate::error::Result;
use crate::repo::{human_bytes, Repository};
use crate::timefmt;

/// One commit in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The commit.
    pub commit: CommitInfo,
    /// Branches whose head this commit is.
    pub branch_heads: Vec<String>,
}

/// The history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The commits, newest first (ties broken by id).
    pub entries: Vec<LogEntry>,
    /// Print the time of each commit.
    pub show_time: bool,
    /// Print the author of each commit.
    pub show_user: bool,
}

impl Log {
    /// Prints times too.
    pub fn with_time(mut self, on: bool) -> Self {
        self.show_time = on;
        self
    }

    /// Prints authors too.
    pub fn with_user(mut self, on: bool) -> Self {
        self.show_user = on;
        self
    }

    /// Keeps the newest `n` commits.
    pub fn limit(mut self, n: usize) -> Self {
        self.entries.truncate(n);
        self
    }
}

impl fmt::Display for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "* {}", e.commit.id)?;
            if !e.branch_heads.is_empty() {
                write!(f, " ({})", e.branch_heads.join(", "))?;
            }
            if self.show_time {
                write!(f, " ({})", timefmt::compact(e.commit.time_ns))?;
            }
            if self.show_user {
                write!(f, " ({})", e.commit.author)?;
            }
            write!(
                f,
                " : {}",
                e.commit.message.lines().next().unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

pub(crate) fn log(repo: &Repository, start: Option<&str>) -> Result<Log> {
    repo.shared().store.refresh()?;
    let heads = repo.branches()?;
    let start_id = match start {
        Some(rev) => Some(repo.resolve(rev)?),
        None => repo.branch_head(&repo.staging_branch()?)?,
    };
    let mut by_head: BTreeMap<CommitId, Vec<String>> = BTreeMap::new();
    for (name, head) in heads {
        if let Some(h) = head {
            by_head.entry(h).or_default().push(name);
        }
    }
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<CommitId> = start_id.into_iter().collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let info = repo.commit_info(&id)?;
        stack.extend(info.parents.iter().copied());
        entries.push(LogEntry {
            branch_heads: by_head.get(&id).cloned().unwrap_or_default(),
            commit: info,
        });
    }
    entries.sort_by(|a, b| {
        b.commit
            .time_ns
            .cmp(&a.commit.time_ns)
            .then(b.commit.id.cmp(&a.commit.id))
    });
    Ok(Log {
        entries,
        show_time: false,
        show_user: false,
    })
}

/// What the summary reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The `.hangar` directory.
    pub directory: PathBuf,
    /// Bytes of all repository files.
    pub disk_usage: u64,
    /// The commit summarized.
    pub commit: CommitInfo,
    /// Its columns.
    pub columns: Vec<ColumnInfo>,
    /// Number of metadata keys.
    pub metadata_keys: usize,
}

pub(crate) fn summary(repo: &Repository, at: Option<&str>) -> Result<Summary> {
    let co = match at {
        Some(rev) => {
            let id = repo.resolve(rev)?;
            repo.checkout_commit(&id.to_hex())?
        }
        None => repo.checkout()?,
    };
    Ok(Summary {
        directory: repo.hangar_dir().to_path_buf(),
        disk_usage: repo.disk_usage()?,
        commit: co.commit_info().clone(),
        columns: co.columns()?,
        metadata_keys: co.metadata().len()?,
    })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Summary of Contents Contained in Data Repository")?;
        writeln!(f)?;
        writeln!(f, "==================")?;
        writeln!(f, "| Repository Info")?;
        writeln!(f, "|-----------------")?;
        writeln!(f, "|  Directory: {}", self.directory.display())?;
        writeln!(f, "|  Disk Usage: {}", human_bytes(self.disk_usage))?;
        writeln!(f)?;
        writeln!(f, "===================")?;
        writeln!(f, "| Commit Details")?;
        writeln!(f, "-------------------")?;
        writeln!(f, "|  Commit: {}", self.commit.id)?;
        writeln!(f, "|  Created: {}", self.commit.created())?;
        writeln!(f, "|  By: {}", self.commit.author)?;
        writeln!(f, "|  Email: {}", self.commit.email)?;
        writeln!(f, "|  Message: {:?}", self.commit.message)?;
        writeln!(f)?;
        writeln!(f, "==================")?;
        writeln!(f, "| Columns")?;
        writeln!(f, "|-----------------")?;
        writeln!(f, "|  Number of Columns: {}", self.columns.len())?;
        for c in &self.columns {
            let s = &c.schema;
            writeln!(f, "|")?;
            writeln!(f, "|  * Column Name: {}", c.name)?;
            writeln!(f, "|    Num Samples: {}", c.num_samples)?;
            writeln!(f, "|    Details:")?;
            writeln!(f, "|    - schema_hash: {}", c.schema_hash)?;
            writeln!(f, "|    - column_type: {}", s.kind().name())?;
            if let Some(d) = s.dtype() {
                writeln!(f, "|    - schema_dtype: {d}")?;
                writeln!(
                    f,
                    "|    - schema_is_var: {}",
                    if s.variable_shape() { "True" } else { "False" }
                )?;
                writeln!(f, "|    - schema_max_shape: {:?}", s.shape())?;
            }
        }
        writeln!(f)?;
        writeln!(f, "==================")?;
        writeln!(f, "| Metadata:")?;
        writeln!(f, "|-----------------")?;
        write!(f, "|  Number of Keys: {}", self.metadata_keys)
    }
}
