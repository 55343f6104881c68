//! `verify`: recompute every digest reachable from the branch heads and check every
//! checksum, reporting each problem with the file it is in.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use hangar_store::{Digest, DigestMap, DigestSet, ValueHeader};

use crate::commit::CommitId;
use crate::error::{Error, Result};
use crate::repo::Repository;
use crate::schema::{ColumnKind, ColumnSchema, Held, Record};
use crate::shared::Shared;
use crate::tree::{self, TreeIter};

mod stored;
use stored::Stored;

/// One problem found by verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or object) the problem is in.
    pub path: PathBuf,
    /// What is wrong.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.detail)
    }
}

/// What verify checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Every problem; empty means the repository is intact.
    pub problems: Vec<Problem>,
    /// Branches checked.
    pub branches: usize,
    /// Commits checked.
    pub commits: usize,
    /// Distinct record-table nodes checked.
    pub nodes: usize,
    /// Distinct values whose digest was recomputed: those stored in segments, and those
    /// kept inline in record tables (format version 2; these are also covered by their
    /// node's object digest).
    pub values: usize,
    /// Bytes of those values.
    pub value_bytes: u64,
    /// Values referenced here that a remote holds and were not fetched (a clone or fetch
    /// without data): not problems; `hangar fetch-data` brings them.
    pub not_fetched: usize,
    /// Segment and pack files that no index run and not the staging journal refer to:
    /// left by an interrupted write, or made to look unreferenced by a missing index run
    /// or journal. They are kept, never deleted for that reason (DESIGN §3 rule 10), and
    /// are not problems by themselves.
    pub unreferenced: Vec<PathBuf>,
}

impl VerifyReport {
    /// True if nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// `n` and a noun, singular for 1 (`1 branch`, `2 branches`, `3 commits`).
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked {}, {}, {}, {} ({})",
            count(self.branches, "branch", "branches"),
            count(self.commits, "commit", "commits"),
            count(self.nodes, "record-table node", "record-table nodes"),
            count(self.values, "value", "values"),
            crate::repo::human_bytes(self.value_bytes)
        )?;
        if self.not_fetched > 0 {
            write!(
                f,
                "; {} on a remote not fetched here",
                count(self.not_fetched, "value", "values")
            )?;
        }
        if !self.unreferenced.is_empty() {
            write!(
                f,
                "; {} kept (left by an interrupted write, or listed by a missing index run)",
                count(
                    self.unreferenced.len(),
                    "unreferenced data file",
                    "unreferenced data files"
                )
            )?;
        }
        if self.problems.is_empty() {
            write!(f, ": no problems found")
        } else {
            write!(f, ": {}", count(self.problems.len(), "problem", "problems"))?;
            for p in &self.problems {
                write!(f, "\n  {p}")?;
            }
            Ok(())
        }
    }
}

pub(crate) fn problem(e: &Error) -> Problem {
    match e {
        Error::Store(hangar_store::Error::Corrupt { path, detail }) => Problem {
            path: path.clone(),
            detail: detail.clone(),
        },
        Error::Store(hangar_store::Error::Io { path, .. }) => Problem {
            path: path.clone(),
            detail: e.to_string(),
        },
        other => Problem {
            path: PathBuf::from("(repository)"),
            detail: other.to_string(),
        },
    }
}

/// A column's record table as verify walked it (in walk order): where a damaged value
/// is looked up again to name the sample that refers to it.
struct Walked {
    commit: CommitId,
    column: String,
    schema: Digest,
    tree: crate::objects::TreeRef,
}

/// What verify's walk of the history has seen so far.
struct Walk {
    trees: HashSet<Digest>,
    nodes: HashSet<Digest>,
    /// Each distinct stored value once, with the header its records imply, kept small:
    /// the samples that refer to a value are looked up again only if it turns out
    /// damaged (`name_samples`).
    values: Stored,
    /// Values kept in their records (see `Inline`).
    inline: Inline,
    walked: Vec<Walked>,
}

