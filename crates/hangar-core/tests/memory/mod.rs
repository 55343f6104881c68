//! What the memory tests (each a binary of its own) share: the process's anonymous
//! memory, and a large staged import of u8[64] values.

use hangar_core::{DType, NdArraySpec, Repository, TensorRef, WriterCheckout, WriterColumn};

/// The process's resident anonymous memory in KiB (`RssAnon` of /proc/self/status).
pub fn rss_anon_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The value staged under key `i`.
pub fn value(i: u64) -> [u8; 64] {
    std::array::from_fn(|j| (i as usize * 7 + j) as u8)
}

/// Stages `value(i)` under `i` for every `i` in `keys`, 50,000 a call.
pub fn stage(c: &WriterColumn, keys: std::ops::Range<u64>) {
    let chunk = 50_000u64;
    for start in keys.clone().step_by(chunk as usize) {
        let end = (start + chunk).min(keys.end);
        let bytes: Vec<u8> = (start..end).flat_map(value).collect();
        c.extend_from_buffer(
            start..end,
            TensorRef::new(&bytes, &[(end - start) as usize, 64]),
        )
        .unwrap();
    }
}

/// A new repository whose writer checkout has column `x` (u8[64]) holding `value(i)`
/// staged under every `i` in `0..n`; `None`, with a note that the test is skipped, where
/// /proc/self/status has no `RssAnon` to measure.
pub fn staged_column(n: u64) -> Option<(tempfile::TempDir, Repository, WriterCheckout)> {
    if rss_anon_kib().is_none() {
        eprintln!("skipped: no /proc/self/status RssAnon on this system");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path(), "Tester", "tester@example.com", false).unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("x", NdArraySpec::with_shape(DType::U8, &[64]))
        .unwrap();
    stage(&c, 0..n);
    Some((dir, repo, co))
}
