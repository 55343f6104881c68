//! `fetch_data`: exactly the values asked for, as byte ranges of the remote's bundles.

use std::collections::BTreeMap;
use std::ops::Range;

use hangar_store::{Digest, DigestMap, DigestSet, ForeignValue, ValueInput};

use super::conn::Conn;
use super::local;
use super::wire::{Bundle, Loc};
use crate::commit::CommitId;
use crate::error::{Error, Result};
use crate::key::SampleKey;
use crate::repo::Repository;
use crate::schema::{ColumnSchema, Held};
use crate::tree::NodeSource;
use crate::verify::{header_of, OwnedHeader};

/// Two wanted byte ranges of one bundle closer than this (and than the second one's
/// length) are read in one request.
const RANGE_GAP: u64 = 4096;
/// Values are stored once this many bytes of them are waiting, checked after each
/// bundle (bounded memory; stored while the next bundles download). Each store is
/// durable on its own (its own index run), so a fetch or clone killed part-way keeps
/// what it stored and the next one downloads only the rest: with one store per group
/// of bundles, a 39 MB clone killed in its last 50 ms downloaded all 39 MB again.
const INGEST_BYTES: u64 = 32 << 20;
/// Bundles downloaded at once, as one group (their GETs in flight together: against a
/// single Garage node on loopback, a clone with data of 47.5 MB in 16 MiB bundles took
/// 0.48 s one bundle at a time, 0.46 s two and 0.37–0.52 s four at once); while one group
/// is checked and stored, the next downloads. At most two groups wait in memory besides
/// the one being stored (3 × 64 MiB of bundles at most).
const GROUP_BUNDLES: usize = 4;

/// Which values [`Repository::fetch_data`] brings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchDataOptions {
    /// Only these columns (all if empty).
    pub columns: Vec<String>,
    /// Only these samples (all if `None`): every value a sample holds, all of its
    /// subsamples in a nested column.
    pub keys: Option<Vec<SampleKey>>,
    /// Only these subsamples `(sample, subsample)` of nested columns (besides `keys`;
    /// none if empty).
    pub subsamples: Vec<(SampleKey, SampleKey)>,
    /// Every key of `keys` and `subsamples` must name a record of a selected column at
    /// one of the commits fetched; if one does not, the fetch is refused with
    /// `NotFound` naming it, before anything is read from the remote.
    pub require_keys: bool,
    /// Only integer sample keys in this range.
    pub range: Option<Range<u64>>,
    /// Stop before the values fetched exceed this many bytes.
    pub max_bytes: Option<u64>,
    /// The values of every commit the revision descends from too (a complete copy of
    /// its history), not only of the revision itself.
    pub history: bool,
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
    /// Samples asked for whose values are small enough to live in their records (at
    /// most `INLINE_MAX` bytes): they came with the history and are here already.
    pub in_records: usize,
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
        if self.in_records > 0 {
            write!(
                f,
                "; {} small values held in the record tables came with the history",
                self.in_records
            )?;
        }
        if self.skipped > 0 {
            write!(f, ", {} left out by --max-bytes", self.skipped)?;
        }
        Ok(())
    }
}

