//! Diffs: between two commits (or branches), and of the staging area against its base.
//! The direction is always "from A to B": *added* means in B and not in A.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hangar_store::Digest;

use crate::commit::CommitId;
use crate::error::Result;
use crate::key::SampleKey;
use crate::objects::{Root, TreeRef};
use crate::repo::Repository;
use crate::schema::ColumnSchema;
use crate::shared::Shared;
use crate::staging::Staging;
use crate::tree;

/// A sample key, with the subsample key for nested columns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiffKey {
    /// The sample.
    pub sample: SampleKey,
    /// The subsample (nested columns only).
    pub subsample: Option<SampleKey>,
}

impl fmt::Display for DiffKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subsample {
            Some(sub) => write!(
                f,
                "{}/{}",
                crate::checkout::show_key(&self.sample),
                crate::checkout::show_key(sub)
            ),
            None => f.write_str(&crate::checkout::show_key(&self.sample)),
        }
    }
}

/// How a column's schema changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// The column is new in B.
    Added(ColumnSchema),
    /// The column is gone in B.
    Deleted(ColumnSchema),
    /// The column exists on both sides with different schemas.
    Changed {
        /// In A.
        from: ColumnSchema,
        /// In B.
        to: ColumnSchema,
    },
}

/// What changed in one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDiff {
    /// The column.
    pub name: String,
    /// The schema change, if any.
    pub schema: Option<SchemaChange>,
    /// Keys in B and not in A, in key order.
    pub added: Vec<DiffKey>,
    /// Keys in A and not in B.
    pub deleted: Vec<DiffKey>,
    /// Keys in both with different values.
    pub mutated: Vec<DiffKey>,
    /// How many keys of each kind differ. The lists hold all of them, except in a diff
    /// made to be shown ([`Repository::diff_shown`], `StagedView::diff_staged_shown`),
    /// whose lists hold only the first few.
    pub totals: KeyTotals,
}

/// The numbers of keys a column's diff finds added, deleted and mutated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyTotals {
    /// Keys in B and not in A.
    pub added: usize,
    /// Keys in A and not in B.
    pub deleted: usize,
    /// Keys in both with different values.
    pub mutated: usize,
}

/// What changed in the metadata (serialized as the CLI's `--json` documents show it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetadataDiff {
    /// Keys in B and not in A.
    pub added: Vec<String>,
    /// Keys in A and not in B.
    pub deleted: Vec<String>,
    /// Keys in both with different values.
    pub mutated: Vec<String>,
}

/// One side of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffEnd {
    /// A commit.
    Commit(CommitId),
    /// The staging area.
    Staged,
    /// Nothing (before the first commit).
    Empty,
}

impl fmt::Display for DiffEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffEnd::Commit(c) => write!(f, "{c}"),
            DiffEnd::Staged => f.write_str("the staging area"),
            DiffEnd::Empty => f.write_str("nothing (no commit)"),
        }
    }
}

/// Totals of a diff (serialized as the CLI's `--json` documents show them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiffCounts {
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

/// A diff from A to B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// A.
    pub from: DiffEnd,
    /// B.
    pub to: DiffEnd,
    /// Columns that differ, by name.
    pub columns: Vec<ColumnDiff>,
    /// Metadata changes.
    pub metadata: MetadataDiff,
}

impl Diff {
    /// True if A and B hold the same data.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.metadata == MetadataDiff::default()
    }

    /// Totals.
    pub fn counts(&self) -> DiffCounts {
        let mut c = DiffCounts::default();
        for col in &self.columns {
            match &col.schema {
                Some(SchemaChange::Added(_)) => c.columns_added += 1,
                Some(SchemaChange::Deleted(_)) => c.columns_deleted += 1,
                Some(SchemaChange::Changed { .. }) => c.schemas_changed += 1,
                None => {}
            }
            c.samples_added += col.totals.added;
            c.samples_deleted += col.totals.deleted;
            c.samples_mutated += col.totals.mutated;
        }
        c.metadata_changed =
            self.metadata.added.len() + self.metadata.deleted.len() + self.metadata.mutated.len();
        c
    }

    /// The column diff named `name`, if it differs.
    pub fn column(&self, name: &str) -> Option<&ColumnDiff> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const SHOWN: usize = 20;

