//! `push`: upload what the remote lacks (bundles, then their manifest), then the ref.

use bytes::Bytes;
use hangar_store::{Digest, DigestSet};

use super::conn::Conn;
use super::local;
use super::state;
use super::wire::{Bundle, BundleKind, Loc, Manifest, RefEntry, RefMode};
use crate::commit::CommitId;
use crate::error::{Error, Result};
use crate::objects::ObjectType;
use crate::repo::Repository;
use crate::schema::Held;
use crate::tree::NodeSource;

/// A value bundle is closed once it holds this many bytes; up to
/// `conn::PARALLEL_TRANSFERS` of them are uploaded at once.
const BUNDLE_BYTES: usize = 16 << 20;

/// A value placed in a bundle being assembled: digest, offset, length, CRC-32.
type ValueLoc = (Digest, u64, u64, u32);

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The remote's name.
    pub remote: String,
    /// The branch pushed.
    pub branch: String,
    /// The commit the remote's branch now names.
    pub head: CommitId,
    /// True if the remote's branch already named it (only refs were compared).
    pub up_to_date: bool,
    /// Commits new to the remote.
    pub commits: usize,
    /// Metadata objects uploaded.
    pub objects: usize,
    /// Values uploaded.
    pub values: usize,
    /// Bytes uploaded (bundles and manifest).
    pub bytes: u64,
}

impl std::fmt::Display for PushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.up_to_date {
            return write!(
                f,
                "{}/{} is up to date at {}",
                self.remote,
                self.branch,
                self.head.short()
            );
        }
        write!(
            f,
            "pushed {} to {}/{}: {} commits, {} objects, {} values, {}",
            self.head.short(),
            self.remote,
            self.branch,
            self.commits,
            self.objects,
            self.values,
            crate::repo::human_bytes(self.bytes)
        )
    }
}

/// What the remote holds, as its manifests say.
#[derive(Default)]
struct Has {
    commits: DigestSet,
    objects: DigestSet,
    values: DigestSet,
}

impl Repository {
    /// Pushes `branch` to `remote`: uploads the objects and values of its commits that
    /// the remote lacks (a set difference over content digests), then moves the remote's
    /// branch — objects always before the ref. Refused with `Conflict` if the remote's
    /// branch has commits this branch does not contain (fetch and merge first), or if
    /// another push to the same branch landed first on a server with create-only writes.
    pub fn push(&self, remote: &str, branch: &str) -> Result<PushReport> {
        let spec = self.remote(remote)?;
        local::remove_orphans(self, remote)?;
        let head = self.branch_head(branch)?.ok_or_else(|| {
            Error::NotFound(format!(
                "branch {branch:?} has no commits to push; commit first"
            ))
        })?;
        let conn = Conn::open(&spec)?;
        let mode = state::ensure_marker(&conn)?;
        let entries = state::list_entries(&conn)?
            .remove(branch)
            .unwrap_or_default();
        let heads = state::branch_heads(self, &conn, mode, branch, &entries)?;
        let mut report = PushReport {
            remote: remote.to_string(),
            branch: branch.to_string(),
            head,
            up_to_date: false,
            commits: 0,
            objects: 0,
            values: 0,
            bytes: 0,
        };
        if heads.len() == 1 && heads[0].1 == head.0 {
            report.up_to_date = true;
            local::write_tracking(self, remote, branch, &head.0)?;
            return Ok(report);
        }
        let mine = crate::branch::ancestors(self, head.0)?;
        for (_, h, local) in &heads {
            if !*local || !mine.contains(h) {
                return Err(Error::Conflict(format!(
                    "the remote's branch {remote}/{branch} has commits that {branch:?} does \
                     not contain (its head {} {}); run `hangar pull {remote} {branch}` (fetch \
                     and merge), then push again",
                    h.short(),
                    if *local {
                        "is not an ancestor of yours"
                    } else {
                        "was never fetched"
                    }
                )));
            }
        }
        // What the remote holds: every manifest on it (new ones saved now: they describe
        // the remote, not this repository, so saving them early claims nothing).
        for (name, _, bytes) in state::new_manifests(self, &conn)? {
            local::save_manifest(self, &name, &bytes)?;
        }
        let mut has = Has::default();
        for (_, m) in local::load_manifests(self.hangar_dir())? {
            has.commits.extend(m.commits);
            has.objects.extend(m.objects.iter().map(|o| o.0));
            has.values.extend(m.values.iter().map(|v| v.0));
        }
        let manifest = self.upload_missing(&conn, head.0, &has, &mut report)?;
        if !manifest.commits.is_empty() {
            let bytes = Bytes::from(manifest.encode());
            let name = super::wire::content_name(&bytes);
            report.bytes += bytes.len() as u64;
            conn.put_create(&format!("manifests/{}", name.to_hex()), bytes.clone())?;
            hangar_store::fail_point("push.before_ref")?;
            local::save_manifest(self, &name, &bytes)?;
        }
        let seq = entries.last().map_or(0, |e| e.seq + 1);
        publish_ref(&conn, mode, remote, branch, seq, &head.0)?;
        local::write_tracking(self, remote, branch, &head.0)?;
        Ok(report)
    }

