use crate::app::Ctx;
use crate::documents;
use crate::output::{self, paint, BRANCH, COMMIT};

/// List, create and delete branches (`hangar branch` alone lists them, `hangar branch
/// NAME [BASE]` creates one and `-d`/`-D NAME` deletes one, as git's `branch` does).
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:
  hangar branch                    (= branch list)
  hangar branch dev                (= branch create dev)
  hangar branch fix-labels 3f2a9c  (= branch create fix-labels 3f2a9c)
  hangar branch -d dev             (= branch delete dev)
  hangar branch -D experiment      (= branch delete experiment --force)"
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// A branch to create (a name spelled as a subcommand needs `branch create NAME`).
    name: Option<String>,
    /// A branch or commit (id or unique prefix) to start it from.
    #[arg(requires = "name", add = crate::complete::rev())]
    base: Option<String>,
    /// Delete NAME instead (refused, as `branch delete`, for a branch whose commits no
    /// other branch contains).
    #[arg(
        short = 'd',
        long = "delete",
        requires = "name",
        conflicts_with = "base"
    )]
    delete: bool,
    /// Delete NAME even if no other branch contains its commits.
    #[arg(short = 'D', requires = "name", conflicts_with_all = ["base", "delete"])]
    force_delete: bool,
}

/// What `branch` does.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List branches and their heads; `*` marks the branch the staging area is on.
    #[command(after_help = "Examples:
  hangar branch list
  hangar branch list --json")]
    List,
    /// Create a branch at the current branch's head (or at BASE).
    #[command(after_help = "Examples:
  hangar branch create dev
  hangar branch create fix-labels 3f2a9c")]
    Create {
        /// The new branch's name.
        name: String,
        /// A branch or commit (id or unique prefix) to start from.
        #[arg(add = crate::complete::rev())]
        base: Option<String>,
    },
    /// Delete a branch (its commits stay). Refused for the only branch, the staging
    /// area's branch, a branch with an open writer, and, without --force, a branch whose
    /// commits no other branch contains.
    #[command(after_help = "Examples:
  hangar branch delete dev
  hangar branch delete experiment --force")]
    Delete {
        /// The branch.
        #[arg(add = crate::complete::branch())]
        name: String,
        /// Delete it even if no other branch contains its commits.
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let c = match (a.command, a.name) {
        (Some(c), _) => c,
        (None, Some(name)) if a.delete || a.force_delete => Command::Delete {
            name,
            force: a.force_delete,
        },
        (None, Some(name)) => Command::Create { name, base: a.base },
        (None, None) => Command::List,
    };
    let repo = ctx.open()?;
    match c {
        Command::List => {
            let current = repo.staging_branch()?;
            let branches = repo.branches()?;
            if ctx.json {
                return Ok(output::print_json(&documents::Branches {
                    branches: branches
                        .iter()
                        .map(|b| documents::Branch {
                            name: b.name.clone(),
                            head: b.head.map(|h| h.to_hex()),
                            current: b.name == current,
                        })
                        .collect(),
                })?);
            }
            let mut text = String::new();
            for b in &branches {
                let mark = if b.name == current { "*" } else { " " };
                let head = b
                    .head
                    .map_or_else(|| "(no commits)".to_string(), |h| paint(COMMIT, h));
                text.push_str(&format!("{mark} {} {head}\n", paint(BRANCH, &b.name)));
            }
            Ok(output::print(&text)?)
        }
        Command::Create { name, base } => {
            let b = repo.create_branch(&name, base.as_deref())?;
            if ctx.json {
                return Ok(output::print_json(&documents::BranchCreated {
                    created: b.name,
                    head: b.head.map(|h| h.to_hex()),
                })?);
            }
            let head = b
                .head
                .map_or_else(String::new, |h| format!(" at {}", paint(COMMIT, h)));
            Ok(ctx.done(&format!("Created branch {}{head}", paint(BRANCH, &b.name)))?)
        }
        Command::Delete { name, force } => {
            if let Err(e) = repo.remove_branch(&name, force) {
                // The engine says "with force": name the flags that give it.
                if e.kind() == hangar_core::ErrorKind::Conflict {
                    let hint = format!(
                        "; `hangar branch delete {name} --force` (or `hangar branch -D {name}`) does"
                    );
                    return Err(crate::app::with_hint(e, &hint));
                }
                return Err(e.into());
            }
            if ctx.json {
                return Ok(output::print_json(&documents::Deleted { deleted: name })?);
            }
            Ok(ctx.done(&format!("Deleted branch {name}"))?)
        }
    }
}
