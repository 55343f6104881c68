//! The writer checkout: the one place changes are made. It holds the repository's writer
//! lock for its whole life and works on the durable staging area of its branch.
//!
//! Plain operations are write-through: when `set` returns, the sample survives kill -9
//! of the process. Inside a [`BulkSession`] (what the original Hangar calls the
//! context-manager form) writes are buffered and become durable when the session ends or
//! fills a buffer — much faster, with the same all-or-nothing guarantees per call.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use rayon::prelude::*;

use hangar_store::{crc32, Digest, DigestSet, PackSpool, StoreWriter, ValueInput};

use crate::checkout::reader::names_list;
use crate::checkout::{decode_record, missing_key, read_record, ColumnInfo, MetaView, Values};
use crate::commit::{self, CommitId};
use crate::error::{invalid, Error, Result};
use crate::format::{self, User};
use crate::key::SampleKey;
use crate::lock::WriterLock;
use crate::merge::{MergeConflicts, MergeOutcome, MergeStrategy};
use crate::names;
use crate::objects::{CommitObject, ObjectType, Root};
use crate::refs;
use crate::repo::Repository;
use crate::schema::{ColumnSchema, NdArraySpec, Record, INLINE_MAX};
use crate::shared::{poisoned, Shared};
use crate::staging::{overlay_keys, BaseInfo, Change, Puts, StagedChanges, Staging};
use crate::value::{fmt_shape, TensorRef, Value, ValueRef};
use hangar_store::Object;

/// The largest staged change journalled in one record; larger ones are split
/// ([`Change::encode_parts`]), within the store's `MAX_RECORD`.
const RECORD_PART_BYTES: usize = 64 << 20;
/// The journal is compacted once it grows past this size (and twice its last size).
const COMPACT_MIN_BYTES: u64 = 256 << 20;

/// Whether the staging area differs from its base commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Nothing staged.
    Clean,
    /// Changes are staged.
    Dirty(StagedChanges),
}

impl Status {
    /// True if changes are staged.
    pub fn is_dirty(&self) -> bool {
        matches!(self, Status::Dirty(_))
    }
}

mod batch;
pub use batch::BulkSession;
mod column;
mod merge;
mod mode;
mod open;
mod state;
mod store_ops;
mod view;

use crate::checkout::column::Column;
use batch::*;
pub use column::{StagingRecords, WriterColumn, WriterMetadata};
pub(crate) use mode::Mode;
use open::*;

pub(crate) struct WriterState {
    deferred: Deferred,
    shared: Arc<Shared>,
    mode: Mode,
    staging: Staging,
    user: User,
    key_seed: u64,
    key_counter: u64,
    compact_at: u64,
    /// Savepoints in force: the journal is not compacted under them.
    savepoints: u32,
    /// Puts go to the journal only, not to `staging` (see
    /// [`WriterCheckout::defer_staging_view`]).
    view_deferred: bool,
    /// `staging` lacks puts the journal holds: rebuilt from the journal (as a writer
    /// that opens builds it) before anything reads it — [`lock_state`] does.
    view_stale: bool,
    /// A read-only view (no lock) counts as an open reader for gc while it lives.
    _view: Option<crate::shared::OpenReader>,
}

impl fmt::Debug for WriterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterState")
            .field("branch", &self.staging.base.branch)
            .field("closed", &self.mode.closed_reason())
            .finish()
    }
}

/// The write-enabled checkout. Holds the writer lock until closed or dropped.
///
/// Columns and metadata handles obtained from it share its state; after `close` every
/// one of them returns a `Closed` error.
#[derive(Debug)]
pub struct WriterCheckout {
    st: Arc<Mutex<WriterState>>,
}

/// Locks the state of an open writer, first storing any queued bulk-session puts.
fn lock_state(st: &Mutex<WriterState>) -> Result<MutexGuard<'_, WriterState>> {
    let mut g = lock_state_for_puts(st)?;
    g.catch_up()?;
    Ok(g)
}