    /// Uploads the bundles holding what `head`'s history adds to what the remote `has`,
    /// returning their manifest (not yet uploaded).
    fn upload_missing(
        &self,
        conn: &Conn,
        head: Digest,
        has: &Has,
        report: &mut PushReport,
    ) -> Result<Manifest> {
        let shared = self.shared();
        let mut commits = Vec::new();
        let mut seen = DigestSet::default();
        let mut stack = vec![head];
        while let Some(c) = stack.pop() {
            if has.commits.contains(&c) || !seen.insert(c) {
                continue;
            }
            commits.push(c);
            stack.extend(shared.read_commit(&c)?.parents);
        }
        // The objects, in the order a reader needs them, and the values of new leaves,
        // found by one walk of the new commits' trees; values go into bundles of up to
        // BUNDLE_BYTES, the objects into one after them, each uploaded (a few at a time)
        // while the walk goes on and the next is assembled.
        type ObjectLoc = (Digest, u8, u64, u64, u32);
        let (placed, meta) = conn.put_create_pipelined(|upload| {
            let mut bundler = ValueBundler::default();
            let objects = new_objects(shared, &commits, has, &mut |v| {
                bundler.add(shared, v, &mut *upload)
            })?;
            bundler.finish(&mut *upload)?;
            if objects.is_empty() {
                return Ok((bundler.placed, None));
            }
            let mut buf: Vec<u8> = Vec::new();
            let mut locs: Vec<ObjectLoc> = Vec::with_capacity(objects.len());
            for (d, t) in &objects {
                let (ty, bytes) = shared.store.read_object(d)?.ok_or_else(|| {
                    Error::corrupt(
                        shared.store.packs_dir(),
                        format!("object {} is referenced but not stored", d.short()),
                    )
                })?;
                if ty != *t {
                    return Err(Error::corrupt(
                        shared.store.packs_dir(),
                        format!("object {} has type {ty}, expected {t}", d.short()),
                    ));
                }
                let crc = hangar_store::crc32(&bytes);
                locs.push((*d, *t, buf.len() as u64, bytes.len() as u64, crc));
                buf.extend_from_slice(&bytes);
            }
            let b = bundle_of(BundleKind::Meta, &buf);
            upload(b.key(), Bytes::from(buf))?;
            Ok((bundler.placed, Some((b, locs))))
        })?;
        let mut m = Manifest {
            commits,
            ..Manifest::default()
        };
        for (b, locs) in placed {
            report.bytes += b.len;
            let idx = m.bundles.len() as u32;
            m.bundles.push(b);
            m.values
                .extend(locs.into_iter().map(|(d, offset, len, crc)| {
                    (
                        d,
                        Loc {
                            bundle: idx,
                            offset,
                            len,
                            crc,
                        },
                    )
                }));
        }
        report.values = m.values.len();
        if let Some((b, locs)) = meta {
            report.bytes += b.len;
            let idx = m.bundles.len() as u32;
            m.bundles.push(b);
            m.objects = locs
                .into_iter()
                .map(|(d, t, offset, len, crc)| {
                    (
                        d,
                        t,
                        Loc {
                            bundle: idx,
                            offset,
                            len,
                            crc,
                        },
                    )
                })
                .collect();
        }
        report.objects = m.objects.len();
        report.commits = m.commits.len();
        Ok(m)
    }
}

/// Writes ref entry `seq` of `branch` naming `commit` — the push's commit point, after
/// every object it needs is on the remote. Create-only: where the server honours that
/// (`Cas`), of two pushes that read the same entries exactly one lands and the other is
/// refused with `Conflict`; where it may not (`PerCommit`), the entry's name includes the
/// commit, so a racing push cannot replace it — both stay, as two heads.
pub(crate) fn publish_ref(
    conn: &Conn,
    mode: RefMode,
    remote: &str,
    branch: &str,
    seq: u64,
    commit: &Digest,
) -> Result<()> {
    let body = Bytes::from(format!("{}\n", commit.to_hex()));
    let entry = match mode {
        RefMode::Cas => RefEntry::name(seq, None),
        RefMode::PerCommit => RefEntry::name(seq, Some(commit)),
    };
    if !conn.put_create(&format!("refs/{branch}/{entry}"), body)? {
        return Err(Error::Conflict(format!(
            "another push to {remote}/{branch} landed first; its objects and yours are on \
             the remote, the branch is not moved: run `hangar pull {remote} {branch}`, then \
             push again"
        )));
    }
    Ok(())
}

