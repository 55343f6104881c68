//! Merging branches: fast-forward, no-op when already contained, or a three-way merge of
//! record tables against the best common ancestor (no tensor data is read or copied).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use hangar_store::{Digest, Object, ValueHeader};

use crate::commit::CommitId;
use crate::diff::{columns_of, split_key, Side};
use crate::error::Result;
use crate::objects::{Root, RootColumn, TreeRef};
use crate::repo::Repository;
use crate::schema::ColumnSchema;
use crate::shared::Shared;
use crate::tree;

/// What a merge conflict is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictScope {
    /// A sample (or subsample) of a column.
    Sample {
        /// The column.
        column: String,
        /// The sample key (and subsample key for nested columns), as printed.
        key: String,
    },
    /// A column as a whole (its schema, or deleted on one side and changed on the other).
    Column {
        /// The column.
        column: String,
    },
    /// A metadata key.
    Metadata {
        /// The key.
        key: String,
    },
}

/// The kind of conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConflictKind {
    /// Added on both sides with different values (the original's t1).
    AddedInBoth,
    /// Deleted on our side, changed on theirs (t21).
    DeletedOursChangedTheirs,
    /// Changed on our side, deleted on theirs (t22).
    ChangedOursDeletedTheirs,
    /// Changed on both sides to different values (t3).
    ChangedInBoth,
}

/// One conflict with the three versions' digests (`None` where absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// What it is about.
    pub scope: ConflictScope,
    /// The kind.
    pub kind: ConflictKind,
    /// The digest in the common ancestor.
    pub base: Option<Digest>,
    /// The digest on our side (the branch merged into).
    pub ours: Option<Digest>,
    /// The digest on their side (the branch merged).
    pub theirs: Option<Digest>,
}

/// Every conflict of a refused merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflicts {
    /// Our head.
    pub ours: CommitId,
    /// Their head.
    pub theirs: CommitId,
    /// The common ancestor merged against.
    pub base: Option<CommitId>,
    /// The conflicts.
    pub conflicts: Vec<Conflict>,
}

impl fmt::Display for MergeConflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "merge aborted with {} conflict{} (ours {}, theirs {}); nothing was changed:",
            self.conflicts.len(),
            if self.conflicts.len() == 1 { "" } else { "s" },
            self.ours,
            self.theirs
        )?;
        for c in &self.conflicts {
            let what = match &c.scope {
                ConflictScope::Sample { column, key } => format!("column {column:?} sample {key}"),
                ConflictScope::Column { column } => format!("column {column:?}"),
                ConflictScope::Metadata { key } => format!("metadata key {key:?}"),
            };
            write!(f, "\n  {what}: {:?}", c.kind)?;
        }
        Ok(())
    }
}

/// What a successful merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// Their head is already contained in ours: nothing to do (no commit).
    UpToDate {
        /// Our head, unchanged.
        head: CommitId,
    },
    /// Our branch moved forward to their head (no new commit).
    FastForward {
        /// Our head before.
        from: Option<CommitId>,
        /// Their head, now ours too.
        to: CommitId,
    },
    /// A new commit with two parents (ours, theirs).
    Merged {
        /// The merge commit.
        commit: CommitId,
        /// The common ancestor merged against.
        base: Option<CommitId>,
        /// The conflicts a [`MergeStrategy`] settled by taking one side (empty for
        /// [`MergeStrategy::Refuse`]).
        resolved: Vec<Conflict>,
    },
}

/// What a merge does about conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeStrategy {
    /// Refuse the merge, change nothing and report every conflict (the original's
    /// behaviour).
    #[default]
    Refuse,
    /// Take our side of each conflict — the record, the metadata value, the whole
    /// nested sample or the whole column as our branch has it — and merge every other
    /// change of both sides (git's `-X ours`).
    Ours,
    /// Take their side of each conflict likewise (git's `-X theirs`).
    Theirs,
}

impl MergeOutcome {
    /// The head of our branch after the merge.
    pub fn head(&self) -> CommitId {
        match self {
            MergeOutcome::UpToDate { head } => *head,
            MergeOutcome::FastForward { to, .. } => *to,
            MergeOutcome::Merged { commit, .. } => *commit,
        }
    }
}

impl fmt::Display for MergeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeOutcome::UpToDate { head } => write!(f, "Already up to date at {head}"),
            MergeOutcome::FastForward { to, .. } => write!(f, "Fast-forward to {to}"),
            MergeOutcome::Merged { commit, base, .. } => match base {
                Some(b) => write!(f, "Three-way merge against {b}: created {commit}"),
                None => write!(f, "Merge of unrelated histories: created {commit}"),
            },
        }
    }
}

