use hangar_core::{
    ConflictKind, ConflictScope, DType, Error, ErrorKind, MergeOutcome, NdArraySpec, Repository,
    SampleKey, TensorRef, Value,
};

use crate::{kind, new_repo, u8s};

fn v(x: u8) -> [u8; 2] {
    [x, x]
}

/// master with column "c" = {base1: 1, base2: 2, base3: 3}; branch "dev" at the same commit.
fn base_repo() -> (tempfile::TempDir, Repository, hangar_core::CommitId) {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[2]))
        .unwrap();
    for (k, x) in [("base1", 1), ("base2", 2), ("base3", 3)] {
        c.set(k, TensorRef::new(&v(x), &[2])).unwrap();
    }
    co.metadata().set("shared", "base").unwrap();
    let base = co.commit("base").unwrap();
    co.close().unwrap();
    repo.create_branch("dev", None).unwrap();
    (dir, repo, base)
}

/// Applies `f` on a writer of `branch` and commits.
fn on(
    repo: &Repository,
    branch: &str,
    msg: &str,
    f: impl FnOnce(&hangar_core::WriterCheckout),
) -> hangar_core::CommitId {
    let co = repo.checkout_writer_branch(branch).unwrap();
    f(&co);
    let id = co.commit(msg).unwrap();
    co.close().unwrap();
    id
}

fn set(co: &hangar_core::WriterCheckout, k: &str, x: u8) {
    co.column("c")
        .unwrap()
        .set(k, TensorRef::new(&v(x), &[2]))
        .unwrap();
}

fn value(repo: &Repository, branch: &str, k: &str) -> Option<Vec<u8>> {
    repo.checkout_branch(branch)
        .unwrap()
        .column("c")
        .unwrap()
        .try_get(k)
        .unwrap()
        .map(|v| u8s(&v))
}

#[test]
fn fast_forward_moves_the_branch_without_a_commit() {
    let (_dir, repo, _) = base_repo();
    let dev = on(&repo, "dev", "dev work", |co| set(co, "d1", 9));
    let out = repo
        .merge("ignored for a fast-forward", "master", "dev")
        .unwrap();
    assert_eq!(
        out,
        MergeOutcome::FastForward {
            from: repo
                .log(Some("master"))
                .unwrap()
                .entries
                .get(1)
                .map(|e| e.commit.id),
            to: dev
        }
    );
    assert_eq!(repo.branch_head("master").unwrap(), Some(dev));
    assert_eq!(
        repo.log(Some("master")).unwrap().entries.len(),
        2,
        "no merge commit"
    );
    // DESIGN §6: merging again is a successful no-op, not an error and not an empty commit.
    assert_eq!(
        repo.merge("again", "master", "dev").unwrap(),
        MergeOutcome::UpToDate { head: dev }
    );
    // A branch that is behind is contained too.
    let m = on(&repo, "master", "master moves on", |co| set(co, "m1", 7));
    assert_eq!(
        repo.merge("behind", "master", "dev").unwrap(),
        MergeOutcome::UpToDate { head: m }
    );
    assert_eq!(repo.log(Some("master")).unwrap().entries.len(), 3);
}

#[test]
fn three_way_merge_without_conflicts_reads_no_tensor_data() {
    let (dir, repo, base) = base_repo();
    let ours = on(&repo, "master", "master changes", |co| {
        set(co, "m1", 11);
        co.metadata().set("ours", "1").unwrap();
    });
    let theirs = on(&repo, "dev", "dev changes", |co| {
        set(co, "d1", 21);
        set(co, "base1", 22);
        co.column("c").unwrap().delete("base3").unwrap();
        co.add_str_column("devcol").unwrap().set("k", "v").unwrap();
        co.metadata().set("theirs", "2").unwrap();
    });
    // Remove every segment: a merge must not need tensor data.
    let segments = dir.path().join(".hangar/segments");
    let moved = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&segments).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), moved.path().join(e.file_name())).unwrap();
    }
    let out = repo.merge("merge dev", "master", "dev").unwrap();
    for e in std::fs::read_dir(moved.path()).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), segments.join(e.file_name())).unwrap();
    }
    let MergeOutcome::Merged {
        commit,
        base: merge_base,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(merge_base, Some(base));
    assert_eq!(
        repo.commit_info(&commit).unwrap().parents,
        vec![ours, theirs]
    );
    assert_eq!(repo.branch_head("master").unwrap(), Some(commit));
    assert_eq!(repo.branch_head("dev").unwrap(), Some(theirs));
    assert_eq!(value(&repo, "master", "m1"), Some(v(11).to_vec()));
    assert_eq!(value(&repo, "master", "d1"), Some(v(21).to_vec()));
    assert_eq!(value(&repo, "master", "base1"), Some(v(22).to_vec()));
    assert_eq!(value(&repo, "master", "base2"), Some(v(2).to_vec()));
    assert_eq!(value(&repo, "master", "base3"), None);
    let r = repo.checkout_branch("master").unwrap();
    assert_eq!(
        r.column("devcol").unwrap().get("k").unwrap(),
        Value::Str("v".into())
    );
    assert_eq!(r.metadata().keys().unwrap(), ["ours", "shared", "theirs"]);
    assert!(repo.verify().unwrap().is_ok());
    // Merging the merged branch again is a no-op.
    assert!(matches!(
        repo.merge("again", "master", "dev").unwrap(),
        MergeOutcome::UpToDate { .. }
    ));
}

