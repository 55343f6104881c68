use crate::app::Ctx;
use crate::documents;
use crate::output::{self, paint, BRANCH, COMMIT};

/// Move the staging area to another branch (refused while changes are staged).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Commands that write (import, column create, commit, ...) then work on that
branch. Commit or reset staged changes first.

Example:
  hangar checkout dev"
)]
pub struct Args {
    /// The branch.
    #[arg(add = crate::complete::branch())]
    branch: String,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let co = repo.checkout_writer_branch(&a.branch)?;
    let head = co.commit_hash()?;
    co.close()?;
    if ctx.json {
        return Ok(output::print_json(&documents::CheckedOut {
            branch: a.branch,
            head: head.map(|h| h.to_hex()),
        })?);
    }
    let at = head.map_or_else(
        || " (no commits yet)".to_string(),
        |h| format!(" at {}", paint(COMMIT, h)),
    );
    Ok(output::println(&format!(
        "Switched to branch {}{at}",
        paint(BRANCH, &a.branch)
    ))?)
}
