//! Injected ENOSPC and EIO at every failpoint of the staging and commit paths, in
//! process: the call fails with `Io`, the last commit stays intact (`verify` passes, the
//! branch head is the old commit or, past the commit point, the new one with exactly the
//! staged content), and the staging area stays usable: the same work commits afterwards.

use hangar_core::{DType, ErrorKind, NdArraySpec, Repository, TensorRef};
use hangar_store::internal::failpoint::{self, POINTS};

use crate::crash::{setup, staged_content, DATA_LEN};
use crate::{fingerprint, Figures};

fn stage(co: &hangar_core::WriterCheckout, round: u8) -> hangar_core::Result<()> {
    let data = co.column("data")?;
    for k in 0..20u64 {
        data.set(
            k,
            TensorRef::new(&[round.wrapping_add(k as u8); DATA_LEN], &[DATA_LEN]),
        )?;
    }
    co.column("notes")?
        .set(1u64, format!("round {round}").as_str())
}

/// Runs every point with both errors.
pub fn run() -> Figures {
    let mut figs = Figures::new("injected ENOSPC / EIO on the staging and commit paths");
    let mut scenarios = 0;
    let mut failed_with_io = 0;
    let mut landed_anyway = 0;
    let mut reopened = 0;
    for point in POINTS {
        for action in ["enospc", "eio"] {
            scenarios += 1;
            match scenario(point, action) {
                Ok(Outcome {
                    landed,
                    needed_reopen,
                }) => {
                    failed_with_io += 1;
                    landed_anyway += usize::from(landed);
                    reopened += usize::from(needed_reopen);
                }
                Err(e) => figs.fail(format!("{point}={action}: {e}")),
            }
        }
    }
    failpoint::clear();
    let mut undone = 0;
    for action in ["enospc", "eio"] {
        for nth in [1, 5, 20] {
            match all_or_nothing_scenario(action, nth) {
                Ok(()) => undone += 1,
                Err(e) => figs.fail(format!(
                    "all_or_nothing with journal.after_append={action}@{nth}: {e}"
                )),
            }
        }
    }
    failpoint::clear();
    let mut long_undone = 0;
    for (extra, in_place) in [
        (None, false),
        (Some(("journal.before_rewrite", "enospc")), true),
        (Some(("atomic.after_temp_fsync", "eio")), true),
        (Some(("atomic.after_rename", "eio")), false),
    ] {
        match long_rollback_scenario(extra, in_place) {
            Ok(()) => long_undone += 1,
            Err(e) => figs.fail(format!("roll-back of a long journal, {extra:?}: {e}")),
        }
    }
    failpoint::clear();
    figs.add("scenarios (points × {ENOSPC, EIO})", scenarios);
    figs.add(
        "calls that failed with Io and left a usable repository",
        failed_with_io,
    );
    figs.add(
        "of which past the commit point (the new commit is intact)",
        landed_anyway,
    );
    figs.add(
        "of which the writer had to be reopened to continue",
        reopened,
    );
    figs.add(
        "journal failures inside all_or_nothing undone, checkout still usable",
        undone,
    );
    figs.add(
        "roll-backs of a journal over 32 MiB (rewritten, or cut in place when that fails) undone",
        long_undone,
    );
    figs
}

/// Stages `[k; 64]`-like values under `keys` in column `big` (u8[64], kept in records).
fn stage_big(
    co: &hangar_core::WriterCheckout,
    keys: std::ops::Range<u64>,
) -> hangar_core::Result<()> {
    let big = co.column("big")?;
    let bytes: Vec<u8> = keys.clone().flat_map(|k| [(k % 251) as u8; 64]).collect();
    big.extend_from_buffer(keys.clone(), TensorRef::new(&bytes, &[keys.count(), 64]))
}

