use hangar_core::gc::{parse_prune, GcFile, GcOptions, DEFAULT_COMPACT_BELOW};

use crate::app::{Ctx, Ending};
use crate::documents;
use crate::output::{self, thousands};

/// Remove the data no branch, remote-tracking ref, recent reflog entry or staged change
/// keeps.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Kept: everything reachable from a branch, a remote-tracking ref, a reflog
entry younger than --prune (a deleted branch stays recoverable that long) and the
staging area. Files with less than --compact-below of their contents reachable are
rewritten. gc takes the writer lock; while another process or checkout has the
repository open, garbage files are left in place (\"deferred\") and the next gc removes
them.

Examples:
  hangar gc --dry-run
  hangar gc --prune=now
  hangar gc --json"
)]
pub struct Args {
    /// Keep commits a reflog entry younger than this names: now, never, or an age such
    /// as 2.weeks, 14d, 12h, 30m.
    #[arg(long, value_name = "WHEN", default_value = "2.weeks")]
    prune: String,

    /// Say what would be removed and rewritten; change nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,

    /// Rewrite a file when less than this fraction of its contents is reachable (0
    /// never rewrites, 1 rewrites every file with anything unreachable).
    #[arg(long, value_name = "FRACTION", default_value_t = DEFAULT_COMPACT_BELOW)]
    compact_below: f64,
}

fn files(list: &[GcFile]) -> Vec<documents::GcFile> {
    list.iter()
        .map(|f| documents::GcFile {
            path: f.path.clone(),
            bytes: f.bytes,
            live_bytes: f.live_bytes,
            why: (!f.why.is_empty()).then(|| f.why.clone()),
        })
        .collect()
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<Ending> {
    if !(0.0..=1.0).contains(&a.compact_below) {
        anyhow::bail!(
            "--compact-below {}: expected a fraction from 0 to 1 (0.5 rewrites files less than half reachable)",
            a.compact_below
        );
    }
    let opts = GcOptions {
        prune_expire: parse_prune(&a.prune)?,
        dry_run: a.dry_run,
        compact_below: a.compact_below,
    };
    let repo = ctx.open()?;
    let spinner = ctx.spinner(if a.dry_run {
        "looking for garbage"
    } else {
        "collecting garbage"
    });
    let report = repo.gc(&opts);
    spinner.finish_and_clear();
    let r = report?;
    if ctx.json {
        output::print_json(&documents::Gc {
            dry_run: r.dry_run,
            removed: files(&r.removed),
            rewritten: files(&r.rewritten),
            written: r.written.clone(),
            deferred: files(&r.deferred),
            kept: files(&r.kept),
            bytes_removed: r.bytes_removed,
            bytes_written: r.bytes_written,
            live_entries: r.live_entries,
            dead_entries: r.dead_entries,
            reflog_only_commits: r.reflog_only_commits,
        })?;
        return Ok(Ending::Done);
    }
    let would = if r.dry_run { "would be " } else { "" };
    let show = |verb: &str, list: &[GcFile]| -> anyhow::Result<()> {
        for f in list {
            let why = if f.why.is_empty() {
                String::new()
            } else {
                format!(": {}", f.why)
            };
            output::println(&format!(
                "{verb} {} ({} bytes){why}",
                rel(&f.path),
                thousands(f.bytes)
            ))?;
        }
        Ok(())
    };
    if !ctx.quiet {
        show(&format!("{would}removed"), &r.removed)?;
        show(&format!("{would}rewritten"), &r.rewritten)?;
        show("deferred", &r.deferred)?;
        show("kept", &r.kept)?;
    }
    let removed_files = r.removed.len() + r.rewritten.len();
    if r.dry_run {
        output::println(&format!(
            "Dry run: {} index entries unreachable; {removed_files} files ({} bytes) would be \
             removed, {} bytes moved to new files. Nothing was changed.",
            thousands(r.dead_entries as u64),
            thousands(r.bytes_removed),
            thousands(r.bytes_written)
        ))?;
    } else if !r.deferred.is_empty() {
        output::println(&format!(
            "Dropped {} unreachable index entries; {} garbage files ({} bytes) are left in place \
             because another process or checkout has the repository open: run `hangar gc` \
             again once it is closed.",
            thousands(r.dead_entries as u64),
            r.deferred.len(),
            thousands(r.deferred.iter().map(|f| f.bytes).sum())
        ))?;
    } else if removed_files == 0 {
        ctx.done("Nothing to remove.")?;
    } else {
        ctx.done(&format!(
            "Removed {removed_files} files ({} bytes) and {} unreachable index entries; wrote \
             {} bytes to {} new files.",
            thousands(r.bytes_removed),
            thousands(r.dead_entries as u64),
            thousands(r.bytes_written),
            r.written.len()
        ))?;
    }
    if !r.kept.is_empty() {
        output::println(&format!(
            "{} files no index run refers to were kept: gc cannot prove them garbage (see \
             `hangar verify`).",
            r.kept.len()
        ))?;
    }
    if r.reflog_only_commits > 0 {
        // What a user who just deleted a branch expects gc to remove is kept: say why.
        let (n, it) = match r.reflog_only_commits {
            1 => ("1 commit".to_string(), "it"),
            n => (format!("{n} commits"), "them"),
        };
        let why = match opts.prune_expire {
            None => format!(
                "{n} that only reflog entries name, with the data only they reach: \
                 `--prune=never` keeps every commit a reflog entry names"
            ),
            Some(_) => format!(
                "{n} that only reflog entries younger than {} name, with the data only they \
                 reach: a deleted branch or a reset stays recoverable that long",
                a.prune
            ),
        };
        ctx.note(&format!(
            "Kept {why} (`hangar gc --prune=now` removes {it})."
        ));
    }
    Ok(Ending::Done)
}

/// A path inside `.hangar/` as `.hangar/...` (the repository's location is known).
fn rel(p: &std::path::Path) -> String {
    let s = p.display().to_string();
    match s.find(".hangar/") {
        Some(i) => s[i..].to_string(),
        None => s,
    }
}
