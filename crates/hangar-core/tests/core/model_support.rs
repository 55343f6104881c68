//! What the model tests (`gc_model`, `remote_model`, `nested_model`) share: two
//! columns, the values they store, a commit's content, the commit graph, reading a
//! column whole and the three-way merge rule.

use std::collections::{BTreeMap, BTreeSet};

use hangar_core::{Column, CommitId, Compression, DType, NdArraySpec, RecordSource, SampleKey};

/// Column 0 holds u8[200] values (in segments, not inline), column 1 up to 160 bytes
/// compressed with zstd.
pub const COLUMNS: [&str; 2] = ["a", "z"];
const A_LEN: usize = 200;
const Z_MAX: usize = 160;

pub fn key(k: u8) -> SampleKey {
    if k.is_multiple_of(2) {
        SampleKey::Int(u64::from(k))
    } else {
        SampleKey::Str(format!("k{k}"))
    }
}

/// The value `seed` puts under key `k` of column `col`: distinct per (col, k, seed).
pub fn value(col: u8, k: u8, seed: u8) -> Vec<u8> {
    if col == 0 {
        (0..A_LEN)
            .map(|j| seed.wrapping_mul(31) ^ k.wrapping_mul(7) ^ (j as u8))
            .collect()
    } else {
        let len = 24 + usize::from(seed) % (Z_MAX - 24);
        // Runs, so zstd has something to compress.
        (0..len)
            .map(|j| seed.wrapping_add(k).wrapping_add((j / 8) as u8))
            .collect()
    }
}

/// A commit's (or the staging area's) content: per column, key → value bytes.
pub type Content = [BTreeMap<SampleKey, Vec<u8>>; 2];

pub fn spec(col: usize) -> NdArraySpec {
    if col == 0 {
        NdArraySpec::with_shape(DType::U8, &[A_LEN])
    } else {
        NdArraySpec::with_shape(DType::U8, &[Z_MAX])
            .variable_shape(true)
            .compression(Compression::Zstd(1))
    }
}

/// The three-way merge of `ours` and `theirs` against `base`, or None on a conflict.
pub fn three_way(base: &Content, ours: &Content, theirs: &Content) -> Option<Content> {
    let mut out = Content::default();
    for col in 0..2 {
        let keys: BTreeSet<&SampleKey> = base[col]
            .keys()
            .chain(ours[col].keys())
            .chain(theirs[col].keys())
            .collect();
        for k in keys {
            let (b, o, t) = (base[col].get(k), ours[col].get(k), theirs[col].get(k));
            let v = if o == t || t == b {
                o
            } else if o == b {
                t
            } else {
                return None;
            };
            if let Some(v) = v {
                out[col].insert(k.clone(), v.clone());
            }
        }
    }
    Some(out)
}

/// Every commit a model made: its parents and what it holds.
pub type Commits = BTreeMap<CommitId, (Vec<CommitId>, Content)>;

/// The commits reachable from `from` (themselves included).
pub fn reachable(
    commits: &Commits,
    from: impl IntoIterator<Item = CommitId>,
) -> BTreeSet<CommitId> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<CommitId> = from.into_iter().collect();
    while let Some(c) = todo.pop() {
        if seen.insert(c) {
            todo.extend(commits[&c].0.iter().copied());
        }
    }
    seen
}

/// Every sample of a flat ndarray column (a reader's, the writer's or a staged view's)
/// and its bytes.
pub fn column_values<S: RecordSource>(c: &Column<S>) -> BTreeMap<SampleKey, Vec<u8>> {
    c.items()
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (k, v.into_tensor().unwrap().as_bytes().to_vec())
        })
        .collect()
}
