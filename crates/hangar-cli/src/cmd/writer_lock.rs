use crate::app::Ctx;
use crate::documents;
use crate::output;

/// Show who holds the writer lock, or clear a stale lock record.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The lock is an OS lock: a writer that exits or crashes releases it by itself.
--force-release only clears a stale record and refuses while a live process holds it.

Examples:
  hangar writer-lock
  hangar writer-lock --force-release"
)]
pub struct Args {
    /// Clear a stale lock record (refused while a live writer holds the lock).
    #[arg(long)]
    force_release: bool,
}

pub fn run(ctx: &mut Ctx, a: Args) -> anyhow::Result<()> {
    let repo = ctx.open()?;
    if a.force_release {
        let cleared = repo.force_release_writer_lock()?;
        if ctx.json {
            return Ok(output::print_json(&documents::WriterLockReleased {
                held: false,
                released: true,
                stale_record_cleared: cleared,
            })?);
        }
        return Ok(ctx.done("Writer lock released (no live writer held it).")?);
    }
    let holder = repo.writer_lock_holder()?;
    if ctx.json {
        return Ok(output::print_json(&documents::WriterLock {
            held: holder.is_some(),
            holder: holder.as_ref().map(|h| documents::Holder {
                pid: h.pid,
                host: h.host.clone(),
                program: h.program.clone(),
                since: hangar_core::timefmt::rfc3339(h.since_ns),
            }),
        })?);
    }
    match holder {
        Some(h) => output::println(&format!(
            "Writer lock is held by process {} on {} ({}) since {}.",
            h.pid,
            h.host,
            h.program,
            hangar_core::timefmt::asctime(h.since_ns)
        ))?,
        None => output::println("Writer lock is available.")?,
    }
    Ok(())
}