#[test]
fn each_conflict_kind_is_reported_with_its_digests_and_nothing_changes() {
    let (_dir, repo, _) = base_repo();
    let ours = on(&repo, "master", "c1", |co| {
        set(co, "base2", 7); // changed in both, differently
        set(co, "newkey", 7); // added in both, differently
        co.column("c").unwrap().delete("base1").unwrap(); // deleted ours, changed theirs
        set(co, "base3", 5); // changed ours, deleted theirs
        co.metadata().set("shared", "ours").unwrap();
    });
    let theirs = on(&repo, "dev", "c2", |co| {
        set(co, "base2", 8);
        set(co, "newkey", 8);
        set(co, "base1", 9);
        co.column("c").unwrap().delete("base3").unwrap();
        co.metadata().set("shared", "theirs").unwrap();
    });
    let e = repo.merge("conflicting", "master", "dev").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        e.to_string().contains("merge aborted with 5 conflicts"),
        "{e}"
    );
    let Error::MergeConflict(report) = e else {
        panic!("the conflict report must be data")
    };
    assert_eq!((report.ours, report.theirs), (ours, theirs));
    let find = |key: &str| {
        report
            .conflicts
            .iter()
            .find(|c| matches!(&c.scope, ConflictScope::Sample { key: k, .. } if k == key))
            .unwrap_or_else(|| panic!("no conflict for {key}: {report:?}"))
    };
    assert_eq!(find("\"newkey\"").kind, ConflictKind::AddedInBoth);
    assert_eq!(
        find("\"base1\"").kind,
        ConflictKind::DeletedOursChangedTheirs
    );
    assert_eq!(
        find("\"base3\"").kind,
        ConflictKind::ChangedOursDeletedTheirs
    );
    let both = find("\"base2\"");
    assert_eq!(both.kind, ConflictKind::ChangedInBoth);
    assert!(both.base.is_some() && both.ours.is_some() && both.theirs.is_some());
    assert!(both.ours != both.theirs && both.base != both.ours);
    assert_eq!(find("\"newkey\"").base, None);
    assert_eq!(find("\"base1\"").ours, None);
    let meta = report
        .conflicts
        .iter()
        .find(|c| matches!(&c.scope, ConflictScope::Metadata { key } if key == "shared"))
        .unwrap();
    assert_eq!(meta.kind, ConflictKind::ChangedInBoth);
    // Nothing changed: both heads as they were, the staging area clean, the lock free.
    assert_eq!(repo.branch_head("master").unwrap(), Some(ours));
    assert_eq!(repo.branch_head("dev").unwrap(), Some(theirs));
    assert!(!repo.writer_lock_held().unwrap());
    assert!(!repo
        .checkout_writer_branch("master")
        .unwrap()
        .status()
        .unwrap()
        .is_dirty());
}

#[test]
fn equal_changes_on_both_sides_are_not_conflicts() {
    let (_dir, repo, _) = base_repo();
    on(&repo, "master", "same", |co| {
        set(co, "both_add", 4);
        set(co, "base2", 6);
        co.column("c").unwrap().delete("base3").unwrap();
        co.metadata().set("shared", "same").unwrap();
    });
    on(&repo, "dev", "same too", |co| {
        set(co, "both_add", 4);
        set(co, "base2", 6);
        co.column("c").unwrap().delete("base3").unwrap();
        co.metadata().set("shared", "same").unwrap();
        set(co, "only_dev", 1);
    });
    let out = repo.merge("agreeing", "master", "dev").unwrap();
    assert!(matches!(out, MergeOutcome::Merged { .. }), "{out:?}");
    assert_eq!(value(&repo, "master", "both_add"), Some(v(4).to_vec()));
    assert_eq!(value(&repo, "master", "base3"), None);
    assert_eq!(value(&repo, "master", "only_dev"), Some(v(1).to_vec()));
}

