//! `fetch` (history and record tables), `fetch_data` (values, exactly those asked for),
//! `clone` and `pull`.

use std::collections::BTreeMap;
use std::ops::Range;

use hangar_store::{Digest, DigestMap, DigestSet, ForeignValue, Object, ValueInput};

use super::conn::Conn;
use super::local;
use super::state;
use super::wire::{Bundle, Loc, Manifest};
use super::RemoteSpec;
use crate::commit::CommitId;
use crate::error::{Error, Result};
use crate::key::SampleKey;
use crate::repo::Repository;
use crate::schema::Held;
use crate::tree::TreeIter;

/// Two wanted byte ranges of one bundle closer than this (and than the second one's
/// length) are read in one request.
const RANGE_GAP: u64 = 4096;
/// Values are stored in groups of about this many bytes (bounded memory).
const INGEST_BYTES: u64 = 256 << 20;

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// The remote's name.
    pub remote: String,
    /// Each branch fetched and the head its tracking ref now names.
    pub branches: Vec<(String, CommitId)>,
    /// Branches with more than one head on the remote (two pushes raced on a server
    /// without create-only writes): the branch, and every head beyond the newest. Merge
    /// them (`hangar merge <commit>`) and push.
    pub diverged: Vec<(String, Vec<CommitId>)>,
    /// Metadata objects received.
    pub objects: usize,
    /// Bytes received.
    pub bytes: u64,
}

impl std::fmt::Display for FetchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetched {} objects ({}) from {}",
            self.objects,
            crate::repo::human_bytes(self.bytes),
            self.remote
        )?;
        for (b, h) in &self.branches {
            write!(f, "\n  {}/{b} -> {}", self.remote, h.short())?;
        }
        for (b, others) in &self.diverged {
            let list: Vec<String> = others.iter().map(|c| c.short()).collect();
            write!(
                f,
                "\n  {}/{b} has diverged: other heads {} (merge them and push)",
                self.remote,
                list.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Which values [`Repository::fetch_data`] brings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchDataOptions {
    /// Only these columns (all if empty).
    pub columns: Vec<String>,
    /// Only these samples (all if `None`).
    pub keys: Option<Vec<SampleKey>>,
    /// Only integer sample keys in this range.
    pub range: Option<Range<u64>>,
    /// Stop before the values fetched exceed this many bytes.
    pub max_bytes: Option<u64>,
}

/// What a `fetch_data` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchDataReport {
    /// Values stored here.
    pub values: usize,
    /// Their bytes.
    pub value_bytes: u64,
    /// Bytes received (ranges read, at most a small gap beyond the values).
    pub bytes: u64,
    /// Values asked for that were already here.
    pub already_local: usize,
    /// Values left out by `max_bytes`.
    pub skipped: usize,
}

impl std::fmt::Display for FetchDataReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fetched {} values ({}; {} received), {} already here",
            self.values,
            crate::repo::human_bytes(self.value_bytes),
            crate::repo::human_bytes(self.bytes),
            self.already_local
        )?;
        if self.skipped > 0 {
            write!(f, ", {} left out by --max-bytes", self.skipped)?;
        }
        Ok(())
    }
}

