use std::collections::BTreeMap;

use hangar_core::{
    ConflictKind, ConflictScope, DType, Error, ErrorKind, NdArraySpec, SampleKey, TensorRef, Value,
    ValueRef,
};

use crate::{kind, new_repo, u8s};

fn nested_u8(co: &hangar_core::WriterCheckout, name: &str) -> hangar_core::WriterColumn {
    co.add_ndarray_column(
        name,
        NdArraySpec::with_shape(DType::U8, &[2]).contains_subsamples(true),
    )
    .unwrap()
}

fn t(x: u8) -> [u8; 2] {
    [x, x]
}

/// Scenario 14 of the reference.
#[test]
fn scenario_14_nested_column() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = nested_u8(&co, "n");
    assert!(c.is_nested().unwrap());
    let (x, y) = (t(1), t(2));
    c.set_sample(
        "s",
        [
            (SampleKey::from("a"), TensorRef::new(&x, &[2])),
            (SampleKey::Int(0), TensorRef::new(&y, &[2])),
        ],
    )
    .unwrap();
    co.commit("nested").unwrap();
    let r = repo.checkout().unwrap().column("n").unwrap();
    assert_eq!(
        r.keys().unwrap().map(|k| k.unwrap()).collect::<Vec<_>>(),
        [SampleKey::from("s")]
    );
    assert_eq!(
        r.subsample_keys("s").unwrap(),
        [SampleKey::Int(0), SampleKey::from("a")]
    );
    assert_eq!(u8s(&r.get_subsample("s", "a").unwrap()), x);
    let all = r.get_sample("s").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(u8s(&all[&SampleKey::Int(0)]), y);
    assert_eq!((r.len().unwrap(), r.num_subsamples().unwrap()), (1, 2));
    c.delete("s").unwrap();
    co.commit("delete s").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("n").unwrap();
    assert!(!r.contains("s").unwrap());
    assert_eq!((r.len().unwrap(), r.num_subsamples().unwrap()), (0, 0));
    assert_eq!(r.record_table(), None, "no subsample record remains");
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn set_update_append_delete_and_pop_subsamples() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = nested_u8(&co, "n");
    c.set_subsample("s", "a", TensorRef::new(&t(1), &[2]))
        .unwrap();
    c.update_sample(
        "s",
        [
            ("b", TensorRef::new(&t(2), &[2])),
            ("c", TensorRef::new(&t(3), &[2])),
        ],
    )
    .unwrap();
    assert_eq!(
        c.subsample_keys("s").unwrap(),
        ["a", "b", "c"].map(SampleKey::from)
    );
    // set_sample replaces: "a" and "c" go, "b" changes, "d" arrives.
    c.set_sample(
        "s",
        [
            ("b", TensorRef::new(&t(9), &[2])),
            ("d", TensorRef::new(&t(4), &[2])),
        ],
    )
    .unwrap();
    assert_eq!(
        c.subsample_keys("s").unwrap(),
        ["b", "d"].map(SampleKey::from)
    );
    assert_eq!(u8s(&c.get_subsample("s", "b").unwrap()), t(9));
    let appended = c
        .append_subsample("s", TensorRef::new(&t(5), &[2]))
        .unwrap();
    assert!(c.contains_subsample("s", appended.clone()).unwrap());
    assert_eq!(c.num_subsamples().unwrap(), 3);
    assert_eq!(u8s(&c.pop_subsample("s", "d").unwrap()), t(4));
    assert_eq!(kind(c.pop_subsample("s", "d")), ErrorKind::NotFound);
    c.delete_subsample("s", appended).unwrap();
    assert_eq!(kind(c.get_subsample("s", "zz")), ErrorKind::NotFound);
    assert_eq!(c.try_get_subsample("s", "zz").unwrap(), None);
    assert_eq!(kind(c.get_sample("nope")), ErrorKind::NotFound);
    assert_eq!(kind(c.delete("nope")), ErrorKind::NotFound);
    c.set_subsample(7u64, 1u64, TensorRef::new(&t(7), &[2]))
        .unwrap();
    assert_eq!((c.len().unwrap(), c.num_subsamples().unwrap()), (2, 2));
    let popped = c.pop_sample("s").unwrap();
    assert_eq!(
        popped.keys().cloned().collect::<Vec<_>>(),
        [SampleKey::from("b")]
    );
    assert_eq!(
        c.keys().unwrap().collect::<Result<Vec<_>, _>>().unwrap(),
        [SampleKey::Int(7)]
    );
    co.commit("ops").unwrap();
    co.close().unwrap();
    // Staged nested changes survive a reopen too.
    let co = repo.checkout_writer().unwrap();
    co.column("n")
        .unwrap()
        .set_subsample(7u64, 2u64, TensorRef::new(&t(8), &[2]))
        .unwrap();
    co.close().unwrap();
    let co = repo.checkout_writer().unwrap();
    assert_eq!(
        co.column("n").unwrap().subsample_keys(7u64).unwrap(),
        [SampleKey::Int(1), SampleKey::Int(2)]
    );
}

