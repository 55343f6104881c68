//! Commit ids and building a commit from the staging area.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use hangar_store::{Digest, Object, ObjectSink, PackSpool};

use crate::error::{Error, Result};
use crate::format::User;
use crate::objects::{CommitObject, ObjectType, Root, RootColumn, TreeRef};
use crate::shared::Shared;
use crate::staging::{ColumnState, Staging};
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

/// A column's staged changes at least this large get a thread of their own when a
/// commit builds several columns' record tables (below it a thread costs more than the
/// table: building 2,048 records takes ~0.1 ms, a thread's start and join ~0.05 ms).
const PAR_MIN_CHANGES: usize = 2048;

/// Bytes of objects a builder thread hands over at once, and how many such batches may
/// wait. Batches are large so that a handover is rare: handing over 64 objects at a time
/// (a few hundred KB), the builders waited on each other so often that two columns
/// took as long as one after the other (seed workload, 2026-12-06).
const SEND_BYTES: usize = 1 << 20;
const SEND_QUEUE: usize = 8;

/// An [`ObjectSink`] of a builder thread: its objects go, in batches, to the thread
/// that owns the pack (a bounded queue, so a commit of millions of records holds at
/// most ~`SEND_BYTES × (SEND_QUEUE + 2)` of its nodes in memory per thread).
struct SendSink {
    tx: mpsc::SyncSender<Vec<Object>>,
    batch: Vec<Object>,
    bytes: usize,
}

impl SendSink {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.bytes = 0;
            // The receiver outlives every sender (it drains until they are all gone).
            let _ = self.tx.send(std::mem::take(&mut self.batch));
        }
    }
}

impl ObjectSink for SendSink {
    fn put(&mut self, object: Object) {
        self.bytes += object.bytes.len();
        self.batch.push(object);
        if self.bytes >= SEND_BYTES {
            self.flush();
        }
    }
}

/// The [`ObjectSink`] of the thread that owns the pack: its own objects go in directly,
/// and each put also takes in whatever the builder threads have sent meanwhile, so they
/// never wait long on a full queue.
struct DrainSink<'a> {
    spool: &'a mut PackSpool,
    rx: &'a mpsc::Receiver<Vec<Object>>,
}

impl DrainSink<'_> {
    /// Takes in every batch the builders send, until the last of them is done.
    fn drain(&mut self) {
        for batch in self.rx.iter() {
            batch.into_iter().for_each(|o| self.spool.put(o));
        }
    }
}

impl ObjectSink for DrainSink<'_> {
    fn put(&mut self, object: Object) {
        self.spool.put(object);
        while let Ok(batch) = self.rx.try_recv() {
            batch.into_iter().for_each(|o| self.spool.put(o));
        }
    }
}

/// The record table of one column with its staged changes applied.
fn column_table(
    shared: &Shared,
    col: &ColumnState,
    objects: &mut dyn ObjectSink,
) -> Result<Option<TreeRef>> {
    apply_overlay(shared, col.base.as_ref(), &col.overlay, objects)
}

