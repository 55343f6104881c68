//! A read-only view of the durable staging area, taken without the writer lock: what
//! `status`, `column list`, `diff --staged` and `cat --staged` read while a long import,
//! an editor open for a commit message or another program's writer holds the lock (as
//! `git status` keeps working beside a running `git commit`).
//!
//! It sees what the staging journal had acknowledged when the view was opened: the
//! changes of a writer still working on it are seen up to its last whole journal frame,
//! and a bulk session's buffered changes once they are flushed. The view is built by the
//! writer's own replay and read through the writer's read path; every change is refused.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::checkout::writer::{Status, WriterCheckout, WriterColumn};
use crate::checkout::ColumnInfo;
use crate::commit::CommitId;
use crate::diff::Diff;
use crate::error::Result;
use crate::key::SampleKey;
use crate::schema::ColumnSchema;
use crate::shared::Shared;
use crate::value::Value;

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
    pub(crate) fn open(shared: Arc<Shared>) -> Result<StagedView> {
        let writer_active = crate::lock::is_held(&shared.hangar)?;
        Ok(StagedView {
            co: Arc::new(WriterCheckout::open_read_only(shared)?),
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
        Ok(StagedColumn {
            col: self.co.column(name)?,
            _view: self.co.clone(),
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

    /// Metadata `key` of the staging area, or `None`.
    pub fn metadata(&self, key: &str) -> Result<Option<String>> {
        self.co.metadata().try_get(key)
    }

    /// The metadata keys of the staging area, in order.
    pub fn metadata_keys(&self) -> Result<Vec<String>> {
        self.co.metadata().keys()
    }
}

/// A column of a [`StagedView`]: the read half of [`WriterColumn`]. It keeps the view's
/// state open for as long as it lives.
pub struct StagedColumn {
    col: WriterColumn,
    _view: Arc<WriterCheckout>,
}

impl fmt::Debug for StagedColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StagedColumn")
            .field(&self.col.name())
            .finish()
    }
}

impl StagedColumn {
    /// The column's name.
    pub fn name(&self) -> &str {
        self.col.name()
    }

    /// Its schema.
    pub fn schema(&self) -> Result<ColumnSchema> {
        self.col.schema()
    }

    /// Number of samples.
    pub fn len(&self) -> Result<usize> {
        self.col.len()
    }

    /// True if it holds no sample.
    pub fn is_empty(&self) -> Result<bool> {
        self.col.is_empty()
    }

    /// True for a nested column.
    pub fn is_nested(&self) -> Result<bool> {
        self.col.is_nested()
    }

    /// The value of `key`; `NotFound` if absent.
    pub fn get(&self, key: impl Into<SampleKey>) -> Result<Value> {
        self.col.get(key)
    }

    /// The value of `key`, or `None`.
    pub fn try_get(&self, key: impl Into<SampleKey>) -> Result<Option<Value>> {
        self.col.try_get(key)
    }

    /// True if `key` is present.
    pub fn contains(&self, key: impl Into<SampleKey>) -> Result<bool> {
        self.col.contains(key)
    }

    /// Every key, in key order.
    pub fn keys(&self) -> Result<Vec<SampleKey>> {
        self.col.keys()
    }

    /// Subsample `sub` of nested sample `key`; `NotFound` if absent.
    pub fn get_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<Value> {
        self.col.get_subsample(key, sub)
    }

    /// True if nested sample `key` has subsample `sub`.
    pub fn contains_subsample(
        &self,
        key: impl Into<SampleKey>,
        sub: impl Into<SampleKey>,
    ) -> Result<bool> {
        self.col.contains_subsample(key, sub)
    }

    /// The subsample keys of nested sample `key`; `NotFound` if it does not exist.
    pub fn subsample_keys(&self, key: impl Into<SampleKey>) -> Result<Vec<SampleKey>> {
        self.col.subsample_keys(key)
    }

    /// Every subsample of nested sample `key`; `NotFound` if it does not exist.
    pub fn get_sample(&self, key: impl Into<SampleKey>) -> Result<BTreeMap<SampleKey, Value>> {
        self.col.get_sample(key)
    }
}