/// The definition of an empty sample: `set_sample(k, {})` creates a sample with no
/// subsamples, and deleting a sample's last subsample leaves it empty. An empty sample
/// exists (it counts in len and keys) until deleted, across commits and checkouts.
#[test]
fn empty_samples_exist_until_deleted() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = nested_u8(&co, "n");
    c.set_sample("empty", Vec::<(SampleKey, TensorRef<'_>)>::new())
        .unwrap();
    c.set_subsample("one", "x", TensorRef::new(&t(1), &[2]))
        .unwrap();
    c.delete_subsample("one", "x").unwrap();
    assert_eq!((c.len().unwrap(), c.num_subsamples().unwrap()), (2, 0));
    assert!(c.get_sample("one").unwrap().is_empty());
    co.commit("empty samples").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("n").unwrap();
    assert_eq!(
        r.keys().unwrap().map(|k| k.unwrap()).collect::<Vec<_>>(),
        ["empty", "one"].map(SampleKey::from)
    );
    assert!(r.get_sample("empty").unwrap().is_empty());
    assert_eq!(r.info().unwrap().num_subsamples, Some(0));
    let co = repo.checkout_writer().unwrap();
    assert!(co.column("n").unwrap().contains("empty").unwrap());
    co.column("n").unwrap().delete("empty").unwrap();
    co.commit("delete").unwrap();
    co.close().unwrap();
    assert!(!repo
        .checkout()
        .unwrap()
        .column("n")
        .unwrap()
        .contains("empty")
        .unwrap());
}

#[test]
fn nested_validation_is_all_or_nothing_and_layouts_are_checked() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = nested_u8(&co, "n");
    let bad = [1u8, 2, 3];
    let r = c.update_sample(
        "s",
        [
            ("ok", TensorRef::new(&t(1), &[2])),
            ("bad", TensorRef::new(&bad, &[3])),
        ],
    );
    assert_eq!(kind(r), ErrorKind::InvalidArgument);
    assert!(!c.contains("s").unwrap());
    assert_eq!(
        kind(c.set_subsample("s", "bad key", TensorRef::new(&t(1), &[2]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(c.set_subsample("bad key", "a", TensorRef::new(&t(1), &[2]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(c.len().unwrap(), 0);
    // Flat operations on a nested column, and nested ones on a flat column.
    let e = c.set("s", TensorRef::new(&t(1), &[2])).unwrap_err();
    assert!(e.to_string().contains("nested"), "{e}");
    assert_eq!(kind(c.get("s")), ErrorKind::InvalidArgument);
    let flat = co
        .add_ndarray_column("flat", NdArraySpec::with_shape(DType::U8, &[2]))
        .unwrap();
    assert_eq!(
        kind(flat.set_subsample("s", "a", TensorRef::new(&t(1), &[2]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(kind(flat.num_subsamples()), ErrorKind::InvalidArgument);
    // Nested str and bytes columns.
    let s = co.add_nested_str_column("texts").unwrap();
    s.set_sample("doc", [("title", "Über"), ("body", "text ✓")])
        .unwrap();
    let b = co.add_nested_bytes_column("blobs").unwrap();
    b.set_subsample("f", 0u64, ValueRef::Bytes(b"\x00\x01"))
        .unwrap();
    assert_eq!(
        kind(s.set_subsample("doc", "x", ValueRef::Bytes(b"x"))),
        ErrorKind::InvalidArgument
    );
    co.commit("texts").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let doc: BTreeMap<SampleKey, Value> = r.column("texts").unwrap().get_sample("doc").unwrap();
    assert_eq!(doc[&SampleKey::from("title")], Value::Str("Über".into()));
    assert_eq!(
        r.column("blobs").unwrap().get_subsample("f", 0u64).unwrap(),
        Value::Bytes(vec![0, 1])
    );
    assert!(r
        .column("texts")
        .unwrap()
        .info()
        .unwrap()
        .to_string()
        .contains("Subsamples       : True"));
    assert!(repo.verify().unwrap().is_ok());
}

#[test]
fn nested_keys_in_diffs_and_merges() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = nested_u8(&co, "n");
    c.set_sample(
        "s",
        [
            ("a", TensorRef::new(&t(1), &[2])),
            ("b", TensorRef::new(&t(2), &[2])),
        ],
    )
    .unwrap();
    c.set_sample("keep", [("k", TensorRef::new(&t(3), &[2]))])
        .unwrap();
    co.commit("base").unwrap();
    co.close().unwrap();
    repo.create_branch("dev", None).unwrap();
    let co = repo.checkout_writer_branch("dev").unwrap();
    let c = co.column("n").unwrap();
    c.set_subsample("s", "c", TensorRef::new(&t(4), &[2]))
        .unwrap(); // dev adds to s
    c.set_subsample("keep", "k", TensorRef::new(&t(5), &[2]))
        .unwrap();
    co.commit("dev").unwrap();
    co.close().unwrap();
    let d = repo.diff("master", "dev").unwrap();
    let nd = d.column("n").unwrap();
    assert_eq!(
        nd.added.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["\"s\"/\"c\""]
    );
    assert_eq!(
        nd.mutated
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["\"keep\"/\"k\""]
    );
    // master deletes sample s: merging dev (which added a subsample to it) conflicts.
    let co = repo.checkout_writer_branch("master").unwrap();
    co.column("n").unwrap().delete("s").unwrap();
    co.commit("drop s").unwrap();
    co.close().unwrap();
    let Error::MergeConflict(r) = repo.merge("x", "master", "dev").unwrap_err() else {
        panic!()
    };
    assert!(
        r.conflicts
            .iter()
            .any(|c| c.kind == ConflictKind::DeletedOursChangedTheirs
                && c.scope
                    == ConflictScope::Sample {
                        column: "n".into(),
                        key: "\"s\"".into()
                    }),
        "{r:?}"
    );
    // Without the conflicting sample, nested changes merge at subsample granularity.
    let co = repo.checkout_writer_branch("dev").unwrap();
    co.column("n").unwrap().delete("s").unwrap();
    co.commit("dev drops s too").unwrap();
    co.close().unwrap();
    repo.merge("merge", "master", "dev").unwrap();
    let r = repo.checkout_branch("master").unwrap().column("n").unwrap();
    assert_eq!(
        r.keys().unwrap().map(|k| k.unwrap()).collect::<Vec<_>>(),
        [SampleKey::from("keep")]
    );
    assert_eq!(u8s(&r.get_subsample("keep", "k").unwrap()), t(5));
    assert_eq!((r.len().unwrap(), r.num_subsamples().unwrap()), (1, 1));
    assert!(repo.verify().unwrap().is_ok());
}

/// Issue 12 item 5: keys are not paths. `.` and `..` are sample and subsample keys like
/// any other (as in the original); the messages name the key that is wrong.
#[test]
fn dot_keys_are_keys_and_messages_name_the_wrong_key() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let flat = co
        .add_ndarray_column("flat", NdArraySpec::with_shape(DType::U8, &[2]))
        .unwrap();
    let c = nested_u8(&co, "n");
    for (i, k) in [".", "..", "..."].into_iter().enumerate() {
        flat.set(k, TensorRef::new(&t(i as u8), &[2])).unwrap();
        c.set_subsample(
            k,
            SampleKey::from(k),
            TensorRef::new(&t(10 + i as u8), &[2]),
        )
        .unwrap();
    }
    co.commit("dot keys").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let (flat, n) = (r.column("flat").unwrap(), r.column("n").unwrap());
    for (i, k) in [".", "..", "..."].into_iter().enumerate() {
        assert_eq!(u8s(&flat.get(k).unwrap()), t(i as u8));
        assert_eq!(u8s(&n.get_subsample(k, k).unwrap()), t(10 + i as u8));
    }
    assert!(repo.verify().unwrap().is_ok());

    let co = repo.checkout_writer().unwrap();
    let c = co.column("n").unwrap();
    let e = c
        .set_subsample("fine", SampleKey::from("a b"), TensorRef::new(&t(1), &[2]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("subsample key \"a b\" is not suitable"),
        "{e}"
    );
    let e = c
        .set_subsample("a b", SampleKey::from("fine"), TensorRef::new(&t(1), &[2]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("sample key \"a b\" is not suitable"), "{e}");
    // Names that meet paths (columns, branches) still refuse dots only, and say why
    // without contradicting themselves.
    let e = co
        .add_ndarray_column("..", NdArraySpec::with_shape(DType::U8, &[2]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("made of dots only") && e.contains("at least one"),
        "{e}"
    );
    assert_eq!(
        kind(co.add_ndarray_column(".", NdArraySpec::with_shape(DType::U8, &[2]))),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn update_subsamples_of_many_samples_is_one_all_or_nothing_change() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = nested_u8(&co, "n");
    c.set_subsample("s", "keep", TensorRef::new(&t(7), &[2]))
        .unwrap();
    let (a, b, d) = (t(1), t(2), t(3));
    c.update_subsamples([
        ("s", "a", TensorRef::new(&a, &[2])),
        ("new", "b", TensorRef::new(&b, &[2])),
        ("s", "d", TensorRef::new(&d, &[2])),
    ])
    .unwrap();
    assert_eq!(
        c.subsample_keys("s").unwrap(),
        ["a", "d", "keep"].map(SampleKey::from),
        "the sample's other subsamples are kept"
    );
    assert_eq!(u8s(&c.get_subsample("new", "b").unwrap()), t(2));
    assert_eq!((c.len().unwrap(), c.num_subsamples().unwrap()), (2, 4));
    // One bad value anywhere: nothing is staged, not even the samples it would create.
    let bad = [1u8, 2, 3];
    let r = c.update_subsamples([
        ("s", "a", TensorRef::new(&t(9), &[2])),
        ("other", "x", TensorRef::new(&bad, &[3])),
    ]);
    assert_eq!(kind(r), ErrorKind::InvalidArgument);
    assert_eq!(u8s(&c.get_subsample("s", "a").unwrap()), t(1));
    assert!(!c.contains("other").unwrap());
    let none: [(&str, &str, TensorRef<'_>); 0] = [];
    c.update_subsamples(none).unwrap();
    co.commit("update").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("n").unwrap();
    assert_eq!((r.len().unwrap(), r.num_subsamples().unwrap()), (2, 4));
    assert!(repo.verify().unwrap().is_ok());
}
