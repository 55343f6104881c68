use crate::app::Ctx;
use crate::documents;
use crate::output::{self, paint, BRANCH, COMMIT};

/// Move the staging area to another branch, or with -b create a branch and move to it;
/// staged changes move along when they apply unchanged there.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Commands that write (import, column create, commit, ...) then work on that
branch. Staged changes move along, as git's checkout takes local changes along, when
everything they touch (each changed sample, column and metadata key) is the same on the
other branch as on theirs; otherwise the checkout is refused, naming what differs, and
nothing changes: commit or reset them first. With -b (git's checkout -b) the new branch
starts at the current branch's head unless START is given.

Examples:
  hangar checkout dev
  hangar checkout -b experiment
  hangar checkout -b fix-labels 3f2a9c"
)]
pub struct Args {
    /// The branch (with -b: the new branch's name).
    #[arg(add = crate::complete::branch())]
    branch: String,
    /// Create BRANCH first (at START, else at the current branch's head) and move there.
    #[arg(short = 'b', long = "new-branch")]
    new: bool,
    /// With -b: the branch or commit the new branch starts at.
    #[arg(requires = "new", add = crate::complete::rev())]
    start: Option<String>,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let co = if a.new {
        repo.checkout_writer_new_branch(&a.branch, a.start.as_deref())?
    } else {
        match repo.switch_writer_branch(&a.branch) {
            Ok(co) => co,
            // Say how to make it; the core error stays in the chain (its kind, its text).
            Err(e) if e.kind() == hangar_core::ErrorKind::NotFound => {
                let hint = format!(
                    " (`hangar checkout -b {}` creates it at the current head and moves there)",
                    a.branch
                );
                return Err(crate::app::with_hint(e, &hint));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let head = co.commit_hash()?;
    let staged = co.status()?.is_dirty();
    co.close()?;
    if ctx.json {
        return Ok(output::print_json(&documents::CheckedOut {
            branch: a.branch,
            head: head.map(|h| h.to_hex()),
            created: a.new,
            staged,
        })?);
    }
    let at = head.map_or_else(
        || " (no commits yet)".to_string(),
        |h| format!(" at {}", paint(COMMIT, h)),
    );
    let what = if a.new {
        "Switched to a new branch"
    } else {
        "Switched to branch"
    };
    let with = if staged {
        " (the staged changes came along: `hangar status` lists them)"
    } else {
        ""
    };
    Ok(ctx.done(&format!("{what} {}{at}{with}", paint(BRANCH, &a.branch)))?)
}