impl Repository {
    /// Fetches the history and record tables of `branch` (every branch if `None`) from
    /// `remote` — no sample values: those come with [`Repository::fetch_data`] — and
    /// moves the tracking refs (`<remote>/<branch>`). Takes the writer lock while it
    /// stores what it received (`Locked` if a writer is open); the staging area is left
    /// as it is. Every object is checked (CRC, then digest) before anything is stored.
    pub fn fetch(&self, remote: &str, branch: Option<&str>) -> Result<FetchReport> {
        let spec = self.remote(remote)?;
        let conn = Conn::open(&spec)?;
        let mode = state::read_marker(&conn)?.ok_or_else(|| {
            Error::NotFound(format!(
                "remote {remote} ({}) holds no repository yet; push to it first",
                spec.url
            ))
        })?;
        // Refs before manifests: a ref is written after the manifest of its commit, so
        // every ref read here has its manifest in the listing that follows.
        let mut entries = state::list_entries(&conn)?;
        if let Some(b) = branch {
            crate::names::check_branch_name(b)?;
            let e = entries
                .remove(b)
                .ok_or_else(|| Error::NotFound(format!("remote {remote} has no branch {b:?}")))?;
            entries = BTreeMap::from([(b.to_string(), e)]);
        }
        let fresh = state::new_manifests(self, &conn)?;
        let mut report = FetchReport {
            remote: remote.to_string(),
            ..FetchReport::default()
        };
        // Every object any manifest lists that is not here (a fetch cut short earlier
        // left its manifests unsaved, or saved by a push: both are picked up here).
        let mut all: Vec<Manifest> = local::load_manifests(self.hangar_dir())?
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        all.extend(fresh.iter().map(|(_, m, _)| m.clone()));
        let objects = self.receive_objects(&conn, &all, &mut report.bytes)?;
        report.objects = objects.len();
        if !objects.is_empty() {
            let co = self.checkout_writer()?;
            let stored = co.ingest(&[], objects);
            co.close()?;
            stored?;
        }
        for (name, _, bytes) in &fresh {
            local::save_manifest(self, name, bytes)?;
        }
        self.shared().forget_promised();
        for (b, es) in &entries {
            let heads = state::branch_heads(self, &conn, mode, b, es)?;
            let Some(&(_, newest, local)) = heads.first() else {
                continue;
            };
            if !local {
                return Err(Error::Remote(format!(
                    "remote {remote}: branch {b:?} names commit {} that no manifest on the \
                     remote holds (the remote is damaged, or was written by another tool)",
                    newest.short()
                )));
            }
            local::write_tracking(self, remote, b, &newest)?;
            report.branches.push((b.clone(), CommitId(newest)));
            if heads.len() > 1 {
                report.diverged.push((
                    b.clone(),
                    heads[1..].iter().map(|h| CommitId(h.1)).collect(),
                ));
            }
        }
        Ok(report)
    }

    /// Downloads the objects `manifests` list that this repository lacks, checking
    /// each one's CRC-32 (its digest is checked when stored).
    fn receive_objects(
        &self,
        conn: &Conn,
        manifests: &[Manifest],
        received: &mut u64,
    ) -> Result<Vec<Object>> {
        let store = &self.shared().store;
        store.refresh()?;
        let mut wanted: BTreeMap<Bundle, Vec<(Digest, u8, Loc)>> = BTreeMap::new();
        let mut seen = DigestSet::default();
        for m in manifests {
            for &(d, t, loc) in &m.objects {
                if seen.insert(d) && store.lookup(&d)?.is_none() {
                    wanted
                        .entry(m.bundles[loc.bundle as usize])
                        .or_default()
                        .push((d, t, loc));
                }
            }
        }
        let mut out = Vec::new();
        for (bundle, items) in wanted {
            let ranges: Vec<Range<u64>> = items
                .iter()
                .map(|(_, _, l)| l.offset..l.offset + l.len)
                .collect();
            let bytes = read_ranges(conn, &bundle, &ranges, received)?;
            for ((d, t, loc), b) in items.into_iter().zip(bytes) {
                check_crc(conn, &bundle, &d, &loc, &b)?;
                out.push(Object {
                    type_code: t,
                    digest: d,
                    bytes: b,
                });
            }
        }
        Ok(out)
    }

