//! History views: the log and the summary, as structured values that print the way the
//! original Hangar's did.

use std::collections::BTreeMap;
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

/// One row of the log graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRow {
    /// The lanes (`*`, `|`, `\`, `/`).
    pub graph: String,
    /// The entry drawn on this row, if it is a commit row.
    pub entry: Option<usize>,
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

impl Log {
    /// Commit ids, in the log's order (newest first, parents after their children).
    pub fn order(&self) -> Vec<CommitId> {
        self.entries.iter().map(|e| e.commit.id).collect()
    }

    /// Each commit's parents.
    pub fn ancestors(&self) -> BTreeMap<CommitId, Vec<CommitId>> {
        self.entries
            .iter()
            .map(|e| (e.commit.id, e.commit.parents.clone()))
            .collect()
    }

    /// Branch heads among the logged commits: branch name → commit.
    pub fn heads(&self) -> BTreeMap<String, CommitId> {
        self.entries
            .iter()
            .flat_map(|e| e.branch_heads.iter().map(move |b| (b.clone(), e.commit.id)))
            .collect()
    }

    fn describe(&self, e: &LogEntry) -> String {
        let mut s = e.commit.id.to_string();
        if !e.branch_heads.is_empty() {
            s.push_str(&format!(" ({})", e.branch_heads.join(", ")));
        }
        if self.show_time {
            s.push_str(&format!(" ({})", timefmt::compact(e.commit.time_ns)));
        }
        if self.show_user {
            s.push_str(&format!(" ({})", e.commit.author));
        }
        s.push_str(&format!(
            " : {}",
            e.commit.message.lines().next().unwrap_or_default()
        ));
        s
    }

    /// The log drawn as a graph, like `git log --graph`: one lane per line of history,
    /// `*` for a commit, `\` where a merge's other parent forks off, `/` where lines join.
    pub fn graph_lines(&self) -> Vec<String> {
        self.graph()
            .into_iter()
            .map(|row| match row.entry {
                Some(i) => format!("{} {}", row.graph, self.describe(&self.entries[i])),
                None => row.graph,
            })
            .collect()
    }

    /// The graph's rows: the lane drawing of each row, and for commit rows the index of
    /// their entry (for callers that print the commit their own way).
    pub fn graph(&self) -> Vec<GraphRow> {
        let mut out = Vec::new();
        let mut lanes: Vec<CommitId> = Vec::new();
        let lanes_row = |n: usize, mark: &dyn Fn(usize) -> &'static str| -> String {
            (0..n).map(mark).collect::<Vec<_>>().join(" ")
        };
        for (index, e) in self.entries.iter().enumerate() {
            let id = e.commit.id;
            let col = match lanes.iter().position(|l| *l == id) {
                Some(i) => i,
                None => {
                    lanes.push(id);
                    lanes.len() - 1
                }
            };
            let row = lanes_row(lanes.len(), &|i| if i == col { "*" } else { "|" });
            let pad = if e.commit.parents.len() > 1 { "  " } else { "" };
            out.push(GraphRow {
                graph: format!("{row}{pad}"),
                entry: Some(index),
            });
            // This lane continues with the first parent; further parents fork new lanes.
            match e.commit.parents.first() {
                Some(p) => lanes[col] = *p,
                None => {
                    lanes.remove(col);
                }
            }
            for (n, p) in e.commit.parents.iter().skip(1).enumerate() {
                if lanes.contains(p) {
                    continue;
                }
                let at = col + 1 + n;
                let width = lanes.len() + 1;
                let row: String = (0..width)
                    .map(|i| match i {
                        i if i < at => "|",
                        i if i == at => "\\",
                        _ => "\\",
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push(GraphRow {
                    graph: row.replacen("| \\", "|\\", 1),
                    entry: None,
                });
                lanes.insert(at, *p);
            }
            // Collapse lanes that now wait for the same commit into the leftmost one.
            let mut i = 0;
            while i < lanes.len() {
                if let Some(j) = (i + 1..lanes.len()).find(|&j| lanes[j] == lanes[i]) {
                    let row: String = (0..lanes.len())
                        .map(|k| match k {
                            k if k < j => "|",
                            _ => "/",
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    out.push(GraphRow {
                        graph: row.replacen("| /", "|/", 1),
                        entry: None,
                    });
                    lanes.remove(j);
                } else {
                    i += 1;
                }
            }
        }
        // Connector rows after the last commit lead nowhere (a log cut short with -n):
        // drop them rather than end on a dangling `|\`.
        while out.last().is_some_and(|r| r.entry.is_none()) {
            out.pop();
        }
        out
    }
}

impl fmt::Display for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.graph_lines().join("\n"))
    }
}

