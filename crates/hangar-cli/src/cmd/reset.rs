use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use hangar_core::Status;
use serde_json::json;

use crate::app::{negative, Ctx};
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

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let co = ctx.writer(&repo)?;
    let status = co.status()?;
    let Status::Dirty(changes) = status else {
        co.close()?;
        if ctx.json {
            output::print_json(json!({"reset": false, "head": null}))?;
        }
        return Err(negative("Nothing staged: no reset necessary."));
    };
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            co.close()?;
            bail!("refusing to discard staged changes without confirmation; pass --yes");
        }
        eprintln!("This discards these staged changes:");
        for l in crate::cmd::status::change_lines(&changes) {
            eprintln!("  {l}");
        }
        eprint!("Discard them? [y/N] ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            co.close()?;
            return Err(negative("Nothing was discarded."));
        }
    }
    let head = match co.reset_staging_area() {
        Ok(h) => h,
        Err(e) => {
            co.close()?;
            return Err(crate::app::from_core(e));
        }
    };
    co.close()?;
    if ctx.json {
        output::print_json(json!({"reset": true, "head": head.map(|h| h.to_hex())}))?;
    } else {
        match head {
            Some(h) => output::println(&format!("Staged changes discarded; back at {h}"))?,
            None => output::println("Staged changes discarded; the branch has no commits yet")?,
        }
    }
    Ok(())
}