/// `total` items, of which `items` holds the first (all, or at least [`SHOWN`]).
fn list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    mark: &str,
    what: &str,
    items: &[T],
    total: usize,
) -> fmt::Result {
    if total == 0 {
        return Ok(());
    }
    writeln!(f, "    {what}: {total}")?;
    let shown = items.len().min(SHOWN);
    for k in &items[..shown] {
        writeln!(f, "      {mark} {k}")?;
    }
    if total > shown {
        writeln!(f, "      ... and {} more", total - shown)?;
    }
    Ok(())
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Diff from {} to {}", self.from, self.to)?;
        if self.is_empty() {
            return write!(f, "  no changes");
        }
        for col in &self.columns {
            match &col.schema {
                Some(SchemaChange::Added(s)) => writeln!(f, "  column {} added ({s})", col.name)?,
                Some(SchemaChange::Deleted(s)) => {
                    writeln!(f, "  column {} deleted ({s})", col.name)?
                }
                Some(SchemaChange::Changed { from, to }) => {
                    writeln!(f, "  column {} schema changed: {from} -> {to}", col.name)?
                }
                None => writeln!(f, "  column {}", col.name)?,
            }
            let t = &col.totals;
            list(f, "+", "added", &col.added, t.added)?;
            list(f, "-", "deleted", &col.deleted, t.deleted)?;
            list(f, "~", "mutated", &col.mutated, t.mutated)?;
        }
        let m = &self.metadata;
        if !(m.added.is_empty() && m.deleted.is_empty() && m.mutated.is_empty()) {
            writeln!(f, "  metadata")?;
            list(f, "+", "added", &m.added, m.added.len())?;
            list(f, "-", "deleted", &m.deleted, m.deleted.len())?;
            list(f, "~", "mutated", &m.mutated, m.mutated.len())?;
        }
        let c = self.counts();
        write!(
            f,
            "Summary: {} columns added, {} deleted, {} with a new schema; samples {} added, {} deleted, {} mutated; {} metadata keys changed",
            c.columns_added, c.columns_deleted, c.schemas_changed, c.samples_added, c.samples_deleted, c.samples_mutated, c.metadata_changed
        )
    }
}

/// A column on one side: schema and record table.
#[derive(Clone)]
pub(crate) struct Side {
    pub schema_digest: Digest,
    pub schema: ColumnSchema,
    pub tree: Option<TreeRef>,
    pub samples: u64,
}

pub(crate) fn columns_of(shared: &Shared, root: Option<&Root>) -> Result<BTreeMap<String, Side>> {
    let mut out = BTreeMap::new();
    if let Some(root) = root {
        for c in &root.columns {
            out.insert(
                c.name.clone(),
                Side {
                    schema_digest: c.schema,
                    schema: shared.read_schema(&c.schema)?,
                    tree: c.tree,
                    samples: c.samples,
                },
            );
        }
    }
    Ok(out)
}

/// Splits a record-table key into sample and subsample keys.
pub(crate) fn split_key(shared: &Shared, raw: &[u8]) -> Result<DiffKey> {
    let (sample, sub) = crate::key::split_nested(raw).map_err(|e| {
        crate::error::Error::corrupt(shared.store.packs_dir(), format!("bad record key: {e}"))
    })?;
    Ok(DiffKey {
        sample,
        subsample: sub,
    })
}

impl ColumnDiff {
    fn new(name: &str, schema: Option<SchemaChange>) -> ColumnDiff {
        ColumnDiff {
            name: name.to_string(),
            schema,
            added: Vec::new(),
            deleted: Vec::new(),
            mutated: Vec::new(),
            totals: KeyTotals::default(),
        }
    }

