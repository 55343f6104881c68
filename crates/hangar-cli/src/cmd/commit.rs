use anyhow::{bail, Context as _};
use hangar_core::Status;

use crate::app::{Ctx, Ending};
use crate::documents;
use crate::output::{self, paint, BRANCH, COMMIT};

/// Commit the staged changes to the current branch.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without -m, opens $VISUAL or $EDITOR (else vi) with a summary of the staged
changes; lines starting with '#' are dropped and an empty message aborts (exit 1).

Examples:
  hangar commit -m 'Add 1,000 images'
  hangar commit -m 'Relabel shirts' -m 'Found by the labelling audit.'
  hangar commit              # write the message in your editor"
)]
pub struct Args {
    /// The message; give -m more than once for more lines.
    #[arg(short, long = "message", value_name = "MSG")]
    message: Vec<String>,
}

fn editor_message(
    ctx: &Ctx,
    hangar_dir: &std::path::Path,
    branch: &str,
    status: &Status,
) -> anyhow::Result<String> {
    let editor = ["HANGAR_EDITOR", "VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let mut template = String::from(
        "\n# Please enter the commit message for your changes. Lines starting\n# with '#' will be ignored, and an empty message aborts the commit.\n#\n",
    );
    template.push_str(&format!(
        "# On branch {branch}\n# Changes to be committed:\n"
    ));
    if let Status::Dirty(c) = status {
        for l in crate::cmd::status::change_lines(c) {
            template.push_str(&format!("#   {}\n", output::strip_ansi(&l)));
        }
    }
    let path = hangar_dir.join("COMMIT_EDITMSG");
    std::fs::write(&path, template).with_context(|| format!("cannot write {}", path.display()))?;
    let _ = ctx;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot start the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} failed ({status}); nothing was committed");
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    Ok(kept.join("\n").trim().to_string())
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<Ending> {
    let repo = ctx.open()?;
    let co = ctx.writer(&repo)?;
    let status = co.status()?;
    if !status.is_dirty() {
        co.close()?;
        return Ok(Ending::nothing_to_commit(
            "Nothing to commit: no changes in the staging area.",
        ));
    }
    let branch = co.branch_name()?;
    let message = if a.message.is_empty() {
        editor_message(ctx, repo.hangar_dir(), &branch, &status)?
    } else {
        a.message.join("\n")
    };
    if message.trim().is_empty() {
        co.close()?;
        return Ok(Ending::negative(
            "Aborting the commit: the message is empty.",
        ));
    }
    let spinner = ctx.spinner("committing");
    let result = co.commit(&message);
    spinner.finish_and_clear();
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            co.close()?;
            return Ending::from_core(e);
        }
    };
    co.close()?;
    if ctx.json {
        output::print_json(&documents::Committed {
            commit: id.to_hex(),
            branch,
        })?;
    } else {
        ctx.done(&format!(
            "[{} {}] {}",
            paint(BRANCH, &branch),
            paint(COMMIT, id),
            message.lines().next().unwrap_or_default()
        ))?;
    }
    Ok(Ending::Done)
}
