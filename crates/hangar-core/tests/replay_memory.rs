//! A writer that opens over a large staged import keeps the records it replays as
//! slices of its mapped staging journal: its anonymous memory grows by the keys, not by
//! the records. A binary of its own, so no other test's allocations share the process
//! while it measures.
#![allow(clippy::unwrap_used)]

mod memory;

use hangar_core::{TensorRef, Value};
use memory::{rss_anon_kib, staged_column, value};

#[test]
fn a_reopened_writer_keeps_the_staged_records_in_its_journal_map() {
    // 400,000 values of u8[64], each inline in its 65-byte record: 26 MB of records.
    let n = 400_000u64;
    let Some((dir, repo, co)) = staged_column(n) else {
        return;
    };
    co.close().unwrap();
    let journal = dir.path().join(".hangar/staging/journal");
    assert!(std::fs::metadata(&journal).unwrap().len() > 26_000_000);

    let before = rss_anon_kib().unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co.column("x").unwrap();
    assert_eq!(c.len().unwrap(), n as usize);
    let grown_kib = rss_anon_kib().unwrap().saturating_sub(before);
    // The keys (9 bytes each) and a kind byte per record: ~4 MB. A copy of the records
    // would add 26 MB.
    assert!(
        grown_kib < 12 * 1024,
        "opening the writer grew anonymous memory by {grown_kib} KiB"
    );
    // And every record reads back as staged, through the map.
    for i in [0, 1, 49_999, 50_000, 123_457, n - 1] {
        match c.get(i).unwrap() {
            Value::Tensor(t) => assert_eq!(t.as_bytes(), value(i), "sample {i}"),
            other => panic!("not a tensor: {other:?}"),
        }
    }
    // Staged further, committed, and read back from the commit.
    c.set(n, TensorRef::new(&value(n), &[64])).unwrap();
    co.commit("all of it").unwrap();
    let c = co.column("x").unwrap();
    assert_eq!(c.len().unwrap(), n as usize + 1);
    match c.get(123_457u64).unwrap() {
        Value::Tensor(t) => assert_eq!(t.as_bytes(), value(123_457)),
        other => panic!("not a tensor: {other:?}"),
    }
}
