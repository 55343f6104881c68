use crate::app::Ctx;
use crate::documents;
use crate::output::{self, paint, BRANCH, COMMIT};

/// Move the staging area to another branch (refused while changes are staged), or with
/// -b create a branch and move to it, taking the staged changes along.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Commands that write (import, column create, commit, ...) then work on that
branch. Commit or reset staged changes first; with -b (as git's checkout -b) they move to
the new branch, which starts at the current branch's head unless START is given (a
START other than the commit they are based on is refused while changes are staged).

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
        match repo.checkout_writer_branch(&a.branch) {
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
    co.close()?;
    if ctx.json {
        return Ok(output::print_json(&documents::CheckedOut {
            branch: a.branch,
            head: head.map(|h| h.to_hex()),
            created: a.new,
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
    Ok(output::println(&format!(
        "{what} {}{at}",
        paint(BRANCH, &a.branch)
    ))?)
}
