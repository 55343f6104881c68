//! Garbage collection: `hangar_repo_gc`.

use std::ffi::c_char;

use hangar_core::gc::{parse_prune, GcFile, GcOptions, DEFAULT_COMPACT_BELOW};

use crate::boundary::{check_out, guard, handle, invalid, opt_text, write_out};
use crate::repo::hangar_repo;
use crate::status::*;
use crate::types::text_out;

/// What `hangar_repo_gc` did (or, with `dry_run`, would do).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct hangar_gc_report {
    /// True for a dry run: nothing was changed.
    pub dry_run: bool,
    /// Files deleted (would be): nothing reachable in them, or no index run refers to
    /// them and their contents prove them garbage.
    pub files_removed: u64,
    /// Mostly-dead files whose reachable contents were copied to new files (then
    /// deleted like the removed ones).
    pub files_rewritten: u64,
    /// Bytes of the removed and rewritten files deleted (would be).
    pub bytes_removed: u64,
    /// New files written for the rewritten ones.
    pub files_written: u64,
    /// Bytes written to them (in a dry run: the reachable bytes that would move).
    pub bytes_written: u64,
    /// Garbage files left in place because the repository was open elsewhere (another
    /// process, handle or open reader checkout); the next gc removes them.
    pub files_deferred: u64,
    /// Their bytes.
    pub bytes_deferred: u64,
    /// Files no index run refers to that gc cannot prove garbage: kept.
    pub files_kept: u64,
    /// Index entries kept.
    pub live_entries: u64,
    /// Index entries dropped (unreachable values and objects).
    pub dead_entries: u64,
    /// Commits kept only because a reflog entry younger than `prune` names them (a
    /// deleted branch's, a reset's), with the data only they reach: what a caller who
    /// expected a deletion to free space should be told about.
    pub reflog_only_commits: u64,
}

/// Removes the segments, packs and index entries that no branch, remote-tracking ref,
/// reflog entry younger than `prune` and no staged change keeps (`hangar gc`).
/// `prune`: NULL for the default `"2.weeks"`, or `"now"`, `"never"`, an age such as
/// `"14d"`, `"12h"`. `compact_below`: rewrite a file when less than this fraction of its
/// contents is reachable (0 to 1; negative for the default 0.5). Takes the writer lock
/// (`HANGAR_E_LOCKED` while a writer checkout is open). `*out` receives the figures;
/// `files` (may be NULL) a new buffer listing each file, one per line (`removed`,
/// `rewritten`, `deferred` or `kept`, a tab, the path, a tab, its bytes, and for a kept
/// file a tab and why).
#[no_mangle]
pub extern "C" fn hangar_repo_gc(
    repo: *const hangar_repo,
    prune: *const c_char,
    dry_run: bool,
    compact_below: f64,
    out: *mut hangar_gc_report,
    files: *mut *mut crate::types::hangar_buf,
) -> hangar_status {
    guard(|| {
        check_out(out, "out")?;
        let r = handle(repo, "repo")?;
        let prune_expire = match opt_text(prune, "prune")? {
            None => GcOptions::default().prune_expire,
            Some(p) => parse_prune(p)?,
        };
        let compact_below = if compact_below < 0.0 {
            DEFAULT_COMPACT_BELOW
        } else if compact_below <= 1.0 {
            compact_below
        } else {
            return Err(invalid(format!(
                "compact_below {compact_below}: expected a fraction from 0 to 1, or a negative \
                 number for the default 0.5"
            )));
        };
        let rep = r.repo.gc(&GcOptions {
            prune_expire,
            dry_run,
            compact_below,
        })?;
        let bytes = |l: &[GcFile]| l.iter().map(|f| f.bytes).sum::<u64>();
        write_out(
            out,
            hangar_gc_report {
                dry_run: rep.dry_run,
                files_removed: rep.removed.len() as u64,
                files_rewritten: rep.rewritten.len() as u64,
                bytes_removed: rep.bytes_removed,
                files_written: rep.written.len() as u64,
                bytes_written: rep.bytes_written,
                files_deferred: rep.deferred.len() as u64,
                bytes_deferred: bytes(&rep.deferred),
                files_kept: rep.kept.len() as u64,
                live_entries: rep.live_entries as u64,
                dead_entries: rep.dead_entries as u64,
                reflog_only_commits: rep.reflog_only_commits as u64,
            },
        );
        if !files.is_null() {
            let mut text = String::new();
            for (what, list) in [
                ("removed", &rep.removed),
                ("rewritten", &rep.rewritten),
                ("deferred", &rep.deferred),
                ("kept", &rep.kept),
            ] {
                for f in list {
                    text.push_str(&format!("{what}\t{}\t{}", f.path.display(), f.bytes));
                    if !f.why.is_empty() {
                        text.push_str(&format!("\t{}", f.why));
                    }
                    text.push('\n');
                }
            }
            text_out(files, text);
        }
        Ok(())
    })
}
