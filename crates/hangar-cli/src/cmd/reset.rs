use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use hangar_core::Status;

use crate::app::{Ctx, Ending};
use crate::documents;
use crate::output;

/// Discard every staged change, returning to the branch head.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  hangar reset          # asks first on a terminal
  hangar reset --yes")]
pub struct Args {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    yes: bool,
}

fn confirm(a: &Args, question: &str) -> anyhow::Result<bool> {
    if a.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to discard staged changes without confirmation; pass --yes");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The way out when the staging area is too damaged for a writer to open: discard it,
/// keeping every commit, and say what was lost.
fn discard_damaged(
    ctx: &Ctx,
    repo: &hangar_core::Repository,
    a: &Args,
    damage: &[hangar_core::Problem],
) -> anyhow::Result<Ending> {
    if !ctx.json {
        eprintln!("The staging area is damaged:");
        for p in damage {
            eprintln!("  {p}");
        }
    }
    if !confirm(a, "Discard the whole staging area (every commit is kept)?")? {
        return Ok(Ending::negative("Nothing was discarded."));
    }
    let done = repo.discard_damaged_staging()?;
    let lost = done.changes.map_or(
        "its staged changes (the journal was unreadable)".to_string(),
        |n| format!("{n} staged changes"),
    );
    if ctx.json {
        output::print_json(&documents::ResetDamaged {
            reset: true,
            head: done.head.map(|h| h.to_hex()),
            damaged: true,
            changes_lost: done.changes,
            files_removed: done.files_removed,
        })?;
    } else {
        output::println(&format!(
            "Discarded the damaged staging area: {lost} lost, {} files removed; every commit is intact. \
             The staging area is empty, on branch {:?}{}.",
            done.files_removed,
            done.branch,
            done.head.map_or(String::new(), |h| format!(" at {h}"))
        ))?;
    }
    Ok(Ending::Done)
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<Ending> {
    let repo = ctx.open()?;
    let co = match ctx.writer(&repo) {
        Ok(co) => co,
        Err(e) => {
            // A writer that cannot open over a damaged staging area still has a way out.
            let damage = repo.staging_damage();
            if damage.is_empty() {
                return Err(e);
            }
            return discard_damaged(ctx, &repo, &a, &damage);
        }
    };
    let status = co.status()?;
    let Status::Dirty(changes) = status else {
        co.close()?;
        if ctx.json {
            output::print_json(&documents::Reset {
                reset: false,
                head: None,
            })?;
        }
        return Ok(Ending::nothing_to_commit(
            "Nothing staged: no reset necessary.",
        ));
    };
    if !a.yes && std::io::stdin().is_terminal() {
        eprintln!("This discards these staged changes:");
        for l in crate::cmd::status::change_lines(&changes) {
            eprintln!("  {l}");
        }
    }
    match confirm(&a, "Discard them?") {
        Ok(true) => {}
        Ok(false) => {
            co.close()?;
            return Ok(Ending::negative("Nothing was discarded."));
        }
        Err(e) => {
            co.close()?;
            return Err(e);
        }
    }
    let head = match co.reset_staging_area() {
        Ok(h) => h,
        Err(e) => {
            co.close()?;
            return Ending::from_core(e);
        }
    };
    co.close()?;
    if ctx.json {
        output::print_json(&documents::Reset {
            reset: true,
            head: head.map(|h| h.to_hex()),
        })?;
    } else {
        match head {
            Some(h) => ctx.done(&format!("Staged changes discarded; back at {h}"))?,
            None => ctx.done("Staged changes discarded; the branch has no commits yet")?,
        }
    }
    Ok(Ending::Done)
}