/// The record tables of `staging`'s columns, in column order, with their new nodes put
/// into `objects`. When two or more columns have large staged changes (a bulk import of
/// images and labels), their tables are built on as many threads as the process pool
/// has, one column at a time each; the objects all reach the pack through this thread.
/// A table's nodes and digest depend only on its records, never on which thread built
/// it or in which order the pack received them, so the commit is the same either way.
fn build_tables(
    shared: &Shared,
    staging: &Staging,
    objects: &mut PackSpool,
) -> Result<Vec<Option<TreeRef>>> {
    let cols: Vec<&ColumnState> = staging.columns.values().collect();
    let large = cols
        .iter()
        .filter(|c| c.overlay.len() >= PAR_MIN_CHANGES)
        .count();
    // (The pool is asked its size only when there is something to share: a small
    // commit starts no threads.)
    let helpers = match large {
        0 | 1 => 0,
        _ => hangar_store::parallel_threads().min(large) - 1,
    };
    if helpers == 0 {
        return cols
            .iter()
            .map(|c| column_table(shared, c, objects))
            .collect();
    }
    #[cfg(test)]
    tests::PARALLEL_BUILDS.with(|n| n.set(n.get() + 1));
    // Large columns first, so the small ones fill in at the end.
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cols[i].overlay.len()));
    let next = AtomicUsize::new(0);
    let take = || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        order.get(i).copied()
    };
    let (tx, rx) = mpsc::sync_channel::<Vec<Object>>(SEND_QUEUE);
    let mut tables: Vec<Option<Result<Option<TreeRef>>>> = (0..cols.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        // The receiver belongs to this closure: should this thread panic, it goes as
        // the panic leaves the closure, before the scope waits for the helpers, so a
        // helper waiting on a full queue is let go (its sends fail) instead of hanging.
        let rx = rx;
        let workers: Vec<_> = (0..helpers)
            .map(|_| {
                let tx = tx.clone();
                let (cols, take) = (&cols, &take);
                scope.spawn(move || {
                    let mut sink = SendSink {
                        tx,
                        batch: Vec::new(),
                        bytes: 0,
                    };
                    let mut done = Vec::new();
                    while let Some(i) = take() {
                        let t = column_table(shared, cols[i], &mut sink);
                        sink.flush();
                        done.push((i, t));
                    }
                    done
                })
            })
            .collect();
        drop(tx);
        let mut sink = DrainSink {
            spool: &mut *objects,
            rx: &rx,
        };
        while let Some(i) = take() {
            tables[i] = Some(column_table(shared, cols[i], &mut sink));
        }
        sink.drain();
        for w in workers {
            match w.join() {
                Ok(done) => done.into_iter().for_each(|(i, t)| tables[i] = Some(t)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    tables
        .into_iter()
        .map(|t| t.expect("every column was built by one thread"))
        .collect()
}

pub(crate) fn build(
    shared: &Shared,
    staging: &Staging,
    user: &User,
    message: &str,
) -> Result<BuiltCommit> {
    let mut objects = PackSpool::new(shared.store.clone());
    for col in staging.columns.values() {
        objects.put(Object::new(ObjectType::Schema as u8, col.schema.encode()));
    }
    let tables = build_tables(shared, staging, &mut objects)?;
    let mut columns = Vec::with_capacity(staging.columns.len());
    for ((name, col), tree) in staging.columns.iter().zip(tables) {
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use crate::{DType, NdArraySpec, Repository, TensorRef, WriterCheckout};

    thread_local! {
        /// Commits of this thread whose record tables were built on several threads.
        pub(super) static PARALLEL_BUILDS: Cell<u32> = const { Cell::new(0) };
    }

    const COLUMNS: [&str; 3] = ["imgs", "labels", "names"];

    fn add_columns(co: &WriterCheckout) {
        co.add_ndarray_column("imgs", NdArraySpec::with_shape(DType::U8, &[100]))
            .unwrap();
        co.add_ndarray_column("labels", NdArraySpec::with_shape(DType::U8, &[1]))
            .unwrap();
        co.add_str_column("names").unwrap();
    }

    /// Stages samples `first..first + n` of `column`: stored tensors (imgs), inline
    /// tensors (labels) or strings (names).
    fn stage(co: &WriterCheckout, column: &str, first: u64, n: u64) {
        let c = co.column(column).unwrap();
        let keys = first..first + n;
        match column {
            "imgs" => {
                let imgs: Vec<u8> = keys
                    .clone()
                    .flat_map(|i| (0..100u64).map(move |j| (i * 7 + j) as u8))
                    .collect();
                c.extend_from_buffer(keys, TensorRef::new(&imgs, &[n as usize, 100]))
                    .unwrap();
            }
            "labels" => {
                let labels: Vec<u8> = keys.clone().map(|i| (i % 10) as u8).collect();
                c.extend_from_buffer(keys, TensorRef::new(&labels, &[n as usize, 1]))
                    .unwrap();
            }
            _ => {
                for i in keys {
                    c.set(i, format!("sample {i}").as_str()).unwrap();
                }
            }
        }
    }

    fn builds() -> u32 {
        PARALLEL_BUILDS.with(Cell::get)
    }

    /// Record tables built on several threads (a commit with several large columns,
    /// new and updated) are the ones commits of one column at a time build: the same
    /// root, every record readable, and a repository that verifies.
    #[test]
    fn tables_built_on_several_threads_equal_those_built_one_by_one() {
        if hangar_store::parallel_threads() < 2 {
            eprintln!("one thread in the process pool: no table is built in parallel");
            return;
        }
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = Repository::init(da.path(), "T", "t@example.com", false).unwrap();
        let b = Repository::init(db.path(), "T", "t@example.com", false).unwrap();

        // a: three new columns in one commit, then 6,000 records of each changed or
        // added in a second (tables updated), both built on several threads.
        let co = a.checkout_writer().unwrap();
        add_columns(&co);
        let before = builds();
        COLUMNS.iter().for_each(|c| stage(&co, c, 0, 5000));
        co.commit("three new columns").unwrap();
        COLUMNS.iter().for_each(|c| stage(&co, c, 3000, 6000));
        let head_a = co.commit("three columns changed").unwrap();
        assert_eq!(builds(), before + 2);
        co.close().unwrap();

        // b: the same records, one column's changes per commit (one thread each).
        let co = b.checkout_writer().unwrap();
        add_columns(&co);
        let mut head_b = co.commit("columns").unwrap();
        for c in COLUMNS {
            stage(&co, c, 0, 9000);
            head_b = co.commit(c).unwrap();
        }
        assert_eq!(
            builds(),
            before + 2,
            "b's commits had one large column each"
        );
        co.close().unwrap();

        let root = |r: &Repository, id| r.commit_info(id).unwrap().root_digest();
        assert_eq!(root(&a, &head_a), root(&b, &head_b));
        let r = a.checkout_commit(&head_a.to_hex()).unwrap();
        let name = r.column("names").unwrap().get(8999u64).unwrap();
        assert_eq!(name.into_str().unwrap(), "sample 8999");
        assert_eq!(r.column("imgs").unwrap().len().unwrap(), 9000);
        let report = a.verify().unwrap();
        assert!(report.is_ok(), "{report}");
    }
}