/// The best common ancestor of two commits: of the common ancestors not behind another
/// common ancestor, the newest.
pub(crate) fn merge_base(
    repo: &Repository,
    ours: Digest,
    theirs: Digest,
) -> Result<Option<Digest>> {
    let ours_ancestors = crate::branch::ancestors(repo, ours)?;
    let mut candidates = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![theirs];
    while let Some(d) = stack.pop() {
        if !seen.insert(d) {
            continue;
        }
        if ours_ancestors.contains(&d) {
            candidates.push(d);
            continue;
        }
        stack.extend(repo.shared().read_commit(&d)?.parents);
    }
    let mut best: Option<(i64, Digest)> = None;
    for &c in &candidates {
        let dominated = candidates.iter().any(|&other| {
            other != c && crate::branch::ancestors(repo, other).is_ok_and(|a| a.contains(&c))
        });
        if dominated {
            continue;
        }
        let t = repo.shared().read_commit(&c)?.time_ns;
        if best.is_none_or(|(bt, bd)| (t, c) > (bt, bd)) {
            best = Some((t, c));
        }
    }
    Ok(best.map(|(_, d)| d))
}

/// A change of theirs to apply: key, base value, new value (`None` deletes).
type Put = tree::KeyChange;

/// The value digest a record names (`None` when absent, or for a nested column's
/// sample marker, which holds no value).
fn record_digest(schema: &ColumnSchema, v: &Option<Vec<u8>>) -> Option<Digest> {
    let rec = crate::schema::Record::decode(v.as_ref()?, schema).ok()?;
    Some(rec.value_digest(schema))
}

fn meta_digest(v: &Option<Vec<u8>>) -> Option<Digest> {
    v.as_ref().map(|b| ValueHeader::Str.digest(b))
}

fn kind_of(
    base: &Option<Vec<u8>>,
    ours: &Option<Vec<u8>>,
    theirs: &Option<Vec<u8>>,
) -> ConflictKind {
    match (base, ours, theirs) {
        (None, _, _) => ConflictKind::AddedInBoth,
        (Some(_), None, _) => ConflictKind::DeletedOursChangedTheirs,
        (Some(_), _, None) => ConflictKind::ChangedOursDeletedTheirs,
        _ => ConflictKind::ChangedInBoth,
    }
}

/// Three-way merge of two record tables' changes against their base. Returns the
/// changes of theirs to apply on top of ours, and the conflicts (with `scope` building
/// each conflict's scope from a key).
/// `strategy` settles each conflict: [`MergeStrategy::Theirs`] applies their value over
/// ours, the others leave ours (the conflict is recorded either way).
fn merge_tables(
    ours: Vec<tree::KeyChange>,
    theirs: Vec<tree::KeyChange>,
    digest: &dyn Fn(&Option<Vec<u8>>) -> Option<Digest>,
    mut scope: impl FnMut(&[u8]) -> Result<ConflictScope>,
    strategy: MergeStrategy,
    conflicts: &mut Vec<Conflict>,
) -> Result<Vec<Put>> {
    let mut ours: BTreeMap<Vec<u8>, tree::KeyChange> =
        ours.into_iter().map(|c| (c.0.clone(), c)).collect();
    let mut apply = Vec::new();
    for (key, old, new_t) in theirs {
        match ours.remove(&key) {
            None => apply.push((key, old, new_t)),
            Some((_, _, new_o)) if new_o == new_t => {}
            Some((_, _, new_o)) => {
                conflicts.push(Conflict {
                    scope: scope(&key)?,
                    kind: kind_of(&old, &new_o, &new_t),
                    base: digest(&old),
                    ours: digest(&new_o),
                    theirs: digest(&new_t),
                });
                if strategy == MergeStrategy::Theirs {
                    apply.push((key, new_o, new_t));
                }
            }
        }
    }
    Ok(apply)
}