/// The objects `commits` add to what the remote `has`, in the order a reader needs
/// them; `on_value` gets each value their records refer to that the remote lacks, once.
fn new_objects(
    shared: &crate::shared::Shared,
    commits: &[Digest],
    has: &Has,
    on_value: &mut dyn FnMut(Digest) -> Result<()>,
) -> Result<Vec<(Digest, u8)>> {
    let mut objects: Vec<(Digest, u8)> = Vec::new();
    let mut sent = DigestSet::default();
    let mut add = |d: Digest, t: ObjectType, objects: &mut Vec<(Digest, u8)>| {
        let new = !has.objects.contains(&d) && sent.insert(d);
        if new {
            objects.push((d, t as u8));
        }
        new
    };
    let mut value_seen = DigestSet::default();
    for c in commits {
        let commit = shared.read_commit(c)?;
        add(*c, ObjectType::Commit, &mut objects);
        if !add(commit.root, ObjectType::Root, &mut objects) {
            continue;
        }
        let root = shared.read_root(&commit.root)?;
        let mut trees = Vec::new();
        for col in &root.columns {
            add(col.schema, ObjectType::Schema, &mut objects);
            if let Some(t) = col.tree {
                trees.push((t, Some(shared.read_schema(&col.schema)?), col.name.clone()));
            }
        }
        if let Some(t) = root.metadata {
            trees.push((t, None, String::new()));
        }
        for (t, schema, name) in trees {
            let mut stack = vec![t.root];
            while let Some(d) = stack.pop() {
                if !add(d, ObjectType::TreeNode, &mut objects) {
                    continue;
                }
                let node = shared.node(&d)?;
                if node.level() > 0 {
                    stack.extend((0..node.len()).map(|i| node.child(i).0));
                    continue;
                }
                let Some(schema) = &schema else { continue };
                for i in 0..node.len() {
                    let raw = node.value(i);
                    if raw.is_empty() {
                        continue; // a nested sample's marker
                    }
                    let rec = crate::checkout::decode_record(shared, &name, schema, raw)?;
                    if let Held::Stored(v) = rec.held {
                        if !has.values.contains(&v) && value_seen.insert(v) {
                            on_value(v)?;
                        }
                    }
                }
            }
        }
    }
    Ok(objects)
}

/// Values gathered into bundles of up to [`BUNDLE_BYTES`], each handed to the upload as
/// it fills.
#[derive(Default)]
struct ValueBundler {
    buf: Vec<u8>,
    pending: Vec<ValueLoc>,
    placed: Vec<(Bundle, Vec<ValueLoc>)>,
}

impl ValueBundler {
    fn add(
        &mut self,
        shared: &crate::shared::Shared,
        v: Digest,
        upload: &mut dyn FnMut(String, Bytes) -> Result<()>,
    ) -> Result<()> {
        let bytes = shared.store.read_value(&v)?.ok_or_else(|| {
            Error::corrupt(
                shared.store.index_dir(),
                format!(
                    "value {} is referenced but neither stored here nor on the remote",
                    v.short()
                ),
            )
        })?;
        let crc = hangar_store::crc32(&bytes);
        self.pending
            .push((v, self.buf.len() as u64, bytes.len() as u64, crc));
        self.buf.extend_from_slice(&bytes);
        if self.buf.len() >= BUNDLE_BYTES {
            self.finish(upload)?;
        }
        Ok(())
    }

    /// Hands over the bundle being filled, if any.
    fn finish(&mut self, upload: &mut dyn FnMut(String, Bytes) -> Result<()>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.buf);
        let b = bundle_of(BundleKind::Values, &bytes);
        upload(b.key(), Bytes::from(bytes))?;
        self.placed.push((b, std::mem::take(&mut self.pending)));
        Ok(())
    }
}

/// The bundle `bytes` make: named by their content.
fn bundle_of(kind: BundleKind, bytes: &[u8]) -> Bundle {
    Bundle {
        kind,
        name: super::wire::content_name(bytes),
        len: bytes.len() as u64,
    }
}
