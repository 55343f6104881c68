use crate::app::Ctx;
use crate::documents;
use crate::output::{self, paint, COMMIT, HEADING};
use crate::views;

/// Show a commit: author, time, message, parents, and what it changed.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The changes are the diff from the commit's first parent (from nothing for
the first commit).

Examples:
  hangar show                     # the current branch's head (HEAD)
  hangar show master
  hangar show 3f2a9c --all
  hangar show 3f2a9c --json"
)]
pub struct Args {
    /// A branch or commit (id or unique prefix); HEAD when left out.
    #[arg(add = crate::complete::rev(), default_value = "HEAD")]
    rev: String,
    /// List every changed key, not only the first 20 of each kind.
    #[arg(long)]
    all: bool,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let id = repo.resolve(&a.rev)?;
    let info = repo.commit_info(&id)?;
    // Text without --all shows the first keys of each kind: only those are kept.
    let max_keys = views::keys_kept(ctx.json, a.all);
    let diff = repo.diff_introduced_shown(id, max_keys)?;
    if ctx.json {
        return Ok(output::print_json(&documents::Show {
            commit: (&info).into(),
            diff: (&diff).into(),
        })?);
    }
    let mut text = format!(
        "{} {}\n",
        paint(HEADING, "commit"),
        paint(COMMIT, id.to_hex())
    );
    if info.parents.len() > 1 {
        let ps: Vec<String> = info.parents.iter().map(ToString::to_string).collect();
        text.push_str(&format!("Merge:  {}\n", ps.join(" ")));
    }
    text.push_str(&format!("Author: {} <{}>\n", info.author, info.email));
    text.push_str(&format!("Date:   {}\n\n", info.created()));
    for l in info.message.lines() {
        text.push_str(&format!("    {l}\n"));
    }
    text.push('\n');
    text.push_str(&views::diff_text(&diff, a.all));
    Ok(output::print(&text)?)
}
