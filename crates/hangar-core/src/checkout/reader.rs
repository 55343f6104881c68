//! Reader checkouts: an immutable view of one commit. Any number may exist, alongside a
//! writer, in any process; a commit made later never changes what a reader sees.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::checkout::column::{Column, RawEntries, Source, View};
use crate::checkout::{ColumnInfo, MetaView, Values};
use crate::commit::{CommitId, CommitInfo};
use crate::error::{Error, Result};
use crate::key::SampleKey;
use crate::objects::TreeRef;
use crate::schema::ColumnSchema;
use crate::shared::Shared;
use crate::tree::{self, TreeIter};
use crate::value::Value;

#[derive(Debug)]
struct ReaderColumnData {
    name: String,
    schema: ColumnSchema,
    schema_digest: hangar_store::Digest,
    tree: Option<TreeRef>,
    samples: u64,
}

#[derive(Debug)]
struct ReaderState {
    shared: Arc<Shared>,
    commit: CommitInfo,
    branch: Option<String>,
    columns: BTreeMap<String, Arc<ReaderColumnData>>,
    metadata: Option<TreeRef>,
    closed: AtomicBool,
    /// Counts this checkout as open for gc until closed or dropped.
    open: std::sync::Mutex<Option<crate::shared::OpenReader>>,
}

impl ReaderState {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed(format!(
                "this reader checkout of commit {} was closed; open a new one with Repository::checkout",
                self.commit.id
            )));
        }
        Ok(())
    }
}

/// A read-only view of one commit. Cheap to clone; clones share the view (and `close`).
/// `Send + Sync`: share it across threads freely.
#[derive(Debug, Clone)]
pub struct ReaderCheckout {
    st: Arc<ReaderState>,
}

impl ReaderCheckout {
    pub(crate) fn open(
        shared: Arc<Shared>,
        commit: CommitInfo,
        branch: Option<String>,
    ) -> Result<ReaderCheckout> {
        let root = shared.read_root(&commit.root)?;
        let mut columns = BTreeMap::new();
        for c in root.columns {
            let schema = shared.read_schema(&c.schema)?;
            columns.insert(
                c.name.clone(),
                Arc::new(ReaderColumnData {
                    schema_digest: c.schema,
                    name: c.name,
                    schema,
                    tree: c.tree,
                    samples: c.samples,
                }),
            );
        }
        Ok(ReaderCheckout {
            st: Arc::new(ReaderState {
                open: std::sync::Mutex::new(Some(crate::shared::OpenReader::new(&shared))),
                shared,
                commit,
                branch,
                columns,
                metadata: root.metadata,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The commit this checkout shows.
    pub fn commit_hash(&self) -> CommitId {
        self.st.commit.id
    }

    /// The commit's details.
    pub fn commit_info(&self) -> &CommitInfo {
        &self.st.commit
    }

    /// The branch this checkout was opened from, if any.
    pub fn branch_name(&self) -> Option<&str> {
        self.st.branch.as_deref()
    }

    /// Every column with its schema and sample count.
    pub fn columns(&self) -> Result<Vec<ColumnInfo>> {
        self.st.check_open()?;
        Ok(self.st.columns.values().map(|c| info(c)).collect())
    }

    /// The names of the columns.
    pub fn column_names(&self) -> Result<Vec<String>> {
        self.st.check_open()?;
        Ok(self.st.columns.keys().cloned().collect())
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Result<ReaderColumn> {
        self.st.check_open()?;
        let data = self.st.columns.get(name).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "commit {} has no column {name:?}; its columns are: {}",
                self.st.commit.id,
                names_list(self.st.columns.keys())
            ))
        })?;
        Ok(Column {
            src: CommitRecords {
                st: self.st.clone(),
                data,
            },
        })
    }

    /// True if the column exists.
    pub fn has_column(&self, name: &str) -> Result<bool> {
        self.st.check_open()?;
        Ok(self.st.columns.contains_key(name))
    }

    /// The commit's metadata.
    pub fn metadata(&self) -> ReaderMetadata {
        ReaderMetadata {
            st: self.st.clone(),
        }
    }

    /// Closes the checkout: every later use of it or of its columns is an error.
    /// Closing twice is an error too.
    pub fn close(&self) -> Result<()> {
        self.st.check_open()?;
        self.st.closed.store(true, Ordering::Release);
        if let Ok(mut open) = self.st.open.lock() {
            open.take();
        }
        Ok(())
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.st.closed.load(Ordering::Acquire)
    }
}

impl fmt::Display for ReaderCheckout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Hangar ReaderCheckout")?;
        writeln!(f, "    Writer       : False")?;
        writeln!(f, "    Commit Hash  : {}", self.st.commit.id)?;
        write!(f, "    Num Columns  : {}", self.st.columns.len())
    }
}