    /// Fetches the values of commit `rev` (a revision: `origin/master`, a commit id)
    /// that `opts` selects and this repository lacks, from `remote`: only those values'
    /// byte ranges are read. Each value's CRC and digest are checked before it is stored;
    /// takes the writer lock while storing.
    pub fn fetch_data(
        &self,
        remote: &str,
        rev: &str,
        opts: &FetchDataOptions,
    ) -> Result<FetchDataReport> {
        let spec = self.remote(remote)?;
        let commit = self.resolve(rev)?;
        let shared = self.shared().clone();
        let root = shared.read_root(&shared.read_commit(&commit.0)?.root)?;
        for c in &opts.columns {
            if !root.columns.iter().any(|rc| &rc.name == c) {
                return Err(Error::NotFound(format!(
                    "commit {} has no column {c:?}",
                    commit.short()
                )));
            }
        }
        let keys: Option<std::collections::HashSet<&SampleKey>> =
            opts.keys.as_ref().map(|k| k.iter().collect());
        let mut report = FetchDataReport::default();
        // (digest, column index, header) of every wanted value not here.
        let mut want: Vec<(Digest, usize, crate::verify::OwnedHeader)> = Vec::new();
        let mut schemas = Vec::new();
        let mut seen = DigestSet::default();
        for col in &root.columns {
            if !opts.columns.is_empty() && !opts.columns.contains(&col.name) {
                continue;
            }
            let schema = shared.read_schema(&col.schema)?;
            let ci = schemas.len();
            for item in TreeIter::new(&*shared, col.tree.as_ref()) {
                let (k, raw) = item?;
                if raw.is_empty() {
                    continue;
                }
                if keys.is_some() || opts.range.is_some() {
                    let key = crate::diff::split_key(&shared, &k)?;
                    if keys.as_ref().is_some_and(|ks| !ks.contains(&key.sample)) {
                        continue;
                    }
                    if let Some(r) = &opts.range {
                        match key.sample {
                            SampleKey::Int(i) if r.contains(&i) => {}
                            _ => continue,
                        }
                    }
                }
                let rec = crate::checkout::decode_record(&shared, &col.name, &schema, &raw)?;
                let Held::Stored(d) = rec.held else { continue };
                if !seen.insert(d) {
                    continue;
                }
                if shared.store.lookup(&d)?.is_some() {
                    report.already_local += 1;
                    continue;
                }
                want.push((d, ci, crate::verify::header_of(&schema, &rec)));
            }
            schemas.push(schema);
        }
        if want.is_empty() {
            return Ok(report);
        }
        // Where each is on the remote.
        let mut at: DigestMap<(Bundle, Loc)> = DigestMap::default();
        for (_, m) in local::load_manifests(self.hangar_dir())? {
            for (d, loc) in &m.values {
                at.insert(*d, (m.bundles[loc.bundle as usize], *loc));
            }
        }
        let mut budget = opts.max_bytes.unwrap_or(u64::MAX);
        let mut by_bundle: BTreeMap<Bundle, Vec<(Digest, usize, crate::verify::OwnedHeader, Loc)>> =
            BTreeMap::new();
        for (d, ci, h) in want {
            let (bundle, loc) = at.get(&d).copied().ok_or_else(|| {
                Error::NotFound(format!(
                    "value {} of commit {} is neither here nor in what remote {remote} has \
                     listed; run `hangar fetch {remote}` first (or it was never pushed)",
                    d.short(),
                    commit.short()
                ))
            })?;
            if loc.len > budget {
                report.skipped += 1;
                budget = 0;
                continue;
            }
            budget -= loc.len;
            by_bundle.entry(bundle).or_default().push((d, ci, h, loc));
        }
        let conn = Conn::open(&spec)?;
        let formats: Vec<_> = schemas.iter().map(|s| s.segment_format()).collect();
        let co = self.checkout_writer()?;
        let result = (|| -> Result<()> {
            let mut batch: Vec<(Digest, usize, crate::verify::OwnedHeader, Vec<u8>)> = Vec::new();
            let mut batch_bytes = 0u64;
            let store_batch =
                |batch: &mut Vec<(Digest, usize, crate::verify::OwnedHeader, Vec<u8>)>| {
                    let shapes: Vec<Vec<u64>> = batch
                        .iter()
                        .map(|(_, _, h, _)| match h {
                            crate::verify::OwnedHeader::Tensor(_, s) => s.clone(),
                            _ => Vec::new(),
                        })
                        .collect();
                    let values: Vec<ForeignValue<'_>> = batch
                        .iter()
                        .zip(&shapes)
                        .map(|((d, ci, h, b), shape)| ForeignValue {
                            input: ValueInput {
                                format: &formats[*ci],
                                header: h.as_header(),
                                shape,
                                bytes: b,
                            },
                            digest: *d,
                        })
                        .collect();
                    let stats = co.ingest(&values, Vec::new())?;
                    drop(values);
                    batch.clear();
                    Ok::<_, Error>(stats)
                };
            for (bundle, items) in by_bundle {
                let ranges: Vec<Range<u64>> = items
                    .iter()
                    .map(|(_, _, _, l)| l.offset..l.offset + l.len)
                    .collect();
                let bytes = read_ranges(&conn, &bundle, &ranges, &mut report.bytes)?;
                for ((d, ci, h, loc), b) in items.into_iter().zip(bytes) {
                    check_crc(&conn, &bundle, &d, &loc, &b)?;
                    batch_bytes += b.len() as u64;
                    batch.push((d, ci, h, b));
                    if batch_bytes >= INGEST_BYTES {
                        let s = store_batch(&mut batch)?;
                        report.values += s.values;
                        report.value_bytes += s.value_bytes;
                        batch_bytes = 0;
                    }
                }
            }
            if !batch.is_empty() {
                let s = store_batch(&mut batch)?;
                report.values += s.values;
                report.value_bytes += s.value_bytes;
            }
            Ok(())
        })();
        co.close()?;
        result?;
        Ok(report)
    }

