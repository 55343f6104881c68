//! Regressions found by the reliability suites (crates/hangar-reliability), named after
//! what broke.

use hangar_core::{DType, NdArraySpec, Repository, TensorRef};

use crate::repo_with_commit;

#[test]
fn a_handle_opened_before_another_handle_commits_reads_the_new_commit() {
    // The concurrency suite's reader processes saw "commit … is referenced but not
    // stored": their index listing predated the commit the ref named.
    let (dir, repo, _) = repo_with_commit();
    let other = Repository::open(dir.path()).unwrap();
    assert_eq!(
        other
            .checkout()
            .unwrap()
            .column("imgs")
            .unwrap()
            .len()
            .unwrap(),
        3
    );
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set("new", TensorRef::new(&[9u8; 6], &[2, 3]))
        .unwrap();
    let id = co.commit("from the first handle").unwrap();
    co.close().unwrap();
    let reader = other.checkout().unwrap();
    assert_eq!(reader.commit_hash(), id);
    let v = reader.column("imgs").unwrap().get("new").unwrap();
    assert_eq!(v.into_tensor().unwrap().as_bytes(), &[9u8; 6]);
    assert!(other.checkout_commit(&id.to_hex()).is_ok());
}

#[test]
fn temporary_ref_files_are_removed_when_a_writer_opens() {
    let (dir, repo, _) = repo_with_commit();
    let heads = dir.path().join(".hangar/refs/heads");
    let tmp = heads.join(format!(
        ".master{}999-1",
        hangar_store::internal::fsutil::TMP_MARKER
    ));
    std::fs::write(&tmp, b"0123").unwrap();
    repo.checkout_writer().unwrap().close().unwrap();
    assert!(!tmp.exists(), "a torn temporary ref file stayed");
    assert_eq!(repo.branches().unwrap().len(), 1);
}

#[test]
fn an_undecodable_journal_next_is_discarded_when_its_commit_did_not_land() {
    let (dir, repo, head) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set("x", TensorRef::new(&[1u8; 6], &[2, 3]))
        .unwrap();
    co.close().unwrap();
    let next = dir.path().join(".hangar/staging/journal.next");
    for junk in [&b""[..], b"HGJ", b"HGJRNL0"] {
        std::fs::write(&next, junk).unwrap();
        let co = repo.checkout_writer().unwrap();
        assert!(!next.exists());
        assert!(co.column("imgs").unwrap().contains("x").unwrap());
        assert_eq!(co.commit_hash().unwrap(), Some(head));
        co.close().unwrap();
    }
}

#[test]
fn a_branch_ref_lost_outside_libhangar_is_reported_by_verify() {
    let (dir, repo, _) = repo_with_commit();
    repo.create_branch("dev", None).unwrap();
    repo.create_branch("gone", None).unwrap();
    repo.remove_branch("gone", true).unwrap();
    assert!(
        repo.verify().unwrap().is_ok(),
        "a deleted branch is not a problem"
    );
    std::fs::remove_file(dir.path().join(".hangar/refs/heads/dev")).unwrap();
    let report = repo.verify().unwrap();
    assert!(!report.is_ok());
    assert!(
        report.to_string().contains("\"dev\" is missing"),
        "{report}"
    );
    let co = repo.checkout_writer().unwrap();
    co.add_ndarray_column("more", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    co.close().unwrap();
}