pub(crate) fn log(repo: &Repository, start: Option<&str>) -> Result<Log> {
    repo.shared().store.refresh()?;
    let heads = repo.branch_heads()?;
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
    // Every commit reachable from the start, then a topological order in which each
    // commit comes before its parents, newest first among those ready.
    let mut infos: BTreeMap<CommitId, crate::commit::CommitInfo> = BTreeMap::new();
    let mut stack: Vec<CommitId> = start_id.into_iter().collect();
    while let Some(id) = stack.pop() {
        if infos.contains_key(&id) {
            continue;
        }
        let info = repo.commit_info(&id)?;
        stack.extend(info.parents.iter().copied());
        infos.insert(id, info);
    }
    let mut children: BTreeMap<CommitId, usize> = infos.keys().map(|k| (*k, 0)).collect();
    for info in infos.values() {
        for p in &info.parents {
            *children.entry(*p).or_default() += 1;
        }
    }
    let mut ready: std::collections::BinaryHeap<(i64, CommitId)> = infos
        .values()
        .filter(|i| children[&i.id] == 0)
        .map(|i| (i.time_ns, i.id))
        .collect();
    let mut entries = Vec::with_capacity(infos.len());
    while let Some((_, id)) = ready.pop() {
        let info = infos.remove(&id).expect("each commit is ready once");
        for p in &info.parents {
            let n = children.get_mut(p).expect("parents are collected");
            *n -= 1;
            if *n == 0 {
                if let Some(pi) = infos.get(p) {
                    ready.push((pi.time_ns, *p));
                }
            }
        }
        entries.push(LogEntry {
            branch_heads: by_head.get(&id).cloned().unwrap_or_default(),
            commit: info,
        });
    }
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
    /// The commit summarized; `None` when the current branch has no commits yet (then
    /// there are no columns or metadata either).
    pub commit: Option<CommitInfo>,
    /// Its columns.
    pub columns: Vec<ColumnInfo>,
    /// Number of metadata keys.
    pub metadata_keys: usize,
    /// Per column, the samples whose value is not stored here (a partial clone's values
    /// not fetched yet); columns with none are left out.
    pub not_fetched: Vec<(String, u64)>,
}

pub(crate) fn summary(repo: &Repository, at: Option<&str>) -> Result<Summary> {
    let co = match at {
        Some(rev) => {
            let id = repo.resolve(rev)?;
            repo.checkout_commit(&id.to_hex())?
        }
        // Before the first commit there is nothing to summarize but the repository (as
        // the original: "No commits have been made in the repository").
        None if repo.branch_head(&repo.staging_branch()?)?.is_none() => {
            return Ok(Summary {
                directory: repo.hangar_dir().to_path_buf(),
                disk_usage: repo.disk_usage()?,
                commit: None,
                columns: Vec::new(),
                metadata_keys: 0,
                not_fetched: Vec::new(),
            })
        }
        None => repo.checkout()?,
    };
    Ok(Summary {
        directory: repo.hangar_dir().to_path_buf(),
        disk_usage: repo.disk_usage()?,
        commit: Some(co.commit_info().clone()),
        columns: co.columns()?,
        metadata_keys: co.metadata().len()?,
        not_fetched: repo.not_fetched(Some(&co.commit_info().id.to_hex()))?,
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
        let Some(commit) = &self.commit else {
            return writeln!(f, "No commits have been made in the repository");
        };
        writeln!(f, "===================")?;
        writeln!(f, "| Commit Details")?;
        writeln!(f, "-------------------")?;
        writeln!(f, "|  Commit: {}", commit.id)?;
        writeln!(f, "|  Created: {}", commit.created())?;
        writeln!(f, "|  By: {}", commit.author)?;
        writeln!(f, "|  Email: {}", commit.email)?;
        writeln!(f, "|  Message: {:?}", commit.message)?;
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
            if let Some((_, n)) = self.not_fetched.iter().find(|(name, _)| *name == c.name) {
                writeln!(f, "|    Not Fetched: {n} (`hangar fetch-data` brings them)")?;
            }
            if let Some(n) = c.num_subsamples {
                writeln!(f, "|    Num Subsamples: {n}")?;
            }
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
                writeln!(
                    f,
                    "|    - schema_max_shape: {}",
                    crate::value::fmt_shape(s.shape())
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "==================")?;
        writeln!(f, "| Metadata:")?;
        writeln!(f, "|-----------------")?;
        write!(f, "|  Number of Keys: {}", self.metadata_keys)
    }
}
