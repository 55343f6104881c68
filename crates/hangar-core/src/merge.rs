//! Merging branches: fast-forward, no-op when already contained, or a three-way merge of
//! record tables against the best common ancestor (no tensor data is read or copied).

use std::fmt;

use hangar_store::Digest;

use crate::commit::CommitId;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
            "merge aborted with {} conflicts (ours {}, theirs {}); nothing was changed:",
            self.conflicts.len(),
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
