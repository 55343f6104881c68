use hangar_core::{DType, ErrorKind, NdArraySpec, SampleKey, TensorRef, Value};

use crate::{err_text, kind, new_repo, u8s};

fn col(co: &hangar_core::WriterCheckout, name: &str, shape: &[usize]) -> hangar_core::WriterColumn {
    co.add_ndarray_column(name, NdArraySpec::with_shape(DType::U8, shape))
        .unwrap()
}

#[test]
fn the_tutorial_dict_interface() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "mnist", &[4]);
    c.set("0", TensorRef::new(&[0u8, 1, 2, 3], &[4])).unwrap();
    c.add("1", TensorRef::new(&[1u8, 1, 1, 1], &[4])).unwrap();
    c.set("51", TensorRef::new(&[5u8, 1, 5, 1], &[4])).unwrap();
    assert_eq!(c.len().unwrap(), 3);
    assert!(!c.contains("hi").unwrap());
    assert!(c.contains("0").unwrap());
    assert_eq!(u8s(&c.get("51").unwrap()), [5, 1, 5, 1]);
    let keys: Vec<String> = c.keys().unwrap().map(|k| k.unwrap().to_string()).collect();
    assert_eq!(keys, ["0", "1", "51"]);
    assert_eq!(c.values().unwrap().count(), 3);
    let items: Vec<_> = c.items().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(u8s(&items[1].1), [1, 1, 1, 1]);
    assert_eq!(kind(c.get("missing")), ErrorKind::NotFound);
    assert_eq!(c.try_get("missing").unwrap(), None);
    assert_eq!(
        c.get_or("missing", Value::Str("default".into())).unwrap(),
        Value::Str("default".into())
    );
}

#[test]
fn int_and_str_keys_are_distinct_and_key_rules_hold() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "c", &[1]);
    c.set(1u64, TensorRef::new(&[10u8], &[1])).unwrap();
    c.set("1", TensorRef::new(&[20u8], &[1])).unwrap();
    assert_eq!(c.len().unwrap(), 2);
    assert_eq!(u8s(&c.get(1u64).unwrap()), [10]);
    assert_eq!(u8s(&c.get("1").unwrap()), [20]);
    for bad in ["a b", "", "x:y", &"k".repeat(65)] {
        assert_eq!(
            kind(c.set(bad, TensorRef::new(&[1u8], &[1]))),
            ErrorKind::InvalidArgument,
            "{bad:?}"
        );
    }
    assert!(SampleKey::try_from(-1i64).is_err());
    assert_eq!(c.len().unwrap(), 2);
    co.commit("keys").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("c").unwrap();
    let keys: Vec<SampleKey> = r.keys().unwrap().map(|k| k.unwrap()).collect();
    assert_eq!(keys, [SampleKey::Int(1), SampleKey::from("1")]);
}

#[test]
fn invalid_values_are_rejected_and_nothing_is_written() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("f", NdArraySpec::with_shape(DType::F32, &[5, 5]))
        .unwrap();
    c.set("ok", TensorRef::new(&[0f32; 25], &[5, 5])).unwrap();
    let f64s = [0f64; 25];
    let e = err_text(c.set("x", TensorRef::new(&f64s, &[5, 5])));
    assert!(
        e.contains("dtype float64 != column \"f\" dtype float32"),
        "{e}"
    );
    let e = err_text(c.set("x", TensorRef::new(&[0f32; 20], &[4, 5])));
    assert!(e.contains("(4, 5) != fixed shape (5, 5)"), "{e}");
    let e = err_text(c.set("x", TensorRef::new(&[0f32; 24], &[5, 5])));
    assert!(e.contains("bytes do not hold"), "{e}");
    let e = err_text(c.set("x", "a string"));
    assert!(e.contains("holds ndarray values; got a str value"), "{e}");
    let e = err_text(c.set("x", hangar_core::ValueRef::Bytes(b"raw")));
    assert!(e.contains("got a bytes value"), "{e}");
    let b = co
        .add_ndarray_column("b", NdArraySpec::with_shape(DType::Bool, &[2]))
        .unwrap();
    let e = err_text(b.set("x", TensorRef::from_bytes(DType::Bool, &[2], &[1, 7])));
    assert!(e.contains("0 or 1"), "{e}");
    assert_eq!(c.len().unwrap(), 1);
    assert!(!c.contains("x").unwrap());
    assert_eq!(b.len().unwrap(), 0);
}