pub(crate) fn names_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<_> = names.map(|n| format!("{n:?}")).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn info(c: &ReaderColumnData) -> ColumnInfo {
    ColumnInfo {
        name: c.name.clone(),
        schema: c.schema.clone(),
        schema_hash: c.schema_digest.short(),
        num_samples: c.samples,
        num_subsamples: c
            .schema
            .is_nested()
            .then(|| c.tree.map_or(0, |t| t.count) - c.samples),
        writable: false,
    }
}

/// A column of a reader checkout: its commit's record table. Cheap to clone,
/// `Send + Sync`. Its read methods are [`Column`]'s.
pub type ReaderColumn = Column<CommitRecords>;

/// The records of a reader column: one commit's record table and the store.
#[derive(Debug, Clone)]
pub struct CommitRecords {
    st: Arc<ReaderState>,
    data: Arc<ReaderColumnData>,
}

// The sealed trait's methods take crate types (see `checkout::column`).
#[allow(private_interfaces, private_bounds)]
impl Source for CommitRecords {
    fn column_name(&self) -> &str {
        &self.data.name
    }

    fn ensure_open(&self) -> Result<()> {
        self.st.check_open()
    }

    fn with<R>(&self, f: impl FnOnce(&View<'_>) -> Result<R>) -> Result<R> {
        self.st.check_open()?;
        let shared = &*self.st.shared;
        f(&View {
            shared,
            name: &self.data.name,
            schema: &self.data.schema,
            schema_digest: &self.data.schema_digest,
            base: self.data.tree.as_ref(),
            overlay: None,
            values: Values::Store(&shared.store),
            count: self.data.tree.map_or(0, |t| t.count),
            samples: self.data.samples,
            writable: false,
        })
    }

    fn entries(&self) -> Result<RawEntries<'_>> {
        self.st.check_open()?;
        Ok(Box::new(
            TreeIter::new(&*self.st.shared, self.data.tree.as_ref()).map(|r| {
                self.st.check_open()?;
                r.map(|(k, v)| (k, Some(v)))
            }),
        ))
    }

    fn shared(&self) -> &Shared {
        &self.st.shared
    }
}

impl Column<CommitRecords> {
    /// The digest of the column's record table (its content identity): two commits
    /// whose column has the same record table share it on disk. `None` when empty.
    pub fn record_table(&self) -> Option<hangar_store::Digest> {
        self.src.data.tree.map(|t| t.root)
    }

    /// The value a raw record of this column names (zero-copy where it can be).
    pub(crate) fn value_of_record(&self, key: &SampleKey, raw: &[u8]) -> Result<Value> {
        self.src.with(|v| v.value_of(raw, key, false))
    }

    /// Up to `max` (raw key, raw record) pairs after the raw key `after` (from the first
    /// when `None`), in key order: one path down the record table, then its leaves.
    pub(crate) fn raw_records_after(
        &self,
        after: Option<&[u8]>,
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.src.st.check_open()?;
        TreeIter::after(&*self.src.st.shared, self.src.data.tree.as_ref(), after)
            .take(max)
            .collect()
    }

    /// The largest raw key, `None` when the column is empty.
    pub(crate) fn last_raw_key(&self) -> Result<Option<Vec<u8>>> {
        self.src.st.check_open()?;
        self.src
            .data
            .tree
            .as_ref()
            .map(|t| tree::last_key(&*self.src.st.shared, t))
            .transpose()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.src.st.shared
    }

    /// The schema, borrowed (a commit's never changes).
    pub(crate) fn schema_ref(&self) -> &ColumnSchema {
        &self.src.data.schema
    }

    /// True for a nested column.
    pub(crate) fn nested(&self) -> bool {
        self.src.data.schema.is_nested()
    }
}

/// The metadata of a reader checkout.
#[derive(Debug, Clone)]
pub struct ReaderMetadata {
    st: Arc<ReaderState>,
}

impl ReaderMetadata {
    /// Runs `f` over the commit's metadata.
    fn read<R>(&self, f: impl FnOnce(&MetaView<'_>) -> Result<R>) -> Result<R> {
        self.st.check_open()?;
        f(&MetaView {
            shared: &self.st.shared,
            base: self.st.metadata.as_ref(),
            overlay: None,
            count: self.st.metadata.map_or(0, |t| t.count),
        })
    }

    /// The value of `key`; `NotFound` if absent.
    pub fn get(&self, key: &str) -> Result<String> {
        self.read(|m| m.get(key))
    }

    /// The value of `key`, or `None`.
    pub fn try_get(&self, key: &str) -> Result<Option<String>> {
        self.read(|m| m.try_get(key))
    }

    /// Number of keys.
    pub fn len(&self) -> Result<usize> {
        self.read(|m| Ok(m.count as usize))
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Result<Vec<String>> {
        self.read(|m| m.keys())
    }
}