/// Takes one side of whole nested samples: every change either side made to a key of
/// a sample in `samples` is removed from both lists, and the records those keys need to
/// end as `strategy`'s side has them are returned (as puts over ours).
fn take_side_of_samples(
    shared: &Shared,
    samples: &BTreeSet<crate::key::SampleKey>,
    ours: &mut Vec<tree::KeyChange>,
    theirs: &mut Vec<tree::KeyChange>,
    strategy: MergeStrategy,
) -> Result<Vec<Put>> {
    let within =
        |changes: &mut Vec<tree::KeyChange>| -> Result<BTreeMap<Vec<u8>, tree::KeyChange>> {
            let mut taken = BTreeMap::new();
            let mut kept = Vec::with_capacity(changes.len());
            for c in changes.drain(..) {
                if samples.contains(&split_key(shared, &c.0)?.sample) {
                    taken.insert(c.0.clone(), c);
                } else {
                    kept.push(c);
                }
            }
            *changes = kept;
            Ok(taken)
        };
    let (o, t) = (within(ours)?, within(theirs)?);
    if strategy != MergeStrategy::Theirs {
        return Ok(Vec::new()); // ours already has our side
    }
    let keys: BTreeSet<&Vec<u8>> = o.keys().chain(t.keys()).collect();
    let mut apply = Vec::new();
    for k in keys {
        let (base, current) = match o.get(k) {
            Some((_, old, new_o)) => (old.clone(), new_o.clone()),
            None => {
                let old = t.get(k).expect("a key of one side").1.clone();
                (old.clone(), old)
            }
        };
        let wanted = t.get(k).map_or(base, |c| c.2.clone());
        if wanted != current {
            apply.push((k.clone(), current, wanted));
        }
    }
    Ok(apply)
}

/// The result of merging two roots: the merged root's columns and metadata, or conflicts.
pub(crate) struct MergedRoot {
    pub columns: Vec<RootColumn>,
    pub metadata: Option<TreeRef>,
    pub objects: Vec<Object>,
}

fn side_key(s: Option<&Side>) -> Option<(Digest, Option<Digest>)> {
    s.map(|s| (s.schema_digest, s.tree.map(|t| t.root)))
}

fn column_conflict(
    column: &str,
    kind: ConflictKind,
    b: Option<&Side>,
    o: Option<&Side>,
    t: Option<&Side>,
) -> Conflict {
    Conflict {
        scope: ConflictScope::Column {
            column: column.to_string(),
        },
        kind,
        base: b.map(|s| s.schema_digest),
        ours: o.map(|s| s.schema_digest),
        theirs: t.map(|s| s.schema_digest),
    }
}

/// Adds a merged column (`None`: the column is not in the merge).
fn push_column(
    name: &str,
    side: Option<Side>,
    columns: &mut Vec<RootColumn>,
    objects: &mut Vec<Object>,
) {
    if let Some(s) = side {
        objects.push(Object::new(
            crate::objects::ObjectType::Schema as u8,
            s.schema.encode(),
        ));
        columns.push(RootColumn {
            samples: s.samples,
            name: name.to_string(),
            schema: s.schema_digest,
            tree: s.tree,
        });
    }
}

