//! Merging a branch into the writer's branch, or one branch into another, with a
//! conflict strategy.

use super::*;

/// Merge result: their head was already contained in ours; nothing changed.
pub const HANGAR_MERGE_UP_TO_DATE: i32 = 1;
/// Merge result: our branch moved forward to their head; no new commit.
pub const HANGAR_MERGE_FAST_FORWARD: i32 = 2;
/// Merge result: a new merge commit with two parents.
pub const HANGAR_MERGE_MERGED: i32 = 3;

fn merge_out(
    outcome: MergeOutcome,
    kind: *mut i32,
    head: *mut c_char,
    len: usize,
) -> FfiResult<()> {
    let code = match outcome {
        MergeOutcome::UpToDate { .. } => HANGAR_MERGE_UP_TO_DATE,
        MergeOutcome::FastForward { .. } => HANGAR_MERGE_FAST_FORWARD,
        MergeOutcome::Merged { .. } => HANGAR_MERGE_MERGED,
    };
    if !head.is_null() {
        text_into(&outcome.head().to_hex(), head, len, "head")?;
    }
    write_out(kind, code);
    Ok(())
}

/// An optional buffer for a commit id, checked before the work that makes the id.
pub(super) fn check_id_buf(buf: *mut c_char, len: usize, arg: &str) -> FfiResult<()> {
    if !buf.is_null() && len < HANGAR_COMMIT_ID_LEN + 1 {
        return Err(crate::boundary::FfiError::new(
            HANGAR_E_BUFFER_TOO_SMALL,
            format!(
                "{arg} holds {len} bytes but a commit id needs {} (checked before doing anything)",
                HANGAR_COMMIT_ID_LEN + 1
            ),
        ));
    }
    Ok(())
}

/// Merges branch `from` into the writer's branch with `message`. The staging area must be
/// clean. `*kind` receives a `HANGAR_MERGE_*` code and `head` (may be NULL; `len` >=
/// `HANGAR_COMMIT_ID_LEN + 1`) the branch's new head. On conflicts nothing changes, the
/// call fails with `HANGAR_E_MERGE_CONFLICT`, and `hangar_last_error_conflicts` gives the
/// report.
#[no_mangle]
pub extern "C" fn hangar_writer_merge(
    writer: *const hangar_writer,
    message: *const c_char,
    from: *const c_char,
    kind: *mut i32,
    head: *mut c_char,
    len: usize,
) -> hangar_status {
    hangar_writer_merge_with(
        writer,
        message,
        from,
        HANGAR_MERGE_STRATEGY_REFUSE,
        kind,
        std::ptr::null_mut(),
        head,
        len,
    )
}

/// Merge strategy: refuse a merge with conflicts (what `hangar_writer_merge` does).
pub const HANGAR_MERGE_STRATEGY_REFUSE: i32 = 0;
/// Merge strategy: settle each conflict by taking our side (the sample, metadata value,
/// whole nested sample or whole column as the writer's branch has it); every other
/// change of both branches is merged.
pub const HANGAR_MERGE_STRATEGY_OURS: i32 = 1;
/// Merge strategy: settle each conflict by taking their side likewise.
pub const HANGAR_MERGE_STRATEGY_THEIRS: i32 = 2;

/// `hangar_writer_merge` with a `HANGAR_MERGE_STRATEGY_*` for conflicts; with `OURS` or
/// `THEIRS` the merge commit is made and `*resolved` (may be NULL) receives how many
/// conflicts were settled (`hangar_repo_merge_conflicts` lists them beforehand).
/// `HANGAR_E_INVALID_ARGUMENT` for an unknown strategy.
#[no_mangle]
pub extern "C" fn hangar_writer_merge_with(
    writer: *const hangar_writer,
    message: *const c_char,
    from: *const c_char,
    strategy: i32,
    kind: *mut i32,
    resolved: *mut usize,
    head: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        check_out(kind, "kind")?;
        check_id_buf(head, len, "head")?;
        let w = handle(writer, "writer")?;
        let strategy = match strategy {
            HANGAR_MERGE_STRATEGY_REFUSE => MergeStrategy::Refuse,
            HANGAR_MERGE_STRATEGY_OURS => MergeStrategy::Ours,
            HANGAR_MERGE_STRATEGY_THEIRS => MergeStrategy::Theirs,
            other => {
                return Err(invalid(format!(
                    "merge strategy {other} is not one of HANGAR_MERGE_STRATEGY_REFUSE (0), \
                     _OURS (1) or _THEIRS (2)"
                )))
            }
        };
        let outcome =
            w.co.merge_with(text(message, "message")?, text(from, "from")?, strategy)?;
        if !resolved.is_null() {
            let n = match &outcome {
                MergeOutcome::Merged { resolved, .. } => resolved.len(),
                _ => 0,
            };
            write_out(resolved, n);
        }
        merge_out(outcome, kind, head, len)
    })
}

/// Merges branch `from` into branch `into`, taking the writer lock for the duration
/// (`HANGAR_E_LOCKED` while a writer is open). Results as for `hangar_writer_merge`.
#[no_mangle]
pub extern "C" fn hangar_repo_merge(
    repo: *const hangar_repo,
    message: *const c_char,
    into: *const c_char,
    from: *const c_char,
    kind: *mut i32,
    head: *mut c_char,
    len: usize,
) -> hangar_status {
    guard(|| {
        check_out(kind, "kind")?;
        check_id_buf(head, len, "head")?;
        let r = handle(repo, "repo")?;
        let outcome = r.repo.merge(
            text(message, "message")?,
            text(into, "into")?,
            text(from, "from")?,
        )?;
        merge_out(outcome, kind, head, len)
    })
}