/// A journal write failing inside `all_or_nothing` when the staging journal is longer
/// than 32 MiB: a reader without the writer lock may have mapped a journal that long,
/// so the roll-back does not cut it in place but writes the part kept to a new file
/// renamed over it. With `extra` failing that rewrite before the rename, the cut is made
/// in place all the same (`in_place`); failing it after the rename, the roll-back
/// reports the error and a new writer finds the journal cut. Every way, the staging area
/// is exactly what it was before the call, no temporary file is left, and the work
/// commits afterwards.
fn long_rollback_scenario(extra: Option<(&str, &str)>, in_place: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let s = |e: hangar_core::Error| e.to_string();
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    setup(tmp.path()).map_err(s)?;
    let journal = tmp.path().join(".hangar/staging/journal");
    let inode = || {
        std::fs::metadata(&journal)
            .map(|m| m.ino())
            .map_err(|e| e.to_string())
    };
    let repo = Repository::open(tmp.path()).map_err(s)?;
    let mut co = repo.checkout_writer().map_err(s)?;
    co.add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[64]))
        .map_err(s)?;
    let n = 600_000u64;
    for start in (0..n).step_by(100_000) {
        stage_big(&co, start..start + 100_000).map_err(s)?;
    }
    let long = std::fs::metadata(&journal)
        .map_err(|e| e.to_string())?
        .len();
    if long <= 32 << 20 {
        return Err(format!("the journal holds only {long} bytes"));
    }
    let before = fingerprint(&staged_content(&co).map_err(s)?);
    let (ino, len) = (inode()?, long);
    failpoint::clear();
    failpoint::set("journal.after_append", "eio@1").map_err(|e| e.to_string())?;
    if let Some((point, action)) = extra {
        failpoint::set(point, action).map_err(|e| e.to_string())?;
    }
    let out = co.all_or_nothing(|| stage_big(&co, n..n + 2_000));
    let hits = extra.map(|(p, _)| failpoint::hits(p));
    failpoint::clear();
    if out.is_ok() {
        return Err("succeeded although the journal write failed".into());
    }
    if hits == Some(0) {
        return Err("the roll-back never reached the rewrite's failpoint".into());
    }
    if std::fs::metadata(&journal)
        .map_err(|e| e.to_string())?
        .len()
        != len
    {
        return Err("the journal is not back at its length before the call".into());
    }
    if (inode()? == ino) != in_place {
        return Err(format!(
            "the journal was {} (expected {})",
            if in_place {
                "rewritten"
            } else {
                "cut in place"
            },
            if in_place {
                "a cut in place"
            } else {
                "a new file"
            },
        ));
    }
    let staging = tmp.path().join(".hangar/staging");
    let left: Vec<String> = std::fs::read_dir(&staging)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| hangar_store::fs::is_temp_name(n))
        .collect();
    if !left.is_empty() {
        return Err(format!(
            "temporary files left in the staging directory: {left:?}"
        ));
    }
    if matches!(extra, Some(("atomic.after_rename", _))) {
        // The roll-back reported its own failure and closed the checkout: a new writer
        // replays the journal, which the rename had already cut.
        drop(co);
        co = repo.checkout_writer().map_err(s)?;
    }
    undone_and_usable(&repo, &co, &before, || stage_big(&co, n..n + 10))
}

/// A journal write failing inside `all_or_nothing` (what `hangar import` runs in): the
/// call fails with `Io`, the staging area is exactly as before it, and the same checkout
/// goes on working (issue 11 item 3).
fn all_or_nothing_scenario(action: &str, nth: u32) -> Result<(), String> {
    let s = |e: hangar_core::Error| e.to_string();
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    setup(tmp.path()).map_err(s)?;
    let repo = Repository::open(tmp.path()).map_err(s)?;
    let co = repo.checkout_writer().map_err(s)?;
    co.column("notes")
        .and_then(|c| c.set(9u64, "staged before"))
        .map_err(s)?;
    let before = fingerprint(&staged_content(&co).map_err(s)?);
    failpoint::clear();
    failpoint::set("journal.after_append", &format!("{action}@{nth}"))
        .map_err(|e| e.to_string())?;
    let out = co.all_or_nothing(|| stage(&co, 3));
    let hits = failpoint::hits("journal.after_append");
    failpoint::clear();
    match out {
        Ok(()) => return Err(format!("succeeded although the point was hit {hits} times")),
        Err(e) if e.kind() != ErrorKind::Io => return Err(format!("failed with {e}, not Io")),
        Err(_) => {}
    }
    undone_and_usable(&repo, &co, &before, || stage(&co, 4))
}