/// Merges `theirs` into `ours` against `base`, reading only record tables. Every
/// conflict is recorded in `conflicts`; `strategy` says whether the merge stops there
/// (the result is then incomplete) or takes one side of each.
pub(crate) fn merge_roots(
    shared: &Shared,
    base: Option<&Root>,
    ours: &Root,
    theirs: &Root,
    strategy: MergeStrategy,
    conflicts: &mut Vec<Conflict>,
) -> Result<MergedRoot> {
    // A column both sides changed irreconcilably: refused, or one side's whole column.
    let pick = |o: Option<&Side>, t: Option<&Side>| match strategy {
        MergeStrategy::Refuse => None,
        MergeStrategy::Ours => Some(o.cloned()),
        MergeStrategy::Theirs => Some(t.cloned()),
    };
    let (cb, co, ct) = (
        columns_of(shared, base)?,
        columns_of(shared, Some(ours))?,
        columns_of(shared, Some(theirs))?,
    );
    let names: BTreeSet<&String> = cb.keys().chain(co.keys()).chain(ct.keys()).collect();
    let mut objects = Vec::new();
    let mut columns = Vec::new();
    for name in names {
        let (b, o, t) = (cb.get(name), co.get(name), ct.get(name));
        let (kb, ko, kt) = (side_key(b), side_key(o), side_key(t));
        let merged: Option<Side> = if ko == kt || kb == kt {
            o.cloned()
        } else if kb == ko {
            t.cloned()
        } else {
            // Both sides changed the column.
            match (o, t) {
                (None, None) => None,
                (None, Some(_)) => {
                    conflicts.push(column_conflict(
                        name,
                        ConflictKind::DeletedOursChangedTheirs,
                        b,
                        o,
                        t,
                    ));
                    match pick(o, t) {
                        Some(side) => side,
                        None => continue,
                    }
                }
                (Some(_), None) => {
                    conflicts.push(column_conflict(
                        name,
                        ConflictKind::ChangedOursDeletedTheirs,
                        b,
                        o,
                        t,
                    ));
                    match pick(o, t) {
                        Some(side) => side,
                        None => continue,
                    }
                }
                (Some(os), Some(ts)) => {
                    let base_schema = b.map(|s| s.schema_digest);
                    let schema_o_changed = Some(os.schema_digest) != base_schema;
                    let schema_t_changed = Some(ts.schema_digest) != base_schema;
                    if os.schema_digest != ts.schema_digest
                        || (b.is_some() && (schema_o_changed || schema_t_changed))
                    {
                        // Schemas differ, or one side gave the column a new schema while
                        // the other changed its samples: records of one schema cannot
                        // be merged into the other.
                        let kind = if b.is_none() {
                            ConflictKind::AddedInBoth
                        } else {
                            ConflictKind::ChangedInBoth
                        };
                        conflicts.push(column_conflict(name, kind, b, o, t));
                        match pick(o, t) {
                            Some(side) => {
                                push_column(name, side, &mut columns, &mut objects);
                                continue;
                            }
                            None => continue,
                        }
                    }
                    let base_tree = b.and_then(|s| s.tree);
                    let mut ch_o = tree::diff(shared, base_tree.as_ref(), os.tree.as_ref())?;
                    let mut ch_t = tree::diff(shared, base_tree.as_ref(), ts.tree.as_ref())?;
                    let nested = os.schema.layout() == crate::schema::Layout::Nested;
                    let before = conflicts.len();
                    let mut apply = Vec::new();
                    if nested {
                        let samples = nested_sample_conflicts(
                            shared, name, &os.schema, &ch_o, &ch_t, conflicts,
                        )?;
                        if strategy != MergeStrategy::Refuse && !samples.is_empty() {
                            apply = take_side_of_samples(
                                shared, &samples, &mut ch_o, &mut ch_t, strategy,
                            )?;
                        }
                    }
                    let col = name.clone();
                    apply.extend(merge_tables(
                        ch_o,
                        ch_t,
                        &|v| record_digest(&os.schema, v),
                        |k| {
                            Ok(ConflictScope::Sample {
                                column: col.clone(),
                                key: split_key(shared, k)?.to_string(),
                            })
                        },
                        strategy,
                        conflicts,
                    )?);
                    apply.sort_by(|a, b| a.0.cmp(&b.0));
                    if conflicts.len() > before && strategy == MergeStrategy::Refuse {
                        continue;
                    }
                    let refs: Vec<(&[u8], Option<&[u8]>)> = apply
                        .iter()
                        .map(|(k, _, v)| (k.as_slice(), v.as_deref()))
                        .collect();
                    let tree = tree::update(shared, os.tree.as_ref(), &refs, &mut objects)?;
                    // Theirs' changes applied where ours kept the base value: count the
                    // samples they add or remove.
                    let mut samples = os.samples as i64;
                    for (k, old, new) in &apply {
                        if crate::key::is_sample_record(nested, k) {
                            samples += i64::from(new.is_some()) - i64::from(old.is_some());
                        }
                    }
                    Some(Side {
                        tree,
                        samples: samples.max(0) as u64,
                        ..os.clone()
                    })
                }
            }
        };
        if let Some(s) = merged {
            push_column(name, Some(s), &mut columns, &mut objects);
        }
    }
    let mb = base.and_then(|r| r.metadata);
    let ch_o = tree::diff(shared, mb.as_ref(), ours.metadata.as_ref())?;
    let ch_t = tree::diff(shared, mb.as_ref(), theirs.metadata.as_ref())?;
    let apply = merge_tables(
        ch_o,
        ch_t,
        &meta_digest,
        |k| {
            Ok(ConflictScope::Metadata {
                key: String::from_utf8_lossy(k).into_owned(),
            })
        },
        strategy,
        conflicts,
    )?;
    let refs: Vec<(&[u8], Option<&[u8]>)> = apply
        .iter()
        .map(|(k, _, v)| (k.as_slice(), v.as_deref()))
        .collect();
    let metadata = tree::update(shared, ours.metadata.as_ref(), &refs, &mut objects)?;
    Ok(MergedRoot {
        columns,
        metadata,
        objects,
    })
}