    /// Files record key `raw` as added (absent in A), deleted (absent in B) or mutated:
    /// counted, and listed while its list holds fewer than `limit` keys.
    fn push(
        &mut self,
        shared: &Shared,
        raw: &[u8],
        in_a: bool,
        in_b: bool,
        limit: usize,
    ) -> Result<()> {
        let (list, total) = match (in_a, in_b) {
            (false, _) => (&mut self.added, &mut self.totals.added),
            (_, false) => (&mut self.deleted, &mut self.totals.deleted),
            _ => (&mut self.mutated, &mut self.totals.mutated),
        };
        *total += 1;
        if list.len() < limit {
            list.push(split_key(shared, raw)?);
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.schema.is_none() && self.totals == KeyTotals::default()
    }
}

/// The diff of column `name` from table `a` to table `b` (nodes from `src`), listing at
/// most `limit` keys of each kind. Keys are counted as the tables are walked, never
/// gathered: `hangar show` of a commit adding 10^7 samples copies no record.
fn classify(
    shared: &Shared,
    (name, schema): (&str, Option<SchemaChange>),
    src: &dyn tree::NodeSource,
    (a, b): (Option<&TreeRef>, Option<&TreeRef>),
    limit: usize,
) -> Result<ColumnDiff> {
    let mut d = ColumnDiff::new(name, schema);
    tree::diff_each(src, a, b, |k, va, vb| {
        d.push(shared, k, va.is_some(), vb.is_some(), limit)
    })?;
    Ok(d)
}

impl MetadataDiff {
    /// Files metadata key `raw` as [`ColumnDiff::push`] files a record key.
    fn push(&mut self, raw: &[u8], in_a: bool, in_b: bool) {
        let key = String::from_utf8_lossy(raw).into_owned();
        match (in_a, in_b) {
            (false, _) => self.added.push(key),
            (_, false) => self.deleted.push(key),
            _ => self.mutated.push(key),
        }
    }
}

fn metadata_diff(
    shared: &Shared,
    a: Option<&TreeRef>,
    b: Option<&TreeRef>,
) -> Result<MetadataDiff> {
    let mut m = MetadataDiff::default();
    tree::diff_each(shared, a, b, |k, va, vb| {
        m.push(k, va.is_some(), vb.is_some());
        Ok(())
    })?;
    Ok(m)
}

/// How a column's schema changed from `a` to `b` (each its digest and schema, or absent).
fn schema_change(
    a: Option<(&Digest, &ColumnSchema)>,
    b: Option<(&Digest, &ColumnSchema)>,
) -> Option<SchemaChange> {
    match (a, b) {
        (None, Some((_, s))) => Some(SchemaChange::Added(s.clone())),
        (Some((_, s)), None) => Some(SchemaChange::Deleted(s.clone())),
        (Some((dx, x)), Some((dy, y))) if dx != dy => Some(SchemaChange::Changed {
            from: x.clone(),
            to: y.clone(),
        }),
        _ => None,
    }
}

/// The diff between two roots (either may be absent: no commit), listing at most
/// `limit` keys of each kind per column (all of them counted).
pub(crate) fn diff_roots(
    shared: &Shared,
    a: Option<&Root>,
    b: Option<&Root>,
    (from, to): (DiffEnd, DiffEnd),
    limit: usize,
) -> Result<Diff> {
    let (ca, cb) = (columns_of(shared, a)?, columns_of(shared, b)?);
    let names: BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
    let mut columns = Vec::new();
    for name in names {
        let (sa, sb) = (ca.get(name), cb.get(name));
        let schema = schema_change(
            sa.map(|x| (&x.schema_digest, &x.schema)),
            sb.map(|y| (&y.schema_digest, &y.schema)),
        );
        let d = classify(
            shared,
            (name, schema),
            shared,
            (
                sa.and_then(|s| s.tree.as_ref()),
                sb.and_then(|s| s.tree.as_ref()),
            ),
            limit,
        )?;
        if !d.is_empty() {
            columns.push(d);
        }
    }
    let metadata = metadata_diff(
        shared,
        a.and_then(|r| r.metadata.as_ref()),
        b.and_then(|r| r.metadata.as_ref()),
    )?;
    Ok(Diff {
        from,
        to,
        columns,
        metadata,
    })
}

/// Calls `f(key, in base, in overlay)` for each key whose record the overlay changes
/// against the table it is based on. Only the keys are kept by the callers: a diff of
/// 10^7 staged samples must not copy their records.
fn overlay_changes(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &crate::staging::Overlay,
    mut f: impl FnMut(&[u8], bool, bool) -> Result<()>,
) -> Result<()> {
    for (k, v) in overlay.iter() {
        let old = crate::staging::table_record(shared, base, k)?;
        if old.as_deref() != v {
            f(k, old.is_some(), v.is_some())?;
        }
    }
    Ok(())
}

/// The diff from the staging area's base commit to the staging area, listing at most
/// `limit` keys of each kind per column (all of them counted).
pub(crate) fn diff_staged(shared: &Shared, staging: &Staging, limit: usize) -> Result<Diff> {
    let head_root = match staging.base_root {
        Some(r) => Some(shared.read_root(&r)?),
        None => None,
    };
    let head = columns_of(shared, head_root.as_ref())?;
    let names: BTreeSet<&String> = head.keys().chain(staging.columns.keys()).collect();
    let mut columns = Vec::new();
    for name in names {
        let (h, s) = (head.get(name), staging.columns.get(name));
        let schema = schema_change(
            h.map(|x| (&x.schema_digest, &x.schema)),
            s.map(|y| (&y.schema_digest, &y.schema)),
        );
        let head_tree = h.and_then(|h| h.tree);
        let d = match s {
            None => classify(
                shared,
                (name, schema),
                shared,
                (head_tree.as_ref(), None),
                limit,
            )?,
            // The staged column is its base table plus the overlay. When the base is the
            // head's table, the overlay is the difference; when the column was created
            // again (no base), compare the head's table with the overlay's contents.
            Some(s) if s.base.map(|t| t.root) == head_tree.map(|t| t.root) => {
                let mut d = ColumnDiff::new(name, schema);
                overlay_changes(shared, head_tree.as_ref(), &s.overlay, |k, a, b| {
                    d.push(shared, k, a, b, limit)
                })?;
                d
            }
            Some(s) => {
                let mut objects = Vec::new();
                let staged = tree::build(
                    s.overlay
                        .iter()
                        .filter_map(|(k, v)| v.map(|v| (k.to_vec(), v.to_vec()))),
                    &mut objects,
                );
                let mem = MemTree::new(shared, objects);
                classify(
                    shared,
                    (name, schema),
                    &mem,
                    (head_tree.as_ref(), staged.as_ref()),
                    limit,
                )?
            }
        };
        if !d.is_empty() {
            columns.push(d);
        }
    }
    let mut metadata = MetadataDiff::default();
    overlay_changes(
        shared,
        staging.meta_base.as_ref(),
        &staging.meta,
        |k, a, b| {
            metadata.push(k, a, b);
            Ok(())
        },
    )?;
    let from = staging
        .base
        .commit
        .map_or(DiffEnd::Empty, |c| DiffEnd::Commit(CommitId(c)));
    Ok(Diff {
        from,
        to: DiffEnd::Staged,
        columns,
        metadata,
    })
}

/// Nodes built in memory (not yet stored) in front of the repository's nodes.
struct MemTree<'a> {
    shared: &'a Shared,
    nodes: hangar_store::DigestMap<std::sync::Arc<tree::Node>>,
}