impl Repository {
    /// Fetches the values of commit `rev` (a revision: `origin/master`, a commit id; with
    /// `opts.history`, of its ancestors too) that `opts` selects and this repository
    /// lacks, from `remote`: only those values' byte ranges are read. Each value's CRC and digest are checked before it is stored;
    /// takes the writer lock while storing.
    pub fn fetch_data(
        &self,
        remote: &str,
        rev: &str,
        opts: &FetchDataOptions,
    ) -> Result<FetchDataReport> {
        let spec = self.remote(remote)?;
        let commit = self.resolve(rev)?;
        let mut report = FetchDataReport::default();
        let (want, schemas) = self.wanted_values(commit, opts, &mut report)?;
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
        let mut by_bundle: BTreeMap<Bundle, Vec<(Digest, usize, OwnedHeader, Loc)>> =
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
            let mut batch: Vec<(Digest, usize, OwnedHeader, bytes::Bytes, u32)> = Vec::new();
            let mut batch_bytes = 0u64;
            let store_batch = |batch: &mut Vec<(Digest, usize, OwnedHeader, bytes::Bytes, u32)>| {
                let shapes: Vec<Vec<u64>> = batch
                    .iter()
                    .map(|(_, _, h, _, _)| match h {
                        OwnedHeader::Tensor(_, s) => s.clone(),
                        _ => Vec::new(),
                    })
                    .collect();
                let values: Vec<ForeignValue<'_>> = batch
                    .iter()
                    .zip(&shapes)
                    .map(|((d, ci, h, b, crc), shape)| ForeignValue {
                        input: ValueInput {
                            format: &formats[*ci],
                            // Ingested values are sealed as they arrive, in Arrow IPC
                            // segments (docs/format.md, "Compressed segments").
                            compression: hangar_store::Compression::None,
                            header: h.as_header(),
                            shape,
                            bytes: b,
                        },
                        digest: *d,
                        // Computed from these bytes by `check_crc` as they arrived.
                        crc: Some(*crc),
                    })
                    .collect();
                let stats = co.ingest(&values, Vec::new())?;
                drop(values);
                batch.clear();
                Ok::<_, Error>(stats)
            };
            // Download and store overlap: one thread reads the next group of bundles
            // (a few at once) while this one checks and stores the group before it. At
            // most two groups wait in memory besides the one being stored.
            let by_bundle: Vec<_> = by_bundle.into_iter().collect();
            let groups: Vec<&[(Bundle, Vec<_>)]> = by_bundle.chunks(GROUP_BUNDLES).collect();
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<Result<(Vec<Vec<bytes::Bytes>>, u64)>>(1);
            std::thread::scope(|scope| -> Result<()> {
                let conn = &conn;
                let groups = &groups;
                scope.spawn(move || {
                    for group in groups {
                        let wants: Vec<(Bundle, Vec<Range<u64>>)> = group
                            .iter()
                            .map(|(bundle, items)| {
                                let ranges = items
                                    .iter()
                                    .map(|(_, _, _, l)| l.offset..l.offset + l.len)
                                    .collect();
                                (*bundle, ranges)
                            })
                            .collect();
                        let mut received = 0;
                        let got = read_bundles(conn, &wants, &mut received);
                        let failed = got.is_err();
                        // A closed channel: the storing side stopped (on an error).
                        if tx.send(got.map(|g| (g, received))).is_err() || failed {
                            break;
                        }
                    }
                });
                let mut stored_groups = 0;
                for (group, got) in groups.iter().zip(rx.iter()) {
                    let (fetched, received) = got?;
                    stored_groups += 1;
                    report.bytes += received;
                    for ((bundle, items), bytes) in group.iter().zip(fetched) {
                        for ((d, ci, h, loc), b) in items.iter().zip(bytes) {
                            check_crc(conn, bundle, d, loc, &b)?;
                            batch_bytes += b.len() as u64;
                            batch.push((*d, *ci, h.clone(), b, loc.crc));
                        }
                        if batch_bytes >= INGEST_BYTES {
                            let s = store_batch(&mut batch)?;
                            report.values += s.values;
                            report.value_bytes += s.value_bytes;
                            batch_bytes = 0;
                        }
                    }
                }
                if stored_groups < groups.len() {
                    return Err(Error::Remote(format!(
                        "remote {}: the download stopped before every value arrived; \
                         nothing more was stored (fetch again to go on)",
                        conn.url
                    )));
                }
                Ok(())
            })?;
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

    /// Per column of commit `at` (a revision; default: the current branch's head), the
    /// number of samples whose value is not stored here: values of a clone or fetch
    /// not fetched yet (`fetch_data` brings them). Columns with none are left out. A
    /// repository that never fetched from a remote cannot miss values this way, and no
    /// record is read for it.
    pub fn not_fetched(&self, at: Option<&str>) -> Result<Vec<(String, u64)>> {
        let shared = self.shared().clone();
        let no_manifest =
            local::entries(&local::manifests_dir(&shared.hangar)).map_or(true, |e| e.is_empty());
        if no_manifest {
            return Ok(Vec::new());
        }
        let commit = match at {
            Some(rev) => self.resolve(rev)?,
            None => match self.branch_head(&self.staging_branch()?)? {
                Some(h) => h,
                None => return Ok(Vec::new()),
            },
        };
        let root = shared.read_root(&shared.read_commit(&commit.0)?.root)?;
        let mut out = Vec::new();
        for col in &root.columns {
            let Some(t) = col.tree else { continue };
            let schema = shared.read_schema(&col.schema)?;
            let mut local: DigestMap<bool> = DigestMap::default();
            let mut missing = 0u64;
            let mut seen_nodes = DigestSet::default();
            for_each_record(&shared, t.root, &mut seen_nodes, |_, raw| {
                if raw.is_empty() {
                    return Ok(()); // a nested sample's marker: no value
                }
                let rec = crate::checkout::decode_record(&shared, &col.name, &schema, raw)?;
                let Held::Stored(v) = rec.held else {
                    return Ok(());
                };
                let here = match local.get(&v) {
                    Some(&h) => h,
                    None => {
                        let h = shared.store.is_stored(&v)?;
                        local.insert(v, h);
                        h
                    }
                };
                missing += u64::from(!here);
                Ok(())
            })?;
            if missing > 0 {
                out.push((col.name.clone(), missing));
            }
        }
        Ok(out)
    }

    /// The values of `commit` (and with `opts.history` of its ancestors) that `opts`
    /// selects and are not stored here: (digest, index into the returned schemas, header).
    /// Record-table nodes are walked once however many commits share them.
    #[allow(clippy::type_complexity)]
    fn wanted_values(
        &self,
        commit: CommitId,
        opts: &FetchDataOptions,
        report: &mut FetchDataReport,
    ) -> Result<(Vec<(Digest, usize, OwnedHeader)>, Vec<ColumnSchema>)> {
        let shared = self.shared().clone();
        let head_root = shared.read_root(&shared.read_commit(&commit.0)?.root)?;
        for c in &opts.columns {
            if !head_root.columns.iter().any(|rc| &rc.name == c) {
                return Err(Error::NotFound(format!(
                    "commit {} has no column {c:?}",
                    commit.short()
                )));
            }
        }
        let commits: Vec<Digest> = if opts.history {
            crate::branch::ancestors(self, commit.0)?
                .into_iter()
                .collect()
        } else {
            vec![commit.0]
        };
        let keys: Option<std::collections::HashSet<&SampleKey>> =
            opts.keys.as_ref().map(|k| k.iter().collect());
        let subs: std::collections::HashSet<(&SampleKey, &SampleKey)> =
            opts.subsamples.iter().map(|(a, b)| (a, b)).collect();
        let filtered = keys.is_some() || !subs.is_empty() || opts.range.is_some();
        // What `require_keys` checks: the keys and subsamples some record matched.
        let mut found_keys: std::collections::HashSet<SampleKey> = Default::default();
        let mut found_subs: std::collections::HashSet<(SampleKey, SampleKey)> = Default::default();
        let mut want = Vec::new();
        let mut schemas: Vec<ColumnSchema> = Vec::new();
        let mut schema_index: DigestMap<usize> = DigestMap::default();
        let (mut seen_nodes, mut seen_values) = (DigestSet::default(), DigestSet::default());
        for c in commits {
            let root = shared.read_root(&shared.read_commit(&c)?.root)?;
            for col in &root.columns {
                if !opts.columns.is_empty() && !opts.columns.contains(&col.name) {
                    continue;
                }
                let Some(t) = col.tree else { continue };
                let ci = match schema_index.get(&col.schema) {
                    Some(&i) => i,
                    None => {
                        schemas.push(shared.read_schema(&col.schema)?);
                        schema_index.insert(col.schema, schemas.len() - 1);
                        schemas.len() - 1
                    }
                };
                let schema = &schemas[ci];
                for_each_record(&shared, t.root, &mut seen_nodes, |key, raw| {
                    if filtered {
                        let key = crate::diff::split_key(&shared, key)?;
                        let by_key = keys.as_ref().is_some_and(|ks| ks.contains(&key.sample));
                        let by_sub = match &key.subsample {
                            Some(sub) if subs.contains(&(&key.sample, sub)) => {
                                if opts.require_keys {
                                    found_subs.insert((key.sample.clone(), sub.clone()));
                                }
                                true
                            }
                            _ => false,
                        };
                        if by_key && opts.require_keys {
                            found_keys.insert(key.sample.clone());
                        }
                        if (keys.is_some() || !subs.is_empty()) && !by_key && !by_sub {
                            return Ok(());
                        }
                        if let Some(r) = &opts.range {
                            match key.sample {
                                SampleKey::Int(n) if r.contains(&n) => {}
                                _ => return Ok(()),
                            }
                        }
                    }
                    if raw.is_empty() {
                        return Ok(()); // a nested sample's marker: no value
                    }
                    let rec = crate::checkout::decode_record(&shared, &col.name, schema, raw)?;
                    let Held::Stored(v) = rec.held else {
                        report.in_records += 1;
                        return Ok(());
                    };
                    if !seen_values.insert(v) {
                        return Ok(());
                    }
                    if shared.store.is_stored(&v)? {
                        report.already_local += 1;
                        return Ok(());
                    }
                    want.push((v, ci, header_of(schema, &rec)));
                    Ok(())
                })?;
            }
        }
        if opts.require_keys {
            let at = || {
                let cols = if opts.columns.is_empty() {
                    "any column".to_string()
                } else {
                    format!("column {}", opts.columns.join(", "))
                };
                format!("{cols} of commit {}", commit.short())
            };
            if let Some(k) = opts
                .keys
                .iter()
                .flatten()
                .find(|k| !found_keys.contains(*k))
            {
                return Err(Error::NotFound(format!(
                    "sample {} is not in {}; nothing was fetched",
                    crate::checkout::show_key(k),
                    at()
                )));
            }
            if let Some((k, sub)) = opts
                .subsamples
                .iter()
                .find(|(k, sub)| !found_subs.contains(&(k.clone(), sub.clone())))
            {
                return Err(Error::NotFound(format!(
                    "subsample {} of sample {} is not in {}; nothing was fetched",
                    crate::checkout::show_key(sub),
                    crate::checkout::show_key(k),
                    at()
                )));
            }
        }
        // Segment order follows the remote's bundles, not the walk.
        Ok((want, schemas))
    }
}

/// Calls `f(key, record)` for every record of the record table rooted at `root` (a
/// nested sample's marker has an empty record), skipping subtrees already in `seen_nodes` (so
/// that tables sharing nodes are walked once) and adding the rest to it.
fn for_each_record(
    shared: &crate::shared::Shared,
    root: Digest,
    seen_nodes: &mut DigestSet,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        if !seen_nodes.insert(d) {
            continue;
        }
        let node = shared.node(&d)?;
        if node.level() > 0 {
            stack.extend((0..node.len()).map(|i| node.child(i).0));
            continue;
        }
        for i in 0..node.len() {
            f(node.key(i), node.value(i))?;
        }
    }
    Ok(())
}

