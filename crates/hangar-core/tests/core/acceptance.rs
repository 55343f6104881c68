//! Acceptance scenarios of shared/reference/hangar-py-features.md §3.2 that the engine
//! core covers (branches, diff and merge come with the version-control work).

use hangar_core::{
    DType, ErrorKind, NdArraySpec, Repository, SampleKey, Status, TensorRef, ValueRef,
};

use crate::{kind, new_repo, u8s};

#[test]
fn scenario_01_init_idempotence() {
    let (dir, repo) = new_repo();
    assert_eq!(
        repo.branches().unwrap(),
        vec![hangar_core::Branch {
            name: "master".to_string(),
            head: None
        }]
    );
    assert!(!repo.writer_lock_held().unwrap());
    let co = repo.checkout_writer().unwrap();
    assert_eq!(co.branch_name().unwrap(), "master");
    co.close().unwrap();
    assert_eq!(
        kind(Repository::init(dir.path(), "U", "e@x", false)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        Repository::open(dir.path()).unwrap().user().unwrap().name,
        "Tester"
    );
}

#[test]
fn scenario_02_uninitialised_access() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(kind(Repository::open(dir.path())), ErrorKind::NotFound);
}

#[test]
fn scenario_03_empty_commit_refused() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(kind(co.commit("empty")), ErrorKind::NothingToCommit);
    assert!(repo.log(None).unwrap().entries.is_empty());
    co.add_str_column("s").unwrap();
    co.commit("one").unwrap();
    assert_eq!(kind(co.commit("empty again")), ErrorKind::NothingToCommit);
    assert_eq!(repo.log(None).unwrap().entries.len(), 1);
}

#[test]
fn scenario_04_single_writer() {
    let (_dir, repo) = new_repo();
    let w1 = repo.checkout_writer().unwrap();
    w1.add_str_column("s").unwrap().set("k", "v").unwrap();
    w1.commit("c").unwrap();
    assert_eq!(kind(repo.checkout_writer()), ErrorKind::Locked);
    repo.checkout().unwrap();
    w1.close().unwrap();
    repo.checkout_writer().unwrap();
}

/// DESIGN §3.7 departs from the original on purpose: the OS lock cannot go stale, so
/// force-release refuses while the holder lives (naming it) and the holder keeps working.
#[test]
fn scenario_05_force_release_never_breaks_a_live_writer() {
    let (_dir, repo) = new_repo();
    let w1 = repo.checkout_writer().unwrap();
    assert_eq!(kind(repo.force_release_writer_lock()), ErrorKind::Locked);
    assert_eq!(kind(repo.checkout_writer()), ErrorKind::Locked);
    w1.add_str_column("still_works").unwrap();
    drop(w1);
    repo.force_release_writer_lock().unwrap();
    let w2 = repo.checkout_writer().unwrap();
    assert!(w2.has_column("still_works").unwrap());
}

#[test]
fn scenario_06_column_name_rules() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    for bad in ["bad name", "bädname", "a:b", &"a".repeat(65)] {
        assert_eq!(kind(co.add_str_column(bad)), ErrorKind::InvalidArgument);
    }
    co.add_str_column("ok_name-1.2").unwrap();
    assert_eq!(
        kind(co.add_str_column("ok_name-1.2")),
        ErrorKind::AlreadyExists
    );
}

