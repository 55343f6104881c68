use hangar_core::{Error, MergeOutcome, MergeStrategy};

use crate::app::{Ctx, Ending};
use crate::documents;
use crate::output::{self, paint, BRANCH, COMMIT};
use crate::views;

/// Merge a branch into the current branch.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Fast-forwards when the current branch is behind; does nothing when BRANCH is
already contained; otherwise makes a merge commit against the best common ancestor. On a
conflict nothing changes: the conflicts are listed and the exit status is 1. With
--strategy ours (or theirs) each conflict is settled by taking that side — the sample,
the metadata value, the whole nested sample, or the whole column — every other change of
both branches is merged, and the settled conflicts are listed.

Examples:
  hangar merge dev
  hangar merge dev -m 'Bring in the relabelled shirts'
  hangar merge dev --strategy theirs
  hangar merge dev --json"
)]
pub struct Args {
    /// The branch to merge in.
    #[arg(add = crate::complete::branch())]
    branch: String,
    /// The merge commit's message (default: "Merge branch 'BRANCH' into CURRENT").
    #[arg(short, long = "message", value_name = "MSG")]
    message: Option<String>,
    /// What to do about conflicts: refuse the merge (the default), or take our or their
    /// side of each.
    #[arg(long, value_enum, default_value_t = Strategy::Refuse)]
    strategy: Strategy,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Strategy {
    Refuse,
    Ours,
    Theirs,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<Ending> {
    let repo = ctx.open()?;
    let co = ctx.writer(&repo)?;
    let into = co.branch_name()?;
    let message = a
        .message
        .unwrap_or_else(|| format!("Merge branch '{}' into {into}", a.branch));
    let strategy = match a.strategy {
        Strategy::Refuse => MergeStrategy::Refuse,
        Strategy::Ours => MergeStrategy::Ours,
        Strategy::Theirs => MergeStrategy::Theirs,
    };
    let result = co.merge_with(&message, &a.branch, strategy);
    co.close()?;
    match result {
        Ok(outcome) => {
            if ctx.json {
                let (kind, base, resolved) = match &outcome {
                    MergeOutcome::UpToDate { .. } => ("up_to_date", None, &[][..]),
                    MergeOutcome::FastForward { .. } => ("fast_forward", None, &[][..]),
                    MergeOutcome::Merged { base, resolved, .. } => ("merged", *base, &resolved[..]),
                };
                output::print_json(&documents::Merge {
                    outcome: kind,
                    branch: into,
                    head: outcome.head().to_hex(),
                    base: base.map(|b| b.to_hex()),
                    conflicts: Vec::new(),
                    resolved: Some(documents::conflicts(resolved)),
                })?;
                return Ok(Ending::Done);
            }
            let text = match &outcome {
                MergeOutcome::UpToDate { head } => {
                    format!(
                        "Already up to date: {} contains {}",
                        paint(BRANCH, &into),
                        a.branch
                    ) + &format!(" (head {})", paint(COMMIT, head))
                }
                MergeOutcome::FastForward { to, .. } => {
                    format!(
                        "Fast-forward: {} is now at {}",
                        paint(BRANCH, &into),
                        paint(COMMIT, to)
                    )
                }
                MergeOutcome::Merged {
                    commit,
                    base,
                    resolved,
                } => {
                    let mut text = format!(
                        "Merged {} into {}: created {}{}",
                        a.branch,
                        paint(BRANCH, &into),
                        paint(COMMIT, commit),
                        base.map_or_else(
                            || " (unrelated histories)".to_string(),
                            |b| format!(" (common ancestor {b})")
                        )
                    );
                    if !resolved.is_empty() {
                        let side = if strategy == MergeStrategy::Ours {
                            &into
                        } else {
                            &a.branch
                        };
                        text += &format!(
                            "\n{} settled by taking {side}'s side:\n{}",
                            output::count(resolved.len() as u64, "conflict"),
                            views::conflicts_table(resolved).trim_end()
                        );
                    }
                    text
                }
            };
            ctx.done(&text)?;
            Ok(Ending::Done)
        }
        Err(Error::MergeConflict(c)) => {
            if ctx.json {
                output::print_json(&documents::Merge {
                    outcome: "conflict",
                    branch: into.clone(),
                    head: c.ours.to_hex(),
                    base: c.base.map(|b| b.to_hex()),
                    conflicts: documents::conflicts(&c.conflicts),
                    resolved: None,
                })?;
            } else {
                output::println(&format!(
                    "Merge of {} into {} stopped: {}; nothing was changed.",
                    a.branch,
                    into,
                    output::count(c.conflicts.len() as u64, "conflict")
                ))?;
                output::print(&views::conflicts_table(&c.conflicts))?;
                ctx.note(&format!(
                    "To settle them: change either branch so they agree and merge again, or \
                     `hangar merge {} --strategy ours|theirs` takes one side of each conflict \
                     (every other change of both branches is merged).",
                    a.branch
                ));
            }
            Ok(Ending::negative(String::new()))
        }
        Err(e) => Err(e.into()),
    }
}