/// DESIGN §6: a column deleted on one side and changed on the other is a conflict,
/// never a silent orphan.
#[test]
fn column_level_conflicts() {
    let (_dir, repo, _) = base_repo();
    on(&repo, "master", "drop c", |co| {
        co.delete_column("c").unwrap()
    });
    on(&repo, "dev", "add to c", |co| set(co, "d", 1));
    let Error::MergeConflict(r) = repo.merge("x", "master", "dev").unwrap_err() else {
        panic!()
    };
    assert_eq!(r.conflicts.len(), 1);
    assert_eq!(
        r.conflicts[0].scope,
        ConflictScope::Column { column: "c".into() }
    );
    assert_eq!(r.conflicts[0].kind, ConflictKind::DeletedOursChangedTheirs);
    assert!(r.conflicts[0].ours.is_none() && r.conflicts[0].theirs.is_some());
    // The other direction.
    let Error::MergeConflict(r) = repo.merge("x", "dev", "master").unwrap_err() else {
        panic!()
    };
    assert_eq!(r.conflicts[0].kind, ConflictKind::ChangedOursDeletedTheirs);

    // Schema changed differently on both sides; and added on both with different schemas.
    let (_dir, repo, _) = base_repo();
    on(&repo, "master", "retype", |co| {
        co.delete_column("c").unwrap();
        co.add_ndarray_column("c", NdArraySpec::with_shape(DType::F32, &[2]))
            .unwrap();
        co.add_str_column("both").unwrap();
    });
    on(&repo, "dev", "retype differently", |co| {
        co.delete_column("c").unwrap();
        co.add_ndarray_column("c", NdArraySpec::with_shape(DType::I64, &[2]))
            .unwrap();
        co.add_bytes_column("both").unwrap();
    });
    let Error::MergeConflict(r) = repo.merge("x", "master", "dev").unwrap_err() else {
        panic!()
    };
    let kinds: Vec<(String, ConflictKind)> = r
        .conflicts
        .iter()
        .map(|c| match &c.scope {
            ConflictScope::Column { column } => (column.clone(), c.kind),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("both".to_string(), ConflictKind::AddedInBoth),
            ("c".to_string(), ConflictKind::ChangedInBoth)
        ]
    );

    // Dropped on both sides: no conflict.
    let (_dir, repo, _) = base_repo();
    on(&repo, "master", "drop", |co| {
        co.delete_column("c").unwrap();
        co.add_str_column("m").unwrap();
    });
    on(&repo, "dev", "drop too", |co| {
        co.delete_column("c").unwrap();
        co.add_str_column("d").unwrap();
    });
    repo.merge("both dropped", "master", "dev").unwrap();
    let cols = repo
        .checkout_branch("master")
        .unwrap()
        .column_names()
        .unwrap();
    assert_eq!(cols, ["d", "m"]);
}

#[test]
fn merge_preconditions() {
    let (_dir, repo, _) = base_repo();
    on(&repo, "dev", "dev", |co| set(co, "d", 1));
    on(&repo, "master", "master", |co| set(co, "m", 1));
    // A dirty staging area.
    let co = repo.checkout_writer_branch("master").unwrap();
    set(&co, "pending", 3);
    assert_eq!(kind(co.merge("x", "dev")), ErrorKind::DirtyStaging);
    // A writer holds the lock: the repository-level merge cannot take it.
    assert_eq!(kind(repo.merge("x", "master", "dev")), ErrorKind::Locked);
    co.reset_staging_area().unwrap();
    assert_eq!(kind(co.merge("x", "nosuch")), ErrorKind::NotFound);
    assert_eq!(kind(co.merge("  ", "dev")), ErrorKind::InvalidArgument);
    let out = co.merge("merge dev", "dev").unwrap();
    assert!(matches!(out, MergeOutcome::Merged { .. }));
    // The writer stays usable on the merged head.
    assert_eq!(co.commit_hash().unwrap(), Some(out.head()));
    assert!(co.column("c").unwrap().contains("d").unwrap());
    co.close().unwrap();
    // Merging into a branch while the staging area has changes for another branch.
    let co = repo.checkout_writer_branch("master").unwrap();
    set(&co, "pending", 3);
    co.close().unwrap();
    assert_eq!(
        kind(repo.merge("x", "dev", "master")),
        ErrorKind::DirtyStaging
    );
    assert!(!repo.writer_lock_held().unwrap());
}

#[test]
fn int_and_str_keys_merge_independently() {
    let (_dir, repo, _) = base_repo();
    on(&repo, "master", "int", |co| {
        co.column("c")
            .unwrap()
            .set(1u64, TensorRef::new(&v(1), &[2]))
            .unwrap()
    });
    on(&repo, "dev", "str", |co| set(co, "1", 2));
    repo.merge("keys", "master", "dev").unwrap();
    let c = repo.checkout_branch("master").unwrap().column("c").unwrap();
    assert_eq!(u8s(&c.get(1u64).unwrap()), v(1));
    assert_eq!(u8s(&c.get(SampleKey::from("1")).unwrap()), v(2));
}

