use hangar_core::{DType, DiffEnd, NdArraySpec, SampleKey, SchemaChange, TensorRef};

use crate::{new_repo, repo_with_commit};

fn keys(v: &[hangar_core::DiffKey]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[test]
fn diff_direction_is_always_from_a_to_b() {
    let (_dir, repo, base) = repo_with_commit();
    repo.create_branch("dev", None).unwrap();
    let co = repo.checkout_writer_branch("dev").unwrap();
    crate::stage_one_of_each_change(&co);
    let dev = co.commit("dev changes").unwrap();
    co.close().unwrap();
    // Fast-forward situation: master is behind dev.
    let d = repo.diff("master", "dev").unwrap();
    assert_eq!(
        (d.from, d.to),
        (DiffEnd::Commit(base), DiffEnd::Commit(dev))
    );
    let imgs = d.column("imgs").unwrap();
    assert_eq!(keys(&imgs.added), ["\"dev_add\""]);
    assert_eq!(keys(&imgs.deleted), ["\"b\""]);
    assert_eq!(keys(&imgs.mutated), ["\"a\""]);
    assert!(matches!(
        d.column("devcol").unwrap().schema,
        Some(SchemaChange::Added(_))
    ));
    assert_eq!(keys(&d.column("devcol").unwrap().added), ["\"k\""]);
    // Diverged situation: master moves too; the direction does not flip (DESIGN §6).
    let co = repo.checkout_writer_branch("master").unwrap();
    co.column("imgs")
        .unwrap()
        .set("master_add", TensorRef::new(&[2u8; 6], &[2, 3]))
        .unwrap();
    co.commit("master changes").unwrap();
    co.close().unwrap();
    let d = repo.diff("master", "dev").unwrap();
    let imgs = d.column("imgs").unwrap();
    assert_eq!(keys(&imgs.added), ["\"dev_add\""]);
    assert_eq!(keys(&imgs.deleted), ["\"b\"", "\"master_add\""]);
    // And the reverse is the mirror image.
    let r = repo.diff("dev", "master").unwrap();
    assert_eq!(
        keys(&r.column("imgs").unwrap().added),
        ["\"b\"", "\"master_add\""]
    );
    assert!(matches!(
        r.column("devcol").unwrap().schema,
        Some(SchemaChange::Deleted(_))
    ));
    assert_eq!(keys(&r.column("devcol").unwrap().deleted), ["\"k\""]);
    let c = d.counts();
    assert_eq!(
        (
            c.columns_added,
            c.samples_added,
            c.samples_deleted,
            c.samples_mutated
        ),
        (1, 2, 2, 1)
    );
    let text = d.to_string();
    for want in [
        "column devcol added",
        "+ \"dev_add\"",
        "- \"master_add\"",
        "~ \"a\"",
        "Summary: 1 columns added",
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
    assert!(repo.diff("dev", "dev").unwrap().is_empty());
}

#[test]
fn schema_and_metadata_changes_and_int_keys() {
    let (_dir, repo, first) = repo_with_commit();
    let co = repo.checkout_writer().unwrap();
    co.delete_column("labels").unwrap();
    co.add_ndarray_column("labels", NdArraySpec::with_shape(DType::I32, &[2]))
        .unwrap()
        .set(5u64, TensorRef::new(&[1i32, 2], &[2]))
        .unwrap();
    co.metadata().set("m1", "x").unwrap();
    let second = co.commit("retype labels").unwrap();
    co.metadata().set("m1", "y").unwrap();
    co.metadata().set("m2", "z").unwrap();
    let third = co.commit("metadata").unwrap();
    co.close().unwrap();
    let d = repo.diff(&first.to_hex(), &second.to_hex()).unwrap();
    let labels = d.column("labels").unwrap();
    assert!(matches!(labels.schema, Some(SchemaChange::Changed { .. })));
    assert_eq!(keys(&labels.added), ["5"]);
    assert_eq!(keys(&labels.deleted), ["\"a\""]);
    assert!(d.column("imgs").is_none());
    assert_eq!(d.metadata.added, ["m1"]);
    let d = repo.diff(&second.to_hex(), &third.to_hex()).unwrap();
    assert!(d.columns.is_empty());
    assert_eq!(
        (d.metadata.added.clone(), d.metadata.mutated.clone()),
        (vec!["m2".to_string()], vec!["m1".to_string()])
    );
}

/// DESIGN §6: status and the staged diff work before the first commit.
#[test]
fn staged_diff_before_and_after_the_first_commit() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    assert!(co.diff_staged().unwrap().is_empty());
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    c.set(1u64, TensorRef::new(&[1u8], &[1])).unwrap();
    c.set("x", TensorRef::new(&[2u8], &[1])).unwrap();
    co.metadata().set("k", "v").unwrap();
    let d = co.diff_staged().unwrap();
    assert_eq!((d.from, d.to), (DiffEnd::Empty, DiffEnd::Staged));
    assert!(matches!(
        d.column("c").unwrap().schema,
        Some(SchemaChange::Added(_))
    ));
    assert_eq!(keys(&d.column("c").unwrap().added), ["1", "\"x\""]);
    assert_eq!(d.metadata.added, ["k"]);
    let head = co.commit("first").unwrap();
    assert!(co.diff_staged().unwrap().is_empty());
    // Scenario 16: add, mutate, delete, new column.
    c.set("dev_add", TensorRef::new(&[3u8], &[1])).unwrap();
    c.set(1u64, TensorRef::new(&[9u8], &[1])).unwrap();
    c.delete("x").unwrap();
    co.add_str_column("devcol").unwrap().set("k", "v").unwrap();
    let d = co.diff_staged().unwrap();
    assert_eq!(d.from, DiffEnd::Commit(head));
    let cd = d.column("c").unwrap();
    assert_eq!(
        (keys(&cd.added), keys(&cd.mutated), keys(&cd.deleted)),
        (
            vec!["\"dev_add\"".to_string()],
            vec!["1".to_string()],
            vec!["\"x\"".to_string()]
        )
    );
    assert_eq!(keys(&d.column("devcol").unwrap().added), ["\"k\""]);
    // A column deleted and created again compares its contents with the head's.
    co.delete_column("c").unwrap();
    let again = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    again.set(1u64, TensorRef::new(&[1u8], &[1])).unwrap();
    let d = co.diff_staged().unwrap();
    let cd = d.column("c").unwrap();
    assert!(cd.schema.is_none() && cd.added.is_empty() && cd.mutated.is_empty());
    assert_eq!(keys(&cd.deleted), ["\"x\""]);
    assert_eq!(SampleKey::Int(1).to_string(), "1");
}

/// A diff made to be shown (`hangar diff` without `--all`) keeps the first keys of each
/// kind and counts them all: the same totals, the same first keys, as the full diff.
#[test]
fn a_diff_to_show_lists_the_first_keys_and_counts_them_all() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("c", NdArraySpec::with_shape(DType::U8, &[1]))
        .unwrap();
    for k in 0..50u64 {
        c.set(k, TensorRef::new(&[k as u8], &[1])).unwrap();
    }
    let check = |full: &hangar_core::Diff, shown: &hangar_core::Diff, max: usize| {
        assert_eq!(full.counts(), shown.counts());
        assert_eq!(full.is_empty(), shown.is_empty());
        for (f, s) in full.columns.iter().zip(&shown.columns) {
            assert_eq!(f.totals, s.totals);
            assert_eq!(
                (f.totals.added, f.totals.deleted, f.totals.mutated),
                (f.added.len(), f.deleted.len(), f.mutated.len())
            );
            for (fl, sl) in [
                (&f.added, &s.added),
                (&f.deleted, &s.deleted),
                (&f.mutated, &s.mutated),
            ] {
                assert_eq!(&fl[..fl.len().min(max)], &sl[..]);
            }
        }
        assert_eq!(full.columns.len(), shown.columns.len());
        assert_eq!(full.metadata, shown.metadata);
    };
    let full = co.diff_staged().unwrap();
    let shown = co.diff_staged_shown(7).unwrap();
    check(&full, &shown, 7);
    let cd = shown.column("c").unwrap();
    assert_eq!((cd.added.len(), cd.totals.added), (7, 50));
    assert_eq!(keys(&cd.added), ["0", "1", "2", "3", "4", "5", "6"]);
    let text = shown.to_string();
    assert!(
        text.contains("added: 50") && text.contains("... and 43 more"),
        "{text}"
    );
    // Printed, a diff shows 20 keys of each kind: one that keeps 20 prints the same.
    let text = co.diff_staged_shown(20).unwrap().to_string();
    assert!(
        text.contains("added: 50") && text.contains("... and 30 more"),
        "{text}"
    );
    assert_eq!(text, full.to_string());
    let first = co.commit("fifty").unwrap();
    // Deleted, mutated and added keys, between commits and in the staging area.
    for k in 0..30u64 {
        c.delete(k).unwrap();
    }
    for k in 30..42u64 {
        c.set(k, TensorRef::new(&[200u8], &[1])).unwrap();
    }
    for k in 100..103u64 {
        c.set(k, TensorRef::new(&[1u8], &[1])).unwrap();
    }
    let view = repo.staged_records_view().unwrap();
    for max in [0, 1, 5, 12, 100] {
        check(
            &co.diff_staged().unwrap(),
            &co.diff_staged_shown(max).unwrap(),
            max,
        );
        check(
            &view.diff_staged().unwrap(),
            &view.diff_staged_shown(max).unwrap(),
            max,
        );
    }
    let second = co.commit("changes").unwrap();
    let (a, b) = (first.to_hex(), second.to_hex());
    for max in [0, 1, 5, 12, 100] {
        // What a commit introduced: from its parent, and (the first) from nothing.
        for id in [first, second] {
            check(
                &repo.diff_introduced(id).unwrap(),
                &repo.diff_introduced_shown(id, max).unwrap(),
                max,
            );
        }
        check(
            &repo.diff(&a, &b).unwrap(),
            &repo.diff_shown(&a, &b, max).unwrap(),
            max,
        );
    }
    let none = repo.diff_shown(&a, &b, 0).unwrap();
    let cd = none.column("c").unwrap();
    assert!(cd.added.is_empty() && cd.deleted.is_empty() && cd.mutated.is_empty());
    assert_eq!(
        (cd.totals.added, cd.totals.deleted, cd.totals.mutated),
        (3, 30, 12)
    );
    assert!(!none.is_empty());
}
