use anyhow::bail;

use crate::app::Ctx;
use crate::documents;
use crate::output;
use crate::views;

/// Show what differs between two commits or branches, or what is staged.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The direction is always from A to B: `added` means in B and not in A.
With one argument, A is the current branch's head and B the given one (what B has that
your branch does not, like the original's `hangar diff DEV`). With none, what is staged,
as `--staged` (what `git diff` shows of uncommitted work).

Examples:
  hangar diff dev                 # from the current branch to dev
  hangar diff master dev
  hangar diff 3f2a9c 8b1e07 --all
  hangar diff                     # from the branch head to the staging area
  hangar diff --staged            # the same
  hangar diff master dev --json"
)]
pub struct Args {
    /// A (with B), or B (alone).
    #[arg(add = crate::complete::rev())]
    a: Option<String>,
    /// B.
    #[arg(add = crate::complete::rev())]
    b: Option<String>,
    /// Diff the staging area against its branch head.
    #[arg(long, alias = "cached")]
    staged: bool,
    /// List every changed key, not only the first 20 of each kind.
    #[arg(long)]
    all: bool,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    // Text without --all shows the first keys of each kind: only those are kept (a diff
    // of 10^7 added samples would otherwise hold 10^7 keys to print 20).
    let max_keys = views::keys_kept(ctx.json, a.all);
    let diff = match (a.staged, a.a, a.b) {
        (_, None, None) => ctx.staged_records(&repo)?.diff_staged_shown(max_keys)?,
        (true, _, _) => {
            bail!("--staged takes no commits: it diffs the staging area against its branch head")
        }
        (false, Some(x), Some(y)) => repo.diff_shown(&x, &y, max_keys)?,
        (false, Some(x), None) | (false, None, Some(x)) => {
            let current = repo.staging_branch()?;
            repo.diff_shown(&current, &x, max_keys)?
        }
    };
    if ctx.json {
        return Ok(output::print_json(&documents::DiffDoc::from(&diff))?);
    }
    Ok(output::print(&views::diff_text(&diff, a.all))?)
}
