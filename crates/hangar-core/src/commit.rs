//! Commit ids and building a commit from the staging area.

use std::fmt;

use hangar_store::{Digest, Object, ObjectSink, PackSpool};

use crate::error::{Error, Result};
use crate::format::User;
use crate::objects::{CommitObject, ObjectType, Root, RootColumn, TreeRef};
use crate::shared::Shared;
use crate::staging::Staging;
use crate::timefmt;
use crate::tree;

/// A commit id: the BLAKE3 digest of the commit object. Displayed as its first 16 hex
/// digits (like the original Hangar's short ids); [`CommitId::to_hex`] gives all 64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub(crate) Digest);

impl CommitId {
    /// All 64 hex digits.
    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }

    /// The first 16 hex digits.
    pub fn short(&self) -> String {
        self.0.short()
    }

    /// The digest.
    pub fn digest(&self) -> Digest {
        self.0
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<CommitId> {
        Digest::from_hex(s).map(CommitId)
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", self.to_hex())
    }
}

/// A commit's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The id.
    pub id: CommitId,
    /// Parents (none for a first commit).
    pub parents: Vec<CommitId>,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Time, nanoseconds since the Unix epoch (UTC).
    pub time_ns: i64,
    /// Message.
    pub message: String,
    pub(crate) root: Digest,
}

impl CommitInfo {
    pub(crate) fn from_object(id: Digest, c: CommitObject) -> CommitInfo {
        CommitInfo {
            id: CommitId(id),
            parents: c.parents.into_iter().map(CommitId).collect(),
            author: c.author,
            email: c.email,
            time_ns: c.time_ns,
            message: c.message,
            root: c.root,
        }
    }

    /// The digest of the commit's root object (every column's schema and record table,
    /// and the metadata): equal roots mean equal contents.
    pub fn root_digest(&self) -> Digest {
        self.root
    }

    /// The time as `Sun Mar 31 18:29:48 2019` (UTC).
    pub fn created(&self) -> String {
        timefmt::asctime(self.time_ns)
    }
}

/// Everything a commit writes, built from the staging area: its new objects are in a
/// pack being written (nothing refers to it until the commit protocol finishes it).
pub(crate) struct BuiltCommit {
    pub objects: PackSpool,
    pub id: Digest,
}

/// The record table `base` with `overlay` applied (new nodes go to `objects`).
fn apply_overlay(
    shared: &Shared,
    base: Option<&TreeRef>,
    overlay: &crate::staging::Overlay,
    objects: &mut dyn ObjectSink,
) -> Result<Option<TreeRef>> {
    if overlay.is_empty() {
        return Ok(base.copied());
    }
    let Some(base) = base else {
        // A new table (a first commit, an import into a new column): the staged puts
        // stream into the builder in key order, never collected.
        return Ok(tree::build(
            overlay.iter().filter_map(|(k, v)| v.map(|v| (k, v))),
            objects,
        ));
    };
    let changes: Vec<(&[u8], Option<&[u8]>)> = overlay.iter().collect();
    tree::update(shared, Some(base), &changes, objects)
}

pub(crate) fn build(
    shared: &Shared,
    staging: &Staging,
    user: &User,
    message: &str,
) -> Result<BuiltCommit> {
    let mut objects = PackSpool::new(shared.store.clone());
    let mut columns = Vec::with_capacity(staging.columns.len());
    for (name, col) in &staging.columns {
        objects.put(Object::new(ObjectType::Schema as u8, col.schema.encode()));
        let tree = apply_overlay(shared, col.base.as_ref(), &col.overlay, &mut objects)?;
        if tree.map_or(0, |t| t.count) != col.count {
            return Err(Error::corrupt(
                shared.store.staging_dir(),
                format!(
                    "column {name:?} counts {} staged samples but its record table holds {}",
                    col.count,
                    tree.map_or(0, |t| t.count)
                ),
            ));
        }
        columns.push(RootColumn {
            samples: col.samples,
            name: name.clone(),
            schema: col.schema_digest,
            tree,
        });
    }
    let metadata = apply_overlay(
        shared,
        staging.meta_base.as_ref(),
        &staging.meta,
        &mut objects,
    )?;
    let root = Object::new(ObjectType::Root as u8, Root { columns, metadata }.encode());
    if Some(root.digest) == staging.base_root {
        return Err(Error::NothingToCommit(
            "the staged changes cancel out: the staging area equals the last commit, so there is nothing to commit".into(),
        ));
    }
    let commit = CommitObject {
        parents: staging.base.commit.into_iter().collect(),
        root: root.digest,
        author: user.name.clone(),
        email: user.email.clone(),
        time_ns: timefmt::now_ns(),
        message: message.to_string(),
    };
    objects.put(root);
    let commit = Object::new(ObjectType::Commit as u8, commit.encode());
    let id = commit.digest;
    objects.put(commit);
    Ok(BuiltCommit { objects, id })
}
