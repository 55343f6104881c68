//! The three column handles — a commit's, the writer's and the lock-free staged view's —
//! read through one path with one signature: the same generic function reads them all,
//! and on the same data they answer alike, errors included.

use std::collections::BTreeMap;

use hangar_core::{Column, ErrorKind, NdArraySpec, RecordSource, SampleKey, TensorRef, Value};

use crate::new_repo;

/// Everything a column answers, read through the generic handle.
#[derive(Debug, PartialEq)]
struct Seen {
    name: String,
    len: usize,
    nested: bool,
    keys: Vec<SampleKey>,
    items: Vec<(SampleKey, Value)>,
    got: Option<Value>,
    view: Option<Vec<u8>>,
    absent: ErrorKind,
    /// A batch read (`get_many`, and `get_views` as bytes): keys out of order, repeated,
    /// staged and committed; then a batch with an absent key (its error's text).
    many: Vec<Value>,
    many_views: Vec<Vec<u8>>,
    many_absent: Option<String>,
    has: (bool, bool),
    wrong_layout: ErrorKind,
}

fn read_flat<S: RecordSource>(c: &Column<S>) -> Seen {
    Seen {
        name: c.name().to_string(),
        len: c.len().unwrap(),
        nested: c.is_nested().unwrap(),
        keys: c.keys().unwrap().collect::<Result<_, _>>().unwrap(),
        items: c.items().unwrap().collect::<Result<_, _>>().unwrap(),
        got: c.try_get(1u64).unwrap(),
        view: Some(c.get_view(2u64).unwrap().as_slice::<u8>().unwrap().to_vec()),
        absent: c.get(99u64).unwrap_err().kind(),
        many: c.get_many(&batch()).unwrap(),
        many_views: c
            .get_views(&batch())
            .unwrap()
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect(),
        many_absent: c
            .get_many(&[0u64.into(), 4u64.into(), 98u64.into()])
            .map_err(|e| (e.kind(), e.to_string()))
            .err()
            .map(|(kind, text)| {
                assert_eq!(kind, ErrorKind::NotFound);
                text
            }),
        has: (c.contains(1u64).unwrap(), c.contains(99u64).unwrap()),
        wrong_layout: c.subsample_keys(1u64).unwrap_err().kind(),
    }
}

/// The keys of the batch reads: a staged addition (5), a staged change (1, twice),
/// committed values (3, 0), out of order.
fn batch() -> Vec<SampleKey> {
    [5u64, 0, 1, 3, 1].map(SampleKey::from).to_vec()
}

fn read_nested<S: RecordSource>(c: &Column<S>) -> Seen {
    Seen {
        name: c.name().to_string(),
        len: c.len().unwrap(),
        nested: c.is_nested().unwrap(),
        keys: c.keys().unwrap().collect::<Result<_, _>>().unwrap(),
        items: c
            .get_sample("s")
            .unwrap()
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect(),
        got: c.try_get_subsample("s", "b").unwrap(),
        view: None,
        absent: c.get_subsample("s", "zz").unwrap_err().kind(),
        many: Vec::new(),
        many_views: Vec::new(),
        many_absent: Some(format!(
            "{:?}",
            c.get_many(&["s".into()]).unwrap_err().kind()
        )),
        has: (
            c.contains_subsample("s", "a").unwrap(),
            c.contains_subsample("s", "zz").unwrap(),
        ),
        wrong_layout: c.get("s").unwrap_err().kind(),
    }
}

#[test]
fn reader_writer_and_staged_columns_read_alike_through_one_generic_path() {
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let t = co
        .add_ndarray_column("t", NdArraySpec::with_shape(hangar_core::DType::U8, &[3]))
        .unwrap();
    for i in 0..5u64 {
        let v = [i as u8; 3];
        t.set(i, TensorRef::new(&v, &[3])).unwrap();
    }
    let n = co.add_nested_str_column("n").unwrap();
    n.set_subsample("s", "a", "alpha").unwrap();
    n.set_subsample("s", "b", "beta").unwrap();
    n.set_subsample("u", "c", "gamma").unwrap();
    co.commit("first").unwrap();
    // Staged on top of the commit: one changed, one deleted, one added.
    t.set(1u64, TensorRef::new(&[7u8; 3], &[3])).unwrap();
    t.delete(4u64).unwrap();
    t.set(5u64, TensorRef::new(&[5u8; 3], &[3])).unwrap();
    n.set_subsample("s", "b", "BETA").unwrap();

    let staged = repo.staged_view().unwrap();
    let writer_flat = read_flat(&t);
    assert_eq!(writer_flat, read_flat(&staged.column("t").unwrap()));
    let writer_nested = read_nested(&n);
    assert_eq!(writer_nested, read_nested(&staged.column("n").unwrap()));
    assert_eq!(
        writer_flat
            .got
            .clone()
            .unwrap()
            .into_tensor()
            .unwrap()
            .as_slice::<u8>()
            .unwrap(),
        &[7, 7, 7]
    );
    assert_eq!(writer_flat.absent, ErrorKind::NotFound);
    let bytes = |v: &Value| v.clone().into_tensor().unwrap().as_bytes().to_vec();
    let want: Vec<Vec<u8>> = [5u8, 0, 7, 3, 7].iter().map(|&b| vec![b; 3]).collect();
    assert_eq!(writer_flat.many.iter().map(bytes).collect::<Vec<_>>(), want);
    assert_eq!(writer_flat.many_views, want);
    // The first absent key is named: 4 (deleted in the staging area), not 98.
    let text = writer_flat.many_absent.clone().unwrap();
    assert!(text.contains('4') && !text.contains("98"), "{text}");
    assert_eq!(
        writer_nested.many_absent.as_deref(),
        Some("InvalidArgument")
    );
    assert_eq!(writer_flat.wrong_layout, ErrorKind::InvalidArgument);
    assert_eq!(writer_nested.got, Some(Value::Str("BETA".into())));
    assert_eq!(
        writer_nested.keys,
        [SampleKey::from("s"), SampleKey::from("u")]
    );

    // Committed, a reader answers what the writer answered before.
    co.commit("second").unwrap();
    let reader = repo.checkout().unwrap();
    assert_eq!(writer_flat, read_flat(&reader.column("t").unwrap()));
    assert_eq!(writer_nested, read_nested(&reader.column("n").unwrap()));

    // The three handles report the same column information; only `writable` differs.
    let w = t.info().unwrap();
    let r = reader.column("t").unwrap().info().unwrap();
    assert!(w.writable && !r.writable);
    assert_eq!(
        (w.num_samples, w.schema_hash),
        (r.num_samples, r.schema_hash)
    );
    drop(staged);
    let staged = repo.staged_view().unwrap();
    assert!(!staged.column("t").unwrap().info().unwrap().writable);
}

