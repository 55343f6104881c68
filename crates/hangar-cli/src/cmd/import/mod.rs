//! `hangar import`: every input's header is probed ([`inputs`]), each array and table
//! is planned against its column — layout, dtype, keys, columns to create — as a plain
//! value ([`plan`]; `--dry-run` prints it), and the plan is executed in one bulk session,
//! all or nothing ([`execute`]).

mod execute;
mod inputs;
mod plan;

use std::collections::BTreeMap;

use anyhow::ensure;

use crate::app::{Ctx, Ending};
use crate::documents;
use crate::output::{self, thousands};

/// Add samples from files to a column of the staging area.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads .npy, .npz, IDX (MNIST, plain or .gz), PNG, JPEG, Parquet and Arrow IPC
files, and directories of them (not recursive; for a nested column each subdirectory is
a sample and its files the subsamples).

Keys: the rows of an array or table get integer keys from --start (0) on, counting on
across files; a whole file is one sample keyed by its name without the extension (a
string key, or an integer with --int-keys); an .npz member by its name; a table's `key`
column (or --key-field) gives its keys.

An array goes in whole when its shape fits the column, else row by row when its rows
fit; --rows / --whole decide explicitly. A fixed-shape column takes arrays with the same
number of elements (reshaped: 784 -> 28x28); dtypes are converted only when no value can
change (uint8 -> int64, float32 -> float64). Keys that exist are skipped and counted
unless --overwrite. Every file's header is checked before anything is staged.

Examples:
  hangar import images train-images-idx3-ubyte.gz --create
  hangar import labels train-labels-idx1-ubyte.gz
  hangar import photos ./jpgs/ --create --variable-shape
  hangar import images train-images-idx3-ubyte.gz --create --compression zstd
  hangar import --by-name mnist.npz --create         # x_train -> column x_train, ...
  hangar import --by-name images.npy labels.npy --create -m 'Ingest'
  hangar import embeddings vectors.parquet --field embedding --key-field id
  hangar import images more.npy --start 60000 -m 'Add the test images'"
)]
pub struct Args {
    /// COLUMN PATH... (with --by-name: PATH... only).
    #[arg(value_name = "COLUMN PATH", required = true, num_args = 1..)]
    targets: Vec<String>,
    /// Create the column if it does not exist, with the dtype and shape of the data.
    #[arg(long)]
    create: bool,
    /// With --create: a variable-shape column (maximum shape: the largest in the input).
    #[arg(long, requires = "create")]
    variable_shape: bool,
    /// With --create: store the new columns' values compressed (Parquet segments):
    /// zstd, zstd:<level 1-22>, lz4, or none (the default).
    #[arg(long, requires = "create", value_name = "CODEC")]
    compression: Option<String>,
    /// Replace samples whose keys exist (else they are skipped and counted).
    #[arg(long)]
    overwrite: bool,
    /// Every array's first axis indexes samples.
    #[arg(long, conflicts_with = "whole")]
    rows: bool,
    /// Every array is one sample.
    #[arg(long)]
    whole: bool,
    /// The first integer key given to rows (default 0). Only rows take it: an error
    /// when every input is imported whole.
    #[arg(long, value_name = "N")]
    start: Option<u64>,
    /// File names are integer keys (`17.png` -> 17).
    #[arg(long)]
    int_keys: bool,
    /// Tables: the column holding the values.
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
    /// Tables: the column holding the keys (default: a column named `key`, else row numbers).
    #[arg(long, value_name = "NAME")]
    key_field: Option<String>,
    /// .npz and .npy files: each array goes to the column of its own name (an .npz
    /// member's, an .npy file's without `.npy`), so one run imports several columns.
    #[arg(long)]
    by_name: bool,
    /// Import into this branch's staging area (it must be the staging area's branch or
    /// the staging area must be clean). With -m the staging area returns to its branch
    /// afterwards; without, it stays on BRANCH holding the imported samples (a note says
    /// so).
    #[arg(long, add = crate::complete::branch())]
    branch: Option<String>,
    /// Commit right after importing, with this message.
    #[arg(short = 'm', long = "commit", value_name = "MSG")]
    commit: Option<String>,
    /// Check every input and print the plan (columns, samples, columns --create would
    /// make) without staging anything or taking the writer lock.
    #[arg(long, conflicts_with = "commit")]
    dry_run: bool,
}

/// What an import did.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub(super) counts: BTreeMap<String, Counts>,
    /// Files in the directories that are not of a type hangar imports.
    pub(super) left_out: usize,
    pub(super) files: usize,
    /// Notes on the columns made with --create (printed once the import succeeded).
    pub(super) created: Vec<String>,
}

