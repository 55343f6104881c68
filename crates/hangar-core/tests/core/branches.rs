use hangar_core::{DType, ErrorKind, NdArraySpec, TensorRef};

use crate::{err_text, kill9, kind, new_repo, repo_with_commit, spawn_child, u8s};

#[test]
fn create_branch_rules() {
    let (_dir, repo) = new_repo();
    let e = err_text(repo.create_branch("dev", None));
    assert!(e.contains("no commits yet"), "{e}");
    assert_eq!(repo.branches().unwrap().len(), 1);
    let co = repo.checkout_writer().unwrap();
    co.add_str_column("s").unwrap();
    let first = co.commit("one").unwrap();
    co.close().unwrap();
    let dev = repo.create_branch("dev", None).unwrap();
    assert_eq!(dev.head, Some(first));
    assert_eq!(
        kind(repo.create_branch("dev", None)),
        ErrorKind::AlreadyExists
    );
    for bad in ["a/b", "bad name", ".hidden", "x.lock", ""] {
        assert_eq!(
            kind(repo.create_branch(bad, None)),
            ErrorKind::InvalidArgument,
            "{bad:?}"
        );
    }
    // DESIGN §6: a base commit that does not exist is NotFound.
    assert_eq!(
        kind(repo.create_branch("ghost", Some("deadbeef"))),
        ErrorKind::NotFound
    );
    // An unknown name is not found either (no branch or commit has it).
    assert_eq!(
        kind(repo.create_branch("ghost", Some("nosuchbranch"))),
        ErrorKind::NotFound
    );
    let at = repo
        .create_branch("at_commit", Some(&first.to_hex()[..10]))
        .unwrap();
    assert_eq!(at.head, Some(first));
    let from_branch = repo.create_branch("from_dev", Some("dev")).unwrap();
    assert_eq!(from_branch.head, Some(first));
    let names = crate::branch_names(&repo);
    assert_eq!(names, ["at_commit", "dev", "from_dev", "master"]);
    let reflog = std::fs::read_to_string(repo.hangar_dir().join("logs/refs/heads/dev")).unwrap();
    assert!(reflog.contains("branch: created"), "{reflog}");
}

#[test]
fn writer_checkout_switches_branches_only_with_a_clean_staging_area() {
    let (_dir, repo, first) = repo_with_commit();
    repo.create_branch("dev", None).unwrap();
    let co = repo.checkout_writer().unwrap();
    co.column("imgs")
        .unwrap()
        .set("new", TensorRef::new(&[4u8; 6], &[2, 3]))
        .unwrap();
    co.close().unwrap();
    let e = repo.checkout_writer_branch("dev").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DirtyStaging);
    assert!(e.to_string().contains("\"master\""), "{e}");
    assert!(
        !repo.writer_lock_held().unwrap(),
        "the lock must not be kept after a refused switch"
    );
    assert_eq!(
        kind(repo.checkout_writer_branch("nope")),
        ErrorKind::NotFound
    );
    assert!(!repo.writer_lock_held().unwrap());
    // Commit, then switch: the staging area becomes dev's head.
    let co = repo.checkout_writer().unwrap();
    let second = co.commit("on master").unwrap();
    co.close().unwrap();
    let co = repo.checkout_writer_branch("dev").unwrap();
    assert_eq!(co.branch_name().unwrap(), "dev");
    assert_eq!(co.commit_hash().unwrap(), Some(first));
    assert!(!co.column("imgs").unwrap().contains("new").unwrap());
    co.column("labels")
        .unwrap()
        .set("d", TensorRef::new(&[1i64], &[1]))
        .unwrap();
    let on_dev = co.commit("on dev").unwrap();
    co.close().unwrap();
    assert_eq!(repo.staging_branch().unwrap(), "dev");
    assert_eq!(repo.branch_head("dev").unwrap(), Some(on_dev));
    assert_eq!(repo.branch_head("master").unwrap(), Some(second));
    // The default writer stays on dev; readers of any branch or commit.
    assert_eq!(
        repo.checkout_writer().unwrap().branch_name().unwrap(),
        "dev"
    );
    assert!(repo
        .checkout_branch("master")
        .unwrap()
        .column("imgs")
        .unwrap()
        .contains("new")
        .unwrap());
    assert!(!repo
        .checkout_branch("dev")
        .unwrap()
        .column("imgs")
        .unwrap()
        .contains("new")
        .unwrap());
    assert_eq!(repo.checkout().unwrap().commit_hash(), on_dev);
}

