//! A read-only view of a large staging area (what `hangar status` and `hangar diff
//! --staged` take, without the writer lock) maps a staging journal longer than 32 MiB and
//! keeps the records it replays as slices of the map, as the writer does: its anonymous
//! memory grows by the keys, not by the records. A roll-back by the live writer, which
//! cuts the journal below what the view mapped, leaves the view whole (a journal that
//! long is cut into a new file; cut in place, the view's next read would end the
//! process with SIGBUS). A binary of its own, so no other test's allocations share the
//! process while it measures.
#![allow(clippy::unwrap_used)]

mod memory;

use hangar_core::{Error, Status, TensorRef, Value};
use memory::{rss_anon_kib, stage, staged_column, value};

fn tensor_bytes(v: Value) -> Vec<u8> {
    match v {
        Value::Tensor(t) => t.as_bytes().to_vec(),
        other => panic!("not a tensor: {other:?}"),
    }
}

fn inode(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn a_view_beside_the_writer_maps_a_long_journal_and_survives_its_roll_back() {
    // 600,000 values of u8[64], each inline in its 65-byte record: 39 MB of records.
    let n = 600_000u64;
    let Some((dir, repo, co)) = staged_column(n) else {
        return;
    };
    let c = co.column("x").unwrap();
    let journal = dir.path().join(".hangar/staging/journal");
    let long = std::fs::metadata(&journal).unwrap().len();
    assert!(long > 32 << 20, "the journal holds {long} bytes");

    // A view taken beside the live writer.
    let before = rss_anon_kib().unwrap();
    let view = repo.staged_records_view().unwrap();
    match view.status().unwrap() {
        Status::Dirty(s) => assert_eq!(s.samples, vec![("x".to_string(), n as usize, 0)]),
        Status::Clean => panic!("the staged import is not seen"),
    }
    let grown_kib = rss_anon_kib().unwrap().saturating_sub(before);
    // The keys (9 bytes each) and a kind byte per record: ~6 MB. A copy of the records
    // would add 39 MB.
    assert!(
        grown_kib < 16 * 1024,
        "taking the view grew anonymous memory by {grown_kib} KiB"
    );
    let vx = view.column("x").unwrap();
    for i in [0, 49_999, 50_000, 333_333, n - 1] {
        assert_eq!(tensor_bytes(vx.get(i).unwrap()), value(i), "sample {i}");
    }

    // The writer stages 2,000 more samples (130 KB of records, pages past the journal's
    // length before), a second view sees them, and the writer then rolls them back: the
    // journal is cut below what the second view mapped.
    let more = 2_000u64;
    let mut inside = None;
    let undone: Result<(), Error> = co.all_or_nothing(|| {
        stage(&c, n..n + more);
        inside = Some(repo.staged_view()?);
        Err(Error::InvalidArgument("undo it".into()))
    });
    assert!(undone.is_err());
    let inside = inside.unwrap();
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), long);
    // Both views read every sample they saw, the rolled-back ones included (each shows
    // the staging area as its journal held it when the view was taken).
    let ix = inside.column("x").unwrap();
    assert_eq!(ix.len().unwrap(), (n + more) as usize);
    for i in [0, 123_457, n - 1, n, n + more - 1] {
        assert_eq!(tensor_bytes(ix.get(i).unwrap()), value(i), "sample {i}");
    }
    for i in [0, 123_457, n - 1] {
        assert_eq!(tensor_bytes(vx.get(i).unwrap()), value(i), "sample {i}");
    }
    assert!(!vx.contains(n).unwrap());
    // The writer and a new view no longer have it; the writer goes on and commits.
    assert!(!c.contains(n).unwrap());
    assert!(!repo
        .staged_records_view()
        .unwrap()
        .column("x")
        .unwrap()
        .contains(n)
        .unwrap());
    let cut = inode(&journal);
    let last = n + more;
    c.set(last, TensorRef::new(&value(last), &[64])).unwrap();
    assert_eq!(inode(&journal), cut);
    co.commit("all of it").unwrap();
    let r = repo.checkout().unwrap();
    let rx = r.column("x").unwrap();
    assert_eq!(rx.len().unwrap(), n as usize + 1);
    assert_eq!(tensor_bytes(rx.get(last).unwrap()), value(last));
    assert!(!rx.contains(n).unwrap());
    // The views taken before the commit still read what they saw.
    assert_eq!(
        tensor_bytes(ix.get(n + more - 1).unwrap()),
        value(n + more - 1)
    );
    assert_eq!(tensor_bytes(vx.get(n - 1).unwrap()), value(n - 1));
}