#[test]
fn scenario_07_fixed_shape_validation() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("f", NdArraySpec::with_shape(DType::F32, &[5, 5]))
        .unwrap();
    assert_eq!(
        kind(c.set("a", TensorRef::new(&[0f64; 25], &[5, 5]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(c.set("b", TensorRef::new(&[0f32; 20], &[4, 5]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(kind(c.set("c", "not an array")), ErrorKind::InvalidArgument);
    assert_eq!(c.len().unwrap(), 0);
    assert_eq!(
        co.status().unwrap(),
        Status::Dirty(hangar_core::StagedChanges {
            columns_added: vec!["f".into()],
            ..Default::default()
        })
    );
}

#[test]
fn scenario_08_variable_shape_bounds() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column(
            "v",
            NdArraySpec::with_shape(DType::U8, &[10, 10]).variable_shape(true),
        )
        .unwrap();
    let d: Vec<u8> = (100..121).collect();
    c.set("a", TensorRef::new(&d, &[3, 7])).unwrap();
    let t = c.get("a").unwrap().into_tensor().unwrap();
    assert_eq!((t.shape(), t.as_bytes()), (&[3usize, 7][..], &d[..]));
    assert_eq!(
        kind(c.set("b", TensorRef::new(&[0u8; 77], &[11, 7]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(c.set("c", TensorRef::new(&[0u8; 3], &[3]))),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn scenario_09_key_identity_and_rules() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    c.set(1u64, TensorRef::new(&[1u8], &[1])).unwrap();
    c.set("1", TensorRef::new(&[2u8], &[1])).unwrap();
    assert_eq!(c.len().unwrap(), 2);
    assert_eq!(
        (u8s(&c.get(1u64).unwrap()), u8s(&c.get("1").unwrap())),
        (vec![1], vec![2])
    );
    assert!(SampleKey::try_from(-1i64).is_err());
    // Floats cannot be keys at all in this API; the command-line form rejects them.
    assert_eq!(
        kind(SampleKey::parse("int:1.5")),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(c.set("a b", TensorRef::new(&[0u8], &[1]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(c.set("k".repeat(65), TensorRef::new(&[0u8], &[1]))),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn scenario_10_bit_exact_round_trip_and_shape_aware_hashing() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column(
            "z",
            NdArraySpec::with_shape(DType::F32, &[1, 1, 25, 25]).variable_shape(true),
        )
        .unwrap();
    c.set("tall", TensorRef::new(&[0f32; 25], &[1, 1, 25, 1]))
        .unwrap();
    c.set("wide", TensorRef::new(&[0f32; 25], &[1, 1, 1, 25]))
        .unwrap();
    let i = co
        .add_ndarray_column("i", NdArraySpec::with_shape(DType::I32, &[25]))
        .unwrap();
    let f = co
        .add_ndarray_column("f", NdArraySpec::with_shape(DType::F32, &[25]))
        .unwrap();
    i.set("zero", TensorRef::new(&[0i32; 25], &[25])).unwrap();
    f.set("zero", TensorRef::new(&[0f32; 25], &[25])).unwrap();
    let id = co.commit("zeros").unwrap();
    co.close().unwrap();
    let r = repo.checkout_commit(&id.to_hex()).unwrap();
    assert_eq!(
        r.column("z")
            .unwrap()
            .get("tall")
            .unwrap()
            .into_tensor()
            .unwrap()
            .shape(),
        &[1, 1, 25, 1]
    );
    assert_eq!(
        r.column("z")
            .unwrap()
            .get("wide")
            .unwrap()
            .into_tensor()
            .unwrap()
            .shape(),
        &[1, 1, 1, 25]
    );
    assert_eq!(
        r.column("i")
            .unwrap()
            .get("zero")
            .unwrap()
            .into_tensor()
            .unwrap()
            .dtype(),
        DType::I32
    );
    assert_eq!(repo.verify().unwrap().values, 4);
}

#[test]
fn scenario_11_content_deduplication() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let a = co
        .add_ndarray_column("A", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    let b = co
        .add_ndarray_column(
            "B",
            NdArraySpec::with_shape(DType::U8, &[100]).variable_shape(true),
        )
        .unwrap();
    let x = [3u8; 100];
    a.set("k1", TensorRef::new(&x, &[100])).unwrap();
    a.set("k2", TensorRef::new(&x, &[100])).unwrap();
    b.set("k1", TensorRef::new(&x, &[100])).unwrap();
    co.commit("dedup").unwrap();
    co.close().unwrap();
    let report = repo.verify().unwrap();
    assert_eq!(report.values, 1);
    // Counts of one read in the singular (the C ABI hands this text out).
    let text = report.to_string();
    assert!(
        text.starts_with("checked 1 branch, 1 commit, ") && text.contains(", 1 value ("),
        "{text}"
    );
}

#[test]
fn scenario_12_atomic_multi_update() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::F32, &[5, 5]))
        .unwrap();
    let ok = [1f32; 25];
    let bad = [1f32; 20];
    let r = c.update([
        ("v1", TensorRef::new(&ok, &[5, 5])),
        ("v2", TensorRef::new(&bad, &[4, 5])),
    ]);
    assert_eq!(kind(r), ErrorKind::InvalidArgument);
    assert!(!c.contains("v1").unwrap() && !c.contains("v2").unwrap());
}

#[test]
fn scenario_13_str_and_bytes_columns() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let s = co.add_str_column("s").unwrap();
    s.set("k", "héllo wörld ✓").unwrap();
    assert_eq!(s.get("k").unwrap().into_str().unwrap(), "héllo wörld ✓");
    assert_eq!(
        kind(s.set("b", ValueRef::Bytes(b"x"))),
        ErrorKind::InvalidArgument
    );
    let big = "y".repeat(hangar_core::value::MAX_BLOB_BYTES + 1);
    assert_eq!(kind(s.set("big", big.as_str())), ErrorKind::InvalidArgument);
    let b = co.add_bytes_column("b").unwrap();
    b.set("k", ValueRef::Bytes(b"\x00\x01")).unwrap();
    assert_eq!(kind(b.set("s", "text")), ErrorKind::InvalidArgument);
}

#[test]
fn scenario_15_commit_digest_is_verified_on_every_read() {
    let (dir, repo, id) = crate::repo_with_commit();
    drop(repo);
    // Damage the pack holding the commit: every checkout of it must fail, not misread.
    let pack = std::fs::read_dir(dir.path().join(".hangar/packs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&pack).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0x04; // inside the last object: the commit
    std::fs::write(&pack, &bytes).unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    assert_eq!(kind(repo.checkout_commit(&id.to_hex())), ErrorKind::Corrupt);
    assert_eq!(kind(repo.checkout()), ErrorKind::Corrupt);
    assert!(!repo.verify().unwrap().is_ok());
}

#[test]
fn scenario_16_staged_status() {
    let (_dir, repo, _) = crate::repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    crate::stage_one_of_each_change(&co);
    let Status::Dirty(ch) = co.status().unwrap() else {
        panic!("dirty expected")
    };
    assert_eq!(ch.columns_added, ["devcol"]);
    assert!(ch.samples.contains(&("imgs".to_string(), 2, 1)));
    co.commit("dev").unwrap();
    assert_eq!(co.status().unwrap(), Status::Clean);
}

#[test]
fn scenario_24_hard_reset() {
    let (dir, repo, head) = crate::repo_with_commit();
    let segs = || {
        std::fs::read_dir(dir.path().join(".hangar/segments"))
            .unwrap()
            .count()
    };
    let before = segs();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set("new", TensorRef::new(&[77u8; 6], &[2, 3]))
        .unwrap();
    co.flush().unwrap();
    assert_eq!(co.reset_staging_area().unwrap(), Some(head));
    assert_eq!(segs(), before);
    assert_eq!(co.status().unwrap(), Status::Clean);
    assert_eq!(kind(co.reset_staging_area()), ErrorKind::NothingToCommit);
}

fn scenario_base() -> (tempfile::TempDir, Repository) {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("arr", NdArraySpec::with_shape(DType::I64, &[1]))
        .unwrap();
    for (k, v) in [("base1", 1i64), ("base2", 2), ("base3", 3)] {
        c.set(k, TensorRef::new(&[v], &[1])).unwrap();
    }
    co.commit("base").unwrap();
    co.close().unwrap();
    (dir, repo)
}

fn commit_on(
    repo: &Repository,
    branch: &str,
    f: impl FnOnce(&hangar_core::WriterColumn),
) -> hangar_core::CommitId {
    let co = repo.checkout_writer_branch(branch).unwrap();
    f(&co.column("arr").unwrap());
    let id = co.commit(&format!("on {branch}")).unwrap();
    co.close().unwrap();
    id
}

fn put(c: &hangar_core::WriterColumn, k: &str, v: i64) {
    c.set(k, TensorRef::new(&[v], &[1])).unwrap();
}

#[test]
fn scenario_17_branch_preconditions() {
    let (_dir, repo) = new_repo();
    assert_eq!(kind(repo.create_branch("dev", None)), ErrorKind::NotFound);
    let co = repo.checkout_writer().unwrap();
    co.add_str_column("s").unwrap();
    let head = co.commit("one").unwrap();
    co.close().unwrap();
    assert_eq!(repo.create_branch("dev", None).unwrap().head, Some(head));
    assert_eq!(
        kind(repo.create_branch("dev", None)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(repo.create_branch("a/b", None)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(repo.create_branch("bad name", None)),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn scenario_18_writer_branch_switching() {
    let (_dir, repo) = scenario_base();
    repo.create_branch("dev", None).unwrap();
    let co = repo.checkout_writer().unwrap();
    put(&co.column("arr").unwrap(), "x", 9);
    co.close().unwrap();
    assert_eq!(
        kind(repo.checkout_writer_branch("dev")),
        ErrorKind::DirtyStaging
    );
    assert!(!repo.writer_lock_held().unwrap());
    repo.checkout_writer()
        .unwrap()
        .reset_staging_area()
        .unwrap();
    let dev = repo.checkout_writer_branch("dev").unwrap();
    assert_eq!(dev.commit_hash().unwrap(), repo.branch_head("dev").unwrap());
    assert!(!dev.column("arr").unwrap().contains("x").unwrap());
}

/// 0.5.2 raised AlreadyUpToDate on the second merge; DESIGN §6 makes it a no-op.
#[test]
fn scenario_19_fast_forward_merge() {
    let (_dir, repo) = scenario_base();
    repo.create_branch("dev", None).unwrap();
    let dev = commit_on(&repo, "dev", |c| put(c, "d", 4));
    let before = repo.log(Some("master")).unwrap().entries.len();
    let out = repo.merge("not recorded", "master", "dev").unwrap();
    assert!(matches!(out, hangar_core::MergeOutcome::FastForward { to, .. } if to == dev));
    assert_eq!(repo.branch_head("master").unwrap(), Some(dev));
    assert_eq!(repo.log(Some("master")).unwrap().entries.len(), before + 1);
    assert!(repo
        .log(Some("master"))
        .unwrap()
        .entries
        .iter()
        .all(|e| e.commit.message != "not recorded"));
    assert!(matches!(
        repo.merge("again", "master", "dev").unwrap(),
        hangar_core::MergeOutcome::UpToDate { .. }
    ));
}

#[test]
fn scenario_20_three_way_merge_without_conflict() {
    let (_dir, repo) = scenario_base();
    repo.create_branch("dev", None).unwrap();
    let m = commit_on(&repo, "master", |c| put(c, "m1", 10));
    let d = commit_on(&repo, "dev", |c| {
        put(c, "d1", 20);
        put(c, "base1", 21);
        c.delete("base3").unwrap();
    });
    let out = repo.merge("merge", "master", "dev").unwrap();
    let head = out.head();
    assert_eq!(repo.commit_info(&head).unwrap().parents, vec![m, d]);
    let r = repo.checkout().unwrap().column("arr").unwrap();
    let keys: Vec<String> = r.keys().unwrap().map(|k| k.unwrap().to_string()).collect();
    assert_eq!(keys, ["base1", "base2", "d1", "m1"]);
    assert_eq!(
        r.get("base1")
            .unwrap()
            .into_tensor()
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        [21]
    );
}

#[test]
fn scenario_21_conflict_detection_refuses_the_merge() {
    let (_dir, repo) = scenario_base();
    repo.create_branch("c1", None).unwrap();
    repo.create_branch("c2", None).unwrap();
    let h1 = commit_on(&repo, "c1", |c| {
        put(c, "base2", 7);
        put(c, "newkey", 7);
        c.delete("base1").unwrap();
    });
    let h2 = commit_on(&repo, "c2", |c| {
        put(c, "base2", 8);
        put(c, "newkey", 8);
        put(c, "base1", 9);
    });
    let mut found: Vec<(String, hangar_core::ConflictKind)> = repo
        .merge_conflicts("c1", "c2")
        .unwrap()
        .into_iter()
        .map(|c| match c.scope {
            hangar_core::ConflictScope::Sample { key, .. } => (key, c.kind),
            other => panic!("{other:?}"),
        })
        .collect();
    found.sort();
    use hangar_core::ConflictKind::*;
    assert_eq!(
        found,
        [
            ("\"base1\"".to_string(), DeletedOursChangedTheirs),
            ("\"base2\"".to_string(), ChangedInBoth),
            ("\"newkey\"".to_string(), AddedInBoth)
        ]
    );
    assert_eq!(kind(repo.merge("x", "c1", "c2")), ErrorKind::Conflict);
    assert_eq!(
        (
            repo.branch_head("c1").unwrap(),
            repo.branch_head("c2").unwrap()
        ),
        (Some(h1), Some(h2))
    );
    // Control: the same addition and the same deletion on both sides merge cleanly.
    repo.create_branch("c3", Some("master")).unwrap();
    repo.create_branch("c4", Some("master")).unwrap();
    commit_on(&repo, "c3", |c| {
        put(c, "same", 5);
        c.delete("base3").unwrap();
    });
    commit_on(&repo, "c4", |c| {
        put(c, "same", 5);
        c.delete("base3").unwrap();
        put(c, "other", 1);
    });
    assert!(repo.merge_conflicts("c3", "c4").unwrap().is_empty());
    repo.merge("clean", "c3", "c4").unwrap();
}

#[test]
fn scenario_22_merge_preconditions() {
    let (_dir, repo) = scenario_base();
    repo.create_branch("dev", None).unwrap();
    commit_on(&repo, "dev", |c| put(c, "d", 1));
    let co = repo.checkout_writer_branch("master").unwrap();
    put(&co.column("arr").unwrap(), "pending", 1);
    assert_eq!(kind(co.merge("x", "dev")), ErrorKind::DirtyStaging);
    assert_eq!(kind(repo.merge("x", "master", "dev")), ErrorKind::Locked);
}

#[test]
fn scenario_23_branch_deletion_safety() {
    let (_dir, repo) = scenario_base();
    assert_eq!(
        kind(repo.remove_branch("master", false)),
        ErrorKind::InvalidArgument
    );
    repo.create_branch("dev", None).unwrap();
    let dev = commit_on(&repo, "dev", |c| put(c, "d", 1));
    let co = repo.checkout_writer_branch("master").unwrap();
    assert_eq!(
        kind(repo.remove_branch("master", true)),
        ErrorKind::InvalidArgument
    );
    co.close().unwrap();
    assert_eq!(kind(repo.remove_branch("dev", false)), ErrorKind::Conflict);
    repo.remove_branch("dev", true).unwrap();
    assert!(
        repo.checkout_commit(&dev.to_hex()).is_ok(),
        "commits are never deleted"
    );
}