#[test]
fn a_new_branch_takes_the_staged_changes_with_it_when_it_starts_at_their_base() {
    let (dir, repo, first) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    let imgs = co.column("imgs").unwrap();
    imgs.set("new", TensorRef::new(&[4u8; 6], &[2, 3])).unwrap();
    imgs.delete("a").unwrap();
    co.add_str_column("notes").unwrap().set("n", "hi").unwrap();
    let second = co.commit("second").unwrap();
    co.column("imgs")
        .unwrap()
        .set("new", TensorRef::new(&[5u8; 6], &[2, 3]))
        .unwrap();
    co.column("imgs").unwrap().delete("b").unwrap();
    co.metadata().set("m", "v").unwrap();
    co.close().unwrap();
    // Refused with nothing created: a start other than the changes' base, a name taken.
    let e = repo
        .checkout_writer_new_branch("old", Some(&first.to_hex()[..8]))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DirtyStaging, "{e}");
    assert!(e.to_string().contains("\"master\""), "{e}");
    assert_eq!(
        kind(repo.checkout_writer_new_branch("master", None)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(repo.checkout_writer_new_branch("bad name", None)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(repo.branches().unwrap().len(), 1);
    assert!(!repo.writer_lock_held().unwrap());
    // At the head (by default or named): the changes move, master keeps its head.
    let co = repo
        .checkout_writer_new_branch("dev", Some("master"))
        .unwrap();
    assert_eq!(co.branch_name().unwrap(), "dev");
    assert_eq!(co.commit_hash().unwrap(), Some(second));
    assert!(co.status().unwrap().is_dirty());
    co.close().unwrap();
    // Durable: a new process sees them staged on dev.
    drop(repo);
    let repo = hangar_core::Repository::open(dir.path()).unwrap();
    assert_eq!(repo.staging_branch().unwrap(), "dev");
    let co = repo.checkout_writer().unwrap();
    let imgs = co.column("imgs").unwrap();
    assert_eq!(u8s(&imgs.get("new").unwrap()), [5u8; 6]);
    assert!(!imgs.contains("b").unwrap());
    assert_eq!(co.metadata().get("m").unwrap(), "v");
    let on_dev = co.commit("on dev").unwrap();
    co.close().unwrap();
    assert_eq!(repo.branch_head("dev").unwrap(), Some(on_dev));
    assert_eq!(repo.branch_head("master").unwrap(), Some(second));
    let master = repo.checkout_branch("master").unwrap();
    assert!(master.column("imgs").unwrap().contains("b").unwrap());
    assert_eq!(
        u8s(&master.column("imgs").unwrap().get("new").unwrap()),
        [4u8; 6]
    );
    assert!(repo.verify().unwrap().is_ok());
    // With nothing staged, any start: the writer opens there.
    let co = repo
        .checkout_writer_new_branch("from_first", Some(&first.to_hex()))
        .unwrap();
    assert_eq!(co.commit_hash().unwrap(), Some(first));
    assert!(!co.status().unwrap().is_dirty());
    assert!(!co.column("imgs").unwrap().contains("new").unwrap());
}

#[test]
fn remove_branch_refusals_and_force() {
    let (_dir, repo, first) = repo_with_commit();
    assert_eq!(
        kind(repo.remove_branch("master", false)),
        ErrorKind::InvalidArgument
    ); // the only branch
    repo.create_branch("dev", None).unwrap();
    repo.create_branch("merged", None).unwrap();
    assert_eq!(kind(repo.remove_branch("nope", false)), ErrorKind::NotFound);
    let e = err_text(repo.remove_branch("master", false)); // the staging area's branch
    assert!(e.contains("staging area is based on it"), "{e}");
    // dev gets a commit no other branch has.
    let co = repo.checkout_writer_branch("dev").unwrap();
    co.column("labels")
        .unwrap()
        .set("x", TensorRef::new(&[3i64], &[1]))
        .unwrap();
    let dev_head = co.commit("dev only").unwrap();
    let e = err_text(repo.remove_branch("dev", true)); // has an open writer (and is the staging branch)
    assert!(e.contains("writer checkout is open"), "{e}");
    co.close().unwrap();
    let co = repo.checkout_writer_branch("master").unwrap();
    co.close().unwrap();
    let e = repo.remove_branch("dev", false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("not fully merged"), "{e}");
    repo.remove_branch("merged", false).unwrap(); // its head is on master
    repo.remove_branch("dev", true).unwrap();
    let names = crate::branch_names(&repo);
    assert_eq!(names, ["master"]);
    // Commits are never deleted: the old head is still readable and can be branched again.
    assert_eq!(
        u8s(&repo
            .checkout_commit(&dev_head.to_hex())
            .unwrap()
            .column("labels")
            .unwrap()
            .get("x")
            .unwrap()),
        3i64.to_le_bytes()
    );
    repo.create_branch("dev_again", Some(&dev_head.to_hex()))
        .unwrap();
    assert_eq!(repo.branch_head("master").unwrap(), Some(first));
}

#[test]
fn a_branch_with_a_writer_in_another_process_cannot_be_removed() {
    let (dir, repo, _) = repo_with_commit();
    repo.create_branch("other", None).unwrap();
    let (child, _) = spawn_child("hold_writer", dir.path());
    let e = err_text(repo.remove_branch("master", true));
    assert!(e.contains("a writer checkout is open"), "{e}");
    repo.remove_branch("other", false).unwrap();
    kill9(child);
}

#[test]
fn branches_move_independently_and_their_reflogs_record_each_commit() {
    let (_dir, repo, _) = repo_with_commit();
    repo.create_branch("dev", None).unwrap();
    let co = repo.checkout_writer_branch("dev").unwrap();
    let c = co
        .add_ndarray_column("dev_only", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    for i in 0..3u8 {
        c.set(u64::from(i), TensorRef::new(&[i], &[1])).unwrap();
        co.commit(&format!("dev {i}")).unwrap();
    }
    co.close().unwrap();
    let reflog = std::fs::read_to_string(repo.hangar_dir().join("logs/refs/heads/dev")).unwrap();
    assert_eq!(reflog.lines().count(), 4, "{reflog}"); // created + 3 commits
    assert!(!repo
        .checkout_branch("master")
        .unwrap()
        .has_column("dev_only")
        .unwrap());
    assert_eq!(repo.log(Some("dev")).unwrap().entries.len(), 4);
    assert_eq!(repo.log(Some("master")).unwrap().entries.len(), 1);
}

#[test]
fn log_draws_merges_as_a_graph() {
    let (_dir, repo, base) = repo_with_commit();
    repo.create_branch("dev", None).unwrap();
    let step = |branch: &str, key: &str, msg: &str| {
        let co = repo.checkout_writer_branch(branch).unwrap();
        co.column("labels")
            .unwrap()
            .set(key, TensorRef::new(&[1i64], &[1]))
            .unwrap();
        let id = co.commit(msg).unwrap();
        co.close().unwrap();
        id
    };
    let m = step("master", "m", "master changes");
    let d = step("dev", "d", "dev changes");
    let merge = repo.merge("merge dev", "master", "dev").unwrap().head();
    let ff = step("master", "f", "ff commit");
    let log = repo.log(Some("master")).unwrap();
    assert_eq!(log.order(), [ff, merge, d, m, base]);
    assert_eq!(log.ancestors()[&merge], vec![m, d]);
    assert_eq!(log.heads()["master"], ff);
    assert_eq!(log.heads()["dev"], d);
    let text = log.to_string();
    let expected = format!(
        "* {ff} (master) : ff commit\n*   {merge} : merge dev\n|\\\n| * {d} (dev) : dev changes\n* | {m} : master changes\n|/\n* {base} : first"
    );
    assert_eq!(text, expected, "\n{text}");
}

/// Issue 12 item 7: revisions as git reads them: branch names, HEAD, full ids and unique
/// prefixes (any case), `~N` and `^N`; an unknown name lists the branches.
#[test]
fn revisions_resolve_as_git_reads_them() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let s = co.add_str_column("s").unwrap();
    let commit = |k: u32, msg: &str| {
        s.set(k, msg).unwrap();
        co.commit(msg).unwrap()
    };
    let c1 = commit(1, "c1");
    let c2 = commit(2, "c2");
    let c3 = commit(3, "c3");
    co.close().unwrap();
    repo.create_branch("dev", Some(&c2.to_hex())).unwrap();
    let co = repo.checkout_writer_branch("dev").unwrap();
    co.column("s").unwrap().set(9u32, "dev").unwrap();
    let d1 = co.commit("d1").unwrap();
    co.close().unwrap();
    let co = repo.checkout_writer_branch("master").unwrap();
    let m = co.merge("merge dev", "dev").unwrap().head();
    co.close().unwrap();

    let r = |rev: &str| repo.resolve(rev).unwrap();
    assert_eq!(r("HEAD"), m);
    assert_eq!(r("master"), m);
    assert_eq!(r("HEAD^0"), m);
    assert_eq!(r("HEAD~"), c3);
    assert_eq!(r("master~1"), c3);
    assert_eq!(r("HEAD^"), c3);
    assert_eq!(r("HEAD^2"), d1);
    assert_eq!(r("HEAD~2"), c2);
    assert_eq!(r("master^^"), c2);
    assert_eq!(r("HEAD^2~1"), c2);
    assert_eq!(r("dev~2"), c1);
    assert_eq!(r(&c1.to_hex()), c1);
    assert_eq!(r(&c1.to_hex()[..8]), c1);
    assert_eq!(r(&c1.to_hex()[..8].to_ascii_uppercase()), c1);
    assert_eq!(r(&format!("{}~0", &c3.to_hex()[..10])), c3);

    for (rev, want) in [
        ("nosuch", "no branch or commit named \"nosuch\""),
        ("Master", "no branch or commit named \"Master\""),
        ("HEAD~9", "has no parent"),
        ("HEAD^3", "not a parent 3"),
        ("dev~1^2", "not a parent 2"),
    ] {
        let e = repo.resolve(rev).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{rev}: {e}");
        assert!(e.to_string().contains(want), "{rev}: {e}");
    }
    let e = repo.resolve("nosuch~2").unwrap_err().to_string();
    assert!(e.contains("branches: dev, master"), "{e}");
    assert_eq!(kind(repo.resolve("HEAD~x")), ErrorKind::InvalidArgument);
}

#[test]
fn head_before_the_first_commit_says_so() {
    let (_dir, repo) = new_repo();
    let e = repo.resolve("HEAD").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("no commits yet"), "{e}");
}

#[test]
fn switching_branches_takes_staged_changes_along_where_they_apply_unchanged() {
    let (dir, repo, _first) = repo_with_commit();
    let bytes: Vec<[u8; 6]> = (0..=255u8).map(|b| [b; 6]).collect();
    let t = |b: u8| TensorRef::new(&bytes[b as usize], &[2, 3]);
    // A nested column on master, then branch `other`: sample "a" and subsample s/1
    // changed, twelve samples k0..k11 and a column `extra` added, metadata "m" set.
    let co = repo.checkout_writer().unwrap();
    let spec = NdArraySpec::with_shape(DType::U8, &[2]).contains_subsamples(true);
    let nest = co.add_ndarray_column("nest", spec).unwrap();
    nest.set_subsample("s", 1u64, TensorRef::new(&[1u8, 1], &[2]))
        .unwrap();
    co.commit("nested").unwrap();
    co.close().unwrap();
    repo.create_branch("other", None).unwrap();
    let co = repo.checkout_writer_branch("other").unwrap();
    let imgs = co.column("imgs").unwrap();
    imgs.set("a", t(9)).unwrap();
    let nest = co.column("nest").unwrap();
    nest.set_subsample("s", 1u64, TensorRef::new(&[2u8, 2], &[2]))
        .unwrap();
    for i in 0..12 {
        imgs.set(format!("k{i}").as_str(), t(i)).unwrap();
    }
    co.add_str_column("extra").unwrap().set("e", "x").unwrap();
    co.metadata().set("m", "other").unwrap();
    let other = co.commit("on other").unwrap();
    co.close().unwrap();
    repo.create_branch("same", Some("master")).unwrap();

    // Each kind of change that touches what differs on `other`: refused, naming it, and
    // nothing changes (still staged on master, whole).
    type Stage = fn(&hangar_core::WriterCheckout);
    let refused: [(Stage, &str); 6] = [
        (
            |co| {
                let nest = co.column("nest").unwrap();
                nest.set_subsample("s", 1u64, TensorRef::new(&[3u8, 3], &[2]))
                    .unwrap();
            },
            "(column \"nest\", sample s/1)",
        ),
        (
            |co| {
                co.column("imgs")
                    .unwrap()
                    .set("a", TensorRef::new(&[1u8; 6], &[2, 3]))
                    .unwrap()
            },
            "(column \"imgs\", sample a)",
        ),
        (
            |co| {
                co.add_str_column("extra").unwrap();
            },
            "(column \"extra\")",
        ),
        (
            |co| co.metadata().set("m", "mine").unwrap(),
            "(metadata key \"m\")",
        ),
        (|co| co.delete_column("imgs").unwrap(), "(column \"imgs\")"),
        (
            |co| {
                let imgs = co.column("imgs").unwrap();
                for i in 0..12u8 {
                    imgs.set(
                        format!("k{i}").as_str(),
                        TensorRef::new(&[100 + i; 6], &[2, 3]),
                    )
                    .unwrap();
                }
            },
            "sample k7; and more)",
        ),
    ];
    for (stage, named) in refused {
        let co = repo.checkout_writer_branch("master").unwrap();
        stage(&co);
        co.close().unwrap();
        let e = repo.switch_writer_branch("other").map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DirtyStaging, "{e}");
        let text = e.to_string();
        assert!(
            text.contains(named) && text.contains("\"master\""),
            "{text}"
        );
        assert!(!repo.writer_lock_held().unwrap());
        assert_eq!(repo.staging_branch().unwrap(), "master");
        let co = repo.checkout_writer().unwrap();
        assert!(co.status().unwrap().is_dirty());
        co.reset_staging_area().unwrap();
        co.close().unwrap();
    }

    // Changes to what is the same on both: they come along, applied to other's head.
    let co = repo.checkout_writer().unwrap();
    let imgs = co.column("imgs").unwrap();
    imgs.set("new", t(5)).unwrap();
    imgs.delete("b").unwrap();
    co.delete_column("labels").unwrap();
    co.metadata().set("n", "mine").unwrap();
    co.close().unwrap();
    // The original's rule (checkout_writer_branch) still refuses, even at one commit.
    assert_eq!(
        kind(repo.checkout_writer_branch("same")),
        ErrorKind::DirtyStaging
    );
    // A branch at the same commit, then `other`.
    let co = repo.switch_writer_branch("same").unwrap();
    assert_eq!(co.branch_name().unwrap(), "same");
    assert!(co.status().unwrap().is_dirty());
    co.close().unwrap();
    let co = repo.switch_writer_branch("other").unwrap();
    assert_eq!(co.commit_hash().unwrap(), Some(other));
    co.close().unwrap();
    // Durable: a new process finds them staged on other, over other's head.
    drop(repo);
    let repo = hangar_core::Repository::open(dir.path()).unwrap();
    assert_eq!(repo.staging_branch().unwrap(), "other");
    let co = repo.checkout_writer().unwrap();
    let imgs = co.column("imgs").unwrap();
    assert_eq!(u8s(&imgs.get("a").unwrap()), [9u8; 6], "other's sample a");
    assert_eq!(u8s(&imgs.get("new").unwrap()), [5u8; 6]);
    assert!(!imgs.contains("b").unwrap());
    assert_eq!(imgs.len().unwrap(), 2 + 12 + 1, "a, 0, k0..k11, new");
    assert!(co.column("labels").is_err(), "labels deleted");
    assert_eq!(co.column("extra").unwrap().len().unwrap(), 1);
    assert_eq!(co.metadata().get("m").unwrap(), "other");
    assert_eq!(co.metadata().get("n").unwrap(), "mine");
    let committed = co.commit("carried").unwrap();
    co.close().unwrap();
    assert_eq!(repo.branch_head("other").unwrap(), Some(committed));
    let master = repo.checkout_branch("master").unwrap();
    assert!(master.column("imgs").unwrap().contains("b").unwrap());
    assert!(master.column("labels").is_ok());
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn a_carried_staging_area_still_drops_the_values_its_records_replaced() {
    // A value stored and then replaced before the switch is referenced by nothing: the
    // commit on the other branch leaves it out, as a commit on the first would have.
    let (_dir, repo, _first) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    co.commit("a column of values stored in segments").unwrap();
    co.close().unwrap();
    repo.create_branch("other", None).unwrap();
    let co = repo.checkout_writer_branch("other").unwrap();
    co.metadata().set("o", "1").unwrap();
    co.commit("other").unwrap();
    co.close().unwrap();
    let co = repo.checkout_writer_branch("master").unwrap();
    let big = co.column("big").unwrap();
    big.set("x", TensorRef::new(&[1u8; 100], &[100])).unwrap();
    big.set("x", TensorRef::new(&[2u8; 100], &[100])).unwrap();
    co.close().unwrap();
    let co = repo.switch_writer_branch("other").unwrap();
    co.commit("x on other").unwrap();
    co.close().unwrap();
    let dry = repo
        .gc(&hangar_core::gc::GcOptions {
            prune_expire: Some(std::time::Duration::ZERO),
            dry_run: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(dry.dead_entries, 0, "{dry:?}");
    let other = repo.checkout_branch("other").unwrap();
    assert_eq!(
        u8s(&other.column("big").unwrap().get("x").unwrap()),
        [2u8; 100]
    );
}
