use crate::app::Ctx;
use crate::documents;
use crate::output;

/// Summarize a commit: repository size, commit details, columns and their schemas.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  hangar summary
  hangar summary dev
  hangar summary 3f2a9c --json")]
pub struct Args {
    /// A branch or commit (id or unique prefix); default: the current branch.
    #[arg(add = crate::complete::rev())]
    rev: Option<String>,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let s = repo.summary(a.rev.as_deref())?;
    if ctx.json {
        return Ok(output::print_json(&documents::Summary {
            directory: s.directory.clone(),
            disk_usage_bytes: s.disk_usage,
            commit: s.commit.as_ref().map(Into::into),
            columns: documents::columns(&s.columns),
            metadata_keys: s.metadata_keys,
            not_fetched: documents::not_fetched(&s.not_fetched),
        })?);
    }
    Ok(output::println(&s.to_string())?)
}