/// Locks the state of an open writer for staging puts, which read no staged record:
/// the bulk-session queue is drained, a deferred view is left as it is.
fn lock_state_for_puts(st: &Mutex<WriterState>) -> Result<MutexGuard<'_, WriterState>> {
    let mut g = lock_state_raw(st)?;
    g.drain()?;
    Ok(g)
}

/// Locks the state of an open writer without draining the bulk-session queue.
fn lock_state_raw(st: &Mutex<WriterState>) -> Result<MutexGuard<'_, WriterState>> {
    let g = st.lock().map_err(|_| poisoned())?;
    g.check_open()?;
    Ok(g)
}

/// Takes the writer lock and loads the staging area (see `load_current`).
fn lock_and_load(shared: &Arc<Shared>) -> Result<(WriterLock, User, StoreWriter, Staging)> {
    let lock = WriterLock::acquire(&shared.hangar)?;
    // Temporary ref files left by an interrupted ref update (only a writer makes them).
    hangar_store::fs::remove_temp_files(&shared.hangar.join("refs").join("heads"))?;
    let (user, sw, staging) = load_current(shared, false, true)?;
    Ok((lock, user, sw, staging))
}

/// Every staged change as the journal records it: what a rewrite of the journal
/// (compaction, a move to a new branch) writes after the store's frames.
fn journal_records(staging: &Staging) -> Vec<Vec<u8>> {
    staging
        .snapshot()
        .iter()
        .flat_map(|c| c.encode_parts(RECORD_PART_BYTES))
        .collect()
}

impl WriterCheckout {
    /// Opens the writer on the staging area; with `branch`, first switches the staging
    /// area to that branch (refused with `DirtyStaging` if it has changes for another
    /// branch). On any error the lock is released.
    /// With `carry`, staged changes move along when they apply unchanged on the
    /// branch's head ([`carry_check`]); without, a dirty staging area is refused.
    pub(crate) fn open(
        shared: Arc<Shared>,
        branch: Option<&str>,
        carry: bool,
    ) -> Result<WriterCheckout> {
        let (lock, user, mut sw, mut staging) = lock_and_load(&shared)?;
        if let Some(wanted) = branch {
            if wanted != staging.base.branch {
                if !refs::branch_exists(&shared.hangar, wanted)? {
                    let names: Vec<String> = refs::list_branches(&shared.hangar)?
                        .into_iter()
                        .map(|(name, _)| name)
                        .collect();
                    return Err(Error::NotFound(format!(
                        "no branch named {wanted:?} (branches: {}); create it first",
                        names.join(", ")
                    )));
                }
                let dirty = staging.is_dirty();
                if dirty && !carry {
                    return Err(Error::DirtyStaging(format!(
                        "Unable to check out branch {wanted:?}: the staging area has uncommitted changes on branch {:?}; \
                         commit or reset them first",
                        staging.base.branch
                    )));
                }
                let switched = BaseInfo {
                    branch: wanted.to_string(),
                    commit: refs::read_ref(&shared.hangar, wanted)?,
                };
                staging = if dirty {
                    let doing = format!("check out branch {wanted:?}");
                    let carried = carry_check(&shared, &staging, &switched, &doing)?;
                    move_staged(&mut sw, staging, carried, switched)?
                } else {
                    restart_at(&shared, &mut sw, switched)?
                };
            }
        }
        Ok(WriterCheckout::with_state(
            shared,
            Some(lock),
            sw,
            staging,
            user,
        ))
    }