    /// Clones the repository at `spec.url` into a new repository at `path` (which must
    /// not hold one): adds the remote as `spec.name`, fetches every branch's history and
    /// record tables, and sets the local `master` (or `branch`) to the remote's head.
    /// With `data`, every value of that head is fetched too; without, values are
    /// fetched on demand with [`Repository::fetch_data`].
    pub fn clone_from(
        path: impl AsRef<std::path::Path>,
        spec: &RemoteSpec,
        user_name: &str,
        user_email: &str,
        branch: Option<&str>,
        data: bool,
    ) -> Result<(Repository, FetchReport)> {
        let path = path.as_ref();
        if path.join(crate::repo::HANGAR_DIR).exists() {
            return Err(Error::AlreadyExists(format!(
                "{} already holds a repository; clone into a new directory",
                path.display()
            )));
        }
        super::conn::check_url(&spec.url)?;
        let repo = Repository::init(path, user_name, user_email, false)?;
        repo.add_remote(spec)?;
        let report = repo.fetch(&spec.name, None)?;
        let want = branch.unwrap_or(crate::refs::DEFAULT_BRANCH);
        let Some((b, head)) = report
            .branches
            .iter()
            .find(|(b, _)| b == want)
            .or_else(|| report.branches.first().filter(|_| branch.is_none()))
            .cloned()
        else {
            if let Some(b) = branch {
                return Err(Error::NotFound(format!(
                    "remote {} has no branch {b:?}",
                    spec.url
                )));
            }
            return Ok((repo, report)); // an empty remote: an empty clone
        };
        let tracking = format!("{}/{b}", spec.name);
        if b == crate::refs::DEFAULT_BRANCH {
            repo.merge("", &b, &tracking)?;
        } else {
            repo.create_branch(&b, Some(&tracking))?;
        }
        if data {
            repo.fetch_data(&spec.name, &head.to_hex(), &FetchDataOptions::default())?;
        }
        Ok((repo, report))
    }