/// In a nested column a sample deleted on one side while the other side changed any of
/// its subsamples is a conflict (else the merge would leave subsamples of a deleted
/// sample behind).
fn nested_sample_conflicts(
    shared: &Shared,
    column: &str,
    schema: &ColumnSchema,
    ours: &[tree::KeyChange],
    theirs: &[tree::KeyChange],
    conflicts: &mut Vec<Conflict>,
) -> Result<BTreeSet<crate::key::SampleKey>> {
    let mut conflicted = BTreeSet::new();
    let deleted =
        |changes: &[tree::KeyChange]| -> Result<BTreeMap<crate::key::SampleKey, tree::KeyChange>> {
            let mut out = BTreeMap::new();
            for c in changes {
                let k = split_key(shared, &c.0)?;
                if k.subsample.is_none() && c.1.is_some() && c.2.is_none() {
                    out.insert(k.sample, c.clone());
                }
            }
            Ok(out)
        };
    let touched = |changes: &[tree::KeyChange],
                   other: &[tree::KeyChange]|
     -> Result<BTreeSet<crate::key::SampleKey>> {
        // Samples with a subsample change that the other side did not make identically.
        let other: BTreeMap<&[u8], &Option<Vec<u8>>> =
            other.iter().map(|c| (c.0.as_slice(), &c.2)).collect();
        let mut out = BTreeSet::new();
        for c in changes {
            let k = split_key(shared, &c.0)?;
            if k.subsample.is_some() && other.get(c.0.as_slice()) != Some(&&c.2) {
                out.insert(k.sample);
            }
        }
        Ok(out)
    };
    let (del_o, del_t) = (deleted(ours)?, deleted(theirs)?);
    for (sample, c) in &del_o {
        if touched(theirs, ours)?.contains(sample) && !del_t.contains_key(sample) {
            conflicted.insert(sample.clone());
            conflicts.push(Conflict {
                scope: ConflictScope::Sample {
                    column: column.to_string(),
                    key: crate::checkout::show_key(sample),
                },
                kind: ConflictKind::DeletedOursChangedTheirs,
                base: record_digest(schema, &c.1),
                ours: None,
                theirs: record_digest(schema, &c.1),
            });
        }
    }
    for (sample, c) in &del_t {
        if touched(ours, theirs)?.contains(sample) && !del_o.contains_key(sample) {
            conflicted.insert(sample.clone());
            conflicts.push(Conflict {
                scope: ConflictScope::Sample {
                    column: column.to_string(),
                    key: crate::checkout::show_key(sample),
                },
                kind: ConflictKind::ChangedOursDeletedTheirs,
                base: record_digest(schema, &c.1),
                ours: record_digest(schema, &c.1),
                theirs: None,
            });
        }
    }
    Ok(conflicted)
}

impl Repository {
    /// Merges branch `from` into branch `into`, taking the writer lock for the duration
    /// (`Locked` if a writer is open). The staging area must be clean if it is based on
    /// another branch (`DirtyStaging`); see [`crate::WriterCheckout::merge`].
    pub fn merge(&self, message: &str, into: &str, from: &str) -> Result<MergeOutcome> {
        self.merge_with(message, into, from, MergeStrategy::Refuse)
    }

    /// [`Repository::merge`] with a [`MergeStrategy`] for conflicts.
    pub fn merge_with(
        &self,
        message: &str,
        into: &str,
        from: &str,
        strategy: MergeStrategy,
    ) -> Result<MergeOutcome> {
        let co = self.checkout_writer_branch(into)?;
        let result = co.merge_with(message, from, strategy);
        co.close()?;
        result
    }

    /// The conflicts merging `from` into `into` (branch names or commit ids) would meet,
    /// without changing anything: empty when the merge would succeed (including when it
    /// would be a fast-forward or a no-op).
    pub fn merge_conflicts(&self, into: &str, from: &str) -> Result<Vec<Conflict>> {
        let (ours, theirs) = (self.resolve(into)?, self.resolve(from)?);
        let base = merge_base(self, ours.0, theirs.0)?;
        if base == Some(ours.0) || base == Some(theirs.0) {
            return Ok(Vec::new());
        }
        let shared = self.shared();
        let root_of =
            |c: Digest| -> Result<Root> { shared.read_root(&shared.read_commit(&c)?.root) };
        let (rb, ro, rt) = (
            base.map(root_of).transpose()?,
            root_of(ours.0)?,
            root_of(theirs.0)?,
        );
        let mut conflicts = Vec::new();
        merge_roots(
            shared,
            rb.as_ref(),
            &ro,
            &rt,
            MergeStrategy::Refuse,
            &mut conflicts,
        )?;
        Ok(conflicts)
    }

    /// The best common ancestor of two commits (branch names or ids), if any.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<Option<CommitId>> {
        let (a, b) = (self.resolve(a)?, self.resolve(b)?);
        Ok(merge_base(self, a.0, b.0)?.map(CommitId))
    }
}
