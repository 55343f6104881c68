//! Diffs and merge-conflict reports as handles with iterable entries.

use std::ffi::{c_char, CString};

use hangar_core::{
    ConflictKind, ConflictScope, Diff, DiffKey, Digest, MergeConflicts, SampleKey, SchemaChange,
};

use crate::boundary::{
    free_handle, guard_out, guard_void, handle, into_handle, text, FfiError, Handle, Kind,
};
use crate::repo::hangar_repo;
use crate::status::*;
use crate::types::{hangar_buf, hangar_key, new_text};

/// Change: present in B, not in A.
pub const HANGAR_CHANGE_ADDED: i32 = 1;
/// Change: present in A, not in B.
pub const HANGAR_CHANGE_DELETED: i32 = 2;
/// Change: present in both with different values (or schemas).
pub const HANGAR_CHANGE_MUTATED: i32 = 3;

/// Scope: a sample or subsample of a column.
pub const HANGAR_SCOPE_SAMPLE: i32 = 1;
/// Scope: a column as a whole (its schema).
pub const HANGAR_SCOPE_COLUMN: i32 = 2;
/// Scope: a metadata key.
pub const HANGAR_SCOPE_METADATA: i32 = 3;

/// Conflict: added on both sides with different values.
pub const HANGAR_CONFLICT_ADDED_IN_BOTH: i32 = 1;
/// Conflict: deleted on our side, changed on theirs.
pub const HANGAR_CONFLICT_DELETED_OURS_CHANGED_THEIRS: i32 = 2;
/// Conflict: changed on our side, deleted on theirs.
pub const HANGAR_CONFLICT_CHANGED_OURS_DELETED_THEIRS: i32 = 3;
/// Conflict: changed on both sides to different values.
pub const HANGAR_CONFLICT_CHANGED_IN_BOTH: i32 = 4;

/// One change of a diff, filled by `hangar_diff_get_entry`. Pointers are borrowed from the
/// diff and live until `hangar_diff_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct hangar_diff_entry {
    /// A `HANGAR_CHANGE_*` code.
    pub change: i32,
    /// A `HANGAR_SCOPE_*` code.
    pub scope: i32,
    /// The column (NULL for metadata).
    pub column: *const c_char,
    /// The sample key (scope SAMPLE only).
    pub key: hangar_key,
    /// Whether `subkey` holds a subsample key (nested columns).
    pub has_subkey: bool,
    /// The subsample key when `has_subkey`.
    pub subkey: hangar_key,
    /// The metadata key (scope METADATA only, else NULL).
    pub metadata_key: *const c_char,
}

/// Totals of a diff, filled by `hangar_diff_get_counts`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
#[allow(non_camel_case_types)]
pub struct hangar_diff_counts {
    /// Columns added.
    pub columns_added: usize,
    /// Columns deleted.
    pub columns_deleted: usize,
    /// Columns whose schema changed.
    pub schemas_changed: usize,
    /// Sample keys added (all columns).
    pub samples_added: usize,
    /// Sample keys deleted.
    pub samples_deleted: usize,
    /// Sample keys mutated.
    pub samples_mutated: usize,
    /// Metadata keys added, deleted or mutated.
    pub metadata_changed: usize,
}

#[derive(Debug)]
struct Entry {
    change: i32,
    scope: i32,
    column: Option<usize>,
    key: Option<(CKey, Option<CKey>)>,
    metadata_key: Option<CString>,
}

/// A key with its text kept alive for borrowed pointers.
#[derive(Debug)]
struct CKey(Option<CString>, u64);

impl CKey {
    fn new(k: &SampleKey) -> CKey {
        match k {
            SampleKey::Int(n) => CKey(None, *n),
            SampleKey::Str(s) => CKey(Some(cstring(s)), 0),
        }
    }

    fn c(&self) -> hangar_key {
        hangar_key {
            text: self.0.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            number: self.1,
        }
    }
}

pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default())
}

/// A diff from A to B. Read it with `hangar_diff_get_counts`, `hangar_diff_len`,
/// `hangar_diff_get_entry` and `hangar_diff_text`; free it with `hangar_diff_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_diff {
    diff: Diff,
    columns: Vec<CString>,
    entries: Vec<Entry>,
}

impl Handle for hangar_diff {
    const KIND: Kind = Kind::Diff;
}