    /// Creates a branch and opens the writer on it, the staged changes moving with the
    /// staging area (see [`Repository::checkout_writer_new_branch`]). Under the writer
    /// lock: the checks first, then the branch (a ref, durable), then the journal
    /// rewritten on the new base in one atomic replace; a crash between the two leaves
    /// the branch created and the changes staged on the old one.
    pub(crate) fn open_new_branch(
        repo: &Repository,
        name: &str,
        start: Option<&str>,
    ) -> Result<WriterCheckout> {
        let shared = repo.shared().clone();
        let (lock, user, mut sw, mut staging) = lock_and_load(&shared)?;
        let dirty = staging.is_dirty();
        let carried = if dirty {
            let at = BaseInfo {
                branch: name.to_string(),
                commit: match start {
                    Some(rev) => Some(repo.resolve(rev)?.0),
                    None => refs::read_ref(&shared.hangar, &staging.base.branch)?,
                },
            };
            let doing = format!("create branch {name:?} and check it out");
            carry_check(&shared, &staging, &at, &doing)?
        } else {
            None
        };
        let branch = repo.create_branch(name, start)?;
        let moved = BaseInfo {
            branch: branch.name,
            commit: branch.head.map(|h| h.0),
        };
        staging = if dirty {
            move_staged(&mut sw, staging, carried, moved)?
        } else {
            restart_at(&shared, &mut sw, moved)?
        };
        Ok(WriterCheckout::with_state(
            shared,
            Some(lock),
            sw,
            staging,
            user,
        ))
    }

    /// A view of the durable staging area without the writer lock, for
    /// [`crate::StagedView`]: nothing on disk is changed, and every change through it is
    /// refused by its store writer. A clean staging area whose branch moved on is seen
    /// on the branch's head, as a writer would rebase it. Without `values`, the staged
    /// values are not located (their frames are skipped: nothing per staged value is
    /// held) and reading one is an error.
    pub(crate) fn open_read_only(shared: Arc<Shared>, values: bool) -> Result<WriterCheckout> {
        let (user, sw, staging) = load_current(&shared, true, values)?;
        Ok(WriterCheckout::with_state(shared, None, sw, staging, user))
    }

    /// A checkout over a loaded staging area (`lock` is `None` for a read-only view).
    fn with_state(
        shared: Arc<Shared>,
        lock: Option<WriterLock>,
        sw: StoreWriter,
        staging: Staging,
        user: User,
    ) -> WriterCheckout {
        let key_seed = RandomState::new().build_hasher().finish();
        let compact_at = COMPACT_MIN_BYTES.max(2 * sw.journal_len());
        WriterCheckout {
            st: Arc::new(Mutex::new(WriterState {
                _view: lock
                    .is_none()
                    .then(|| crate::shared::OpenReader::new(&shared)),
                deferred: Deferred::default(),
                shared,
                mode: Mode::Open { sw, lock },
                staging,
                user,
                key_seed,
                key_counter: 0,
                compact_at,
                savepoints: 0,
                view_deferred: false,
                view_stale: false,
            })),
        }
    }

