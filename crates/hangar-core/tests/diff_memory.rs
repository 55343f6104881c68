//! The diff a command shows (`hangar show`, `hangar diff` without `--all`) counts the
//! changed keys of two commits as it walks their record tables and keeps the first few:
//! its anonymous memory does not grow with the size of the change. A binary of its own,
//! so no other test's allocations share the process while it measures.
#![allow(clippy::unwrap_used)]

mod memory;

use hangar_core::{KeyTotals, Repository};
use memory::{rss_anon_kib, staged_column};

#[test]
fn a_shown_diff_of_a_large_commit_counts_its_keys_without_gathering_them() {
    // 400,000 samples added by one commit, 100,000 of them changed by the next.
    let n = 400_000u64;
    let Some((dir, repo, co)) = staged_column(n) else {
        return;
    };
    let first = co.commit("all of it").unwrap();
    let c = co.column("x").unwrap();
    for i in (0..n).step_by(4) {
        c.set(i, hangar_core::TensorRef::new(&[9u8; 64], &[64]))
            .unwrap();
    }
    let second = co.commit("a quarter changed").unwrap();
    co.close().unwrap();
    drop(repo);

    let repo = Repository::open(dir.path()).unwrap();
    let before = rss_anon_kib().unwrap();
    let added = repo.diff_introduced_shown(first, 20).unwrap();
    let changed = repo
        .diff_shown(&first.to_string(), &second.to_string(), 20)
        .unwrap();
    let grown_kib = rss_anon_kib().unwrap().saturating_sub(before);

    let col = &added.columns[0];
    assert_eq!(
        col.totals,
        KeyTotals {
            added: n as usize,
            deleted: 0,
            mutated: 0
        }
    );
    assert_eq!(col.added.len(), 20);
    let col = &changed.columns[0];
    assert_eq!(col.totals.mutated, n as usize / 4);
    assert_eq!((col.totals.added, col.totals.deleted), (0, 0));
    assert_eq!(col.mutated.len(), 20);
    // Gathering every changed record (its key and its 65-byte inline record, as the diff
    // of two tables once returned them) grew it by 38 MiB for the first diff; keeping
    // the leaves read in the node cache grew it by as much again.
    assert!(
        grown_kib < 16 * 1024,
        "two shown diffs grew anonymous memory by {grown_kib} KiB"
    );
}