/// After a failed `all_or_nothing`: the staging area is what it was before the call
/// (`before`, its fingerprint), the checkout stages more (`more`) and commits, and the
/// repository verifies with nothing unreferenced.
fn undone_and_usable(
    repo: &Repository,
    co: &hangar_core::WriterCheckout,
    before: &str,
    more: impl FnOnce() -> hangar_core::Result<()>,
) -> Result<(), String> {
    let s = |e: hangar_core::Error| e.to_string();
    let after = fingerprint(&staged_content(co).map_err(|e| format!("checkout after: {e}"))?);
    if after != before {
        return Err("the staging area is not what it was before the call".into());
    }
    more().map_err(|e| format!("the same checkout after the failure: {e}"))?;
    co.commit("after").map_err(s)?;
    co.close().map_err(s)?;
    let report = repo.verify().map_err(s)?;
    if !report.is_ok() || !report.unreferenced.is_empty() {
        return Err(format!("verify: {report}"));
    }
    Ok(())
}

struct Outcome {
    landed: bool,
    needed_reopen: bool,
}

fn scenario(point: &'static str, action: &str) -> Result<Outcome, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path();
    setup(dir).map_err(|e| e.to_string())?;
    let repo = Repository::open(dir).map_err(|e| e.to_string())?;
    let old_head = repo.branch_head("master").map_err(|e| e.to_string())?;
    let co = repo.checkout_writer().map_err(|e| e.to_string())?;
    // Segments are sealed only at commit; stage through a bulk session so the seal and
    // the journal paths are exercised too.
    failpoint::clear();
    failpoint::set(point, action).map_err(|e| e.to_string())?;
    let staged = (|| {
        let bulk = co.bulk()?;
        stage(&co, 1)?;
        bulk.finish()?;
        co.commit("under fault")
    })();
    let hits = failpoint::hits(point);
    failpoint::clear();
    let err = match staged {
        Ok(_) => {
            return Err(format!(
                "the call succeeded although the point was hit {hits} times"
            ))
        }
        Err(e) => e,
    };
    if err.kind() != ErrorKind::Io {
        return Err(format!("failed with {:?}, not Io: {err}", err.kind()));
    }
    let report = repo.verify().map_err(|e| e.to_string())?;
    if !report.is_ok() {
        return Err(format!("verify after the fault: {report}"));
    }
    let head = repo.branch_head("master").map_err(|e| e.to_string())?;
    let landed = head != old_head;
    // Continue with the same writer if it still works, else with a new one.
    let mut needed_reopen = false;
    let retry = |co: &hangar_core::WriterCheckout| -> hangar_core::Result<()> {
        stage(co, 2)?;
        co.commit("after the fault")?;
        Ok(())
    };
    if retry(&co).is_err() {
        needed_reopen = true;
        drop(co);
        let co = repo
            .checkout_writer()
            .map_err(|e| format!("writer after the fault: {e}"))?;
        retry(&co).map_err(|e| format!("commit after the fault: {e}"))?;
        co.close().map_err(|e| e.to_string())?;
    } else {
        co.close().map_err(|e| e.to_string())?;
    }
    // The final commit holds exactly round 2's values over the start state.
    let check = repo.checkout_writer().map_err(|e| e.to_string())?;
    let content = staged_content(&check).map_err(|e| e.to_string())?;
    check.close().map_err(|e| e.to_string())?;
    let expected = {
        let tmp2 = tempfile::tempdir().map_err(|e| e.to_string())?;
        setup(tmp2.path()).map_err(|e| e.to_string())?;
        let r = Repository::open(tmp2.path()).map_err(|e| e.to_string())?;
        let co = r.checkout_writer().map_err(|e| e.to_string())?;
        stage(&co, 2).map_err(|e| e.to_string())?;
        staged_content(&co).map_err(|e| e.to_string())?
    };
    if fingerprint(&content) != fingerprint(&expected) {
        return Err("after recovery the branch does not hold the retried work".into());
    }
    let report = repo.verify().map_err(|e| e.to_string())?;
    if !report.is_ok() {
        return Err(format!("verify at the end: {report}"));
    }
    Ok(Outcome {
        landed,
        needed_reopen,
    })
}