    /// Fetches `branch` from `remote` and merges `<remote>/<branch>` into the local
    /// branch of the same name (created at the remote's head if there is none): a
    /// fast-forward when possible, otherwise a merge commit with `message`. If the
    /// remote's branch has diverged (two heads), each is merged in.
    pub fn pull(
        &self,
        remote: &str,
        branch: &str,
        message: &str,
    ) -> Result<(FetchReport, crate::merge::MergeOutcome)> {
        let report = self.fetch(remote, Some(branch))?;
        let tracking = format!("{remote}/{branch}");
        if !crate::refs::branch_exists(self.hangar_dir(), branch)?
            && branch != crate::refs::DEFAULT_BRANCH
        {
            self.create_branch(branch, Some(&tracking))?;
            let head = self.resolve(&tracking)?;
            return Ok((
                report,
                crate::merge::MergeOutcome::FastForward {
                    from: None,
                    to: head,
                },
            ));
        }
        let mut outcome = self.merge(message, branch, &tracking)?;
        // A branch that diverged on the remote (racing pushes on a server without
        // create-only writes): every other head is merged in too, so the next push
        // joins them.
        for (b, others) in &report.diverged {
            if b == branch {
                for h in others {
                    outcome = self.merge(message, branch, &h.to_hex())?;
                }
            }
        }
        Ok((report, outcome))
    }
}

/// Reads `ranges` of a bundle: the whole bundle in one request when the ranges cover
/// most of it, otherwise the ranges, merged where they lie within a small gap. The
/// returned buffers are the ranges' bytes, in order. Counts the bytes received.
fn read_ranges(
    conn: &Conn,
    bundle: &Bundle,
    ranges: &[Range<u64>],
    received: &mut u64,
) -> Result<Vec<Vec<u8>>> {
    let key = bundle.key();
    let wanted: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    if wanted.saturating_mul(2) >= bundle.len {
        let all = conn.get(&key)?.ok_or_else(|| missing_bundle(conn, &key))?;
        *received += all.len() as u64;
        if all.len() as u64 != bundle.len || Digest(*blake3::hash(&all).as_bytes()) != bundle.name {
            return Err(damaged(conn, &key, "does not hash to its name"));
        }
        return Ok(ranges
            .iter()
            .map(|r| all[r.start as usize..r.end as usize].to_vec())
            .collect());
    }
    // Merge ranges (sorted by start) that lie within RANGE_GAP of each other.
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].start);
    let mut merged: Vec<Range<u64>> = Vec::new();
    for &i in &order {
        let r = &ranges[i];
        match merged.last_mut() {
            // The gap read with it is at most its own length: never more than twice
            // the bytes wanted.
            Some(m) if r.start <= m.end.saturating_add(RANGE_GAP.min(r.end - r.start)) => {
                m.end = m.end.max(r.end)
            }
            _ => merged.push(r.clone()),
        }
    }
    let got = conn.get_ranges_exact(&key, &merged)?;
    let mut out = vec![Vec::new(); ranges.len()];
    let mut j = 0;
    for &i in &order {
        let r = &ranges[i];
        // Both in start order: the merged range holding r is this one or a later one.
        while !(merged[j].start <= r.start && r.end <= merged[j].end) {
            j += 1;
        }
        let (m, b) = (&merged[j], &got[j]);
        if b.len() as u64 != m.end - m.start {
            return Err(damaged(conn, &key, "returned a short range"));
        }
        out[i] = b[(r.start - m.start) as usize..(r.end - m.start) as usize].to_vec();
    }
    *received += got.iter().map(|b| b.len() as u64).sum::<u64>();
    Ok(out)
}

fn check_crc(conn: &Conn, bundle: &Bundle, d: &Digest, loc: &Loc, b: &[u8]) -> Result<()> {
    if hangar_store::crc32(b) != loc.crc {
        return Err(damaged(
            conn,
            &bundle.key(),
            &format!("holds {} with a bad CRC-32", d.short()),
        ));
    }
    Ok(())
}

fn missing_bundle(conn: &Conn, key: &str) -> Error {
    Error::Remote(format!(
        "remote {}: {key} is missing though a manifest lists it (the remote is damaged); \
         nothing was stored here",
        conn.url
    ))
}

fn damaged(conn: &Conn, key: &str, what: &str) -> Error {
    Error::Remote(format!(
        "remote {}: {key} {what}: it is damaged on the remote or was cut short in transit; \
         nothing from it was stored here (retry; if it persists, the remote needs repair)",
        conn.url
    ))
}