#[test]
fn variable_shape_bounds_and_shape_aware_identity() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let v = co
        .add_ndarray_column(
            "v",
            NdArraySpec::with_shape(DType::U8, &[10, 10]).variable_shape(true),
        )
        .unwrap();
    let d: Vec<u8> = (0..21).collect();
    v.set("a", TensorRef::new(&d, &[3, 7])).unwrap();
    assert_eq!(
        kind(v.set("big", TensorRef::new(&[0u8; 77], &[11, 7]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(v.set("rank1", TensorRef::new(&[0u8; 3], &[3]))),
        ErrorKind::InvalidArgument
    );
    v.set("empty", TensorRef::new(&[0u8; 0], &[0, 3])).unwrap();
    let z = co
        .add_ndarray_column(
            "z",
            NdArraySpec::with_shape(DType::F32, &[1, 1, 5, 5]).variable_shape(true),
        )
        .unwrap();
    z.set("tall", TensorRef::new(&[0f32; 5], &[1, 1, 5, 1]))
        .unwrap();
    z.set("wide", TensorRef::new(&[0f32; 5], &[1, 1, 1, 5]))
        .unwrap();
    co.commit("shapes").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let a = r
        .column("v")
        .unwrap()
        .get("a")
        .unwrap()
        .into_tensor()
        .unwrap();
    assert_eq!((a.shape(), a.as_bytes()), (&[3usize, 7][..], &d[..]));
    assert_eq!(
        r.column("v")
            .unwrap()
            .get("empty")
            .unwrap()
            .into_tensor()
            .unwrap()
            .shape(),
        &[0, 3]
    );
    let z = r.column("z").unwrap();
    assert_eq!(
        z.get("tall").unwrap().into_tensor().unwrap().shape(),
        &[1, 1, 5, 1]
    );
    assert_eq!(
        z.get("wide").unwrap().into_tensor().unwrap().shape(),
        &[1, 1, 1, 5]
    );
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        report.values, 4,
        "tall and wide zeros must be different values"
    );
}

#[test]
fn delete_pop_update_and_append() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "c", &[2]);
    c.update([
        ("a", TensorRef::new(&[1u8, 1], &[2])),
        ("b", TensorRef::new(&[2u8, 2], &[2])),
    ])
    .unwrap();
    assert_eq!(c.len().unwrap(), 2);
    assert_eq!(u8s(&c.pop("a").unwrap()), [1, 1]);
    assert_eq!(kind(c.pop("a")), ErrorKind::NotFound);
    assert_eq!(kind(c.delete("a")), ErrorKind::NotFound);
    c.delete("b").unwrap();
    assert_eq!(c.len().unwrap(), 0);
    // update is all-or-nothing.
    let e = c
        .update([
            ("v1", TensorRef::new(&[1u8, 2], &[2])),
            ("v2", TensorRef::new(&[1u8, 2, 3], &[3])),
        ])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(!c.contains("v1").unwrap() && !c.contains("v2").unwrap());
    let mut keys = std::collections::HashSet::new();
    for i in 0..100u8 {
        let k = c.append(TensorRef::new(&[i, i], &[2])).unwrap();
        let SampleKey::Str(s) = &k else {
            panic!("append keys are strings")
        };
        assert_eq!(s.len(), 28);
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
        assert!(keys.insert(k));
    }
    assert_eq!(c.len().unwrap(), 100);
}