/// The distinct values kept in records, for the report's counts (they are checked by
/// decoding their records, whose nodes' digests cover their bytes). Told apart by
/// their 64-bit fingerprints (`ValueHeader::fingerprint`, not BLAKE3: nothing here is
/// checked against them): 8 bytes a value, and a chance of ~3 in 10^6 at 10^7 values
/// that two share one and the count is one short.
#[derive(Default)]
struct Inline {
    seen: std::collections::HashSet<u64, std::hash::BuildHasherDefault<hangar_store::DigestHasher>>,
    bytes: u64,
}

impl Inline {
    fn add(&mut self, header: &OwnedHeader, value: &[u8]) {
        if self.seen.insert(header.as_header().fingerprint(value)) {
            self.bytes += value.len() as u64;
        }
    }
}

/// What is wrong with a stored value, before the sample naming it is looked up.
enum Bad {
    /// Referenced, but no live index run locates it.
    NotStored,
    /// Read (through its CRC) from this file, it hashes to another digest.
    Mismatch(PathBuf),
    /// Its file or index entry could not be read: the problem says why.
    Unreadable(Problem),
}

/// What checking some stored values found.
#[derive(Default)]
struct Checked {
    bytes: u64,
    not_fetched: usize,
    bad: Vec<(Digest, Bad)>,
}

impl Checked {
    fn merge(mut self, other: Checked) -> Checked {
        self.bytes += other.bytes;
        self.not_fetched += other.not_fetched;
        self.bad.extend(other.bad);
        self
    }
}

/// A value's canonical header, owned (what its digest covers besides the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum OwnedHeader {
    Tensor(hangar_store::DType, Vec<u64>),
    Str,
    Bytes,
}

impl OwnedHeader {
    /// The header borrowed, as digests take it.
    pub(crate) fn as_header(&self) -> ValueHeader<'_> {
        match self {
            OwnedHeader::Tensor(dtype, shape) => ValueHeader::Tensor {
                dtype: *dtype,
                shape,
            },
            OwnedHeader::Str => ValueHeader::Str,
            OwnedHeader::Bytes => ValueHeader::Bytes,
        }
    }
}