impl<'a> MemTree<'a> {
    fn new(shared: &'a Shared, objects: Vec<hangar_store::Object>) -> Self {
        let nodes = objects
            .into_iter()
            .filter_map(|o| {
                tree::Node::decode(o.bytes)
                    .ok()
                    .map(|n| (o.digest, std::sync::Arc::new(n)))
            })
            .collect();
        MemTree { shared, nodes }
    }
}

impl tree::NodeSource for MemTree<'_> {
    fn node(&self, d: &Digest) -> Result<std::sync::Arc<tree::Node>> {
        match self.nodes.get(d) {
            Some(n) => Ok(n.clone()),
            None => self.shared.node(d),
        }
    }

    fn node_once(&self, d: &Digest) -> Result<std::sync::Arc<tree::Node>> {
        match self.nodes.get(d) {
            Some(n) => Ok(n.clone()),
            None => self.shared.node_once(d),
        }
    }
}

impl Repository {
    /// The diff from `a` to `b` (each a branch name or a commit id/prefix): *added* means
    /// in `b` and not in `a`, always.
    pub fn diff(&self, a: &str, b: &str) -> Result<Diff> {
        self.diff_shown(a, b, usize::MAX)
    }

    /// [`Repository::diff`] to be shown: each column's lists of added, deleted and
    /// mutated keys hold at most `max_keys` (the first in key order), and
    /// [`ColumnDiff::totals`] counts them all. A diff of 10^7 added samples then holds
    /// 20 keys, not 10^7 (what `hangar diff` prints without `--all`).
    pub fn diff_shown(&self, a: &str, b: &str, max_keys: usize) -> Result<Diff> {
        let (ia, ib) = (self.resolve(a)?, self.resolve(b)?);
        self.diff_between(ia, ib, max_keys)
    }

    /// The diff between two commits.
    pub fn diff_commits(&self, a: CommitId, b: CommitId) -> Result<Diff> {
        self.diff_between(a, b, usize::MAX)
    }

    fn diff_between(&self, a: CommitId, b: CommitId, limit: usize) -> Result<Diff> {
        let shared = self.shared();
        let ra = shared.read_root(&shared.read_commit(&a.0)?.root)?;
        let rb = shared.read_root(&shared.read_commit(&b.0)?.root)?;
        diff_roots(
            shared,
            Some(&ra),
            Some(&rb),
            (DiffEnd::Commit(a), DiffEnd::Commit(b)),
            limit,
        )
    }

    /// What commit `id` changed: the diff from its first parent, or from nothing
    /// ([`DiffEnd::Empty`]) for a commit without parents.
    pub fn diff_introduced(&self, id: CommitId) -> Result<Diff> {
        self.diff_introduced_shown(id, usize::MAX)
    }

    /// [`Repository::diff_introduced`] to be shown, its key lists kept to `max_keys`
    /// each as [`Repository::diff_shown`] keeps them (what `hangar show` prints).
    pub fn diff_introduced_shown(&self, id: CommitId, max_keys: usize) -> Result<Diff> {
        let shared = self.shared();
        let commit = shared.read_commit(&id.0)?;
        if let Some(p) = commit.parents.first() {
            return self.diff_between(CommitId(*p), id, max_keys);
        }
        let root = shared.read_root(&commit.root)?;
        diff_roots(
            shared,
            None,
            Some(&root),
            (DiffEnd::Empty, DiffEnd::Commit(id)),
            max_keys,
        )
    }
}