#[test]
fn str_and_bytes_columns() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let s = co.add_str_column("s").unwrap();
    let b = co.add_bytes_column("b").unwrap();
    s.set("k", "héllo wörld ✓").unwrap();
    s.set("empty", "").unwrap();
    b.set("k", hangar_core::ValueRef::Bytes(b"\x00\x01"))
        .unwrap();
    assert_eq!(
        kind(s.set("x", hangar_core::ValueRef::Bytes(b"x"))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(kind(b.set("x", "text")), ErrorKind::InvalidArgument);
    let big = "x".repeat(hangar_core::value::MAX_BLOB_BYTES + 1);
    let e = err_text(s.set("big", big.as_str()));
    assert!(e.contains("exceeds the limit"), "{e}");
    co.commit("text").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    assert_eq!(
        r.column("s").unwrap().get("k").unwrap().into_str().unwrap(),
        "héllo wörld ✓"
    );
    assert_eq!(
        r.column("s")
            .unwrap()
            .get("empty")
            .unwrap()
            .into_str()
            .unwrap(),
        ""
    );
    assert_eq!(
        r.column("b")
            .unwrap()
            .get("k")
            .unwrap()
            .into_bytes()
            .unwrap(),
        b"\x00\x01"
    );
    assert_eq!(
        kind(r.column("s").unwrap().get_view("k")),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn equal_content_is_stored_once() {
    let segment_bytes = |distinct: bool| {
        let (dir, repo) = new_repo();
        let co = repo.checkout_writer().unwrap();
        let a = col(&co, "a", &[1024]);
        let b = col(&co, "b", &[1024]);
        let data = |i: u8| vec![if distinct { i } else { 42 }; 1024];
        a.set("k1", TensorRef::new(&data(1), &[1024])).unwrap();
        a.set("k2", TensorRef::new(&data(2), &[1024])).unwrap();
        b.set("k1", TensorRef::new(&data(3), &[1024])).unwrap();
        co.commit("dedup").unwrap();
        co.close().unwrap();
        assert_eq!(repo.verify().unwrap().values, if distinct { 3 } else { 1 });
        std::fs::read_dir(dir.path().join(".hangar/segments"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    let (once, thrice) = (segment_bytes(false), segment_bytes(true));
    assert!(
        once + 2 * 1024 <= thrice,
        "equal content took {once} bytes, distinct {thrice}"
    );
}

#[test]
fn rewriting_the_same_value_is_a_no_op() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "c", &[2]);
    c.set("k", TensorRef::new(&[1u8, 2], &[2])).unwrap();
    co.commit("one").unwrap();
    c.set("k", TensorRef::new(&[1u8, 2], &[2])).unwrap();
    assert!(!co.status().unwrap().is_dirty());
    assert_eq!(kind(co.commit("again")), ErrorKind::NothingToCommit);
    // A change and its undo cancel out too.
    c.set("k", TensorRef::new(&[9u8, 9], &[2])).unwrap();
    c.set("k", TensorRef::new(&[1u8, 2], &[2])).unwrap();
    assert!(!co.status().unwrap().is_dirty());
}

#[test]
fn keys_are_a_snapshot_so_writing_while_iterating_is_allowed() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "c", &[1]);
    for i in 0..5u64 {
        c.set(i, TensorRef::new(&[i as u8], &[1])).unwrap();
    }
    for k in c.keys().unwrap() {
        if let SampleKey::Int(i) = k.unwrap() {
            c.set(i + 100, TensorRef::new(&[0u8], &[1])).unwrap();
        }
    }
    assert_eq!(c.len().unwrap(), 10);
}

#[test]
fn bulk_sessions_and_contiguous_batches() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "imgs", &[2, 2]);
    let session = co.bulk().unwrap();
    let data: Vec<u8> = (0..4 * 300).map(|i| (i % 256) as u8).collect();
    c.extend_from_buffer(0..300u64, TensorRef::new(&data, &[300, 2, 2]))
        .unwrap();
    // Reads see buffered writes.
    assert_eq!(u8s(&c.get(299u64).unwrap()), data[4 * 299..]);
    assert_eq!(
        kind(c.extend_from_buffer(0..2u64, TensorRef::new(&data[..12], &[3, 2, 2]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(c.extend_from_buffer(["x", "y"], TensorRef::new(&data[..12], &[2, 3, 2]))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(c.extend_from_buffer(["bad key", "y"], TensorRef::new(&data[..8], &[2, 2, 2]))),
        ErrorKind::InvalidArgument
    );
    assert!(!c.contains("x").unwrap() && !c.contains("y").unwrap());
    session.finish().unwrap();
    assert_eq!(c.len().unwrap(), 300);
    co.commit("batch").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("imgs").unwrap();
    for i in [0u64, 150, 299] {
        let t = r.get_view(i).unwrap();
        assert_eq!(
            t.as_slice::<u8>().unwrap(),
            &data[4 * i as usize..4 * i as usize + 4]
        );
    }
}

#[test]
fn views_are_zero_copy_and_aligned() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = co
        .add_ndarray_column("f", NdArraySpec::with_shape(DType::F64, &[12]))
        .unwrap();
    for i in 0..50u64 {
        let mut v = [0.25f64; 12];
        v[..3].copy_from_slice(&[i as f64, 0.5, -1.0]);
        c.set(i, TensorRef::new(&v, &[12])).unwrap();
    }
    co.commit("f64").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("f").unwrap();
    let a = r.get_view(7u64).unwrap();
    let b = r.get_view(8u64).unwrap();
    assert_eq!(&a.as_slice::<f64>().unwrap()[..3], &[7.0, 0.5, -1.0]);
    // 96-byte values are stored in a segment (at most 64 bytes are inline). Both
    // views point into the same mapping, 96 bytes apart: no copy was made.
    let (pa, pb) = (
        a.as_bytes().as_ptr() as usize,
        b.as_bytes().as_ptr() as usize,
    );
    assert_eq!(pb.wrapping_sub(pa), 96);
    let owned = r.get(7u64).unwrap().into_tensor().unwrap();
    assert_ne!(owned.as_bytes().as_ptr() as usize, pa);
    assert_eq!(owned, a);
}

#[test]
fn large_bulk_batches_with_repeated_keys_keep_the_last_write() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "c", &[1]);
    let other = col(&co, "other", &[1]);
    let session = co.bulk().unwrap();
    // Interleaved columns and repeated keys, in batches big enough for the bulk merge.
    for round in 0..3u8 {
        for i in 0..400u64 {
            c.set(
                i % 250,
                TensorRef::new(&[round.wrapping_mul(50).wrapping_add(i as u8)], &[1]),
            )
            .unwrap();
            other.set(i, TensorRef::new(&[round], &[1])).unwrap();
        }
        assert_eq!(c.len().unwrap(), 250);
    }
    session.finish().unwrap();
    assert_eq!(other.len().unwrap(), 400);
    for i in 0..250u64 {
        // The last write of key i was in round 2, at i + 250 if that is < 400, else at i.
        let last_i = if i + 250 < 400 { i + 250 } else { i };
        assert_eq!(
            u8s(&c.get(i).unwrap()),
            [100u8.wrapping_add(last_i as u8)],
            "key {i}"
        );
    }
    co.commit("bulk").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap().column("c").unwrap();
    assert_eq!(r.len().unwrap(), 250);
    assert_eq!(
        u8s(&r.get(7u64).unwrap()),
        [100u8.wrapping_add(257u64 as u8)]
    );
}

/// A bulk session queues each column's values end to end and stores a column's run of
/// fixed-size values from that queue in one write. Interleaved columns, several drains
/// of the queue, values repeated inside a drain and values already committed (which
/// take the per-value path instead) all read back exactly, before and after the commit.
#[test]
fn interleaved_bulk_puts_over_several_drains_read_back_exactly() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let (a, b) = (col(&co, "a", &[100]), col(&co, "b", &[120]));
    let value = |col: u8, i: u64, len: usize| -> Vec<u8> {
        let mut v = vec![col; len];
        v[..8].copy_from_slice(&i.to_le_bytes());
        v
    };
    // Committed first: later bulk puts of the same bytes find them stored.
    for i in 0..10u64 {
        a.set(100_000 + i, TensorRef::new(&value(b'a', i, 100), &[100]))
            .unwrap();
    }
    co.commit("before").unwrap();
    let n = 40_000u64; // 80,000 puts: more than one queue's worth
    let expect_a = |i: u64| value(b'a', if i % 1000 == 999 { 7 } else { i }, 100);
    let session = co.bulk().unwrap();
    for i in 0..n {
        // Every 1000th put of `a` repeats an earlier value (one committed, too).
        a.set(i, TensorRef::new(&expect_a(i), &[100])).unwrap();
        b.set(i, TensorRef::new(&value(b'b', i, 120), &[120]))
            .unwrap();
    }
    session.finish().unwrap();
    let check = |a: &dyn Fn(u64) -> Vec<u8>, b: &dyn Fn(u64) -> Vec<u8>| {
        for i in (0..n).step_by(97).chain([n - 1, 999, 1999]) {
            assert_eq!(a(i), expect_a(i), "a[{i}]");
            assert_eq!(b(i), value(b'b', i, 120), "b[{i}]");
        }
    };
    check(&|i| u8s(&a.get(i).unwrap()), &|i| u8s(&b.get(i).unwrap()));
    co.commit("bulk").unwrap();
    co.close().unwrap();
    let r = repo.checkout().unwrap();
    let (ra, rb) = (r.column("a").unwrap(), r.column("b").unwrap());
    assert_eq!(
        (ra.len().unwrap(), rb.len().unwrap()),
        (n as usize + 10, n as usize)
    );
    check(&|i| u8s(&ra.get(i).unwrap()), &|i| u8s(&rb.get(i).unwrap()));
    assert!(repo.verify().unwrap().is_ok());
}

