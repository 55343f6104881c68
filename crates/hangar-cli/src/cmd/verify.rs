use crate::app::{Ctx, Ending};
use crate::documents;
use crate::output::{self, count};

/// Check every stored byte reachable from a branch: digests and checksums.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status 1 when anything is damaged; each problem names the file.

Examples:
  hangar verify
  hangar verify --json"
)]
pub struct Args {}

pub fn run(ctx: &mut Ctx, _a: Args) -> anyhow::Result<Ending> {
    let repo = ctx.open()?;
    let spinner = ctx.spinner("verifying");
    let report = repo.verify();
    spinner.finish_and_clear();
    let report = report?;
    if ctx.json {
        output::print_json(&documents::Verify {
            ok: report.is_ok(),
            branches: report.branches,
            commits: report.commits,
            nodes: report.nodes,
            values: report.values,
            value_bytes: report.value_bytes,
            not_fetched: report.not_fetched,
            problems: report
                .problems
                .iter()
                .map(|p| documents::Problem {
                    path: p.path.clone(),
                    detail: p.detail.clone(),
                })
                .collect(),
            unreferenced: report.unreferenced.clone(),
        })?;
    } else {
        output::println(&format!(
            "Checked {}, {}, {}, {} ({}).",
            count(report.branches as u64, "branch"),
            count(report.commits as u64, "commit"),
            count(report.nodes as u64, "record-table node"),
            count(report.values as u64, "value"),
            count(report.value_bytes, "byte")
        ))?;
        if report.not_fetched > 0 {
            output::println(&format!(
                "{} {} on a remote and not fetched here (not damage: `hangar \
                 fetch-data` brings them).",
                count(report.not_fetched as u64, "value"),
                if report.not_fetched == 1 { "is" } else { "are" }
            ))?;
        }
        for p in &report.problems {
            output::println(&format!("damaged: {}: {}", p.path.display(), p.detail))?;
        }
        for p in &report.unreferenced {
            output::println(&format!(
                "unreferenced (kept): {}: no index run or staging journal refers to it; \
                 left by an interrupted write or a gc that deferred deleting it, or listed \
                 by a missing index run (`hangar gc` removes it when its contents prove \
                 it garbage)",
                p.display()
            ))?;
        }
        if report.is_ok() {
            output::println("No problems found.")?;
        }
    }
    if report.is_ok() {
        Ok(Ending::Done)
    } else {
        Ok(Ending::negative(format!(
            "verify found {} problems",
            report.problems.len()
        )))
    }
}