/// Conflicts of every kind between master and dev, plus a change on each side that
/// does not conflict: a sample changed on both (c/base1), a column deleted on master and
/// changed on dev ("gone"), a metadata value changed on both, and a nested sample deleted
/// on dev while master added one of its subsamples.
fn conflicting_branches() -> (tempfile::TempDir, Repository) {
    let (dir, repo, _) = base_repo();
    let co = repo.checkout_writer().unwrap();
    co.add_ndarray_column("gone", NdArraySpec::with_shape(DType::U8, &[2]))
        .unwrap()
        .set(0u64, TensorRef::new(&v(9), &[2]))
        .unwrap();
    let n = co
        .add_ndarray_column(
            "n",
            NdArraySpec::with_shape(DType::U8, &[2]).contains_subsamples(true),
        )
        .unwrap();
    n.set_subsample("s", 1u64, TensorRef::new(&v(1), &[2]))
        .unwrap();
    n.set_subsample("keep", 1u64, TensorRef::new(&v(1), &[2]))
        .unwrap();
    co.commit("more base").unwrap();
    co.close().unwrap();
    repo.create_branch("dev2", None).unwrap();
    on(&repo, "master", "ours", |co| {
        set(co, "base1", 10);
        set(co, "ours_only", 11);
        co.delete_column("gone").unwrap();
        co.metadata().set("shared", "ours").unwrap();
        co.column("n")
            .unwrap()
            .set_subsample("s", 2u64, TensorRef::new(&v(12), &[2]))
            .unwrap();
    });
    on(&repo, "dev2", "theirs", |co| {
        set(co, "base1", 20);
        set(co, "theirs_only", 21);
        co.column("gone")
            .unwrap()
            .set(0u64, TensorRef::new(&v(22), &[2]))
            .unwrap();
        co.metadata().set("shared", "theirs").unwrap();
        co.column("n").unwrap().delete("s").unwrap();
    });
    (dir, repo)
}

#[test]
fn a_strategy_settles_every_kind_of_conflict_by_taking_one_side() {
    use hangar_core::MergeStrategy;
    // Refused by default, nothing changed.
    let (_d, repo) = conflicting_branches();
    let head = repo.branch_head("master").unwrap();
    let e = repo.merge("m", "master", "dev2").unwrap_err();
    let Error::MergeConflict(c) = e else {
        panic!("{e}")
    };
    assert_eq!(c.conflicts.len(), 4, "{:?}", c.conflicts);
    assert_eq!(repo.branch_head("master").unwrap(), head);

    for (strategy, want_base1, gone, meta, s_exists) in [
        (MergeStrategy::Ours, 10u8, false, "ours", true),
        (MergeStrategy::Theirs, 20u8, true, "theirs", false),
    ] {
        let (_d, repo) = conflicting_branches();
        let out = repo
            .merge_with("settled", "master", "dev2", strategy)
            .unwrap();
        let MergeOutcome::Merged { resolved, .. } = &out else {
            panic!("{out:?}")
        };
        assert_eq!(resolved.len(), 4, "{strategy:?}: {resolved:?}");
        let r = repo.checkout_branch("master").unwrap();
        let c = r.column("c").unwrap();
        assert_eq!(u8s(&c.get("base1").unwrap()), v(want_base1), "{strategy:?}");
        // Changes that did not conflict come from both sides.
        assert_eq!(u8s(&c.get("ours_only").unwrap()), v(11));
        assert_eq!(u8s(&c.get("theirs_only").unwrap()), v(21));
        assert_eq!(c.len().unwrap(), 5);
        assert_eq!(
            r.column_names().unwrap().contains(&"gone".to_string()),
            gone
        );
        if gone {
            let g = r.column("gone").unwrap();
            assert_eq!(u8s(&g.get(0u64).unwrap()), v(22));
        }
        assert_eq!(r.metadata().get("shared").unwrap(), meta);
        // The nested sample is taken whole: theirs deleted it with every subsample
        // (ours' new one too); ours keeps it with both.
        let n = r.column("n").unwrap();
        assert_eq!(n.contains("s").unwrap(), s_exists, "{strategy:?}");
        if s_exists {
            assert_eq!(n.subsample_keys("s").unwrap().len(), 2);
        }
        assert_eq!(n.len().unwrap(), 1 + usize::from(s_exists));
        assert_eq!(n.num_subsamples().unwrap(), 1 + 2 * usize::from(s_exists));
        assert!(repo.verify().unwrap().is_ok(), "{strategy:?}");
    }
}