    fn state(&self) -> Result<MutexGuard<'_, WriterState>> {
        lock_state(&self.st)
    }

    /// The branch the staging area is based on.
    pub fn branch_name(&self) -> Result<String> {
        // The base is current in a deferred view too (only puts are deferred).
        Ok(lock_state_raw(&self.st)?.staging.base.branch.clone())
    }

    /// The commit the staging area is based on (`None` before the first commit).
    pub fn commit_hash(&self) -> Result<Option<CommitId>> {
        Ok(lock_state_raw(&self.st)?.staging.base.commit.map(CommitId))
    }

    /// Every staged column with its schema and sample count.
    pub fn columns(&self) -> Result<Vec<ColumnInfo>> {
        let st = self.state()?;
        st.staging.columns.keys().map(|n| st.info(n)).collect()
    }

    /// The names of the staged columns.
    pub fn column_names(&self) -> Result<Vec<String>> {
        Ok(self.state()?.staging.columns.keys().cloned().collect())
    }

    /// True if the column exists in the staging area.
    pub fn has_column(&self, name: &str) -> Result<bool> {
        Ok(self.state()?.staging.columns.contains_key(name))
    }

    /// A handle on column `name` (the caller holds the state `st`).
    fn column_handle(&self, st: &WriterState, name: &str) -> WriterColumn {
        Column {
            src: StagingRecords {
                st: self.st.clone(),
                shared: st.shared.clone(),
                name: name.to_string(),
            },
        }
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Result<WriterColumn> {
        let st = self.state()?;
        st.column(name)?;
        Ok(self.column_handle(&st, name))
    }

    /// Creates a column with `schema` (as the typed `add_*_column` methods do; for a
    /// schema taken from another column or planned ahead). `AlreadyExists` for a
    /// duplicate name, `InvalidArgument` for a bad one.
    pub fn add_column(&self, name: &str, schema: ColumnSchema) -> Result<WriterColumn> {
        names::check_name("column name", name)?;
        let mut st = self.state()?;
        if st.staging.columns.contains_key(name) {
            return Err(Error::AlreadyExists(format!(
                "a column named {name:?} already exists; pick another name or delete it first"
            )));
        }
        if schema.compression().is_compressed() {
            crate::format::enable_feature(&st.shared.hangar, crate::format::PARQUET_SEGMENTS)?;
        }
        st.stage(Change::ColumnCreate {
            name: name.to_string(),
            schema,
        })?;
        Ok(self.column_handle(&st, name))
    }

    /// Creates an ndarray column from a prototype or a shape and dtype.
    ///
    /// `InvalidArgument` if the spec gives neither or both, a dimension is 0, the rank
    /// exceeds 31, or the name breaks the rules; `AlreadyExists` for a duplicate name.
    pub fn add_ndarray_column(&self, name: &str, spec: NdArraySpec) -> Result<WriterColumn> {
        let schema = spec.into_schema()?;
        self.add_column(name, schema)
    }

    /// Creates a str column.
    pub fn add_str_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::str())
    }

    /// Creates a bytes column.
    pub fn add_bytes_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::bytes())
    }

    /// Creates a nested str column: sample key → { subsample key → text }.
    pub fn add_nested_str_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::str().nested())
    }

    /// Creates a nested bytes column: sample key → { subsample key → bytes }.
    pub fn add_nested_bytes_column(&self, name: &str) -> Result<WriterColumn> {
        self.add_column(name, ColumnSchema::bytes().nested())
    }

    /// Deletes a column and all its samples from the staging area. Data already
    /// committed stays in history.
    pub fn delete_column(&self, name: &str) -> Result<()> {
        let mut st = self.state()?;
        st.column(name)?;
        st.stage(Change::ColumnDelete {
            name: name.to_string(),
        })
    }

    /// The staged metadata.
    pub fn metadata(&self) -> WriterMetadata {
        WriterMetadata {
            st: self.st.clone(),
        }
    }

    /// Starts a bulk session: writes are buffered (and hashed in parallel where
    /// possible) until the session ends. See the module docs.
    pub fn bulk(&self) -> Result<BulkSession<'_>> {
        self.begin_bulk()?;
        Ok(BulkSession {
            co: self,
            done: false,
        })
    }

    /// Starts a bulk session without a guard (for bindings, whose sessions cannot borrow
    /// the checkout): end it with [`WriterCheckout::end_bulk`]. Puts made in the session
    /// are buffered and stored when it ends (or at a commit); until then a crash loses
    /// them. `InvalidArgument` if a session is already open.
    pub fn begin_bulk(&self) -> Result<()> {
        let mut st = lock_state_for_puts(&self.st)?;
        if st.sw()?.is_buffered() {
            return Err(invalid(
                "a bulk session is already open on this writer checkout; end it first",
            ));
        }
        Ok(st.sw()?.set_buffered(true)?)
    }

    /// Ends the bulk session [`WriterCheckout::begin_bulk`] started: every buffered put
    /// is stored, durably against a crash, before this returns. `InvalidArgument` if no
    /// session is open.
    pub fn end_bulk(&self) -> Result<()> {
        let mut st = lock_state_for_puts(&self.st)?;
        if !st.sw()?.is_buffered() {
            return Err(invalid(
                "no bulk session is open on this writer checkout: start one first",
            ));
        }
        st.end_buffered()
    }

    /// Sets the journal size beyond which the staging journal is compacted (default
    /// 256 MiB). For tests and tuning.
    #[doc(hidden)]
    pub fn set_journal_compaction_threshold(&self, bytes: u64) -> Result<()> {
        self.state()?.compact_at = bytes;
        Ok(())
    }

    /// Runs `f`; if it fails, the staging area is returned exactly to where it was before
    /// `f` ran — every column, sample and metadata change `f` staged is undone, the
    /// journal is cut back and the data files written since are deleted — and `f`'s
    /// error is returned. `hangar import` runs in one, so a failed import leaves the
    /// staging area as it was. `f` must not commit or reset (the rollback then fails);
    /// the journal is not compacted while it runs. If the rollback itself fails, the
    /// checkout is closed (reopening replays what the journal holds) and that error is
    /// returned, naming `f`'s.
    pub fn all_or_nothing<T, E>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error> + fmt::Display,
    {
        let sp = {
            let mut st = self.state()?;
            let sp = st.sw()?.savepoint().map_err(Error::from)?;
            st.savepoints += 1;
            sp
        };
        let out = f();
        let Ok(mut st) = self.st.lock() else {
            return out;
        };
        st.savepoints = st.savepoints.saturating_sub(1);
        // A checkout `f` closed cannot be rolled back: its result stands, and a new
        // writer replays what the journal acknowledged. One a failed journal write closed
        // (it kept its store writer for this) is rolled back and open again.
        if matches!(st.mode, Mode::Closed { .. }) {
            return out;
        }
        match out {
            Ok(v) => {
                if st.savepoints == 0 {
                    st.mode.close_failed();
                }
                Ok(v)
            }
            Err(e) => match st.rollback(&sp) {
                Ok(()) => Err(e),
                Err(rb) => {
                    st.savepoints = 0;
                    st.poison(&rb);
                    Err(Error::InvalidArgument(format!(
                        "{e}; undoing its staged changes then failed too ({rb}): open a new writer \
                         checkout, which holds what the journal acknowledged"
                    ))
                    .into())
                }
            },
        }
    }

    /// With `true`, puts are staged durably in the staging journal, as always, but no
    /// longer applied to this checkout's in-memory view of the staging area; the view
    /// is rebuilt from the journal (as a writer that opens builds it) when something
    /// next reads it — a get, `status`, `commit`, a column's length. For a process that
    /// stages a large import and ends, as `hangar import` without `-m` does: at 10M
    /// small samples the view is most of the memory the import touches, and the next
    /// writer (`hangar commit`) builds its own from the journal anyway. Reads stay
    /// correct: the first one after deferred puts rebuilds the view and ends the
    /// deferral (so a process that reads as it goes pays one rebuild, not one per
    /// read). `false` (the default) applies puts to the view again.
    pub fn defer_staging_view(&self, deferred: bool) -> Result<()> {
        lock_state_raw(&self.st)?.view_deferred = deferred;
        Ok(())
    }

    /// Writes everything buffered by a bulk session now.
    pub fn flush(&self) -> Result<()> {
        Ok(self.state()?.sw()?.flush()?)
    }

    /// Clean, or dirty with a summary of what is staged. Works before the first commit.
    pub fn status(&self) -> Result<Status> {
        let st = self.state()?;
        Ok(if st.staging.is_dirty() {
            Status::Dirty(st.staging.changes())
        } else {
            Status::Clean
        })
    }

    /// The diff from the staging area's base commit to the staging area (before the
    /// first commit everything is *added*).
    pub fn diff_staged(&self) -> Result<crate::diff::Diff> {
        self.diff_staged_shown(usize::MAX)
    }

    /// [`WriterCheckout::diff_staged`] to be shown: each column's key lists hold at most
    /// `max_keys` (the first in key order), and [`crate::ColumnDiff::totals`] counts
    /// them all (see [`crate::Repository::diff_shown`]).
    pub fn diff_staged_shown(&self, max_keys: usize) -> Result<crate::diff::Diff> {
        let st = self.state()?;
        crate::diff::diff_staged(&st.shared, &st.staging, max_keys)
    }

    /// Commits the staging area to its branch and returns the new commit's id.
    ///
    /// `NothingToCommit` if nothing is staged; `InvalidArgument` for an empty message.
    /// The data is fsynced before the branch ref moves, in one atomic step.
    pub fn commit(&self, message: &str) -> Result<CommitId> {
        if message.trim().is_empty() {
            return Err(invalid("the commit message is empty; describe the change"));
        }
        let mut guard = self.state()?;
        let st = &mut *guard;
        if !st.staging.is_dirty() {
            return Err(Error::NothingToCommit(
                "No changes made in the staging area; nothing to commit".into(),
            ));
        }
        let built = commit::build(&st.shared, &st.staging, &st.user, message)?;
        // Every value staged since the base is kept unless a staged record was replaced
        // or removed since (an import, an append): then only those still referenced.
        let live = if st.staging.values_may_be_dead() {
            let expected = st.sw()?.staged_values();
            Some(st.staging.live_digests(expected))
        } else {
            None
        };
        let first_line = message.lines().next().unwrap_or_default();
        st.publish(
            built.objects,
            live.as_ref()
                .map_or(hangar_store::Live::All, hangar_store::Live::Only),
            built.id,
            &format!("commit: {first_line}"),
        )?;
        Ok(CommitId(built.id))
    }

    /// Discards every staged change and the data written only for them, returning to
    /// the branch head. `NothingToCommit` if nothing is staged.
    pub fn reset_staging_area(&self) -> Result<Option<CommitId>> {
        let mut guard = self.state()?;
        let st = &mut *guard;
        if !st.staging.is_dirty() {
            return Err(Error::NothingToCommit(
                "No changes made in the staging area; no reset necessary".into(),
            ));
        }
        let branch = st.staging.base.branch.clone();
        let head = refs::read_ref(&st.shared.hangar, &branch)?;
        let base = BaseInfo {
            branch,
            commit: head,
        };
        st.sw()?.reset(&base.encode())?;
        st.staging = Staging::load(&st.shared, base)?;
        Ok(head.map(CommitId))
    }

    /// Flushes, releases the writer lock and closes the checkout. Every later use of it
    /// (or of its columns) is a `Closed` error, and so is closing it again.
    pub fn close(&self) -> Result<()> {
        let mut st = self.st.lock().map_err(|_| poisoned())?;
        if !st.mode.is_open() {
            return Err(Error::Closed(
                "this writer checkout is already closed".into(),
            ));
        }
        let drained = st.drain();
        let flushed = st.sw().map(|sw| sw.flush());
        st.mode.close(
            "this writer checkout was closed; open a new one with Repository::checkout_writer",
        );
        drained?;
        Ok(flushed??)
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.st.lock().map(|s| !s.mode.is_open()).unwrap_or(true)
    }
}