impl Report {
    /// True if the import staged anything: a sample added or changed, or a new column.
    pub(super) fn changed(&self) -> bool {
        !self.created.is_empty() || self.counts.values().any(|c| c.imported + c.overwritten > 0)
    }
}

/// Per-column counts.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) imported: u64,
    /// Existing samples given a different value (--overwrite).
    pub(super) overwritten: u64,
    /// Existing samples left alone (no --overwrite).
    pub(super) skipped: u64,
    /// Existing samples given the value they already held (--overwrite): nothing staged.
    pub(super) unchanged: u64,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<Ending> {
    let (column_arg, paths): (Option<String>, Vec<String>) = if a.by_name {
        (None, a.targets.clone())
    } else {
        ensure!(
            a.targets.len() >= 2,
            "give a column and at least one file: `hangar import COLUMN PATH...` (or --by-name PATH...)"
        );
        (Some(a.targets[0].clone()), a.targets[1..].to_vec())
    };
    let repo = ctx.open()?;
    if a.dry_run {
        return crate::app::done(dry_run(ctx, &repo, &a, column_arg, &paths));
    }
    // With --branch the staging area moves to that branch for the import; it goes back
    // afterwards when it is clean (committed with -m, or nothing imported).
    let previous = match &a.branch {
        Some(_) => Some(repo.staging_branch()?),
        None => None,
    };
    let co = match &a.branch {
        Some(b) => repo.checkout_writer_branch(b)?,
        None => repo.checkout_writer()?,
    };
    // The import stages into the journal only; the in-memory view of the staging area
    // is built from the journal when something reads it: the next writer (`hangar
    // commit`) without -m, this process's commit with it, or the import itself if it
    // reads staged samples back (keys of an earlier file). Built from the journal, the
    // view keeps the staged records as slices of the mapped journal; applied batch by
    // batch it held a copy of each: over 10^7 samples of u8[64], `import -m` touched
    // 1.4 GB of fresh memory (362,000 page faults) and took 2.9 s against 1.9 s for
    // `import` + `commit` in two processes.
    co.defer_staging_view(true)?;
    // All or nothing: a failed import leaves the staging area exactly as it was.
    let result = co.all_or_nothing(|| {
        let existing = |name: &str| -> anyhow::Result<Option<hangar_core::ColumnSchema>> {
            Ok(match co.has_column(name)? {
                true => Some(co.column(name)?.schema()?),
                false => None,
            })
        };
        let plan = plan::plan(&a, &existing, column_arg, &paths)?;
        execute::execute(ctx, &a, &co, plan)
    });
    match result {
        Ok(report) => {
            let commit = match &a.commit {
                Some(msg) if report.changed() => Some(co.commit(msg)?),
                _ => None,
            };
            let here = co.branch_name()?;
            // Only --branch needs to know (a status rebuilds a deferred view).
            let clean = match &previous {
                Some(prev) if *prev != here => {
                    matches!(co.status()?, hangar_core::Status::Clean)
                }
                _ => false,
            };
            co.close()?;
            for note in &report.created {
                ctx.note(note);
            }
            print_report(ctx, &report, commit)?;
            if let Some(prev) = previous.filter(|p| *p != here) {
                if clean {
                    repo.checkout_writer_branch(&prev)?.close()?;
                } else {
                    output::note(&format!(
                        "the staging area stays on branch {here:?} (it holds the imported \
                         samples); `hangar commit` commits them there, then `hangar checkout \
                         {prev}` returns"
                    ));
                }
            }
            if a.commit.is_some() && commit.is_none() {
                // As `hangar commit` with nothing staged: a negative answer, exit 1.
                return Ok(Ending::nothing_to_commit(
                    "nothing to commit: the import added or changed no sample",
                ));
            }
            Ok(Ending::Done)
        }
        Err(e) => {
            let here = co.branch_name().ok();
            let clean = matches!(co.status(), Ok(hangar_core::Status::Clean));
            // The import's error is what the user needs; a checkout it left closed
            // cannot be closed again.
            let _ = co.close();
            // --branch moved a clean staging area: move it back.
            if let (Some(prev), Some(here)) = (previous, here) {
                if prev != here && clean {
                    repo.checkout_writer_branch(&prev)?.close()?;
                }
            }
            Err(e)
        }
    }
}