/// Reads the wanted ranges of several bundles: whole bundles (when the ranges cover
/// most of one) a few at a time, each checked against its name; the rest as ranges
/// ([`read_ranges`]). Counts the bytes received.
pub(super) fn read_bundles(
    conn: &Conn,
    wants: &[(Bundle, Vec<Range<u64>>)],
    received: &mut u64,
) -> Result<Vec<Vec<bytes::Bytes>>> {
    let whole = |(b, ranges): &(Bundle, Vec<Range<u64>>)| {
        ranges
            .iter()
            .map(|r| r.end - r.start)
            .sum::<u64>()
            .saturating_mul(2)
            >= b.len
    };
    let keys: Vec<String> = wants
        .iter()
        .filter(|w| whole(w))
        .map(|w| w.0.key())
        .collect();
    let mut got = conn.get_many(&keys)?.into_iter();
    let mut out = Vec::with_capacity(wants.len());
    for w in wants {
        let (bundle, ranges) = w;
        if !whole(w) {
            out.push(read_ranges(conn, bundle, ranges, received)?);
            continue;
        }
        let key = bundle.key();
        let all = got
            .next()
            .flatten()
            .ok_or_else(|| missing_bundle(conn, &key))?;
        *received += all.len() as u64;
        if all.len() as u64 != bundle.len || super::wire::content_name(&all) != bundle.name {
            return Err(damaged(conn, &key, "does not hash to its name"));
        }
        out.push(
            ranges
                .iter()
                .map(|r| all.slice(r.start as usize..r.end as usize))
                .collect(),
        );
    }
    Ok(out)
}

/// Reads `ranges` of one bundle: the whole bundle in one request when the ranges cover
/// most of it ([`read_bundles`]), otherwise the ranges, merged where they lie within a
/// small gap. The returned buffers are the ranges' bytes, in order. Counts the bytes
/// received.
pub(super) fn read_ranges(
    conn: &Conn,
    bundle: &Bundle,
    ranges: &[Range<u64>],
    received: &mut u64,
) -> Result<Vec<bytes::Bytes>> {
    let wanted: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    if wanted.saturating_mul(2) >= bundle.len {
        return Ok(read_bundles(conn, &[(*bundle, ranges.to_vec())], received)?.remove(0));
    }
    let key = bundle.key();
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
    let mut out = vec![bytes::Bytes::new(); ranges.len()];
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
        out[i] = b.slice((r.start - m.start) as usize..(r.end - m.start) as usize);
    }
    *received += got.iter().map(|b| b.len() as u64).sum::<u64>();
    Ok(out)
}

pub(super) fn check_crc(
    conn: &Conn,
    bundle: &Bundle,
    d: &Digest,
    loc: &Loc,
    b: &[u8],
) -> Result<()> {
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
