//! A read-only view of the durable staging area, taken without the writer lock: what
//! `status`, `column list`, `diff --staged` and `cat --staged` read while a long import,
//! an editor open for a commit message or another program's writer holds the lock (as
//! `git status` keeps working beside a running `git commit`).
//!
//! It sees what the staging journal had acknowledged when the view was opened: the
//! changes of a writer still working on it are seen up to its last whole journal frame,
//! and a bulk session's buffered changes once they are flushed. The view is built by the
//! writer's own replay and read through the writer's read path; every change is refused.

use std::fmt;
use std::sync::Arc;

use crate::checkout::column::{Column, RawEntries, Source, View};
use crate::checkout::writer::{StagingRecords, Status, WriterCheckout};
use crate::checkout::ColumnInfo;
use crate::commit::CommitId;
use crate::diff::Diff;
use crate::error::Result;
use crate::shared::Shared;

/// The staging area as the journal holds it, read without the writer lock
/// ([`crate::Repository::staged_view`]).
pub struct StagedView {
    /// Shared with the columns taken from the view, which outlive it as reader columns
    /// outlive their checkout (the checkout closes its state when dropped).
    co: Arc<WriterCheckout>,
    writer_active: bool,
}

impl fmt::Debug for StagedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedView")
            .field("branch", &self.branch_name().ok())
            .field("writer_active", &self.writer_active)
            .finish()
    }
}

impl StagedView {
    pub(crate) fn open(shared: Arc<Shared>, values: bool) -> Result<StagedView> {
        let writer_active = crate::lock::is_held(&shared.hangar)?;
        Ok(StagedView {
            co: Arc::new(WriterCheckout::open_read_only(shared, values)?),
            writer_active,
        })
    }

    /// True if a writer checkout held the lock when the view was opened: what it stages
    /// after its last journal write is not seen.
    pub fn writer_active(&self) -> bool {
        self.writer_active
    }

    /// The branch the staging area is based on.
    pub fn branch_name(&self) -> Result<String> {
        self.co.branch_name()
    }

    /// The commit the staging area is based on (`None` before the first commit).
    pub fn commit_hash(&self) -> Result<Option<CommitId>> {
        self.co.commit_hash()
    }

    /// Every staged column with its schema and sample count.
    pub fn columns(&self) -> Result<Vec<ColumnInfo>> {
        let mut cols = self.co.columns()?;
        for c in &mut cols {
            c.writable = false;
        }
        Ok(cols)
    }

    /// True if the staging area has column `name`.
    pub fn has_column(&self, name: &str) -> Result<bool> {
        self.co.has_column(name)
    }

    /// Column `name` of the staging area, read-only; `NotFound` if it has none.
    pub fn column(&self, name: &str) -> Result<StagedColumn> {
        Ok(Column {
            src: StagedRecords {
                inner: self.co.column(name)?,
                _view: self.co.clone(),
            },
        })
    }

    /// Whether the staging area differs from its base commit, and how.
    pub fn status(&self) -> Result<Status> {
        self.co.status()
    }

    /// What the staging area changes against its base commit.
    pub fn diff_staged(&self) -> Result<Diff> {
        self.co.diff_staged()
    }

    /// [`StagedView::diff_staged`] to be shown: each column's key lists hold at most
    /// `max_keys` (the first in key order), and [`crate::ColumnDiff::totals`] counts
    /// them all (see [`crate::Repository::diff_shown`]).
    pub fn diff_staged_shown(&self, max_keys: usize) -> Result<Diff> {
        self.co.diff_staged_shown(max_keys)
    }

    /// Metadata `key` of the staging area, or `None`.
    pub fn metadata(&self, key: &str) -> Result<Option<String>> {
        self.co.metadata().try_get(key)
    }

    /// The metadata keys of the staging area, in order.
    pub fn metadata_keys(&self) -> Result<Vec<String>> {
        self.co.metadata().keys()
    }
}

/// A column of a [`StagedView`]: the reads of a [`WriterColumn`](crate::WriterColumn), no writes. It keeps
/// the view's state open for as long as it lives. Its methods are [`Column`]'s.
pub type StagedColumn = Column<StagedRecords>;

/// The records of a [`StagedColumn`]: a writer column's, read-only.
#[derive(Clone)]
pub struct StagedRecords {
    inner: Column<StagingRecords>,
    _view: Arc<WriterCheckout>,
}

impl fmt::Debug for StagedRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StagedRecords")
            .field(&self.inner.name())
            .finish()
    }
}

// The sealed trait's methods take crate types (see `checkout::column`).
#[allow(private_interfaces, private_bounds)]
impl Source for StagedRecords {
    fn column_name(&self) -> &str {
        self.inner.src.column_name()
    }

    fn ensure_open(&self) -> Result<()> {
        self.inner.src.ensure_open()
    }

    fn with<R>(&self, f: impl FnOnce(&View<'_>) -> Result<R>) -> Result<R> {
        self.inner.src.with(|v| {
            f(&View {
                writable: false,
                ..v.clone()
            })
        })
    }

    fn entries(&self) -> Result<RawEntries<'_>> {
        self.inner.src.entries()
    }

    fn shared(&self) -> &Shared {
        self.inner.src.shared()
    }
}