impl hangar_diff {
    pub(crate) fn new(diff: Diff) -> hangar_diff {
        let mut columns = Vec::new();
        let mut entries = Vec::new();
        for (ci, col) in diff.columns.iter().enumerate() {
            columns.push(cstring(&col.name));
            if let Some(sc) = &col.schema {
                let change = match sc {
                    SchemaChange::Added(_) => HANGAR_CHANGE_ADDED,
                    SchemaChange::Deleted(_) => HANGAR_CHANGE_DELETED,
                    SchemaChange::Changed { .. } => HANGAR_CHANGE_MUTATED,
                };
                entries.push(Entry {
                    change,
                    scope: HANGAR_SCOPE_COLUMN,
                    column: Some(ci),
                    key: None,
                    metadata_key: None,
                });
            }
            let sample = |change: i32, k: &DiffKey| Entry {
                change,
                scope: HANGAR_SCOPE_SAMPLE,
                column: Some(ci),
                key: Some((CKey::new(&k.sample), k.subsample.as_ref().map(CKey::new))),
                metadata_key: None,
            };
            entries.extend(col.added.iter().map(|k| sample(HANGAR_CHANGE_ADDED, k)));
            entries.extend(col.deleted.iter().map(|k| sample(HANGAR_CHANGE_DELETED, k)));
            entries.extend(col.mutated.iter().map(|k| sample(HANGAR_CHANGE_MUTATED, k)));
        }
        let meta = |change: i32, k: &String| Entry {
            change,
            scope: HANGAR_SCOPE_METADATA,
            column: None,
            key: None,
            metadata_key: Some(cstring(k)),
        };
        entries.extend(
            diff.metadata
                .added
                .iter()
                .map(|k| meta(HANGAR_CHANGE_ADDED, k)),
        );
        entries.extend(
            diff.metadata
                .deleted
                .iter()
                .map(|k| meta(HANGAR_CHANGE_DELETED, k)),
        );
        entries.extend(
            diff.metadata
                .mutated
                .iter()
                .map(|k| meta(HANGAR_CHANGE_MUTATED, k)),
        );
        hangar_diff {
            diff,
            columns,
            entries,
        }
    }
}

/// The diff from `a` to `b` (branch names, commit ids or unique prefixes). `*out` is a new
/// handle (`hangar_diff_free`).
#[no_mangle]
pub extern "C" fn hangar_repo_diff(
    repo: *const hangar_repo,
    a: *const c_char,
    b: *const c_char,
    out: *mut *mut hangar_diff,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let d = r.repo.diff(text(a, "a")?, text(b, "b")?)?;
        Ok(into_handle(hangar_diff::new(d)))
    })
}

/// The diff's totals.
#[no_mangle]
pub extern "C" fn hangar_diff_get_counts(
    diff: *const hangar_diff,
    out: *mut hangar_diff_counts,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(diff, "diff")?.diff.counts();
        Ok(hangar_diff_counts {
            columns_added: c.columns_added,
            columns_deleted: c.columns_deleted,
            schemas_changed: c.schemas_changed,
            samples_added: c.samples_added,
            samples_deleted: c.samples_deleted,
            samples_mutated: c.samples_mutated,
            metadata_changed: c.metadata_changed,
        })
    })
}

/// The number of entries (changes) in the diff.
#[no_mangle]
pub extern "C" fn hangar_diff_len(diff: *const hangar_diff, out: *mut usize) -> hangar_status {
    guard_out(out, || Ok(handle(diff, "diff")?.entries.len()))
}

/// Entry `index` (0 <= index < `hangar_diff_len`): schema changes of a column come before
/// its samples' changes; metadata changes come last.
#[no_mangle]
pub extern "C" fn hangar_diff_get_entry(
    diff: *const hangar_diff,
    index: usize,
    out: *mut hangar_diff_entry,
) -> hangar_status {
    guard_out(out, || {
        let d = handle(diff, "diff")?;
        let e = d
            .entries
            .get(index)
            .ok_or_else(|| out_of_range(index, d.entries.len()))?;
        let none = hangar_key {
            text: std::ptr::null(),
            number: 0,
        };
        let (key, subkey) = match &e.key {
            Some((k, s)) => (k.c(), s.as_ref().map(CKey::c)),
            None => (none, None),
        };
        Ok(hangar_diff_entry {
            change: e.change,
            scope: e.scope,
            column: e.column.map_or(std::ptr::null(), |i| d.columns[i].as_ptr()),
            key,
            has_subkey: subkey.is_some(),
            subkey: subkey.unwrap_or(none),
            metadata_key: e
                .metadata_key
                .as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr()),
        })
    })
}

pub(crate) fn out_of_range(index: usize, len: usize) -> FfiError {
    FfiError::new(
        HANGAR_E_INVALID_ARGUMENT,
        format!("index {index} is out of range: there are {len} entries"),
    )
}

/// The diff as readable text (a new buffer).
#[no_mangle]
pub extern "C" fn hangar_diff_text(
    diff: *const hangar_diff,
    out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(out, || Ok(new_text(handle(diff, "diff")?.diff.to_string())))
}

/// Frees a diff. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_diff_free(diff: *mut hangar_diff) {
    guard_void(|| free_handle(diff));
}

/// One merge conflict, filled by `hangar_conflicts_get`. Pointers are borrowed from the
/// report and live until `hangar_conflicts_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct hangar_conflict {
    /// A `HANGAR_CONFLICT_*` code.
    pub kind: i32,
    /// A `HANGAR_SCOPE_*` code.
    pub scope: i32,
    /// The column (NULL for metadata).
    pub column: *const c_char,
    /// The sample key as printed (`key` or `key/subkey`; scope SAMPLE) or the metadata
    /// key (scope METADATA); NULL for scope COLUMN.
    pub key: *const c_char,
    /// Hex digest of the value in the common ancestor, NULL where absent.
    pub base: *const c_char,
    /// Hex digest on our side (the branch merged into), NULL where absent.
    pub ours: *const c_char,
    /// Hex digest on their side (the branch merged), NULL where absent.
    pub theirs: *const c_char,
}

