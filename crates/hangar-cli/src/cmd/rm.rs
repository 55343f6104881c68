use anyhow::ensure;

use crate::app::Ctx;
use crate::documents;
use crate::keys::parse_path;
use crate::output;

/// Stage the deletion of samples (commit to make it final; `hangar reset` undoes it).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "KEY is an integer or a string key (int:N / str:NAME when ambiguous); for a
nested column KEY/SUB deletes one subsample and KEY the whole sample. Every key must
exist: otherwise nothing is deleted.

Examples:
  hangar rm images 3 17
  hangar rm crops a/0
  hangar rm crops a"
)]
pub struct Args {
    /// The column.
    #[arg(add = crate::complete::column())]
    column: String,
    /// The samples (KEY or KEY/SUB) to delete.
    #[arg(required = true, value_name = "KEY")]
    keys: Vec<String>,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    let co = ctx.writer(&repo)?;
    let col = co.column(&a.column)?;
    let nested = col.is_nested()?;
    // Every key resolved and checked before anything is staged.
    let mut targets = Vec::with_capacity(a.keys.len());
    for text in &a.keys {
        let (k, sub) = parse_path(text)?;
        let k = k.resolve(|k| Ok(col.contains(k.clone())?))?;
        ensure!(
            col.contains(k.clone())?,
            "column {:?} has no sample {text:?}; nothing was deleted",
            a.column
        );
        let sub = match sub {
            Some(s) => {
                ensure!(
                    nested,
                    "column {:?} is not nested, so {text:?} names no subsample; nothing was deleted",
                    a.column
                );
                let s = s.resolve(|s| Ok(col.contains_subsample(k.clone(), s.clone())?))?;
                ensure!(
                    col.contains_subsample(k.clone(), s.clone())?,
                    "column {:?} has no subsample {text:?}; nothing was deleted",
                    a.column
                );
                Some(s)
            }
            None => None,
        };
        targets.push((k, sub));
    }
    targets.sort();
    targets.dedup();
    co.all_or_nothing(|| -> anyhow::Result<()> {
        for (k, sub) in &targets {
            match sub {
                Some(s) => col.delete_subsample(k.clone(), s.clone())?,
                None => col.delete(k.clone())?,
            }
        }
        Ok(())
    })?;
    co.close()?;
    if ctx.json {
        output::print_json(&documents::Removed {
            column: a.column,
            deleted: targets.len(),
        })?;
    } else if !ctx.quiet {
        output::println(&format!(
            "Deleted {} from column {} (staged; `hangar commit -m MSG` keeps it, `hangar reset` undoes it)",
            output::count(targets.len() as u64, "sample"),
            a.column
        ))?;
    }
    Ok(())
}