#[test]
fn views_say_whether_their_bytes_lie_in_a_mapped_file() {
    use hangar_core::{Compression, DType};
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let big = co
        .add_ndarray_column("big", NdArraySpec::with_shape(DType::U8, &[100]))
        .unwrap();
    let small = co
        .add_ndarray_column("small", NdArraySpec::with_shape(DType::U8, &[8]))
        .unwrap();
    let packed = co
        .add_ndarray_column(
            "packed",
            NdArraySpec::with_shape(DType::U8, &[100]).compression(Compression::Lz4),
        )
        .unwrap();
    for i in 0..3u64 {
        big.set(i, TensorRef::new(&[i as u8; 100], &[100])).unwrap();
        small.set(i, TensorRef::new(&[i as u8; 8], &[8])).unwrap();
        packed
            .set(i, TensorRef::new(&[i as u8 + 10; 100], &[100]))
            .unwrap();
    }
    // Staged values are never mapped (the writer's checkout hands out no C views).
    assert!(!big.get_view(0u64).unwrap().is_mapped());
    co.commit("data").unwrap();
    let reader = repo.checkout().unwrap();
    let col = reader.column("big").unwrap();
    let (a, b) = (col.get_view(0u64).unwrap(), col.get_view(2u64).unwrap());
    // Zero-copy from the segment: mapped, one allocation for the file.
    assert!(a.is_mapped() && b.is_mapped());
    assert_eq!(a.buffer().data_ptr(), b.buffer().data_ptr());
    assert_ne!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
    assert_eq!(
        (a.as_bytes(), b.as_bytes()),
        (&[0u8; 100][..], &[2u8; 100][..])
    );
    // A copy, an inline value and a decoded value are not; all are equal to the mapped
    // reads of the same bytes (where they live does not count).
    let copy = col.get(0u64).unwrap().into_tensor().unwrap();
    assert!(!copy.is_mapped() && copy == a);
    assert!(!reader
        .column("small")
        .unwrap()
        .get_view(1u64)
        .unwrap()
        .is_mapped());
    let decoded = reader.column("packed").unwrap().get_view(1u64).unwrap();
    assert!(!decoded.is_mapped() && decoded.as_bytes() == [11u8; 100]);
}

#[test]
fn debug_output_describes_a_repository_without_dumping_its_data() {
    use hangar_core::{Compression, DType};
    let (_dir, repo) = new_repo();
    let co = repo.checkout_writer().unwrap();
    let spec = NdArraySpec::with_shape(DType::U8, &[1000]);
    let plain = co.add_ndarray_column("plain", spec.clone()).unwrap();
    let packed = co
        .add_ndarray_column("packed", spec.compression(Compression::Zstd(1)))
        .unwrap();
    for i in 0..200u64 {
        plain
            .set(i, TensorRef::new(&[i as u8; 1000], &[1000]))
            .unwrap();
        packed
            .set(i, TensorRef::new(&[i as u8 ^ 0x55; 1000], &[1000]))
            .unwrap();
    }
    co.commit("data").unwrap();
    let reader = repo.checkout().unwrap();
    for i in 0..200u64 {
        reader.column("plain").unwrap().get_view(i).unwrap();
        reader.column("packed").unwrap().get_view(i).unwrap();
    }
    // 400 KB of values are mapped, decoded and cached now: Debug names the parts and
    // their sizes, not the bytes (an Arrow buffer's own Debug lists every byte).
    for text in [format!("{repo:?}"), format!("{reader:?}")] {
        assert!(text.len() < 20_000, "{} bytes of Debug output", text.len());
    }
}