pub(crate) fn verify(repo: &Repository) -> Result<VerifyReport> {
    let shared: &Shared = repo.shared();
    shared.store.refresh()?;
    let mut report = VerifyReport::default();
    report.problems.extend(
        shared
            .store
            .missing_runs()
            .iter()
            .chain(shared.store.verify_files().iter())
            .map(|e| problem(&Error::Store(clone_store_err(e)))),
    );
    match hangar_store::unreferenced_files(&shared.store) {
        Ok(files) => report.unreferenced = files,
        Err(e) => report.problems.push(problem(&Error::Store(e))),
    }

    let mut commits: Vec<CommitId> = Vec::new();
    for (name, head) in repo.branch_heads()? {
        report.branches += 1;
        match head {
            Some(h) => commits.push(h),
            None if name == crate::refs::DEFAULT_BRANCH => {}
            None => report.problems.push(Problem {
                path: crate::refs::ref_path(&shared.hangar, &name),
                detail: "unreadable ref".into(),
            }),
        }
    }
    // What the last fetch saw on each remote was stored before its tracking ref moved:
    // check it too.
    for t in repo.tracking_refs()? {
        commits.push(t.head);
    }
    match crate::refs::reflog_mismatches(&shared.hangar) {
        Ok(m) => report.problems.extend(m.into_iter().map(|(name, head, logged)| Problem {
            path: crate::refs::ref_path(&shared.hangar, &name),
            detail: format!(
                "branch {name:?} points at {} but its reflog's last entry moved it to {}: the ref was changed outside libhangar (two refs swapped, or a ref file replaced); logs/refs/heads/{name} lists the commits it really held",
                head.short(),
                logged.get(..12).unwrap_or(&logged)
            ),
        })),
        Err(e) => report.problems.push(problem(&e)),
    }
    match crate::refs::lost_refs(&shared.hangar) {
        Ok(lost) => report.problems.extend(lost.into_iter().map(|name| Problem {
            path: crate::refs::ref_path(&shared.hangar, &name),
            detail: format!(
                "branch {name:?} is missing: its reflog shows it was not deleted (the ref file was lost or removed outside libhangar; its last commit is in logs/refs/heads/{name})"
            ),
        })),
        Err(e) => report.problems.push(problem(&e)),
    }
    let mut seen_commits = HashSet::new();
    let mut walk = Walk {
        trees: HashSet::new(),
        nodes: HashSet::new(),
        values: Stored::new(shared)?,
        inline: Inline::default(),
        walked: Vec::new(),
    };
    while let Some(id) = commits.pop() {
        if !seen_commits.insert(id) {
            continue;
        }
        if let Err(e) = check_commit(shared, id, &mut commits, &mut walk) {
            report.problems.push(problem(&e));
        }
    }
    let Walk {
        nodes,
        values,
        inline,
        walked,
        ..
    } = walk;
    report.commits = seen_commits.len();
    report.nodes = nodes.len();

    // Values of one header (a fixed-shape column's) a piece at a time, so that
    // `digest_many` hashes small ones side by side.
    let checked = values.check(shared);
    report.values = values.len() + inline.seen.len() - checked.not_fetched;
    report.value_bytes = inline.bytes + checked.bytes;
    report.not_fetched = checked.not_fetched;
    let named = name_samples(
        shared,
        &walked,
        checked.bad.iter().map(|(d, _)| *d).collect(),
    );
    for (digest, bad) in checked.bad {
        let context = named
            .get(&digest)
            .map_or("referenced by a record", String::as_str);
        report.problems.push(match bad {
            Bad::NotStored => Problem {
                path: shared.store.index_dir(),
                detail: format!(
                    "value {} ({context}) is referenced but not stored",
                    digest.short()
                ),
            },
            Bad::Mismatch(path) => Problem {
                path,
                detail: format!(
                    "value {} ({context}) does not hash to its digest",
                    digest.short()
                ),
            },
            Bad::Unreadable(p) => p,
        });
    }
    // No symbolic link anywhere in .hangar: libhangar never follows one, so a link is a
    // file or directory that is not there.
    let mut links = Vec::new();
    symlinks_below(&shared.hangar, &mut links);
    report.problems.extend(
        links
            .iter()
            .map(|p| problem(&Error::Store(hangar_store::fs::symlink_error(p)))),
    );
    // The staging journal and the segments it relies on (a damaged journal included).
    report.problems.extend(repo.staging_damage());
    report
        .problems
        .sort_by(|a, b| a.path.cmp(&b.path).then(a.detail.cmp(&b.detail)));
    report.problems.dedup();
    Ok(report)
}

/// Every symbolic link at or below `dir`, never following one.
fn symlinks_below(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_symlink() => out.push(e.path()),
            Ok(t) if t.is_dir() => symlinks_below(&e.path(), out),
            _ => {}
        }
    }
}

