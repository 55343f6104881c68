use hangar_core::{StagedChanges, Status};

use crate::app::Ctx;
use crate::documents;
use crate::output::{self, paint, thousands, ADDED, BRANCH, COMMIT, DELETED, MUTATED};

/// Show the branch, its head, and what is staged (works before the first commit).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  hangar status
  hangar status --json | jq .clean")]
pub struct Args {}

/// The staged changes, one line each.
pub fn change_lines(c: &StagedChanges) -> Vec<String> {
    let mut out = Vec::new();
    for n in &c.columns_added {
        out.push(format!("column {n} {}", paint(ADDED, "added")));
    }
    for n in &c.columns_deleted {
        out.push(format!("column {n} {}", paint(DELETED, "deleted")));
    }
    for n in &c.columns_replaced {
        out.push(format!(
            "column {n} {}",
            paint(MUTATED, "deleted and created again")
        ));
    }
    for (name, put, del) in &c.samples {
        let mut parts = Vec::new();
        if *put > 0 {
            parts.push(paint(
                ADDED,
                format!("{} added or changed", thousands(*put as u64)),
            ));
        }
        if *del > 0 {
            parts.push(paint(
                DELETED,
                format!("{} deleted", thousands(*del as u64)),
            ));
        }
        if !parts.is_empty() {
            out.push(format!("{name}: samples {}", parts.join(", ")));
        }
    }
    if c.metadata_changes > 0 {
        out.push(format!(
            "metadata: {} keys added, changed or deleted",
            c.metadata_changes
        ));
    }
    out
}

pub fn run(ctx: &mut Ctx, _a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let co = ctx.staged_records(&repo)?;
    let branch = co.branch_name()?;
    let head = co.commit_hash()?;
    let status = co.status()?;
    let not_fetched = match head {
        Some(h) => repo.not_fetched(Some(&h.to_hex()))?,
        None => Vec::new(),
    };
    let changes = match &status {
        Status::Clean => StagedChanges::default(),
        Status::Dirty(c) => c.clone(),
    };
    if ctx.json {
        return Ok(output::print_json(&documents::Status {
            branch,
            head: head.map(|h| h.to_hex()),
            clean: !status.is_dirty(),
            writer_active: co.writer_active(),
            columns_added: changes.columns_added,
            columns_deleted: changes.columns_deleted,
            columns_replaced: changes.columns_replaced,
            samples: changes
                .samples
                .into_iter()
                .map(
                    |(column, added_or_changed, deleted)| documents::StagedSamples {
                        column,
                        added_or_changed,
                        deleted,
                    },
                )
                .collect(),
            metadata_changes: changes.metadata_changes,
            not_fetched: documents::not_fetched(&not_fetched),
        })?);
    }
    let mut text = format!("On branch {}", paint(BRANCH, &branch));
    match head {
        Some(h) => text.push_str(&format!(", head {}\n", paint(COMMIT, h))),
        None => text.push_str(", no commits yet\n"),
    }
    if status.is_dirty() {
        text.push_str("Staged changes:\n");
        for l in change_lines(&changes) {
            text.push_str(&format!("  {l}\n"));
        }
        text.push_str(
            "(use `hangar commit -m MSG` to commit them, `hangar reset` to discard them)\n",
        );
    } else {
        text.push_str("Nothing staged: the staging area matches the branch head.\n");
    }
    if !not_fetched.is_empty() {
        text.push_str("Not fetched (the values are on the remote, not here):\n");
        for (column, n) in &not_fetched {
            text.push_str(&format!("  {column}: {} samples\n", thousands(*n)));
        }
        text.push_str("(use `hangar fetch-data REMOTE BRANCH` to fetch them)\n");
    }
    Ok(output::print(&text)?)
}