fn print_report(
    ctx: &Ctx,
    report: &Report,
    commit: Option<hangar_core::CommitId>,
) -> anyhow::Result<()> {
    if ctx.json {
        return Ok(output::print_json(&documents::Import {
            columns: report
                .counts
                .iter()
                .map(|(c, n)| {
                    let counts = documents::ImportCounts {
                        imported: n.imported,
                        overwritten: n.overwritten,
                        skipped_existing: n.skipped,
                        unchanged: n.unchanged,
                    };
                    (c.clone(), counts)
                })
                .collect(),
            files: report.files,
            files_left_out: report.left_out,
            commit: commit.map(|c| c.to_hex()),
        })?);
    }
    let mut text = String::new();
    for (c, n) in &report.counts {
        text.push_str(&format!(
            "{c}: {} imported",
            output::count(n.imported, "sample")
        ));
        if n.overwritten > 0 {
            text.push_str(&format!(", {} replaced", thousands(n.overwritten)));
        }
        if n.skipped > 0 {
            text.push_str(&format!(
                ", {} skipped because their keys exist (--overwrite replaces them)",
                thousands(n.skipped)
            ));
        }
        if n.unchanged > 0 {
            text.push_str(&format!(
                ", {} unchanged (they already held these values)",
                thousands(n.unchanged)
            ));
        }
        text.push('\n');
    }
    if report.left_out > 0 {
        let (is, was) = if report.left_out == 1 {
            ("is", "was")
        } else {
            ("are", "were")
        };
        text.push_str(&format!(
            "{} in the directories {is} not of a type hangar imports and {was} left out\n",
            output::count(report.left_out as u64, "file")
        ));
    }
    match commit {
        Some(id) => text.push_str(&format!("Committed {id}\n")),
        None if report.changed() => text.push_str("Staged; `hangar commit -m MSG` keeps them.\n"),
        None => text.push_str("Nothing staged: no sample was added or changed.\n"),
    }
    if ctx.quiet {
        return Ok(());
    }
    Ok(output::print(&text)?)
}

/// `--dry-run`: the plan, printed; nothing staged and no writer lock taken. The columns
/// are the staging area's as the journal holds them (read without the lock), or, with
/// `--branch` naming another branch, that branch's head's.
fn dry_run(
    ctx: &Ctx,
    repo: &hangar_core::Repository,
    a: &Args,
    column_arg: Option<String>,
    paths: &[String],
) -> anyhow::Result<()> {
    let staged = repo.staged_view()?;
    let on_staging = match &a.branch {
        Some(b) => *b == staged.branch_name()?,
        None => true,
    };
    let plan = if on_staging {
        let existing = |name: &str| -> anyhow::Result<Option<hangar_core::ColumnSchema>> {
            Ok(match staged.has_column(name)? {
                true => Some(staged.column(name)?.schema()?),
                false => None,
            })
        };
        plan::plan(a, &existing, column_arg, paths)?
    } else {
        let branch = a.branch.as_deref().unwrap_or_default();
        let head = repo.checkout_branch(branch).ok();
        let existing = |name: &str| -> anyhow::Result<Option<hangar_core::ColumnSchema>> {
            Ok(match &head {
                Some(r) if r.has_column(name)? => Some(r.column(name)?.schema()?),
                _ => None,
            })
        };
        plan::plan(a, &existing, column_arg, paths)?
    };
    let samples = plan.samples_by_column();
    if ctx.json {
        return Ok(output::print_json(&documents::ImportPlan {
            dry_run: true,
            columns: plan
                .schemas
                .keys()
                .map(|c| {
                    let create = plan.create.iter().find(|(n, _)| n == c);
                    let doc = documents::ImportPlanColumn {
                        samples: samples.get(c).copied().flatten(),
                        create: create.map(|(_, s)| s.to_string()),
                    };
                    (c.clone(), doc)
                })
                .collect(),
            files: plan.inputs.len(),
            files_left_out: plan.left_out,
        })?);
    }
    let mut text = String::new();
    for c in plan.schemas.keys() {
        let n = match samples.get(c).copied().flatten() {
            Some(n) => crate::output::count(n, "sample"),
            None => "samples as the tables hold them".to_string(),
        };
        text.push_str(&format!("{c}: {n} would be imported"));
        if let Some((_, s)) = plan.create.iter().find(|(name, _)| name == c) {
            text.push_str(&format!(" into a new column ({s})"));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "{} checked{}; nothing staged (--dry-run). Keys that exist are skipped \
         unless --overwrite.\n",
        crate::output::count(plan.inputs.len() as u64, "file"),
        match plan.left_out {
            0 => String::new(),
            n => format!(", {n} left out (not of a type hangar imports)"),
        }
    ));
    if ctx.quiet {
        return Ok(());
    }
    Ok(output::print(&text)?)
}