#[derive(Debug)]
struct CConflict {
    kind: i32,
    scope: i32,
    column: Option<CString>,
    key: Option<CString>,
    digests: [Option<CString>; 3],
}

/// Every conflict of a merge: `hangar_conflicts_len`, `hangar_conflicts_get`,
/// `hangar_conflicts_text`; freed with `hangar_conflicts_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct hangar_conflicts {
    report: Option<MergeConflicts>,
    items: Vec<CConflict>,
}

impl Handle for hangar_conflicts {
    const KIND: Kind = Kind::Conflicts;
}

impl hangar_conflicts {
    pub(crate) fn new(report: MergeConflicts) -> hangar_conflicts {
        let items = conflict_items(&report.conflicts);
        hangar_conflicts {
            report: Some(report),
            items,
        }
    }
}

fn conflict_items(list: &[hangar_core::Conflict]) -> Vec<CConflict> {
    let hex = |d: &Option<Digest>| d.as_ref().map(|d| cstring(&d.to_hex()));
    list.iter()
        .map(|c| {
            let (scope, column, key) = match &c.scope {
                ConflictScope::Sample { column, key } => (
                    HANGAR_SCOPE_SAMPLE,
                    Some(cstring(column)),
                    Some(cstring(key)),
                ),
                ConflictScope::Column { column } => {
                    (HANGAR_SCOPE_COLUMN, Some(cstring(column)), None)
                }
                ConflictScope::Metadata { key } => {
                    (HANGAR_SCOPE_METADATA, None, Some(cstring(key)))
                }
            };
            CConflict {
                kind: match c.kind {
                    ConflictKind::AddedInBoth => HANGAR_CONFLICT_ADDED_IN_BOTH,
                    ConflictKind::DeletedOursChangedTheirs => {
                        HANGAR_CONFLICT_DELETED_OURS_CHANGED_THEIRS
                    }
                    ConflictKind::ChangedOursDeletedTheirs => {
                        HANGAR_CONFLICT_CHANGED_OURS_DELETED_THEIRS
                    }
                    ConflictKind::ChangedInBoth => HANGAR_CONFLICT_CHANGED_IN_BOTH,
                },
                scope,
                column,
                key,
                digests: [hex(&c.base), hex(&c.ours), hex(&c.theirs)],
            }
        })
        .collect()
}

/// The conflicts merging `from` into `into` would meet, without merging or taking the
/// writer lock (an empty report when the merge would succeed). `*out` is a new handle.
#[no_mangle]
pub extern "C" fn hangar_repo_merge_conflicts(
    repo: *const hangar_repo,
    into: *const c_char,
    from: *const c_char,
    out: *mut *mut hangar_conflicts,
) -> hangar_status {
    guard_out(out, || {
        let r = handle(repo, "repo")?;
        let list = r
            .repo
            .merge_conflicts(text(into, "into")?, text(from, "from")?)?;
        let items = conflict_items(&list);
        Ok(into_handle(hangar_conflicts {
            report: None,
            items,
        }))
    })
}

/// The number of conflicts in the report.
#[no_mangle]
pub extern "C" fn hangar_conflicts_len(
    conflicts: *const hangar_conflicts,
    out: *mut usize,
) -> hangar_status {
    guard_out(out, || Ok(handle(conflicts, "conflicts")?.items.len()))
}

/// Conflict `index` (0 <= index < `hangar_conflicts_len`).
#[no_mangle]
pub extern "C" fn hangar_conflicts_get(
    conflicts: *const hangar_conflicts,
    index: usize,
    out: *mut hangar_conflict,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(conflicts, "conflicts")?;
        let it = c
            .items
            .get(index)
            .ok_or_else(|| out_of_range(index, c.items.len()))?;
        let p = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        Ok(hangar_conflict {
            kind: it.kind,
            scope: it.scope,
            column: p(&it.column),
            key: p(&it.key),
            base: p(&it.digests[0]),
            ours: p(&it.digests[1]),
            theirs: p(&it.digests[2]),
        })
    })
}

/// The report as readable text (a new buffer).
#[no_mangle]
pub extern "C" fn hangar_conflicts_text(
    conflicts: *const hangar_conflicts,
    out: *mut *mut hangar_buf,
) -> hangar_status {
    guard_out(out, || {
        let c = handle(conflicts, "conflicts")?;
        let s = match &c.report {
            Some(r) => r.to_string(),
            None => format!("{} conflicts", c.items.len()),
        };
        Ok(new_text(s))
    })
}

/// Frees a conflict report. NULL is accepted and ignored.
#[no_mangle]
pub extern "C" fn hangar_conflicts_free(conflicts: *mut hangar_conflicts) {
    guard_void(|| free_handle(conflicts));
}
