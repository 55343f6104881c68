use hangar_core::Repository;

use crate::app::Ctx;
use crate::documents;
use crate::output;

/// Create a repository (a `.hangar` directory) in the current directory or -C DIR.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  hangar init --name 'Ada Lovelace' --email ada@example.com
  HANGAR_USER_NAME=ci HANGAR_USER_EMAIL=ci@example.com hangar -C data init
  hangar init --overwrite          # delete the repository here and start over")]
pub struct Args {
    /// Your name, recorded in commits (else HANGAR_USER_NAME, the config file, git's user.name,
    /// or a question).
    #[arg(long)]
    name: Option<String>,
    /// Your email, recorded in commits (else HANGAR_USER_EMAIL, the config file, git's
    /// user.email, or a question).
    #[arg(long)]
    email: Option<String>,
    /// Delete an existing repository here, with all its history, and create a new one.
    #[arg(long)]
    overwrite: bool,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let dir = ctx.start_dir()?;
    if dir.join(".hangar").is_dir() && !a.overwrite {
        let shown = std::fs::canonicalize(&dir).unwrap_or(dir);
        if ctx.json {
            output::print_json(&documents::Init {
                created: false,
                path: shown,
            })?;
        } else {
            output::println(&format!(
                "Repository already exists at {} (use --overwrite to delete it and start over)",
                shown.display()
            ))?;
        }
        return Ok(());
    }
    let name = crate::user::resolve("name", a.name)?;
    let email = crate::user::resolve("email", a.email)?;
    let repo = Repository::init(&dir, &name, &email, a.overwrite)?;
    if ctx.json {
        output::print_json(&documents::Init {
            created: true,
            path: repo.path().to_path_buf(),
        })?;
    } else {
        ctx.done(&format!(
            "Initialized an empty hangar repository in {}",
            repo.hangar_dir().display()
        ))?;
    }
    Ok(())
}
