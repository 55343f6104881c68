use crate::app::Ctx;
use crate::documents;
use crate::output;
use crate::views;

/// Show the history of the current branch (or of a branch or commit).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each line: commit id, the branches whose head it is, time (UTC), author, message.

Examples:
  hangar log --graph
  hangar log dev -n 5
  hangar log --oneline
  hangar log --json | jq '.commits[0].id'"
)]
pub struct Args {
    /// A branch or commit (id or unique prefix) to start from; default: the current branch.
    #[arg(add = crate::complete::rev())]
    rev: Option<String>,
    /// Draw the history as a graph, with merges (like `git log --graph`).
    #[arg(long)]
    graph: bool,
    /// Show at most N commits.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    max_count: Option<usize>,
    /// Leave out time and author.
    #[arg(long)]
    oneline: bool,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let mut log = repo.log(a.rev.as_deref())?;
    if let Some(n) = a.max_count {
        log = log.limit(n);
    }
    if ctx.json {
        return Ok(output::print_json(&documents::LogDoc::from(&log))?);
    }
    if log.entries.is_empty() {
        // `-n 0` asks for nothing (as git's), which is not a history without commits.
        if a.max_count != Some(0) {
            ctx.note("No commits yet.");
        }
        return Ok(());
    }
    Ok(output::print(&views::log_text(
        &log, a.graph, !a.oneline, !a.oneline,
    ))?)
}