fn clone_store_err(e: &hangar_store::Error) -> hangar_store::Error {
    match e {
        hangar_store::Error::Corrupt { path, detail } => hangar_store::Error::Corrupt {
            path: path.clone(),
            detail: detail.clone(),
        },
        hangar_store::Error::Io { op, path, source } => hangar_store::Error::Io {
            op,
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => hangar_store::Error::corrupt("(store)", other.to_string()),
    }
}

fn check_commit(
    shared: &Shared,
    id: CommitId,
    queue: &mut Vec<CommitId>,
    walk: &mut Walk,
) -> Result<()> {
    let commit = shared.read_commit(&id.digest())?;
    queue.extend(commit.parents.iter().copied().map(CommitId));
    let root = shared.read_root(&commit.root)?;
    for col in &root.columns {
        let schema = shared.read_schema(&col.schema)?;
        let Some(t) = col.tree else { continue };
        if !walk.trees.insert(t.root) {
            continue;
        }
        // Checks the nodes' structure (levels); counts only nodes not seen in an earlier
        // commit, so the record count comes from the full walk below.
        tree::walk_nodes(shared, &t, &mut walk.nodes)?;
        let (mut count, mut samples) = (0u64, 0u64);
        walk.walked.push(Walked {
            commit: id,
            column: col.name.clone(),
            schema: col.schema,
            tree: t,
        });
        let mut col_header: Option<OwnedHeader> = None;
        let mut col_header_id: Option<u32> = None;
        for item in TreeIter::new(shared, Some(&t)) {
            let (k, raw) = item?;
            count += 1;
            let key = crate::diff::split_key(shared, &k)?;
            if schema.is_nested() && key.subsample.is_none() {
                // A nested sample's marker record holds nothing.
                samples += 1;
                if !raw.is_empty() {
                    return Err(Error::corrupt(
                        shared.store.packs_dir(),
                        format!(
                            "commit {id} column {:?}: sample marker {key} holds data",
                            col.name
                        ),
                    ));
                }
                continue;
            }
            if !schema.is_nested() {
                if key.subsample.is_some() {
                    return Err(Error::corrupt(
                        shared.store.packs_dir(),
                        format!(
                            "commit {id} column {:?}: nested key {key} in a flat column",
                            col.name
                        ),
                    ));
                }
                samples += 1;
            }
            let rec = crate::checkout::decode_record(shared, &col.name, &schema, &raw)?;
            // An inline value was checked by decoding its record, and its bytes are
            // covered by the node's object digest.
            if let Held::Inline(b) = &rec.held {
                if rec.shape.is_none() {
                    // A fixed-shape column's values share one header.
                    let header = col_header.get_or_insert_with(|| header_of(&schema, &rec));
                    walk.inline.add(header, b);
                } else {
                    walk.inline.add(&header_of(&schema, &rec), b);
                }
                continue;
            }
            let Some(digest) = rec.stored_digest() else {
                continue;
            };
            walk.values.add(digest, |values| match rec.shape {
                // A fixed-shape column's values share one header.
                None => match col_header_id {
                    Some(id) => Ok(id),
                    None => {
                        let id = values.header_id(header_of(&schema, &rec))?;
                        col_header_id = Some(id);
                        Ok(id)
                    }
                },
                Some(_) => values.header_id(header_of(&schema, &rec)),
            })?;
        }
        if count != t.count || samples != col.samples {
            return Err(Error::corrupt(
                shared.store.packs_dir(),
                format!(
                    "commit {id} column {:?}: the root counts {} records and {} samples, the table holds {count} and {samples}",
                    col.name, t.count, col.samples
                ),
            ));
        }
    }
    if let Some(t) = root.metadata {
        if walk.trees.insert(t.root) {
            tree::walk_nodes(shared, &t, &mut walk.nodes)?;
            for item in TreeIter::new(shared, Some(&t)) {
                let (k, v) = item?;
                if std::str::from_utf8(&v).is_err()
                    || !crate::names::is_valid_name(&String::from_utf8_lossy(&k))
                {
                    return Err(Error::corrupt(
                        shared.store.packs_dir(),
                        format!("commit {id}: malformed metadata entry"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The header of a record's value in a column of `schema`.
pub(crate) fn header_of(schema: &ColumnSchema, rec: &Record) -> OwnedHeader {
    match schema.kind() {
        ColumnKind::NdArray => OwnedHeader::Tensor(
            schema.dtype().expect("ndarray schemas have a dtype"),
            rec.shape
                .clone()
                .unwrap_or_else(|| schema.shape().iter().map(|&d| d as u64).collect()),
        ),
        ColumnKind::Str => OwnedHeader::Str,
        ColumnKind::Bytes => OwnedHeader::Bytes,
    }
}

/// The first sample (in the order verify walked the record tables) that refers to each
/// of `digests`, as "commit C column N sample K": read again only for damaged values.
fn name_samples(shared: &Shared, walked: &[Walked], mut digests: DigestSet) -> DigestMap<String> {
    let mut named = DigestMap::default();
    for w in walked {
        if digests.is_empty() {
            break;
        }
        let Ok(schema) = shared.read_schema(&w.schema) else {
            continue;
        };
        for item in TreeIter::new(shared, Some(&w.tree)) {
            let Ok((k, raw)) = item else { break };
            let Ok(rec) = crate::checkout::decode_record(shared, &w.column, &schema, &raw) else {
                continue;
            };
            let Some(d) = rec.stored_digest() else {
                continue;
            };
            if digests.remove(d) {
                let key = match crate::diff::split_key(shared, &k) {
                    Ok(key) => key.to_string(),
                    Err(_) => format!("{:02x?}", &k[..]),
                };
                named.insert(
                    *d,
                    format!("commit {} column {:?} sample {key}", w.commit, w.column),
                );
            }
        }
    }
    named
}