/// Format version 2: values of at most 64 bytes live in their records (no segment row,
/// no index entry); larger ones in segments. Both read back exactly, views of inline
/// values are aligned copies, identity stays shape- and dtype-aware, and diff, merge
/// and verify treat both kinds alike.
#[test]
fn small_values_are_kept_inline_and_behave_like_stored_ones() {
    let (dir, repo) = new_repo();
    let segments = |d: &std::path::Path| {
        std::fs::read_dir(d.join(".hangar/segments"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().metadata().unwrap().len() > 0)
            .count()
    };
    let co = repo.checkout_writer().unwrap();
    let small = col(&co, "small", &[64]);
    let var = co
        .add_ndarray_column(
            "var",
            NdArraySpec::with_shape(DType::F32, &[4, 4]).variable_shape(true),
        )
        .unwrap();
    let text = co.add_str_column("text").unwrap();
    // 500 distinct values: each starts with its index.
    let data: Vec<u8> = (0..500u32)
        .flat_map(|k| {
            let mut v = [k as u8 ^ 0x5a; 64];
            v[..4].copy_from_slice(&k.to_le_bytes());
            v
        })
        .collect();
    small
        .extend_from_buffer(0..500u64, TensorRef::new(&data, &[500, 64]))
        .unwrap();
    small.set("one", TensorRef::new(&[9u8; 64], &[64])).unwrap();
    var.set("tall", TensorRef::new(&[0f32; 4], &[4, 1]))
        .unwrap();
    var.set("wide", TensorRef::new(&[0f32; 4], &[1, 4]))
        .unwrap();
    text.set("t", "x".repeat(64).as_str()).unwrap();
    text.set("long", "y".repeat(65).as_str()).unwrap();
    let first = co.commit("inline").unwrap();
    // Only the 65-byte string needed a segment.
    assert_eq!(segments(dir.path()), 1);
    let r = repo.checkout().unwrap();
    let s = r.column("small").unwrap();
    for i in [0u64, 1, 250, 499] {
        let view = s.get_view(i).unwrap();
        assert_eq!(
            view.as_bytes(),
            &data[64 * i as usize..64 * (i as usize + 1)]
        );
        assert_eq!(
            view.as_bytes().as_ptr() as usize % 8,
            0,
            "views are aligned"
        );
    }
    let v = r.column("var").unwrap();
    assert_eq!(
        v.get("tall").unwrap().into_tensor().unwrap().shape(),
        &[4, 1]
    );
    assert_eq!(
        v.get("wide").unwrap().into_tensor().unwrap().shape(),
        &[1, 4]
    );
    assert_eq!(
        r.column("text").unwrap().get("long").unwrap(),
        Value::Str("y".repeat(65))
    );
    drop(r);
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    // 501 distinct small values, tall and wide (same
    // bytes, other shapes: other values), two strings.
    assert_eq!(report.values, 501 + 2 + 2);

    // The same bytes under another shape are another value: a diff sees the change.
    var.set("tall", TensorRef::new(&[0f32; 4], &[1, 4]))
        .unwrap();
    small.set(3u64, TensorRef::new(&[1u8; 64], &[64])).unwrap();
    let second = co.commit("changes").unwrap();
    co.close().unwrap();
    let d = repo.diff(&first.to_hex(), &second.to_hex()).unwrap();
    let mutated: Vec<(String, usize)> = d
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.mutated.len()))
        .collect();
    assert_eq!(mutated, [("small".to_string(), 1), ("var".to_string(), 1)]);

    // A conflict names inline values by their value digest, as it names stored ones.
    repo.create_branch("dev", Some(&first.to_hex())).unwrap();
    let co = repo.checkout_writer_branch("dev").unwrap();
    co.column("small")
        .unwrap()
        .set(3u64, TensorRef::new(&[2u8; 64], &[64]))
        .unwrap();
    co.commit("dev").unwrap();
    co.close().unwrap();
    let hangar_core::Error::MergeConflict(report) = repo.merge("m", "master", "dev").unwrap_err()
    else {
        panic!("a conflict")
    };
    let c = &report.conflicts[0];
    let digest_of = |b: u8| {
        hangar_store::ValueHeader::Tensor {
            dtype: DType::U8,
            shape: &[64],
        }
        .digest(&[b; 64])
    };
    assert_eq!((c.ours, c.theirs), (Some(digest_of(1)), Some(digest_of(2))));
}

