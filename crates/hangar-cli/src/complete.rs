//! Dynamic shell completion: branch, commit and column names come from the repository
//! the shell is in (clap_complete's engine, activated by the `COMPLETE` environment
//! variable that the registration script from `hangar completions SHELL` sets).
//!
//! The candidates are read without the writer lock (columns from the staging area's
//! read-only view), so completing never waits for, or disturbs, a running writer. Any
//! error (no repository here, a damaged one) gives no candidates rather than output.

use clap_complete::{ArgValueCandidates, CompletionCandidate};
use hangar_core::Repository;

/// The repository completion runs in: `HANGAR_REPO`, else the one containing the
/// current directory.
fn repo() -> Option<Repository> {
    let start = match std::env::var_os("HANGAR_REPO") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::current_dir().ok()?,
    };
    Repository::open(crate::app::find_repo(&start)?).ok()
}

/// Branch names.
fn branch_names() -> Vec<CompletionCandidate> {
    let Some(repo) = repo() else {
        return Vec::new();
    };
    repo.branches()
        .map(|bs| {
            bs.into_iter()
                .map(|b| CompletionCandidate::new(b.name))
                .collect()
        })
        .unwrap_or_default()
}

/// Branch names and `HEAD` (where a commit is also accepted).
fn revisions() -> Vec<CompletionCandidate> {
    let mut out = branch_names();
    if !out.is_empty() {
        out.push(CompletionCandidate::new("HEAD").help(Some("the current branch's head".into())));
    }
    out
}

/// The staging area's columns, with their kind and sample count as help.
fn column_names() -> Vec<CompletionCandidate> {
    let Some(cols) = repo().and_then(|r| r.staged_view().ok()?.columns().ok()) else {
        return Vec::new();
    };
    cols.into_iter()
        .map(|c| {
            let help = format!("{} samples", c.num_samples);
            CompletionCandidate::new(c.name).help(Some(help.into()))
        })
        .collect()
}

/// Completes a branch name.
pub fn branch() -> ArgValueCandidates {
    ArgValueCandidates::new(branch_names)
}

/// Completes a branch or commit.
pub fn rev() -> ArgValueCandidates {
    ArgValueCandidates::new(revisions)
}

/// Completes a column name.
pub fn column() -> ArgValueCandidates {
    ArgValueCandidates::new(column_names)
}
