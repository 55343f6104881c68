//! `WriterCheckout::defer_staging_view`: puts journalled but not applied in memory, the
//! view rebuilt from the journal when something reads it.

use hangar_core::{DType, NdArraySpec, Status, TensorRef};

use crate::{kill9, new_repo, spawn_child, u8s};

fn rows(n: u32, salt: u8) -> Vec<u8> {
    (0..n).flat_map(|i| [(i as u8) ^ salt; 4]).collect()
}

#[test]
fn deferred_puts_read_back_commit_and_reopen_exactly() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("x", NdArraySpec::with_shape(DType::U8, &[4]))
        .unwrap();
    c.set("before", TensorRef::new(&[1u8; 4], &[4])).unwrap();
    co.defer_staging_view(true).unwrap();
    let journal = repo.hangar_dir().join("staging/journal");
    let journal_before = std::fs::metadata(&journal).unwrap().len();
    c.extend_from_buffer(0..500u64, TensorRef::new(&rows(500, 0), &[500, 4]))
        .unwrap();
    // A second batch overwrites half of the first: the later put wins after the rebuild.
    c.extend_from_buffer(250..750u64, TensorRef::new(&rows(500, 0x55), &[500, 4]))
        .unwrap();
    c.set("one", TensorRef::new(&[7u8; 4], &[4])).unwrap();
    c.update([(9000u64, TensorRef::new(&[9u8; 4], &[4]))])
        .unwrap();
    // The base is current without a rebuild; every put is already in the journal.
    assert_eq!(co.branch_name().unwrap(), "master");
    assert!(std::fs::metadata(&journal).unwrap().len() > journal_before + 750 * 4);
    // The first read rebuilds the view from the journal.
    assert_eq!(c.len().unwrap(), 753);
    assert_eq!(u8s(&c.get(10u64).unwrap()), [10u8; 4]);
    assert_eq!(u8s(&c.get(300u64).unwrap()), [(50u8) ^ 0x55; 4]);
    assert_eq!(u8s(&c.get("one").unwrap()), [7u8; 4]);
    assert_eq!(u8s(&c.get("before").unwrap()), [1u8; 4]);
    assert!(matches!(co.status().unwrap(), Status::Dirty(_)));
    // The deferral ended with the rebuild: later puts are seen at once.
    c.set("after", TensorRef::new(&[3u8; 4], &[4])).unwrap();
    assert_eq!(c.len().unwrap(), 754);
    co.commit("deferred").unwrap();
    co.close().unwrap();
    let r = repo.checkout_branch("master").unwrap();
    let rc = r.column("x").unwrap();
    assert_eq!(rc.len().unwrap(), 754);
    assert_eq!(
        u8s(&rc.get(749u64).unwrap()),
        [(749u32 - 250) as u8 ^ 0x55; 4]
    );
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn a_writer_closed_after_deferred_puts_leaves_them_staged() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    co.defer_staging_view(true).unwrap();
    let c = co
        .add_ndarray_column("x", NdArraySpec::with_shape(DType::U8, &[4]))
        .unwrap();
    let session = co.bulk().unwrap();
    c.extend_from_buffer(0..300u64, TensorRef::new(&rows(300, 0), &[300, 4]))
        .unwrap();
    session.finish().unwrap();
    co.close().unwrap();
    let co = repo.checkout_writer().unwrap();
    let c = co.column("x").unwrap();
    assert_eq!(c.len().unwrap(), 300);
    assert_eq!(u8s(&c.get(299u64).unwrap()), [299u32 as u8; 4]);
}

#[test]
fn deferred_puts_survive_kill_9() {
    let (dir, repo) = new_repo();
    let (child, _) = spawn_child("stage_deferred", dir.path());
    kill9(child);
    let co = repo.checkout_writer().unwrap();
    let c = co.column("deferred").unwrap();
    assert_eq!(c.len().unwrap(), 1001);
    assert_eq!(u8s(&c.get(999u64).unwrap()), [999u32 as u8; 4]);
    assert_eq!(u8s(&c.get("one").unwrap()), [7u8; 4]);
    co.commit("rescued").unwrap();
    co.close().unwrap();
    assert!(repo.verify().unwrap().is_ok());
}

/// A failed all-or-nothing run is undone also when its puts were deferred and a read
/// rebuilt the view in between (the rebuilt writer continues the savepoint's journal,
/// here one compacted before the savepoint).
#[test]
fn all_or_nothing_undoes_deferred_puts_across_a_rebuild() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    co.set_journal_compaction_threshold(1 << 16).unwrap();
    let c = co
        .add_ndarray_column("x", NdArraySpec::with_shape(DType::U8, &[4096]))
        .unwrap();
    // Compacted at least once before the savepoint.
    for i in 0..64u32 {
        let v = vec![i as u8; 4096];
        c.set(u64::from(i % 4), TensorRef::new(&v, &[4096]))
            .unwrap();
    }
    co.flush().unwrap();
    let journal = repo.hangar_dir().join("staging/journal");
    let before = std::fs::read(&journal).unwrap();
    assert!(before.len() < 64 * 4096, "the journal was compacted");
    co.defer_staging_view(true).unwrap();
    let r: hangar_core::Result<()> = co.all_or_nothing(|| {
        let big = vec![5u8; 4096 * 100];
        c.extend_from_buffer(100..200u64, TensorRef::new(&big, &[100, 4096]))?;
        assert_eq!(c.len()?, 104); // a read: the view is rebuilt from the journal
        c.set(500u64, TensorRef::new(&[6u8; 4096], &[4096]))?;
        Err(hangar_core::Error::InvalidArgument("the run failed".into()))
    });
    assert_eq!(r.unwrap_err().to_string(), "the run failed");
    let after = std::fs::read(&journal).unwrap();
    assert!(
        after == before,
        "journal {} bytes, {} before",
        after.len(),
        before.len()
    );
    assert_eq!(c.len().unwrap(), 4);
    assert!(!c.contains(150u64).unwrap());
    assert_eq!(u8s(&c.get(3u64).unwrap()), [63u8; 4096]);
    co.close().unwrap();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(co.column("x").unwrap().len().unwrap(), 4);
}