/// A batch of fixed-shape values from one buffer is written to its segment straight from
/// that buffer when every value is new; a batch with a value already staged or stored,
/// or two equal values, is deduplicated value by value. Either way every value reads
/// back exactly and equal content is stored once.
#[test]
fn contiguous_batches_skip_the_copy_but_never_deduplication() {
    let (dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let c = col(&co, "c", &[100]);
    let value = |v: u32| -> Vec<u8> {
        let mut b = vec![0u8; 100];
        b[..4].copy_from_slice(&v.to_le_bytes());
        b
    };
    let segment_bytes = || -> u64 {
        std::fs::read_dir(dir.path().join(".hangar/segments"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    // 5000 distinct values (more than one pipeline chunk): the direct path.
    let a: Vec<u8> = (0..5000).flat_map(value).collect();
    c.extend_from_buffer(0..5000u64, TensorRef::new(&a, &[5000, 100]))
        .unwrap();
    co.commit("a").unwrap();
    let after_a = segment_bytes();
    // Every value is a row of 100 bytes plus its digest and CRC (36), and a little Arrow
    // framing per batch.
    assert!(
        (5000 * 136..5000 * 136 + 64 * 1024).contains(&after_a),
        "{after_a} bytes for 5000 values"
    );
    // 5000 values with repeats inside the batch, half of them equal to values of the
    // first commit: only 500 new distinct values are stored.
    let b: Vec<u8> = (0..5000).flat_map(|i| value(4500 + i % 1000)).collect();
    c.extend_from_buffer(5000..10000u64, TensorRef::new(&b, &[5000, 100]))
        .unwrap();
    // All of them already stored: nothing new.
    c.extend_from_buffer(10000..15000u64, TensorRef::new(&a, &[5000, 100]))
        .unwrap();
    co.commit("b").unwrap();
    let grown = segment_bytes() - after_a;
    assert!(
        (500 * 136..500 * 136 + 64 * 1024).contains(&grown),
        "{grown} more bytes for 500 new values"
    );
    co.close().unwrap();
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.values, 5500);
    let r = repo.checkout().unwrap().column("c").unwrap();
    assert_eq!(r.len().unwrap(), 15000);
    for (k, want) in [
        (0u64, 0),
        (4999, 4999),
        (5000, 4500),
        (9999, 5499),
        (12345, 2345),
    ] {
        assert_eq!(u8s(&r.get(k).unwrap()), value(want), "key {k}");
    }
}