impl Drop for WriterCheckout {
    fn drop(&mut self) {
        if let Ok(mut st) = self.st.lock() {
            if st.mode.is_open() {
                let _ = st.drain();
                if let Ok(sw) = st.sw() {
                    let _ = sw.flush();
                }
                st.mode
                    .close("the writer checkout this came from was dropped");
            }
        }
    }
}

impl fmt::Display for WriterCheckout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = self.branch_name().unwrap_or_else(|_| "(closed)".into());
        writeln!(f, "Hangar WriterCheckout")?;
        writeln!(f, "    Writer       : True")?;
        write!(f, "    Base Branch  : {branch}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread that panicked while holding the writer's state leaves it poisoned: every
    /// later call fails with `Internal` (a bug, not the caller's argument), saying to
    /// reopen, and the checkout never panics itself.
    #[test]
    fn a_poisoned_writer_reports_an_internal_error() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path(), "T", "t@example.com", false).unwrap();
        let co = repo.checkout_writer().unwrap();
        let st = Arc::clone(&co.st);
        let _ = std::thread::spawn(move || {
            let _held = st.lock().unwrap();
            panic!("a bug while holding the writer's state");
        })
        .join();
        let err = co.status().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Internal, "{err}");
        assert!(err.to_string().contains("reopen"), "{err}");
    }
}
